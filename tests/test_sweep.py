"""Sweeps: expansion, stage sharing by fingerprint, resume after a failure, tables from the result."""

import csv
import re

import pytest
import yaml
from helpers import run_cli, write_tiny_qqp

from stilts.core.errors import BadInput, RunFailed
from stilts.pipeline.engine import plan_pipeline
from stilts.pipeline.sweep import SweepConfig, expand, load_sweep
from stilts.pipeline.training_stage import TrainingStageRunner
from stilts.testing import write_tiny_topics


def test_grid_expansion_trains_each_intermediate_model_once_per_seed(nine_by_nine, tmp_path):
    sweep = SweepConfig.model_validate(
        {
            "name": "grid",
            "model": "some/hub-model",
            "matrix": {"intermediate": ["none"] + nine_by_nine[:9], "target": nine_by_nine[9:], "seed": [1, 2, 3]},
        }
    )
    pipelines = expand(sweep, "grid.yaml")
    assert len(pipelines) == 10 * 9 * 3
    stages = [
        stage for pipeline in pipelines for stage in plan_pipeline(pipeline, tmp_path, tmp_path / "out", "grid.yaml")[0]
    ]
    by_kind = {
        kind: {s.fingerprint for s in stages if s.kind == kind} for kind in ("intermediate", "target", "evaluate")
    }
    assert len(by_kind["intermediate"]) == 27  # 9 tasks x 3 seeds; the baseline has none
    assert len(by_kind["target"]) == 10 * 9 * 3
    assert len(by_kind["evaluate"]) == 10 * 9 * 3
    # shared stages come first: each intermediate stage's first use precedes its reuses
    assert pipelines[0].name == "none-fake_target0-s1"
    assert [p.name for p in pipelines[9:11]] == ["fake_inter0-fake_target0-s1", "fake_inter0-fake_target1-s1"]


def _variant_sweep(variant, **matrix):
    return SweepConfig.model_validate(
        {
            "name": "pivots",
            "model": "some/hub-model",
            "stages": {"target": {"epochs": 2, "learning_rate": 1e-5}},
            "tasks": {"panx": {"batch_size": 8}},
            "matrix": {"intermediate": ["none", "mnli"], "target": ["panx"], "variant": variant, **matrix},
        }
    )


def test_variants_are_named_settings_applied_last_and_share_what_they_do_not_change(tmp_path):
    variants = {"en": {}, "de": {"target": {"train_languages": ["de"], "batch_size": 4}}}
    pipelines = expand(_variant_sweep(variants, seed=[1, 2]), "pivots.yaml")
    assert [p.name for p in pipelines[:4]] == [
        "none-panx-en-s1",
        "none-panx-de-s1",
        "mnli-panx-en-s1",
        "mnli-panx-de-s1",
    ]
    assert len(pipelines) == 8
    de = next(p for p in pipelines if p.name == "mnli-panx-de-s1")
    target = next(stage for stage in de.stages if stage.kind == "target")
    # the kind's settings, then the task's, then the variant's
    assert (target.train_languages, target.batch_size, target.epochs) == (["de"], 4, 2)
    plans = [plan_pipeline(p, tmp_path, tmp_path / "out", "pivots.yaml")[0] for p in pipelines]
    prints = {
        kind: {s.fingerprint for stages in plans for s in stages if s.kind == kind}
        for kind in ("intermediate", "target")
    }
    assert len(prints["intermediate"]) == 2  # mnli per seed, shared by both variants
    assert len(prints["target"]) == 8


def test_a_tasks_settings_go_to_the_stages_that_have_them():
    sweep = SweepConfig.model_validate(
        {
            "name": "per_task",
            "model": "some/hub-model",
            "tasks": {"panx": {"learning_rate": 2e-5, "max_examples": 100, "batch_size": 8}},
            "matrix": {"target": ["panx"]},
        }
    )
    (pipeline,) = expand(sweep, "per_task.yaml")
    target, evaluate = pipeline.stages
    assert (target.learning_rate, target.batch_size) == (2e-5, 8) and not hasattr(target, "max_examples")
    assert (evaluate.max_examples, evaluate.batch_size) == (100, 8) and not hasattr(evaluate, "learning_rate")


