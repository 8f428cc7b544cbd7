"""What the stage kinds that train share: their settings with the paper's defaults filled in, and the
runner that puts fresh heads on the incoming encoder, trains and saves.

The kinds themselves are declared by the stage packages (``stilts.intermediate.stage``,
``stilts.target.stages``).
"""

from __future__ import annotations

import math

from stilts import defaults
from stilts.adapters import ADAPTER_FOLDER, add_adapter, check_target_modules, save_adapter
from stilts.artifacts import atomic_folder, folder_size
from stilts.catalog import get_task
from stilts.checkpoints import CheckpointStore
from stilts.data import DataRead, load_examples, training_task
from stilts.errors import BadInput, MissingSplit
from stilts.featurize import featurize
from stilts.modeling import (
    HEADS_FOLDER,
    StageModel,
    load_encoder,
    save_heads,
    seed_everything,
)
from stilts.stage_kinds import PlanContext, PlannedStage, RunContext, StageRunner
from stilts.training import TrainingPlan, TrainingTask, train

MODEL_FOLDER = "model"
CHECKPOINTS_FOLDER = "checkpoints"


def input_model(stage: PlannedStage, context: RunContext) -> str:
    """The model a stage starts from: its upstream stage's model/, or the pipeline's model."""
    return str(stage.upstream.folder / MODEL_FOLDER) if stage.upstream else context.model_path


def check_task(name: str, kind: str, where: str):
    """The task ``name``, which must be usable in a ``kind`` stage."""
    task = get_task(name, where)
    if kind not in task.phases:
        allowed = ", ".join(sorted(task.phases))
        raise BadInput(f"{where}: task '{name}' cannot be used in a {kind} stage (it can in: {allowed})")
    return task


def training_settings(
    stage,
    task_names: list[str],
    context: PlanContext,
    *,
    paper_batch_epochs: dict,
    paper_learning_rate: float,
    not_fingerprinted: frozenset[str],
) -> dict:
    """The stage's settings with the paper's defaults filled in where the YAML leaves them unset.
    ``paper_batch_epochs``: task -> (batch size, epochs) of the paper's table for this kind."""
    tasks = [get_task(name) for name in task_names]
    paper = {task.name: paper_batch_epochs.get(task.paper_name, defaults.FALLBACK_BATCH_EPOCHS) for task in tasks}
    # a mixture runs 3 epochs over the capped task sizes ("mixed/3"); one task runs its own epochs
    paper_epochs = defaults.MULTITASK_EPOCHS if len(tasks) > 1 else paper[task_names[0]][1]
    settings = stage.model_dump(exclude=set(not_fingerprinted) | {"batch_size", "task"})
    settings.update(
        max_length=stage.max_length or max(task.format.default_max_length for task in tasks),
        learning_rate=stage.learning_rate or paper_learning_rate,
        # the paper's "mixed" setting: each task keeps its own batch size unless the stage sets one
        batch_sizes={name: stage.batch_size or paper[name][0] for name in task_names},
        epochs=stage.epochs or paper_epochs or 1,
        tasks=list(task_names),
        seed=context.pipeline.seed,
        mixed_precision=context.pipeline.mixed_precision,
    )
    if settings.get("peft") is None:  # stages without adapters keep the fingerprints they always had
        settings.pop("peft", None)
    return settings


def data_tasks_of(tasks) -> frozenset[str]:
    """The tasks whose data sources a training stage on ``tasks`` depends on: the tasks, the tasks
    their training data comes from, and their parts."""
    return frozenset(
        {training_task(t).name for t in tasks} | {t.name for t in tasks} | {part for t in tasks for part in t.parts}
    )


