"""`tracking: tensorboard`: each training stage logs its loss, learning rate and validation scores
through Accelerate's tracker, without changing what is trained or its fingerprint."""

import json

import pytest
from conftest import write_pipeline
from helpers import run_cli

pytest.importorskip("tensorboard")


def test_tensorboard_gets_every_training_stage_and_changes_nothing_else(tiny_model, tiny_nli, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    pipeline = write_pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli, name="tracked", epochs=1)
    plain, tracked = tmp_path / "plain", tmp_path / "tracked"
    assert run_cli(["run", pipeline, "--output-dir", plain], capsys)[0] == 0
    code, _, stderr = run_cli(["run", pipeline, "--output-dir", tracked, "--set", "tracking=tensorboard"], capsys)
    assert code == 0, stderr
    assert (tracked / "scores.csv").read_text() == (plain / "scores.csv").read_text()
    stages = sorted(p.name for p in tracked.glob("*-*") if p.is_dir() and p.name != "logs")
    assert stages == sorted(p.name for p in plain.glob("*-*") if p.is_dir())  # same fingerprints
    logged = sorted(p.name for p in (tracked / "logs").iterdir())
    assert logged == [name for name in stages if not name.startswith("evaluate")]  # one run per training stage
    for name in logged:
        events = EventAccumulator(str(tracked / "logs" / name))
        events.Reload()
        metrics = json.loads((tracked / name / "metrics.json").read_text())["training"]
        losses = events.Scalars("train/loss")
        steps = [event.step for event in losses]
        assert steps == sorted(steps) and steps[-1] == metrics["optimizer_steps"]
        assert all(event.value > 0 for event in losses)
        dev = {event.step: event.value for event in events.Scalars("dev/score")}
        assert dev == pytest.approx({v["step"]: v["score"] for v in metrics["validations"]}, abs=1e-4)


def test_an_unknown_tracker_is_one_line(tiny_model, tiny_nli, tmp_path, capsys):
    pipeline = write_pipeline(tmp_path / "p.yaml", tiny_model, tiny_nli)
    code, _, stderr = run_cli(["run", pipeline, "--dry-run", "--set", "tracking=comet"], capsys)
    assert code == 2 and "tracking: input should be 'none', 'tensorboard', 'mlflow', 'wandb' or 'aim'" in stderr
