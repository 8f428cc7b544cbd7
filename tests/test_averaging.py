"""Weight averaging on the tiny model: ``model_selection: average_last`` keeps the uniform mean of the
weights at the last N validations (the same trajectory's weights, taken independently of the code
that averages them), records the steps, resumes to the same weights, and refuses an N the stage
cannot reach before anything trains."""

import json

import pytest
import torch
import yaml
from helpers import run_cli, second_checkpoint_save_fails

from stilts.testing import write_tiny_topics

#: 24 examples in batches of 4, 2 epochs: 12 optimizer steps, validations at steps 3, 6, 9, 12
SETTINGS = {"learning_rate": 1e-3, "batch_size": 4, "epochs": 2, "validate_every": 3}


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    return write_tiny_topics(tmp_path_factory.mktemp("topics"), train=24, test=8)


def _write(folder, tiny_model, topics, target: dict, name="p"):
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "name": name,
        "model": str(tiny_model),
        "seed": 1,
        "data": {"topics": str(topics)},
        "stages": [
            {"kind": "target", "task": "topics", **SETTINGS, **target},
            {"kind": "evaluate", "task": "topics", "languages": ["en", "de"]},
        ],
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _run(path, out, capsys, *more):
    return run_cli(["run", path, "--output-dir", out, *more], capsys)


def _kept_weights(target_folder) -> dict[str, torch.Tensor]:
    """The stage's saved encoder and head, loaded as the evaluate stage loads them."""
    from stilts.core.catalog import get_task
    from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head

    task = get_task("topics")
    encoder, _ = load_encoder(str(target_folder / "model"))
    model = StageModel(encoder, [task])
    load_head(model, task, target_folder / HEADS_FOLDER)
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def test_average_last_keeps_the_mean_of_the_weights_at_the_last_validations(
    tiny_model, topics, tmp_path, capsys, monkeypatch
):
    import stilts.training.loop as loop

    # the same stage keeping its last step, with the weights at each validation copied as it validates:
    # its trajectory is the averaging stage's (same seed, same schedule, neither stops early)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    real_validate = loop.validate

    def copying_validate(accelerator, model, *args, **kwargs):
        state = accelerator.unwrap_model(model).state_dict()
        snapshots[len(snapshots)] = {key: value.detach().clone() for key, value in state.items()}
        return real_validate(accelerator, model, *args, **kwargs)

    monkeypatch.setattr(loop, "validate", copying_validate)
    last = _write(tmp_path / "last", tiny_model, topics, {"model_selection": "last_step"})
    code, _, stderr = _run(last, tmp_path / "last" / "out", capsys)
    assert code == 0, stderr
    monkeypatch.setattr(loop, "validate", real_validate)
    assert len(snapshots) == 4  # steps 3, 6, 9, 12
    (last_stage,) = (tmp_path / "last" / "out").glob("target-*")
    kept_last = _kept_weights(last_stage)
    assert all(torch.equal(kept_last[key], snapshots[3][key]) for key in kept_last)  # the copies are the weights

    averaged = _write(tmp_path / "avg", tiny_model, topics, {"model_selection": "average_last", "average_last": 3})
    code, stdout, stderr = _run(averaged, tmp_path / "avg" / "out", capsys)
    assert code == 0, stderr
    (stage,) = (tmp_path / "avg" / "out").glob("target-*")
    kept = _kept_weights(stage)
    for key, value in kept.items():
        if not value.is_floating_point():
            continue
        expected = torch.stack([snapshots[i][key].float() for i in (1, 2, 3)]).mean(dim=0)
        assert torch.allclose(value, expected, atol=1e-6, rtol=1e-5), key
    # an average, not one of the snapshots
    assert not torch.equal(kept["heads.topics.dense.weight"], snapshots[3]["heads.topics.dense.weight"])

    metrics = json.loads((stage / "metrics.json").read_text())
    assert metrics["model_selection"]["rule"] == "average_last"
    assert metrics["model_selection"]["averaged_steps"] == [6, 9, 12]
    training = metrics["training"]
    assert training["average"]["steps"] == [6, 9, 12] and "accuracy" in training["average"]["tasks"]["topics"]
    assert len(training["validations"]) == 4 and not training["stopped_early"]
    assert "the average of steps 6, 9, 12 of 12, dev topics accuracy" in stdout
    assert "average of the weights at steps 6, 9, 12: dev topics accuracy" in stdout


