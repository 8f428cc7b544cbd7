"""What the stage kinds that score a trained model share: the runner that predicts each split and
language of a task with the model and head of the stage before it, scores them, keeps the predictions
and per-example rows (`stilts.reports.prediction_files`) and writes the rows of scores.csv.

The `evaluate` kind (``stilts.target.stages``) scores the task's own examples (zero-shot);
``translate_test`` (``stilts.translate.evaluation``) scores them machine-translated into the task's
source language, through the hooks here: `EvaluationRunner.examples_of` (where a split and language's
examples come from) and `EvaluationRunner.setting` (how its rows are labelled in scores.csv).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from stilts.core.artifacts import read_record, redo_stage
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.core.names import with_setting
from stilts.data.loading import HUB, DataRead, load_examples
from stilts.pipeline.engine import score_labels
from stilts.pipeline.overlap import overlapping
from stilts.pipeline.stage_kinds import STAGE_KINDS, Found, PlannedStage, RunContext, StageRunner
from stilts.pipeline.training_stage import input_model
from stilts.reports.prediction_files import (
    CALIBRATION_SPLIT,
    CALIBRATION_SUFFIX,
    EXAMPLE_ROWS,
    PREDICTIONS_FOLDER,
    PROBABILITIES,
    write_example_rows,
    write_predictions,
)
from stilts.reports.scores_file import STAGE, TRAINED_ON, upsert_scores
from stilts.training.attention import attention_record

#: (split, language) -> the examples to score there; MissingSplit where the data has none
ExamplesOf = Callable[[str, str], list[dict]]


class EvaluationRunner(StageRunner):
    """Scores the model of the stage before it on a task in every language the data has (or those its
    settings name); rows go to scores.csv, and each split and language's predictions to the stage's
    predictions/ folder. A stage's settings: ``task``, ``splits``, ``languages``, ``max_length``,
    ``max_examples``, ``seed`` (and what the task format's `for_evaluation` reads); its config's
    ``batch_size`` sets the batch size."""

    #: the setting its rows' ``intermediate`` carries after the configuration (`with_setting`); "" for none
    setting = ""

    def examples_of(self, stage: PlannedStage, context: RunContext, task) -> ExamplesOf:
        """Where the examples of each split and language come from: the task's data, as it is."""
        return lambda split, language: load_examples(task, split, language, context.data_sources)

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        # imported where the stage runs, as in `TrainingStageRunner.run`: torch takes seconds
        from stilts.training.evaluation import predict_with_probabilities
        from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head, seed_everything

        settings, accelerator = stage.settings, context.accelerator
        task = get_task(settings["task"])
        task = dataclasses.replace(task, format=task.format.for_evaluation(settings))
        examples_of = self.examples_of(stage, context, task)
        seed_everything(settings["seed"])
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
                examples = examples_of(split, language)
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
            # where the per-example rows of its scores are (what `stilts table --ci` and --calibration read)
            EXAMPLE_ROWS: PREDICTIONS_FOLDER,
        }
        if self.setting:  # how `stilts run` titles its per-language table, and the summary names it
            metrics["label"] = f"{task.name} {self.setting}"
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
            upsert_scores(context.scores_path, self.score_rows(metrics, stage, context), stage.pipeline_folders)
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
        metric, label = get_task(metrics["task"]).metric, metrics.get("label", metrics["task"])
        return ", ".join(
            f"{label} {split} {metric} {averages[metric]:.1f} (mean of {len(metrics['scores'][split])} languages)"
            for split, averages in metrics["average"].items()
            if metric in averages
        )

    def on_skip(self, stage: PlannedStage, context: RunContext) -> None:
        """A reused evaluation still belongs in this run's scores.csv (it may be a new file)."""
        metrics = read_record(stage.folder / "metrics.json", redo_stage(stage.folder), keys=("task", "scores"))
        if context.accelerator.is_main_process:
            upsert_scores(context.scores_path, self.score_rows(metrics, stage, context), stage.pipeline_folders)

    def score_rows(self, metrics: dict, stage: PlannedStage, context: RunContext) -> list[dict]:
        """The scores.csv rows of an evaluation, each naming its stage (its folder): a run's rows from two
        stages (a pipeline changed and run again) are then told apart instead of averaged together. The
        model is labelled as the kind that made it says (`StageKind.model_setting`: the average of several
        seeds' models as `SEED_AVERAGE`), a model combining several runs (`PlannedStage.inputs`) with the
        seeds of those runs as its seed; the runner's `setting` follows."""
        intermediate, mlm, seed = model_labels(stage, context)
        intermediate = with_setting(intermediate, self.setting)
        return [
            {
                "pipeline": context.pipeline.name,
                "intermediate": intermediate,
                "mlm": mlm,
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


def model_labels(stage: PlannedStage, context: RunContext) -> tuple[str, str, str]:
    """scores.csv's ``intermediate``, ``mlm`` and ``seed`` of the model ``stage`` scores: the configuration's,
    with the setting of the kind that made the model after it (`StageKind.model_setting`: a translate-train
    target's, the seeds' average), and for a model combining several runs (`PlannedStage.inputs`) the seeds
    of those runs as its seed."""
    labels = score_labels(context.pipeline)
    intermediate, seed = labels["intermediate"], str(stage.settings["seed"])
    upstream = stage.upstream
    if upstream is not None:
        intermediate = with_setting(intermediate, STAGE_KINDS.get(upstream.kind).model_setting(upstream))
        if upstream.inputs:
            seed = "+".join(str(each.settings["seed"]) for each in upstream.inputs)
    return intermediate, labels["mlm"], seed


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
