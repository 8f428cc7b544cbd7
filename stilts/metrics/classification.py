"""Accuracy and binary F1, on a 0-100 scale."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(predictions: Sequence, gold: Sequence) -> float:
    if len(predictions) != len(gold):
        raise ValueError(f"{len(predictions)} predictions for {len(gold)} gold labels")
    if not gold:
        raise ValueError("accuracy of no examples")
    return 100.0 * sum(p == g for p, g in zip(predictions, gold)) / len(gold)


def binary_f1(predictions: Sequence, gold: Sequence, positive) -> float:
    """F1 of the positive class (GLUE's QQP/MRPC F1)."""
    true_positive = sum(p == positive and g == positive for p, g in zip(predictions, gold))
    predicted = sum(p == positive for p in predictions)
    actual = sum(g == positive for g in gold)
    if true_positive == 0:
        return 0.0
    precision, recall = true_positive / predicted, true_positive / actual
    return 100.0 * 2 * precision * recall / (precision + recall)
