"""What the stage kinds that train share: their settings with the paper's defaults filled in, and the
runner that puts fresh heads on the incoming encoder, trains and saves.

The kinds themselves are declared by the stage packages (``stilts.intermediate.stage``,
``stilts.target.stages``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from stilts.core import defaults
from stilts.core.artifacts import atomic_folder, folder_size
from stilts.core.catalog import get_task
from stilts.core.errors import BadInput, MissingSplit, did_you_mean
from stilts.data.loading import DataRead, load_examples, training_task
from stilts.data.readers.layout import collecting_notes
from stilts.pipeline.stage_kinds import (
    PlanContext,
    PlannedStage,
    RunContext,
    Sizes,
    StageRunner,
    fingerprinted_settings,
)
from stilts.training import mixing
from stilts.training.adapters import ADAPTER_FOLDER, add_adapter, check_target_modules, save_adapter
from stilts.training.attention import attention_record, describe_attention
from stilts.training.averaging import averaged_steps

if TYPE_CHECKING:
    from stilts.training.loop import TrainingTask, ValidationSet

MODEL_FOLDER = "model"
CHECKPOINTS_FOLDER = "checkpoints"

#: which weights a training stage keeps (a target stage's ``model_selection``): the best on its tasks'
#: English (source-language) dev, the best on the dev score averaged over every language of each
#: task (XGLUE's rule), the last step's, or the uniform average of the weights at the last
#: ``average_last`` validations (`stilts.training.averaging`)
ENGLISH_DEV, AVERAGE_DEV, LAST_STEP, AVERAGE_LAST = "english_dev", "average_dev", "last_step", "average_last"


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


def check_languages(languages: list[str] | None, task, where: str) -> None:
    """A stage's ``languages`` (None: the task's): each a language of ``task``, none listed twice."""
    for i, language in enumerate(languages or []):
        if language not in task.languages:
            raise BadInput(
                f"{where}.languages[{i}]: '{language}' is not a language of "
                f"{task.name}{did_you_mean(language, task.languages)}; its languages: {', '.join(task.languages)}"
            )
    if languages and len(set(languages)) < len(languages):
        raise BadInput(f"{where}.languages: a language is listed twice")


def training_settings(
    stage,
    task_names: list[str],
    context: PlanContext,
    *,
    paper_learning_rate: float,
    not_fingerprinted: frozenset[str],
) -> dict:
    """The stage's settings with the paper's defaults filled in where the YAML leaves them unset (each
    task's batch size and epochs: its declaration's `Task.paper_batch_epochs`)."""
    weights = getattr(stage, "mixing_weights", None)
    if weights is not None and set(weights) != set(task_names):
        raise BadInput(
            f"{context.where}.mixing_weights: give a weight for exactly the stage's tasks ({', '.join(task_names)})"
        )
    if weights is not None and not sum(weights.values()) > 0:
        raise BadInput(f"{context.where}.mixing_weights: the weights sum to 0 (give some task a weight above 0)")
    tasks = [get_task(name) for name in task_names]
    paper = {task.name: task.paper_batch_epochs or defaults.FALLBACK_BATCH_EPOCHS for task in tasks}
    # a mixture runs 3 epochs over the capped task sizes ("mixed/3"); one task runs its own epochs
    paper_epochs = defaults.MULTITASK_EPOCHS if len(tasks) > 1 else paper[task_names[0]][1]
    # the batch size, task and tasks are hashed as resolved below
    settings = fingerprinted_settings(stage, not_fingerprinted | {"batch_size", "task", "tasks"})
    settings.update(
        max_length=stage.max_length or max(task.format.default_max_length for task in tasks),
        learning_rate=stage.learning_rate or paper_learning_rate,
        # the paper's "mixed" setting: each task keeps its own batch size unless the stage sets one
        batch_sizes={name: stage.batch_size or paper[name][0] for name in task_names},
        epochs=stage.epochs or paper_epochs or 1,
        tasks=list(task_names),
        seed=context.pipeline.seed if stage.seed is None else stage.seed,
        mixed_precision=context.pipeline.mixed_precision,
    )
    return settings


def data_tasks_of(tasks) -> frozenset[str]:
    """The tasks whose data sources a training stage on ``tasks`` depends on: the tasks, the tasks
    their training data comes from, and their parts."""
    return frozenset(
        {training_task(t).name for t in tasks} | {t.name for t in tasks} | {part for t in tasks for part in t.parts}
    )


class TrainingStageRunner(StageRunner):
    """Stages that train (intermediate, target): fresh heads on the incoming encoder, train, save.

    When a stage trains several tasks, `stilts.training.mixing` draws the task of each batch (capped
    proportional sampling and friends); ``language_ratios`` then draws the language within a task.
    """

    def run(self, stage: PlannedStage, context: RunContext) -> dict:
        # the model code is imported where a stage runs: torch and datasets take seconds, and the stage
        # kinds (so this module) are loaded by every command, `stilts tasks` and dry runs among them
        from stilts.training.checkpoints import CheckpointStore
        from stilts.training.loop import TrainingPlan, train
        from stilts.training.model import HEADS_FOLDER, StageModel, load_encoder, save_heads, seed_everything

        settings, accelerator, pipeline = stage.settings, context.accelerator, context.pipeline
        seed_everything(settings["seed"])
        encoder, tokenizer = load_encoder(
            input_model(stage, context),
            pipeline.attention,
            mixed_precision=accelerator.mixed_precision,
            packing=pipeline.packing,
        )
        context.log(f"  attention: {describe_attention(pipeline.attention, encoder)}")
        tasks = [get_task(name) for name in settings["tasks"]]
        packed_from, packing = self._packing(encoder, tasks, context) if pipeline.packing else (None, None)
        adapter = settings.get("peft")
        if adapter:
            encoder = add_adapter(encoder, adapter, f"stages[{stage.index}]")
        items = [
            item
            for task in tasks
            for item in self._training_streams(
                task, tokenizer, settings, context, packed_from if task.format.packs else None
            )
        ]
        validation_sets = [item for task in tasks for item in self._validation_sets(task, tokenizer, settings, context)]
        selection = settings.get("model_selection", ENGLISH_DEV)
        # heads are new: the paper re-initialises them every phase; from their own seed where one is set
        init_seed = settings.get("init_seed")
        if init_seed is None:
            model = StageModel(encoder, tasks)
        else:
            import torch

            with torch.random.fork_rng(devices=[]):  # the rest of the stage draws as it would without it
                torch.manual_seed(init_seed)
                model = StageModel(encoder, tasks)
        for name, head in model.heads.items():  # e.g. the MLM head: vocabulary, pretrained weights
            model.tasks[name].format.init_head(head, encoder, input_model(stage, context), context.log)

        for item in items:
            if item.batch_size % accelerator.num_processes:
                raise BadInput(
                    f"stages[{stage.index}]: batch size {item.batch_size} of {item.task.name} is not "
                    f"divisible by the {accelerator.num_processes} processes (batch sizes are global)"
                )
        total_batches, epoch_batches, draw_task = self._schedule(items, settings, context)
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
            keep_last=selection == LAST_STEP,
            average_last=(settings.get("average_last") or 0) if selection == AVERAGE_LAST else 0,
            epoch_batches=epoch_batches,
        )
        if plan.average_last:  # what planning may not have known: how many steps the data makes
            try:
                averaged_steps(plan.optimizer_steps, plan.validate_every, plan.average_last)
            except ValueError as error:
                raise BadInput(f"{stage.where or f'stages[{stage.index}]'}.average_last: {error}") from None
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
            validation_sets=validation_sets,
        )

        train_examples: dict[str, int] = {}
        for item in items:
            train_examples[item.task.name] = train_examples.get(item.task.name, 0) + len(item.features)
        validated_on: dict[str, list[str]] = {}
        for validation_set in validation_sets:
            validated_on.setdefault(validation_set.task.name, []).append(validation_set.language)
        warnings = summary.pop("warnings", [])
        selected: dict = {"rule": selection, "validated_on": validated_on}
        if plan.average_last:
            selected["averaged_steps"] = summary["average"]["steps"]
        metrics = {
            "training": summary,
            "train_examples": train_examples,
            "model_selection": selected,
            "attention": attention_record(pipeline.attention, encoder),
            "warnings": warnings,
        }
        if packing is not None:
            metrics["packing"] = packing
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

    def summary(self, metrics: dict) -> str:
        """The kept step and its dev score, each task's main metric beside its chance level."""
        training, rule = metrics["training"], metrics["model_selection"]["rule"]
        kept = {
            LAST_STEP: "the last step",
            AVERAGE_LAST: f"the average of steps {', '.join(map(str, training.get('average', {}).get('steps', [])))}",
        }.get(rule, f"best step {training['best_step']}")
        line = f"{kept} of {training['optimizer_steps']}" + (" (stopped early)" if training["stopped_early"] else "")
        if training.get("resumed_from_step") is not None:  # absent in metrics.json of stilts <= 0.2
            line += f" (resumed from step {training['resumed_from_step']})"
        if rule == AVERAGE_LAST:
            entry = training.get("average")
        else:
            entry = next((v for v in training["validations"] if v["step"] == training["best_step"]), None)
        if entry is not None and not entry["tasks"]:
            entry = None
        if entry is None:
            return line + ", not validated"
        parts = []
        for task, scores in entry["tasks"].items():
            metric = get_task(task).metric
            text = f"{task} {metric} {scores[metric]:.1f}"
            chances = list(training.get("chance", {}).get(task, {}).values())
            if chances and None not in chances:
                text += f" (chance {sum(chances) / len(chances):.1f})"
            parts.append(text)
        return f"{line}, dev " + ", ".join(parts)

    @staticmethod
    def _packing(encoder, tasks, context: RunContext) -> tuple[int, dict]:
        """Where packed batches number their positions from (`stilts.formats.packing.position_offset`),
        and what metrics.json records of packing: the offset and which tasks packed. Tasks whose format
        does not pack train in padded batches, said in the log."""
        from stilts.formats.packing import packing_problem, position_offset

        problem = packing_problem(getattr(encoder.config, "layer_types", None))
        offset = position_offset(encoder) if problem is None else None
        if offset is None:
            problem = problem or "running it, stilts found no first position id that numbers an example as it does"
            raise BadInput(f"packing: the {encoder.config.model_type} encoder cannot be packed: {problem}")
        padded = [task for task in tasks if not task.format.packs]
        for task in padded:
            context.log(f"  packing: {task.name} trains in padded batches ({task.format.name} does not pack)")
        context.log(f"  packing: positions of each packed example from {offset}")
        return offset, {
            "position_offset": offset,
            "packed": [task.name for task in tasks if task.format.packs],
            "padded": [task.name for task in padded],
        }

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
        """How many batches the stage takes, how many of them are one pass over its data (for a
        mixture, one epoch over the capped task sizes), and which stream each comes from.

        One stream: ``epochs`` passes over its data. One task in several languages: ``epochs`` passes
        over their merged size, each batch in a language drawn by ``language_ratios``. Several tasks:
        the stage's mixing rule (default capped examples-proportional), ``epochs`` passes over the
        capped task sizes, and within a task the language as before.
        """
        sizes: dict[str, int] = {}
        batch_sizes = {item.task.name: item.batch_size for item in items}
        for item in items:
            sizes[item.task.name] = sizes.get(item.task.name, 0) + len(item.features)
        epochs = settings["epochs"]
        total_batches, epoch_batches = planned_batches(sizes, settings)
        if len(items) == 1:
            (name,) = sizes
            context.log(f"  {name}: {sizes[name]} training examples, batch size {batch_sizes[name]}")
            return total_batches, epoch_batches, lambda: items[0].name
        if len(sizes) == 1:
            (name,) = sizes
            task_rates = {name: 1.0}
            context.log(f"  {name}: {sizes[name]} training examples in {len(items)} languages: {total_batches} batches")
        else:
            task_rates = mixing.mixing_rates(
                sizes,
                settings["mixing"],
                cap=settings["mixing_cap"],
                temperature=settings["mixing_temperature"],
                weights=settings["mixing_weights"],
            )
            context.log(
                f"  mixing '{settings['mixing']}' over {len(sizes)} tasks, {epochs:g} epochs over "
                f"the capped sizes (K = {settings['mixing_cap']}): {total_batches} batches"
            )
        ratios = settings.get("language_ratios") or {}
        rates = {}
        for item in items:
            task_ratios = [ratios[other.language] for other in items if other.task is item.task and other.language]
            share = ratios[item.language] / sum(task_ratios) if item.language in ratios else 1.0
            rates[item.name] = task_rates[item.task.name] * share
        for item in items:
            expected = total_batches * rates[item.name] * item.batch_size
            context.log(
                f"    {item.name:<15} {len(item.features):>8} examples  batch {item.batch_size:>3}  "
                f"rate {rates[item.name]:.4f}  expected {expected:,.0f} examples "
                f"({expected / max(1, len(item.features)):.2f} epochs)"
            )
        return total_batches, epoch_batches, mixing.TaskSampler(rates, settings["seed"])

    def check_sizes(self, stage: PlannedStage, sizes: Sizes) -> None:
        """A stage that averages its last N validations' weights validates at least N times: counted
        from the training examples where each is one feature (otherwise once its data is tokenized, in
        `run`)."""
        settings = stage.settings
        if settings.get("model_selection") != AVERAGE_LAST:
            return
        tasks = [get_task(name) for name in settings["tasks"]]
        if any(task.format.windows for task in tasks) and not settings["max_steps"]:
            return
        ratios = settings.get("language_ratios")
        examples: dict[str, int] = {}
        for task in tasks:
            for source in _training_sources(task, settings):
                for language in _training_languages(source, settings):
                    if ratios is not None and ratios[language] == 0:
                        continue
                    count = sum(sizes.get((source.name, split, language), 0) for split in settings["train_splits"])
                    if settings["max_train_examples"]:
                        count = min(count, settings["max_train_examples"])
                    examples[task.name] = examples.get(task.name, 0) + count
        total_batches, _ = planned_batches(examples, settings)
        if settings["max_steps"]:
            total_batches = settings["max_steps"] * settings["gradient_accumulation_steps"]
        steps = math.ceil(total_batches / settings["gradient_accumulation_steps"])
        try:
            averaged_steps(steps, settings["validate_every"], settings["average_last"])
        except ValueError as error:
            raise BadInput(f"{stage.where}.average_last: {error}") from None

    def check_model(self, stage: PlannedStage, model_path: str) -> None:
        if stage.settings.get("peft"):
            check_target_modules(model_path, stage.settings["peft"], f"stages[{stage.index}]")

    def data_reads(self, stage: PlannedStage) -> list[DataRead]:
        """Every (task, split, language) the stage will read: its training data and its dev data."""
        settings, reads = stage.settings, self.training_reads(stage)
        for task in (get_task(name) for name in settings["tasks"]):
            if not _trains_on_own_dev(task, _training_sources(task, settings), settings):
                reads += [DataRead(task, "dev", language, optional=True) for language in _dev_languages(task, settings)]
        return reads

    def training_reads(self, stage: PlannedStage) -> list[DataRead]:
        settings = stage.settings
        return [
            DataRead(source, split, language)
            for task in (get_task(name) for name in settings["tasks"])
            for source in _training_sources(task, settings)
            for language in _training_languages(source, settings)
            for split in settings["train_splits"]
        ]

    @staticmethod
    def _training_streams(
        task, tokenizer, settings, context: RunContext, packed_from: int | None = None
    ) -> list[TrainingTask]:
        """The task's training data: one stream, or one per language where ``language_ratios`` draws
        the language of each batch (languages with ratio 0 are not read); packed batches with positions
        from ``packed_from`` where it is given."""
        from stilts.formats.tokenize import featurize
        from stilts.training.loop import TrainingTask

        ratios = settings.get("language_ratios")
        by_language: dict[str, list[dict]] = {}
        with collecting_notes() as notes:  # what the readers left out is logged with the stage
            for source in _training_sources(task, settings):
                for language in _training_languages(source, settings):
                    if ratios is not None and ratios[language] == 0:
                        continue
                    for split in settings["train_splits"]:
                        by_language.setdefault(language, []).extend(
                            load_examples(source, split, language, context.data_sources)
                        )
        for line in notes:
            context.log(f"  {task.name}: {line}")
        if settings["max_train_examples"]:  # the first N of each language
            by_language = {language: rows[: settings["max_train_examples"]] for language, rows in by_language.items()}
        if len(by_language) > 1:
            counts = ", ".join(f"{language} {len(rows)}" for language, rows in by_language.items())
            context.log(f"  {task.name}: training examples by language: {counts}")
        batch_size, max_length = settings["batch_sizes"][task.name], settings["max_length"]
        if ratios is None:
            merged = [example for rows in by_language.values() for example in rows]
            features = featurize(task, merged, tokenizer, max_length)
            return [TrainingTask(task, features, batch_size, packed_from=packed_from)]
        return [
            TrainingTask(
                task,
                featurize(task, rows, tokenizer, max_length),
                batch_size,
                language,
                f"{task.name}/{language}",
                packed_from=packed_from,
            )
            for language, rows in by_language.items()
        ]

    @staticmethod
    def _validation_sets(task, tokenizer, settings, context: RunContext) -> list[ValidationSet]:
        """The dev sets the model selection watches: the task's English dev, or every language's."""
        from stilts.formats.tokenize import featurize
        from stilts.training.loop import ValidationSet

        sources = _training_sources(task, settings)
        if _trains_on_own_dev(task, sources, settings):
            context.log(f"  {task.name}: trains on its dev split, so it is not validated on it (no early stopping)")
            return []
        sets, missing = [], []
        for language in _dev_languages(task, settings):
            try:
                examples = load_examples(task, "dev", language, context.data_sources)
            except MissingSplit as error:
                missing.append((language, error))
                continue
            examples = examples[: settings["validation_examples"]]
            sets.append(
                ValidationSet(task, language, featurize(task, examples, tokenizer, settings["max_length"]), examples)
            )
        if not sets:
            context.log(f"  {task.name}: no validation data ({missing[0][1]}); training without early stopping")
        elif missing:
            context.log(
                f"  {task.name}: validating on dev in {len(sets)} languages "
                f"({', '.join(s.language for s in sets)}); none in {', '.join(language for language, _ in missing)}"
            )
        return sets