def test_the_average_is_fingerprinted_and_old_folders_keep_theirs(tiny_model, topics, tmp_path):
    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline

    def target_folder(target: dict) -> str:
        path = _write(tmp_path, tiny_model, topics, target)
        pipeline, base = load_pipeline(path)
        return plan_pipeline(pipeline, base, tmp_path / "out", str(path))[0][0].folder.name

    plain = target_folder({})
    assert target_folder({"model_selection": "english_dev"}) == plain
    folders = {
        target_folder({"model_selection": "average_last", "average_last": 2}),
        target_folder({"model_selection": "average_last", "average_last": 3}),
        target_folder({"model_selection": "last_step"}),
    }
    assert len(folders) == 3 and plain not in folders


def test_a_killed_averaging_stage_resumes_to_the_same_weights(tiny_model, topics, tmp_path, capsys, monkeypatch):
    target = {"model_selection": "average_last", "average_last": 3, "checkpoint_every": 4}
    whole = _write(tmp_path / "whole", tiny_model, topics, target)
    assert _run(whole, tmp_path / "whole" / "out", capsys)[0] == 0

    path = _write(tmp_path / "parts", tiny_model, topics, target)
    out = tmp_path / "parts" / "out"
    # checkpoints at steps 4 and 8 (and the ends of epochs, step 6): the second save fails, so the rerun
    # goes on from step 4, before the first averaged validation (6), and ...
    with second_checkpoint_save_fails(monkeypatch) as calls:
        assert _run(path, out, capsys)[0] == 1
    assert calls == [4, 6]
    (stage,) = out.glob("target-*")
    # ... once more from step 6, whose checkpoint holds the running mean of one snapshot
    with second_checkpoint_save_fails(monkeypatch) as calls:
        code, stdout, _ = _run(path, out, capsys)
    assert code == 1 and "resuming from step-4" in stdout and calls == [6, 8]
    assert (stage / "checkpoints" / "step-6" / "average.safetensors").is_file()
    code, stdout, stderr = _run(path, out, capsys)
    assert code == 0, stderr
    assert "resuming from step-6" in stdout
    (whole_stage,) = (tmp_path / "whole" / "out").glob("target-*")
    resumed, uninterrupted = _kept_weights(stage), _kept_weights(whole_stage)
    assert all(torch.equal(resumed[key], uninterrupted[key]) for key in resumed)
    assert (out / "scores.csv").read_text() == (tmp_path / "whole" / "out" / "scores.csv").read_text()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"model_selection": "average_last"},
            "stages[0].average_last: model_selection: average_last averages the weights at the last N "
            "validations; give N (e.g. average_last: 5)",
        ),
        (
            {"average_last": 3},
            "stages[0].average_last: only with model_selection: average_last (this stage's model_selection "
            "is english_dev)",
        ),
        (
            {"model_selection": "average_last", "average_last": 3, "max_steps": 5},
            "stages[0].average_last: averages the weights at the last 3 validations, but the stage validates "
            "2 times (5 optimizer steps, validate_every 3)",
        ),
        # 12 steps from the 24 examples, found when the data is read, before anything trains
        (
            {"model_selection": "average_last", "average_last": 5},
            "stages[0].average_last: averages the weights at the last 5 validations, but the stage validates "
            "4 times (12 optimizer steps, validate_every 3)",
        ),
        (
            {"model_selection": "average_last", "average_last": 2, "validate_every": 100},
            "stages[0].average_last: averages the weights at the last 2 validations, but the stage validates "
            "1 time (12 optimizer steps, validate_every 100)",
        ),
    ],
)
def test_an_average_the_stage_cannot_make_is_one_line_before_training(
    target, message, tiny_model, topics, tmp_path, capsys
):
    path = _write(tmp_path, tiny_model, topics, target)
    code, stdout, stderr = _run(path, tmp_path / "out", capsys)
    (error,) = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip()][-1:]
    assert code == 2 and error == f"error: {path}: {message}", stderr
    assert "running ->" not in stdout and "error" not in stderr.replace(error, "")


