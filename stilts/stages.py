"""What each stage kind does when it runs: train (intermediate, target) or evaluate zero-shot."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from stilts.artifacts import atomic_folder, upsert_scores
from stilts.checkpoints import CheckpointStore
from stilts.data import DataRead, load_examples, training_task
from stilts.engine import PlannedStage, RunContext, score_labels
from stilts.errors import BadInput
from stilts.evaluation import evaluate_examples
from stilts.featurize import featurize
from stilts.modeling import HEADS_FOLDER, StageModel, load_encoder, load_head, save_heads, seed_everything
from stilts.readers.nli import MissingSplit
from stilts.registry import get_task, mixer
from stilts.training import TrainingPlan, TrainingTask, train

MODEL_FOLDER = "model"
CHECKPOINTS_FOLDER = "checkpoints"


def input_model(stage: PlannedStage, context: RunContext) -> str:
    return str(stage.upstream.folder / MODEL_FOLDER) if stage.upstream else context.model_path


class TrainingStageRunner:
    """Intermediate and target stages: fresh heads on the incoming encoder, train, save."""

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        settings, accelerator = stage.settings, context.accelerator
        seed_everything(settings["seed"])
        encoder, tokenizer = load_encoder(input_model(stage, context))
        tasks = [get_task(name) for name in settings["tasks"]]
        items = [self._training_task(task, tokenizer, settings, context) for task in tasks]
        model = StageModel(encoder, tasks)  # heads are new: the paper re-initialises them every phase
        for name, head in model.heads.items():  # e.g. the MLM head: vocabulary, pretrained weights
            model.tasks[name].format.init_head(head, encoder, input_model(stage, context), context.log)

        for item in items:
            if item.batch_size % accelerator.num_processes:
                raise BadInput(f"stages[{stage.index}]: batch size {item.batch_size} of {item.task.name} is not "
                               f"divisible by the {accelerator.num_processes} processes (batch sizes are global)")
        total_batches, draw_task = self._schedule(items, settings, context)
        accumulation = settings["gradient_accumulation_steps"]
        if settings["max_steps"]:
            total_batches = settings["max_steps"] * accumulation
        plan = TrainingPlan(
            total_batches=total_batches, gradient_accumulation_steps=accumulation,
            learning_rate=settings["learning_rate"], warmup_ratio=settings["warmup_ratio"],
            weight_decay=settings["weight_decay"], max_grad_norm=1.0,
            validate_every=settings["validate_every"], patience=settings["patience"], seed=settings["seed"],
            draw_task=draw_task, group_by_length=settings["group_by_length"])
        context.log(f"  {plan.optimizer_steps} optimizer steps ({total_batches} batches, gradient accumulation "
                    f"{accumulation}), learning rate {settings['learning_rate']:g}")
        checkpoints = CheckpointStore(stage.folder / CHECKPOINTS_FOLDER, accelerator)
        summary = train(accelerator, model, items, tokenizer, plan, checkpoints,
                        checkpoint_every=stage.config.checkpoint_every or settings["validate_every"],
                        log=context.log)

        if accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(model)
            with atomic_folder(stage.folder / MODEL_FOLDER) as folder:
                unwrapped.encoder.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
            with atomic_folder(stage.folder / HEADS_FOLDER) as folder:
                save_heads(unwrapped, folder)
        return {"training": summary, "train_examples": {item.task.name: len(item.features) for item in items}}

    @staticmethod
    def _schedule(items: list[TrainingTask], settings: dict, context: RunContext):
        """How many batches the stage takes and which task each comes from.

        One task: ``epochs`` passes over its data. Several: the mixing rule of the intermediate
        package (default capped examples-proportional), ``epochs`` passes over the capped sizes.
        """
        sizes = {item.task.name: len(item.features) for item in items}
        batch_sizes = {item.task.name: item.batch_size for item in items}
        if len(items) == 1:
            (name,) = sizes
            context.log(f"  {name}: {sizes[name]} training examples, batch size {batch_sizes[name]}")
            return max(1, math.ceil(settings["epochs"] * math.ceil(sizes[name] / batch_sizes[name]))), lambda: name
        mixing = mixer()
        rates = mixing.mixing_rates(sizes, settings["mixing"], cap=settings["mixing_cap"],
                                    temperature=settings["mixing_temperature"], weights=settings["mixing_weights"])
        total_batches = mixing.mixture_batches(sizes, batch_sizes, settings["epochs"], cap=settings["mixing_cap"])
        context.log(f"  mixing '{settings['mixing']}' over {len(items)} tasks, {settings['epochs']:g} epochs over "
                    f"the capped sizes (K = {settings['mixing_cap']}): {total_batches} batches")
        for name, rate in rates.items():
            expected = total_batches * rate * batch_sizes[name]
            context.log(f"    {name:<15} {sizes[name]:>8} examples  batch {batch_sizes[name]:>3}  "
                        f"rate {rate:.4f}  expected {expected:,.0f} examples ({expected / sizes[name]:.2f} epochs)")
        return total_batches, mixing.TaskSampler(rates, settings["seed"])

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """Every (task, split, language) the stage will read: its training data and its dev data."""
        reads = []
        for task in (get_task(name) for name in stage.settings["tasks"]):
            sources = _training_sources(task, stage.settings)
            reads += [DataRead(source, split, source.source_language)
                      for source in sources for split in stage.settings["train_splits"]]
            if not _trains_on_own_dev(task, sources, stage.settings):
                reads.append(DataRead(task, "dev", task.source_language, optional=True))
        return reads

    @staticmethod
    def _training_task(task, tokenizer, settings, context: RunContext) -> TrainingTask:
        sources = _training_sources(task, settings)
        examples = [example for source in sources for split in settings["train_splits"]
                    for example in load_examples(source, split, source.source_language, context.data_sources)]
        if settings["max_train_examples"]:
            examples = examples[: settings["max_train_examples"]]
        features = featurize(task, examples, tokenizer, settings["max_length"])
        if _trains_on_own_dev(task, sources, settings):
            context.log(f"  {task.name}: trains on its dev split, so it is not validated on it (no early stopping)")
            return TrainingTask(task, features, settings["batch_sizes"][task.name])
        try:
            dev_examples = load_examples(task, "dev", task.source_language, context.data_sources)
        except MissingSplit as missing:
            context.log(f"  {task.name}: no validation data ({missing}); training without early stopping")
            return TrainingTask(task, features, settings["batch_sizes"][task.name])
        dev_examples = dev_examples[: settings["validation_examples"]]
        dev_features = featurize(task, dev_examples, tokenizer, settings["max_length"])
        return TrainingTask(task, features, settings["batch_sizes"][task.name], dev_features, dev_examples)

    def on_skip(self, stage: PlannedStage, context: RunContext) -> None:
        pass


def _training_sources(task, settings: dict) -> list:
    """The tasks whose data trains ``task`` in a stage with ``settings``."""
    return [get_task(name) for name in settings.get("train_tasks") or []] or [training_task(task)]


def _trains_on_own_dev(task, sources: list, settings: dict) -> bool:
    return "dev" in settings["train_splits"] and task.name in {source.name for source in sources}


class EvaluateStageRunner:
    """Zero-shot evaluation in every language of the target task; rows go to scores.csv."""

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        settings, accelerator = stage.settings, context.accelerator
        seed_everything(settings["seed"])
        task = get_task(settings["task"])
        task = dataclasses.replace(task, format=task.format.for_evaluation(settings))
        encoder, tokenizer = load_encoder(input_model(stage, context))
        model = StageModel(encoder, [task]).to(accelerator.device)
        if task.format.trains:
            load_head(model, task, stage.upstream.folder / HEADS_FOLDER)

        scores: dict[str, dict[str, dict[str, float]]] = {}
        states: dict[str, dict] = {}  # per language, carried from split to split (BUCC: the dev threshold)
        for read in self.data_reads(stage):
            split, language = read.split, read.language
            try:
                examples = load_examples(task, split, language, context.data_sources)
            except MissingSplit:
                if not read.optional:
                    raise
                continue
            if settings["max_examples"]:
                examples = examples[: settings["max_examples"]]
            scores.setdefault(split, {})[language] = evaluate_examples(
                accelerator, model, task, examples, tokenizer, max_length=settings["max_length"],
                batch_size=stage.config.batch_size, language=language, desc=f"{task.name} {split} {language}",
                split=split, state=states.setdefault(language, {}))
        if not scores:
            raise BadInput(f"data.{task.name}: no evaluation data found in "
                           f"{context.data_sources.get(task.name, 'the Hub')}")
        metrics = {"task": task.name, "scores": scores, "average": _averages(scores)}
        if any(states.values()):
            metrics["state"] = {language: state for language, state in states.items() if state}
        if accelerator.is_main_process:
            upsert_scores(context.scores_path, score_rows(metrics, stage, context))
        return metrics

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """The splits and languages to evaluate; those the data lacks are left out, unless the stage
        named both its splits and its languages."""
        settings = stage.settings
        task = get_task(settings["task"])
        explicit = settings["splits"] is not None and settings["languages"] is not None
        return [DataRead(task, split, language, optional=not explicit)
                for split in settings["splits"] or task.eval_splits
                for language in settings["languages"] or task.languages]

    def on_skip(self, stage: PlannedStage, context: RunContext) -> None:
        """A reused evaluation still belongs in this run's scores.csv (it may be a new file)."""
        metrics = json.loads((stage.folder / "metrics.json").read_text())
        if context.accelerator.is_main_process:
            upsert_scores(context.scores_path, score_rows(metrics, stage, context))


