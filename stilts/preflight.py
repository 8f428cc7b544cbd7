"""Read every split and language a run will need before any stage trains.

A malformed line in a file that only the last stage reads would otherwise surface after hours of
training; parsing every file first takes seconds and reports it before anything runs.
"""

from __future__ import annotations

import time

from tqdm.auto import tqdm

from stilts.data import DataRead, load_examples
from stilts.errors import BadInput, MissingSplit
from stilts.stage_kinds import STAGE_KINDS, PlannedStage

#: one distinct read: task, split, language, and the data sources it is read with
ReadKey = tuple[str, str, str, tuple]


def stages_to_run(stages: list[PlannedStage]) -> list[PlannedStage]:
    """The stages a run will execute: those not complete, and those after a stage that runs."""
    running: set[str] = set()
    for stage in stages:
        if not stage.complete or (stage.upstream and stage.upstream.fingerprint in running):
            running.add(stage.fingerprint)
    return [stage for stage in stages if stage.fingerprint in running]


def planned_reads(
    plans: list[tuple[list[PlannedStage], dict[str, str]]],
) -> tuple[dict[ReadKey, tuple[DataRead, dict[str, str]]], dict[str, tuple[dict[str, str], list[ReadKey]]]]:
    """Every distinct (task, split, language, sources) that a stage to run in ``plans`` (stages and
    their data sources) will read, optional only if every stage reading it may do without it; and per
    stage (fingerprint) its sources and reads."""
    reads: dict[ReadKey, tuple[DataRead, dict[str, str]]] = {}
    stages_of: dict[str, tuple[dict[str, str], list[ReadKey]]] = {}
    for stages, sources in plans:
        for stage in stages_to_run(stages):
            for read in STAGE_KINDS.get(stage.kind).runner.data_reads(stage):
                key = (read.task.name, read.split, read.language, tuple(sorted(sources.items())))
                if key not in reads or reads[key][0].optional:
                    reads[key] = (read, sources)
                stages_of.setdefault(stage.fingerprint, (sources, []))[1].append(key)
    return reads, stages_of


def check_data(plans: list[tuple[list[PlannedStage], dict[str, str]]], log=print) -> int:
    """Load every (task, split, language) that a stage to run in ``plans`` (stages and their data
    sources) will read; the first problem is raised as the BadInput the stage would raise. Returns how
    many distinct reads were checked."""
    reads, stages_of = planned_reads(plans)
    if not reads:
        return 0
    started = time.perf_counter()
    found: dict[ReadKey, bool] = {}
    for key, (read, sources) in tqdm(reads.items(), desc="reading data", unit="split", leave=False):
        try:
            found[key] = bool(load_examples(read.task, read.split, read.language, sources))
        except MissingSplit:
            if not read.optional:
                raise
            found[key] = False
    for sources, keys in stages_of.values():
        # a stage that may do without each of its reads (an evaluation over whatever languages the
        # data has) still needs one of them
        if all(reads[key][0].optional for key in keys) and not any(found[key] for key in keys):
            task = keys[0][0]
            raise BadInput(f"data.{task}: no evaluation data found in {sources.get(task, 'the Hub')}")
    log(f"data: read {len(reads)} splits (task, split, language) in {time.perf_counter() - started:.1f} s")
    return len(reads)


def check_models(plans: list[tuple[list[PlannedStage], dict[str, str]]], model_path: str) -> None:
    """Let every stage to run check its settings against the pipeline's model (see
    `StageRunner.check_model`); every stage of a pipeline has the architecture of its first."""
    for stages, _ in plans:
        for stage in stages_to_run(stages):
            STAGE_KINDS.get(stage.kind).runner.check_model(stage, model_path)