def planned_batches(sizes: dict[str, int], settings: dict) -> tuple[int, int]:
    """How many batches a stage with ``settings`` takes over tasks of ``sizes`` training features (before
    ``max_steps``), and how many of them are one pass over its data: ``epochs`` passes over the one
    task's data (in one language or several), or over the capped task sizes of a mixture."""
    batch_sizes, epochs = settings["batch_sizes"], settings["epochs"]
    if len(sizes) == 1:
        (name,) = sizes
        epoch_batches = math.ceil(sizes[name] / batch_sizes[name])
        return max(1, math.ceil(epochs * epoch_batches)), epoch_batches
    return (
        mixing.mixture_batches(sizes, batch_sizes, epochs, cap=settings["mixing_cap"]),
        mixing.mixture_batches(sizes, batch_sizes, 1, cap=settings["mixing_cap"]),
    )


def _training_sources(task, settings: dict) -> list:
    """The tasks whose data trains ``task`` in a stage with ``settings``."""
    return [get_task(name) for name in settings.get("train_tasks") or []] or [training_task(task)]


def _training_languages(source, settings: dict) -> list[str]:
    """The languages of ``source``'s data that train: the stage's ``train_languages`` (pivot or
    multi-language fine-tuning), else the source's own (English; ``mnli@de``: German)."""
    return settings.get("train_languages") or [source.source_language]


def _dev_languages(task, settings: dict) -> list[str]:
    if settings.get("model_selection", ENGLISH_DEV) == AVERAGE_DEV:
        return list(task.languages)
    return [task.source_language]


def _trains_on_own_dev(task, sources: list, settings: dict) -> bool:
    return "dev" in settings["train_splits"] and task.name in {source.name for source in sources}