def test_a_tasks_unknown_setting_is_one_line_naming_it(tmp_path):
    path = tmp_path / "per_task.yaml"
    path.write_text(
        yaml.safe_dump(
            {"name": "t", "model": "m", "tasks": {"panx": {"learnin_rate": 1}}, "matrix": {"target": ["panx"]}}
        )
    )
    with pytest.raises(
        BadInput, match=re.escape("tasks.panx.learnin_rate: unknown field (did you mean 'learning_rate'?)")
    ):
        load_sweep(path)


@pytest.mark.parametrize(
    "matrix",
    [
        {"target": ["xnli"]},
        # a mixture's stage takes no one task's settings: these would apply to nothing
        {"intermediate": ["mnli+qqp"], "target": ["xnli"]},
        {"intermediate": ["mnli"], "mlm": [True], "target": ["xnli"]},
    ],
)
def test_settings_of_a_task_without_a_stage_of_its_own_are_refused(matrix, tmp_path):
    path = tmp_path / "per_task.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "model": "m", "tasks": {"mnli": {"epochs": 1}}, "matrix": matrix}))
    with pytest.raises(BadInput, match=re.escape("tasks.mnli: no stage of the matrix is of 'mnli' alone, so these")):
        load_sweep(path)
    # with a stage of mnli alone, they go to it
    matrix["intermediate"] = list(dict.fromkeys(["mnli", *matrix.get("intermediate", [])]))
    matrix["mlm"] = [False]
    path.write_text(yaml.safe_dump({"name": "t", "model": "m", "tasks": {"mnli": {"epochs": 1}}, "matrix": matrix}))
    assert load_sweep(path)[0].tasks == {"mnli": {"epochs": 1}}


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"en-de": {}}, "matrix.variant: variant name 'en-de': letters, digits and _ . @ + only"),
        ({"de": {"targte": {"epochs": 1}}}, "matrix.variant.de.targte: unknown stage kind"),
        ({"de": {"target": {"task": "xnli"}}}, "matrix.variant.de.target.task: set by the matrix, not here"),
        (
            {"de": {"target": {"train_languagez": ["de"]}}},
            "matrix.variant.de.target.train_languagez: unknown field (did you mean 'train_languages'?)",
        ),
    ],
)
def test_a_bad_variant_is_one_line_naming_it(variant, message, tmp_path):
    config = {"name": "pivots", "model": "m", "matrix": {"target": ["panx"], "variant": variant}}
    path = tmp_path / "pivots.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(BadInput, match=re.escape(message)):
        load_sweep(path)


@pytest.fixture(scope="module")
def grid(tmp_path_factory, tiny_model, tiny_nli):
    folder = tmp_path_factory.mktemp("sweep")
    topics = write_tiny_topics(folder / "topics")
    qqp = write_tiny_qqp(folder / "qqp")
    settings = {"learning_rate": 1e-3, "batch_size": 16, "epochs": 1, "validate_every": 100}
    config = {
        "name": "small_grid",
        "model": str(tiny_model),
        "data": {"mnli": str(tiny_nli["mnli"]), "xnli": str(tiny_nli["xnli"]), "topics": str(topics), "qqp": str(qqp)},
        "stages": {"intermediate": settings, "target": settings, "evaluate": {"max_examples": 8}},
        "matrix": {"intermediate": ["none", "mnli", "qqp"], "target": ["xnli", "topics"], "seed": [1, 2]},
    }
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, folder / "out", topics


