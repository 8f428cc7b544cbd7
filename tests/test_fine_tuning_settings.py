"""XGLUE's fine-tuning settings as target-stage settings, on the tiny model: pivot-language and
multi-language fine-tuning (with per-language sampling ratios), several target tasks in one stage,
and the model selection rules (English dev, the average dev over all languages, the last step)."""

import csv
import json

import numpy as np
import pytest
import yaml
from helpers import run_cli, second_checkpoint_save_fails

from stilts.testing import write_tiny_topics

SETTINGS = {"learning_rate": 1e-3, "batch_size": 4, "validate_every": 6}


@pytest.fixture(scope="module")
def topics(tmp_path_factory):
    """Topic data in English and German; German has twice the training data of English."""
    folder = write_tiny_topics(tmp_path_factory.mktemp("topics"), train=24, test=8)
    german_train = write_tiny_topics(tmp_path_factory.mktemp("german"), train=48, test=8)
    (folder / "train-de.tsv").write_text(
        (german_train / "train-en.tsv").read_text().replace("the ", "die "), encoding="utf-8"
    )
    (folder / "dev-de.tsv").write_text((folder / "test-de.tsv").read_text(), encoding="utf-8")
    return folder


def _run(tmp_path, capsys, tiny_model, data, stages, name="p"):
    config = {"name": name, "model": str(tiny_model), "seed": 1, "data": data, "stages": stages}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    out = tmp_path / "out"
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    return code, stdout, stderr, out


def _metrics(out, kind="target"):
    (folder,) = out.glob(f"{kind}-*")
    return json.loads((folder / "metrics.json").read_text())


def test_pivot_language_training_selected_on_the_average_dev_of_all_languages(tiny_model, topics, tmp_path, capsys):
    stages = [
        {
            "kind": "target",
            "task": "topics",
            "train_languages": ["de"],
            "model_selection": "average_dev",
            "epochs": 2,
            **SETTINGS,
        },
        {"kind": "evaluate", "task": "topics", "languages": ["en", "de"]},
    ]
    code, _, stderr, out = _run(tmp_path, capsys, tiny_model, {"topics": str(topics)}, stages)
    assert code == 0, stderr
    metrics = _metrics(out)
    assert metrics["train_examples"] == {"topics": 48}  # the German file, not the English one
    assert metrics["training"]["optimizer_steps"] == 2 * 48 // 4
    # the dev sets of every language of the task that has one
    assert metrics["model_selection"] == {"rule": "average_dev", "validated_on": {"topics": ["en", "de"]}}
    validations = metrics["training"]["validations"]
    assert len(validations) == 4
    for validation in validations:
        by_language = validation["languages"]["topics"]
        assert set(by_language) == {"en", "de"}
        expected = np.mean([by_language["en"]["accuracy"], by_language["de"]["accuracy"]])
        assert validation["score"] == pytest.approx(expected)
        assert validation["tasks"]["topics"]["accuracy"] == pytest.approx(expected)
    best = max(validations, key=lambda v: v["score"])  # the first of the best, as early stopping keeps it
    assert metrics["training"]["best_step"] == best["step"]
    assert metrics["training"]["best_validation_score"] == pytest.approx(best["score"])
    with open(out / "scores.csv", newline="") as handle:
        assert {row["language"] for row in csv.DictReader(handle)} == {"en", "de"}


def test_languages_are_drawn_by_their_ratios_and_the_last_step_is_kept(tiny_model, topics, tmp_path, capsys):
    stages = [
        {
            "kind": "target",
            "task": "topics",
            "train_languages": ["en", "de"],
            "language_ratios": {"en": 3, "de": 1},
            "model_selection": "last_step",
            "epochs": 4,
            "patience": 1,
            **SETTINGS,
        },
        {"kind": "evaluate", "task": "topics", "languages": ["de"]},
    ]
    code, stdout, stderr, out = _run(tmp_path, capsys, tiny_model, {"topics": str(topics)}, stages)
    assert code == 0, stderr
    metrics = _metrics(out)
    training = metrics["training"]
    assert metrics["train_examples"] == {"topics": 24 + 48}
    # epochs over the merged data: 4 x 72 / 4 batches, a quarter of them German although German is
    # two thirds of the data (drawn by size, English would get a third: ~24 of 72)
    assert training["optimizer_steps"] == 72
    drawn = training["batches_drawn"]
    assert set(drawn) == {"topics/en", "topics/de"} and sum(drawn.values()) == 72
    assert 44 <= drawn["topics/en"] <= 64  # 54 expected; sd 3.7
    # validated (English dev) for the record, but neither early stopping nor a best step
    assert metrics["model_selection"] == {"rule": "last_step", "validated_on": {"topics": ["en"]}}
    assert len(training["validations"]) == 12 and not training["stopped_early"]
    assert training["best_step"] == 72 and training["best_validation_score"] is None
    assert "topics/en" in stdout and "rate 0.7500" in stdout


