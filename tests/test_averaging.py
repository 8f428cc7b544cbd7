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
