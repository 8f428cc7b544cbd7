"""`stilts table`: numbers on a hand-made scores.csv, every output format, the heatmap, bad input."""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import sys

import pytest

from stilts.cli import main
from stilts.core.catalog import BENCHMARKS, get_task
from stilts.core.names import QA_METRICS
from stilts.reports import aggregate, order
from stilts.reports import scores as sc

#: XTREME's nine targets in table order, as its declaration says
XTREME_TARGETS = BENCHMARKS.get("xtreme").targets

HEADER = ["pipeline", "intermediate", "mlm", "target", "seed", "split", "language", "metric", "value"]

# (intermediate, mlm, target, split) -> one entry per seed: {language: value} or {metric: {language: value}}
# Worked numbers (language average per seed, then the median over seeds):
#   xnli dev  none/false : en 80 82 84, de 70 74 70 -> run means 75 78 77 -> median 77
#                          per language: en median 82, de median 70
#   xnli dev  mnli/false : run means 80 82 78 -> median 80            (delta +3)
#   xnli dev  none/true  : one seed, 78                                (delta +1)
#   xnli dev  mnli/true  : 81 81 81 -> 81                              (delta +4)
#   xquad dev none/false : F1 70 72 74 -> 72, EM 60 62 64 -> 62        (QA score 67)
#   xquad dev mnli/false : F1 75 76 77 -> 76, EM 67 68 69 -> 68        (QA 72; delta F1 +4, EM +6, QA +5)
#   xquad dev squad_v1   : two seeds, F1 80, EM 70                     (QA 75)
#   xquad dev mnli/true  : F1 77, EM 69                                (QA 73)
#   Avg. none/false = (77 + 67) / 2 = 72; mnli/false = (80 + 72) / 2 = 76; delta +4
#   (F1 and EM as two separate columns would give (3 + 4 + 6) / 3 = 4.33 instead).
#   xnli test: none 70, mnli/false 85, mnli/true 79. xquad has no test split.
#   Best by dev: xnli -> mnli/true (dev 81 beats mnli/false's 80) reported on test: 79 (not 85);
#                xquad -> squad_v1 (dev 75), no test -> dev 75 reported (F1/EM 80/70).
#   XTREME over the 2 tasks present: (79 + 75) / 2 = 77.
SPEC = {
    ("none", False, "xnli", "dev"): [{"en": 80, "de": 70}, {"en": 82, "de": 74}, {"en": 84, "de": 70}],
    ("mnli", False, "xnli", "dev"): [{"en": 85, "de": 75}, {"en": 87, "de": 77}, {"en": 83, "de": 73}],
    ("none", True, "xnli", "dev"): [{"en": 78, "de": 78}],
    ("mnli", True, "xnli", "dev"): [{"en": 81, "de": 81}] * 3,
    ("none", False, "xquad", "dev"): [
        {"f1": {"en": 80, "de": 60}, "exact_match": {"en": 70, "de": 50}},
        {"f1": {"en": 82, "de": 62}, "exact_match": {"en": 72, "de": 52}},
        {"f1": {"en": 84, "de": 64}, "exact_match": {"en": 74, "de": 54}},
    ],
    ("mnli", False, "xquad", "dev"): [
        {"f1": {"en": v, "de": v}, "exact_match": {"en": v - 8, "de": v - 8}} for v in (75, 76, 77)
    ],
    ("squad_v1", False, "xquad", "dev"): [{"f1": {"en": 80, "de": 80}, "exact_match": {"en": 70, "de": 70}}] * 2,
    ("mnli", True, "xquad", "dev"): [{"f1": {"en": 77, "de": 77}, "exact_match": {"en": 69, "de": 69}}] * 3,
    ("none", False, "xnli", "test"): [{"en": 70, "de": 70}] * 3,
    ("mnli", False, "xnli", "test"): [{"en": 85, "de": 85}] * 3,
    ("mnli", True, "xnli", "test"): [{"en": 79, "de": 79}] * 3,
}


