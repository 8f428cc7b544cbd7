"""Calibration from what evaluate stages keep: each example's answer probabilities in its per-example row (the
model's softmax, its argmax the prediction), and `stilts table --calibration`'s per-language ECE, recomputed
here by hand from the stored rows, with the temperature fitted on English dev applied to every language."""

import csv
import json
import math

import numpy as np
import pytest
from conftest import write_pipeline
from helpers import run_cli

from stilts.core.catalog import get_task


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_model, tiny_nli):
    """A tiny MNLI -> XNLI run, evaluated in en, de and fr (module scope: run_cli's capsys is per test)."""
    from stilts.cli import main

    folder = tmp_path_factory.mktemp("calibration")
    path = write_pipeline(folder / "p.yaml", tiny_model, tiny_nli, name="calibrated", epochs=1)
    with pytest.raises(SystemExit) as done:
        main(["run", str(path), "--output-dir", str(folder / "out")])
    assert done.value.code == 0
    return folder / "out"


def _rows(out, split, language) -> list[dict]:
    [folder] = out.glob("evaluate-*/predictions")
    return [json.loads(line) for line in (folder / f"{split}-{language}.examples.jsonl").read_text().splitlines()]


def _ece_by_hand(confidence, correct, bins=15) -> float:
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [i for i, c in enumerate(confidence) if (low < c <= high) or (b == 0 and c == 0)]
        if inside:
            accuracy = sum(correct[i] for i in inside) / len(inside)
            mean_confidence = sum(confidence[i] for i in inside) / len(inside)
            total += len(inside) * abs(accuracy - mean_confidence)
    return total / len(confidence)


def test_every_example_row_keeps_the_softmax_whose_argmax_is_the_prediction(evaluated):
    labels = get_task("xnli").labels
    for language in ("en", "de", "fr"):
        rows = _rows(evaluated, "dev", language)
        assert rows
        for row in rows:
            probabilities = row["probabilities"]
            assert list(probabilities) == list(labels)
            assert sum(probabilities.values()) == pytest.approx(1.0)
            assert max(probabilities, key=probabilities.get) == row["prediction"]


def test_calibration_is_the_ece_of_the_stored_probabilities_before_and_after_the_english_temperature(
    evaluated, capsys, tmp_path
):
    code, stdout, stderr = run_cli(
        ["table", evaluated / "scores.csv", "--calibration", "--format", "csv", "--reliability", tmp_path / "r.csv"],
        capsys,
    )
    assert code == 0, stderr
    runs = list(csv.DictReader(stdout.splitlines()))
    assert {row["language"] for row in runs} == {"en", "de", "fr"}
    temperatures = {row["temperature"] for row in runs}
    assert len(temperatures) == 1  # one temperature per run, fitted on its English dev
    temperature = float(temperatures.pop())
    assert 0 < temperature and math.isfinite(temperature)
    for row in runs:
        stored = _rows(evaluated, "dev", row["language"])
        confidence = [max(r["probabilities"].values()) for r in stored]
        correct = [r["prediction"] == r["gold"] for r in stored]
        assert float(row["ece"]) == pytest.approx(_ece_by_hand(confidence, correct), abs=1e-12)
        assert int(row["examples"]) == len(stored)
        # scaled: softmax(log p / T), by hand
        scaled = []
        for r in stored:
            logits = np.log(np.array(list(r["probabilities"].values()))) / temperature
            p = np.exp(logits - logits.max())
            scaled.append(float((p / p.sum()).max()))
        assert float(row["ece_scaled"]) == pytest.approx(_ece_by_hand(scaled, correct), abs=1e-9)
    english = next(row for row in runs if row["language"] == "en")
    assert float(english["nll_scaled"]) <= float(english["nll"]) + 1e-12  # fitted there: never worse
    with open(tmp_path / "r.csv", newline="") as handle:
        bins = list(csv.DictReader(handle))
    for language in ("en", "de", "fr"):
        for scaled in ("False", "True"):
            counts = [int(b["count"]) for b in bins if b["language"] == language and b["scaled"] == scaled]
            assert len(counts) == 15 and sum(counts) == len(_rows(evaluated, "dev", language))

    code, stdout, stderr = run_cli(["table", evaluated / "scores.csv", "--calibration"], capsys)
    assert code == 0, stderr
    assert "top-label expected calibration error" in stdout
    assert f"| ECE, T = {temperature:.2f} |" in stdout


def test_calibration_of_runs_without_probabilities_is_one_line(evaluated, capsys, tmp_path):
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(evaluated, copy)
    for path in copy.glob("evaluate-*/predictions/*.examples.jsonl"):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "probabilities"}) + "\n" for r in rows))
    code, _, stderr = run_cli(["table", copy / "scores.csv", "--calibration"], capsys)
    assert code == 2 and len(stderr.strip().splitlines()) == 1
    assert "no run on 'dev' has answer probabilities" in stderr and "ran before stilts kept them" in stderr
    code, _, stderr = run_cli(["table", copy / "scores.csv", "--reliability", tmp_path / "r.csv"], capsys)
    assert code == 2 and "give --calibration too" in stderr


def test_multiple_choice_probabilities_are_over_each_questions_own_choices(tiny_model, tmp_path):
    from stilts.data.loading import load_examples
    from stilts.testing import write_hellaswag
    from stilts.training.devices import make_accelerator
    from stilts.training.evaluation import predict_with_probabilities
    from stilts.training.model import StageModel, load_encoder

    task = get_task("hellaswag")
    examples = load_examples(task, "dev", "en", {"hellaswag": str(write_hellaswag(tmp_path / "hellaswag"))})
    examples[0] = dict(examples[0], choices=examples[0]["choices"][:2], label=1)  # fewer choices than the others
    encoder, tokenizer = load_encoder(str(tiny_model))
    predictions, probabilities = predict_with_probabilities(
        make_accelerator("no", cpu=True),
        StageModel(encoder, [task]),
        task,
        examples,
        tokenizer,
        max_length=64,
        batch_size=4,
        desc="mc",
    )
    assert list(probabilities[0]) == ["0", "1"]
    for prediction, example, answers in zip(predictions, examples, probabilities):
        assert list(answers) == [str(i) for i in range(len(example["choices"]))]
        assert sum(answers.values()) == pytest.approx(1.0)
        assert max(answers, key=answers.get) == str(prediction)
