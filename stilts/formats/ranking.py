"""Graded ranking: (query, page) pairs with a relevance grade, ranked per query and scored by nDCG
(XGLUE's Web Page Ranking).

Examples are ``{"id", "text_a": query, "text_b": page text, "label": grade name or None}``; the task's
labels are the grades as numbers in ascending order (``"0"`` Bad ... ``"4"`` Perfect). A query is a run
of consecutive examples with the same ``text_a``, as the official script groups the gold file.

**Head and loss: a classifier over the grades, ranking by the expected grade.** The head and the
training are the classification format's (dense + tanh + projection on the first token, one logit
per grade, cross-entropy), which is how XGLUE's baseline (Unicoder's ``run_xglue.py``) trains WPR,
and which maps onto ``AutoModelForSequenceClassification`` for `stilts export`. A page's score is
its expected grade under the softmax, ``sum_g p(g) * g``: it uses the whole distribution and almost
never ties, whereas the baseline's arg-max grade ties most pages of a query, and nDCG then averages
the gains of tied pages, so it would rank them as if at random. A regression head (MSE on the grade)
would also give untied scores, but treats the grades as equally spaced and would need its own head
and export; cross-entropy keeps the classifier everything else here uses.

Predictions are one score per example; the prediction file has one number a line (the official
format: ``float(line)`` is read). Metric: ``ndcg``, the mean over queries of `stilts.metrics.ranking`
``ndcg`` (0-100); per-example rows are per query, ``[ndcg, 1]``, whose sums give the mean.
"""

from __future__ import annotations

import numpy as np

from stilts.core.names import NDCG
from stilts.formats.classification import Classification
from stilts.metrics.per_example import example_id
from stilts.metrics.predictions import value_lines
from stilts.metrics.ranking import mean_ndcg, per_query_ndcg


def grade_values(labels) -> np.ndarray:
    """The task's grade names as numbers (``("0", ..., "4")`` -> 0.0 ... 4.0)."""
    return np.array([float(label) for label in labels], dtype=np.float64)


class GradedRanking(Classification):
    """Classification's features, head, loss and export; expected-grade predictions, nDCG per query."""

    name = "graded_ranking"
    scored_translated = False  # scored per query, over the pages ranked together

    def predict(self, outputs, features, examples, task):
        logits = np.asarray(outputs, dtype=np.float64)
        probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        return [float(score) for score in probabilities @ grade_values(task.labels)]

    def constant_guesses(self, examples, task):
        """One score for every page: each query keeps its pages in the order of the file."""
        return [[0.0] * len(examples)]

    def score(self, predictions, examples, task, language):
        value, _ = mean_ndcg(*_columns(predictions, examples))
        return {NDCG: value}

    def prediction_text(self, predictions, examples, task, state):
        return value_lines([repr(float(score)) for score in predictions])  # repr: read back exactly

    def probabilities(self, outputs, features, examples, task):
        """None: a ranking's prediction is a score per page, not one choice among a few, and its rows are
        per query (the classification's probabilities it inherits would not match them)."""
        return None

    def example_rows(self, predictions, examples, task, language, state):
        rows = []
        for indices, value in per_query_ndcg(*_columns(predictions, examples)):
            query = {"query": examples[indices[0]]["text_a"], "pages": [examples[i]["text_b"] for i in indices]}
            rows.append(
                {
                    "id": example_id(examples[indices[0]], indices[0]),
                    "text": query,
                    "gold": [examples[i]["label"] for i in indices],
                    "prediction": [predictions[i] for i in indices],
                    "metrics": {NDCG: [value, 1]},
                }
            )
        return rows


def _columns(predictions, examples) -> tuple[list[str], list[float], list[float]]:
    """Queries, gold grades and predicted scores of labelled examples."""
    return (
        [example["text_a"] for example in examples],
        [float(example["label"]) for example in examples],
        [float(score) for score in predictions],
    )


GRADED_RANKING = GradedRanking()
