"""`stilts tasks`: the catalog listing, and -v with a large label set summarised."""

from __future__ import annotations

import pytest

from stilts.cli import main


def run_tasks(capsys, *argv):
    with pytest.raises(SystemExit) as done:
        main(["tasks", *argv])
    out, _ = capsys.readouterr()
    assert done.value.code == 0
    return out


def labels_line(out, task):
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == [task])
    return next(line for line in lines[start + 1 : start + 4] if line.strip().startswith("labels"))


def test_verbose_summarises_a_large_label_set(capsys):
    out = run_tasks(capsys, "-v")
    ccg = labels_line(out, "ccg").strip()
    # 1,363 supertag ids: a count and the first few, not every id
    assert ccg.startswith("labels (1363): 0 1 2 ")
    assert ccg.endswith("... (1353 more)")
    assert len(ccg) < 100
    assert " 1362" not in ccg
    # a small label set is still listed in full
    assert labels_line(out, "mnli").strip() == "labels: entailment neutral contradiction"
    assert "PROPN" in labels_line(out, "udpos")


def test_plain_listing_has_no_labels(capsys):
    out = run_tasks(capsys)
    assert "ccg" in out and "labels" not in out


def test_the_listing_ends_with_the_benchmarks_and_their_tasks(capsys):
    """Which benchmark each task counts in: the benchmarks after the tasks (and under each task with -v),
    XTREME-R naming the two of its tasks stilts has no declaration of."""
    lines = run_tasks(capsys).splitlines()
    benchmarks = lines[lines.index("") + 1 :]
    assert benchmarks[0].split()[:2] == ["benchmark", "tasks"]
    rows = {line.split()[0]: line.split(None, 1)[1] for line in benchmarks[1:]}
    assert rows["xtreme"] == "xnli pawsx udpos panx xquad mlqa tydiqa bucc tatoeba"
    assert rows["xtreme_r"] == "xnli xcopa udpos panx xquad mlqa tydiqa tatoeba; not in stilts: mewslix lareqa"
    assert rows["xglue"].startswith("xglue_ner xglue_pos ")
    verbose = run_tasks(capsys, "-v").splitlines()
    after = {
        line.split()[0]: verbose[i + 1 : i + 5] for i, line in enumerate(verbose) if line and not line[0].isspace()
    }
    assert "    benchmarks: XTREME, XTREME-R" in after["xquad"]
    assert "    benchmarks: XTREME-R" in after["xcopa"]
    assert not any(line.startswith("    benchmarks:") for line in after["mnli"])
