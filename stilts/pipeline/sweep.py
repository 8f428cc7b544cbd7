"""Sweeps: a pipeline template times a matrix of intermediate tasks, targets, seeds, MLM on/off and
named variants (settings that differ between otherwise equal pipelines, e.g. the pivot languages).

Every combination becomes an ordinary pipeline. All of them share one run folder, so a stage that
several pipelines have in common (the same intermediate model for every target) has one
fingerprint, one folder, and is trained once.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from stilts.core.errors import BadInput, did_you_mean
from stilts.core.names import BASELINE, MLM_TASK, SHOTS_SUFFIX, configuration_name
from stilts.core.numbers import Count, Seed
from stilts.pipeline.config import (
    ATTENTION_DESCRIPTION,
    DATA_DESCRIPTION,
    MIXED_PRECISION_DESCRIPTION,
    MODEL_DESCRIPTION,
    PACKING_DESCRIPTION,
    SAFE_NAME,
    TRACKING_DESCRIPTION,
    Attention,
    MixedPrecision,
    PipelineConfig,
    Tracking,
    apply_override,
    describe_validation_error,
    read_yaml_mapping,
    validate_pipeline,
)
from stilts.pipeline.slurm.settings import SlurmConfig
from stilts.pipeline.stage_kinds import STAGE_KINDS

#: a variant's name: part of its pipelines' names, where '-' separates the parts (`stilts table --by
#: pipeline` takes them apart), so it has none
VARIANT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+]*")
#: stage fields the matrix sets, which `stages`, `tasks` and variants may not (an average stage's seeds
#: are the matrix's, with average_seeds; a few-shot stage's k is one of matrix.shots)
MATRIX_FIELDS = ("kind", "task", "tasks", "seeds", "k")

#: the stage kind of translate_test: true (`stilts.translate.evaluation`)
TRANSLATE_TEST_KIND = "translate_test"

#: settings per stage kind, e.g. {intermediate: {epochs: 1}, evaluate: {max_examples: 500}}
StageSettings = dict[str, dict[str, Any]]


class SweepMatrix(BaseModel):
    """The axes of a sweep: every combination of their values becomes one pipeline."""

    model_config = ConfigDict(extra="forbid")
    intermediate: Annotated[list[str], Field(min_length=1)] = Field(
        default=[BASELINE],
        description="Intermediate configurations: a task, several joined with `+` (trained together in one "
        "stage), or `none`, the baseline without an intermediate stage.",
    )
    target: Annotated[list[str], Field(min_length=1)] = Field(
        description="Target tasks: each gets a target stage (unless it trains nothing, as Tatoeba) and an "
        "evaluate stage."
    )
    seed: Annotated[list[Seed], Field(min_length=1)] = Field(
        default=[1], description="Seeds: every combination is run once with each (the paper's tables: 3)."
    )
    mlm: Annotated[list[bool], Field(min_length=1)] = Field(
        default=[False],
        description="Whether the intermediate stage also trains MLM (the `mlm` task; with `none`, an MLM-only "
        "stage); `[false, true]` runs both, and `data` then needs `mlm`.",
    )
    shots: list[Count] = Field(
        default_factory=list,
        description="k of the few-shot stages each pipeline (of a target that trains) gets after its "
        "evaluation: one few_shot stage per k, named <k>-shot, its other settings from stages.few_shot. "
        "Empty: zero-shot only.",
    )
    variant: Annotated[dict[str, StageSettings], Field(min_length=1)] | None = Field(
        default=None,
        description="Name -> settings per stage kind, applied after `stages` and `tasks`, e.g. "
        "`{de: {target: {train_languages: [de]}}}`; a name becomes part of its pipelines' names, so it has no "
        "`-`. Unset: one unnamed variant, the settings as they are.",
    )

    @field_validator("seed", "intermediate", "target", "mlm", "shots")  # the matrix's lists, not stage kinds
    @classmethod
    def _each_once(cls, values: list) -> list:
        # a value given twice makes the same pipelines twice: accepted, it would look like a bigger sweep
        for i, value in enumerate(values):
            if value in values[:i]:
                shown = str(value).lower() if isinstance(value, bool) else value
                raise ValueError(f"{shown} is listed twice")
        return values

    @field_validator("variant")
    @classmethod
    def _names_without_dashes(cls, value: dict | None) -> dict | None:
        for name in value or {}:
            if not VARIANT_NAME.fullmatch(name):
                raise ValueError(
                    f"variant name '{name}': letters, digits and _ . @ + only ('-' separates the parts of its "
                    "pipelines' names)"
                )
        return value


class SweepConfig(BaseModel):
    """A pipeline template times a matrix: one pipeline per combination, all in one run folder."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=SAFE_NAME)] = Field(
        description="The sweep's name: its run folder (`runs/<name>/` unless `--output-dir` says otherwise), "
        "which every pipeline of it shares, so that a stage several have in common is trained once."
    )
    model: str = Field(description=f"{MODEL_DESCRIPTION} The same for every pipeline.")
    mixed_precision: MixedPrecision = Field(default="auto", description=MIXED_PRECISION_DESCRIPTION)
    tracking: Tracking = Field(default="none", description=TRACKING_DESCRIPTION)
    attention: Attention = Field(default="auto", description=ATTENTION_DESCRIPTION)
    packing: bool = Field(default=False, description=PACKING_DESCRIPTION)
    data: dict[str, str] = Field(default_factory=dict, description=DATA_DESCRIPTION)
    stages: StageSettings = Field(
        default_factory=dict,
        description="Settings for every stage of a kind, e.g. `{evaluate: {max_examples: 500}}`: the kind's "
        "fields, except those the matrix sets (kind, task, tasks; an average stage's seeds, a few-shot stage's k).",
    )
    tasks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Settings for one task's stages, e.g. `{xnli: {batch_size: 8}}`, applied after `stages`, each "
        "to the stages of the task whose kind has the field (a learning rate to the stage that trains on it).",
    )
    matrix: SweepMatrix = Field(
        description="The axes whose every combination becomes one pipeline: intermediate configurations x "
        "targets x seeds x MLM off/on x variants (x few-shot k)."
    )
    average_seeds: bool = Field(
        False,
        description="Also evaluate, for each intermediate configuration, target and variant, the average of "
        "its seeds' target models (an average stage after them; rows labelled <intermediate>/seed-average, "
        "their seed the seeds averaged, never pooled with the seeds' own). Only models fine-tuned from the "
        "same weights are averaged: stages: {target: {init_seed: N}} gives every seed the same new heads, and "
        "an intermediate stage needs one seed of its own (stages: {intermediate: {seed: N}}).",
    )
    translate_test: bool = Field(
        False,
        description="Also score each pipeline of a classification, sentence-pair or multiple-choice target "
        "translate-test: a translate_test stage after its evaluation (and after the seeds' average's, with "
        "average_seeds), its MT model and other settings from stages.translate_test (mt_model is needed there, "
        "in each such target's tasks settings, or in every variant); rows labelled "
        "<intermediate>/translate-test. Other targets get none. MT models are compared with variants, e.g. "
        "{opus: {translate_test: {mt_model: ...}}}.",
    )
    slurm: SlurmConfig | None = Field(
        default=None,
        description="What each stage's job asks Slurm for under `stilts sweep --submit slurm` (whose "
        "`--partition`, `--time`, ... set the same top-level fields). Unset: 1 GPU and 24:00:00 a job.",
    )


