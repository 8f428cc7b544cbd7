"""The pipeline engine: resolve stages, fingerprint them, run what is not complete yet.

A stage's fingerprint is a hash of its fully resolved settings (paper defaults filled in) plus the
fingerprint of the stage whose model it starts from, so two pipelines that share a stage share its
artifacts folder ``<run_dir>/<stage_name>-<fingerprint[:8]>/``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from stilts import defaults
from stilts.artifacts import is_complete, locked, mark_complete, write_json_atomic
from stilts.config import NOT_FINGERPRINTED, PipelineConfig, stage_name
from stilts.data import HUB, training_task
from stilts.errors import BadInput, did_you_mean
from stilts.registry import TRANSLATED_MARK, all_tasks, base_task_name, get_task

OFFLINE_PREFIX = "offline/"
TRAINING_KINDS = ("intermediate", "target")


@dataclass
class PlannedStage:
    index: int
    name: str
    kind: str
    #: every setting the stage runs with, defaults resolved; what the fingerprint hashes
    settings: dict
    fingerprint: str
    folder: Path
    #: the stage whose model/ this one starts from (None: the pipeline's model)
    upstream: "PlannedStage | None"
    #: the stage as written, for settings that are not fingerprinted (e.g. evaluation batch size)
    config: object = None

    @property
    def complete(self) -> bool:
        return is_complete(self.folder)


@dataclass
class RunContext:
    """What every stage runner needs besides its own settings."""

    pipeline: PipelineConfig
    model_path: str  # the pipeline's starting model, resolved to something from_pretrained takes
    data_sources: dict[str, str]  # task name -> absolute folder or "hub"
    run_dir: Path
    accelerator: object
    log: object = print

    @property
    def scores_path(self) -> Path:
        return self.run_dir / "scores.csv"


def fingerprint_of(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- planning ----------------------------------------------------------------------------------


def resolve_data_sources(pipeline: PipelineConfig, base_dir: Path, source: str) -> dict[str, str]:
    known = all_tasks()
    resolved = {}
    for task_name, location in pipeline.data.items():
        if TRANSLATED_MARK in task_name:  # a translated variant `<task>@<lang>`: checked by the registry
            get_task(task_name, f"{source}: data.{task_name}")
        elif task_name not in known:
            raise BadInput(f"{source}: data.{task_name}: unknown task{did_you_mean(task_name, known)}")
        if location == HUB:
            resolved[task_name] = HUB
            continue
        folder = (base_dir / Path(location).expanduser()).resolve()
        if not folder.is_dir():
            raise BadInput(f"{source}: data.{task_name}: no such folder {folder}")
        resolved[task_name] = str(folder)
    return resolved


def resolve_model_reference(reference: str, base_dir: Path, source: str, install: bool = True) -> str:
    """A local folder (relative to the YAML), a Hub id, or a named offline model (installed on
    first use unless ``install`` is false, as for a dry run)."""
    if reference.startswith(OFFLINE_PREFIX):
        from stilts.offline import registry

        try:
            if not install:
                return str(registry.model_path(reference[len(OFFLINE_PREFIX):]))
            return registry.resolve_model(reference)
        except BadInput as error:
            raise BadInput(f"{source}: model: {error}") from None
    local = (base_dir / Path(reference).expanduser())
    looks_local = reference.startswith((".", "/", "~")) or local.exists()
    if looks_local:
        if not local.is_dir():
            raise BadInput(f"{source}: model: no such folder {local.resolve()}")
        return str(local.resolve())
    return reference


def _check_task(name: str, kind: str, where: str):
    task = get_task(name, where)
    if kind not in task.phases:
        allowed = ", ".join(sorted(task.phases))
        raise BadInput(f"{where}: task '{name}' cannot be used in a {kind} stage (it can in: {allowed})")
    return task


def _training_settings(stage, tasks, pipeline: PipelineConfig) -> dict:
    """The stage's settings with the paper's defaults filled in where the YAML leaves them unset."""
    table = defaults.INTERMEDIATE_BATCH_EPOCHS if stage.kind == "intermediate" else defaults.TARGET_BATCH_EPOCHS
    paper = {name: table.get(base_task_name(name), defaults.FALLBACK_BATCH_EPOCHS) for name in tasks}
    if stage.kind == "intermediate":
        with_mlm = "mlm" in tasks
        paper_lr = defaults.INTERMEDIATE_LEARNING_RATE_WITH_MLM if with_mlm else defaults.INTERMEDIATE_LEARNING_RATE
    else:
        paper_lr = defaults.TARGET_LEARNING_RATE
    # a mixture runs 3 epochs over the capped task sizes ("mixed/3"); one task runs its own epochs
    paper_epochs = defaults.MULTITASK_EPOCHS if len(tasks) > 1 else paper[tasks[0]][1]
    settings = stage.model_dump(exclude=NOT_FINGERPRINTED[stage.kind] | {"batch_size", "task"})
    settings.update(
        max_length=stage.max_length or max(get_task(t).format.default_max_length for t in tasks),
        learning_rate=stage.learning_rate or paper_lr,
        # the paper's "mixed" setting: each task keeps its own batch size unless the stage sets one
        batch_sizes={name: stage.batch_size or paper[name][0] for name in tasks},
        epochs=stage.epochs or paper_epochs or 1,
        tasks=list(tasks),
        seed=pipeline.seed,
        mixed_precision=pipeline.mixed_precision,
    )
    return settings


def plan_pipeline(pipeline: PipelineConfig, base_dir: Path, run_dir: Path,
                  source: str) -> tuple[list[PlannedStage], dict[str, str]]:
    """Check the stages against the catalog and each other, resolve defaults, fingerprint.
    Returns the stages and the resolved data sources (task name -> folder or hub)."""
    data_sources = resolve_data_sources(pipeline, base_dir, source)
    planned: list[PlannedStage] = []
    last_model_stage: PlannedStage | None = None
    names_seen = set()
    for index, stage in enumerate(pipeline.stages):
        where = f"{source}: stages[{index}]"
        name = stage_name(stage)
        if name in names_seen:
            raise BadInput(f"{where}.name: two stages are named '{name}'; give each a distinct name")
        names_seen.add(name)
        if stage.kind in TRAINING_KINDS:
            task_names = stage.tasks if stage.kind == "intermediate" else [stage.task]
            field = "tasks" if stage.kind == "intermediate" else "task"
            tasks = [_check_task(t, stage.kind, f"{where}.{field}" + (f"[{i}]" if field == "tasks" else ""))
                     for i, t in enumerate(task_names)]
            if stage.kind == "intermediate" and last_model_stage and last_model_stage.kind == "target":
                raise BadInput(f"{where}.kind: an intermediate stage cannot follow a target stage")
            settings = _training_settings(stage, task_names, pipeline)
            for i, source_name in enumerate(getattr(stage, "train_tasks", None) or []):
                source_task = get_task(source_name, f"{where}.train_tasks[{i}]")
                if source_task.labels != tasks[0].labels or source_task.format.name != tasks[0].format.name:
                    raise BadInput(f"{where}.train_tasks[{i}]: '{source_name}' cannot train '{tasks[0].name}': "
                                   f"its format or labels differ")
                tasks.append(source_task)  # its data source is part of the stage's identity
            weights = settings.get("mixing_weights")
            if weights is not None and set(weights) != set(task_names):
                raise BadInput(f"{where}.mixing_weights: give a weight for exactly the stage's tasks "
                               f"({', '.join(task_names)})")
            data_tasks = ({training_task(t).name for t in tasks} | {t.name for t in tasks}
                          | {part for t in tasks for part in t.parts})
        else:
            task = _check_task(stage.task, "evaluate", f"{where}.task")
            if task.format.trains and not (last_model_stage and last_model_stage.kind == "target"
                                           and last_model_stage.settings["tasks"] == [task.name]):
                raise BadInput(f"{where}.task: evaluating '{task.name}' needs a target stage for "
                               f"'{task.name}' right before it (its head is trained there)")
            for i, language in enumerate(stage.languages or []):
                if language not in task.languages:
                    raise BadInput(f"{where}.languages[{i}]: '{language}' is not a language of "
                                   f"{task.name}{did_you_mean(language, task.languages)}")
            settings = stage.model_dump(exclude=NOT_FINGERPRINTED["evaluate"])
            settings.update(seed=pipeline.seed, max_length=stage.max_length or task.format.default_max_length)
            data_tasks = {task.name}
        settings["data"] = {t: pipeline.data.get(t, HUB) for t in sorted(data_tasks)}
        upstream = last_model_stage
        payload = {"kind": stage.kind, "settings": settings,
                   "upstream": upstream.fingerprint if upstream else f"model:{pipeline.model}"}
        fingerprint = fingerprint_of(payload)
        planned_stage = PlannedStage(index, name, stage.kind, settings, fingerprint,
                                     run_dir / f"{name}-{fingerprint[:8]}", upstream, stage)
        planned.append(planned_stage)
        if stage.kind in TRAINING_KINDS:
            last_model_stage = planned_stage
    return planned, data_sources


def score_labels(pipeline: PipelineConfig) -> dict:
    """The `intermediate` and `mlm` columns of scores.csv for this pipeline."""
    intermediate = [t for stage in pipeline.stages if stage.kind == "intermediate" for t in stage.tasks]
    named = [t for t in intermediate if t != "mlm"]
    return {"intermediate": "+".join(named) if named else "none", "mlm": "mlm" in intermediate}


# --- running -----------------------------------------------------------------------------------


def run_stages(stages: list[PlannedStage], context: RunContext) -> None:
    from stilts.stages import STAGE_RUNNERS

    rerun: set[str] = set()  # a stage whose input was just retrained must run again too

    def reusable(stage: PlannedStage) -> bool:
        return stage.complete and not (stage.upstream and stage.upstream.fingerprint in rerun)

    for stage in stages:
        header = f"[{stage.index + 1}/{len(stages)}] {stage.kind} '{stage.name}' ({stage.fingerprint[:8]})"
        if reusable(stage):
            context.log(f"{header}: complete, skipping ({stage.folder})")
            STAGE_RUNNERS[stage.kind].on_skip(stage, context)
            continue
        with _stage_lock(stage, context):
            if reusable(stage):  # another process finished it while this one waited
                context.log(f"{header}: completed by another process, skipping ({stage.folder})")
                STAGE_RUNNERS[stage.kind].on_skip(stage, context)
                continue
            _run_stage(stage, context, header, STAGE_RUNNERS[stage.kind])
            rerun.add(stage.fingerprint)


@contextlib.contextmanager
def _stage_lock(stage: PlannedStage, context: RunContext):
    """One process at a time in a stage folder (runs and sweeps sharing a run folder); with several
    processes of one distributed run, the main one holds it for all."""
    accelerator = context.accelerator
    if not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        yield
        return
    with locked(stage.folder, on_wait=lambda: context.log(
            f"  waiting: another process is running {stage.folder.name}")):
        accelerator.wait_for_everyone()
        yield


def _run_stage(stage: PlannedStage, context: RunContext, header: str, runner) -> None:
    accelerator = context.accelerator
    # an earlier run that stopped inside this stage left its checkpoints there: the stage resumes
    resuming = (stage.folder / "checkpoints").is_dir()
    context.log(f"{header}: {'resuming' if resuming else 'running'} -> {stage.folder}")
    if accelerator.is_main_process:
        stage.folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    metrics = runner.run(stage, context)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_atomic(stage.folder / "config.json", {
            "name": stage.name, "kind": stage.kind, "fingerprint": stage.fingerprint,
            "pipeline": context.pipeline.name, "model": context.pipeline.model,
            "upstream": str(stage.upstream.folder) if stage.upstream else None,
            "settings": stage.settings})
        write_json_atomic(stage.folder / "metrics.json", metrics)
        mark_complete(stage.folder)
        # the stage's model/ is its result; the checkpoints that made it resumable can go
        shutil.rmtree(stage.folder / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()


def blocking_failure(stages: list[PlannedStage], failed_stages: dict[str, str]) -> str | None:
    """Why a pipeline cannot run, if it needs a stage that already failed (fingerprint -> reason)."""
    reason = next((failed_stages[s.fingerprint] for s in stages if s.fingerprint in failed_stages), None)
    return f"needs a stage that failed: {reason}" if reason else None


def failure_reason(stages: list[PlannedStage], error: BaseException) -> tuple[PlannedStage, str]:
    """The stage a failed pipeline stopped in, and one line saying so."""
    stage = next((s for s in stages if not s.complete), stages[-1])
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return stage, f"{stage.kind} '{stage.name}' ({stage.fingerprint[:8]}): {message}"
