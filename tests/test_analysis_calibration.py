"""stilts.analysis.calibration: ECE and reliability bins by hand and on calibrated data, temperature scaling
against a brute-force search, and scaling an overconfident toy model fitted on one set and applied to another."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stilts.analysis.calibration import (
    DEFAULT_BINS,
    TEMPERATURE_RANGE,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    softmax,
    top_label,
)


def test_ece_and_the_reliability_bins_by_hand():
    confidences = [0.95, 0.9, 0.58, 0.55, 0.3]
    correct = [True, False, True, True, False]
    bins = reliability_bins(confidences, correct, n_bins=5)
    assert bins["count"].tolist() == [0, 1, 2, 0, 2]
    assert bins["low"].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8])
    assert bins.loc[4, "confidence"] == pytest.approx(0.925) and bins.loc[4, "accuracy"] == 0.5
    assert bins.loc[2, "confidence"] == pytest.approx(0.565) and bins.loc[2, "accuracy"] == 1.0
    assert math.isnan(bins.loc[0, "accuracy"])
    # 2/5 |0.5 - 0.925| + 2/5 |1 - 0.565| + 1/5 |0 - 0.3|
    assert expected_calibration_error(confidences, correct, n_bins=5) == pytest.approx(0.17 + 0.174 + 0.06)
    # the bins are (low, high]: a confidence on an edge belongs to the bin below it, 0 to the first
    edges = reliability_bins([0.0, 0.5, 1.0], [1, 1, 1], n_bins=2)
    assert edges["count"].tolist() == [2, 1]
    assert DEFAULT_BINS == 15 and len(reliability_bins([0.5], [1])) == 15


def test_a_calibrated_model_has_no_calibration_error():
    # exactly: in each bin the share right equals the confidence
    confidences = [0.7] * 10 + [0.9] * 10
    correct = [1] * 7 + [0] * 3 + [1] * 9 + [0]
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.0, abs=1e-12)
    # statistically: labels drawn from the model's own probabilities
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, (100_000, 3))
    probabilities = softmax(logits)
    labels = (rng.random(100_000)[:, None] > np.cumsum(probabilities, axis=1)).sum(axis=1)
    assert expected_calibration_error(*top_label(probabilities, labels)) < 0.01
    # and the same model made twice as sharp is not
    assert expected_calibration_error(*top_label(softmax(2 * logits), labels)) > 0.05


def test_softmax_and_nll_by_hand():
    logits = np.array([[0.0, math.log(3)], [1000.0, 1000.0]])
    assert softmax(logits).ravel() == pytest.approx([0.25, 0.75, 0.5, 0.5])  # stable at 1000
    assert softmax(logits, temperature=2.0)[0] == pytest.approx(
        [1 / (1 + math.sqrt(3)), math.sqrt(3) / (1 + math.sqrt(3))]
    )
    assert negative_log_likelihood(logits, [1, 0]) == pytest.approx((-math.log(0.75) - math.log(0.5)) / 2)
    confidence, correct = top_label(softmax(logits), [1, 1])
    assert confidence.tolist() == pytest.approx([0.75, 0.5]) and correct.tolist() == [True, False]  # tie: class 0


def toy_model(rng, n, sharpen):
    """Labels drawn from softmax(true logits); the model reports the true logits times ``sharpen``."""
    true = rng.normal(0, 1.5, (n, 4)) + np.array([0.5, 0, 0, -0.5])
    p = softmax(true)
    labels = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return true * sharpen, labels


def test_the_fitted_temperature_is_the_brute_force_minimum():
    logits, labels = toy_model(np.random.default_rng(1), 2000, 2.5)
    fitted = fit_temperature(logits, labels)
    grid = np.exp(np.linspace(math.log(0.2), math.log(20), 20001))
    nll = [negative_log_likelihood(logits, labels, t) for t in grid[::20]]  # a coarse pass, then a fine one
    centre = int(np.argmin(nll)) * 20
    fine = grid[max(centre - 40, 0) : centre + 41]
    best = min(fine, key=lambda t: negative_log_likelihood(logits, labels, t))
    assert fitted == pytest.approx(best, rel=3e-4)  # the fine grid's spacing is 2.3e-4 relative
    assert negative_log_likelihood(logits, labels, fitted) <= negative_log_likelihood(logits, labels, best) + 1e-12
    assert fitted == pytest.approx(2.5, rel=0.1)  # and it undoes the sharpening


def test_scaling_fitted_on_dev_lowers_nll_and_ece_elsewhere():
    """An overconfident toy model: T fitted on one set ("English dev") and applied to another ("a language")."""
    rng = np.random.default_rng(2)
    dev_logits, dev_labels = toy_model(rng, 3000, 3.0)
    other_logits, other_labels = toy_model(rng, 3000, 3.0)
    t = fit_temperature(dev_logits, dev_labels)
    assert t > 1  # overconfident: flatten
    before, after = softmax(other_logits), softmax(other_logits, t)
    assert negative_log_likelihood(other_logits, other_labels, t) < negative_log_likelihood(other_logits, other_labels)
    ece_before = expected_calibration_error(*top_label(before, other_labels))
    ece_after = expected_calibration_error(*top_label(after, other_labels))
    assert ece_after < ece_before / 2
    assert (before.argmax(axis=1) == after.argmax(axis=1)).all()  # no prediction changes


def test_the_temperature_stops_at_its_bounds_when_the_minimum_lies_beyond():
    # every example right, with a margin: the sharper the better, without end
    separable = np.array([[3.0, 0.0], [0.0, 2.0], [5.0, 1.0]])
    assert fit_temperature(separable, [0, 1, 0]) == TEMPERATURE_RANGE[0]
    # the logits point away from the labels: the flatter the better
    assert fit_temperature(separable, [1, 0, 1]) == TEMPERATURE_RANGE[1]
    with pytest.raises(ValueError, match="labels"):
        fit_temperature(separable, [0, 1, 2])
