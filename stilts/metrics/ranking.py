"""nDCG over the pages of each query, as XGLUE's ``evaluation/xglue_evaluate.py`` scores Web Page Ranking.

The official script:

- groups the gold file's rows into queries by walking it: a new query starts whenever a row's query
  field differs from the previous row's (so the same query text further down is another query);
- skips queries with fewer than 2 rows;
- scores each query with ``sklearn.metrics.ndcg_score([gold grades], [predicted scores])``: no cutoff,
  linear gains (the grade itself, not ``2**grade - 1``), discount ``1 / log2(1 + rank)``, and ties in
  the predicted scores averaged: pages with equal scores share the positions they occupy, each counting
  the mean gain of the tied pages (``ignore_ties=False``); a query whose grades are all 0 scores 0;
- reports the mean over the scored queries.

`ndcg` computes that for one query from its definition (tests check it against worked examples and
against scikit-learn); `mean_ndcg` does the grouping. Pure Python: `stilts score` stays quick.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: queries with fewer pages than this are not scored (the official script skips them)
MIN_PAGES = 2


def query_groups(queries: Sequence[str]) -> list[list[int]]:
    """Row indices of each query, a query being a run of consecutive rows with the same query text."""
    groups: list[list[int]] = []
    for index, query in enumerate(queries):
        if groups and queries[index - 1] == query:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _discount(position: int) -> float:
    """The discount of 0-based ``position`` (rank ``position + 1``)."""
    return 1.0 / math.log2(position + 2)


def dcg(grades: Sequence[float], scores: Sequence[float]) -> float:
    """Discounted cumulative gain of the ranking by ``scores`` (highest first), ties averaged."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    total, start = 0.0, 0
    while start < len(order):
        end = start
        while end < len(order) and scores[order[end]] == scores[order[start]]:
            end += 1
        tied = order[start:end]  # positions start..end-1 hold these pages in some order: average them
        mean_gain = sum(grades[i] for i in tied) / len(tied)
        total += mean_gain * sum(_discount(position) for position in range(start, end))
        start = end
    return total


def ndcg(grades: Sequence[float], scores: Sequence[float]) -> float:
    """nDCG (0-1) of one query: DCG of the predicted ranking over DCG of the ideal one (0 when every
    grade is 0). ``grades`` must be non-negative, as relevance grades are."""
    if len(grades) != len(scores):
        raise ValueError(f"{len(scores)} scores for {len(grades)} pages")
    if any(grade < 0 for grade in grades):
        raise ValueError("negative relevance grade")
    ideal = sum(grade * _discount(position) for position, grade in enumerate(sorted(grades, reverse=True)))
    return dcg(grades, scores) / ideal if ideal > 0 else 0.0


def per_query_ndcg(
    queries: Sequence[str], grades: Sequence[float], scores: Sequence[float]
) -> list[tuple[list[int], float]]:
    """(row indices, nDCG 0-1) of every query with at least `MIN_PAGES` rows, in file order."""
    if not len(queries) == len(grades) == len(scores):
        raise ValueError(f"{len(queries)} queries, {len(grades)} grades and {len(scores)} scores")
    return [
        (rows, ndcg([grades[i] for i in rows], [scores[i] for i in rows]))
        for rows in query_groups(queries)
        if len(rows) >= MIN_PAGES
    ]


def mean_ndcg(queries: Sequence[str], grades: Sequence[float], scores: Sequence[float]) -> tuple[float, int]:
    """(mean nDCG over the scored queries on a 0-100 scale, number of queries scored); 0 when no query
    has two pages (the official script's mean of nothing is NaN, which no score file can hold)."""
    scored = per_query_ndcg(queries, grades, scores)
    if not scored:
        return 0.0, 0
    return 100.0 * sum(value for _, value in scored) / len(scored), len(scored)
