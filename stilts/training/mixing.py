"""Multi-task mixing: which task each training batch comes from.

Default, as in the paper (after T5): capped examples-proportional sampling,
r_m = min(e_m, K) / sum_n min(e_n, K) with K = 2^17. Also: temperature-scaled
(r_m ∝ min(e_m, K)^(1/T)), uniform, and explicit weights. The sampler's random state is part of the
training checkpoint, so a resumed run draws the same task sequence.

Length of a mixed stage: the paper's multi-task runs are 3 epochs over the capped task sizes, so
the stage takes ``epochs * sum_m ceil(min(e_m, K) / b_m)`` batches, where b_m is task m's batch size;
each task is then seen about ``epochs * min(e_m, K)`` examples' worth in expectation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stilts.core import defaults
from stilts.core.registry import Registry

#: mixing rules: name -> (task sizes, cap, temperature, weights) -> unnormalised rates; plugins may add
MIXING_RULES: Registry[Callable[..., dict[str, float]]] = Registry("mixing rule")


def _capped(sizes, cap, temperature, weights):
    return {name: float(min(size, cap)) for name, size in sizes.items()}


def _temperature(sizes, cap, temperature, weights):
    # relative to the largest capped size, so that a low temperature's large power of a size cannot
    # overflow a float (the rates are normalised afterwards: the same rates)
    largest = max(min(size, cap) for size in sizes.values()) or 1
    return {name: (min(size, cap) / largest) ** (1.0 / temperature) for name, size in sizes.items()}


def _uniform(sizes, cap, temperature, weights):
    return {name: 1.0 for name in sizes}


def _weights(sizes, cap, temperature, weights):
    if not weights or set(weights) != set(sizes):
        raise ValueError(f"explicit weights must name exactly the tasks {', '.join(sizes)}")
    return dict(weights)


for _name, _rule in (("capped", _capped), ("temperature", _temperature), ("uniform", _uniform), ("weights", _weights)):
    MIXING_RULES.add(_name, _rule, origin="stilts")


def mixing_rates(
    sizes: dict[str, int],
    strategy: str = "capped",
    *,
    cap: int = defaults.MIXING_CAP_K,
    temperature: float = 1.0,
    weights: dict[str, float] | None = None,
) -> dict[str, float]:
    """Probability of drawing each task for a batch."""
    raw = MIXING_RULES.get(strategy, "mixing")(sizes, cap, temperature, weights)
    total = sum(raw.values())
    if total <= 0:
        raise ValueError("mixing weights sum to zero")
    return {name: value / total for name, value in raw.items()}


def mixture_batches(
    sizes: dict[str, int], batch_sizes: dict[str, int], epochs: float, cap: int = defaults.MIXING_CAP_K
) -> int:
    """Batches in a mixed stage: ``epochs`` passes over the capped task sizes."""
    return max(1, math.ceil(epochs * sum(math.ceil(min(sizes[n], cap) / batch_sizes[n]) for n in sizes)))


@dataclass
class TaskSampler:
    """Seeded draws of task names; ``state_dict``/``load_state_dict`` make resumed runs identical."""

    rates: dict[str, float]
    seed: int

    def __post_init__(self):
        self._names = list(self.rates)
        self._probabilities = np.array([self.rates[name] for name in self._names])
        self._rng = np.random.default_rng(self.seed)

    def __call__(self) -> str:
        return self._names[self._rng.choice(len(self._names), p=self._probabilities)]

    def state_dict(self) -> dict:
        return {"bit_generator": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self._rng.bit_generator.state = state["bit_generator"]
