"""Per-example scores: every metric stilts reports is a ratio of sums over scored units.

Each row of an evaluation's per-example file (`TaskFormat.example_rows`) holds, per metric, a
``[numerator, denominator]`` pair; the split's metric is ``100 * sum(numerators) / sum(denominators)``
(0 where the denominators sum to 0, as seqeval and XTREME's ``bucc_eval`` give 0 for nothing found).
That covers every metric here exactly: accuracy ``[right, 1]``; SQuAD/MLQA EM and F1, means over
questions, ``[value in 0-1, 1]``; XGLUE's WPR nDCG, a mean over queries, ``[query's nDCG in 0-1, 1]``
per query; token accuracy ``[right tokens, tokens]``; micro chunk F1 (seqeval, BUCC) ``[2 * true
positives, predicted + gold]``, with precision ``[tp, predicted]`` and recall ``[tp, gold]``. So a
resample of rows gives the metric of that resample, which is what a bootstrap needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def example_id(example: Mapping, index: int) -> str:
    """An example's id, or its position in the split where the data has none (XNLI's files)."""
    return str(example.get("id") or index)


def row_text(example: Mapping, fields: Iterable[str]) -> dict:
    """What a row is about (the sentence, pair, question, choices, words), to read the rows by; no
    metric uses it."""
    return {field: example[field] for field in fields if example.get(field) is not None}


def right(correct: bool) -> list[int]:
    """An accuracy pair for one example."""
    return [int(correct), 1]


def chunk_counts(true_positives: int, predicted: int, gold: int) -> dict[str, list[int]]:
    """Micro precision, recall and F1 pairs from one unit's counts."""
    return {
        "f1": [2 * true_positives, predicted + gold],
        "precision": [true_positives, predicted],
        "recall": [true_positives, gold],
    }


def metric_value(rows: Iterable[Mapping], metric: str) -> float:
    """``metric`` (0-100) over ``rows``."""
    numerator = denominator = 0.0
    for row in rows:
        top, bottom = row["metrics"][metric]
        numerator += top
        denominator += bottom
    return 100.0 * numerator / denominator if denominator else 0.0