def load_sweep(path: Path, overrides: tuple[str, ...] = (), slurm: dict | None = None) -> tuple[SweepConfig, Path]:
    """The sweep YAML with ``--set`` overrides applied, then ``slurm`` (top-level fields of its
    ``slurm:`` block given on the command line)."""
    raw = read_yaml_mapping(path)
    for override in overrides:
        apply_override(raw, override)
    if slurm:
        if not isinstance(raw.get("slurm") or {}, dict):
            raise BadInput(f"{path}: slurm: expected a mapping of settings")
        raw["slurm"] = {**(raw.get("slurm") or {}), **slurm}
    try:
        sweep = SweepConfig.model_validate(raw)
    except ValidationError as error:
        raise BadInput(f"{path}: {describe_validation_error(error.errors()[0], raw, SweepConfig)}") from None
    _check_settings_blocks(sweep, path)
    if sweep.average_seeds and len(sweep.matrix.seed) < 2:
        raise BadInput(f"{path}: average_seeds: the matrix has one seed; averaging needs two or more (matrix.seed)")
    if sweep.translate_test:
        _check_translate_test(sweep, path)
    return sweep, path.resolve().parent


def _check_translate_test(sweep: SweepConfig, path: Path) -> None:
    """translate_test: true has a target whose format can be scored translated, and an MT model for its
    stages (in ``stages``, in every such target's ``tasks`` or in every variant)."""
    from stilts.core.catalog import get_task

    targets = [task for task in sweep.matrix.target if _scored_translated(get_task(task, f"{path}: matrix.target"))]
    variants = list((sweep.matrix.variant or {}).values())
    given = (
        "mt_model" in sweep.stages.get(TRANSLATE_TEST_KIND, {})
        or all("mt_model" in sweep.tasks.get(target, {}) for target in targets)
        or (variants and all("mt_model" in variant.get(TRANSLATE_TEST_KIND, {}) for variant in variants))
    )
    if not targets:
        raise BadInput(
            f"{path}: translate_test: no target of the matrix is a classification, sentence-pair or multiple-choice "
            f"task that translate-test can score ({', '.join(sweep.matrix.target)})"
        )
    if not given:
        raise BadInput(
            f"{path}: translate_test: give the MT model that translates the targets' evaluation data into English, "
            "e.g. stages: {translate_test: {mt_model: Helsinki-NLP/opus-mt-{lang}-en}}"
        )


