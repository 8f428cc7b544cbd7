"""stilts.analysis.ranking_quality on hand-made grids: a perfect ranking, a reversed one, ties (against the
expectation over every order of the tied tasks), and the noise ceiling from halves of the seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from stilts.analysis.ranking_quality import (
    kendall_tau,
    mean_results,
    ndcg,
    noise_ceiling,
    ranking_quality,
    regret_at_k,
    spearman,
)

TRUE = {"a": 80.0, "b": 75.0, "c": 70.0, "d": 60.0}
PERFECT = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}
REVERSED = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}


def test_a_perfect_ranking():
    assert ranking_quality(PERFECT, TRUE, baseline=70.0) == {
        "regret@1": 0.0,
        "regret@3": 0.0,
        "delta_regret@1": 0.0,
        "delta_regret@3": 0.0,
        "ndcg": 1.0,
        "spearman": 1.0,
        "kendall": 1.0,
    }


def test_a_reversed_ranking_by_hand():
    metrics = ranking_quality(REVERSED, TRUE, baseline=70.0)
    assert metrics["regret@1"] == pytest.approx((80 - 60) / 80)  # d first: 60 of the best 80
    assert metrics["regret@3"] == pytest.approx((80 - 75) / 80)  # d, c, b: the best of them is b's 75
    # deltas over 70: a +10, b +5, c 0, d -10; the loss over the best gain of 10
    assert metrics["delta_regret@1"] == pytest.approx(20 / 10)
    assert metrics["delta_regret@3"] == pytest.approx(5 / 10)
    # relevance over the baseline, losses 0: a 10, b 5, c 0, d 0; order d, c, b, a against a, b, c, d
    dcg = 0 + 0 / math.log2(3) + 5 / math.log2(4) + 10 / math.log2(5)
    ideal = 10 + 5 / math.log2(3)
    assert metrics["ndcg"] == pytest.approx(dcg / ideal)
    assert metrics["spearman"] == pytest.approx(-1) and metrics["kendall"] == pytest.approx(-1)
    # without a baseline the relevance is over the worst result: a 20, b 15, c 10, d 0
    dcg = 0 + 10 / math.log2(3) + 15 / math.log2(4) + 20 / math.log2(5)
    ideal = 20 + 15 / math.log2(3) + 10 / math.log2(4)
    assert ndcg(REVERSED, TRUE) == pytest.approx(dcg / ideal)


def test_ties_in_the_prediction_count_at_their_expected_value():
    # the top 1 is a, b or c at random: (80 + 75 + 70) / 3 = 75 expected
    tied = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0}
    assert regret_at_k(tied, TRUE, 1) == pytest.approx((80 - 75) / 80)
    # two of a, b, c: a is among them 2 times in 3, else b's 75
    assert regret_at_k(tied, TRUE, 2) == pytest.approx((80 - (2 / 3 * 80 + 1 / 3 * 75)) / 80)
    assert regret_at_k(tied, TRUE, 3) == 0.0
    # tied with the best left out
    assert regret_at_k({"a": 0.0, "b": 1.0, "c": 1.0, "d": 1.0}, TRUE, 1) == pytest.approx((80 - 205 / 3) / 80)
    # NDCG of two tied pairs: each pair's mean gain at each of its two ranks
    pairs = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.0}
    dcg = 17.5 * (1 + 1 / math.log2(3)) + 5 * (1 / math.log2(4) + 1 / math.log2(5))
    ideal = 20 + 15 / math.log2(3) + 10 / math.log2(4)
    assert ndcg(pairs, TRUE) == pytest.approx(dcg / ideal)
    # rank correlations with a tie: average ranks 1.5, 1.5, 3, 4 against 1, 2, 3, 4
    predicted, true = {"w": 1, "x": 1, "y": 2, "z": 3}, {"w": 1, "x": 2, "y": 3, "z": 4}
    assert spearman(predicted, true) == pytest.approx(4.5 / math.sqrt(4.5 * 5))
    assert kendall_tau(predicted, true) == pytest.approx(5 / math.sqrt(5 * 6))  # 5 concordant, 1 tied of 6


def test_tie_handling_is_the_mean_over_every_order_of_the_tied_tasks():
    """Regret@k and NDCG@k against brute force: every order of the tasks that the prediction allows."""
    rng = np.random.default_rng(0)

    def dcg(order, gains, k):
        return sum(gains[i] / math.log2(rank + 2) for rank, i in enumerate(order[:k]))

    for _ in range(60):
        n = int(rng.integers(2, 7))
        p = rng.integers(0, 3, n).astype(float)
        t = rng.uniform(1, 100, n)
        names = [f"t{i}" for i in range(n)]
        predicted, true = dict(zip(names, p)), dict(zip(names, t))
        orders = [o for o in itertools.permutations(range(n)) if all(p[o[i]] >= p[o[i + 1]] for i in range(n - 1))]
        k = int(rng.integers(1, n + 1))
        gains = t - t.min()
        ideal = dcg(sorted(range(n), key=lambda i: -gains[i]), gains, k)
        assert ndcg(predicted, true, k=k) == pytest.approx(np.mean([dcg(o, gains, k) for o in orders]) / ideal)
        best = t.max()
        assert regret_at_k(predicted, true, k) == pytest.approx(
            np.mean([(best - max(t[list(o[:k])])) / best for o in orders])
        )


def test_seeds_are_averaged_and_degenerate_cases_are_nan():
    per_seed = {"a": [80.0, 78.0], "b": {1: 75.0, 2: 79.0}, "c": 70.0}
    assert mean_results(per_seed) == {"a": 79.0, "b": 77.0, "c": 70.0}
    assert regret_at_k({"a": 0, "b": 1, "c": 2}, per_seed, 1) == pytest.approx((79 - 70) / 79)
    # nothing beats the baseline: no gain to lose, and no order is better than another
    assert math.isnan(regret_at_k(REVERSED, TRUE, 1, baseline=90.0))
    assert math.isnan(ndcg(REVERSED, TRUE, baseline=90.0))
    same = {"a": 1.0, "b": 1.0}
    assert math.isnan(spearman(same, {"a": 1, "b": 2})) and math.isnan(kendall_tau(same, {"a": 1, "b": 2}))
    assert regret_at_k(REVERSED, TRUE, 10) == 0.0  # k beyond the tasks: the best is always in
    with pytest.raises(ValueError, match="only predicted: e; only true: d"):
        regret_at_k({"a": 1, "b": 1, "c": 1, "e": 1}, TRUE, 1)


def test_the_noise_ceiling_of_two_seeds_by_hand():
    per_seed = {"a": [80.0, 78.0], "b": [75.0, 79.0], "c": [70.0, 71.0]}
    ceiling = noise_ceiling(per_seed)
    assert ceiling.splits == 2 and ceiling.halves == (1, 1) and ceiling.predicted is None
    # seed 1 ranks a first, whose 78 misses seed 2's best 79; seed 2 ranks b first, whose 75 misses 80
    assert ceiling.metrics["regret@1"] == pytest.approx(((79 - 78) / 79 + (80 - 75) / 80) / 2)
    assert ceiling.metrics["regret@3"] == 0.0
    # one swapped pair of three, both ways: rho = 1 - 6 * 2 / 24, tau = (2 - 1) / 3
    assert ceiling.metrics["spearman"] == pytest.approx(0.5) and ceiling.metrics["kendall"] == pytest.approx(1 / 3)
    # a prediction against the same halves: the perfect one for seed 1 is scored against seed 2 and vice versa
    against = noise_ceiling(per_seed, predicted={"a": 3, "b": 2, "c": 1}).predicted
    assert against is not None
    assert against["regret@1"] == pytest.approx(((79 - 78) / 79 + 0) / 2)
    assert against["spearman"] == pytest.approx((0.5 + 1) / 2)


def test_the_noise_ceiling_splits_and_baseline():
    # three seeds: each single seed against the other two, and each pair against the third
    per_seed = {"a": {7: 80.0, 8: 70.0, 9: 75.0}, "b": {9: 72.0, 7: 74.0, 8: 73.0}, "c": {7: 60.0, 8: 61.0, 9: 62.0}}
    ceiling = noise_ceiling(per_seed, baseline={9: 65.0, 7: 63.0, 8: 64.0})
    assert ceiling.splits == 6 and ceiling.halves == (1, 2)
    # by hand, Regret@1: seed 7 ranks a first, against seeds 8 and 9 (a 72.5, b 72.5): 0; seed 8 ranks b
    # first, against 7 and 9 (a 77.5, b 73): 4.5 / 77.5; seed 9 ranks a first, against 7 and 8 (a 75, b 73.5):
    # 0; seeds 8 and 9 tie a and b (72.5 each), against 7 (a 80, b 74) their expected best is 77: 3 / 80;
    # seeds 7 and 9 rank a first, against 8 (a 70, b 73): 3 / 73; seeds 7 and 8 rank a, against 9 (a 75): 0
    expected = [0, (77.5 - 73) / 77.5, 0, (80 - 77) / 80, 3 / 73, 0]
    assert ceiling.metrics["regret@1"] == pytest.approx(np.mean(expected))
    assert "delta_regret@1" in ceiling.metrics
    # identical seeds agree perfectly
    steady = noise_ceiling({"a": [3.0, 3.0, 3.0, 3.0], "b": [2.0] * 4, "c": [1.0] * 4})
    assert steady.splits == 6 and steady.halves == (2, 2)
    assert steady.metrics["regret@1"] == 0 and steady.metrics["spearman"] == 1 and steady.metrics["ndcg"] == 1
    # many seeds: seeded random halves
    rng = np.random.default_rng(1)
    many = {name: list(rng.normal(mean, 2.0, 12)) for name, mean in [("a", 80), ("b", 78), ("c", 70)]}
    first = noise_ceiling(many, max_splits=20, seed=3)
    assert first.splits == 20 and first.halves == (6, 6)
    assert noise_ceiling(many, max_splits=20, seed=3) == first
    assert math.comb(12, 6) == 924 and noise_ceiling(many).splits == 200
    with pytest.raises(ValueError, match="same seeds"):
        noise_ceiling({"a": {1: 1.0, 2: 2.0}, "b": {1: 1.0, 3: 2.0}})
    with pytest.raises(ValueError, match="at least 2 seeds"):
        noise_ceiling({"a": [1.0], "b": [2.0]})
