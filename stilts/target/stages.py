"""The `target` stage kind (fine-tune on the target task's English data, fresh head; or XGLUE's
settings: a pivot language, several languages, several target tasks, and its model selection) and
the `evaluate` stage kind (zero-shot in every language of the target task; rows go to scores.csv)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from stilts.core import defaults
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput
from stilts.core.names import ALL_LANGUAGES, TRANSLATED_MARK
from stilts.core.numbers import MAX_COUNT, Count, Float, Index, MaxLength, Seed
from stilts.data.loading import training_task
from stilts.pipeline.config import MIXING_FIELDS, MultiTaskTrainingStage, StageConfig
from stilts.pipeline.evaluation_stage import EvaluationRunner
from stilts.pipeline.stage_kinds import (
    HASHED_WHEN_SET,
    PlanContext,
    StageKind,
    StagePlan,
    fingerprinted_settings,
    register_stage_kind,
)
from stilts.pipeline.training_stage import (
    AVERAGE_LAST,
    check_languages,
    check_task,
    data_tasks_of,
    training_settings,
)
from stilts.target.average import AVERAGE_KIND, HEADED_KINDS
from stilts.target.few_shot import FEW_SHOT_KIND
from stilts.target.translate_train import TargetStageRunner, TranslateTrain, expand, is_translation, translation_setting
from stilts.training.averaging import averaged_steps

#: the weights a target stage keeps (`stilts.pipeline.training_stage.ENGLISH_DEV` and the others)
SelectionRule = Literal["english_dev", "average_dev", "last_step", "average_last"]


class TargetStage(MultiTaskTrainingStage):
    """Fine-tunes the incoming encoder on a target task's training data (English, unless the stage
    says otherwise) with a fresh head; XGLUE's settings train in other languages or several targets."""

    kind: Literal["target"] = Field(description="`target`: fine-tune on a target task with a fresh head.")
    task: str | None = Field(default=None, description="The target task to fine-tune on (give it or `tasks`).")
    tasks: Annotated[list[str], Field(min_length=2)] | None = Field(
        default=None,
        description="Several target tasks trained together, each with its own head, mixed by `mixing` (XGLUE's "
        "multi-task fine-tuning); give it or `task`. An evaluate stage for each may follow.",
    )
    train_tasks: Annotated[list[str], Field(min_length=1)] | None = Field(
        default=None,
        description="Tasks whose data trains the target instead of the catalog's training task (XNLI from ANLI "
        "instead of MNLI, or from `mnli@es`, a translated set); they must have the target's format and labels. "
        "Unset: the catalog's (`stilts tasks`, column trains on).",
    )
    train_languages: Annotated[Annotated[list[str], Field(min_length=1)] | None, HASHED_WHEN_SET] = Field(
        default=None,
        description="The languages of the training data (each source's release files in that language): one is "
        "pivot-language fine-tuning, several are multi-language fine-tuning on their merged data. Unset: each "
        "source's own language (English).",
    )
    language_ratios: Annotated[dict[str, Annotated[Float, Field(ge=0, le=MAX_COUNT)]] | None, HASHED_WHEN_SET] = Field(
        default=None,
        description="Language -> share of the batches, for exactly the languages the stage trains on (each "
        "batch then holds one language; one of 0 is not read). Unset: the merged data's own proportions.",
    )
    model_selection: Annotated[SelectionRule, HASHED_WHEN_SET] = Field(
        default="english_dev",
        description="Which weights the stage keeps: the best on English dev (`english_dev`), the best on the dev "
        "score averaged over every language of each task (`average_dev`, XGLUE's rule), the last step's "
        "(`last_step`; validation is still recorded), or the uniform average of the weights at the last "
        "`average_last` validations (`average_last`).",
    )
    init_seed: Annotated[Seed | None, HASHED_WHEN_SET] = Field(
        None,
        description="Seed of the new heads' random initialisation, apart from the stage's seed (data order, "
        "dropout): runs of several seeds then start from the same heads, as averaging them needs (stilts "
        "sweep's average_seeds). None: drawn with the stage's seed.",
    )
    translate_train: TranslateTrain | None = Field(
        default=None,
        description="Train on the target's English training data machine-translated (translate-train): a "
        "language (`de`, the task `<task>@de`), several (`[de, fr]`; `en` for the English data itself), or `all` "
        "(translate-train-all: English and every language of the task, merged). Each translation is read from "
        "data.<task>@<lang>, else data.<task>@all (stilts translate output or a benchmark's released "
        "translations), and every one is checked before anything trains. Hashed as the train_tasks it stands "
        "for; the rows of its evaluations are labelled <configuration>/translate-train-<languages>.",
    )
    average_last: Annotated[Count | None, HASHED_WHEN_SET] = Field(
        None,
        description="With model_selection: average_last, how many validations' weights are averaged (the "
        "last N, uniformly; the stage then neither keeps its best step nor stops early). Validations are "
        "every validate_every optimizer steps and at the last step; a stage that validates fewer times "
        "is refused before it trains.",
    )

    @model_validator(mode="after")
    def _task_or_tasks(self):
        if (self.task is None) == (self.tasks is None):
            raise ValueError("give either task (one target task) or tasks (several trained together)")
        return self

    @property
    def task_names(self) -> list[str]:
        return self.tasks or [str(self.task)]


