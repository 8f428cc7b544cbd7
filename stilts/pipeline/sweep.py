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
from stilts.core.names import BASELINE, MLM_TASK, configuration_name
from stilts.core.numbers import Seed
from stilts.pipeline.config import (
    SAFE_NAME,
    PipelineConfig,
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
#: stage fields the matrix sets, which `stages`, `tasks` and variants may not
MATRIX_FIELDS = ("kind", "task", "tasks")

#: settings per stage kind, e.g. {intermediate: {epochs: 1}, evaluate: {max_examples: 500}}
StageSettings = dict[str, dict[str, Any]]


class SweepMatrix(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: intermediate configurations: a task name, several joined with '+', or `none` (the baseline)
    intermediate: Annotated[list[str], Field(min_length=1)] = [BASELINE]
    target: Annotated[list[str], Field(min_length=1)]
    seed: Annotated[list[Seed], Field(min_length=1)] = [1]
    mlm: Annotated[list[bool], Field(min_length=1)] = [False]
    #: name -> settings per stage kind, applied after `stages` and `tasks`, e.g.
    #: {de: {target: {train_languages: [de]}}}; none: one unnamed variant, the settings as they are
    variant: Annotated[dict[str, StageSettings], Field(min_length=1)] | None = None

    @field_validator("seed", "intermediate", "target", "mlm")  # the matrix's lists, not stage kinds
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
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=SAFE_NAME)]
    model: str
    mixed_precision: str = "auto"
    tracking: str = "none"
    data: dict[str, str] = Field(default_factory=dict)
    #: settings for every stage of a kind
    stages: StageSettings = Field(default_factory=dict)
    #: settings for one task's stages, e.g. {xnli: {batch_size: 8}}; applied after `stages`, each to the
    #: stages whose kind has the field
    tasks: dict[str, dict[str, Any]] = Field(default_factory=dict)
    matrix: SweepMatrix
    #: what each stage's job asks for when the sweep is submitted to Slurm (`stilts.pipeline.slurm.settings`)
    slurm: SlurmConfig | None = None


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
    return sweep, path.resolve().parent


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


def pipeline_name(intermediate: str, target: str, seed: int, mlm: bool, variant: str | None = None) -> str:
    """``<intermediate>[+mlm]-<target>[-<variant>]-s<seed>``, which `stilts table --by pipeline` takes
    apart again (`stilts.reports.scores.pipeline_row`)."""
    return f"{configuration_name(intermediate, mlm)}-{target}{f'-{variant}' if variant else ''}-s{seed}"


def expand(sweep: SweepConfig, source: str) -> list[PipelineConfig]:
    """One pipeline per combination, ordered so that shared stages come first: by seed, then
    intermediate configuration, then target, then variant (so an intermediate model is trained, then
    reused)."""
    from stilts.core.catalog import get_task

    pipelines = []
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
        raw = {
            "name": pipeline_name(intermediate, target, seed, mlm, variant),
            "model": sweep.model,
            "seed": seed,
            "mixed_precision": sweep.mixed_precision,
            "tracking": sweep.tracking,
            "data": dict(sweep.data),
            "stages": stages,
        }
        pipelines.append(validate_pipeline(raw, f"{source}: {raw['name']}"))
    return pipelines


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
