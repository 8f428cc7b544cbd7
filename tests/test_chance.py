"""A stage that learns nothing is said so: each format's chance level (the best score of one answer
given to every example) and its constant predictions; a target trained on one label only is flagged
at every validation, in its summary, in metrics.json, in the evaluation's table and in `stilts status`,
while a stage that learns is not."""

import json
import math
import re

import pytest
from helpers import run_cli

from stilts.core.catalog import get_task
from stilts.formats.span_qa import SpanPrediction
from stilts.pipeline.local import per_language_table
from stilts.testing import write_tiny_topics


def _classification(labels):
    return [{"id": str(i), "text_a": "x", "text_b": "y", "label": label} for i, label in enumerate(labels)]


def _qa(answers):
    return [
        {
            "id": str(i),
            "context": "a b c",
            "question": "q",
            "answers": {"text": texts, "answer_start": [0] * len(texts)},
        }
        for i, texts in enumerate(answers)
    ]


@pytest.mark.parametrize(
    ("task_name", "examples", "chance"),
    [
        # the majority class's rate: 3 of 4 examples are neutral
        ("mnli", _classification(["neutral", "neutral", "neutral", "entailment"]), 75.0),
        # QQP's main metric is the F1 of "duplicate": answering it everywhere gives 2p / (1 + p)
        ("qqp", _classification(["duplicate", "not_duplicate", "not_duplicate", "not_duplicate"]), 40.0),
        # the most frequent gold position
        (
            "copa",
            [
                {"id": str(i), "context": "c", "choices": ["a", "b"], "label": label}
                for i, label in enumerate([1, 1, 0])
            ],
            200 / 3,
        ),
        # all O finds no entity (F1 0); B-PER on every word finds Ann among 6 "persons": P 1/6, R 1/2
        (
            "panx",
            [
                {
                    "id": "0",
                    "tokens": "Ann met her friend in Paris".split(),
                    "tags": ["B-PER", "O", "O", "O", "O", "B-LOC"],
                }
            ],
            25.0,
        ),
        ("squad_v1", _qa([["a"], ["b"]]), 0.0),
        # no answer is right for the unanswerable question only
        ("squad_v2", _qa([["a"], ["b"], ["c"], []]), 25.0),
        # every sentence retrieving the first finds one pair of four
        ("tatoeba", [{"id": str(i), "text_a": "x", "text_b": "y"} for i in range(4)], 25.0),
    ],
)
def test_chance_is_what_one_answer_for_every_example_scores(task_name, examples, chance):
    task = get_task(task_name)
    assert task.format.chance(examples, task, "en") == pytest.approx(chance)


def test_formats_without_a_constant_answer_have_no_chance_level():
    task = get_task("mlm")
    assert task.format.chance([{"id": "0", "text": "a b c"}], task, "en") is None


def test_constant_predictions_are_recognised_by_format():
    assert get_task("mnli").format.constant(["neutral"] * 3) == "neutral"
    assert get_task("mnli").format.constant(["neutral", "neutral", "entailment"]) is None
    assert get_task("mnli").format.constant(["neutral"]) is None  # one example says nothing
    tagging = get_task("panx").format
    assert tagging.constant([["O", "O"], ["O"]]) == "O"
    assert tagging.constant([["O", "B-PER"], ["O"]]) is None
    qa = get_task("squad_v1").format
    # the same text, whatever the span scores: every question left unanswered
    assert qa.constant([SpanPrediction("", "x", 1.0), SpanPrediction("", "y", 2.0)]) == ""
    assert qa.constant([SpanPrediction("a", "a", 0.0), SpanPrediction("b", "b", 0.0)]) is None
    assert get_task("mlm").format.constant([{"correct": 0, "masked": 1, "nll": 1.0}] * 2) is None


def test_the_margin_above_chance_is_two_standard_errors_of_a_guess():
    from stilts.training.loop import chance_margin

    assert chance_margin(50.0, 100) == pytest.approx(10.0)
    assert chance_margin(100 / 3, 500) == pytest.approx(200 * math.sqrt(2 / 9 / 500))
    assert chance_margin(0.0, 40) == 0.0  # a guess that scores 0 always does: anything above it counts


