"""The `average` stage kind: the target stage before it, trained with each of several seeds, its models
averaged into one (run averaging, Schmidt, Vulić and Glavaš 2023), which the stages after it use as
they would use the target stage's.

The seeds' target stages (and the stages they start from) join the pipeline before it; only models
fine-tuned from the same weights are averaged: their encoders start from one stage's model (or the
pipeline's), and their heads from the same random weights (the target stage's ``init_seed``), else
planning refuses it. `stilts sweep` adds one for each configuration and target with ``average_seeds:
true``; its rows in scores.csv are labelled as the seeds' average (`stilts.core.names.SEED_AVERAGE`).
The kind is registered by `stilts.target.stages`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from stilts.core.artifacts import atomic_folder
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.core.names import SEED_AVERAGE, with_setting
from stilts.core.numbers import Seed
from stilts.data.loading import DataRead
from stilts.pipeline.config import StageConfig
from stilts.pipeline.stage_kinds import (
    STAGE_KINDS,
    PlanContext,
    PlannedStage,
    RunContext,
    StageKind,
    StagePlan,
    StageRunner,
)
from stilts.pipeline.training_stage import MODEL_FOLDER

AVERAGE = "average"
#: the stage kinds whose model/ and heads/ a later stage of a trained task reads (an evaluation, shots)
HEADED_KINDS = ("target", AVERAGE)


class AverageStage(StageConfig):
    kind: Literal["average"] = Field(
        description="`average`: the uniform average of the target models of several seeds, as one model."
    )
    seeds: Annotated[list[Seed], Field(min_length=2)] = Field(
        description="The seeds whose runs of the target stage before this one are averaged: each seed's "
        "target stage (and what it starts from) runs as the pipeline with that seed runs it. Their encoders "
        "must start from the same model and their heads from the same weights (the target stage's "
        "init_seed).",
    )


def plan_average(stage: AverageStage, context: PlanContext) -> StagePlan:
    where, previous = context.where, context.previous
    if previous is None or previous.kind != "target":
        raise BadInput(f"{where}.kind: an average stage averages the target stage right before it; there is none")
    if len(set(stage.seeds)) < len(stage.seeds):
        raise BadInput(f"{where}.seeds: a seed is listed twice")
    if context.pipeline.seed not in stage.seeds:
        raise BadInput(
            f"{where}.seeds: the pipeline's seed ({context.pipeline.seed}) is not among them: its target stage, "
            "right before this one, would train for nothing"
        )
    if context.with_seed is None:
        raise BadInput(f"{where}.kind: an average stage needs its pipeline's stages planned with other seeds")
    inputs = []
    for seed in stage.seeds:
        before = context.with_seed(seed)
        inputs.append(next(each for each in before if each.index == previous.index))
    _check_same_start(inputs, stage.seeds, where)
    settings = {
        "seeds": list(stage.seeds),
        "tasks": list(previous.settings["tasks"]),
        "inputs": [each.fingerprint for each in inputs],
    }
    return StagePlan(settings, frozenset(), inputs=tuple(inputs))


def _check_same_start(inputs: list[PlannedStage], seeds: list[int], where: str) -> None:
    """Averaged models must have been fine-tuned from the same weights: their encoders from one stage's
    model (or the pipeline's), their new heads from one initialisation."""
    first = inputs[0]
    for seed, other in zip(seeds[1:], inputs[1:]):
        start, other_start = first.upstream, other.upstream
        if (start and start.fingerprint) != (other_start and other_start.fingerprint):
            named = start or other_start
            assert named is not None
            raise BadInput(
                f"{where}.seeds: the target stages of seeds {seeds[0]} and {seed} start from different weights "
                f"({named.kind} '{named.name}' trains with each seed); only models fine-tuned from the same "
                f"weights are averaged: give that stage one seed (seed: {seeds[0]} on it; in a sweep, stages: "
                f"{{{named.kind}: {{seed: {seeds[0]}}}}})"
            )
        if _head_seed(first) != _head_seed(other):
            raise BadInput(
                f"{where}.seeds: the target stages of seeds {seeds[0]} and {seed} start their new heads from "
                f"different random weights; only models fine-tuned from the same weights are averaged: give the "
                f"target stage init_seed: {seeds[0]} (in a sweep, stages: {{target: {{init_seed: {seeds[0]}}}}})"
            )


def _head_seed(stage: PlannedStage) -> int:
    settings = stage.settings
    return settings["init_seed"] if settings.get("init_seed") is not None else settings["seed"]


class AverageStageRunner(StageRunner):
    """Loads each seed's encoder and heads, one at a time, into one running mean (float32, on the CPU),
    and saves the mean as a target stage saves its model: ``model/`` and ``heads/``."""

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        from stilts.training.averaging import RunningMean
        from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head, save_heads

        tasks = [get_task(name) for name in stage.settings["tasks"]]
        if context.accelerator.is_main_process:
            mean = RunningMean()
            for each in stage.inputs:
                encoder, tokenizer = load_encoder(str(each.folder / MODEL_FOLDER))
                model = StageModel(encoder, tasks)
                for task in tasks:
                    if task.format.trains:
                        load_head(model, task, each.folder / HEADS_FOLDER)
                try:
                    mean.add(model.state_dict())
                except ValueError as error:
                    raise BadInput(f"{stage.where}: {each.folder}: {error}") from None
                context.log(f"  added {each.folder.name} (seed {each.settings['seed']})")
            mean.load_into(model)
            with atomic_folder(stage.folder / HEADS_FOLDER) as folder:
                save_heads(model, folder)
            with atomic_folder(stage.folder / MODEL_FOLDER) as folder:
                model.encoder.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
        context.accelerator.wait_for_everyone()
        return {
            "seeds": stage.settings["seeds"],
            "averaged": [each.folder.name for each in stage.inputs],
            "tasks": stage.settings["tasks"],
        }

    def training_reads(self, stage: PlannedStage) -> list[DataRead]:
        """What the averaged models trained on (an evaluation of it must not score it)."""
        return [read for each in stage.inputs for read in STAGE_KINDS.get(each.kind).runner.training_reads(each)]

    def summary(self, metrics: dict) -> str:
        return (
            f"the average of {len(metrics['averaged'])} target stages (seeds {', '.join(map(str, metrics['seeds']))})"
        )


def _average_setting(stage: PlannedStage) -> str:
    """``seed-average`` after the setting of the models averaged (their kind's: a translate-train target's
    ``translate-train-de``), so that the average's rows stay apart from every other model's."""
    trained = stage.inputs[0] if stage.inputs else None
    inner = STAGE_KINDS.get(trained.kind).model_setting(trained) if trained is not None else ""
    return with_setting(inner, SEED_AVERAGE) if inner else SEED_AVERAGE


#: registered by `stilts.target.stages`, the package's entry point, after the target and evaluate kinds
AVERAGE_KIND = StageKind(
    name=AVERAGE,
    config=AverageStage,
    plan=plan_average,
    runner=AverageStageRunner(),
    produces_model=True,
    model_setting=lambda stage: _average_setting(stage),
)
