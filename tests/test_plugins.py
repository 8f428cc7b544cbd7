"""Tasks and stage kinds from another installed package, through the ``stilts.plugins`` entry point.

The test writes a small package (``lab_tasks``) with its own distribution metadata (a ``.dist-info``
folder holding ``entry_points.txt``, what ``pip install`` writes) and puts it on the path of a
``stilts`` subprocess, as a lab would with its private tasks. No file of stilts changes: the package
adds a task of an existing format and a stage kind that keeps the first N layers of the incoming
encoder, and `stilts run` trains, evaluates and reports through both; `stilts table` tables the task and
`stilts score` scores its prediction files with the scoring function its declaration names.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import run_cli

from stilts.testing import write_tiny_topics

PLUGIN_MODULE = '''
"""A lab's private additions to stilts."""

from typing import Literal

from pydantic import Field

from stilts.core.catalog import Scoring, Task, register_task
from stilts.pipeline.config import StageConfig
from stilts.metrics.scoring import classification
from stilts.data.readers.text_classification import label_text_folder_reader, read_label_text_tsv
from stilts.pipeline.stage_kinds import StageKind, StagePlan, StageRunner, register_stage_kind
from stilts.formats.classification import CLASSIFICATION
from stilts.pipeline.training_stage import MODEL_FOLDER, input_model

LABELS = ("sports", "food", "weather", "technology")


def score_lab_topics(request):
    return classification(request, read_label_text_tsv(request.gold, LABELS), LABELS)


register_task(Task(
    name="lab_topics", format=CLASSIFICATION, phases=frozenset({"target", "evaluate"}),
    languages=("en", "de"), metric="accuracy", labels=LABELS,
    description="the lab's topic set", read_local=label_text_folder_reader(LABELS), eval_splits=("test",),
    scoring=Scoring(score_lab_topics)))


class KeepLayers(StageConfig):
    kind: Literal["keep_layers"]
    layers: int = Field(gt=0)


def plan(stage, context):
    return StagePlan({"layers": stage.layers, "seed": context.pipeline.seed}, frozenset())


class KeepLayersRunner(StageRunner):
    def run(self, stage, context):
        from transformers import AutoModel, AutoTokenizer

        source = input_model(stage, context)
        model = AutoModel.from_pretrained(source)
        model.encoder.layer = model.encoder.layer[: stage.settings["layers"]]
        model.config.num_hidden_layers = stage.settings["layers"]
        model.save_pretrained(stage.folder / MODEL_FOLDER)
        AutoTokenizer.from_pretrained(source).save_pretrained(stage.folder / MODEL_FOLDER)
        return {"layers": stage.settings["layers"]}


register_stage_kind(StageKind(name="keep_layers", config=KeepLayers, plan=plan, runner=KeepLayersRunner(),
                              produces_model=True))
'''


def write_plugin_package(site: Path) -> None:
    (site / "lab_tasks").mkdir(parents=True)
    (site / "lab_tasks" / "__init__.py").write_text(PLUGIN_MODULE)
    info = site / "lab_tasks-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-tasks\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[stilts.plugins]\nlab = lab_tasks\n")


def run_stilts(args, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "stilts", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_a_plugin_package_adds_a_task_and_a_stage_kind(tmp_path, tiny_model, capsys):
    site = tmp_path / "site"
    write_plugin_package(site)
    write_tiny_topics(tmp_path / "topics", train=48, test=16)
    pipeline = {
        "name": "lab",
        "model": str(tiny_model),
        "data": {"lab_topics": "topics"},
        "stages": [
            {"kind": "keep_layers", "layers": 1},
            {
                "kind": "target",
                "task": "lab_topics",
                "learning_rate": 5e-3,
                "batch_size": 8,
                "max_steps": 12,
                "validate_every": 6,
            },
            {"kind": "evaluate", "task": "lab_topics"},
        ],
    }
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(pipeline))

    listed = run_stilts(["tasks"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert any(line.startswith("lab_topics") and "lab-tasks" in line for line in listed.stdout.splitlines())

    result = run_stilts(["run", "lab.yaml", "--output-dir", "out"], site, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    [shrunk] = (tmp_path / "out").glob("keep_layers-*")
    assert json.loads((shrunk / "model" / "config.json").read_text())["num_hidden_layers"] == 1
    [target] = (tmp_path / "out").glob("target-*")
    assert json.loads((target / "config.json").read_text())["upstream"] == str(shrunk)
    with open(tmp_path / "out" / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["target"], row["language"]) for row in rows} == {("lab_topics", "en"), ("lab_topics", "de")}

    tabled = run_stilts(["table", "out/scores.csv", "--format", "csv"], site, tmp_path)
    assert tabled.returncode == 0, tabled.stderr
    header, row = tabled.stdout.splitlines()[:2]
    assert header.startswith("intermediate,mlm,lab_topics") and row.startswith("none,false,")

    [evaluate] = (tmp_path / "out").glob("evaluate-*")
    args = ["score", "--task", "lab_topics", "--language", "de", "--gold", "topics/test-de.tsv"]
    scored = run_stilts([*args, "--predictions", evaluate / "predictions" / "test-de.tsv"], site, tmp_path)
    assert scored.returncode == 0, scored.stderr
    reported = next(float(row["value"]) for row in rows if row["language"] == "de" and row["metric"] == "accuracy")
    assert json.loads(scored.stdout) == {"accuracy": pytest.approx(reported), "count": 16}

    # without the package on the path (this process never had it), the same YAML names an unknown
    # stage kind and the task is unknown to `stilts score`: one line, exit 2
    code, _, stderr = run_cli([*args, "--predictions", evaluate / "predictions" / "test-de.tsv"], capsys)
    assert code == 2 and stderr.startswith("error: --task: unknown task 'lab_topics' (tasks: ")
    code, _, stderr = run_cli(["run", tmp_path / "lab.yaml", "--dry-run"], capsys)
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"error: {tmp_path / 'lab.yaml'}: stages[0]: kind must be one of intermediate, target, evaluate, average, "
        "few_shot, translate_test, not 'keep_layers'"
    ]