def test_the_per_language_table_marks_constant_languages():
    metrics = {
        "task": "topics",
        "scores": {"test": {"de": {"accuracy": 25.0}, "en": {"accuracy": 90.0}}},
        "average": {"test": {"accuracy": 57.5}},
        "constant_predictions": {"test": {"de": "sports"}},
    }
    table = per_language_table(metrics)
    assert "   25.0!   90.0    57.5" in table
    assert "! every example got the same prediction: de 'sports'" in table


def test_a_target_that_answers_one_label_is_flagged_everywhere(tmp_path, tiny_model, capsys):
    """Its training data has one label (sports): it learns to answer sports whatever it reads, as a
    target that learned nothing answers one class."""
    import yaml

    topics = write_tiny_topics(tmp_path / "topics")
    train = topics / "train-en.tsv"
    train.write_text("".join(f"sports\t{line.split(chr(9), 1)[1]}" for line in train.read_text().splitlines(True)))
    training = {"learning_rate": 1e-3, "batch_size": 16, "max_steps": 6, "validate_every": 3}
    config = {
        "name": "one_label",
        "model": str(tiny_model),
        "data": {"topics": str(topics)},
        "stages": [{"kind": "target", "task": "topics", **training}, {"kind": "evaluate", "task": "topics"}],
    }
    path, out = tmp_path / "one_label.yaml", tmp_path / "out"
    path.write_text(yaml.safe_dump(config))
    code, stdout, stderr = run_cli(["run", path, "--output-dir", out], capsys)
    assert code == 0, stderr
    # every validation: the dev score, its chance level, the best so far and the one answer
    first = "  step 3/6: dev topics accuracy 25.0 (chance 25.0); best 25.0 at step 3"
    assert f"{first}; topics en: every prediction is 'sports'\n" in stdout
    assert "  step 6/6: dev topics accuracy 25.0 (chance 25.0); best 25.0 at step 3" in stdout
    # the stage's last line: kept step, score, time; then what is wrong with it
    # (a time a person reads: two clocks were once mixed into a negative number of seconds)
    assert re.search(r"  target 'target' done in \d+ s: ", stdout), stdout
    assert ": best step 3 of 6, dev topics accuracy 25.0 (chance 25.0)\n" in stdout
    assert "  warning: topics dev (en) never left chance: best accuracy 25.0 in 2 validations" in stdout
    assert "  warning: topics dev (en): the kept weights (step 3) predict 'sports' for every example" in stdout

    (target,) = out.glob("target-*")
    metrics = json.loads((target / "metrics.json").read_text())
    assert metrics["training"]["chance"] == {"topics": {"en": 25.0}}
    assert [entry["constant"] for entry in metrics["training"]["validations"]] == [{"topics": {"en": "sports"}}] * 2
    assert len(metrics["warnings"]) == 2

    (evaluate,) = out.glob("evaluate-*")
    evaluation = json.loads((evaluate / "metrics.json").read_text())
    assert evaluation["constant_predictions"] == {"test": {"en": "sports", "de": "sports"}}
    assert evaluation["warnings"] == [
        "topics test: every example got the same prediction in 2 of 2 languages (en 'sports', de 'sports')"
    ]
    assert "   25.0!   25.0!   25.0" in stdout  # the table's marks
    assert "  ! every example got the same prediction: de 'sports', en 'sports'" in stdout

    # stilts table says which cells a collapsed model scored, in the main table and per language
    for extra in ([], ["--per-language", "topics"]):
        code, table, stderr = run_cli(["table", out / "scores.csv", *extra], capsys)
        assert code == 0, stderr
        assert (
            "COLLAPSED: one_label (seed 1) gave every topics test example one answer in de 'sports', en 'sports': "
            "those cells score a constant predictor, not transfer." in " ".join(table.split())
        ), table

    code, status, _ = run_cli(["status", out], capsys)
    assert code == 0
    assert "2 stages: 2 complete (2 with warnings: learned nothing?)" in status
    assert "warning: topics dev (en) never left chance" in status and "(and 1 more in its metrics.json)" in status
    assert "warning: topics test: every example got the same prediction in 2 of 2 languages" in status
