"""Multi-task sampling: the rates follow the formula, the cap binds, resumed samplers repeat."""

import math

import numpy as np
import pytest

from stilts.training.mixing import TaskSampler, mixing_rates, mixture_batches

K = 2**17


def test_capped_proportional_rates_match_the_formula():
    sizes = {"mnli": 392_702, "cosmosqa": 25_262, "commonsenseqa": 9_741}
    rates = mixing_rates(sizes)
    denominator = K + 25_262 + 9_741  # MNLI is capped at K
    assert rates == pytest.approx(
        {"mnli": K / denominator, "cosmosqa": 25_262 / denominator, "commonsenseqa": 9_741 / denominator}
    )


def test_the_cap_binds():
    rates = mixing_rates({"big": 10 * K, "at_cap": K, "small": K // 2})
    assert rates["big"] == rates["at_cap"] == pytest.approx(0.4)
    assert rates["small"] == pytest.approx(0.2)


def test_empirical_frequencies_match_the_rates():
    rates = mixing_rates({"a": 300_000, "b": 50_000, "c": 10_000})
    sampler = TaskSampler(rates, seed=3)
    draws = 200_000
    counts = {name: 0 for name in rates}
    for _ in range(draws):
        counts[sampler()] += 1
    for name, rate in rates.items():
        standard_error = math.sqrt(rate * (1 - rate) / draws)
        assert abs(counts[name] / draws - rate) < 5 * standard_error


def test_temperature_uniform_and_weights():
    sizes = {"a": 400, "b": 100}
    assert mixing_rates(sizes, "temperature", temperature=2.0) == pytest.approx({"a": 20 / 30, "b": 10 / 30})
    assert mixing_rates(sizes, "uniform") == {"a": 0.5, "b": 0.5}
    assert mixing_rates(sizes, "weights", weights={"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}
    with pytest.raises(ValueError, match="exactly the tasks"):
        mixing_rates(sizes, "weights", weights={"a": 1})


def test_a_low_temperature_gives_the_largest_task_every_batch_without_overflowing():
    """400^(1/T) overflows a float for T = 0.001; the rates it stands for do not."""
    assert mixing_rates({"a": 400, "b": 100}, "temperature", temperature=1e-3) == pytest.approx({"a": 1.0, "b": 0.0})
    assert mixing_rates({"a": 400, "b": 400}, "temperature", temperature=1e-3) == {"a": 0.5, "b": 0.5}


def test_resumed_sampler_draws_the_same_sequence():
    rates = {"a": 0.5, "b": 0.3, "c": 0.2}
    uninterrupted = TaskSampler(rates, seed=7)
    expected = [uninterrupted() for _ in range(100)]
    first = TaskSampler(rates, seed=7)
    head = [first() for _ in range(40)]
    state = first.state_dict()
    resumed = TaskSampler(rates, seed=999)  # the seed is overridden by the saved state
    resumed.load_state_dict(state)
    assert head + [resumed() for _ in range(60)] == expected


def test_three_epochs_over_capped_sizes():
    assert mixture_batches({"a": 10 * K, "b": 100}, {"a": 8, "b": 4}, epochs=3) == 3 * (K // 8 + 25)
    assert np.isclose(mixture_batches({"a": 10}, {"a": 4}, epochs=1.5), 5)