def test_sweep_resumes_after_a_failure_then_reuses_everything(grid, capsys, monkeypatch):
    path, out, _ = grid
    # bad data is found before anything trains (exit 2), so the failure here is one inside a stage
    # (as a NaN loss or a full disk would be): every topics target stage fails
    train = TrainingStageRunner.run

    def fail_on_topics(self, stage, context):
        if stage.settings["tasks"] == ["topics"]:
            raise RunFailed("loss became nan at step 1 (topics)")
        return train(self, stage, context)

    monkeypatch.setattr(TrainingStageRunner, "run", fail_on_topics)
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out], capsys)
    assert code == 1
    assert "sweep small_grid: 6 done, 0 reused (already complete), 6 failed" in stdout
    assert "failed: none-topics-s1: target 'target'" in stderr and "loss became nan at step 1" in stderr

    monkeypatch.setattr(TrainingStageRunner, "run", train)
    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out, "--dry-run"], capsys)
    assert code == 0
    # 4 intermediate stages (2 tasks x 2 seeds) + 12 target + 12 evaluate; the xnli half ran and
    # trained the intermediate models, which the topics half reuses
    assert "12 pipelines, 28 distinct stages (16 complete, 12 to run)" in stdout

    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out], capsys)
    assert code == 0
    assert "6 done, 6 reused (already complete), 0 failed" in stdout
    # it ends with the table (dev: xnli's; topics has test only) and the command for more of it
    assert "| Intermediate | MLM |" in stdout and "no dev scores for: topics" in stdout
    assert stdout.rstrip().splitlines()[-1] == (
        f"next: stilts table {out / 'scores.csv'} --delta --ci 95 --plot small_grid.png"
    )

    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out], capsys)
    assert code == 0 and "running ->" not in stdout
    assert "0 done, 12 reused (already complete), 0 failed" in stdout

    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    runs = {(r["intermediate"], r["target"], r["seed"]) for r in rows}
    assert runs == {(i, t, s) for i in ("none", "mnli", "qqp") for t in ("xnli", "topics") for s in ("1", "2")}


def _scores(out) -> dict[str, set[tuple]]:
    """pipeline -> its rows' (stage, split, language, value)."""
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_pipeline: dict[str, set[tuple]] = {}
    for row in rows:
        by_pipeline.setdefault(row["pipeline"], set()).add((row["stage"], row["split"], row["language"], row["value"]))
    return by_pipeline


def test_a_slurm_job_of_a_changed_evaluation_replaces_that_pipelines_rows_only(grid, capsys):
    """Every row names the evaluate stage that wrote it; a job of the sweep (`stilts sweep --stage`, as
    Slurm runs it) after its evaluations changed replaces its pipeline's rows, and no other's."""
    path, out, _ = grid
    code, _, _ = run_cli(["sweep", path, "--output-dir", out], capsys)
    assert code == 0
    before = _scores(out)
    assert len(before) == 12
    for rows in before.values():
        [stage] = {row[0] for row in rows}
        assert (out / stage / "COMPLETE").is_file() and stage.startswith("evaluate-")

    changed = ["--set", "stages.evaluate.max_examples=4"]
    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out, *changed, "--dry-run"], capsys)
    plan = stdout[stdout.index("\nnone-xnli-s1\n") :]
    fingerprint = re.search(r"\] evaluate +\S+ +([0-9a-f]{8}) +to run", plan).group(1)
    code, _, stderr = run_cli(["sweep", path, "--output-dir", out, *changed, "--stage", fingerprint], capsys)
    assert code == 0, stderr
    after = _scores(out)
    assert {row[0] for row in after.pop("none-xnli-s1")} == {f"evaluate-{fingerprint}"}
    before.pop("none-xnli-s1")
    assert after == before


def test_tables_and_heatmap_come_out_of_the_sweep_scores(grid, capsys, tmp_path):
    _, out, _ = grid
    code, stdout, _ = run_cli(
        [
            "table",
            out / "scores.csv",
            "--split",
            "test",
            "--delta",
            "--format",
            "csv",
            "--plot",
            tmp_path / "transfer.png",
        ],
        capsys,
    )
    assert code == 0
    header = stdout.splitlines()[0].split(",")
    assert header[:2] == ["intermediate", "mlm"] and "xnli" in header and "topics" in header
    assert (tmp_path / "transfer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_sweep_field_is_one_line(grid, capsys):
    path, out, _ = grid
    code, _, stderr = run_cli(["sweep", path, "--set", "matrix.targets=[xnli]", "--dry-run"], capsys)
    assert code == 2 and "matrix.targets: unknown field (did you mean 'target'?)" in stderr
    code, _, stderr = run_cli(["sweep", path, "--set", "matrix.target=[xnlj]", "--dry-run"], capsys)
    assert code == 2 and "matrix.target: unknown task 'xnlj' (did you mean 'xnli'?)" in stderr


def test_a_sweep_of_variants_tabulates_one_row_per_variant(grid, capsys, tmp_path):
    path, _, _ = grid
    out = tmp_path / "variants"
    matrix = ["matrix.intermediate=[mnli]", "matrix.target=[xnli]", "matrix.seed=[1]"]
    variants = "matrix.variant={few: {target: {max_train_examples: 8}}, all: {}}"
    overrides = [option for setting in [*matrix, variants] for option in ("--set", setting)]
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, *overrides], capsys)
    assert code == 0, stderr
    assert "sweep small_grid: 2 done" in stdout and "| pipeline | " in stdout and "| mnli-few |" in stdout
    assert f"next: stilts table {out / 'scores.csv'} --by pipeline --baseline mnli-few --delta --ci 95" in stdout
    assert len(list(out.glob("intermediate-*/COMPLETE"))) == 1 and len(list(out.glob("target-*/COMPLETE"))) == 2
    with open(out / "scores.csv", newline="") as handle:
        assert {row["pipeline"] for row in csv.DictReader(handle)} == {"mnli-xnli-few-s1", "mnli-xnli-all-s1"}
    code, stdout, stderr = run_cli(["table", out / "scores.csv", "--by", "pipeline", "--format", "csv"], capsys)
    assert code == 0, stderr
    assert [row["pipeline"] for row in csv.DictReader(stdout.splitlines())] == ["mnli-few", "mnli-all"]
    # by intermediate both would be seed 1 of mnli: refused, not pooled
    code, stdout, stderr = run_cli(["table", out / "scores.csv"], capsys)
    assert code == 2 and "'mnli-xnli-few-s1', 'mnli-xnli-all-s1' each ran intermediate=mnli" in stderr


