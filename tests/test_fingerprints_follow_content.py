"""A stage's fingerprint follows the content of its local data and model folders, not their paths:
the same data spelled two ways is one stage, data edited in place is a new one, and pipelines of one
name over other data (two YAML folders, one run folder) share nothing."""

import os
import shutil
from pathlib import Path

import yaml

from stilts.core.artifacts import mark_complete
from stilts.pipeline.config import load_pipeline
from stilts.pipeline.engine import plan_pipeline

#: file times as a run finds them: written a while ago (outside the cache's racy window)
LONG_AGO_NS = 1_700_000_000_000_000_000


def _inputs(folder: Path, *, xnli: str = "a\tb\tneutral\n", model: str = "{}\n") -> Path:
    """A model folder and MNLI and XNLI data folders under ``folder``, one file each."""
    for path, text in [
        ("model/config.json", model),
        ("data/mnli/multinli_1.0_train.jsonl", '{"gold_label": "neutral"}\n'),
        ("data/xnli/dev-de.tsv", xnli),
    ]:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
        os.utime(folder / path, ns=(LONG_AGO_NS, LONG_AGO_NS))
    return folder


def _yaml(path: Path, model: str, mnli: str, xnli: str, name: str = "p") -> Path:
    stages = [
        {"kind": "intermediate", "tasks": ["mnli"], "max_steps": 2},
        {"kind": "target", "task": "xnli", "max_steps": 2},
        {"kind": "evaluate", "task": "xnli"},
    ]
    config = {"name": name, "model": model, "data": {"mnli": mnli, "xnli": xnli}, "stages": stages}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _plan(pipeline_file: Path, run_dir: Path):
    pipeline, base_dir = load_pipeline(pipeline_file)
    stages, _ = plan_pipeline(pipeline, base_dir, run_dir, str(pipeline_file))
    return stages


def _run(stages) -> None:
    """The stages as a finished run leaves them (complete), without training them."""
    for stage in stages:
        mark_complete(stage.folder)


def test_the_same_data_spelled_two_ways_is_one_stage(tmp_path):
    inputs = _inputs(tmp_path / "inputs")
    (tmp_path / "linked").symlink_to(inputs, target_is_directory=True)
    copy = shutil.copytree(inputs, tmp_path / "copy")  # the same files elsewhere: a moved data folder
    for path in copy.rglob("*"):
        os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS))
    spellings = [
        _yaml(tmp_path / "exp" / "a.yaml", "../inputs/model", "../inputs/data/mnli", "../inputs/data/xnli"),
        _yaml(tmp_path / "b.yaml", str(inputs / "model"), "inputs/data/mnli", "./linked/data/xnli/"),
        _yaml(tmp_path / "c.yaml", "./copy/model", "copy/data/mnli", str(copy / "data" / "xnli")),
    ]
    first = _plan(spellings[0], tmp_path / "runs")
    _run(first)
    for spelling in spellings[1:]:
        stages = _plan(spelling, tmp_path / "runs")
        assert [s.fingerprint for s in stages] == [s.fingerprint for s in first]
        assert all(stage.complete for stage in stages)  # reused, not trained again


def test_data_edited_in_place_is_a_new_stage(tmp_path):
    inputs = _inputs(tmp_path)
    pipeline_file = _yaml(tmp_path / "p.yaml", "model", "data/mnli", "data/xnli")
    before = _plan(pipeline_file, tmp_path / "runs")
    _run(before)
    # the same size, other text: what a fix of one file in a data folder looks like
    (inputs / "data/xnli/dev-de.tsv").write_text("b\ta\tneutral\n")
    after = _plan(pipeline_file, tmp_path / "runs")
    assert after[0].fingerprint == before[0].fingerprint and after[0].complete  # reads MNLI only
    assert all(a.fingerprint != b.fingerprint and not a.complete for a, b in zip(after[1:], before[1:]))
    # a file added to the folder is other data too (a reader takes the first of the names it knows)
    _run(after)
    (inputs / "data/xnli/test-de.tsv").write_text("c\td\tneutral\n")
    assert not _plan(pipeline_file, tmp_path / "runs")[1].complete


def test_same_named_pipelines_over_other_data_share_no_stage_in_one_run_folder(tmp_path):
    """Issue 29: two experiments' folders, each with `data/` and `model/` beside its YAML, one run folder."""
    runs = tmp_path / "runs"
    one = _yaml(_inputs(tmp_path / "one") / "p.yaml", "./model", "data/mnli", "data/xnli")
    other_data = _yaml(
        _inputs(tmp_path / "two", xnli="c\td\tcontradiction\n") / "p.yaml", "./model", "data/mnli", "data/xnli"
    )
    other_model = _yaml(
        _inputs(tmp_path / "three", model='{"layers": 2}\n') / "p.yaml", "./model", "data/mnli", "data/xnli"
    )
    first = _plan(one, runs)
    _run(first)
    data_changed = _plan(other_data, runs)
    assert data_changed[0].complete and data_changed[0].fingerprint == first[0].fingerprint  # same MNLI, model
    assert not any(stage.complete for stage in data_changed[1:])
    model_changed = _plan(other_model, runs)
    assert not any(stage.complete for stage in model_changed)
    assert not {s.fingerprint for s in model_changed} & {s.fingerprint for s in first}
