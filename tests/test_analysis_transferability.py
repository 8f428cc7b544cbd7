"""stilts.analysis.transferability: LogME against the Gaussian marginal likelihood computed directly and against a
brute-force search for its maximum, its boundary cases, the H-scores against their textbook definitions and
hand-computed values, and TextEmb and data size on hand-made vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stilts.analysis.transferability import (
    cosine_similarity,
    data_size_scores,
    dataset_embedding,
    h_score,
    ledoit_wolf_shrinkage,
    log_evidence,
    logme,
    logme_classification,
    logme_span_qa,
    mean_pool,
    one_hot,
    shrinkage_h_score,
    span_qa_targets,
    spectrum,
    textemb_scores,
)


def direct_log_evidence(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """The textbook form: y ~ N(0, I / beta + F F^T / alpha) after integrating out w ~ N(0, I / alpha), per
    example, with an explicit covariance, determinant and solve."""
    n = features.shape[0]
    cov = np.eye(n) / beta + features @ features.T / alpha
    sign, log_det = np.linalg.slogdet(cov)
    assert sign > 0
    return float(-0.5 * (n * math.log(2 * math.pi) + log_det + y @ np.linalg.solve(cov, y))) / n


def brute_force_maximum(features: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(max evidence, alpha, beta) by a grid over log10 alpha and log10 beta in [-8, 8] (41 x 41), then four
    zooms around the best point, each to a fifth of the span: no fixed point, no derivative."""
    spec = spectrum(features)
    centre, half = np.array([0.0, 0.0]), 8.0
    best = (-math.inf, 0.0, 0.0)
    for _ in range(5):
        for la in np.linspace(centre[0] - half, centre[0] + half, 41):
            for lb in np.linspace(centre[1] - half, centre[1] + half, 41):
                value = log_evidence(spec, y, 10.0**la, 10.0**lb)
                if value > best[0]:
                    best = (value, la, lb)
        centre, half = np.array(best[1:]), half / 5
    return best[0], 10.0 ** best[1], 10.0 ** best[2]


def blobs(rng: np.random.Generator, n: int, d: int, classes: int, spread: float = 0.7):
    """Features whose class means differ (scaled anisotropically), and their labels."""
    labels = rng.integers(0, classes, n)
    centres = rng.standard_normal((classes, d)) * spread
    scales = np.linspace(0.3, 2.0, d)
    return centres[labels] + rng.standard_normal((n, d)) * scales, labels


# ------------------------------------------------------------------------------------------------ LogME


@pytest.mark.parametrize(
    "n, d, rank",
    [(40, 6, 6), (15, 30, 15), (30, 8, 5)],  # N > D, N < D, rank-deficient (repeated columns)
)
def test_the_evidence_is_the_gaussian_marginal_likelihood(n, d, rank):
    rng = np.random.default_rng(n + d)
    features = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d))
    y = rng.standard_normal(n)
    for alpha, beta in [(1.0, 1.0), (0.01, 30.0), (250.0, 0.2), (3.7, 4.1)]:
        assert log_evidence(features, y, alpha, beta) == pytest.approx(
            direct_log_evidence(features, y, alpha, beta), rel=1e-9, abs=1e-9
        )


@pytest.mark.parametrize("n, d", [(60, 5), (25, 40)])
def test_the_fixed_point_reaches_the_maximum_that_brute_force_finds(n, d):
    rng = np.random.default_rng(7)
    features = rng.standard_normal((n, d)) * np.linspace(0.2, 2.0, d)
    y = features @ rng.standard_normal(d) * 0.3 + rng.standard_normal(n)
    result = logme(features, y)
    best, alpha, beta = brute_force_maximum(features, y)
    assert result.converged and math.isfinite(result.alphas[0]) and math.isfinite(result.betas[0])
    assert result.score >= best - 1e-12  # nothing on the grid beats the fixed point
    assert result.score == pytest.approx(best, abs=1e-6)
    assert result.alphas[0] == pytest.approx(alpha, rel=1e-2) and result.betas[0] == pytest.approx(beta, rel=1e-2)
    # and the reported value is the evidence at the reported alpha, beta, computed directly
    assert result.score == pytest.approx(direct_log_evidence(features, y, result.alphas[0], result.betas[0]), abs=1e-9)