def test_several_target_tasks_train_together_each_with_its_head(tiny_model, tiny_nli, topics, tmp_path, capsys):
    data = {"topics": str(topics), **{task: str(folder) for task, folder in tiny_nli.items()}}
    stages = [
        {"kind": "target", "tasks": ["xnli", "topics"], "mixing": "uniform", "epochs": 1, **SETTINGS},
        {"kind": "evaluate", "name": "evaluate_xnli", "task": "xnli", "languages": ["en", "de"]},
        {"kind": "evaluate", "name": "evaluate_topics", "task": "topics", "languages": ["en", "de"]},
    ]
    code, _, stderr, out = _run(tmp_path, capsys, tiny_model, data, stages)
    assert code == 0, stderr
    metrics = _metrics(out)
    (target,) = out.glob("target-*")
    assert {path.name for path in (target / "heads").iterdir()} >= {"xnli.safetensors", "topics.safetensors"}
    assert set(metrics["training"]["batches_drawn"]) == {"xnli", "topics"}
    assert metrics["model_selection"]["validated_on"] == {"xnli": ["en"], "topics": ["en"]}
    validation = metrics["training"]["validations"][-1]
    mean = np.mean([validation["tasks"][task]["accuracy"] for task in ("xnli", "topics")])
    assert validation["score"] == pytest.approx(mean)
    with open(out / "scores.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["target"], row["language"]) for row in rows if row["split"] == "test"} == {
        (task, language) for task in ("xnli", "topics") for language in ("en", "de")
    }
    for evaluate in out.glob("evaluate-*"):  # both evaluations use the multi-task stage's heads
        assert json.loads((evaluate / "config.json").read_text())["upstream"] == str(target)


def test_the_fine_tuning_settings_are_fingerprinted(tiny_model, tiny_nli, tmp_path):
    from stilts.pipeline.config import validate_pipeline
    from stilts.pipeline.engine import plan_pipeline

    def target_folder(**fields):
        raw = {
            "name": "p",
            "model": str(tiny_model),
            "data": {task: str(folder) for task, folder in tiny_nli.items()},
            "stages": [{"kind": "target", "task": "xnli", **fields}],
        }
        (stage,) = plan_pipeline(validate_pipeline(raw, "p"), tmp_path, tmp_path, "p")[0]
        return stage.folder.name

    plain = target_folder()
    assert target_folder(model_selection="english_dev") == plain  # the default hashes as before
    variants = {
        target_folder(model_selection="average_dev"),
        target_folder(model_selection="last_step"),
        target_folder(train_tasks=["mnli", "mnli@de"]),
        target_folder(train_tasks=["mnli", "mnli@de"], language_ratios={"en": 1, "de": 1}),
        target_folder(train_tasks=["mnli", "mnli@de"], language_ratios={"en": 2, "de": 1}),
    }
    assert len(variants) == 5 and plain not in variants


