"""Each task's facts live in its declaration (`stilts.core.catalog.Task`, `Benchmark`): no other production
module names a task, the facts derived from the declarations are the ones stilts always had, and reading
the file layouts declared as data finds, and misses, files as the readers always did."""

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from stilts.core.catalog import BENCHMARKS, TASKS, benchmark_targets, get_task, intermediate_order
from stilts.core.errors import MissingSplit
from stilts.core.names import QA_METRICS
from stilts.data.readers.layout import FileLayout, find_file
from stilts.metrics.scoring import scored_tasks
from stilts.reports.scores_file import SCORE_COLUMNS
from stilts.target.tagging_tasks import UDPOS_HUB_NAMES, UDPOS_LANGUAGES

STILTS = Path(__file__).resolve().parents[1] / "stilts"
#: the modules that declare tasks: a task's name may be written there, and nowhere else in stilts'
#: production code (`stilts.testing`, the tests' fixtures, writes tiny copies of named tasks' data)
DECLARATIONS = (
    *sorted(STILTS.glob("target/*_tasks.py")),
    *sorted(STILTS.glob("intermediate/*_tasks.py")),
    STILTS / "mlm" / "catalog.py",
)
FIXTURES = STILTS / "testing"


def test_names_import_nothing_heavy():
    code = "import sys, stilts.core.names, stilts.metrics.scoring, stilts.reports.scores; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every plain string literal in ``path`` (f-strings are not plain literals)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    return [
        (token.start[0], ast.literal_eval(token.string))
        for token in tokens
        if token.type == tokenize.STRING and token.string.lstrip("rbuRBU")[:1] in "'\""
    ]


def test_no_task_name_is_written_outside_the_declarations():
    """A task's name as a string literal outside its declaration is a fact of the task kept elsewhere (a
    second list, a branch on the name). scores.csv's columns are names of their own (its `mlm` column
    says whether a configuration trained the MLM task, whose name `stilts.core.names.MLM_TASK` holds)."""
    task_names = set(TASKS.names()) - set(SCORE_COLUMNS)
    found = [
        f"{path.relative_to(STILTS.parent)}:{line}: {value!r}"
        for path in sorted(STILTS.rglob("*.py"))
        if path not in DECLARATIONS and FIXTURES not in path.parents
        for line, value in string_literals(path)
        if value in task_names
    ]
    assert found == []


def test_the_facts_derived_from_the_declarations_are_the_ones_stilts_had():
    assert benchmark_targets() == (
        *("xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc", "tatoeba"),
        "xcopa",  # XTREME-R's one target that XTREME lacks
        *("xglue_ner", "xglue_pos", "xglue_nc", "xglue_mlqa", "xglue_xnli", "xglue_pawsx"),
        *("xglue_qadsm", "xglue_wpr", "xglue_qam"),
    )
    assert [(name, b.label, len(b.targets), b.size) for name, b in BENCHMARKS.items()] == [
        ("xtreme", "XTREME", 9, 9),
        ("xtreme_r", "XTREME-R", 8, 10),  # no Mewsli-X, LAReQA
        ("xglue", "XGLUE", 9, 9),
    ]
    # a benchmark's tasks stilts lacks are not tasks of its catalog
    assert all(name not in TASKS for _, b in BENCHMARKS.items() for name in b.absent)
    assert intermediate_order() == (
        *("anli_plus", "mnli", "qqp", "squad_v1", "squad_v2", "hellaswag", "ccg", "cosmosqa", "commonsenseqa"),
        *("snli", "anli_r1", "anli_r2", "anli_r3", "siqa", "copa", "mlm"),
    )
    assert {name for name, task in TASKS.items() if task.main_metrics == QA_METRICS} == {"xquad", "mlqa", "tydiqa"}
    assert get_task("xglue_pos").main_metrics == ("precision",) and get_task("xglue_wpr").main_metrics == ("ndcg",)
    # paper Table 4 (intermediate tasks) and Table 5 (targets)
    assert {name: task.paper_batch_epochs for name, task in TASKS.items() if task.paper_batch_epochs} == {
        **{"anli_plus": (24, 2), "mnli": (24, 2), "ccg": (24, 15), "commonsenseqa": (4, 10), "cosmosqa": (4, 15)},
        **{"hellaswag": (24, 7), "qqp": (24, 3), "squad_v1": (8, 3), "squad_v2": (8, 3), "mlm": (8, None)},
        **{"xnli": (4, 2), "pawsx": (32, 5), "xquad": (16, 2), "mlqa": (16, 2), "tydiqa": (16, 2)},
        **{"udpos": (32, 10), "panx": (32, 10)},
    }
    assert get_task("hellaswag@de").paper_batch_epochs == (24, 7)  # a translation trains as its task
    # the 22 `stilts score` always scored: every benchmark's targets (XCOPA is XTREME-R's), SQuAD's and COPA
    assert scored_tasks() == sorted([*benchmark_targets(), "squad_v1", "squad_v2", "copa"])
    assert len(scored_tasks()) == 22
    assert UDPOS_LANGUAGES == tuple(sorted(UDPOS_HUB_NAMES)) and len(UDPOS_LANGUAGES) == 33


def test_find_file_takes_the_first_and_names_what_it_looked_for(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.tsv").write_text("x")
    (tmp_path / "c.tsv").write_text("x")
    assert find_file(tmp_path, ["a.tsv", "sub/b.tsv", "c.tsv"], "X file") == tmp_path / "sub" / "b.tsv"
    with pytest.raises(MissingSplit, match=r": no X file \(looked for a.tsv, b.tsv\)$"):
        find_file(tmp_path, ["a.tsv", "b.tsv"], "X file")


def test_a_file_layout_is_a_read_local(tmp_path):
    layout = FileLayout(
        "Toy",
        {"dev": ("dev-{language}.tsv", "{language}/dev.tsv")},
        parse=lambda path, language: [{"path": path.name, "language": language}],
        split_note="it trains on another task",
    )
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "dev.tsv").write_text("x")
    assert layout(tmp_path, "dev", "de") == [{"path": "dev.tsv", "language": "de"}]
    with pytest.raises(MissingSplit, match=r"no Toy dev file for 'fr' \(looked for dev-fr.tsv, fr/dev.tsv\)"):
        layout(tmp_path, "dev", "fr")
    with pytest.raises(MissingSplit, match=r"Toy has no train split \(dev only: it trains on another task\)"):
        layout(tmp_path, "train", "de")
    english = FileLayout("Toy", {"dev": ("dev.tsv",)}, parse=lambda path, language: [], languages=("en",))
    with pytest.raises(MissingSplit, match=r"Toy has no 'de' data \(en only\)"):
        english(tmp_path, "dev", "de")
    with pytest.raises(MissingSplit, match=r"no Toy dev file \(looked for dev.tsv\)"):  # no language: not named
        english(tmp_path, "dev", "en")
