"""Transferability estimates: scores computed from an encoder's features of a target task's labelled examples
(or of whole data sets) that predict, without fine-tuning, how well an intermediate task will serve a target.

- LogME (You, Liu, Wang and Long 2021, "LogME: Practical Assessment of Pre-trained Models for Transfer
  Learning", ICML): the maximum, over the prior precision alpha and the noise precision beta, of the log
  marginal evidence of Bayesian linear regression from the features to the labels, per example. Higher is
  better. Bassignana et al. (2022) found it correlated positively with fine-tuned results in 94% of their NLP
  setups; Poth et al. (2021, "What to Pre-Train on? Efficient Intermediate Task Selection") used it for
  intermediate-task selection, on token features for tagging and span QA.
- H-score (Bao et al. 2019, "An Information-Theoretic Approach to Transferability in Task Transfer Learning")
  and its shrinkage form (Ibrahim, Ponomareva and Mazumder 2022, "Newer is not always better: Rethinking
  transferability metrics, their peculiarities, stability and performance"), which replaces the feature
  covariance by its Ledoit-Wolf-shrunk estimate. Higher is better.
- TextEmb (Vu et al. 2020, "Exploring and Predicting Transferability across NLP Tasks"): a data set as the mean
  of its examples' mean-pooled features; intermediate tasks ranked by cosine similarity to the target. And the
  baseline every such method must beat: rank by the number of training examples.

Everything here is numpy on arrays the caller made (no torch): features are ``(N, D)`` float arrays, one row
per example (or per token for tagging and span QA).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: the label that marks a token or example to leave out (sub-word continuations, padding), as Hugging Face's
#: token-classification and QA code writes it
IGNORE_INDEX = -100


# ------------------------------------------------------------------------------------------------- LogME


@dataclass(frozen=True)
class Spectrum:
    """The thin SVD of a feature matrix ``F`` (N x D) that LogME needs: ``F = U diag(s) V^T`` restricted to
    the ``k`` singular values that are not zero (``k`` = the rank of ``F``)."""

    #: N x k, orthonormal columns spanning the column space of F
    u: FloatArray
    #: the k squared non-zero singular values (the non-zero eigenvalues of F^T F)
    sigma2: FloatArray
    #: the number of examples (rows)
    n: int
    #: the feature dimension (columns); D - k eigenvalues of F^T F are zero
    d: int


def spectrum(features: ArrayLike) -> Spectrum:
    """The thin SVD of ``features`` (N x D), singular values below ``max(N, D) * eps * s_max`` counted as zero
    (numpy's matrix-rank rule)."""
    f = _matrix(features, "features")
    n, d = f.shape
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    keep = s > (s[0] * max(n, d) * np.finfo(np.float64).eps if s.size else 0.0)
    return Spectrum(u=u[:, keep], sigma2=s[keep] ** 2, n=n, d=d)


def log_evidence(features: ArrayLike | Spectrum, target: ArrayLike, alpha: float, beta: float) -> float:
    """The log marginal evidence, per example, of one target column ``y`` (N) under Bayesian linear regression
    ``y = F w + noise``, ``w ~ N(0, I / alpha)``, ``noise ~ N(0, I / beta)``, at the given ``alpha``, ``beta``:

        log p(y | F, alpha, beta) / N, where
        log p = D/2 log alpha + N/2 log beta - N/2 log 2 pi - beta/2 ||y - F m||^2 - alpha/2 ||m||^2 - 1/2 log|A|,
        A = alpha I + beta F^T F,  m = beta A^-1 F^T y

    (You et al. 2021; Bishop 2006, "Pattern Recognition and Machine Learning", eq. 3.86), computed in the
    basis of ``F``'s singular vectors, which also holds when N < D. Equal to
    ``log N(y; 0, I / beta + F F^T / alpha) / N``, the Gaussian marginal likelihood the tests compute directly."""
    spec = features if isinstance(features, Spectrum) else spectrum(features)
    y = _vector(target, spec.n)
    return _evidence_terms(spec, y, alpha, beta)[0]


def _evidence_terms(spec: Spectrum, y: FloatArray, alpha: float, beta: float) -> tuple[float, float, float, float]:
    """(evidence per example, gamma, ||m||^2, ||y - F m||^2) at ``alpha``, ``beta``."""
    x = spec.u.T @ y
    x2 = x * x
    outside = max(float(y @ y) - float(x2.sum()), 0.0)  # the part of y no feature direction reaches
    t = alpha / beta
    denom = spec.sigma2 + t
    gamma = float((spec.sigma2 / denom).sum())
    m2 = float((spec.sigma2 * x2 / denom**2).sum())
    res2 = float((x2 * (t / denom) ** 2).sum()) + outside
    log_det_a = float(np.log(alpha + beta * spec.sigma2).sum()) + (spec.d - spec.sigma2.size) * math.log(alpha)
    n = spec.n
    evidence = (
        spec.d / 2 * math.log(alpha)
        + n / 2 * math.log(beta)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * res2
        - alpha / 2 * m2
        - log_det_a / 2
    )
    return evidence / n, gamma, m2, res2


@dataclass(frozen=True)
class LogMEResult:
    """LogME of features for targets: ``score`` is the mean over target columns of each column's maximum log
    evidence per example; the per-column maximisers and whether each fixed-point iteration converged."""

    score: float
    evidences: tuple[float, ...]
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    iterations: tuple[int, ...]
    converged: bool


def logme(features: ArrayLike, targets: ArrayLike, *, tol: float = 1e-10, max_iter: int = 1000) -> LogMEResult:
    """LogME (You et al. 2021) of ``features`` (N x D) for real-valued ``targets`` (N, or N x C: C target columns,
    each scored on its own, the score their mean): per column, the evidence (`log_evidence`) maximised over
    ``alpha``, ``beta`` by MacKay's fixed point (the paper's Algorithm 1), from ``alpha = beta = 1``:

        gamma = sum_i beta s_i / (alpha + beta s_i),  alpha <- gamma / ||m||^2,  beta <- (N - gamma) / ||y - F m||^2

    (``s_i`` the eigenvalues of ``F^T F``) until both change by less than ``tol`` relatively. The official
    implementation (github.com/thuml/LogME, ``_fit_fixed_point``) stops after at most 11 steps or a 0.1%
    change of ``alpha / beta`` and adds 1e-5 to both denominators; here it runs to ``tol`` and adds nothing.
    Where N > D the two agreed to 1e-8 relative on random features (checked when this was written); where
    N < D the official code leaves the D - N zero eigenvalues of ``F^T F`` out of ``log|A|`` and so scores
    about ``(D - N) / (2N) log alpha`` higher than the evidence is. As there, the features are used as given: no
    centring, no bias column (append a constant column for one).

    The maximum can lie on a boundary, where the iteration heads off rather than converging: ``alpha`` =
    infinity (no weights: the features explain nothing of ``y`` that noise does not; common for labels
    unrelated to the features), whose limit ``-1/2 (log(2 pi ||y||^2 / N) + 1)`` is returned with ``alpha =
    inf``, also whenever it exceeds the fixed point's evidence; or ``beta`` = infinity where ``y`` lies in the
    features' span (N <= D), whose limit ``log N(y; 0, F F^T / alpha) / N`` at its best ``alpha`` is returned
    with ``beta = inf`` (+infinity when the span is not all of R^N). A column that is all zeros has no maximum
    and is refused. ``converged`` is False when some column reached ``max_iter``; its last iterate counts then.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter: expected at least 1, got {max_iter}")
    spec = spectrum(features)
    y_all = np.asarray(targets, dtype=np.float64)
    if y_all.ndim == 1:
        y_all = y_all[:, None]
    if y_all.ndim != 2 or y_all.shape[0] != spec.n:
        raise ValueError(f"targets: expected {spec.n} rows (one per feature row), got shape {y_all.shape}")
    if y_all.shape[1] == 0:
        raise ValueError("targets: no target column")
    if not np.all(np.isfinite(y_all)):
        raise ValueError("targets: not all finite")
    evidences, alphas, betas, iterations = [], [], [], []
    converged = True
    for column in y_all.T:
        evidence, alpha, beta, steps, done = _maximise_evidence(spec, column, tol, max_iter)
        evidences.append(evidence)
        alphas.append(alpha)
        betas.append(beta)
        iterations.append(steps)
        converged = converged and done
    return LogMEResult(
        score=float(np.mean(evidences)),
        evidences=tuple(evidences),
        alphas=tuple(alphas),
        betas=tuple(betas),
        iterations=tuple(iterations),
        converged=converged,
    )


def _maximise_evidence(
    spec: Spectrum, y: FloatArray, tol: float, max_iter: int
) -> tuple[float, float, float, int, bool]:
    """(evidence per example, alpha, beta, steps, converged) for one target column: the fixed point's, or a
    boundary's where the evidence grows towards it (see `logme`)."""
    yy = float(y @ y)
    if yy == 0.0:
        raise ValueError("targets: a target column is all zeros; its evidence has no maximum")
    n, k = spec.n, spec.sigma2.size
    x = spec.u.T @ y
    reached = float(x @ x)
    # alpha = infinity, no weights: y is noise of precision beta = N / ||y||^2
    noise_only = (-0.5 * (math.log(2 * math.pi * yy / n) + 1.0), math.inf, n / yy)
    if reached <= 1e-24 * yy:
        return *noise_only, 0, True
    in_span = yy - reached <= 1e-12 * yy
    alpha, beta = 1.0, 1.0
    for step in range(1, max_iter + 1):
        _, gamma, m2, res2 = _evidence_terms(spec, y, alpha, beta)
        new_alpha, new_beta = gamma / m2, (n - gamma) / res2
        done = abs(new_alpha - alpha) <= tol * new_alpha and abs(new_beta - beta) <= tol * new_beta
        alpha, beta = new_alpha, new_beta
        t = alpha / beta
        if t > 1e10 * float(spec.sigma2.max()):  # the weights vanish: heading for alpha = infinity
            return *noise_only, step, True
        if in_span and t < 1e-10 * float(spec.sigma2.min()):  # the residual vanishes: heading for beta = infinity
            if k < n:  # y lies in a proper subspace that the features span: unbounded evidence
                return math.inf, alpha, math.inf, step, True
            # rank N: the limit is log N(y; 0, F F^T / alpha), at its best alpha
            best_alpha = n / float((x * x / spec.sigma2).sum())
            limit = (
                -n / 2 * math.log(2 * math.pi)
                - 0.5 * float(np.log(spec.sigma2 / best_alpha).sum())
                - best_alpha / 2 * float((x * x / spec.sigma2).sum())
            )
            return limit / n, best_alpha, math.inf, step, True
        if done:
            break
    evidence = log_evidence(spec, y, alpha, beta)
    if noise_only[0] > evidence:  # the fixed point is a lower local maximum than the alpha = infinity limit
        return *noise_only, step, done
    return evidence, alpha, beta, step, done


def one_hot(labels: ArrayLike, *, ignore_index: int = IGNORE_INDEX) -> tuple[FloatArray, NDArray[np.bool_]]:
    """(one-vs-rest 0/1 targets, N' x C, one column per class present; the mask of the kept rows) for integer
    ``labels`` (N), rows labelled ``ignore_index`` left out. Classes absent from ``labels`` get no column (the
    official implementation keeps one per class up to the largest label, all zeros for an absent one)."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels: expected one label per row, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError("labels: expected integer class ids")
    keep = y != ignore_index
    kept = y[keep]
    if kept.size == 0:
        raise ValueError("labels: no labelled row")
    classes = np.unique(kept)
    return (kept[:, None] == classes[None, :]).astype(np.float64), keep


def logme_classification(features: ArrayLike, labels: ArrayLike, *, ignore_index: int = IGNORE_INDEX) -> LogMEResult:
    """LogME for classification, as the paper does it: one-vs-rest 0/1 targets per class (`one_hot`), their
    evidences averaged over the classes. Tagging is the same on token features: one row per (first sub-word)
    token, its tag the label, other sub-words and padding labelled ``ignore_index`` and left out."""
    f = _matrix(features, "features")
    targets, keep = one_hot(labels, ignore_index=ignore_index)
    if keep.size != f.shape[0]:
        raise ValueError(f"labels: expected {f.shape[0]} (one per feature row), got {keep.size}")
    return logme(f[keep], targets)


def span_qa_targets(lengths: ArrayLike, starts: ArrayLike, ends: ArrayLike) -> FloatArray:
    """Token targets for span QA, as Poth et al. (2021) score QA with LogME: every token of every example gets
    three 0/1 indicators, (is the answer's first token, is its last token, is neither), an answer of one
    token being both first and last. ``lengths[i]`` is example i's number of tokens (its rows follow those of
    the examples before it), ``starts[i]``/``ends[i]`` the answer's first and last token (inclusive) within it;
    -1 for both: no answer in the example (all its tokens "neither")."""
    n_tokens = np.asarray(lengths, dtype=np.int64)
    first = np.asarray(starts, dtype=np.int64)
    last = np.asarray(ends, dtype=np.int64)
    if not (n_tokens.ndim == first.ndim == last.ndim == 1 and n_tokens.size == first.size == last.size):
        raise ValueError("lengths, starts, ends: expected one value per example each")
    if np.any(n_tokens < 1):
        raise ValueError("lengths: every example needs at least one token")
    offsets = np.concatenate([[0], np.cumsum(n_tokens)[:-1]])
    targets = np.zeros((int(n_tokens.sum()), 3))
    for i, (offset, length, start, end) in enumerate(zip(offsets, n_tokens, first, last)):
        if start == -1 and end == -1:
            continue
        if not 0 <= start <= end < length:
            raise ValueError(f"example {i}: answer tokens {start}..{end} are not within its {length} tokens")
        targets[offset + start, 0] = 1.0
        targets[offset + end, 1] = 1.0
    targets[:, 2] = 1.0 - np.maximum(targets[:, 0], targets[:, 1])
    return targets


def logme_span_qa(token_features: ArrayLike, lengths: ArrayLike, starts: ArrayLike, ends: ArrayLike) -> LogMEResult:
    """LogME of token features (one row per token, examples one after another) for span QA: the mean evidence
    of the start, end and neither indicators of `span_qa_targets`."""
    return logme(token_features, span_qa_targets(lengths, starts, ends))


# ----------------------------------------------------------------------------------------------- H-score


def _centred_and_class_means(features: ArrayLike, labels: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """(the centred features, each row replaced by its class's mean of the centred features)."""
    f = _matrix(features, "features")
    y = np.asarray(labels)
    if y.shape != (f.shape[0],):
        raise ValueError(f"labels: expected {f.shape[0]} (one per feature row), got shape {y.shape}")
    f = f - f.mean(axis=0, keepdims=True)
    g = np.empty_like(f)
    for label in np.unique(y):
        rows = y == label
        g[rows] = f[rows].mean(axis=0)
    return f, g


def h_score(features: ArrayLike, labels: ArrayLike) -> float:
    """H-score (Bao et al. 2019): ``tr(cov(f)^+ cov(E[f | y]))``, the feature covariance's pseudo-inverse (the
    usual implementations' ``pinv``) times the covariance of the class-conditional means, both with the 1/N
    (maximum-likelihood) normalisation, which cancels. Between 0 and min(D, C - 1) for C classes; it grows
    with how far apart the classes' means are relative to the features' spread. Unstable when N is not
    much larger than D (the covariance is then poorly estimated or singular): see `shrinkage_h_score`."""
    f, g = _centred_and_class_means(features, labels)
    n = f.shape[0]
    cov_f = f.T @ f / n
    cov_g = g.T @ g / n
    return float(np.trace(np.linalg.pinv(cov_f, rcond=1e-15, hermitian=True) @ cov_g))


def ledoit_wolf_shrinkage(features: ArrayLike) -> float:
    """The Ledoit-Wolf (2004, "A well-conditioned estimator for large-dimensional covariance matrices") shrinkage
    intensity ``b^2 / d^2`` in [0, 1] for the covariance of ``features`` (centred here), with the paper's
    normalised Frobenius norm ``||A||^2 = tr(A A^T) / D``, ``S = X^T X / N`` and ``mu = tr(S) / D``:
    ``d^2 = ||S - mu I||^2``, ``b^2 = min(d^2, 1/N^2 sum_k ||x_k x_k^T - S||^2)``. 0 when ``S`` is already a
    multiple of the identity (``d = 0``). The same estimate as scikit-learn's ``ledoit_wolf_shrinkage``."""
    x = _matrix(features, "features")
    x = x - x.mean(axis=0, keepdims=True)
    n, d = x.shape
    s = x.T @ x / n
    mu = float(np.trace(s)) / d
    d2 = float(((s - mu * np.eye(d)) ** 2).sum()) / d
    if d2 <= 0.0:
        return 0.0
    # sum_k ||x_k x_k^T - S||_F^2 = sum_k ||x_k||^4 - N ||S||_F^2 (as sum_k x_k x_k^T = N S)
    row_norms2 = (x * x).sum(axis=1)
    b2_bar = (float((row_norms2**2).sum()) - n * float((s * s).sum())) / (n * n * d)
    return min(max(b2_bar, 0.0), d2) / d2


def shrinkage_h_score(features: ArrayLike, labels: ArrayLike, *, shrinkage: float | None = None) -> float:
    """Shrinkage-based H-score (Ibrahim et al. 2022): ``tr(cov_a(f)^-1 (1 - a) cov(E[f | y]))`` with
    ``cov_a(f) = (1 - a) cov(f) + a mu I`` (``mu`` the mean variance, ``tr(cov(f)) / D``) and ``a`` the
    Ledoit-Wolf intensity (`ledoit_wolf_shrinkage`) unless ``shrinkage`` is given. ``a = 0`` is the plain
    `h_score` (for an invertible covariance), ``a = 1`` gives 0, and as ``a -> 1`` the score over ``1 - a``
    tends to ``tr(cov(E[f | y])) / mu``. Covariances with the 1/N normalisation, as Ledoit and Wolf's."""
    f, g = _centred_and_class_means(features, labels)
    a = ledoit_wolf_shrinkage(f) if shrinkage is None else float(shrinkage)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"shrinkage: expected a value in [0, 1], got {a}")
    if a == 0.0:  # nothing shrunk (Ledoit-Wolf's intensity for a covariance already a multiple of I)
        return h_score(features, labels)  # the pseudo-inverse: a singular covariance has no inverse to solve with
    n, d = f.shape
    cov_f = f.T @ f / n
    cov_g = g.T @ g / n
    mu = float(np.trace(cov_f)) / d
    if mu == 0.0:
        raise ValueError("features: all rows are the same; there is no covariance to shrink")
    shrunk = (1.0 - a) * cov_f + a * mu * np.eye(d)
    return float(np.trace(np.linalg.solve(shrunk, (1.0 - a) * cov_g)))


# ------------------------------------------------------------------------------ TextEmb and data size


def mean_pool(hidden: ArrayLike, mask: ArrayLike) -> FloatArray:
    """One vector per example: the mean of its token vectors where ``mask`` is 1 (``hidden``: N x T x D,
    ``mask``: N x T, as an encoder's last hidden state and attention mask)."""
    h = np.asarray(hidden, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)
    if h.ndim != 3 or m.shape != h.shape[:2]:
        raise ValueError(f"hidden, mask: expected N x T x D and N x T, got {h.shape} and {m.shape}")
    counts = m.sum(axis=1, keepdims=True)
    if np.any(counts == 0):
        raise ValueError("mask: an example has no token")
    return np.asarray((h * m[:, :, None]).sum(axis=1) / counts, dtype=np.float64)


def dataset_embedding(example_vectors: ArrayLike) -> FloatArray:
    """TextEmb's data-set vector (Vu et al. 2020): the mean of the examples' (mean-pooled) feature vectors."""
    return np.asarray(_matrix(example_vectors, "example_vectors").mean(axis=0), dtype=np.float64)


def cosine_similarity(a: ArrayLike, b: ArrayLike) -> float:
    """``a . b / (|a| |b|)``, in [-1, 1]; refused for a zero vector (no direction)."""
    u = np.asarray(a, dtype=np.float64).ravel()
    v = np.asarray(b, dtype=np.float64).ravel()
    if u.shape != v.shape:
        raise ValueError(f"vectors of different sizes: {u.size} and {v.size}")
    norms = float(np.linalg.norm(u)) * float(np.linalg.norm(v))
    if norms == 0.0:
        raise ValueError("cosine similarity of a zero vector")
    return max(-1.0, min(1.0, float(u @ v) / norms))


def textemb_scores(intermediates: Mapping[str, ArrayLike], target: ArrayLike) -> dict[str, float]:
    """TextEmb (Vu et al. 2020): each intermediate task's data-set vector's cosine similarity to the target's
    (`dataset_embedding` of each, from the same base encoder); higher ranks first."""
    goal = np.asarray(target, dtype=np.float64)
    return {name: cosine_similarity(vector, goal) for name, vector in intermediates.items()}


def data_size_scores(sizes: Mapping[str, int]) -> dict[str, float]:
    """The data-size baseline: each intermediate task scored by its number of training examples (more ranks
    first; equal sizes tie). Every transferability method has to beat it to be worth its forward passes."""
    scores = {}
    for name, size in sizes.items():
        if size < 0:
            raise ValueError(f"{name}: a data size cannot be negative ({size})")
        scores[name] = float(size)
    return scores


# ------------------------------------------------------------------------------------------------ checks


def _matrix(values: ArrayLike, name: str) -> FloatArray:
    m = np.asarray(values, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty N x D array, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{name}: not all finite")
    return m


def _vector(values: ArrayLike, n: int) -> FloatArray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (n,):
        raise ValueError(f"target: expected {n} values (one per feature row), got shape {v.shape}")
    return v