def test_parallel_sweep_runs_every_pipeline_and_each_shared_stage_once(grid, capsys, tmp_path):
    path, _, _ = grid
    out = tmp_path / "parallel"
    one_seed = ["--set", "matrix.seed=[1]"]  # 6 pipelines: each intermediate model shared by 2 targets
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out, "--jobs", "2", *one_seed], capsys)
    assert code == 0, stderr
    assert "running 6 pipelines in 2 processes" in stdout
    assert "sweep small_grid: 6 done, 0 reused (already complete), 0 failed" in stdout
    assert stdout.count("started ") == 6 and "[6/6] " in stdout
    # 2 intermediate tasks, each trained by one process; the scheduler never let a second pipeline
    # wait on a stage another one was running
    assert len(list(out.glob("intermediate-*/COMPLETE"))) == 2
    logs = sorted(p.name for p in (out / "logs").glob("*.log"))
    assert len(logs) == 6 and "mnli-xnli-s1.log" in logs
    text = "".join(p.read_text() for p in (out / "logs").glob("*.log"))
    assert text.count(": running ->") == 2 + 6 + 6 and "waiting:" not in text
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["intermediate"], r["target"], r["seed"]) for r in rows} == {
        (i, t, "1") for i in ("none", "mnli", "qqp") for t in ("xnli", "topics")
    }
    code, stdout, _ = run_cli(["sweep", path, "--output-dir", out, "--jobs", "2", *one_seed], capsys)
    assert code == 0 and "0 done, 6 reused (already complete), 0 failed" in stdout


def test_a_stage_another_process_is_running_is_waited_for_and_reused(tiny_model, tiny_nli, tmp_path, capsys):
    """Two runs sharing a run folder: the second waits on the stage lock and takes the finished stage."""
    import fcntl
    import os
    import shutil
    import subprocess
    import sys
    import time

    from conftest import write_pipeline

    pipeline = write_pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, name="shared", epochs=1)
    code, _, _ = run_cli(["run", pipeline, "--output-dir", tmp_path / "first"], capsys)
    assert code == 0
    stage = next((tmp_path / "first").glob("intermediate-*"))
    out = tmp_path / "second"
    out.mkdir()
    log = tmp_path / "second.log"
    with open(out / f".{stage.name}.lock", "w") as lock, open(log, "w") as output:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a process running that stage would
        process = subprocess.Popen(
            [sys.executable, "-m", "stilts", "run", str(pipeline), "--output-dir", str(out)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
        deadline = time.time() + 120
        while "waiting:" not in log.read_text() and process.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert "waiting: another process is running " + stage.name in log.read_text()
        shutil.copytree(stage, out / stage.name)  # the other process finishes the stage
        fcntl.flock(lock, fcntl.LOCK_UN)
        assert process.wait(timeout=300) == 0, log.read_text()[-2000:]
    text = log.read_text()
    assert "completed by another process, skipping" in text
    assert text.count(": running ->") == 2  # target and evaluate only
    assert (out / "scores.csv").read_text() == (tmp_path / "first" / "scores.csv").read_text()
