"""The `few_shot` stage kind: after the target stage, the model fine-tuned further on k labelled examples
of one target language (Lauscher et al. 2020, "From Zero to Hero"), for each language and each of
several sets of shots drawn at random, and scored in that language, set by set: the choice of shots
moves the scores by many points (Zhao et al. 2021), so the sets are fixed, published and averaged over.

Each set is drawn from the language's training split, or from its dev split where the data has no
training split in the language (XNLI's, whose training data is MNLI's English); shots drawn from dev
are left out of that language's dev scores. Set i of a language is the first k of a permutation of
the pool drawn with ``[draw_seed, i, <language>]`` (`shot_order`): independent of the pipeline's seed
and of the model, so every seed and configuration is fine-tuned on the same sets, and a set of 10 is
part of the set of 100 of the same index. Each set is written to ``shots/<language>-set<i>.json``
(the examples' positions in the split and their ids) for others to reuse.

Each (language, set) starts again from the target stage's model and heads, trains ``epochs`` passes
over its k shots (no validation: there is no target-language dev to select on) and is scored; its
scores are kept in ``results/<language>-set<i>.json`` as it finishes, so a stage stopped midway goes
on with the next one, and its per-example rows in ``predictions/set<i>/``. The models are not kept
(k-shot models of every language and set would take that many times the disk of one model); the
shot files and the seeds make each again.

Rows in scores.csv: ``intermediate`` ``<configuration>/<k>-shot``, ``seed`` ``<seed>/set<i>``
(`stilts.core.names`), so a table shows k-shot rows beside the zero-shot ones, the mean over the sets
with their spread, and never pools sets as seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from stilts.core import defaults
from stilts.core.artifacts import read_json, write_json_atomic
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit
from stilts.core.names import SETTING_SEPARATOR, SHOTS_SUFFIX, with_setting
from stilts.core.numbers import MAX_COUNT, Count, Float, MaxLength, Seed
from stilts.data.loading import DataRead, load_examples
from stilts.pipeline.config import StageConfig
from stilts.pipeline.evaluation_stage import model_labels
from stilts.pipeline.overlap import overlapping
from stilts.pipeline.stage_kinds import (
    Found,
    PlanContext,
    PlannedStage,
    RunContext,
    Sizes,
    StageKind,
    StagePlan,
    StageRunner,
    fingerprinted_settings,
)
from stilts.pipeline.training_stage import MODEL_FOLDER, check_languages, check_task
from stilts.reports.prediction_files import PREDICTIONS_FOLDER, write_example_rows
from stilts.reports.scores_file import STAGE, TRAINED_ON, upsert_scores
from stilts.target.average import AVERAGE, HEADED_KINDS

FEW_SHOT = "few_shot"
SHOTS_FOLDER = "shots"
RESULTS_FOLDER = "results"
CHECKPOINTS_FOLDER = "checkpoints"
#: the splits shots are drawn from, the first the data has in the language
POOL_SPLITS = ("train", "dev")


class FewShotStage(StageConfig):
    kind: Literal["few_shot"] = Field(
        description="`few_shot`: fine-tune the target stage's model on k examples of each language, set by set."
    )
    task: str = Field(description="The target task, trained by the target stage right before this one.")
    k: Count = Field(description="Labelled examples of a language in each set of shots (per set, not per label).")
    sets: Count = Field(
        defaults.FEW_SHOT_SETS,
        description="How many sets of k shots are drawn for each language; each is fine-tuned on and scored "
        "on its own, and tables show their mean and spread.",
    )
    languages: Annotated[list[str], Field(min_length=1)] | None = Field(
        None,
        description="The languages fine-tuned on and scored, each on its own shots. None: every language of "
        "the task that the data has shots and evaluation data for, the source language (English) too, so that "
        "k-shot averages are over the languages zero-shot averages are.",
    )
    draw_seed: Seed = Field(
        0,
        description="Seed of the draws of the shots (not the pipeline's seed): the same sets for every seed "
        "and configuration.",
    )
    splits: list[Literal["dev", "test"]] | None = Field(
        None, description="The splits scored in each language (dev without its shots). None: the task's."
    )
    learning_rate: Annotated[Float, Field(gt=0, le=1)] | None = Field(
        None, description="None: the target stage's learning rate."
    )
    batch_size: Count | None = Field(None, description="None: the target stage's batch size, at most k.")
    epochs: Annotated[Float, Field(gt=0, le=MAX_COUNT)] = Field(
        defaults.FEW_SHOT_EPOCHS, description="Passes over each set's k shots (stilts' default, not a paper's)."
    )
    warmup_ratio: Annotated[Float, Field(ge=0, lt=1)] = Field(
        default=defaults.WARMUP_RATIO,
        description="Share of each set's optimizer steps over which the learning rate rises linearly from 0 "
        "to its peak, before it decays linearly to 0.",
    )
    weight_decay: Annotated[Float, Field(ge=0, le=1)] = Field(
        default=defaults.WEIGHT_DECAY, description="AdamW's decoupled weight decay (0 is none)."
    )
    max_length: MaxLength | None = Field(None, description="None: the task format's default.")
    max_examples: Count | None = Field(
        None, description="Score the first N examples per split and language only (quick runs); None: all."
    )
    evaluation_batch_size: Count | None = Field(
        None, description="Batch size of scoring; None: 64 on CPU, 256 on a GPU. Not fingerprinted."
    )
    allow_overlap: bool = Field(
        False,
        description="Score splits and languages that a stage before this one trained on, marked as such "
        "(the shots themselves are never scored).",
    )


NOT_FINGERPRINTED = frozenset({"name", "evaluation_batch_size", "allow_overlap"})


def plan_few_shot(stage: FewShotStage, context: PlanContext) -> StagePlan:
    where, previous = context.where, context.previous
    task = check_task(stage.task, "evaluate", f"{where}.task")
    if not task.format.trains:
        raise BadInput(f"{where}.task: {task.name} trains no head ({task.format.name}): nothing to fine-tune")
    if not (previous and previous.kind in HEADED_KINDS and task.name in previous.settings["tasks"]):
        raise BadInput(
            f"{where}.task: fine-tuning '{task.name}' on shots needs a target stage that trains "
            f"'{task.name}' right before it (its model and head are where the shots start from)"
        )
    check_languages(stage.languages, task, where)
    trained = previous.inputs[0].settings if previous.kind == AVERAGE else previous.settings
    settings = fingerprinted_settings(stage, NOT_FINGERPRINTED)
    settings.update(
        seed=context.pipeline.seed,
        learning_rate=stage.learning_rate or trained["learning_rate"],
        batch_size=min(stage.k, stage.batch_size or trained["batch_sizes"][task.name]),
        max_length=stage.max_length or task.format.default_max_length,
        mixed_precision=context.pipeline.mixed_precision,
    )
    return StagePlan(settings, frozenset({task.name}))


def shot_order(pool_size: int, draw_seed: int, set_index: int, language: str) -> np.ndarray:
    """The order set ``set_index`` of ``language`` takes the pool's examples in: its first k are the set.
    A function of its arguments only (the language enters by a hash of its code, not Python's hash)."""
    language_key = int.from_bytes(hashlib.sha256(language.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([draw_seed, set_index, language_key]).permutation(pool_size)


def shot_file(stage_folder, language: str, set_index: int):
    return stage_folder / SHOTS_FOLDER / f"{language}-set{set_index}.json"


class FewShotStageRunner(StageRunner):
    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """Per language: where shots may come from (the task's own training split, if it has one, and
        dev) and the splits scored; a language the data lacks is left out unless the stage names it."""
        return self.pool_reads(stage) + self.scored_reads(stage)

    def pool_reads(self, stage: PlannedStage) -> list[DataRead]:
        task = get_task(stage.settings["task"])
        # a task whose training split is another task's (XNLI's is MNLI's English) has none in a language
        splits = ("dev",) if task.train_task else POOL_SPLITS
        return [DataRead(task, split, language, optional=True) for language in _languages(stage) for split in splits]

    def scored_reads(self, stage: PlannedStage) -> list[DataRead]:
        task = get_task(stage.settings["task"])
        splits = stage.settings["splits"] or task.eval_splits
        return [DataRead(task, split, language, optional=True) for language in _languages(stage) for split in splits]

    def training_reads(self, stage: PlannedStage) -> list[DataRead]:
        return []  # no stage starts from a few-shot model: what each trained on is left out of its scores

    def check_found(self, stage: PlannedStage, found: Found, sources: dict[str, str]) -> None:
        """A language the stage names has shots to draw and a split to score."""
        named = stage.settings["languages"]
        task = get_task(stage.settings["task"])
        scored = stage.settings["splits"] or task.eval_splits
        where = sources.get(task.name, "the Hub")
        usable = [
            language
            for language in _languages(stage)
            if any(found.get((task.name, split, language)) for split in POOL_SPLITS)
            and any(found.get((task.name, split, language)) for split in scored)
        ]
        if not named and not usable:
            raise BadInput(
                f"{stage.where}: no language of {task.name} has train or dev data to draw shots from and "
                f"{' or '.join(scored)} data to score, in {where}"
            )
        for i, language in enumerate(named or []):
            if not any(found.get((task.name, split, language)) for split in POOL_SPLITS):
                raise BadInput(
                    f"{stage.where}.languages[{i}]: {task.name} has no train or dev data in '{language}' to draw "
                    f"shots from (in {where}); leave it out of languages, or add its data"
                )
            if not any(found.get((task.name, split, language)) for split in scored):
                raise BadInput(
                    f"{stage.where}.languages[{i}]: {task.name} has no {' or '.join(scored)} data in '{language}' "
                    f"to score (in {where}); leave it out of languages, or add its data"
                )

    def check_sizes(self, stage: PlannedStage, sizes: Sizes) -> None:
        """k is at most the examples the language's pool has (and leaves some of dev to score)."""
        settings = stage.settings
        task = get_task(settings["task"])
        scored = settings["splits"] or task.eval_splits
        for language in _languages(stage):
            split = _pool_split(task, language, lambda split, language: sizes.get((task.name, split, language), 0))
            if split is None:
                continue
            size = sizes[(task.name, split, language)]
            left = size - settings["k"] if split in scored else 1
            if settings["k"] > size or left == 0:
                more = "" if settings["k"] > size else f", leaving none of its {split} to score"
                raise BadInput(
                    f"{stage.where}.k: {settings['k']} shots per set, but {task.name} has {size} {split} examples "
                    f"in '{language}'{' (no train split there)' if split == 'dev' else ''}{more}; lower k, or "
                    "leave the language out of languages"
                )

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        settings = stage.settings
        task = get_task(settings["task"])
        task = dataclasses.replace(task, format=task.format.for_evaluation(settings))
        scored_splits = settings["splits"] or task.eval_splits
        results: dict[str, dict[str, dict]] = {}  # language -> set -> split -> metrics
        pools: dict[str, str] = {}
        for language in _languages(stage):
            split = _pool_split(task, language, lambda split, language: _has(task, split, language, context))
            if split is None:
                if settings["languages"]:
                    raise BadInput(f"{stage.where}.languages: {task.name} has no train or dev data in '{language}'")
                continue
            pool = load_examples(task, split, language, context.data_sources)
            if settings["k"] > len(pool):
                raise BadInput(f"{stage.where}.k: {settings['k']} shots, but '{language}' has {len(pool)} {split}")
            evaluation = {}
            for scored in scored_splits:
                try:
                    examples = load_examples(task, scored, language, context.data_sources)
                except MissingSplit:
                    continue
                evaluation[scored] = examples
            if not evaluation:
                if settings["languages"]:
                    raise BadInput(f"{stage.where}.languages: {task.name} has no data to score in '{language}'")
                continue
            pools[language] = split
            for set_index in range(settings["sets"]):
                results.setdefault(language, {})[str(set_index)] = self._one_set(
                    stage, context, task, language, split, pool, evaluation, set_index
                )
        if not results:
            raise BadInput(f"{stage.where}: no language of {task.name} has both shots to draw and data to score")
        over_sets = _over_sets(results)
        metrics = {
            "task": task.name,
            # how `stilts run` titles its per-language table of the means over sets
            "label": f"{task.name} {settings['k']}{SHOTS_SUFFIX}, mean of {settings['sets']} sets",
            "k": settings["k"],
            "sets": settings["sets"],
            "draw_seed": settings["draw_seed"],
            "pools": pools,
            # language -> set -> split -> metrics: what scores.csv gets
            "set_scores": results,
            # split -> language -> metrics, and split -> metrics: the means over sets, as an evaluation's
            "scores": over_sets["scores"],
            "average": over_sets["average"],
            "sd_over_sets": over_sets["sd_over_sets"],
        }
        trained_on = {split: langs for split, langs in overlapping(stage).items()}
        if trained_on:
            metrics["trained_on"] = trained_on
        if context.accelerator.is_main_process:
            upsert_scores(context.scores_path, score_rows(metrics, stage, context), stage.pipeline_folders)
        return metrics

    def _one_set(self, stage, context, task, language, pool_split, pool, evaluation, set_index) -> dict:
        """Draw (or read back) set ``set_index`` of ``language``, fine-tune the target stage's model on it,
        and score it; a set scored before (a stage stopped midway) is read back instead."""
        settings, accelerator = stage.settings, context.accelerator
        result_path = stage.folder / RESULTS_FOLDER / f"{language}-set{set_index}.json"
        if result_path.is_file():
            context.log(f"  {language} set {set_index}: scored before, kept")
            return read_json(result_path)["scores"]
        order = shot_order(len(pool), settings["draw_seed"], set_index, language)
        chosen = sorted(int(position) for position in order[: settings["k"]])
        if accelerator.is_main_process:
            write_json_atomic(
                shot_file(stage.folder, language, set_index),
                {
                    "task": task.name,
                    "language": language,
                    "split": pool_split,
                    "k": settings["k"],
                    "set": set_index,
                    "draw_seed": settings["draw_seed"],
                    "drawn_with": f"numpy default_rng([{settings['draw_seed']}, {set_index}, sha256('{language}')]"
                    f".permutation({len(pool)})[:{settings['k']}]",
                    "examples": [{"position": position, "id": pool[position].get("id")} for position in chosen],
                },
            )
        shots = [pool[position] for position in chosen]
        model, tokenizer = self._train(stage, context, task, language, set_index, shots)
        scores = {}
        excluded = set(chosen) if pool_split in evaluation else set()
        for split, examples in evaluation.items():
            if split == pool_split:  # the shots are never scored
                examples = [example for position, example in enumerate(examples) if position not in excluded]
            if settings["max_examples"]:
                examples = examples[: settings["max_examples"]]
            scores[split] = self._score(stage, context, task, model, tokenizer, split, language, examples, set_index)
        main = task.metric
        context.log(
            f"  {language} set {set_index}: {settings['k']} shots from {pool_split}; "
            + ", ".join(f"{split} {main} {values[main]:.1f}" for split, values in scores.items() if main in values)
        )
        if accelerator.is_main_process:
            shots_path = shot_file(stage.folder, language, set_index).relative_to(stage.folder)
            write_json_atomic(result_path, {"scores": scores, "shots": str(shots_path)})
        return scores

    def _train(self, stage, context, task, language, set_index, shots):
        """The target stage's model and head, fine-tuned on ``shots`` (resuming from this set's checkpoint
        where a stop left one)."""
        import shutil

        from stilts.formats.tokenize import featurize
        from stilts.training.checkpoints import CheckpointStore
        from stilts.training.loop import TrainingPlan, TrainingTask, train
        from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, load_head, seed_everything

        settings, accelerator = stage.settings, context.accelerator
        assert stage.upstream is not None, "planning puts a target stage before a few-shot stage"
        seed = _set_seed(settings["seed"], set_index, language)
        seed_everything(seed)
        encoder, tokenizer = load_encoder(
            str(stage.upstream.folder / MODEL_FOLDER),
            context.pipeline.attention,
            mixed_precision=accelerator.mixed_precision,
        )
        model = StageModel(encoder, [task])
        load_head(model, task, stage.upstream.folder / HEADS_FOLDER)
        batch_size = settings["batch_size"]
        if batch_size % accelerator.num_processes:
            raise BadInput(
                f"{stage.where}: batch size {batch_size} is not divisible by the {accelerator.num_processes} "
                "processes (batch sizes are global)"
            )
        item = TrainingTask(task, featurize(task, shots, tokenizer, settings["max_length"]), batch_size)
        total = max(1, math.ceil(settings["epochs"] * math.ceil(len(shots) / batch_size)))
        plan = TrainingPlan(
            total_batches=total,
            gradient_accumulation_steps=1,
            learning_rate=settings["learning_rate"],
            warmup_ratio=settings["warmup_ratio"],
            weight_decay=settings["weight_decay"],
            max_grad_norm=defaults.MAX_GRAD_NORM,
            validate_every=MAX_COUNT,  # no target-language dev to select on: the last step is kept
            patience=MAX_COUNT,
            seed=seed,
            draw_task=lambda: item.name,
            tracking_name=f"{stage.folder.name}/{language}-set{set_index}",
            keep_last=True,
        )
        folder = stage.folder / CHECKPOINTS_FOLDER / f"{language}-set{set_index}"
        train(
            accelerator,
            model,
            [item],
            tokenizer,
            plan,
            CheckpointStore(folder, accelerator),
            checkpoint_every=MAX_COUNT,
            log=context.log,
        )
        if accelerator.is_main_process:
            shutil.rmtree(folder, ignore_errors=True)
        return model, tokenizer

    @staticmethod
    def _score(stage, context, task, model, tokenizer, split, language, examples, set_index) -> dict:
        from stilts.training.evaluation import predict_examples

        accelerator = context.accelerator
        predictions = predict_examples(
            accelerator,
            model,
            task,
            examples,
            tokenizer,
            max_length=stage.settings["max_length"],
            batch_size=stage.config.evaluation_batch_size,
            desc=f"{task.name} {split} {language} set {set_index}",
        )
        state: dict = {}
        scores = task.format.score_split(predictions, examples, task, language, split, state)
        if accelerator.is_main_process:
            rows = task.format.example_rows(predictions, examples, task, language, state)
            if rows is not None:
                write_example_rows(stage.folder / PREDICTIONS_FOLDER / f"set{set_index}", split, language, rows)
        return {metric: float(value) for metric, value in scores.items()}

    def kept_when_stopped(self, stage: PlannedStage) -> str | None:
        scored = sorted(path.stem for path in (stage.folder / RESULTS_FOLDER).glob("*.json"))
        started = sorted(path.name for path in (stage.folder / CHECKPOINTS_FOLDER).glob("*") if any(path.iterdir()))
        if not scored and not started:
            return "nothing of it is kept (no set scored yet): the same command runs it again from its start"
        where = stage.folder / RESULTS_FOLDER
        kept = f"kept: the {_count(len(scored), 'set')} scored ({', '.join(scored) or 'none'}, in {where})"
        if started:
            kept += f" and the checkpoint of {', '.join(started)}"
        return f"{kept}; run the same command again to go on from there"

    def summary(self, metrics: dict) -> str:
        """Each split's main metric: the mean over languages and sets, and the spread over sets."""
        task, metric = metrics["task"], get_task(metrics["task"]).metric
        parts = []
        for split, values in metrics["average"].items():
            if metric in values:
                parts.append(
                    f"{task} {metrics['k']}{SHOTS_SUFFIX} {split} {metric} {values[metric]:.1f} "
                    f"(sd {metrics['sd_over_sets'][split][metric]:.1f} over {metrics['sets']} sets; "
                    f"mean of {_count(len(metrics['set_scores']), 'language')})"
                )
        return ", ".join(parts)

    def on_skip(self, stage: PlannedStage, context: RunContext) -> None:
        """A reused stage's rows still belong in this run's scores.csv."""
        from stilts.core.artifacts import read_record, redo_stage

        metrics = read_record(stage.folder / "metrics.json", redo_stage(stage.folder), keys=("task", "set_scores"))
        if context.accelerator.is_main_process:
            upsert_scores(context.scores_path, score_rows(metrics, stage, context), stage.pipeline_folders)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"


def _languages(stage: PlannedStage) -> list[str]:
    return stage.settings["languages"] or list(get_task(stage.settings["task"]).languages)


def _pool_split(task, language: str, count) -> str | None:
    """The split shots are drawn from: the task's own training split in the language, else dev; None
    where neither has examples (``count``: (split, language) -> how many)."""
    splits = ("dev",) if task.train_task else POOL_SPLITS
    return next((split for split in splits if count(split, language)), None)


def _has(task, split: str, language: str, context: RunContext) -> int:
    try:
        return len(load_examples(task, split, language, context.data_sources))
    except MissingSplit:
        return 0


def _set_seed(seed: int, set_index: int, language: str) -> int:
    """The seed of one set's fine-tuning (its data order and dropout): the run's seed, the set and the
    language, so that each set trains as it would whichever sets ran before it."""
    language_key = int.from_bytes(hashlib.sha256(language.encode("utf-8")).digest()[:8], "little")
    return int(np.random.SeedSequence([seed, set_index, language_key]).generate_state(1)[0])


def _over_sets(results: dict) -> dict:
    """From language -> set -> split -> metrics: ``scores`` (split -> language -> metric: the mean over
    sets), ``average`` (split -> metric: the mean over sets of each set's language average) and
    ``sd_over_sets`` (split -> metric: the standard deviation over sets of that average; 0 with one set)."""
    sets = sorted({set_index for by_set in results.values() for set_index in by_set}, key=int)
    splits = dict.fromkeys(split for by_set in results.values() for scores in by_set.values() for split in scores)
    out: dict = {"scores": {}, "average": {}, "sd_over_sets": {}}
    for split in splits:
        for language, by_set in results.items():
            scored = [scores[split] for scores in by_set.values() if split in scores]
            if scored:
                out["scores"].setdefault(split, {})[language] = {
                    metric: float(np.mean([scores[metric] for scores in scored])) for metric in scored[0]
                }
        per_set: dict[str, list[float]] = {}
        for set_index in sets:
            languages = [by_set[set_index][split] for by_set in results.values() if split in by_set.get(set_index, {})]
            for metric in languages[0] if languages else []:
                per_set.setdefault(metric, []).append(float(np.mean([scores[metric] for scores in languages])))
        out["average"][split] = {metric: float(np.mean(values)) for metric, values in per_set.items()}
        out["sd_over_sets"][split] = {
            metric: float(np.std(values, ddof=1)) if len(values) > 1 else 0.0 for metric, values in per_set.items()
        }
    return out


def score_rows(metrics: dict, stage: PlannedStage, context: RunContext) -> list[dict]:
    """One row per language, set, split and metric: ``intermediate`` ``<configuration>/<k>-shot``, ``seed``
    ``<seed>/set<i>``."""
    intermediate, mlm, seed = model_labels(stage, context)
    setting = f"{metrics['k']}{SHOTS_SUFFIX}"
    trained_on = metrics.get("trained_on", {})
    return [
        {
            "pipeline": context.pipeline.name,
            "intermediate": with_setting(intermediate, setting),
            "mlm": mlm,
            "target": metrics["task"],
            "seed": f"{seed}{SETTING_SEPARATOR}set{set_index}",
            "split": split,
            "language": language,
            "metric": metric,
            "value": float(value),
            STAGE: stage.folder.name,
            **({TRAINED_ON: "true"} if language in trained_on.get(split, ()) else {}),
        }
        for language, by_set in metrics["set_scores"].items()
        for set_index, by_split in by_set.items()
        for split, values in by_split.items()
        for metric, value in values.items()
    ]


#: registered by `stilts.target.stages`, the package's entry point, after the target and evaluate kinds
FEW_SHOT_KIND = StageKind(
    name=FEW_SHOT,
    config=FewShotStage,
    plan=plan_few_shot,
    runner=FewShotStageRunner(),
    produces_model=False,
    not_fingerprinted=NOT_FINGERPRINTED,
)