def rows_from(spec):
    rows = []
    for (intermediate, mlm, target, split), seeds in spec.items():
        for seed, entry in enumerate(seeds, start=1):
            by_metric = entry if isinstance(next(iter(entry.values())), dict) else {"accuracy": entry}
            for metric, languages in by_metric.items():
                for language, value in languages.items():
                    pipeline = f"{intermediate}-{target}"
                    rows.append(
                        [
                            pipeline,
                            intermediate,
                            "true" if mlm else "false",
                            target,
                            seed,
                            split,
                            language,
                            metric,
                            value,
                        ]
                    )
    return rows


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def scores_csv(tmp_path):
    rows = rows_from(SPEC)
    # noise that must not change any number: another metric, and a line repeated as it is (counted once)
    rows.append(["none-xnli", "none", "false", "xnli", 1, "dev", "en", "precision", 12.5])
    rows.insert(0, rows[0])
    return write_csv(tmp_path / "scores.csv", rows)


def run(capsys, *argv):
    with pytest.raises(SystemExit) as done:
        main(["table", *map(str, argv)])
    out, err = capsys.readouterr()
    return done.value.code, out, err


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def by_config(rows):
    return {(row["intermediate"], row["mlm"]): row for row in rows}


# ----------------------------------------------------------------------------------------- numbers


def test_medians_over_seeds_and_qa_cells(scores_csv):
    values, counts = aggregate.transfer_cells(sc.load_scores(scores_csv), "dev")
    assert list(values.index) == [("none", False), ("mnli", False), ("squad_v1", False), ("none", True), ("mnli", True)]
    assert list(values.columns) == [("xnli", "accuracy"), ("xquad", "f1"), ("xquad", "exact_match")]
    assert values.at[("none", False), ("xnli", "accuracy")] == 77
    assert values.at[("mnli", False), ("xnli", "accuracy")] == 80
    assert values.at[("none", False), ("xquad", "f1")] == 72
    assert values.at[("none", False), ("xquad", "exact_match")] == 62
    assert math.isnan(values.at[("squad_v1", False), ("xnli", "accuracy")])
    assert counts.at[("none", False), "xnli"] == 3
    assert counts.at[("squad_v1", False), "xquad"] == 2
    assert counts.at[("none", True), "xnli"] == 1


def test_average_counts_qa_as_mean_of_f1_and_em(scores_csv):
    values, _ = aggregate.transfer_cells(sc.load_scores(scores_csv), "dev")
    full = aggregate.with_average(values)
    assert full.at[("none", False), ("avg", "score")] == 72
    assert full.at[("mnli", False), ("avg", "score")] == 76
    assert math.isnan(full.at[("squad_v1", False), ("avg", "score")])  # no xnli: no average
    delta = aggregate.deltas(full)
    assert ("none", False) not in delta.index
    assert delta.at[("mnli", False), ("xnli", "accuracy")] == 3
    assert delta.at[("mnli", False), ("xquad", "f1")] == 4
    assert delta.at[("mnli", False), ("xquad", "exact_match")] == 6
    assert delta.at[("mnli", False), ("avg", "score")] == 4
    assert delta.at[("none", True), ("xnli", "accuracy")] == 1  # MLM rows compare to the MLM-off baseline


def test_best_by_dev_reports_test_and_falls_back_to_dev(scores_csv):
    best = aggregate.best_by_dev(sc.load_scores(scores_csv)).set_index("target")
    assert (best.at["xnli", "intermediate"], best.at["xnli", "mlm"]) == ("mnli", True)
    assert best.at["xnli", "dev"] == 81 and best.at["xnli", "test"] == 79
    assert best.at["xnli", "reported_split"] == "test"
    assert best.at["xquad", "intermediate"] == "squad_v1"
    assert best.at["xquad", "dev"] == 75 and best.at["xquad", "test"] == 75
    assert best.at["xquad", "reported_split"] == "dev"
    score, missing = aggregate.benchmark_score(best.reset_index(), "xtreme")
    assert score == 77
    assert missing == ["pawsx", "udpos", "panx", "mlqa", "tydiqa", "bucc", "tatoeba"]


def one_configuration(task_scores: dict[str, float]) -> list[list]:
    """Rows of one configuration and seed scoring each target ``score`` on dev and test, in its main
    metric; a QA target F1 = score + 5 and EM = score - 5, so that its QA score is ``score``."""
    rows = []
    for target, score in task_scores.items():
        for split in ("dev", "test"):
            if get_task(target).main_metrics == QA_METRICS:
                rows += [
                    ["p", "none", "false", target, 1, split, "en", "f1", score + 5],
                    ["p", "none", "false", target, 1, split, "en", "exact_match", score - 5],
                ]
            else:
                rows.append(["p", "none", "false", target, 1, split, "de", get_task(target).main_metrics[0], score])
    return rows