def test_where_the_steps_are_known_only_once_tokenized_the_stage_refuses_before_its_first_step(
    tiny_model, topics, tmp_path, capsys, monkeypatch
):
    from stilts.formats.classification import CLASSIFICATION

    # as for QA and tagging, whose long examples become several features: not counted from the examples
    monkeypatch.setattr(CLASSIFICATION, "windows", True)
    path = _write(tmp_path, tiny_model, topics, {"model_selection": "average_last", "average_last": 5})
    code, stdout, stderr = _run(path, tmp_path / "out", capsys)
    assert code == 2, stderr
    assert (
        f"error: {path}: stages[0].average_last: averages the weights at the last 5 validations, but the stage "
        "validates 4 times (12 optimizer steps, validate_every 3)" in stderr
    )
    assert "running ->" in stdout and "step 3/12" not in stdout  # the stage started, and refused before training


# --- the average of several seeds' models (stilts sweep's average_seeds) --------------------------


def _seed_sweep(folder, tiny_model, topics, *, matrix=None, stages=None, data=None, average_seeds=True):
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "name": "seeds",
        "model": str(tiny_model),
        "data": {"topics": str(topics), **(data or {})},
        "average_seeds": average_seeds,
        "stages": {
            "intermediate": {**SETTINGS, "epochs": 1},
            "target": {**SETTINGS, "epochs": 1, "init_seed": 7},
            "evaluate": {"languages": ["en", "de"]},
            **(stages or {}),
        },
        "matrix": {"intermediate": ["none"], "target": ["topics"], "seed": [1, 2], **(matrix or {})},
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_average_seeds_evaluates_the_mean_of_the_seeds_models_as_a_row_of_its_own(tiny_model, topics, tmp_path, capsys):
    import csv

    path = _seed_sweep(tmp_path, tiny_model, topics)
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["sweep", path, "--output-dir", out], capsys)
    assert code == 0, stderr
    targets = sorted(out.glob("target-*"))
    (average,) = out.glob("average-*")
    assert len(targets) == 2  # each seed's, trained once: the averaged pipeline reuses them
    metrics = json.loads((average / "metrics.json").read_text())
    assert metrics["seeds"] == [1, 2] and sorted(metrics["averaged"]) == [t.name for t in targets]
    seeds = [_kept_weights(target) for target in targets]
    kept = _kept_weights(average)
    for key, value in kept.items():
        if value.is_floating_point():
            assert torch.allclose(value, (seeds[0][key] + seeds[1][key]) / 2, atol=1e-6), key
    assert not torch.equal(kept["heads.topics.out_proj.weight"], seeds[0]["heads.topics.out_proj.weight"])

    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    runs = {(row["pipeline"], row["intermediate"], row["seed"]) for row in rows}
    assert runs == {
        ("none-topics-s1", "none", "1"),
        ("none-topics-s2", "none", "2"),
        ("none-topics-s1+2", "none/seed-average", "1+2"),
    }
    evaluation = next(row["stage"] for row in rows if row["seed"] == "1+2")
    config = json.loads((out / evaluation / "config.json").read_text())
    assert config["upstream"] == str(average)

    # the table: the average is a row of its own, one run; the seeds' row the median of their two
    code, table, _ = run_cli(["table", out / "scores.csv", "--show-n", "--split", "test"], capsys)
    assert code == 0
    lines = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| none")}
    assert set(lines) == {"none", "none/seed-average"}
    assert "(n=2)" in lines["none"] and "(n=1)" in lines["none/seed-average"]
    code, table, _ = run_cli(["table", out / "scores.csv", "--by", "pipeline", "--split", "test"], capsys)
    assert code == 0
    assert [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| none")] == [
        "none",
        "none/seed-average",
    ]


