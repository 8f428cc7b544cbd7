"""The `target` stage kind (fine-tune on the target task's English data, fresh head; or XGLUE's
settings: a pivot language, several languages, several target tasks, and its model selection) and
the `evaluate` stage kind (zero-shot in every language of the target task; rows go to scores.csv)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from stilts.core import defaults
from stilts.core.artifacts import read_record, redo_stage
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.core.names import ALL_LANGUAGES, SEED_AVERAGE, TRANSLATED_MARK, with_setting
from stilts.core.numbers import MAX_COUNT, Count, Float, Index, MaxLength, Seed
from stilts.data.loading import HUB, DataRead, load_examples, training_task
from stilts.pipeline.config import MIXING_FIELDS, MultiTaskTrainingStage, StageConfig
from stilts.pipeline.engine import score_labels
from stilts.pipeline.overlap import overlapping
from stilts.pipeline.stage_kinds import (
    HASHED_WHEN_SET,
    Found,
    PlanContext,
    PlannedStage,
    RunContext,
    StageKind,
    StagePlan,
    StageRunner,
    fingerprinted_settings,
    register_stage_kind,
)
from stilts.pipeline.training_stage import (
    AVERAGE_LAST,
    check_languages,
    check_task,
    data_tasks_of,
    input_model,
    training_settings,
)
from stilts.reports.prediction_files import (
    CALIBRATION_SPLIT,
    CALIBRATION_SUFFIX,
    PREDICTIONS_FOLDER,
    PROBABILITIES,
    write_example_rows,
    write_predictions,
)
from stilts.reports.scores_file import STAGE, TRAINED_ON, upsert_scores
from stilts.target.average import AVERAGE, AVERAGE_KIND, HEADED_KINDS
from stilts.target.few_shot import FEW_SHOT_KIND
from stilts.target.translate_train import TargetStageRunner, TranslateTrain, expand, is_translation, model_setting
from stilts.training.attention import attention_record
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


class EvaluateStageRunner(StageRunner):
    """Zero-shot evaluation in every language of the target task; rows go to scores.csv, and each split
    and language's predictions to the stage's predictions/ folder (`stilts.reports.prediction_files`)."""

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        # imported where the stage runs, as in `TrainingStageRunner.run`: torch takes seconds
        from stilts.training.evaluation import predict_with_probabilities
        from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head, seed_everything

        settings, accelerator = stage.settings, context.accelerator
        seed_everything(settings["seed"])
        task = get_task(settings["task"])
        task = dataclasses.replace(task, format=task.format.for_evaluation(settings))
        encoder, tokenizer = load_encoder(
            input_model(stage, context), context.pipeline.attention, mixed_precision=accelerator.mixed_precision
        )
        model = StageModel(encoder, [task]).to(accelerator.device)
        if task.format.trains:
            assert stage.upstream is not None, "planning puts a target stage before a trained evaluation"
            load_head(model, task, stage.upstream.folder / HEADS_FOLDER)

        scores: dict[str, dict[str, dict[str, float]]] = {}
        constant: dict[str, dict[str, str]] = {}  # split -> language -> the one answer every example got
        states: dict[str, dict] = {}  # per language, carried from split to split (BUCC: the dev threshold)
        found: Found = {}
        kept_probabilities = False  # the format gives each answer's probability (classification, choices)
        for read in self.data_reads(stage):
            split, language = read.split, read.language
            try:
                examples = load_examples(task, split, language, context.data_sources)
            except MissingSplit:
                if not read.optional:
                    raise
                found[task.name, split, language] = False
                continue
            found[task.name, split, language] = True
            if settings["max_examples"]:
                examples = examples[: settings["max_examples"]]
            predictions, probabilities = predict_with_probabilities(
                accelerator,
                model,
                task,
                examples,
                tokenizer,
                max_length=settings["max_length"],
                batch_size=stage.config.batch_size,
                desc=f"{task.name} {split} {language}",
            )
            state = states.setdefault(language, {})
            scores.setdefault(split, {})[language] = task.format.score_split(
                predictions, examples, task, language, split, state
            )
            answer = task.format.constant(predictions)
            if answer is not None:
                constant.setdefault(split, {})[language] = answer
            if accelerator.is_main_process:  # every process holds all predictions (gather_for_metrics)
                folder = stage.folder / PREDICTIONS_FOLDER
                write_predictions(folder, task, split, language, predictions, examples, state)
                rows = task.format.example_rows(predictions, examples, task, language, state)
                if rows is not None:
                    kept_probabilities = probabilities is not None
                    if probabilities is not None:  # one row per example: what calibration is measured on
                        for row, answers in zip(rows, probabilities, strict=True):
                            row[PROBABILITIES] = answers
                    write_example_rows(folder, split, language, rows)
        if kept_probabilities and not found.get((task.name, CALIBRATION_SPLIT, task.source_language)):
            self._keep_calibration_rows(task, stage, context, model, tokenizer)
        self.check_found(stage, found, context.data_sources)
        if not scores:
            raise BadInput(
                f"data.{task.name}: no evaluation data found in {context.data_sources.get(task.name, 'the Hub')}"
            )
        metrics = {
            "task": task.name,
            "scores": scores,
            "average": _averages(scores),
            "constant_predictions": constant,
            "attention": attention_record(context.pipeline.attention, encoder),
            "warnings": [
                _constant_warning(task.name, split, by_language, scores) for split, by_language in constant.items()
            ],
        }
        trained_on = {
            split: scored
            for split, langs in overlapping(stage).items()
            if (scored := [l for l in langs if l in scores.get(split, {})])
        }
        if trained_on:  # allow_overlap: scored anyway, and said so wherever the scores go
            metrics["trained_on"] = trained_on
            context.log(
                "  not zero-shot: the model trained on these examples (or translations of them): "
                + "; ".join(f"{split} {' '.join(langs)}" for split, langs in trained_on.items())
            )
        if any(states.values()):
            metrics["state"] = {language: state for language, state in states.items() if state}
        if accelerator.is_main_process:
            upsert_scores(context.scores_path, score_rows(metrics, stage, context), stage.pipeline_folders)
        return metrics

    @staticmethod
    def _keep_calibration_rows(task, stage: PlannedStage, context: RunContext, model, tokenizer) -> None:
        """The task's source-language dev, where the evaluation scores none (XCOPA: COPA's English dev, on
        which the target stage chose its model), predicted and kept unscored with each answer's
        probability, for `stilts table --calibration` to fit a temperature on; nothing where the data has
        none."""
        from stilts.training.evaluation import predict_with_probabilities

        language = task.source_language
        try:
            examples = load_examples(task, CALIBRATION_SPLIT, language, context.data_sources)
        except (MissingSplit, BadInput) as error:  # an extra, not the evaluation's: said, and gone without
            context.log(f"  {task.name}: no {language} {CALIBRATION_SPLIT} kept to fit calibration on ({error})")
            return
        if stage.settings["max_examples"]:
            examples = examples[: stage.settings["max_examples"]]
        predictions, probabilities = predict_with_probabilities(
            context.accelerator,
            model,
            task,
            examples,
            tokenizer,
            max_length=stage.settings["max_length"],
            batch_size=stage.config.batch_size,
            desc=f"{task.name} {CALIBRATION_SPLIT} {language} (for calibration)",
        )
        rows = task.format.example_rows(predictions, examples, task, language, {})
        if rows is None or probabilities is None or not context.accelerator.is_main_process:
            return
        for row, answers in zip(rows, probabilities, strict=True):
            row[PROBABILITIES] = answers
        folder = stage.folder / PREDICTIONS_FOLDER
        write_example_rows(folder, CALIBRATION_SPLIT, language, rows, CALIBRATION_SUFFIX)
        context.log(f"  {task.name}: {language} {CALIBRATION_SPLIT} kept unscored, to fit calibration on ({len(rows)})")

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """The splits and languages to evaluate; those the data lacks are left out, unless the stage
        named both its splits and its languages."""
        settings = stage.settings
        task = get_task(settings["task"])
        explicit = settings["splits"] is not None and settings["languages"] is not None
        return [
            DataRead(task, split, language, optional=not explicit)
            for split in settings["splits"] or task.eval_splits
            for language in settings["languages"] or task.languages
        ]

    def scored_reads(self, stage: PlannedStage) -> list[DataRead]:
        return self.data_reads(stage)

    def check_found(self, stage: PlannedStage, found: Found, sources: dict[str, str]) -> None:
        """Only the implicit "every language the data has" may leave languages out. Languages the stage
        names must each be in every split that is scored: a split counts as in the data where it has
        one of them (a split the data lacks altogether, as XTREME's unlabelled test sets, is left out
        unless `splits` names it), and at least one split must be."""
        named = stage.settings["languages"]
        if not named:
            return
        task = get_task(stage.settings["task"])
        splits = list(dict.fromkeys(split for _, split, _ in found))
        present = [split for split in splits if any(found.get((task.name, split, language)) for language in named)]
        for split in present or splits[:1]:
            for i, language in enumerate(named):
                if not found.get((task.name, split, language), True):
                    source = sources.get(task.name, HUB)
                    raise BadInput(
                        f"{stage.where}.languages[{i}]: '{language}' has no {split} data "
                        f"{'on the Hub' if source == HUB else f'in {source}'}"
                        f"{_languages_there(task, split, sources)}; leave it out of languages, or add its data"
                    )

    def summary(self, metrics: dict) -> str:
        """Each split's main metric, averaged over its languages."""
        task, metric = metrics["task"], get_task(metrics["task"]).metric
        return ", ".join(
            f"{task} {split} {metric} {averages[metric]:.1f} (mean of {len(metrics['scores'][split])} languages)"
            for split, averages in metrics["average"].items()
            if metric in averages
        )

    def on_skip(self, stage: PlannedStage, context: RunContext) -> None:
        """A reused evaluation still belongs in this run's scores.csv (it may be a new file)."""
        metrics = read_record(stage.folder / "metrics.json", redo_stage(stage.folder), keys=("task", "scores"))
        if context.accelerator.is_main_process:
            upsert_scores(context.scores_path, score_rows(metrics, stage, context), stage.pipeline_folders)


