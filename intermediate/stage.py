"""The `intermediate` stage kind: single or multi-task training on English intermediate tasks (with
optional MLM co-training), mixed by the rules in `stilts.intermediate.mixing`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from stilts import defaults
from stilts.config import TrainingStage
from stilts.errors import BadInput, did_you_mean
from stilts.intermediate import mixing
from stilts.stage_kinds import PlanContext, StageKind, StagePlan, register_stage_kind
from stilts.training_stage import (
    TrainingStageRunner,
    check_task,
    data_tasks_of,
    training_settings,
)

#: the co-training task whose presence lowers the paper's learning rate (App. A.1)
MLM_TASK = "mlm"


class IntermediateStage(TrainingStage):
    kind: Literal["intermediate"]
    tasks: Annotated[list[str], Field(min_length=1)]
    #: how a multi-task stage draws the task of each batch: a rule of `mixing.MIXING_RULES`
    mixing: str = "capped"
    mixing_cap: Annotated[int, Field(gt=0)] = defaults.MIXING_CAP_K
    mixing_temperature: Annotated[float, Field(gt=0)] = 1.0
    #: task -> weight, for mixing: weights
    mixing_weights: dict[str, Annotated[float, Field(ge=0)]] | None = None

    @field_validator("tasks", mode="before")
    @classmethod
    def _one_task_as_list(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("mixing")
    @classmethod
    def _known_rule(cls, value: str) -> str:
        if value not in mixing.MIXING_RULES:
            raise ValueError(
                f"unknown mixing rule '{value}'{did_you_mean(value, mixing.MIXING_RULES.names())} "
                f"(rules: {', '.join(mixing.MIXING_RULES.names())})"
            )
        return value


NOT_FINGERPRINTED = frozenset({"name", "checkpoint_every"})


def plan_intermediate(stage: IntermediateStage, context: PlanContext) -> StagePlan:
    where = context.where
    tasks = [check_task(name, "intermediate", f"{where}.tasks[{i}]") for i, name in enumerate(stage.tasks)]
    if context.previous and context.previous.kind == "target":
        raise BadInput(f"{where}.kind: an intermediate stage cannot follow a target stage")
    weights = stage.mixing_weights
    if weights is not None and set(weights) != set(stage.tasks):
        raise BadInput(
            f"{where}.mixing_weights: give a weight for exactly the stage's tasks ({', '.join(stage.tasks)})"
        )
    with_mlm = MLM_TASK in stage.tasks
    settings = training_settings(
        stage,
        stage.tasks,
        context,
        paper_batch_epochs=defaults.INTERMEDIATE_BATCH_EPOCHS,
        paper_learning_rate=defaults.INTERMEDIATE_LEARNING_RATE_WITH_MLM
        if with_mlm
        else defaults.INTERMEDIATE_LEARNING_RATE,
        not_fingerprinted=NOT_FINGERPRINTED,
    )
    return StagePlan(settings, data_tasks_of(tasks))


INTERMEDIATE = register_stage_kind(
    StageKind(
        name="intermediate",
        config=IntermediateStage,
        plan=plan_intermediate,
        runner=TrainingStageRunner(mixing=mixing),
        produces_model=True,
        not_fingerprinted=NOT_FINGERPRINTED,
        intermediate_tasks=lambda stage: list(stage.tasks),
    )
)
