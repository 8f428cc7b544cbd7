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
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.core.numbers import MAX_COUNT, Count, Float, Index, MaxLength
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
    TrainingStageRunner,
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


class TargetStage(MultiTaskTrainingStage):
    kind: Literal["target"]
    #: the target task (or `tasks`)
    task: str | None = None
    #: several target tasks trained together, each with its own head, mixed by `mixing` (XGLUE's
    #: multi-task fine-tuning); an evaluate stage for each may follow
    tasks: Annotated[list[str], Field(min_length=2)] | None = None
    #: tasks whose data trains the target instead of the catalog's (e.g. XNLI from ANLI instead of
    #: MNLI, or from ``mnli@es``, a translated set); they must have the target's labels. None = the
    #: catalog's training task
    train_tasks: Annotated[list[str], Field(min_length=1)] | None = None
    #: the languages of the training data (each source's release files in that language): one is
    #: pivot-language fine-tuning, several are multi-language fine-tuning on their merged data.
    #: None = each source's own language (English)
    train_languages: Annotated[Annotated[list[str], Field(min_length=1)] | None, HASHED_WHEN_SET] = None
    #: language -> share of the batches (each batch then holds one language); None = the merged
    #: data's own proportions
    language_ratios: Annotated[dict[str, Annotated[Float, Field(ge=0, le=MAX_COUNT)]] | None, HASHED_WHEN_SET] = None
    #: which weights the stage keeps: the best on English dev, the best on the dev score averaged
    #: over every language of each task (XGLUE's rule), or the last step's
    model_selection: Annotated[Literal["english_dev", "average_dev", "last_step"], HASHED_WHEN_SET] = "english_dev"

    @model_validator(mode="after")
    def _task_or_tasks(self):
        if (self.task is None) == (self.tasks is None):
            raise ValueError("give either task (one target task) or tasks (several trained together)")
        return self

    @property
    def task_names(self) -> list[str]:
        return self.tasks or [str(self.task)]


class EvaluateStage(StageConfig):
    kind: Literal["evaluate"]
    task: str
    #: None = the task's evaluation splits that the data has
    splits: list[Literal["dev", "test"]] | None = None
    #: None = every language of the task that the data has; each language named must be in the data
    languages: list[str] | None = None
    #: None = the task format's default (128 for sentence tasks, 384 for QA windows)
    max_length: MaxLength | None = None
    #: evaluate on the first N examples per language only (quick runs); None = all
    max_examples: Count | None = None
    #: None = 64 on CPU, 256 on a GPU (stilts.training.devices.EVALUATION_BATCH_SIZE)
    batch_size: Count | None = None
    #: retrieval tasks (tatoeba, bucc): the hidden state pooled, as an index into Hugging Face
    #: ``hidden_states`` (0 = embedding output, N = last of N layers). None = 14 for 24 layers (the
    #: paper's "layer 13" of XLM-R large), 8 for 12 (XTREME's mBERT layer 7), else ceil(N * 14 / 24)
    layer: Index | None = None
    #: retrieval tasks: mean over the non-padding tokens (XTREME's default) or the first token's state
    pooling: Literal["mean", "cls"] = "mean"
    #: score splits and languages the model trained on (or on translations of them), marked as such;
    #: without it such an evaluation is refused before anything trains (`stilts.pipeline.overlap`)
    allow_overlap: bool = False


TARGET_NOT_FINGERPRINTED = frozenset({"name", "checkpoint_every"})
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
    sources = []
    for i, source_name in enumerate(stage.train_tasks or []):
        source_task = get_task(source_name, f"{where}.train_tasks[{i}]")
        if source_task.labels != tasks[0].labels or source_task.format.name != tasks[0].format.name:
            raise BadInput(
                f"{where}.train_tasks[{i}]: '{source_name}' cannot train '{tasks[0].name}': its format or labels differ"
            )
        sources.append(source_task)  # its data source is part of the stage's identity
    _check_languages(stage, tasks, sources, where)
    return StagePlan(settings, data_tasks_of(tasks + sources))


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
    if task.format.trains and not (previous and previous.kind == "target" and task.name in previous.settings["tasks"]):
        raise BadInput(
            f"{where}.task: evaluating '{task.name}' needs a target stage that trains "
            f"'{task.name}' right before it (its head is trained there)"
        )
    for i, language in enumerate(stage.languages or []):
        if language not in task.languages:
            raise BadInput(
                f"{where}.languages[{i}]: '{language}' is not a language of "
                f"{task.name}{did_you_mean(language, task.languages)}; its languages: {', '.join(task.languages)}"
            )
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
        encoder, tokenizer = load_encoder(input_model(stage, context))
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
    stages (a pipeline changed and run again) are then told apart instead of averaged together."""
    labels = score_labels(context.pipeline)
    return [
        {
            "pipeline": context.pipeline.name,
            "intermediate": labels["intermediate"],
            "mlm": labels["mlm"],
            "target": metrics["task"],
            "seed": stage.settings["seed"],
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
        runner=TrainingStageRunner(),
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
