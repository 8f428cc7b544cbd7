"""Training actually learns: the other tests check that stages run and write the right artifacts,
and they all still pass with a trainer whose optimizer never steps. These fail on such a stub: a
trained target stage beats chance and an untrained head, and an intermediate stage changes the
encoder that the target stage then starts from."""

import contextlib
import csv
import io
import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from stilts.cli import main
from stilts.testing import write_tiny_topics

#: four balanced topics: always answering one of them scores 25
CHANCE = 25.0
#: a learning rate so small that a stage leaves its starting weights as they are, to within float
#: noise: the "untrained head" baseline, and a target stage whose encoder is the one it received
NO_LEARNING = 1e-9
#: enough for the tiny model to learn the tiny topics (48 English sentences, batch 16: 10 epochs)
TRAINING = {"learning_rate": 1e-3, "batch_size": 16, "max_steps": 30, "validate_every": 10}


def run_pipeline(folder, name, model, data, stages):
    """Run a pipeline of ``stages`` in-process under ``folder``; its output folder. (Not through the
    capsys-based helper: module-scoped fixtures run pipelines too.)"""
    config = {
        "name": name,
        "model": str(model),
        "seed": 1,
        "data": {task: str(path) for task, path in data.items()},
        "stages": stages,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        main(["run", str(path), "--output-dir", str(folder / name)])
    assert exit_info.value.code == 0, stderr.getvalue()[-2000:]
    return folder / name


def scores(out) -> dict[tuple[str, str], float]:
    """(split, language) -> accuracy, from the run's scores.csv."""
    with open(out / "scores.csv", newline="") as handle:
        return {(row["split"], row["language"]): float(row["value"]) for row in csv.DictReader(handle)}


def encoder_weights(folder) -> dict[str, torch.Tensor]:
    """The saved encoder tensors, as saved (through AutoModel, the pooler that the stages neither use
    nor save would be freshly random on every load)."""
    return load_file(folder / "model.safetensors")


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Euclidean distance between two sets of encoder weights (all parameters as one vector)."""
    assert a.keys() == b.keys()
    return sum(float((a[key].double() - b[key].double()).pow(2).sum()) for key in a) ** 0.5


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    return write_tiny_topics(tmp_path_factory.mktemp("topics"))


def topics_stages(**training) -> list[dict]:
    return [{"kind": "target", "task": "topics", **training}, {"kind": "evaluate", "task": "topics"}]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_model, topics):
    """A target stage trained on the topics for 30 steps, then evaluated: the run folder."""
    return run_pipeline(
        tmp_path_factory.mktemp("trained"), "trained", tiny_model, {"topics": topics}, topics_stages(**TRAINING)
    )


@pytest.fixture(scope="module")
def trained(trained_run):
    return scores(trained_run)


def test_target_stage_learns_the_topics_well_above_chance(trained):
    english = trained[("test", "en")]
    assert english >= CHANCE + 35, f"English test accuracy {english} after 30 steps (chance {CHANCE})"


def test_a_stage_that_learns_is_not_flagged(trained_run):
    (target,) = trained_run.glob("target-*")
    metrics = json.loads((target / "metrics.json").read_text())
    assert metrics["training"]["chance"] == {"topics": {"en": CHANCE}}
    assert metrics["warnings"] == []
    (evaluate,) = trained_run.glob("evaluate-*")
    evaluation = json.loads((evaluate / "metrics.json").read_text())
    assert (evaluation["warnings"], evaluation["constant_predictions"]) == ([], {})


def test_trained_head_scores_better_than_an_untrained_one(trained, tiny_model, topics, tmp_path):
    # the same stage with the same seed (so the same fresh head) that barely moves: only training can
    # tell the two apart
    untrained = scores(
        run_pipeline(
            tmp_path,
            "untrained",
            tiny_model,
            {"topics": topics},
            topics_stages(**{**TRAINING, "learning_rate": NO_LEARNING, "max_steps": 1}),
        )
    )
    assert trained.keys() == untrained.keys()
    assert trained[("test", "en")] >= untrained[("test", "en")] + 20, (trained, untrained)


def test_intermediate_stage_changes_the_encoder_the_target_stage_starts_from(tiny_model, tiny_nli, topics, tmp_path):
    stages = [
        {"kind": "intermediate", "tasks": ["mnli"], **TRAINING, "max_steps": 4},
        # the target barely moves, so its saved encoder is the one it started from
        {"kind": "target", "task": "topics", **TRAINING, "learning_rate": NO_LEARNING, "max_steps": 1},
    ]
    out = run_pipeline(tmp_path, "handover", tiny_model, {"mnli": tiny_nli["mnli"], "topics": topics}, stages)
    (intermediate,) = out.glob("intermediate-*")
    (target,) = out.glob("target-*")
    base = encoder_weights(tiny_model)
    after_intermediate = encoder_weights(intermediate / "model")
    target_encoder = encoder_weights(target / "model")

    moved = distance(base, after_intermediate)
    assert moved > 1e-2, f"the intermediate stage left the encoder (almost) as it was: moved {moved:.2e}"
    # the target stage received the intermediate encoder, not the base model's
    assert distance(after_intermediate, target_encoder) < 0.01 * moved
    assert distance(base, target_encoder) > 0.99 * moved