def test_xtreme_score_over_all_nine_tasks(tmp_path, capsys):
    task_scores = dict(zip(XTREME_TARGETS, [70, 80, 90, 60, 50, 40, 30, 20, 10]))
    path = write_csv(tmp_path / "scores.csv", one_configuration(task_scores))
    code, out, err = run(capsys, path, "--best", "--format", "csv")
    assert code == 0
    table = read_csv(out)
    assert [row["target"] for row in table] == list(XTREME_TARGETS) + ["xtreme"]
    assert float(table[-1]["test"]) == pytest.approx(50.0)
    code, out, _ = run(capsys, path, "--best")
    assert "| XTREME " in out and "of 9 tasks" not in out


def test_xtreme_r_is_declared_with_the_tasks_stilts_has():
    """XTREME-R (Ruder et al. 2021): XNLI XCOPA UD-POS WikiANN-NER XQuAD MLQA TyDiQA-GoldP Mewsli-X LAReQA
    Tatoeba; stilts has eight of them, and names the other two."""
    XTREME_R = BENCHMARKS.get("xtreme_r")
    assert XTREME_R.label == "XTREME-R"
    assert XTREME_R.targets == ("xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba")
    assert XTREME_R.absent == ("mewslix", "lareqa") and XTREME_R.size == 10
    # the three QA tasks count as mean(F1, EM), as XTREME-R's evaluate.py has them
    assert {t for t in XTREME_R.targets if get_task(t).main_metrics == QA_METRICS} == {"xquad", "mlqa", "tydiqa"}


def test_xtreme_r_score_is_over_its_eight_tasks_and_says_it_lacks_two(tmp_path, capsys):
    """Every XTREME target and XCOPA: the XTREME score over its 9, and XTREME-R's over its 8 that stilts has
    (not PAWS-X or BUCC), labelled as 8 of 10 with Mewsli-X and LAReQA named missing."""
    task_scores = {**dict(zip(XTREME_TARGETS, [70, 80, 90, 60, 50, 40, 30, 20, 10])), "xcopa": 55}
    path = write_csv(tmp_path / "scores.csv", one_configuration(task_scores))
    code, out, err = run(capsys, path, "--best", "--format", "csv")
    assert code == 0
    table = {row["target"]: row for row in read_csv(out)}
    assert list(table) == [*XTREME_TARGETS, "xcopa", "xtreme", "xtreme_r"]
    assert float(table["xtreme"]["test"]) == pytest.approx(50.0)
    # (xnli 70 + xcopa 55 + udpos 90 + panx 60 + xquad 50 + mlqa 40 + tydiqa 30 + tatoeba 10) / 8
    assert float(table["xtreme_r"]["test"]) == pytest.approx(405 / 8)
    assert float(table["xtreme_r"]["dev"]) == pytest.approx(405 / 8)
    assert "XTREME-R score over 8 of the 10 tasks only (missing: mewslix, lareqa)" in err
    code, out, _ = run(capsys, path, "--best")
    assert "| XTREME-R (8 of 10 tasks) " in out and "| XTREME " in out and "Mewsli-X" in out  # the caption


def test_xtreme_r_is_scored_where_the_file_has_xcopa_or_when_asked(tmp_path, capsys):
    """XTREME-R shares seven targets with XTREME: a file of XTREME's targets alone gets XTREME's score only
    (as before XTREME-R was declared); ``--benchmark xtreme_r`` scores it from those seven."""
    task_scores = dict(zip(XTREME_TARGETS, [70, 80, 90, 60, 50, 40, 30, 20, 10]))
    path = write_csv(tmp_path / "scores.csv", one_configuration(task_scores))
    code, out, _ = run(capsys, path, "--best", "--format", "csv")
    assert code == 0 and [row["target"] for row in read_csv(out)][-1:] == ["xtreme"]
    code, out, err = run(capsys, path, "--best", "--benchmark", "xtreme_r", "--format", "csv")
    assert code == 0
    table = {row["target"]: row for row in read_csv(out)}
    assert list(table) == ["xnli", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "xtreme_r"]
    assert float(table["xtreme_r"]["test"]) == pytest.approx(350 / 7)
    assert "7 of the 10 tasks only (missing: xcopa, mewslix, lareqa)" in err
    xcopa_only = write_csv(tmp_path / "xcopa.csv", one_configuration({"xcopa": 55}))
    code, out, _ = run(capsys, xcopa_only, "--best", "--format", "csv")
    assert code == 0 and [row["target"] for row in read_csv(out)] == ["xcopa", "xtreme_r"]