def test_when_the_features_explain_nothing_the_maximum_is_the_no_weights_limit():
    """Labels unrelated to the features: the evidence grows with alpha (weights shrunk to nothing) towards the
    model of pure noise, which is what LogME is then; nothing on a grid reaching alpha = 1e12 exceeds it."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((200, 16))
    y = (np.random.default_rng(1).integers(0, 3, 200) == 1).astype(float)
    result = logme(features, y)
    noise_only = -0.5 * (math.log(2 * math.pi * float(y @ y) / 200) + 1)
    assert result.alphas == (math.inf,) and result.betas[0] == pytest.approx(200 / float(y @ y))
    assert result.score == pytest.approx(noise_only, abs=1e-12)
    spec = spectrum(features)
    noise_beta = math.log10(200 / float(y @ y))
    grid = [
        log_evidence(spec, y, 10.0**la, 10.0**lb)
        for la in range(-4, 13)
        for lb in np.linspace(noise_beta - 1, noise_beta + 1, 201)
    ]
    assert max(grid) <= noise_only and max(grid) == pytest.approx(noise_only, abs=1e-6)
    # a target no feature direction reaches at all is that limit at once
    orthogonal = np.linalg.svd(np.c_[features, rng.standard_normal(200)], full_matrices=True)[0][:, -1]
    assert logme(features, orthogonal).alphas == (math.inf,)


def test_when_the_targets_lie_in_the_features_span_the_maximum_can_be_noise_free():
    """N < D, so every target lies in the features' span; for this one the evidence keeps growing as the
    noise precision beta grows, towards log N(y; 0, F F^T / alpha) at its best alpha."""
    rng = np.random.default_rng(3)
    features = rng.standard_normal((20, 40)) * np.linspace(0.1, 3, 40)
    spec = spectrum(features)
    y = spec.u @ np.sqrt(spec.sigma2) ** 1.5  # more of y along the larger singular directions than the prior has
    result = logme(features, y)
    assert result.betas == (math.inf,) and result.converged
    alpha = result.alphas[0]
    cov = features @ features.T / alpha
    limit = float(-0.5 * (20 * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + y @ np.linalg.solve(cov, y))) / 20
    assert result.score == pytest.approx(limit, abs=1e-9)
    best, _, grid_beta = brute_force_maximum(features, y)
    assert best <= result.score + 1e-12 and best == pytest.approx(result.score, abs=1e-4) and grid_beta > 1e6
    # a noise-free target in the span of fewer features than examples: unbounded evidence
    few = rng.standard_normal((50, 5))
    assert logme(few, few @ rng.standard_normal(5)).score == math.inf


def test_informative_features_score_higher_than_shuffled_labels_and_noise_features():
    rng = np.random.default_rng(11)
    features, labels = blobs(rng, 300, 24, 3)
    informative = logme_classification(features, labels).score
    shuffled = logme_classification(features, rng.permutation(labels)).score
    noise = logme_classification(rng.standard_normal((300, 24)) * np.linspace(0.3, 2.0, 24), labels).score
    assert informative > shuffled + 0.1 and informative > noise + 0.1
    # and more separable classes score higher still
    tighter, tight_labels = blobs(np.random.default_rng(11), 300, 24, 3, spread=2.0)
    assert logme_classification(tighter, tight_labels).score > informative


def test_several_targets_score_the_mean_of_each_alone():
    rng = np.random.default_rng(5)
    features = rng.standard_normal((80, 6))
    targets = np.c_[features @ rng.standard_normal(6) + rng.standard_normal(80), rng.standard_normal(80)]
    both = logme(features, targets)
    alone = [logme(features, column).score for column in targets.T]
    assert both.evidences == pytest.approx(alone, abs=1e-12) and both.score == pytest.approx(np.mean(alone))


def test_classification_is_one_vs_rest_over_the_labelled_rows():
    targets, keep = one_hot(np.array([2, 0, -100, 2, 5]))
    assert keep.tolist() == [True, True, False, True, True]
    assert targets.tolist() == [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]  # classes 0, 2, 5: no column for 1, 3, 4
    rng = np.random.default_rng(2)
    features, labels = blobs(rng, 120, 8, 3)
    tagged = labels.copy()
    tagged[::4] = -100  # sub-word continuations and padding, as tagging marks them
    expected = logme(features[tagged != -100], np.eye(3)[labels[tagged != -100]])
    assert logme_classification(features, tagged).score == pytest.approx(expected.score, abs=1e-12)
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="one per feature row"):
        logme_classification(features, labels[:-1])


def test_span_qa_targets_mark_start_end_and_neither():
    targets = span_qa_targets([3, 2, 2], [1, 0, -1], [2, 0, -1])
    assert targets.tolist() == [
        [0, 0, 1],  # example 0: tokens 0..2, answer 1..2
        [1, 0, 0],
        [0, 1, 0],
        [1, 1, 0],  # example 1: a one-token answer is its own start and end
        [0, 0, 1],
        [0, 0, 1],  # example 2: no answer
        [0, 0, 1],
    ]
    with pytest.raises(ValueError, match="example 0"):
        span_qa_targets([3], [2], [3])
    rng = np.random.default_rng(4)
    features = rng.standard_normal((7, 3))
    assert logme_span_qa(features, [3, 2, 2], [1, 0, -1], [2, 0, -1]).score == pytest.approx(
        logme(features, targets).score
    )


def test_logme_refuses_what_has_no_evidence():
    with pytest.raises(ValueError, match="all zeros"):
        logme(np.ones((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="rows"):
        logme(np.ones((4, 2)), np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        logme(np.ones((2, 2)), [1.0, math.nan])


# ---------------------------------------------------------------------------------------------- H-score


def test_h_score_by_hand():
    # centred features -3, -1, 1, 3 (variance 5); class means -2 and 2 (variance 4): 4 / 5
    assert h_score([[0.0], [2.0], [4.0], [6.0]], [0, 0, 1, 1]) == pytest.approx(0.8)
    # the second dimension is noise the labels do not see, uncorrelated with the first: it adds nothing
    assert h_score([[0.0, 1], [2, -1], [4, -1], [6, 1]], [0, 0, 1, 1]) == pytest.approx(0.8)


def test_h_score_is_the_textbook_definition():
    """tr(cov(f)^-1 cov(E[f|y])) with numpy's (N - 1) covariances and E[f|y] by an explicit loop."""
    rng = np.random.default_rng(8)
    features, labels = blobs(rng, 90, 5, 4)
    conditional = np.array([features[labels == label].mean(axis=0) for label in labels])
    expected = np.trace(np.linalg.inv(np.cov(features, rowvar=False)) @ np.cov(conditional, rowvar=False))
    assert h_score(features, labels) == pytest.approx(expected, rel=1e-9)
    assert 0 < h_score(features, labels) < 3  # at most C - 1 = 3