def _languages_there(task, split: str, sources: dict[str, str]) -> str:
    """`` (its <split> data is in: de, en)``: the languages a local folder has the split in (each read,
    as the stage would read it); for the Hub, '' (that would download every language)."""
    if sources.get(task.name, HUB) == HUB:
        return ""
    there = []
    for language in task.languages:
        try:
            load_examples(task, split, language, sources)
        except MissingSplit:
            continue
        except BadInput:  # there, though it would not read: a language of the split all the same
            pass
        there.append(language)
    return f" (its {split} data is in: {', '.join(there) or 'no language'})"


def _constant_warning(task: str, split: str, by_language: dict[str, str], scores: dict) -> str:
    answers = ", ".join(f"{language} {answer!r}" for language, answer in by_language.items())
    return (
        f"{task} {split}: every example got the same prediction in {len(by_language)} of "
        f"{len(scores[split])} languages ({answers})"
    )


def _averages(scores: dict) -> dict:
    averages = {}
    for split, by_language in scores.items():
        metric_names = next(iter(by_language.values())).keys()
        averages[split] = {m: float(np.mean([values[m] for values in by_language.values()])) for m in metric_names}
    return averages


def score_rows(metrics: dict, stage: PlannedStage, context: RunContext) -> list[dict]:
    """The scores.csv rows of an evaluation, each naming its stage (its folder): a run's rows from two
    stages (a pipeline changed and run again) are then told apart instead of averaged together. The
    average of several seeds' models is labelled so (`SEED_AVERAGE`), its seed the seeds averaged."""
    labels = score_labels(context.pipeline)
    intermediate, seed = labels["intermediate"], stage.settings["seed"]
    intermediate = with_setting(intermediate, model_setting(stage.upstream))  # translate-train
    if stage.upstream is not None and stage.upstream.kind == AVERAGE:
        intermediate = with_setting(intermediate, SEED_AVERAGE)
        seed = "+".join(map(str, stage.upstream.settings["seeds"]))
    return [
        {
            "pipeline": context.pipeline.name,
            "intermediate": intermediate,
            "mlm": labels["mlm"],
            "target": metrics["task"],
            "seed": seed,
            "split": split,
            "language": language,
            "metric": metric,
            "value": float(value),
            STAGE: stage.folder.name,
            **({TRAINED_ON: "true"} if language in metrics.get("trained_on", {}).get(split, ()) else {}),
        }
        for split, by_language in metrics["scores"].items()
        for language, values in by_language.items()
        for metric, value in values.items()
    ]


TARGET = register_stage_kind(
    StageKind(
        name="target",
        config=TargetStage,
        plan=plan_target,
        runner=TargetStageRunner(),
        produces_model=True,
        not_fingerprinted=TARGET_NOT_FINGERPRINTED,
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