def _scored_translated(task) -> bool:
    return task.format.trains and task.format.scored_translated


def _check_settings_blocks(sweep: SweepConfig, path: Path) -> None:
    """The settings blocks name stage kinds that exist and fields those stages have, and no field the
    matrix sets; an error names the block as it was written, not the expanded pipeline it fails in."""
    from stilts.core.catalog import get_task

    kinds = STAGE_KINDS.names()
    variants = [(f"matrix.variant.{name}", settings) for name, settings in (sweep.matrix.variant or {}).items()]
    slurm_stages = ("slurm.stages", sweep.slurm.stages if sweep.slurm else {})
    kind_blocks: list[tuple[str, Mapping[str, object]]] = [("stages", sweep.stages), slurm_stages, *variants]
    for field, blocks in kind_blocks:
        unknown = set(blocks) - set(kinds)
        if unknown:
            raise BadInput(f"{path}: {field}.{sorted(unknown)[0]}: unknown stage kind (use {', '.join(kinds)})")
    for field, blocks in [("stages", sweep.stages), ("tasks", sweep.tasks), *variants]:
        for block, settings in blocks.items():
            for name in MATRIX_FIELDS:
                if name in settings:
                    raise BadInput(f"{path}: {field}.{block}.{name}: set by the matrix, not here")
    for field, blocks in [("stages", sweep.stages), *variants]:
        for kind, settings in blocks.items():
            _check_fields(settings, STAGE_KINDS.get(kind).config.model_fields, f"{path}: {field}.{kind}")
    any_kind = {name for kind in kinds for name in STAGE_KINDS.get(kind).config.model_fields}
    own = _tasks_with_own_stages(sweep.matrix)
    for task, settings in sweep.tasks.items():  # a task's settings go to those of its stages that have them
        # a misspelt task, or one without a stage of its own: its settings would go nowhere
        get_task(task, f"{path}: tasks.{task}")
        if task not in own:
            raise BadInput(
                f"{path}: tasks.{task}: no stage of the matrix is of '{task}' alone, so these settings would "
                f"apply to nothing (tasks with stages of their own: {', '.join(own)})"
            )
        _check_fields(settings, any_kind, f"{path}: tasks.{task}")


def _tasks_with_own_stages(matrix: SweepMatrix) -> list[str]:
    """The tasks whose `tasks:` settings some stage takes (`_stage`): every target, and every
    intermediate configuration of a single task (a mixture's stage takes no one task's settings)."""
    singles = [
        tasks[0]
        for intermediate, mlm in itertools.product(matrix.intermediate, matrix.mlm)
        if len(tasks := _intermediate_tasks(intermediate, mlm)) == 1
    ]
    return list(dict.fromkeys([*matrix.target, *singles]))


def _intermediate_tasks(intermediate: str, mlm: bool) -> list[str]:
    """The tasks of an intermediate configuration (``mnli+qqp``, or ``none``), with MLM if ``mlm``."""
    return ([] if intermediate == BASELINE else intermediate.split("+")) + ([MLM_TASK] if mlm else [])


def _check_fields(settings: dict, known, where: str) -> None:
    for name in settings:
        if name not in known:
            raise BadInput(f"{where}.{name}: unknown field{did_you_mean(name, known)}")


def pipeline_name(intermediate: str, target: str, seed: int | str, mlm: bool, variant: str | None = None) -> str:
    """``<intermediate>[+mlm]-<target>[-<variant>]-s<seed>``, which `stilts table --by pipeline` takes
    apart again (`stilts.reports.scores.pipeline_row`); the average of seeds 1, 2 and 3 has ``-s1+2+3``."""
    return f"{configuration_name(intermediate, mlm)}-{target}{f'-{variant}' if variant else ''}-s{seed}"


