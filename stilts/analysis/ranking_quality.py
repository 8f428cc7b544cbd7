"""How good a predicted ranking of intermediate tasks is, measured against a grid's results for one target, and
how good a ranking could be at all given the seed noise of those results.

A predicted ranking is a score per intermediate task (higher: expected to help more), from LogME, H-score,
TextEmb or data size (`stilts.analysis.transferability`). The truth is the target's result after each
intermediate task: one number per intermediate task, or one per seed (then their mean). The metrics:

- Regret@k (Poth et al. 2021, "What to Pre-Train on? Efficient Intermediate Task
  Selection", whose best method had an average Regret@3 of 1%): how much of the best result is lost by
  training only the k intermediate tasks ranked first and keeping the best of them,
  ``(best - best of the top k) / best``, a fraction (0: the best one is among the k). On the deltas to a
  baseline (the target trained without an intermediate task) the same loss is divided by the best delta
  instead, ``(best - best of the top k) / (best - baseline)``: the share of the attainable gain that is lost.
- NDCG (Järvelin and Kekäläinen 2002) with relevance = result minus the worst result (or, given a baseline,
  the gain over it, losses counting 0); raw results as relevance (some papers' choice) put every ranking's
  NDCG near 1 when results differ by a few points on a 0-100 scale.
- Spearman's rho (Pearson correlation of average ranks) and Kendall's tau-b, both handling ties.
- The noise ceiling: the same metrics between the rankings of disjoint halves of the seeds, averaged over the
  splits, so that a predicted ranking is never called better than the ground truth agrees with itself.

Ties in a predicted ranking are not broken by name or order: Regret@k and NDCG are their expected values over
a uniformly random order of the tied intermediate tasks (McSherry and Najork 2008 for NDCG).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd

#: one result, or one per seed: a sequence (positions pair the seeds) or a mapping seed -> result
SeedResults: TypeAlias = "float | Sequence[float] | Mapping[Hashable, float]"
#: per intermediate task, its result(s); a baseline's are one `SeedResults`
Results: TypeAlias = "Mapping[str, SeedResults]"

#: the k of Regret@k that `ranking_quality` reports by default: the paper's 1 and 3
REGRET_KS = (1, 3)


def mean_results(true: Results) -> dict[str, float]:
    """Each intermediate task's result, its seeds averaged."""
    return {name: _mean(value, name) for name, value in true.items()}


def _mean(value: object, name: str) -> float:
    if isinstance(value, Mapping):
        values = [float(v) for v in value.values()]
    elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
        values = [float(v) for v in value]
    else:
        values = [float(value)]  # type: ignore[arg-type]
    if not values or not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name}: expected finite results, got {value!r}")
    return float(np.mean(values))


