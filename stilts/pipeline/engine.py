"""The pipeline engine: resolve stages, fingerprint them, run what is not complete yet.

A stage's fingerprint is a hash of its fully resolved settings (paper defaults filled in), the content
of its tasks' local data folders, and the fingerprint of the stage whose model it starts from (for the
first, the model: its Hub id or offline name, or the content of a local folder), so two pipelines that
share a stage share its artifacts folder ``<run_dir>/<stage_name>-<fingerprint[:8]>/``. Paths are not
part of it: the same data spelled two ways is one stage, and other data behind the same path is another.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import time
from pathlib import Path

from stilts.core.artifacts import (
    clear_failed,
    is_complete,
    locked,
    mark_complete,
    mark_failed,
    read_json,
    write_json_atomic,
)
from stilts.core.catalog import TASK_FAMILIES, TASKS, get_task
from stilts.core.errors import BadInput, did_you_mean, one_line
from stilts.core.interrupts import Interrupted
from stilts.core.names import BASELINE, MLM_TASK
from stilts.data.content import file_sha256, folder_sha256
from stilts.data.hub import cached_model_sha
from stilts.data.loading import HUB, data_source, recording_origins
from stilts.offline.registry import OFFLINE_PREFIX
from stilts.pipeline.config import PipelineConfig, local_model_folder, stage_name
from stilts.pipeline.overlap import check_overlap
from stilts.pipeline.stage_kinds import STAGE_KINDS, PlanContext, PlannedStage, RunContext
from stilts.training.checkpoints import saved_steps
from stilts.training.weights import folder_problem


def fingerprint_of(payload: dict) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- planning ----------------------------------------------------------------------------------


def resolve_data_sources(pipeline: PipelineConfig, base_dir: Path, source: str) -> dict[str, str]:
    resolved = {}
    for task_name, location in pipeline.data.items():
        if task_name not in TASKS:
            if not any(family.mark in task_name for _, family in TASK_FAMILIES.items()):
                raise BadInput(f"{source}: data.{task_name}: unknown task{did_you_mean(task_name, TASKS.names())}")
            get_task(task_name, f"{source}: data.{task_name}")  # made on demand (`<task>@<lang>`): checks it
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
                return str(registry.model_path(reference[len(OFFLINE_PREFIX) :]))
            return registry.resolve_model(reference)
        except BadInput as error:
            raise BadInput(f"{source}: model: {error}") from None
    local = _local_model_folder(reference, base_dir, source)
    if local is None:
        return reference
    # weights that cannot be loaded (empty, cut short, a pickle that would run code) are bad input,
    # refused here, before any stage trains, rather than when the first stage loads them
    problem = folder_problem(local)
    if problem is not None:
        raise BadInput(f"{source}: model: {problem}")
    return str(local)


def _local_model_folder(reference: str, base_dir: Path, source: str) -> Path | None:
    local = local_model_folder(reference, base_dir)
    if local is not None and not local.is_dir():
        raise BadInput(f"{source}: model: no such folder {local}")
    return local


def model_identity(reference: str, base_dir: Path, source: str) -> str:
    """What the first stage of a pipeline starts from, for its fingerprint: a Hub id or offline name
    as written (the name is the identity), a local folder by its content (not its path)."""
    local = _local_model_folder(reference, base_dir, source)
    return f"model:{reference}" if local is None else f"model:sha256:{folder_sha256(local)}"


def plan_pipeline(
    pipeline: PipelineConfig, base_dir: Path, run_dir: Path, source: str
) -> tuple[list[PlannedStage], dict[str, str]]:
    """Check the stages against the catalog and each other, resolve defaults, fingerprint.
    Returns the stages and the resolved data sources (task name -> folder or hub)."""
    data_sources = resolve_data_sources(pipeline, base_dir, source)
    model = model_identity(pipeline.model, base_dir, source)
    contents: dict[str, str] = {}  # data folder -> "sha256:<its content>", hashed once per plan

    def data_identity(task: str) -> str:
        location = data_source(get_task(task), data_sources)
        if location != HUB and location not in contents:
            contents[location] = f"sha256:{folder_sha256(Path(location))}"
        return contents.get(location, HUB)

    planned: list[PlannedStage] = []
    by_fingerprint: dict[str, PlannedStage] = {}
    last_model_stage: PlannedStage | None = None
    earlier_fingerprints: dict[str, str] = {}  # fingerprint -> the stage's fingerprint in stilts 0.1
    in_earlier_folder: set[str] = set()  # stages whose folder is the one stilts 0.1 gave them
    names_seen = set()
    for index, stage in enumerate(pipeline.stages):
        where = f"{source}: stages[{index}]"
        name = stage_name(stage)
        if name in names_seen:
            raise BadInput(f"{where}.name: two stages are named '{name}'; give each a distinct name")
        names_seen.add(name)
        kind = STAGE_KINDS.get(stage.kind, f"{where}.kind")

        def with_seed(seed: int, before: int = index) -> list[PlannedStage]:
            other = pipeline.model_copy(update={"seed": seed, "stages": pipeline.stages[:before]})
            return plan_pipeline(other, base_dir, run_dir, source)[0]

        plan = kind.plan(stage, PlanContext(pipeline, where, last_model_stage, with_seed, base_dir))
        tasks = sorted(plan.data_tasks)
        settings = dict(plan.settings, data={t: data_identity(t) for t in tasks})
        upstream = last_model_stage
        inputs: tuple[PlannedStage, ...] = ()
        if plan.inputs:  # the stages whose models it combines, and theirs, join the pipeline before it
            for chain in _chains(plan.inputs):
                for needed in chain:
                    if needed.fingerprint not in by_fingerprint:
                        planned.append(needed)
                        by_fingerprint[needed.fingerprint] = needed
                        earlier_fingerprints.setdefault(needed.fingerprint, needed.fingerprint)
            inputs = tuple(by_fingerprint[each.fingerprint] for each in plan.inputs)
            start = inputs[0].upstream
            upstream = by_fingerprint[start.fingerprint] if start else None
        fingerprint = fingerprint_of(
            {"kind": stage.kind, "settings": settings, "upstream": upstream.fingerprint if upstream else model}
        )
        earlier = fingerprint_of(
            {
                "kind": stage.kind,
                "settings": dict(plan.settings, data={t: pipeline.data.get(t, HUB) for t in tasks}),
                "upstream": earlier_fingerprints[upstream.fingerprint] if upstream else f"model:{pipeline.model}",
            }
        )
        earlier_fingerprints[fingerprint] = earlier
        folder, earlier_folder = run_dir / f"{name}-{fingerprint[:8]}", run_dir / f"{name}-{earlier[:8]}"
        # a stage made by stilts 0.1 is reused from its folder when its inputs are unchanged; not one
        # after a stage that is not (that one runs again, in its new folder)
        if not is_complete(folder) and (upstream is None or upstream.fingerprint in in_earlier_folder):
            if _made_earlier_from_same_inputs(earlier_folder, earlier, tasks, data_sources):
                folder = earlier_folder
        if folder == earlier_folder:
            in_earlier_folder.add(fingerprint)
        planned_stage = PlannedStage(
            index, name, stage.kind, settings, fingerprint, folder, upstream, stage, where=where, inputs=inputs
        )
        planned.append(planned_stage)
        by_fingerprint[fingerprint] = planned_stage
        if kind.produces_model:
            last_model_stage = planned_stage
    folders = tuple(each.folder.name for each in planned)
    for each in planned:
        each.pipeline_folders = folders
    check_overlap(planned, source)
    return planned, data_sources


def _chains(stages) -> list[list[PlannedStage]]:
    """Each of ``stages`` after what it needs (`PlannedStage.needs`, recursively), first things first."""
    chains = []
    for stage in stages:
        chain: list[PlannedStage] = []
        for needed in stage.needs:
            chain += [each for part in _chains([needed]) for each in part]
        chains.append([*chain, stage])
    return chains


def _made_earlier_from_same_inputs(
    folder: Path, fingerprint: str, tasks: list[str], data_sources: dict[str, str]
) -> bool:
    """Whether ``folder`` is a complete stage made by stilts 0.1 (whose ``fingerprint`` hashed the data
    and model paths as written) from the data the stage would read now.

    Its config.json says what it read: the sha256 of each local file (``sources``), each compared with
    the same file in the task's folder now; a stage made before that record only names its data folders
    (``data``), which must be the ones the stage resolves to now. A local model folder was recorded by
    the path written in the YAML only, so it is taken to be the folder that path names now.
    """
    if not is_complete(folder):
        return False
    record = read_json(folder / "config.json")
    if record.get("fingerprint") != fingerprint:
        return False
    local = [task for task in tasks if data_sources.get(task, HUB) != HUB]
    if "sources" not in record:
        recorded = record.get("data") or {}
        return all(recorded.get(task) == data_sources[task] for task in local)
    for read in record["sources"]:
        origin = read.get("from", {})
        if "local" not in origin:
            continue
        here = data_sources.get(read.get("task"), HUB)
        if here == HUB:
            return False
        for name, sha in origin.get("files", {}).items():
            path = Path(here) / name  # an absolute name (a file outside the folder) stays as it is
            if not path.is_file() or file_sha256(path) != sha:
                return False
    return True


def score_labels(pipeline: PipelineConfig) -> dict:
    """The `intermediate` and `mlm` columns of scores.csv for this pipeline: the MLM task has its own
    column instead of a place in the `intermediate` name, which is BASELINE without intermediate tasks
    (docs/concepts.md, "scores.csv")."""
    intermediate = [t for stage in pipeline.stages for t in STAGE_KINDS.get(stage.kind).intermediate_tasks(stage)]
    named = [t for t in intermediate if t != MLM_TASK]
    return {"intermediate": "+".join(named) if named else BASELINE, "mlm": MLM_TASK in intermediate}


# --- running -----------------------------------------------------------------------------------


def run_stages(stages: list[PlannedStage], context: RunContext) -> None:
    rerun: set[str] = set()  # a stage whose input was just retrained must run again too

    def reusable(stage: PlannedStage) -> bool:
        return stage.complete and not any(needed.fingerprint in rerun for needed in stage.needs)

    for position, stage in enumerate(stages, 1):
        # stages[i]: the stage as an error about it names it (and --set stages.i addresses it); a stage an
        # `average` stage needs from the pipeline with another seed is that pipeline's stages[i]
        place = f"[{position}/{len(stages)}] stages[{stage.index}]"
        if stage.settings.get("seed", context.pipeline.seed) != context.pipeline.seed:
            place += f" (seed {stage.settings['seed']})"
        header = f"{place} {stage.kind} '{stage.name}' ({stage.fingerprint[:8]})"
        if reusable(stage):
            context.log(f"{header}: complete, skipping ({stage.folder})")
            STAGE_KINDS.get(stage.kind).runner.on_skip(stage, context)
            continue
        with _stage_lock(stage, context):
            if reusable(stage):  # another process finished it while this one waited
                context.log(f"{header}: completed by another process, skipping ({stage.folder})")
                STAGE_KINDS.get(stage.kind).runner.on_skip(stage, context)
                continue
            _run_stage(stage, context, header, STAGE_KINDS.get(stage.kind).runner)
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
    with locked(
        stage.folder, on_wait=lambda: context.log(f"  waiting: another process is running {stage.folder.name}")
    ):
        accelerator.wait_for_everyone()
        yield


def _run_stage(stage: PlannedStage, context: RunContext, header: str, runner) -> None:
    accelerator = context.accelerator
    # an earlier run that stopped inside this stage left its checkpoints there: the stage resumes
    resuming = (stage.folder / "checkpoints").is_dir()
    context.log(f"{header}: {'resuming' if resuming else 'running'} -> {stage.folder}")
    if accelerator.is_main_process:
        stage.folder.mkdir(parents=True, exist_ok=True)
        clear_failed(stage.folder)
    accelerator.wait_for_everyone()
    started = time.monotonic()
    try:
        with recording_origins() as origins:
            metrics = runner.run(stage, context)
    except Interrupted as stop:  # a stop, not a failure: say what the next run starts from
        stop.detail = _what_was_kept(stage, stop.detail)
        raise
    except Exception as error:
        if accelerator.is_main_process:
            mark_failed(stage.folder, one_line(error))  # for `stilts status`
        raise
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json_atomic(
            stage.folder / "config.json",
            {
                "name": stage.name,
                "kind": stage.kind,
                "fingerprint": stage.fingerprint,
                "pipeline": context.pipeline.name,
                "model": context.pipeline.model,
                "upstream": str(stage.upstream.folder) if stage.upstream else None,
                "settings": stage.settings,
                # where the stage's data came from (`stilts predict` reads other splits from there)
                "data": context.data_sources,
                # what was read: each split's files and their sha256, or the Hub revision served
                "sources": origins,
                # the commit of a Hub model the run started from (None: a local folder)
                "model_sha": None if Path(context.model_path).is_dir() else cached_model_sha(context.model_path),
                # how long the run that completed it took (`stilts status`); not fingerprinted
                "seconds": round(time.monotonic() - started, 1),
                # the processes that ran it (accelerate launch, torchrun): batch sizes are global
                "processes": accelerator.num_processes,
            },
        )
        write_json_atomic(stage.folder / "metrics.json", metrics)
        mark_complete(stage.folder)
        # the stage's model/ is its result; the checkpoints that made it resumable can go
        shutil.rmtree(stage.folder / "checkpoints", ignore_errors=True)
    accelerator.wait_for_everyone()
    summary = runner.summary(metrics)
    took = duration(time.monotonic() - started)  # a resumed stage's summary says from which step
    context.log(f"  {stage.kind} '{stage.name}' done in {took}" + (f": {summary}" if summary else ""))
    for warning in metrics.get("warnings", []):
        context.log(f"  warning: {warning}")


def _what_was_kept(stage: PlannedStage, where: str) -> str:
    """What an interrupted stage leaves for the next run: its newest checkpoint, or nothing."""
    what = f"{stage.kind} '{stage.name}' stopped" + (f" {where}" if where else "")
    kept = STAGE_KINDS.get(stage.kind).runner.kept_when_stopped(stage)
    if kept is not None:
        return f"{what}; {kept}"
    steps = saved_steps(stage.folder / "checkpoints")
    if not steps:
        return f"{what}; nothing of it is kept (no checkpoint yet): the same command runs it again from its start"
    step, path = steps[-1]
    return (
        f"{what}; kept: its checkpoint at optimizer step {step}, {path}; run the same command again to resume from it"
    )


def duration(seconds: float) -> str:
    """A time span for people: '42 s', '3 min 5 s', '2 h 7 min'."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def blocking_failure(stages: list[PlannedStage], failed_stages: dict[str, str]) -> str | None:
    """Why a pipeline cannot run, if it needs a stage that already failed (fingerprint -> reason)."""
    reason = next((failed_stages[s.fingerprint] for s in stages if s.fingerprint in failed_stages), None)
    return f"needs a stage that failed: {reason}" if reason else None


def failure_reason(stages: list[PlannedStage], error: BaseException) -> tuple[PlannedStage, str]:
    """The stage a failed pipeline stopped in, and one line saying so."""
    stage = next((s for s in stages if not s.complete), stages[-1])
    return stage, f"{stage.kind} '{stage.name}' ({stage.fingerprint[:8]}): {one_line(error)}"
