"""Read every split and language a run will need, and the scores.csv it will write, before any stage
trains.

A malformed line in a file that only the last stage reads would otherwise surface after hours of
training; parsing every file first takes seconds and reports it before anything runs.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from stilts.core.artifacts import locked
from stilts.core.errors import BadInput, MissingSplit, RunFailed
from stilts.data.loading import HUB, DataRead, data_source, load_examples
from stilts.data.readers.layout import collecting_notes
from stilts.pipeline.model_limits import check_model_limits, model_config
from stilts.pipeline.stage_kinds import STAGE_KINDS, PlannedStage
from stilts.reports.scores_file import rows_to_keep

if TYPE_CHECKING:
    from stilts.pipeline.config import PipelineConfig

#: one distinct read: task, split, language, and the data sources it is read with
ReadKey = tuple[str, str, str, tuple]


def stages_to_run(stages: list[PlannedStage]) -> list[PlannedStage]:
    """The stages a run will execute: those not complete, and those after a stage that runs."""
    running: set[str] = set()
    for stage in stages:
        if not stage.complete or any(needed.fingerprint in running for needed in stage.needs):
            running.add(stage.fingerprint)
    return [stage for stage in stages if stage.fingerprint in running]


#: a stage to run, its data sources and the keys of its reads
StageReads = tuple[PlannedStage, dict[str, str], list[ReadKey]]


def planned_reads(
    plans: list[tuple[list[PlannedStage], dict[str, str]]],
) -> tuple[dict[ReadKey, tuple[DataRead, dict[str, str]]], dict[str, StageReads]]:
    """Every distinct (task, split, language, sources) that a stage to run in ``plans`` (stages and
    their data sources) will read, optional only if every stage reading it may do without it; and per
    stage (fingerprint) the stage, its sources and its reads."""
    reads: dict[ReadKey, tuple[DataRead, dict[str, str]]] = {}
    stages_of: dict[str, StageReads] = {}
    for stages, sources in plans:
        for stage in stages_to_run(stages):
            for read in STAGE_KINDS.get(stage.kind).runner.data_reads(stage):
                key = (read.task.name, read.split, read.language, tuple(sorted(sources.items())))
                if key not in reads or reads[key][0].optional:
                    reads[key] = (read, sources)
                stages_of.setdefault(stage.fingerprint, (stage, sources, []))[2].append(key)
    return reads, stages_of


def check_found(stages_of: dict[str, StageReads], found: dict[ReadKey, int]) -> None:
    """Whether each stage can do without the reads the data lacks (`StageRunner.check_found`); a stage
    that may do without each of its reads (an evaluation over whatever languages the data has) still
    needs one of them; then whether the data is large enough for each stage's settings
    (`StageRunner.check_sizes`). ``found``: how many examples each read found (0: the split is missing)."""
    for stage, sources, keys in stages_of.values():
        runner = STAGE_KINDS.get(stage.kind).runner
        runner.check_found(stage, {key[:3]: bool(found[key]) for key in keys}, sources)
        if all(not found[key] for key in keys):
            task = keys[0][0]
            raise BadInput(f"data.{task}: no evaluation data found in {sources.get(task, 'the Hub')}")
        runner.check_sizes(stage, {key[:3]: int(found[key]) for key in keys})


def check_data(plans: list[tuple[list[PlannedStage], dict[str, str]]], log=print) -> int:
    """Load every (task, split, language) that a stage to run in ``plans`` (stages and their data
    sources) will read; the first problem is raised as the BadInput the stage would raise. What the
    readers left out of a file (`stilts.data.readers.layout.note`) is logged. Returns how many distinct reads
    were checked."""
    reads, stages_of = planned_reads(plans)
    if not reads:
        return 0
    started = time.perf_counter()
    with collecting_notes() as notes:
        found = _read_all(reads, plans)
    check_found(stages_of, found)
    log(f"data: read {len(reads)} splits (task, split, language) in {time.perf_counter() - started:.1f} s")
    for line in notes:
        log(f"data: {line}")
    return len(reads)


def _read_all(
    reads: dict[ReadKey, tuple[DataRead, dict[str, str]]], plans: list[tuple[list[PlannedStage], dict[str, str]]]
) -> dict[ReadKey, int]:
    """How many examples each read found (0: an optional read's split is missing)."""
    found: dict[ReadKey, int] = {}
    for key, (read, sources) in tqdm(reads.items(), desc="reading data", unit="split", leave=False):
        try:
            found[key] = len(load_examples(read.task, read.split, read.language, sources))
        except MissingSplit:
            if not read.optional:
                raise
            found[key] = 0
        except (BadInput, RunFailed) as error:
            if read.task.name in sources or data_source(read.task, sources) != HUB:
                raise
            # a task the user never named (XNLI's training data is MNLI's): say why it is read at all
            name = read.task.name
            users = sorted({user for stages, _ in plans for stage in stages for user in _trained_on(stage, name)})
            needs = f"; {', '.join(users)} trains on it" if users else ""
            raise type(error)(f"{error} (data.{name} is not set, so it is read from the Hub{needs})") from None
    return found


def _trained_on(stage: PlannedStage, source: str) -> list[str]:
    """The tasks ``stage`` trains on ``source``'s data though they are other tasks (XNLI on MNLI's)."""
    from stilts.core.catalog import get_task

    trained = []
    for name in stage.settings.get("tasks") or []:
        sources = stage.settings.get("train_tasks") or [get_task(name).train_task or name]
        if source in sources and source != name:
            trained.append(name)
    return trained


def check_models(
    plans: list[tuple[list[PlannedStage], dict[str, str]]], model_path: str, *, dry_run: bool = False
) -> None:
    """A model named by Hub id can be loaded (`check_hub_model`: cached, or the Hub has it); a model
    folder's tokenizer reads text (`stilts.training.model.load_tokenizer`; not in a dry run, which does not
    spend the seconds transformers takes to import; a Hub model's tokenizer is checked where the first
    stage loads it; the folder's weights were checked where the pipeline's `model:` was resolved,
    `stilts.pipeline.engine.resolve_model_reference`); then every stage to run checks its settings against it: the
    limits of its config.json (`check_model_limits`), then the stage kind's own checks
    (`StageRunner.check_model`), and the Hub models it loads besides (`StageRunner.hub_models`); every stage
    of a pipeline has the architecture of its first."""
    running = any(stages_to_run(stages) for stages, _ in plans)
    # a local or offline model is an absolute path (`resolve_model_reference`; a dry run's offline model
    # may not be installed yet); anything else names a model on the Hub
    if not Path(model_path).is_absolute() and running:
        from stilts.data.hub import check_hub_model

        check_hub_model(model_path, "model")
    if Path(model_path).is_dir() and running and not dry_run:
        from stilts.training.model import load_tokenizer

        load_tokenizer(model_path)
    checked: set[str] = set()
    for stages, _ in plans:
        for stage in stages_to_run(stages):
            check_model_limits(stage, model_path)
            runner = STAGE_KINDS.get(stage.kind).runner
            runner.check_model(stage, model_path)
            for where, model_id in runner.hub_models(stage):  # the stage's own models (translate-test's MT)
                if model_id not in checked:
                    from stilts.data.hub import check_hub_model

                    check_hub_model(model_id, where)
                    checked.add(model_id)


def check_attention(pipelines: list[tuple[PipelineConfig, list[PlannedStage]]], model_path: str, *, here: bool) -> None:
    """Each pipeline's ``attention`` and ``packing`` against the class of its model (its config.json,
    `stilts.pipeline.model_limits.model_config`) and, where ``here``, this machine, before any stage
    runs: BadInput naming the pipeline and the field (`stilts.training.attention.attention_problem`).
    Not ``here`` for a sweep submitted to Slurm: each job checks its node where it loads the model.
    Nothing to check (and nothing imported) for ``attention: auto`` without packing."""
    for pipeline, stages in pipelines:
        running = stages_to_run(stages)
        packing = pipeline.packing and any(STAGE_KINDS.get(stage.kind).produces_model for stage in running)
        if not running or (pipeline.attention == "auto" and not packing):
            continue
        from stilts.training.attention import Machine, attention_problem
        from stilts.training.devices import mixed_precision_for

        model_class, model_type = _model_class(model_path)
        machine = Machine.here(mixed_precision_for(pipeline.mixed_precision)) if here else None
        problem = attention_problem(pipeline.attention, model_class, model_type, packing=packing, machine=machine)
        if problem is None and packing:
            from stilts.formats.packing import packing_problem

            layers = packing_problem((model_config(model_path) or {}).get("layer_types"))
            problem = f"packing: the {model_type} encoder cannot be packed: {layers}" if layers else None
        if problem:
            source = running[0].where.rpartition(": stages[")[0] or running[0].where
            raise BadInput(f"{source}: {problem}")


def _model_class(model_path: str) -> tuple[type | None, str | None]:
    """The transformers base-model class of the model's config.json, and its model type; (None, None)
    where the config cannot be had or transformers does not know its type (loading says why)."""
    config = model_config(model_path)
    if config is None or not isinstance(config.get("model_type"), str):
        return None, None
    from transformers import AutoConfig

    from stilts.training.encoder_class import base_model_class

    try:
        fields = {key: value for key, value in config.items() if key != "model_type"}
        return base_model_class(AutoConfig.for_model(config["model_type"], **fields)), config["model_type"]
    except (KeyError, ValueError, TypeError):
        return None, config["model_type"]


def check_scores_file(plans: list[tuple[list[PlannedStage], dict[str, str]]], run_dir: Path, dry_run: bool) -> None:
    """A run of ``plans`` with a stage that scores (an evaluation, run or reused: either writes its rows)
    writes the run folder's scores.csv again, perhaps after hours of training: a file with a row it
    could not keep, or a lock file beside it that is a symbolic link, is refused now (RunFailed, naming
    the file and the line). A dry run writes nothing, the lock file neither."""
    runners = ((STAGE_KINDS.get(stage.kind).runner, stage) for stages, _ in plans for stage in stages)
    if not any(runner.scored_reads(stage) for runner, stage in runners):
        return
    path = run_dir / "scores.csv"
    with contextlib.nullcontext() if dry_run else locked(path):
        rows_to_keep(path)