def _aligned(predicted: Mapping[str, float], true: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    if set(predicted) != set(true):
        only_predicted = sorted(set(predicted) - set(true))
        only_true = sorted(set(true) - set(predicted))
        raise ValueError(
            f"the predicted and the true results name different intermediate tasks (only predicted: "
            f"{', '.join(only_predicted) or 'none'}; only true: {', '.join(only_true) or 'none'})"
        )
    names = sorted(true)
    if not names:
        raise ValueError("no intermediate task to rank")
    p = np.array([float(predicted[name]) for name in names])
    t = np.array([float(true[name]) for name in names])
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("predicted and true results must be finite")
    return names, p, t


def _expected_best_of_top_k(predicted: np.ndarray, true: np.ndarray, k: int) -> float:
    """E[max true over the top k by predicted], ties at the k-th place broken uniformly at random: the items
    above the k-th predicted value are in for sure, the rest of the k places go to a random subset of the items
    sharing that value; the j-th best of g such items is the subset's best with probability C(g-j, m-1)/C(g, m)."""
    if k >= predicted.size:
        return float(true.max())
    kth = np.sort(predicted)[::-1][k - 1]
    certain = true[predicted > kth]
    boundary = np.sort(true[predicted == kth])[::-1]
    m = k - certain.size
    floor = float(certain.max()) if certain.size else -math.inf
    g = boundary.size
    total = math.comb(g, m)
    return sum(math.comb(g - j, m - 1) / total * max(floor, float(boundary[j - 1])) for j in range(1, g - m + 2))


def regret_at_k(predicted: Mapping[str, float], true: Results, k: int, *, baseline: SeedResults | None = None) -> float:
    """Regret@k: ``(best - best of the predicted top k) / best`` over the true (seed-averaged) results, or, with
    ``baseline`` (a number or per-seed results), ``/ (best - baseline)``: the share of the best delta that is
    lost. 0 when the best intermediate task is among the top k. NaN where the denominator is not positive
    (a best result of 0; no intermediate task beating the baseline, where there is no gain to lose). Ties in
    ``predicted`` at the k-th place: the expected regret over random tie-breaking."""
    if k < 1:
        raise ValueError(f"k: expected at least 1, got {k}")
    _, p, t = _aligned(predicted, mean_results(true))
    best = float(t.max())
    loss = best - _expected_best_of_top_k(p, t, k)
    scale = best if baseline is None else best - _mean(baseline, "baseline")
    return loss / scale if scale > 0 else math.nan


def _tie_aware_dcg(predicted: np.ndarray, gains: np.ndarray, k: int) -> float:
    """DCG with discount 1/log2(rank + 1) up to rank k (0 after), each group of tied predictions getting its
    members' mean gain at each of the ranks it spans (the expectation over random orders of the group)."""
    order = np.argsort(-predicted, kind="stable")
    discounts = np.array([1 / math.log2(rank + 1) if rank <= k else 0.0 for rank in range(1, predicted.size + 1)])
    dcg, start = 0.0, 0
    while start < order.size:
        end = start
        while end + 1 < order.size and predicted[order[end + 1]] == predicted[order[start]]:
            end += 1
        members = order[start : end + 1]
        dcg += float(gains[members].mean()) * float(discounts[start : end + 1].sum())
        start = end + 1
    return dcg


def ndcg(
    predicted: Mapping[str, float],
    true: Results,
    *,
    k: int | None = None,
    baseline: SeedResults | None = None,
) -> float:
    """NDCG@k (all ranks when ``k`` is None) of the predicted order, relevance = true result minus the worst
    true result, or, with ``baseline``, the gain over it with losses counting 0. 1: the predicted order puts
    the results' differences where the true order does; NaN when every relevance is 0 (all results equal, or
    none beats the baseline: no order is better than another)."""
    _, p, t = _aligned(predicted, mean_results(true))
    cutoff = p.size if k is None else k
    if cutoff < 1:
        raise ValueError(f"k: expected at least 1, got {k}")
    gains = t - t.min() if baseline is None else np.maximum(t - _mean(baseline, "baseline"), 0.0)
    ideal = _tie_aware_dcg(gains, gains, cutoff)
    return _tie_aware_dcg(p, gains, cutoff) / ideal if ideal > 0 else math.nan


def spearman(predicted: Mapping[str, float], true: Results) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks (tied values share the mean of their
    ranks). NaN when either side is constant."""
    _, p, t = _aligned(predicted, mean_results(true))
    rp = pd.Series(p).rank(method="average").to_numpy()
    rt = pd.Series(t).rank(method="average").to_numpy()
    dp, dt = rp - rp.mean(), rt - rt.mean()
    norm = math.sqrt(float(dp @ dp) * float(dt @ dt))
    return float(dp @ dt) / norm if norm > 0 else math.nan


def kendall_tau(predicted: Mapping[str, float], true: Results) -> float:
    """Kendall's tau-b: ``(concordant - discordant) / sqrt((n0 - n1)(n0 - n2))`` over the n0 pairs, n1 and n2
    the pairs tied in the predicted and in the true results (a pair tied on either side counts neither
    concordant nor discordant). NaN when either side is constant."""
    _, p, t = _aligned(predicted, mean_results(true))
    concordant = discordant = tied_p = tied_t = pairs = 0
    for i, j in itertools.combinations(range(p.size), 2):
        pairs += 1
        sp, st = np.sign(p[i] - p[j]), np.sign(t[i] - t[j])
        tied_p += sp == 0
        tied_t += st == 0
        concordant += sp * st > 0
        discordant += sp * st < 0
    norm = math.sqrt(float(pairs - tied_p) * float(pairs - tied_t))
    return (concordant - discordant) / norm if norm > 0 else math.nan


def ranking_quality(
    predicted: Mapping[str, float],
    true: Results,
    *,
    baseline: SeedResults | None = None,
    ks: Sequence[int] = REGRET_KS,
) -> dict[str, float]:
    """Every metric of one predicted ranking against the (seed-averaged) true results: ``regret@k`` per k of
    ``ks``, with a baseline also ``delta_regret@k``, ``ndcg`` (relevance over the worst result, or the gain over
    the baseline when given), ``spearman`` and ``kendall``."""
    metrics = {f"regret@{k}": regret_at_k(predicted, true, k) for k in ks}
    if baseline is not None:
        metrics |= {f"delta_regret@{k}": regret_at_k(predicted, true, k, baseline=baseline) for k in ks}
    metrics["ndcg"] = ndcg(predicted, true, baseline=baseline)
    metrics["spearman"] = spearman(predicted, true)
    metrics["kendall"] = kendall_tau(predicted, true)
    return metrics


@dataclass(frozen=True)
class NoiseCeiling:
    """The metrics of `ranking_quality` between disjoint halves of the seeds, each averaged over the splits
    (NaN ones left out); ``predicted``: the predicted ranking's metrics against the same true halves, for a
    comparison at the same noise (None when no prediction was given)."""

    metrics: dict[str, float]
    predicted: dict[str, float] | None
    #: how many (predicting half, true half) splits were averaged, and the halves' sizes
    splits: int
    halves: tuple[int, int]


def _per_seed(true: Results) -> pd.DataFrame:
    """Intermediate task x seed results; every task must have the same seeds."""
    columns = {}
    for name, value in true.items():
        if isinstance(value, Mapping):
            columns[name] = pd.Series({seed: float(v) for seed, v in value.items()}, dtype=float)
        elif isinstance(value, Sequence | np.ndarray) and not isinstance(value, str):
            columns[name] = pd.Series([float(v) for v in value], dtype=float)
        else:
            raise ValueError(f"{name}: the noise ceiling needs one result per seed, got {value!r}")
    seeds = {name: tuple(sorted(map(str, series.index))) for name, series in columns.items()}
    if len(set(seeds.values())) > 1:
        listed = "; ".join(f"{name}: {', '.join(s)}" for name, s in sorted(seeds.items()))
        raise ValueError(f"every intermediate task needs results for the same seeds ({listed})")
    frame = pd.DataFrame(columns).T
    if frame.isna().to_numpy().any() or not np.all(np.isfinite(frame.to_numpy())):
        raise ValueError("results must be finite")
    return frame


def _splits(n_seeds: int, max_splits: int, seed: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(predicting half, true half) pairs of seed positions: every half of size n // 2 with its complement
    (both ways round when n is odd, so that each half predicts and is predicted), or ``max_splits`` random
    halves (and their reverses) from ``numpy.random.default_rng(seed)`` when there are more."""
    half = n_seeds // 2
    everything = set(range(n_seeds))
    if math.comb(n_seeds, half) * (1 + n_seeds % 2) <= max_splits:
        firsts = [tuple(c) for c in itertools.combinations(range(n_seeds), half)]
    else:
        rng = np.random.default_rng(seed)
        firsts = [tuple(sorted(int(i) for i in rng.choice(n_seeds, half, replace=False))) for _ in range(max_splits)]
    pairs = [(a, tuple(sorted(everything - set(a)))) for a in firsts]
    if n_seeds % 2:
        pairs += [(b, a) for a, b in pairs]
    return pairs


def noise_ceiling(
    true_per_seed: Results,
    *,
    predicted: Mapping[str, float] | None = None,
    baseline: SeedResults | None = None,
    ks: Sequence[int] = REGRET_KS,
    max_splits: int = 200,
    seed: int = 0,
) -> NoiseCeiling:
    """The noise ceiling of the ranking metrics: for each split of the seeds into two disjoint halves, the
    ranking by one half's mean results is scored against the other half's mean (`ranking_quality`), and each
    metric is averaged over the splits. All splits into halves of n // 2 and the rest (each half predicting
    the other, for an odd n: 6 splits for 3 seeds), or, beyond ``max_splits``, that many random halves from
    ``seed``. Needs 2 or more seeds, the same for every intermediate task (by position in a sequence, or by
    key in a mapping). A ``baseline`` with one result per seed is split with them; a single number applies to
    every split.

    A half of the seeds is noisier than all of them, so the ceiling is conservative for a prediction scored
    against all seeds' mean. Give ``predicted`` to score it against the same true halves as well
    (``NoiseCeiling.predicted``): like for like, a prediction no better than the halves agree with each other
    is as good as these seeds can tell."""
    frame = _per_seed(true_per_seed)
    n_seeds = frame.shape[1]
    if n_seeds < 2:
        raise ValueError(f"the noise ceiling needs at least 2 seeds, got {n_seeds}")
    if max_splits < 1:
        raise ValueError(f"max_splits: expected at least 1, got {max_splits}")
    base: pd.Series | None = None
    if baseline is not None and not isinstance(baseline, int | float):
        base = _per_seed({"baseline": baseline}).loc["baseline"]
        if set(base.index) != set(frame.columns):
            raise ValueError("the baseline needs results for the same seeds as the intermediate tasks")
        base = base.loc[list(frame.columns)]
    splits = _splits(n_seeds, max_splits, seed)
    ceiling: list[dict[str, float]] = []
    against: list[dict[str, float]] = []
    for first, second in splits:
        guess = frame.iloc[:, list(first)].mean(axis=1).to_dict()
        truth = frame.iloc[:, list(second)].mean(axis=1).to_dict()
        half_baseline: float | None = None
        if base is not None:
            half_baseline = float(base.iloc[list(second)].mean())
        elif baseline is not None:
            half_baseline = float(baseline)  # type: ignore[arg-type]
        ceiling.append(ranking_quality(guess, truth, baseline=half_baseline, ks=ks))
        if predicted is not None:
            against.append(ranking_quality(predicted, truth, baseline=half_baseline, ks=ks))
    return NoiseCeiling(
        metrics=_nanmeans(ceiling),
        predicted=_nanmeans(against) if predicted is not None else None,
        splits=len(splits),
        halves=(len(splits[0][0]), len(splits[0][1])),
    )


def _nanmeans(rows: list[dict[str, float]]) -> dict[str, float]:
    means = {}
    for key in rows[0]:
        values = [row[key] for row in rows if not math.isnan(row[key])]
        means[key] = float(np.mean(values)) if values else math.nan
    return means