def test_ledoit_wolf_shrinkage_by_hand():
    # S = diag(0.5, 2), mu = 1.25, d^2 = 0.5625; sum ||x||^4 = 34, ||S||_F^2 = 4.25: b^2 = (34 - 17) / 32
    features = [[1.0, 0], [-1, 0], [0, 2], [0, -2]]
    assert ledoit_wolf_shrinkage(features) == pytest.approx((17 / 32) / 0.5625)
    # a covariance that is already a multiple of the identity needs no shrinking
    assert ledoit_wolf_shrinkage([[1.0, 0], [-1, 0], [0, 1], [0, -1]]) == 0.0


def test_ledoit_wolf_shrinkage_is_the_papers_definition():
    """b^2 written out as the mean of ||x_k x_k^T - S||^2 (the code uses an identity instead), for N > D and
    N < D; scikit-learn's ledoit_wolf_shrinkage gives the same values (checked when this was written)."""
    rng = np.random.default_rng(9)
    for n, d in [(50, 10), (20, 40)]:
        features = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + 3.0
        x = features - features.mean(axis=0)
        s = x.T @ x / n
        mu = np.trace(s) / d
        d2 = np.sum((s - mu * np.eye(d)) ** 2) / d
        b2 = min(d2, sum(np.sum((np.outer(row, row) - s) ** 2) / d for row in x) / n**2)
        assert ledoit_wolf_shrinkage(features) == pytest.approx(b2 / d2, rel=1e-9)