def expand(sweep: SweepConfig, source: str) -> list[PipelineConfig]:
    """One pipeline per combination, ordered so that shared stages come first: by seed, then
    intermediate configuration, then target, then variant (so an intermediate model is trained, then
    reused)."""
    from stilts.core.catalog import get_task

    pipelines = []
    averaged: list[dict] = []  # the seeds' averages (average_seeds), after every seed's own pipelines
    matrix = sweep.matrix
    # no variants: one pipeline per combination, with no settings of a variant's
    variants: dict[str | None, dict] = dict(matrix.variant.items()) if matrix.variant else {None: {}}
    for seed, intermediate, mlm, target, variant in itertools.product(
        matrix.seed, matrix.intermediate, matrix.mlm, matrix.target, variants
    ):
        intermediate_tasks = _intermediate_tasks(intermediate, mlm)
        settings = variants[variant]
        stages = []
        if intermediate_tasks:
            stages.append(_stage(sweep, settings, "intermediate", intermediate_tasks, tasks=intermediate_tasks))
        target_task = get_task(target, f"{source}: matrix.target")
        if target_task.format.trains:
            stages.append(_stage(sweep, settings, "target", [target], task=target))
        stages.append(_stage(sweep, settings, "evaluate", [target], task=target))
        shots = [
            _stage(sweep, settings, "few_shot", [target], task=target, k=k, name=f"{k}{SHOTS_SUFFIX}")
            for k in (matrix.shots if target_task.format.trains else [])
        ]
        translated = (
            [_stage(sweep, settings, TRANSLATE_TEST_KIND, [target], task=target)]
            if sweep.translate_test and _scored_translated(target_task)
            else []
        )
        raw = {
            "name": pipeline_name(intermediate, target, seed, mlm, variant),
            "model": sweep.model,
            "seed": seed,
            "mixed_precision": sweep.mixed_precision,
            "tracking": sweep.tracking,
            "attention": sweep.attention,
            "packing": sweep.packing,
            "data": dict(sweep.data),
            "stages": stages + translated + shots,
        }
        pipelines.append(validate_pipeline(raw, f"{source}: {raw['name']}"))
        if sweep.average_seeds and seed == matrix.seed[0] and target_task.format.trains:
            seeds = "+".join(map(str, matrix.seed))
            averaged.append(
                dict(
                    raw,
                    name=pipeline_name(intermediate, target, seeds, mlm, variant),
                    stages=[*stages[:-1], {"kind": "average", "seeds": list(matrix.seed)}, stages[-1], *translated],
                )
            )
    if sweep.average_seeds and not averaged:
        raise BadInput(
            f"{source}: average_seeds: no target of the matrix trains a model to average "
            f"({', '.join(matrix.target)} evaluate the encoder)"
        )
    return pipelines + [validate_pipeline(raw, f"{source}: {raw['name']}") for raw in averaged]


def _stage(sweep: SweepConfig, variant: dict, kind: str, task_names: list[str], **fields) -> dict:
    """A stage's settings: the kind's (`stages`), then the task's (`tasks`), then the variant's."""
    stage = {"kind": kind, **sweep.stages.get(kind, {})}
    if kind != "intermediate" or len(task_names) == 1:
        # a task's settings go to those of its stages that have the field: its learning rate to the
        # stage that trains on it, not to the one that evaluates it
        known = STAGE_KINDS.get(kind).config.model_fields
        stage.update({name: value for name, value in sweep.tasks.get(task_names[0], {}).items() if name in known})
    stage.update(variant.get(kind, {}))
    stage.update(fields)
    return stage


def only_stage_plans(plans: list, fingerprint: str, source: str) -> list:
    """The pipelines of ``plans`` ((pipeline, stages, data sources)) that have the stage whose
    fingerprint starts with ``fingerprint``, each cut after that stage."""
    matches = {s.fingerprint for _, stages, _ in plans for s in stages if s.fingerprint.startswith(fingerprint)}
    if not matches:
        raise BadInput(
            f"--stage {fingerprint}: no stage of {source} has this fingerprint "
            "(were the sweep file, a --set, or files in a data or model folder changed since the job was submitted?)"
        )
    if len(matches) > 1:
        raise BadInput(f"--stage {fingerprint}: {len(matches)} stages' fingerprints start so; give more of it")
    (wanted,) = matches
    chosen = []
    for pipeline, stages, sources in plans:
        positions = [i for i, stage in enumerate(stages) if stage.fingerprint == wanted]
        if positions:
            chosen.append((pipeline, stages[: positions[0] + 1], sources))
    return chosen
