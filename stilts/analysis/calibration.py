"""Calibration of a zero-shot classifier per language: does a confidence of 0.9 mean 90% right in every
language? Ahuja et al. (2022, "On the Calibration of Massively Multilingual Language Models") found
zero-shot multilingual models less well calibrated in low-resource languages and those typologically far
from English, and post-hoc temperature scaling among the remedies that help.

- Expected calibration error (Naeini et al. 2015; Guo et al. 2017, "On Calibration of Modern Neural
  Networks"), top-label: each example's confidence is its predicted class's probability, and it is right or
  wrong; examples fall into equal-width confidence bins ``(b-1)/B < confidence <= b/B`` (a confidence of 0
  in the first), and ``ECE = sum_b n_b / N |accuracy_b - mean confidence_b|``, 0 for a perfectly calibrated
  model. Guo et al.'s 15 bins by default (`DEFAULT_BINS`). ECE depends on the bin count, and on a few hundred
  examples its value is noisy and biased upwards (empty-ish bins).
- Reliability-diagram data: per bin its range, count, mean confidence and accuracy.
- Temperature scaling (Guo et al. 2017): one scalar ``T > 0`` dividing the logits, fitted on held-out data
  (English dev) by minimising the negative log-likelihood, then applied to every language's logits. It
  changes no prediction (the argmax), only the confidences.

Everything takes numpy arrays: logits or probabilities ``(N, C)``, integer labels ``(N,)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: the bin count of ECE and the reliability diagram unless told otherwise: Guo et al. (2017)'s
DEFAULT_BINS = 15
#: the range `fit_temperature` searches: beyond it the data say only "sharper" or "flatter" (see there)
TEMPERATURE_RANGE = (1e-2, 1e2)


def softmax(logits: ArrayLike, temperature: float = 1.0) -> FloatArray:
    """Row-wise ``softmax(logits / temperature)``, computed stably (the row maximum subtracted first)."""
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
    z = _logits(logits) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def top_label(probabilities: ArrayLike, labels: ArrayLike) -> tuple[FloatArray, NDArray[np.bool_]]:
    """(confidence, correct) per example: the largest probability, and whether its class (the first such,
    on a tie) is the label."""
    p = _logits(probabilities)
    y = _labels(labels, p)
    return p.max(axis=1), p.argmax(axis=1) == y


def reliability_bins(confidences: ArrayLike, correct: ArrayLike, n_bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """The reliability diagram's data: one row per equal-width confidence bin, ``low`` < confidence <=
    ``high``, with ``count``, ``confidence`` (the mean) and ``accuracy`` (NaN for an empty bin)."""
    conf, right = _pairs(confidences, correct)
    if n_bins < 1:
        raise ValueError(f"n_bins: expected at least 1, got {n_bins}")
    index = np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / counts
        accuracy = np.bincount(index, weights=right.astype(np.float64), minlength=n_bins) / counts
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame(
        {"low": edges[:-1], "high": edges[1:], "count": counts, "confidence": mean_conf, "accuracy": accuracy}
    )


def expected_calibration_error(confidences: ArrayLike, correct: ArrayLike, n_bins: int = DEFAULT_BINS) -> float:
    """Top-label ECE over equal-width bins: ``sum_b n_b / N |accuracy_b - confidence_b|`` (0 to 1; empty bins
    count nothing). From probabilities and labels: ``expected_calibration_error(*top_label(p, y))``."""
    bins = reliability_bins(confidences, correct, n_bins)
    filled = bins[bins["count"] > 0]
    gaps = (filled["accuracy"] - filled["confidence"]).abs() * filled["count"]
    return float(gaps.sum() / bins["count"].sum())


def negative_log_likelihood(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0) -> float:
    """The mean of ``-log softmax(logits / temperature)[label]`` over the examples (natural log)."""
    z = _logits(logits)
    y = _labels(labels, z)
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature}")
    return _nll_and_slopes(z, y, 1.0 / temperature)[0]


def _nll_and_slopes(z: FloatArray, y: NDArray[np.int64], s: float) -> tuple[float, float, float]:
    """(NLL, dNLL/ds, d2NLL/ds2) at inverse temperature ``s``: NLL(s) = mean(logsumexp(s z) - s z_y), whose
    derivative is mean(E_p[z] - z_y) and second derivative mean(Var_p[z]) >= 0, p = softmax(s z)."""
    scaled = s * z
    top = scaled.max(axis=1, keepdims=True)
    e = np.exp(scaled - top)
    total = e.sum(axis=1, keepdims=True)
    p = e / total
    log_sum = (np.log(total) + top)[:, 0]
    rows = np.arange(z.shape[0])
    nll = float(np.mean(log_sum - scaled[rows, y]))
    expected = (p * z).sum(axis=1)
    slope = float(np.mean(expected - z[rows, y]))
    curvature = float(np.mean((p * z * z).sum(axis=1) - expected**2))
    return nll, slope, curvature


def fit_temperature(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    bounds: tuple[float, float] = TEMPERATURE_RANGE,
    tol: float = 1e-12,
    max_iter: int = 200,
) -> float:
    """The temperature ``T`` in ``bounds`` that minimises `negative_log_likelihood` on (dev) ``logits`` and
    ``labels``. In ``s = 1/T`` the NLL is convex (a mean of log-sum-exps of linear functions of ``s`` minus a
    linear term), so its minimum is where its derivative, increasing in ``s``, crosses 0: found by Newton steps
    kept inside a shrinking bracket (bisection where a step would leave it), to ``tol`` relative in ``s``. If
    the derivative does not change sign within ``bounds``, the minimum lies beyond, and the bound is returned:
    the lower one when every dev example is already right with growing confidence as ``T`` falls (separable
    data; sharper is always better), the upper one when the logits are no better than uniform."""
    z = _logits(logits)
    y = _labels(labels, z)
    low_t, high_t = bounds
    if not 0 < low_t < high_t:
        raise ValueError(f"bounds: expected 0 < low < high, got {bounds}")
    s_low, s_high = 1.0 / high_t, 1.0 / low_t
    if _nll_and_slopes(z, y, s_low)[1] >= 0:
        return high_t
    if _nll_and_slopes(z, y, s_high)[1] <= 0:
        return low_t
    s = 1.0
    if not s_low < s < s_high:
        s = math.sqrt(s_low * s_high)
    for _ in range(max_iter):
        _, slope, curvature = _nll_and_slopes(z, y, s)
        if slope > 0:
            s_high = s
        else:
            s_low = s
        step = s - slope / curvature if curvature > 0 else math.nan
        s_next = step if s_low < step < s_high else (s_low + s_high) / 2
        if abs(s_next - s) <= tol * s_next or s_high - s_low <= tol * s_high:
            s = s_next
            break
        s = s_next
    return 1.0 / s


def _logits(values: ArrayLike) -> FloatArray:
    z = np.asarray(values, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError(f"expected an N x C array with C >= 2 classes, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("logits/probabilities: not all finite")
    return z


def _labels(values: ArrayLike, z: FloatArray) -> NDArray[np.int64]:
    y = np.asarray(values)
    if y.shape != (z.shape[0],) or (y.size and not np.issubdtype(y.dtype, np.integer)):
        raise ValueError(f"labels: expected {z.shape[0]} integer class ids, got shape {y.shape}, {y.dtype}")
    if np.any((y < 0) | (y >= z.shape[1])):
        raise ValueError(f"labels: class ids must be in 0..{z.shape[1] - 1}")
    return y.astype(np.int64)


def _pairs(confidences: ArrayLike, correct: ArrayLike) -> tuple[FloatArray, NDArray[np.bool_]]:
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct)
    if conf.ndim != 1 or right.shape != conf.shape or conf.size == 0:
        raise ValueError(f"confidences, correct: expected two equal non-empty vectors, got {conf.shape}, {right.shape}")
    if np.any((conf < 0) | (conf > 1)) or not np.all(np.isfinite(conf)):
        raise ValueError("confidences: expected probabilities in [0, 1]")
    if right.dtype != np.bool_ and not np.all((right == 0) | (right == 1)):
        raise ValueError("correct: expected booleans (or 0/1)")
    return conf, right.astype(np.bool_)
