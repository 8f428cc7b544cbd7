"""The `intermediate` stage kind: single or multi-task training on English intermediate tasks (with
optional MLM co-training), mixed by the rules in `stilts.training.mixing`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from stilts.core import defaults
from stilts.core.errors import BadInput
from stilts.core.names import MLM_TASK
from stilts.pipeline.config import MultiTaskTrainingStage
from stilts.pipeline.stage_kinds import PlanContext, StageKind, StagePlan, register_stage_kind
from stilts.pipeline.training_stage import (
    TrainingStageRunner,
    check_task,
    data_tasks_of,
    training_settings,
)


class IntermediateStage(MultiTaskTrainingStage):
    """Trains the encoder on English intermediate task(s), each with its own head, and hands the
    encoder (not the heads) to the next stage."""

    kind: Literal["intermediate"] = Field(description="`intermediate`: train on intermediate task(s).")
    tasks: Annotated[list[str], Field(min_length=1)] = Field(
        description="The intermediate task(s), each with its own head: one name, or a list trained together "
        "(mixed by `mixing`); `mlm` co-trains masked language modelling, `<task>@<lang>` is a translated set. "
        "`stilts tasks` lists them."
    )

    @field_validator("tasks", mode="before")
    @classmethod
    def _one_task_as_list(cls, value):
        return [value] if isinstance(value, str) else value


NOT_FINGERPRINTED = frozenset({"name", "checkpoint_every"})


def plan_intermediate(stage: IntermediateStage, context: PlanContext) -> StagePlan:
    where = context.where
    tasks = [check_task(name, "intermediate", f"{where}.tasks[{i}]") for i, name in enumerate(stage.tasks)]
    if context.previous and context.previous.kind == "target":
        raise BadInput(f"{where}.kind: an intermediate stage cannot follow a target stage")
    with_mlm = MLM_TASK in stage.tasks  # co-training MLM lowers the paper's learning rate (App. A.1)
    settings = training_settings(
        stage,
        stage.tasks,
        context,
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
        runner=TrainingStageRunner(),
        produces_model=True,
        not_fingerprinted=NOT_FINGERPRINTED,
        intermediate_tasks=lambda stage: list(stage.tasks),
    )
)
