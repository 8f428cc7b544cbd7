"""stilts.names is the one list of names; the catalogs, scorers and reports that use them agree with it,
and reading the file layouts declared as data finds, and misses, files as the readers always did."""

import subprocess
import sys

import pytest

from stilts import names
from stilts.catalog import get_task
from stilts.errors import MissingSplit
from stilts.metrics.scoring import SCORERS
from stilts.readers.layout import FileLayout, find_file
from stilts.target.tagging_tasks import UDPOS_HUB_NAMES


def test_names_import_nothing_heavy():
    code = "import sys, stilts.names, stilts.metrics.scoring, stilts.reports.scores; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


@pytest.mark.parametrize("task", sorted(names.TASK_LANGUAGES))
def test_catalog_and_scorer_languages_are_the_names(task):
    assert get_task(task).languages == names.TASK_LANGUAGES[task]
    assert SCORERS.get(task).languages == names.TASK_LANGUAGES[task]


def test_every_name_is_a_task():
    for task in names.XTREME_TARGETS:
        assert get_task(task).metric == names.TARGET_METRICS[task][0]
    for task in names.INTERMEDIATE_ORDER:
        get_task(task)
    assert tuple(sorted(UDPOS_HUB_NAMES)) == names.UDPOS_LANGUAGES
    assert names.QA_TARGETS == {"xquad", "mlqa", "tydiqa"}


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
