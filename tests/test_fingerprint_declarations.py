"""Every stage setting says how it enters its stage's fingerprint, on its own field: a setting added
after run folders were first recorded is `HASHED_WHEN_SET` (or not fingerprinted at all), so that
configs that leave it unset keep their fingerprints and their folders stay reusable
(tests/test_fingerprints_stable.py pins some of those fingerprints)."""

from typing import Annotated, Literal

import pytest

from stilts.pipeline.config import StageConfig, pipeline_model
from stilts.pipeline.stage_kinds import HASHED_WHEN_SET, STAGE_KINDS, fingerprinted_settings, hashed_when_set

_TRAINING = {
    "kind", "learning_rate", "batch_size", "epochs", "max_steps", "gradient_accumulation_steps", "warmup_ratio",
    "weight_decay", "max_length", "validate_every", "validation_examples", "patience", "max_train_examples",
    "group_by_length", "train_splits", "mixing", "mixing_cap", "mixing_temperature", "mixing_weights",
}  # fmt: skip
#: the fields every fingerprint has hashed, whatever their value, since run folders were first recorded.
#: Not a list for new settings to join: a new one is declared `HASHED_WHEN_SET` on its field (or goes
#: into its kind's `not_fingerprinted`); one added here changes the fingerprint of every existing stage
#: folder of its kind, which then is retrained (say so in CHANGELOG.md).
HASHED_WHATEVER_THEIR_VALUE = {
    "intermediate": _TRAINING | {"tasks"},
    "target": _TRAINING | {"task", "tasks", "train_tasks"},
    "evaluate": {"kind", "task", "splits", "languages", "max_length", "max_examples", "layer", "pooling"},
    "average": {"kind", "seeds"},
    "few_shot": {
        "kind",
        "task",
        "k",
        "sets",
        "languages",
        "draw_seed",
        "splits",
        "learning_rate",
        "batch_size",
        "epochs",
        "warmup_ratio",
        "weight_decay",
        "max_length",
        "max_examples",
    },
    "translate_test": {
        "kind",
        "task",
        "beams",
        "prefix",
        "max_translation_length",
        "splits",
        "languages",
        "max_length",
        "max_examples",
    },
}


@pytest.mark.parametrize("kind_name", sorted(HASHED_WHATEVER_THEIR_VALUE))
def test_every_setting_declares_how_it_enters_the_fingerprint(kind_name):
    pipeline_model()  # the stage kinds are registered
    kind = STAGE_KINDS.get(kind_name)
    undeclared = set(kind.config.model_fields) - hashed_when_set(kind.config) - kind.not_fingerprinted
    new = sorted(undeclared - HASHED_WHATEVER_THEIR_VALUE[kind_name])
    assert not new, (
        f"{kind_name} stages: {', '.join(new)} would change the fingerprint of every existing stage folder; "
        "declare it on its field, Annotated[<type>, HASHED_WHEN_SET], or add it to the kind's not_fingerprinted"
    )
    assert undeclared == HASHED_WHATEVER_THEIR_VALUE[kind_name], "a field hashed since the start is gone"


class _Stage(StageConfig):
    kind: Literal["demo"]
    steps: int = 10
    rule: Annotated[Literal["first", "last"], HASHED_WHEN_SET] = "first"
    languages: Annotated[list[str] | None, HASHED_WHEN_SET] = None


@pytest.mark.parametrize(
    ("written", "hashed"),
    [
        ({}, {"kind": "demo", "steps": 10}),
        # at its default, written or not, a setting declared HASHED_WHEN_SET is not hashed
        ({"rule": "first", "languages": None}, {"kind": "demo", "steps": 10}),
        ({"rule": "last"}, {"kind": "demo", "steps": 10, "rule": "last"}),
        ({"languages": ["de"], "steps": 3}, {"kind": "demo", "steps": 3, "languages": ["de"]}),
    ],
)
def test_a_setting_hashed_when_set_enters_the_fingerprint_only_away_from_its_default(written, hashed):
    stage = _Stage.model_validate({"kind": "demo", **written})
    assert fingerprinted_settings(stage, frozenset({"name"})) == hashed


#: the pipeline fields stage fingerprints hash: ``model`` (the first stage's upstream), ``seed`` and
#: ``mixed_precision`` (settings of the stages they apply to), ``data`` (each task's data by content) and
#: ``stages``; as above, not a list for new fields to join
PIPELINE_FIELDS_HASHED = {"model", "seed", "mixed_precision", "data", "stages"}


def test_every_pipeline_field_declares_how_it_enters_the_fingerprints():
    """A pipeline-level field is fingerprinted through its stages or declared not to be (name, tracking,
    attention, packing: `PipelineConfig.NOT_FINGERPRINTED`); a new one must say which."""
    from stilts.pipeline.config import PipelineConfig

    fields = set(pipeline_model().model_fields)
    undeclared = fields - PipelineConfig.NOT_FINGERPRINTED - PIPELINE_FIELDS_HASHED
    assert not undeclared, f"pipeline fields {sorted(undeclared)}: declare them in PipelineConfig.NOT_FINGERPRINTED"
    assert not PipelineConfig.NOT_FINGERPRINTED & PIPELINE_FIELDS_HASHED
    assert PipelineConfig.NOT_FINGERPRINTED <= fields
