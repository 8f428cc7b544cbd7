"""The types of every number in a config (pipeline, stage, sweep, Slurm and peft settings).

A value that validates must not crash a stage after the stages before it trained, so each number has
real bounds: no boolean (pydantic takes true and false as 1 and 0, and YAML reads yes, no, on and off
as those), floats finite (pydantic takes .inf and .nan unless told), counts no larger than the
libraries take. tests/test_config.py checks that no config field is a bare int or float.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _not_a_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(
            f"expected a number, got {str(value).lower()} (YAML reads yes, no, on, off, true and false as booleans)"
        )
    return value


Int = Annotated[int, BeforeValidator(_not_a_boolean)]
Float = Annotated[float, BeforeValidator(_not_a_boolean), Field(allow_inf_nan=False)]

#: the most of anything counted (steps, examples, batch sizes, epochs): every library the stages hand
#: counts to takes this much (far past it, islice and the tokenizers overflow)
MAX_COUNT = 2**31 - 1
Count = Annotated[Int, Field(gt=0, le=MAX_COUNT)]
#: a count that may be 0 (a layer index, GPUs of a CPU job)
Index = Annotated[Int, Field(ge=0, le=MAX_COUNT)]
#: random, numpy and torch are each seeded with it; numpy takes [0, 2^32)
Seed = Annotated[Int, Field(ge=0, lt=2**32)]
#: the longest input a config may ask for whatever its model; before any stage runs, the model's own
#: limit (its position table, from its config.json) is checked too (`stilts.pipeline.model_limits`)
MAX_LENGTH = 2**16
MaxLength = Annotated[Int, Field(gt=8, le=MAX_LENGTH)]