class EvaluateStage(StageConfig):
    """Scores the incoming model zero-shot on a task in every language the data has; rows go to
    scores.csv, each split and language's predictions to the stage's predictions/ folder."""

    kind: Literal["evaluate"] = Field(description="`evaluate`: score the model zero-shot in the task's languages.")
    task: str = Field(
        description="The task to score. A task with a trained head (all but the retrieval tasks) needs a target "
        "stage that trains it right before."
    )
    splits: list[Literal["dev", "test"]] | None = Field(
        default=None, description="The splits to score. Unset: the task's evaluation splits that the data has."
    )
    languages: list[str] | None = Field(
        default=None,
        description="The languages to score, each a language of the task and present in the data. Unset: every "
        "language of the task that the data has.",
    )
    max_length: MaxLength | None = Field(
        default=None,
        description="Longest input in tokens; longer ones are truncated (QA contexts are cut into overlapping "
        "windows). Unset: the task format's default, 128 for sentence tasks and 384 for QA.",
    )
    max_examples: Count | None = Field(
        default=None, description="Score the first N examples of each language only (quick runs). Unset: all."
    )
    batch_size: Count | None = Field(
        default=None,
        description="Evaluation batch size. Unset: 64 on CPU, 256 on a GPU. Not fingerprinted.",
    )
    layer: Index | None = Field(
        default=None,
        description="Retrieval tasks (tatoeba, bucc): the hidden state pooled, as an index into Hugging Face "
        "`hidden_states` (0: the embedding output, N: the last of N layers). Unset: 14 for 24 layers (the "
        "paper's \"layer 13\" of XLM-R large), 8 for 12 (XTREME's mBERT layer 7), else ceil(N x 14 / 24).",
    )
    pooling: Literal["mean", "cls"] = Field(
        default="mean",
        description="Retrieval tasks: a sentence's vector is the mean of its non-padding tokens' states (`mean`, "
        "XTREME's) or the first token's state (`cls`).",
    )
    allow_overlap: bool = Field(
        default=False,
        description="Score splits and languages that a training stage before it trained on (or on translations "
        "of them), marked in scores.csv's `trained_on` column; without it such an evaluation is refused before "
        "anything trains. Not fingerprinted.",
    )


#: translate_train is hashed as the train_tasks it stands for (`plan_target`)
TARGET_NOT_FINGERPRINTED = frozenset({"name", "checkpoint_every", "translate_train"})
#: allow_overlap changes no score, only whether the run may go on (the marks follow from the plan)
EVALUATE_NOT_FINGERPRINTED = frozenset({"name", "batch_size", "allow_overlap"})


def plan_target(stage: TargetStage, context: PlanContext) -> StagePlan:
    where = context.where
    names = stage.task_names
    if stage.tasks:
        tasks = [check_task(name, "target", f"{where}.tasks[{i}]") for i, name in enumerate(names)]
        if len(set(names)) < len(names):
            raise BadInput(f"{where}.tasks: a task is listed twice")
        if stage.train_tasks:
            raise BadInput(f"{where}.train_tasks: give train_tasks to a target stage of one task, not of several")
    else:
        translated = get_task(names[0], f"{where}.task")
        if is_translation(translated) and translated.variant_of and "target" in get_task(translated.variant_of).phases:
            raise BadInput(
                f"{where}.task: '{names[0]}' is {translated.variant_of}'s training data translated; give task: "
                f"{translated.variant_of} with translate_train: {translated.source_language} (or train_tasks: "
                f"[{names[0]}]), and evaluate {translated.variant_of}"
            )
        tasks = [check_task(names[0], "target", f"{where}.task")]
    settings = training_settings(
        stage,
        names,
        context,
        paper_learning_rate=defaults.TARGET_LEARNING_RATE,
        not_fingerprinted=TARGET_NOT_FINGERPRINTED,
    )
    if not stage.tasks:  # nothing to mix: one task keeps the fingerprint it had before targets could mix
        for key in MIXING_FIELDS:
            settings.pop(key)
    train_tasks = stage.train_tasks
    if stage.translate_train is not None:
        train_tasks = _translate_train(stage, tasks, where)
        settings["train_tasks"] = train_tasks
    sources = []
    for i, source_name in enumerate(train_tasks or []):
        field = f"{where}.train_tasks[{i}]" if stage.translate_train is None else f"{where}.translate_train"
        source_task = get_task(source_name, field)
        if source_name.endswith(f"{TRANSLATED_MARK}{ALL_LANGUAGES}"):
            raise BadInput(
                f"{where}.train_tasks[{i}]: '{source_name}' names the folder of every language's translations; "
                f"to train on English and all of them give translate_train: {ALL_LANGUAGES}"
            )
        if source_task.labels != tasks[0].labels or source_task.format.name != tasks[0].format.name:
            raise BadInput(
                f"{where}.train_tasks[{i}]: '{source_name}' cannot train '{tasks[0].name}': its format or labels differ"
            )
        sources.append(source_task)  # its data source is part of the stage's identity
    _check_languages(stage, tasks, sources, where)
    _check_average(stage, where)
    return StagePlan(settings, data_tasks_of(tasks + sources))