def test_seed_averages_of_models_that_started_from_other_weights_are_refused_in_one_line(
    tiny_model, tiny_nli, topics, tmp_path, capsys
):
    def refused(**settings):
        path = _seed_sweep(tmp_path, tiny_model, topics, **settings)
        code, _, stderr = run_cli(["sweep", path, "--output-dir", tmp_path / "out", "--dry-run"], capsys)
        assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
        return stderr.strip()

    # the heads of each seed start from their own random weights
    assert refused(stages={"target": {**SETTINGS, "epochs": 1}}).endswith(
        "none-topics-s1+2: stages[1].seeds: the target stages of seeds 1 and 2 start their new heads from "
        "different random weights; only models fine-tuned from the same weights are averaged: give the target "
        "stage init_seed: 1 (in a sweep, stages: {target: {init_seed: 1}})"
    )
    # each seed trains its own intermediate model
    mnli = {"matrix": {"intermediate": ["mnli"]}, "data": {"mnli": str(tiny_nli["mnli"])}}
    assert refused(**mnli).endswith(
        "mnli-topics-s1+2: stages[2].seeds: the target stages of seeds 1 and 2 start from different weights "
        "(intermediate 'intermediate' trains with each seed); only models fine-tuned from the same weights are "
        "averaged: give that stage one seed (seed: 1 on it; in a sweep, stages: {intermediate: {seed: 1}})"
    )
    assert refused(matrix={"seed": [1]}).endswith(
        "sweep.yaml: average_seeds: the matrix has one seed; averaging needs two or more (matrix.seed)"
    )

    # one intermediate model for every seed: planned, the intermediate stage once
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.sweep import expand, load_sweep

    path = _seed_sweep(
        tmp_path,
        tiny_model,
        topics,
        stages={"intermediate": {**SETTINGS, "epochs": 1, "seed": 1}},
        **mnli,
    )
    sweep, base = load_sweep(path)
    plans = [plan_pipeline(p, base, tmp_path / "out", str(path))[0] for p in expand(sweep, str(path))]
    # the average's pipeline: the intermediate (shared), both seeds' targets, the average, its evaluation
    assert [s.kind for s in plans[2]] == ["intermediate", "target", "target", "average", "evaluate"]
    kinds = {kind: {s.fingerprint for st in plans for s in st if s.kind == kind} for kind in ("intermediate", "target")}
    assert len(kinds["intermediate"]) == 1 and len(kinds["target"]) == 2


def test_the_slurm_job_of_an_average_waits_for_every_seed_it_averages(tiny_model, topics, tmp_path):
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.slurm.submit import describe_dag, job_dag
    from stilts.pipeline.sweep import expand, load_sweep

    path = _seed_sweep(tmp_path, tiny_model, topics, matrix={"seed": [1, 2, 3]})
    sweep, base = load_sweep(path)
    plans = [(p.name, plan_pipeline(p, base, tmp_path / "out", str(path))[0]) for p in expand(sweep, str(path))]
    dag = job_dag(plans, sweep.slurm, str(path), active={})
    by_kind = {job.stage.kind: job for job in dag.jobs}
    targets = [job for job in dag.jobs if job.stage.kind == "target"]
    average = by_kind["average"]
    assert len(targets) == 3 and {stage.fingerprint for stage in average.waits_for} == {
        job.stage.fingerprint for job in targets
    }
    assert average.depth == 1 and all(job.depth == 0 for job in targets)
    (line,) = [line for line in describe_dag(dag) if line.startswith("  average ")]
    assert line.count("after target 'target'") == 1 and line.count(" and target 'target'") == 2
