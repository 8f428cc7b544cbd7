"""Each format's chance level (the best score of one answer given to every example) and its constant
predictions."""

import pytest

from stilts.catalog import get_task
from stilts.tasks.span_qa import SpanPrediction


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