def test_shrinkage_h_score_and_its_limits():
    rng = np.random.default_rng(10)
    features, labels = blobs(rng, 200, 6, 3)
    plain = h_score(features, labels)
    assert shrinkage_h_score(features, labels, shrinkage=0.0) == pytest.approx(plain, rel=1e-9)
    assert shrinkage_h_score(features, labels, shrinkage=1.0) == 0.0
    centred = features - features.mean(axis=0)
    conditional = np.array([centred[labels == label].mean(axis=0) for label in labels])
    mean_variance = np.trace(centred.T @ centred / 200) / 6
    near_one = 1 - 1e-7  # H_a / (1 - a) -> tr(cov(E[f|y])) / mu
    assert shrinkage_h_score(features, labels, shrinkage=near_one) / (1 - near_one) == pytest.approx(
        np.trace(conditional.T @ conditional / 200) / mean_variance, rel=1e-5
    )
    # by default the Ledoit-Wolf intensity, written out
    a = ledoit_wolf_shrinkage(features)
    assert 0 < a < 1
    shrunk = (1 - a) * centred.T @ centred / 200 + a * mean_variance * np.eye(6)
    expected = np.trace(np.linalg.inv(shrunk) @ ((1 - a) * conditional.T @ conditional / 200))
    assert shrinkage_h_score(features, labels) == pytest.approx(expected, rel=1e-9)
    # shrinking lowers the score: every direction's share of the spread is pulled towards the mean variance
    assert shrinkage_h_score(features, labels) < plain
    with pytest.raises(ValueError, match="shrinkage"):
        shrinkage_h_score(features, labels, shrinkage=1.5)


def test_shrinkage_h_score_stays_finite_where_the_plain_one_interpolates():
    """Fewer examples than dimensions: the plain H-score's pseudo-inverse separates any labels perfectly (the
    score reaches C - 1 even for random labels); the shrunk one does not."""
    rng = np.random.default_rng(12)
    features = rng.standard_normal((30, 60)) * np.linspace(0.3, 2, 60)
    labels = rng.integers(0, 2, 30)
    assert h_score(features, labels) == pytest.approx(1.0, abs=1e-6)
    assert shrinkage_h_score(features, labels) < 0.5


# ----------------------------------------------------------------------------------- TextEmb, data size


def test_mean_pool_and_dataset_embedding_by_hand():
    hidden = np.array([[[1.0, 2], [3, 4], [100, 100]], [[5, 6], [7, 8], [9, 10]]])
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    pooled = mean_pool(hidden, mask)
    assert pooled.tolist() == [[2, 3], [7, 8]]  # the padding token (100, 100) does not count
    assert dataset_embedding(pooled).tolist() == [4.5, 5.5]
    with pytest.raises(ValueError, match="no token"):
        mean_pool(hidden, np.array([[0, 0, 0], [1, 1, 1]]))


def test_cosine_similarity_and_textemb_by_hand():
    assert cosine_similarity([1, 0], [1, 1]) == pytest.approx(1 / math.sqrt(2))
    assert cosine_similarity([1, 2], [-2, -4]) == pytest.approx(-1)
    assert cosine_similarity([1, 0], [0, 3]) == 0
    with pytest.raises(ValueError, match="zero"):
        cosine_similarity([0, 0], [1, 1])
    scores = textemb_scores({"near": [2.0, 0.1], "far": [0.0, 1.0], "between": [1.0, 1.0]}, [1.0, 0.0])
    assert sorted(scores, key=scores.get, reverse=True) == ["near", "between", "far"]
    assert scores["between"] == pytest.approx(1 / math.sqrt(2))


def test_data_size_scores_rank_by_size():
    assert data_size_scores({"a": 100, "b": 392_702, "c": 0}) == {"a": 100.0, "b": 392702.0, "c": 0.0}
    with pytest.raises(ValueError, match="negative"):
        data_size_scores({"a": -1})


def test_shrinkage_h_score_without_shrinkage_is_the_plain_h_score_also_for_a_singular_covariance():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(20, 3))
    features = np.hstack([features, features[:, :1]])  # a repeated column: the covariance is singular
    labels = np.arange(20) % 2
    assert shrinkage_h_score(features, labels, shrinkage=0.0) == pytest.approx(h_score(features, labels))
