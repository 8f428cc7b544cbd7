"""Evaluation on what the model trained on (or on translations of it) is refused before anything trains,
or, with allow_overlap, scored and marked: a number from it is never reported as zero-shot."""

import csv
import json

import pytest
import yaml
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.data.loading import DataRead
from stilts.pipeline.overlap import overlap


def _pipeline(path, model, data, target, evaluate, intermediate=None):
    stages = [dict(kind="intermediate", **intermediate)] if intermediate else []
    stages += [dict(kind="target", max_steps=2, batch_size=8, **target), dict(kind="evaluate", **evaluate)]
    config = {"name": "overlap", "model": str(model), "data": {k: str(v) for k, v in data.items()}, "stages": stages}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_training_on_xnli_dev_then_evaluating_it_in_any_language_is_refused(tmp_path, tiny_model, tiny_nli, capsys):
    """The issue's case: XNLI's dev files are line-aligned translations with the same labels."""
    path = _pipeline(
        tmp_path / "p.yaml",
        tiny_model,
        tiny_nli,
        target=dict(task="xnli", train_tasks=["xnli"], train_splits=["dev"]),
        evaluate=dict(task="xnli"),
    )
    code, _, err = run_cli(["run", path, "--dry-run", "--output-dir", tmp_path / "out"], capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line == (
        f"error: {path}: stages[1]: scores xnli dev in 'ar', but stages[0] (target) trained on xnli dev in 'en' "
        "(xnli's dev files are translations of one another, aligned by line): that is not zero-shot. Evaluate "
        "other splits or languages, or set allow_overlap: true to score it anyway, marked as trained on"
    )
    # its test split is another set of sentences: evaluating only it is zero-shot
    code, _, err = run_cli(
        ["run", path, "--dry-run", "--output-dir", tmp_path / "out", "--set", "stages.evaluate.splits=[test]"], capsys
    )
    assert code == 0, err


def test_an_intermediate_stage_counts_too_and_translations_from_another_task(tmp_path, tiny_model, capsys):
    """XQuAD's test set is SQuAD v1.1's dev set translated: an intermediate stage trained on SQuAD dev
    makes every XQuAD test score not zero-shot, two stages upstream."""
    path = _pipeline(
        tmp_path / "p.yaml",
        tiny_model,
        {},
        intermediate=dict(tasks=["squad_v1"], train_splits=["dev"]),
        target=dict(task="xquad"),
        evaluate=dict(task="xquad", languages=["de"]),
    )
    code, _, err = run_cli(["run", path, "--dry-run", "--output-dir", tmp_path / "out"], capsys)
    assert code == 2
    assert (
        "stages[2]: scores xquad test in 'de', but stages[0] (intermediate) trained on squad_v1 dev in 'en' "
        "(xquad's test is translated from squad_v1's dev)" in err
    )


def test_reads_overlap_only_where_the_data_is_the_same():
    def read(task, split, language):
        return DataRead(get_task(task), split, language)

    # a task that is not parallel: another language of the same split is other sentences
    assert overlap(read("panx", "dev", "de"), read("panx", "dev", "fr")) is None
    assert overlap(read("panx", "dev", "de"), read("panx", "dev", "de")) == "the same examples"
    # XNLI's training split is MNLI's; XGLUE's XNLI is XNLI
    assert overlap(read("xnli", "train", "en"), read("xnli", "dev", "en")) is None
    assert overlap(read("xglue_xnli", "test", "de"), read("xnli", "test", "fr"))
    # COPA's dev set, translated, is XCOPA's dev set; its training set is not
    assert overlap(read("copa", "dev", "en"), read("xcopa", "dev", "et"))
    assert overlap(read("copa", "train", "en"), read("xcopa", "dev", "et")) is None
    # a translated task is a translation of its base task's same split
    assert overlap(read("mnli@de", "train", "de"), read("mnli", "train", "en"))


def test_allow_overlap_scores_it_and_says_so(tmp_path, tiny_model, tiny_nli, capsys):
    path = _pipeline(
        tmp_path / "p.yaml",
        tiny_model,
        tiny_nli,
        target=dict(task="xnli", train_tasks=["xnli"], train_splits=["dev"]),
        evaluate=dict(task="xnli", allow_overlap=True),
    )
    code, out, err = run_cli(["run", path, "--output-dir", tmp_path / "out"], capsys)
    assert code == 0, err
    assert "not zero-shot: the model trained on these examples (or translations of them): dev de en fr" in out
    (evaluate,) = (tmp_path / "out").glob("evaluate-*")
    metrics = json.loads((evaluate / "metrics.json").read_text())
    assert metrics["trained_on"] == {"dev": ["de", "en", "fr"]}  # test is other sentences: not marked
    assert set(metrics["scores"]) == {"dev", "test"}
    # scores.csv marks the rows, and a table of them says so
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["split"], row["trained_on"]) for row in rows} == {("dev", "true"), ("test", "")}
    code, out, err = run_cli(["table", tmp_path / "out" / "scores.csv", "--split", "dev"], capsys)
    assert code == 0, err
    assert (
        "NOT ZERO-SHOT: overlap (seed 1) scored xnli dev in de en fr on examples its model trained on, or on "
        "translations of them (allow_overlap); its cells include them." in out
    )
    code, out, err = run_cli(["table", tmp_path / "out" / "scores.csv", "--split", "test"], capsys)
    assert code == 0 and "NOT ZERO-SHOT" not in out


@pytest.mark.parametrize("task", ["xnli", "pawsx", "xquad", "mlqa", "xcopa", "xglue_xnli", "xglue_pawsx", "xglue_mlqa"])
def test_the_parallel_tasks_of_the_catalog_are_declared(task):
    assert get_task(task).parallel is not None