@pytest.mark.parametrize(
    "target, message",
    [
        ({"task": "xnli", "tasks": ["xnli", "pawsx"]}, "stages[0]: give either task (one target task) or tasks"),
        ({}, "stages[0]: give either task (one target task) or tasks"),
        ({"tasks": ["xnli", "pawsx"], "train_tasks": ["anli_r1"]}, "stages[0].train_tasks: give train_tasks to a"),
        ({"tasks": ["xnli", "xnli"]}, "stages[0].tasks: a task is listed twice"),
        (
            {"task": "xnli", "train_languages": ["es"]},
            "stages[0].train_languages[0]: mnli, which trains xnli, has no 'es' training data (its languages: en); "
            "for a translated set give train_tasks: [mnli@es]",
        ),
        ({"task": "pawsx", "train_languages": ["xx"]}, "pawsx has no 'xx' training data (its languages: de, en"),
        (
            {"task": "pawsx", "train_languages": ["de", "en"], "language_ratios": {"de": 1}},
            "stages[0].language_ratios: give a ratio for exactly the languages the stage trains on (de, en)",
        ),
        ({"task": "pawsx", "language_ratios": {"en": 0}}, "stages[0].language_ratios: the ratios sum to 0"),
        ({"task": "pawsx", "model_selection": "best"}, "stages[0].model_selection: input should be 'english_dev'"),
        (
            {"tasks": ["xnli", "pawsx"], "mixing_weights": {"xnli": 1}},
            "stages[0].mixing_weights: give a weight for exactly the stage's tasks (xnli, pawsx)",
        ),
    ],
)
def test_bad_fine_tuning_settings_are_one_line(target, message, tiny_model, tmp_path, capsys):
    config = {"name": "p", "model": str(tiny_model), "stages": [{"kind": "target", **target}]}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out", "--dry-run"], capsys)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_an_evaluation_needs_its_task_among_the_targets_trained(tiny_model, tmp_path, capsys):
    stages = [{"kind": "target", "tasks": ["xnli", "pawsx"]}, {"kind": "evaluate", "task": "topics"}]
    config = {"name": "p", "model": str(tiny_model), "stages": stages}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(config))
    code, _, stderr = run_cli(["run", path, "--output-dir", tmp_path / "out", "--dry-run"], capsys)
    assert code == 2 and "stages[1].task: evaluating 'topics' needs a target stage that trains 'topics'" in stderr


def test_a_pivot_language_without_training_data_stops_before_training(tiny_model, topics, tmp_path, capsys):
    stages = [{"kind": "target", "task": "topics", "train_languages": ["fr"], **SETTINGS}]
    code, stdout, stderr, out = _run(tmp_path, capsys, tiny_model, {"topics": str(topics)}, stages)
    (error,) = [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]
    assert code == 2 and f"{topics}: no train file for 'fr' (looked for train-fr.tsv)" in error
    assert "running ->" not in stdout and not list(out.glob("target-*/model"))


def test_the_pivot_pipeline_plans_a_spanish_target_selected_on_every_language(tmp_path):
    from pathlib import Path

    from stilts.pipeline.config import load_pipeline
    from stilts.pipeline.engine import plan_pipeline
    from stilts.pipeline.stage_kinds import STAGE_KINDS

    path = Path(__file__).resolve().parents[1] / "pipelines" / "xnli_pivot_es.yaml"
    pipeline, base = load_pipeline(path, (f"data.mnli@es={tmp_path}",))
    stages, _ = plan_pipeline(pipeline, base, tmp_path / "run", str(path))
    target = stages[1]
    assert target.settings["train_tasks"] == ["mnli@es"] and target.settings["model_selection"] == "average_dev"
    runner = STAGE_KINDS.get("target").runner
    reads = {(read.task.name, read.split, read.language) for read in runner.data_reads(target)}
    assert ("mnli@es", "train", "es") in reads and ("xnli", "dev", "zh") in reads


def test_a_stage_drawing_languages_resumes_to_the_same_draws_and_scores(
    tiny_model, topics, tmp_path, capsys, monkeypatch
):
    stages = [
        {
            "kind": "target",
            "task": "topics",
            "train_languages": ["en", "de"],
            "language_ratios": {"en": 1, "de": 1},
            "epochs": 1,
            "checkpoint_every": 4,
            **SETTINGS,
        },
        {"kind": "evaluate", "task": "topics", "languages": ["de"]},
    ]
    whole = tmp_path / "whole"
    whole.mkdir()
    code, _, _, whole_out = _run(whole, capsys, tiny_model, {"topics": str(topics)}, stages)
    assert code == 0

    with second_checkpoint_save_fails(monkeypatch) as calls:
        assert _run(tmp_path, capsys, tiny_model, {"topics": str(topics)}, stages)[0] == 1
    code, stdout, _, out = _run(tmp_path, capsys, tiny_model, {"topics": str(topics)}, stages)
    assert code == 0 and f"resuming from step-{calls[0]}" in stdout
    assert _metrics(out)["training"]["batches_drawn"] == _metrics(whole_out)["training"]["batches_drawn"]
    assert (out / "scores.csv").read_text() == (whole_out / "scores.csv").read_text()