def _translate_train(stage: TargetStage, tasks: list, where: str) -> list[str]:
    """The train_tasks ``translate_train`` stands for, refused beside the settings it replaces."""
    for field in ("tasks", "train_tasks", "train_languages"):
        if getattr(stage, field) is not None:
            raise BadInput(
                f"{where}.translate_train: give translate_train or {field}, not both (translate_train: de trains "
                "on the task's training data translated into German, train_tasks: [<task>@de])"
            )
    assert stage.translate_train is not None, "called for a stage that sets it"
    return expand(tasks[0], stage.translate_train, f"{where}.translate_train")


def _check_average(stage: TargetStage, where: str) -> None:
    """``average_last`` goes with ``model_selection: average_last``, and where the stage's length is set
    (``max_steps``) it validates at least that often (otherwise that is checked on the data's size,
    before the stage trains: `TrainingStageRunner.check_sizes`)."""
    averaging = stage.model_selection == AVERAGE_LAST
    if averaging and stage.average_last is None:
        raise BadInput(
            f"{where}.average_last: model_selection: average_last averages the weights at the last N "
            "validations; give N (e.g. average_last: 5)"
        )
    if not averaging and stage.average_last is not None:
        raise BadInput(
            f"{where}.average_last: only with model_selection: average_last "
            f"(this stage's model_selection is {stage.model_selection})"
        )
    if averaging and stage.max_steps and stage.average_last:
        try:
            averaged_steps(stage.max_steps, stage.validate_every, stage.average_last)
        except ValueError as error:
            raise BadInput(f"{where}.average_last: {error}") from None


def _check_languages(stage: TargetStage, tasks: list, sources: list, where: str) -> None:
    """Training languages the training data has, and ratios for exactly the languages the stage
    trains on. (A Hub data set of one language would return its English rows for any language.)"""
    sources = sources or [training_task(task) for task in tasks]
    for i, language in enumerate(stage.train_languages or []):
        for source in sources:
            if language not in source.languages:
                trains = f", which trains {tasks[0].name}," if source.name != tasks[0].name else ""
                translated = (
                    f"; for a translated set give train_tasks: [{source.name}@{language}] (stilts translate, "
                    "or translated release files)"
                    if "intermediate" in source.phases
                    else ""
                )
                raise BadInput(
                    f"{where}.train_languages[{i}]: {source.name}{trains} has no '{language}' training data "
                    f"(its languages: {', '.join(source.languages)}){translated}"
                )
    ratios = stage.language_ratios
    if ratios is None:
        return
    languages = set(stage.train_languages or [source.source_language for source in sources])
    if set(ratios) != languages:
        raise BadInput(
            f"{where}.language_ratios: give a ratio for exactly the languages the stage trains on "
            f"({', '.join(sorted(languages))})"
        )
    if not sum(ratios.values()) > 0:
        raise BadInput(f"{where}.language_ratios: the ratios sum to 0")


def plan_evaluate(stage: EvaluateStage, context: PlanContext) -> StagePlan:
    where, previous = context.where, context.previous
    task = check_task(stage.task, "evaluate", f"{where}.task")
    trained = previous and previous.kind in HEADED_KINDS and task.name in previous.settings["tasks"]
    if task.format.trains and not trained:
        raise BadInput(
            f"{where}.task: evaluating '{task.name}' needs a target stage that trains "
            f"'{task.name}' right before it (its head is trained there)"
        )
    check_languages(stage.languages, task, where)
    settings = fingerprinted_settings(stage, EVALUATE_NOT_FINGERPRINTED)
    settings.update(seed=context.pipeline.seed, max_length=stage.max_length or task.format.default_max_length)
    return StagePlan(settings, frozenset({task.name}))


class EvaluateStageRunner(EvaluationRunner):
    """Zero-shot evaluation in every language of the target task, of the task's own examples; rows go
    to scores.csv, and each split and language's predictions to the stage's predictions/ folder
    (`stilts.pipeline.evaluation_stage`, what it shares with translate-test)."""


TARGET = register_stage_kind(
    StageKind(
        name="target",
        config=TargetStage,
        plan=plan_target,
        runner=TargetStageRunner(),
        produces_model=True,
        not_fingerprinted=TARGET_NOT_FINGERPRINTED,
        model_setting=lambda stage: translation_setting(stage.settings),  # translate-train
    )
)
EVALUATE = register_stage_kind(
    StageKind(
        name="evaluate",
        config=EvaluateStage,
        plan=plan_evaluate,
        runner=EvaluateStageRunner(),
        produces_model=False,
        not_fingerprinted=EVALUATE_NOT_FINGERPRINTED,
    )
)
# after target and evaluate: the kinds in that order
register_stage_kind(AVERAGE_KIND)
register_stage_kind(FEW_SHOT_KIND)