def test_benchmarks_in_names_those_with_a_target_no_earlier_benchmark_has():
    assert order.benchmarks_in(["xnli", "xquad"]) == ["xtreme"]
    assert order.benchmarks_in(["xnli", "xcopa"]) == ["xtreme", "xtreme_r"]
    assert order.benchmarks_in(["xcopa", "xglue_ner"]) == ["xtreme_r", "xglue"]
    assert order.benchmarks_in(["topics"]) == ["xtreme"]  # none: the first declared


# ------------------------------------------------------------------------------------------ formats


def test_markdown_table(scores_csv, capsys):
    code, out, err = run(capsys, scores_csv)
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["Intermediate", "MLM", "xnli", "xquad (F1/EM)", "Avg."]
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert body[0] == ["none", "no", "77.0", "72.0/62.0", "72.0"]
    assert body[1] == ["mnli", "no", "80.0", "76.0/68.0", "76.0"]
    assert body[2] == ["squad_v1", "no", "-", "80.0/70.0", "-"]  # missing, never 0
    assert [row[:2] for row in body[3:]] == [["none", "yes"], ["mnli", "yes"]]
    assert "Avg. is shown only for rows" in out


def test_markdown_delta(scores_csv, capsys):
    code, out, _ = run(capsys, scores_csv, "--split", "dev", "--delta", "--format", "md")
    assert code == 0
    body = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")][2:]
    assert body[0] == ["none", "no", "77.0", "72.0/62.0", "72.0"]  # the baseline, absolute
    assert body[1] == ["mnli", "no", "+3.0", "+4.0/+6.0", "+4.0"]
    assert body[2] == ["squad_v1", "no", "-", "+8.0/+8.0", "-"]
    assert body[3] == ["none", "yes", "+1.0", "-", "-"]
    assert "absolute" in out


def test_show_n(scores_csv, capsys):
    code, out, _ = run(capsys, scores_csv, "--show-n")
    assert code == 0
    assert "77.0 (n=3)" in out and "80.0/70.0 (n=2)" in out and "78.0 (n=1)" in out
    assert "- (n=" not in out
    code, out, _ = run(capsys, scores_csv, "--show-n", "--format", "csv")
    rows = by_config(read_csv(out))
    assert rows[("squad_v1", "false")]["xquad_n"] == "2"
    assert rows[("squad_v1", "false")]["xnli_n"] == ""


def test_csv_columns_and_unrounded_numbers(tmp_path, capsys):
    spec = dict(SPEC)
    spec[("mnli", False, "xnli", "dev")] = [{"en": 80.12345, "de": 80.12345}] * 3
    path = write_csv(tmp_path / "scores.csv", rows_from(spec))
    code, out, err = run(capsys, path, "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "intermediate,mlm,xnli,xquad_f1,xquad_em,avg"
    rows = by_config(read_csv(out))
    assert float(rows[("mnli", "false")]["xnli"]) == pytest.approx(80.12345, abs=1e-9)
    assert rows[("mnli", "false")]["xnli"] != "80.1"
    assert rows[("squad_v1", "false")]["xnli"] == ""  # missing: empty, never 0
    assert float(rows[("none", "false")]["avg"]) == 72
    assert "Avg. is shown only" in err  # notes go to stderr, stdout stays CSV

    code, out, _ = run(capsys, path, "--format", "csv", "--delta")
    assert out.splitlines()[0] == "intermediate,mlm,kind,xnli,xquad_f1,xquad_em,avg"
    rows = by_config(read_csv(out))
    assert rows[("none", "false")]["kind"] == "absolute"  # the baseline row, as in the text formats
    assert float(rows[("none", "false")]["xnli"]) == 77
    assert rows[("mnli", "false")]["kind"] == "delta"
    assert float(rows[("mnli", "false")]["xquad_em"]) == 6
    assert float(rows[("mnli", "false")]["xnli"]) == pytest.approx(3.12345, abs=1e-9)


def table_rows(fmt, out):
    """(intermediate, mlm) of every body row of a table in format `fmt`, in order."""
    if fmt == "csv":
        return [(row["intermediate"], {"false": "no", "true": "yes"}[row["mlm"]]) for row in read_csv(out)]
    if fmt == "md":
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in out.splitlines() if line.startswith("|")]
        return [tuple(row[:2]) for row in cells[2:]]
    if fmt == "latex":
        body = out.split(r"\midrule")[1].split(r"\bottomrule")[0]
        cells = [line.rstrip(" \\").split(" & ") for line in body.strip().splitlines()]
        return [(row[0].replace(r"\_", "_"), row[1]) for row in cells]
    body = out.split("<tbody>")[1].split("</tbody>")[0]
    return [tuple(re.findall(r"<td[^>]*>([^<]*)</td>", line)[:2]) for line in body.strip().splitlines()]