class TrainingStageRunner(StageRunner):
    """Stages that train (intermediate, target): fresh heads on the incoming encoder, train, save.

    ``mixing`` draws the task of each batch when a stage trains several tasks (the intermediate
    package's capped proportional sampling and friends); a kind without it trains one task.
    """

    def __init__(self, mixing=None):
        self.mixing = mixing

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        settings, accelerator = stage.settings, context.accelerator
        seed_everything(settings["seed"])
        encoder, tokenizer = load_encoder(input_model(stage, context))
        adapter = settings.get("peft")
        if adapter:
            encoder = add_adapter(encoder, adapter, f"stages[{stage.index}]")
        tasks = [get_task(name) for name in settings["tasks"]]
        items = [self._training_task(task, tokenizer, settings, context) for task in tasks]
        model = StageModel(encoder, tasks)  # heads are new: the paper re-initialises them every phase
        for name, head in model.heads.items():  # e.g. the MLM head: vocabulary, pretrained weights
            model.tasks[name].format.init_head(head, encoder, input_model(stage, context), context.log)

        for item in items:
            if item.batch_size % accelerator.num_processes:
                raise BadInput(
                    f"stages[{stage.index}]: batch size {item.batch_size} of {item.task.name} is not "
                    f"divisible by the {accelerator.num_processes} processes (batch sizes are global)"
                )
        total_batches, draw_task = self._schedule(items, settings, context)
        accumulation = settings["gradient_accumulation_steps"]
        if settings["max_steps"]:
            total_batches = settings["max_steps"] * accumulation
        plan = TrainingPlan(
            total_batches=total_batches,
            gradient_accumulation_steps=accumulation,
            learning_rate=settings["learning_rate"],
            warmup_ratio=settings["warmup_ratio"],
            weight_decay=settings["weight_decay"],
            max_grad_norm=defaults.MAX_GRAD_NORM,
            validate_every=settings["validate_every"],
            patience=settings["patience"],
            seed=settings["seed"],
            draw_task=draw_task,
            group_by_length=settings["group_by_length"],
            tracking_name=stage.folder.name,
            # trackers take scalars: lists and mappings are recorded as their text
            tracking_settings={
                key: value if isinstance(value, (int, float, str, bool)) else str(value)
                for key, value in settings.items()
            },
        )
        context.log(
            f"  {plan.optimizer_steps} optimizer steps ({total_batches} batches, gradient accumulation "
            f"{accumulation}), learning rate {settings['learning_rate']:g}"
        )
        checkpoints = CheckpointStore(stage.folder / CHECKPOINTS_FOLDER, accelerator)
        summary = train(
            accelerator,
            model,
            items,
            tokenizer,
            plan,
            checkpoints,
            checkpoint_every=stage.config.checkpoint_every or settings["validate_every"],
            log=context.log,
        )

        metrics = {"training": summary, "train_examples": {item.task.name: len(item.features) for item in items}}
        if accelerator.is_main_process:
            unwrapped = accelerator.unwrap_model(model)
            with atomic_folder(stage.folder / HEADS_FOLDER) as folder:
                save_heads(unwrapped, folder)
            if adapter:
                metrics["peft"] = self._save_adapter(unwrapped.encoder, adapter, stage, context)
                if adapter["on_end"] == "merge":
                    unwrapped.encoder = unwrapped.encoder.merge_and_unload()
            with atomic_folder(stage.folder / MODEL_FOLDER) as folder:
                if adapter and adapter["on_end"] == "keep":  # the adapter alone, on the frozen encoder
                    save_adapter(unwrapped.encoder, folder, input_model(stage, context))
                else:
                    unwrapped.encoder.save_pretrained(folder)
                tokenizer.save_pretrained(folder)
        return metrics

    @staticmethod
    def _save_adapter(peft_encoder, adapter: dict, stage: PlannedStage, context: RunContext) -> dict:
        with atomic_folder(stage.folder / ADAPTER_FOLDER) as folder:
            save_adapter(peft_encoder, folder, input_model(stage, context))
        trainable, total = peft_encoder.get_nb_trainable_parameters()
        size = folder_size(stage.folder / ADAPTER_FOLDER)
        context.log(
            f"  {adapter['method']} adapter: {trainable:,} of {total:,} encoder parameters trained "
            f"({100 * trainable / total:.2f}%), {size / 1e6:.2f} MB ({adapter['on_end']})"
        )
        return {"method": adapter["method"], "trainable_parameters": trainable, "parameters": total, "bytes": size}

    def _schedule(self, items: list[TrainingTask], settings: dict, context: RunContext):
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
        mixing = self.mixing
        if mixing is None:
            raise BadInput(f"{', '.join(sizes)}: this stage kind trains one task at a time")
        rates = mixing.mixing_rates(
            sizes,
            settings["mixing"],
            cap=settings["mixing_cap"],
            temperature=settings["mixing_temperature"],
            weights=settings["mixing_weights"],
        )
        total_batches = mixing.mixture_batches(sizes, batch_sizes, settings["epochs"], cap=settings["mixing_cap"])
        context.log(
            f"  mixing '{settings['mixing']}' over {len(items)} tasks, {settings['epochs']:g} epochs over "
            f"the capped sizes (K = {settings['mixing_cap']}): {total_batches} batches"
        )
        for name, rate in rates.items():
            expected = total_batches * rate * batch_sizes[name]
            context.log(
                f"    {name:<15} {sizes[name]:>8} examples  batch {batch_sizes[name]:>3}  "
                f"rate {rate:.4f}  expected {expected:,.0f} examples ({expected / sizes[name]:.2f} epochs)"
            )
        return total_batches, mixing.TaskSampler(rates, settings["seed"])

    def check_model(self, stage: PlannedStage, model_path: str) -> None:
        if stage.settings.get("peft"):
            check_target_modules(model_path, stage.settings["peft"], f"stages[{stage.index}]")

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """Every (task, split, language) the stage will read: its training data and its dev data."""
        reads = []
        for task in (get_task(name) for name in stage.settings["tasks"]):
            sources = _training_sources(task, stage.settings)
            reads += [
                DataRead(source, split, source.source_language)
                for source in sources
                for split in stage.settings["train_splits"]
            ]
            if not _trains_on_own_dev(task, sources, stage.settings):
                reads.append(DataRead(task, "dev", task.source_language, optional=True))
        return reads

    @staticmethod
    def _training_task(task, tokenizer, settings, context: RunContext) -> TrainingTask:
        sources = _training_sources(task, settings)
        examples = [
            example
            for source in sources
            for split in settings["train_splits"]
            for example in load_examples(source, split, source.source_language, context.data_sources)
        ]
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


def _training_sources(task, settings: dict) -> list:
    """The tasks whose data trains ``task`` in a stage with ``settings``."""
    return [get_task(name) for name in settings.get("train_tasks") or []] or [training_task(task)]


def _trains_on_own_dev(task, sources: list, settings: dict) -> bool:
    return "dev" in settings["train_splits"] and task.name in {source.name for source in sources}