def _averages(scores: dict) -> dict:
    averages = {}
    for split, by_language in scores.items():
        metric_names = next(iter(by_language.values())).keys()
        averages[split] = {m: float(np.mean([values[m] for values in by_language.values()])) for m in metric_names}
    return averages


def score_rows(metrics: dict, stage: PlannedStage, context: RunContext) -> list[dict]:
    labels = score_labels(context.pipeline)
    return [{"pipeline": context.pipeline.name, "intermediate": labels["intermediate"], "mlm": labels["mlm"],
             "target": metrics["task"], "seed": stage.settings["seed"], "split": split, "language": language,
             "metric": metric, "value": float(value)}
            for split, by_language in metrics["scores"].items()
            for language, values in by_language.items()
            for metric, value in values.items()]


def per_language_table(metrics: dict) -> str:
    """A plain-text table: one row per split and metric, one column per language, average last."""
    lines = []
    for split, by_language in metrics["scores"].items():
        languages = list(by_language)
        lines.append(f"{metrics['task']} ({split})")
        lines.append("  " + f"{'metric':<12}" + "".join(f"{name:>7}" for name in languages + ["avg"]))
        for metric in next(iter(by_language.values())):
            values = [by_language[lang][metric] for lang in languages] + [metrics["average"][split][metric]]
            lines.append("  " + f"{metric:<12}" + "".join(f"{value:7.1f}" for value in values))
    return "\n".join(lines)


STAGE_RUNNERS = {
    "intermediate": TrainingStageRunner(),
    "target": TrainingStageRunner(),
    "evaluate": EvaluateStageRunner(),
}


def evaluation_metrics(stages: list[PlannedStage]) -> list[dict]:
    return [json.loads((stage.folder / "metrics.json").read_text())
            for stage in stages if stage.kind == "evaluate" and (stage.folder / "metrics.json").is_file()]