@pytest.mark.parametrize("extra", [(), ("--per-language", "xnli")])
def test_every_format_holds_the_same_delta_rows(scores_csv, capsys, extra):
    rows = {}
    for fmt in ("md", "csv", "latex", "html"):
        code, out, err = run(capsys, scores_csv, "--delta", "--format", fmt, *extra)
        assert code == 0, err
        rows[fmt] = table_rows(fmt, out)
        if fmt != "csv":
            assert "absolute" in out  # the baseline row is said to hold absolute scores
    assert rows["md"][0] == ("none", "no")
    assert len(rows["md"]) == (4 if extra else 5)  # per-language xnli has no squad_v1 row
    assert rows["csv"] == rows["md"] == rows["latex"] == rows["html"]


def test_best_formats(scores_csv, capsys):
    code, out, err = run(capsys, scores_csv, "--best", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "target,intermediate,mlm,dev,test"
    rows = {row["target"]: row for row in read_csv(out)}
    assert list(rows) == ["xnli", "xquad", "xtreme"]
    assert (rows["xnli"]["intermediate"], rows["xnli"]["mlm"]) == ("mnli", "true")
    assert float(rows["xnli"]["test"]) == 79 and float(rows["xquad"]["test"]) == 75
    assert float(rows["xtreme"]["test"]) == 77
    assert "xquad" in err and "dev" in err  # the fallback is said

    code, out, _ = run(capsys, scores_csv, "--best", "--format", "md")
    assert code == 0
    assert "75.0 (80.0/70.0)†" in out
    assert "XTREME (2 of 9 tasks)" in out and "missing: pawsx" in out


def test_per_language(scores_csv, capsys):
    code, out, _ = run(capsys, scores_csv, "--per-language", "xnli", "--format", "csv")
    assert code == 0
    assert out.splitlines()[0] == "intermediate,mlm,en,de,avg"
    rows = by_config(read_csv(out))
    assert [float(rows[("none", "false")][c]) for c in ("en", "de", "avg")] == [82, 70, 77]
    code, out, _ = run(capsys, scores_csv, "--per-language", "xquad", "--format", "csv")
    assert out.splitlines()[0] == "intermediate,mlm,en_f1,en_em,de_f1,de_em,avg_f1,avg_em"
    code, out, _ = run(capsys, scores_csv, "--per-language", "xnli", "--format", "latex", "--delta")
    assert code == 0
    assert r"\begin{tabular}{llrrr}" in out and r"\toprule" in out
    assert r"mnli & no & +3.0 & +5.0 & +3.0 \\" in out


def test_latex_and_html(scores_csv, capsys):
    code, out, _ = run(capsys, scores_csv, "--format", "latex")
    assert code == 0
    assert r"squad\_v1 & no & - & 80.0/70.0 & - \\" in out
    assert out.rstrip().endswith(r"\end{tabular}")
    code, out, _ = run(capsys, scores_csv, "--format", "html")
    assert code == 0
    assert out.startswith('<table class="stilts-table">')
    assert "<th>Intermediate</th>" in out
    assert '<td style="text-align:right">72.0/62.0</td>' in out


def test_plot_is_a_png(scores_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "transfer.png"
    code, out, err = run(capsys, scores_csv, "--delta", "--plot", target)
    assert code == 0, err
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 200 and height > 100
    import matplotlib.image

    assert matplotlib.image.imread(target).shape[:2] == (height, width)


def test_plot_without_matplotlib(scores_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(capsys, scores_csv, "--plot", tmp_path / "x.png")
    assert code == 2
    assert 'pip install "stilts[plots]"' in err  # quoted: zsh globs an unquoted [plots]


# ---------------------------------------------------------------------------------------- bad input


def one_line_error(capsys, *argv):
    code, _, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_file(tmp_path, capsys):
    line = one_line_error(capsys, tmp_path / "nope.csv")
    assert "nope.csv" in line and "no such file" in line


def test_not_a_csv(tmp_path, capsys):
    path = tmp_path / "scores.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    assert "scores.csv" in one_line_error(capsys, path)
    path.write_text('{"json": true}\n')
    line = one_line_error(capsys, path)
    assert "scores.csv" in line and "not a scores CSV" in line


def test_missing_columns(tmp_path, capsys):
    header = [c for c in HEADER if c not in ("seed", "metric")]
    path = write_csv(tmp_path / "scores.csv", [], header=header)
    line = one_line_error(capsys, path)
    assert "scores.csv" in line and "seed" in line and "metric" in line and "pipeline" not in line


def test_non_numeric_value(tmp_path, capsys):
    rows = rows_from(SPEC)
    rows[4][-1] = "n/a"
    line = one_line_error(capsys, write_csv(tmp_path / "scores.csv", rows))
    assert "scores.csv: line 6:" in line and "value" in line and "n/a" in line


def test_unknown_target_for_per_language(scores_csv, capsys):
    line = one_line_error(capsys, scores_csv, "--per-language", "xnlii")
    assert "--per-language" in line and "did you mean 'xnli'" in line
    line = one_line_error(capsys, scores_csv, "--per-language", "tydiqa")  # known, but not in the file
    assert "scores.csv" in line and "tydiqa" in line


def test_no_rows_for_split(scores_csv, capsys):
    line = one_line_error(capsys, scores_csv, "--split", "tset")
    assert "scores.csv" in line and "split 'tset'" in line and "dev, test" in line


def test_no_baseline_for_delta(tmp_path, capsys):
    spec = {key: seeds for key, seeds in SPEC.items() if key[:2] != ("none", False)}
    path = write_csv(tmp_path / "scores.csv", rows_from(spec))
    line = one_line_error(capsys, path, "--delta")
    assert "scores.csv" in line and "--delta" in line and "baseline" in line


def test_bad_option_values(scores_csv, capsys):
    assert "did you mean 'latex'" in one_line_error(capsys, scores_csv, "--format", "latx")
    assert "--best" in one_line_error(capsys, scores_csv, "--best", "--delta")


def test_a_file_with_test_scores_only_is_tabulated_on_test(tmp_path, capsys):
    """The demo evaluates topics on test only: `stilts table` without --split tabulates that split
    (dev stays the default where the file has it)."""
    spec = {key: seeds for key, seeds in SPEC.items() if key[3] == "test"}
    path = write_csv(tmp_path / "scores.csv", rows_from(spec))
    code, out, err = run(capsys, path, "--delta")
    assert code == 0, err
    assert out.startswith("Split test:") and re.search(r"\| mnli +\| no +\| \+15\.0 \|", out)
    line = one_line_error(capsys, path, "--split", "dev")  # asked for by name: still refused
    assert "no rows with split 'dev' (splits present: test)" in line


def test_latex_says_it_needs_booktabs_and_sets_minus_signs(scores_csv, capsys):
    code, out, err = run(capsys, scores_csv, "--delta", "--baseline", "mnli", "--format", "latex")
    assert code == 0, err
    assert out.startswith("%") and r"\usepackage{booktabs}" in out.splitlines()[0]
    none_row = next(line for line in out.splitlines() if line.startswith("none & no"))
    assert none_row.split(" & ")[2] == "$-$3.0"  # xnli dev: 77 against mnli's 80
    assert not re.search(r"(^|[ \[/])-\d", out)  # no number with a hyphen for its minus
