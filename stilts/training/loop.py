"""The training loop: one loop, read top to bottom, in the spirit of the Accelerate examples.

Each step draws a stream of batches (one per task, or one per task and language when languages are
drawn with their own ratios; always the same one for a single-task stage), takes its next batch, and
accumulates gradients; AdamW with linear warm-up then linear decay; validation every N optimizer steps
on the first dev examples of every validation set (a task in one language), early stopping with
patience, and the best weights kept (or the last, if the stage selects the last step). Each validation
is printed beside its chance level (`TaskFormat.chance`), and a stage that learned nothing is flagged
(`learning_warnings`). Checkpoints (see `stilts.training.checkpoints`; every ``checkpoint_every`` steps and at
the end of each epoch) let a killed run continue exactly where it was: on CPU with the same seed it
ends with the same weights as a run that was never interrupted. SIGINT and SIGTERM end the loop at
the next step boundary with a checkpoint there, every process of a distributed run at the same step
(`stilts.core.interrupts`).

What keeps the loop close to a bare PyTorch loop (docs/performance.md measures it): batches are cut
from Arrow and padded with numpy (`stilts.formats.batching.Batcher`), not built through ``Dataset.select`` and
``tokenizer.pad``; AdamW is the fused kernel wherever PyTorch has one (CPU included); the loss is read
back from the device about once a second for the progress bar, not every step, and checked for
NaN/inf at those reads and before anything is saved; with several processes, the stop vote's
one-number all-reduce of each step is read a step later, when it is done (`StopVote`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from stilts.core import defaults, interrupts
from stilts.core.catalog import Task
from stilts.core.errors import RunFailed
from stilts.core.interrupts import StopVote
from stilts.formats.batching import Batcher, feature_lengths
from stilts.training import averaging
from stilts.training.checkpoints import CheckpointStore
from stilts.training.devices import to_device
from stilts.training.evaluation import predict_outputs

if TYPE_CHECKING:
    import datasets


class TrainingDiverged(RunFailed):
    """The loss became NaN or infinite."""


@dataclass
class TrainingTask:
    """One stream of training batches: a task's features, in one language or several merged."""

    task: Task
    features: datasets.Dataset  # training features
    batch_size: int
    #: the language of every feature, or None where the stream merges several (or the task's own)
    language: str | None = None
    #: what the sampler draws and checkpoints name: the task's name, or task/language
    name: str = ""
    #: packed batches (`stilts.formats.packing`), positions numbered from this offset; None: padded ones
    packed_from: int | None = None

    def __post_init__(self):
        self.name = self.name or self.task.name


@dataclass
class ValidationSet:
    """The first dev examples of a task in one language."""

    task: Task
    language: str
    features: datasets.Dataset
    examples: list[dict]

    @property
    def name(self) -> str:
        return f"{self.task.name} {self.language}"

    def chance(self) -> float | None:
        """The main metric a model that learned nothing gets here (`TaskFormat.chance`)."""
        return self.task.format.chance(self.examples, self.task, self.language)


@dataclass
class TrainingPlan:
    total_batches: int
    gradient_accumulation_steps: int
    learning_rate: float
    warmup_ratio: float
    weight_decay: float
    max_grad_norm: float
    validate_every: int
    patience: int
    seed: int
    #: () -> name of the stream that trains on the next batch; may have state_dict/load_state_dict
    draw_task: Callable[[], str]
    #: batches of features of similar length (fewer padding tokens), see `TaskBatches`
    group_by_length: bool = False
    #: the run name the pipeline's experiment tracker (if any) logs this training under
    tracking_name: str = "training"
    #: the settings the tracker records with the run
    tracking_settings: dict = field(default_factory=dict)
    #: keep the last step's weights instead of the best validated ones (validation is then only recorded)
    keep_last: bool = False
    #: keep the uniform average of the weights at the last N validations (0: none); like ``keep_last``,
    #: validation is then only recorded and the stage does not stop early (`stilts.training.averaging`)
    average_last: int = 0
    #: batches in one pass over the stage's data: a checkpoint is saved at the end of each pass too,
    #: so a stage shorter than ``checkpoint_every`` is not lost to an interruption (0: no such checkpoints)
    epoch_batches: int = 0

    @property
    def optimizer_steps(self) -> int:
        return math.ceil(self.total_batches / self.gradient_accumulation_steps)

    @property
    def keeps_best(self) -> bool:
        """Whether the stage ends with its best validated weights (and so may stop early)."""
        return not (self.keep_last or self.average_last)

    @property
    def averaged_steps(self) -> list[int]:
        """The steps whose weights ``average_last`` averages (ValueError: it validates fewer times)."""
        if not self.average_last:
            return []
        return averaging.averaged_steps(self.optimizer_steps, self.validate_every, self.average_last)


#: length grouping sorts windows of this many batches by length (Hugging Face Trainer's megabatches)
LENGTH_GROUP_BATCHES = 50


def pass_order(
    size: int, seed: int, task_index: int, pass_number: int, *, batch_size: int = 1, lengths: np.ndarray | None = None
) -> np.ndarray:
    """The order in which one pass visits a task's ``size`` features; a function of its arguments only.

    Without ``lengths``: a permutation. With ``lengths`` (length grouping): the permutation is cut
    into windows of `LENGTH_GROUP_BATCHES` batches, each window is sorted by length (longest first),
    cut into batches, and the full batches are shuffled; the short remainder batch, if any, stays
    last, so a position in the pass is still a multiple of the batch size.
    """
    rng = np.random.default_rng([seed, task_index, pass_number])
    order = rng.permutation(size)
    if lengths is None:
        return order
    window = batch_size * LENGTH_GROUP_BATCHES
    grouped = (
        np.concatenate(
            [
                chunk[np.argsort(-lengths[chunk], kind="stable")]
                for chunk in np.array_split(order, range(window, size, window))
            ]
        )
        if size
        else order
    )
    full = size // batch_size
    batches = grouped[: full * batch_size].reshape(full, batch_size)[rng.permutation(full)]
    return np.concatenate([batches.reshape(-1), grouped[full * batch_size :]])


class TaskBatches:
    """One task's batches, pass after pass over its data.

    Each pass visits the features in an order that depends only on (seed, task, pass number) (see
    `pass_order`), so the position in the data is two numbers, and a resumed run draws exactly the
    batches an uninterrupted one would. The batch size is global: with several processes each takes
    its rank's share of every batch, so one process and N processes train on the same batches.
    """

    def __init__(
        self, item: TrainingTask, tokenizer, seed: int, task_index: int, accelerator, group_by_length: bool = False
    ):
        self.item, self.tokenizer, self.accelerator = item, tokenizer, accelerator
        self.seed, self.task_index = seed, task_index
        self.pass_number, self.position = 0, 0
        self._order: tuple[int, np.ndarray] | None = None  # (pass number, its order), the last asked for
        self.batcher = Batcher(item.task, item.features, tokenizer, packed_from=item.packed_from)
        self.lengths = feature_lengths(item.features) if group_by_length else None

    def _order_for(self, pass_number: int) -> np.ndarray:
        if self._order is None or self._order[0] != pass_number:
            order = pass_order(
                len(self.item.features),
                self.seed,
                self.task_index,
                pass_number,
                batch_size=self.item.batch_size,
                lengths=self.lengths,
            )
            self._order = (pass_number, order)
        return self._order[1]

    def next_indices(self) -> np.ndarray:
        """This process's feature indices of the next batch (and move past it)."""
        size, world, rank = len(self.item.features), self.accelerator.num_processes, self.accelerator.process_index
        share = self.item.batch_size // world
        if self.position >= size:
            self.pass_number, self.position = self.pass_number + 1, 0
        order = self._order_for(self.pass_number)
        start = self.position + rank * share
        indices = order[start : start + share]
        if len(indices) == 0:  # a short last batch: this rank repeats the start of the pass
            indices = order[:share]
        self.position += self.item.batch_size
        return indices

    def next(self) -> dict:
        return to_device(self.batcher(self.next_indices()), self.accelerator.device)

    def state_dict(self) -> dict:
        return {"pass": self.pass_number, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.pass_number, self.position = state["pass"], state["position"]


def _build_optimizer(model, plan: TrainingPlan):
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    # frozen weights (an adapter stage's encoder) get no optimizer state
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in trained if not any(k in n for k in no_decay)], "weight_decay": plan.weight_decay},
        {"params": [p for n, p in trained if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = _adamw(groups, lr=plan.learning_rate, eps=defaults.ADAM_EPSILON)
    from transformers import get_linear_schedule_with_warmup

    warmup = int(plan.warmup_ratio * plan.optimizer_steps)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, plan.optimizer_steps)


def _adamw(groups, **settings) -> torch.optim.AdamW:
    """The fused AdamW kernel where PyTorch has one for the parameters' device (CUDA, and CPU since
    2.4: ten times faster there than the default for-each version on a 118M-parameter encoder), the
    default implementation elsewhere. Same algorithm; the results differ in the last bits only."""
    try:
        return torch.optim.AdamW(groups, fused=True, **settings)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.AdamW(groups, **settings)


#: glibc ``mallopt`` parameters (malloc.h) and the value `_keep_freed_memory` gives the trim threshold
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_TRIM_THRESHOLD = 1 * 2**30
_DEFAULT_MMAP_MAX, _DEFAULT_TRIM_THRESHOLD = 65536, 128 * 1024  # glibc's defaults
#: environment variables glibc reads at start for the same settings: with any of them set, hands off
_MALLOC_ENVIRONMENT = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def _keep_freed_memory() -> bool:
    """On CPU, let glibc's malloc serve every block from its heap and keep up to 1 GiB of freed memory
    there for reuse, instead of mapping large blocks from the system and unmapping them when freed.
    Every step allocates and frees the same activation and gradient tensors; by default the blocks
    above a threshold that moves with the process's history, and all above 32 MiB (such as
    multilingual-e5-small's 384 MB embedding gradient), are mapped again at the next step and
    zero-filled page by page: about 100k page faults a step with e5, a fifth of its step time. Keeping
    them costs about 0.4 GiB of peak memory while training (docs/performance.md). The same as starting
    Python with ``MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824``; nothing is changed where
    malloc is not glibc's or if one of those variables is set (``MALLOC_MMAP_MAX_=65536`` keeps
    glibc's default)."""
    import ctypes
    import os

    if any(name in os.environ for name in _MALLOC_ENVIRONMENT):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def _return_freed_memory() -> None:
    """After training: glibc's default limits again, and the freed memory kept on the heap back to the
    system (``malloc_trim``), so evaluation and later stages do not carry training's heap."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
    libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
    libc.malloc_trim(0)


def validate(
    accelerator, model, validation_sets: list[ValidationSet], tokenizer, batch_size: int | None = None
) -> tuple[dict[str, dict[str, dict]], dict[str, dict[str, str]]]:
    """Metrics of every validation set, task -> language -> metrics; and task -> language -> the one
    answer the model gave every example, for the sets where it gave only one (`TaskFormat.constant`)."""
    results: dict[str, dict[str, dict]] = {}
    constant: dict[str, dict[str, str]] = {}
    for item in validation_sets:
        outputs = predict_outputs(
            accelerator,
            model,
            item.task,
            item.features,
            tokenizer,
            batch_size,
            desc=f"validating {item.task.name} {item.language}",
        )
        predictions = item.task.format.predict(outputs, item.features, item.examples, item.task)
        results.setdefault(item.task.name, {})[item.language] = item.task.format.score(
            predictions, item.examples, item.task, item.language
        )
        answer = item.task.format.constant(predictions)
        if answer is not None:
            constant.setdefault(item.task.name, {})[item.language] = answer
    return results, constant


def validation_score(results: dict[str, dict[str, dict]], validation_sets: list[ValidationSet]) -> float | None:
    """What early stopping watches: the mean over tasks of each task's main metric averaged over its
    validation languages (one language: English dev; all of them: XGLUE's rule)."""
    metrics = {item.task.name: item.task.metric for item in validation_sets}
    values = [
        np.mean([scores[metrics[task]] for scores in by_language.values()]) for task, by_language in results.items()
    ]
    return float(np.mean(values)) if values else None


def _task_metrics(by_language: dict[str, dict]) -> dict:
    """A task's validation metrics: its one language's, or the mean over its languages."""
    if len(by_language) == 1:
        return next(iter(by_language.values()))
    names = [name for name, value in next(iter(by_language.values())).items() if isinstance(value, (int, float))]
    return {name: float(np.mean([scores[name] for scores in by_language.values()])) for name in names}


@dataclass
class Progress:
    """Counters and early-stopping state: saved in every checkpoint."""

    batch_number: int = 0
    optimizer_step: int = 0
    best_score: float | None = None
    best_step: int = 0
    validations_without_gain: int = 0
    stopped_early: bool = False
    history: list = field(default_factory=list)
    #: stream name -> batches drawn from it so far
    batches_drawn: dict = field(default_factory=dict)
    #: the steps whose weights the running mean of ``average_last`` holds so far
    averaged_steps: list = field(default_factory=list)


class _LossWatch:
    """The losses since the last look: averaged for the progress bar and checked for NaN/inf.

    Reading a loss back from an accelerator waits for the device, so it is done about once a second
    (`every` seconds), before every checkpoint or validation, and at the end, never per step; on
    CPU, where reading costs nothing, every loss is checked as it comes, so a diverged run stops at
    the batch that diverged.
    """

    def __init__(self, device: torch.device, checkpoint_folder, every: float = 1.0):
        self.eager, self.checkpoint_folder = device.type == "cpu", checkpoint_folder
        self.every, self.shown_at = every, time.monotonic()
        self.pending: list[tuple[torch.Tensor, str, int, int]] = []

    def add(self, loss: torch.Tensor, task_name: str, batch_number: int, optimizer_step: int) -> None:
        self.pending.append((loss.detach(), task_name, batch_number, optimizer_step))
        if self.eager and not torch.isfinite(self.pending[-1][0]):
            self._diverged(*self.pending[-1])

    def due(self) -> bool:
        return time.monotonic() - self.shown_at >= self.every

    def check(self) -> float | None:
        """Raise `TrainingDiverged` if a pending loss is not finite; return their mean (None if none)."""
        if not self.pending:
            return None
        values = torch.stack([loss.float() for loss, *_ in self.pending]).cpu()
        finite = torch.isfinite(values)
        if not finite.all():
            self._diverged(*self.pending[int((~finite).nonzero()[0])])
        mean = float(values.mean())
        self.pending.clear()
        self.shown_at = time.monotonic()
        return mean

    def _diverged(self, loss, task_name: str, batch_number: int, optimizer_step: int) -> None:
        raise TrainingDiverged(
            f"the {task_name} loss is {float(loss)} at optimizer step {optimizer_step + 1} (batch {batch_number}); "
            f"the last good checkpoint is kept in {self.checkpoint_folder}. "
            f"Try a lower learning rate, or set mixed_precision: no"
        )


def train(
    accelerator,
    model,
    tasks: list[TrainingTask],
    tokenizer,
    plan: TrainingPlan,
    checkpoints: CheckpointStore,
    checkpoint_every: int,
    log=print,
    validation_sets: list[ValidationSet] | None = None,
) -> dict:
    """Train ``model`` in place on the streams ``tasks`` (resuming from ``checkpoints`` if they hold a
    step), validating on ``validation_sets``; at the end it holds the best validated weights (the last
    with ``plan.keep_last``). Returns a summary for metrics.json."""
    validation_sets = validation_sets or []
    # an earlier stage's model and optimizer must not stay registered: they would be saved in (and
    # loaded from) this stage's checkpoints, and kept in memory for nothing
    accelerator.free_memory()
    kept_freed_memory = accelerator.device.type == "cpu" and _keep_freed_memory()
    optimizer, scheduler = _build_optimizer(model, plan)
    # the scheduler is not prepared: Accelerate would step it once per process at every step, and
    # batch sizes here are global (one optimizer step = one schedule step); it is saved in progress.json
    model, optimizer = accelerator.prepare(model, optimizer)
    streams = {
        item.name: TaskBatches(item, tokenizer, plan.seed, index, accelerator, plan.group_by_length)
        for index, item in enumerate(tasks)
    }
    progress = Progress()
    # average_last: one running mean of the weights at the steps it averages (float32, on the CPU)
    average = averaging.RunningMean() if plan.average_last else None
    to_average = set(plan.averaged_steps)
    checkpoints.average = average
    latest = checkpoints.resumable(not plan.keeps_best, log)
    #: the optimizer step this run of the stage went on from (None: it started at its first step)
    resumed_from = None
    if latest is not None:
        saved = checkpoints.load(latest)
        progress = Progress(**saved["progress"])
        for name, state in saved["streams"].items():
            streams[name].load_state_dict(state)
        if hasattr(plan.draw_task, "load_state_dict"):
            plan.draw_task.load_state_dict(saved["sampler"])
        scheduler.load_state_dict(saved["scheduler"])
        if average is not None and progress.averaged_steps:
            average.load(latest / averaging.AVERAGE_FILE, len(progress.averaged_steps))
        log(f"  resuming from {latest.name} (optimizer step {progress.optimizer_step} of {plan.optimizer_steps})")
        resumed_from = progress.optimizer_step

    def save_checkpoint() -> None:
        checkpoints.save(
            progress.optimizer_step,
            {
                "progress": progress.__dict__,
                "streams": {n: s.state_dict() for n, s in streams.items()},
                "sampler": plan.draw_task.state_dict() if hasattr(plan.draw_task, "state_dict") else None,
                "scheduler": scheduler.state_dict(),
            },
        )

    bar = tqdm(
        total=plan.optimizer_steps,
        initial=progress.optimizer_step,
        desc="training",
        disable=not accelerator.is_local_main_process,
    )

    def say(line: str) -> None:  # a line between the progress bar's redraws, not through it
        with tqdm.external_write_mode():
            log(line)

    watch = _LossWatch(accelerator.device, checkpoints.folder)
    parameters = list(model.parameters())
    chances = {item.name: item.chance() for item in validation_sets}
    accelerator.init_trackers(plan.tracking_name, config=plan.tracking_settings)  # none: nothing happens
    model.train()
    stop = StopVote(accelerator)
    step_start_batch = progress.batch_number  # where the optimizer step being accumulated started
    saved_step = progress.optimizer_step if latest is not None else None

    def stop_here(signum: int) -> None:
        """Save the step just taken (unless saved already) and stop the run."""
        if saved_step != progress.optimizer_step:
            watch.check()  # nothing diverged is saved
            save_checkpoint()
        bar.close()
        _finish_trackers(accelerator)
        if kept_freed_memory:
            _return_freed_memory()
        raise interrupts.Interrupted(signum, f"at optimizer step {progress.optimizer_step} of {plan.optimizer_steps}")

    with interrupts.deferred():
        while progress.batch_number < plan.total_batches and not progress.stopped_early:
            progress.batch_number += 1
            stream_name = plan.draw_task()
            progress.batches_drawn[stream_name] = progress.batches_drawn.get(stream_name, 0) + 1
            stream = streams[stream_name]
            task_name = stream.item.task.name
            batch = stream.next()
            steps_now = (
                progress.batch_number % plan.gradient_accumulation_steps == 0
                or progress.batch_number == plan.total_batches
            )
            with contextlib.nullcontext() if steps_now else accelerator.no_sync(model):
                with accelerator.autocast():
                    loss, _ = model(task_name, batch)
                watch.add(loss, stream_name, progress.batch_number, progress.optimizer_step)
                accelerator.backward(loss / plan.gradient_accumulation_steps)
            if not steps_now:
                continue
            if plan.max_grad_norm:
                accelerator.clip_grad_norm_(parameters, plan.max_grad_norm)
            optimizer.step()
            if not getattr(optimizer, "step_was_skipped", False):  # fp16: a step skipped for overflow
                scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            progress.optimizer_step += 1

            last_step = progress.optimizer_step == plan.optimizer_steps
            validating = progress.optimizer_step % plan.validate_every == 0 or last_step
            epoch_ended = bool(plan.epoch_batches) and (
                progress.batch_number // plan.epoch_batches > step_start_batch // plan.epoch_batches
            )
            step_start_batch = progress.batch_number
            saving = (progress.optimizer_step % checkpoint_every == 0 or epoch_ended) and not last_step
            if watch.due() or validating or saving:
                mean_loss = watch.check()  # nothing diverged is validated or saved
                bar.set_postfix(loss=f"{mean_loss:.4f}", task=stream_name, refresh=False)
                accelerator.log(
                    {"train/loss": mean_loss, "train/learning_rate": scheduler.get_last_lr()[0]},
                    step=progress.optimizer_step,
                )
            bar.update(1)
            if validating:
                _validate_and_track(accelerator, model, validation_sets, tokenizer, plan, progress, checkpoints, say)
                if validation_sets:
                    say(_validation_line(progress.history[-1], progress, plan, validation_sets, chances))
                accelerator.log(_validation_values(progress.history[-1]), step=progress.optimizer_step)
                model.train()
                if average is not None and progress.optimizer_step in to_average:
                    average.add(accelerator.unwrap_model(model).state_dict())
                    progress.averaged_steps.append(progress.optimizer_step)
            if saving and not progress.stopped_early:
                save_checkpoint()
                saved_step = progress.optimizer_step
            signum = stop()
            if signum:
                stop_here(signum)
        signum = stop.final()
        if signum:
            stop_here(signum)
    watch.check()
    bar.close()
    _finish_trackers(accelerator)
    if kept_freed_memory:
        _return_freed_memory()
    averaged = None  # the averaged weights' validation
    if average is not None:
        average.load_into(accelerator.unwrap_model(model))
        averaged = _validate_average(accelerator, model, validation_sets, tokenizer, progress.averaged_steps)
        if validation_sets:
            say(_average_line(averaged, chances, validation_sets))
    elif plan.keeps_best:
        checkpoints.load_best(accelerator.unwrap_model(model))
    kept_step = progress.optimizer_step if not plan.keeps_best else (progress.best_step or progress.optimizer_step)
    summary: dict[str, Any] = {
        "optimizer_steps": progress.optimizer_step,
        "planned_optimizer_steps": plan.optimizer_steps,
        "best_step": progress.best_step or progress.optimizer_step,
        "stopped_early": progress.stopped_early,
        "best_validation_score": progress.best_score,
        "validations": progress.history,
        "resumed_from_step": resumed_from,
    }
    if len(streams) > 1:
        summary["batches_drawn"] = dict(progress.batches_drawn)
    if averaged is not None:
        summary["average"] = averaged
    if validation_sets:
        chance: dict[str, dict[str, float | None]] = {}  # task -> language -> chance level
        for item in validation_sets:
            chance.setdefault(item.task.name, {})[item.language] = chances[item.name]
        summary["chance"] = chance
        summary["warnings"] = learning_warnings(progress.history, validation_sets, chances, kept_step, averaged)
    return summary


def _finish_trackers(accelerator) -> None:
    # not accelerator.end_training(): it also ends the process group, which later stages still need;
    # and the next stage's init_trackers must not find this stage's trackers still listed
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers = []


def _validation_values(validation: dict) -> dict[str, float]:
    """One validation as tracker values: dev/<task>/<metric>, and dev/score (what early stopping uses)."""
    values = {
        f"dev/{task}/{metric}": value
        for task, metrics in validation["tasks"].items()
        for metric, value in metrics.items()
        if isinstance(value, (int, float))
    }
    for task, by_language in validation.get("languages", {}).items():
        for language, metrics in by_language.items():
            values.update({f"dev/{task}/{language}/{m}": v for m, v in metrics.items() if isinstance(v, (int, float))})
    if validation["score"] is not None:
        values["dev/score"] = validation["score"]
    return values


def _validate_and_track(
    accelerator, model, validation_sets, tokenizer, plan, progress: Progress, checkpoints, log
) -> None:
    results, constant = validate(accelerator, model, validation_sets, tokenizer)
    score = validation_score(results, validation_sets)
    entry = {
        "step": progress.optimizer_step,
        "score": score,
        "tasks": {task: _task_metrics(by_language) for task, by_language in results.items()},
    }
    if any(len(by_language) > 1 for by_language in results.values()):
        entry["languages"] = results
    if constant:
        entry["constant"] = constant
    progress.history.append(entry)
    if not plan.keeps_best:  # recorded for the curves; the last (or averaged) weights are kept whatever they score
        return
    if score is None:
        checkpoints.save_best(accelerator.unwrap_model(model))  # nothing to compare: the latest is the best
        return
    if progress.best_score is None or score > progress.best_score:
        progress.best_score, progress.best_step, progress.validations_without_gain = score, progress.optimizer_step, 0
        checkpoints.save_best(accelerator.unwrap_model(model))
        return
    progress.validations_without_gain += 1
    if progress.validations_without_gain >= plan.patience:
        progress.stopped_early = True
        log(
            f"early stopping at step {progress.optimizer_step}: no gain in {plan.patience} validations "
            f"(best {progress.best_score:.2f} at step {progress.best_step})"
        )


def _validate_average(accelerator, model, validation_sets, tokenizer, steps: list[int]) -> dict:
    """The averaged weights validated as a step's are (its entry in metrics.json's ``training.average``,
    with the steps averaged)."""
    results, constant = validate(accelerator, model, validation_sets, tokenizer)
    entry = {
        "steps": list(steps),
        "score": validation_score(results, validation_sets),
        "tasks": {task: _task_metrics(by_language) for task, by_language in results.items()},
    }
    if any(len(by_language) > 1 for by_language in results.values()):
        entry["languages"] = results
    if constant:
        entry["constant"] = constant
    return entry


def _steps_text(steps: list[int]) -> str:
    return ", ".join(map(str, steps))


def _average_line(entry: dict, chances: dict, validation_sets: list[ValidationSet]) -> str:
    """The averaged weights' validation for the terminal, as `_validation_line` shows a step's."""
    parts = []
    for task, metrics in entry["tasks"].items():
        sets = [item for item in validation_sets if item.task.name == task]
        text = f"{task} {sets[0].task.metric} {metrics[sets[0].task.metric]:.1f}"
        task_chances = [chances[item.name] for item in sets]
        if None not in task_chances:
            text += f" (chance {float(np.mean(task_chances)):.1f})"
        parts.append(text)
    return f"  average of the weights at steps {_steps_text(entry['steps'])}: dev " + ", ".join(parts)


def _validation_line(
    entry: dict, progress: Progress, plan: TrainingPlan, validation_sets: list[ValidationSet], chances: dict
) -> str:
    """One validation for the terminal: each task's main metric (its languages' mean) with its chance
    level, the score early stopping watches where tasks are several, the best so far, and the sets
    whose predictions were all one answer."""
    parts = []
    for task, metrics in entry["tasks"].items():
        sets = [item for item in validation_sets if item.task.name == task]
        metric = sets[0].task.metric
        text = f"{task} {metric} {metrics[metric]:.1f}"
        task_chances = [chances[item.name] for item in sets]
        if None not in task_chances:
            text += f" (chance {float(np.mean(task_chances)):.1f})"
        parts.append(text)
    line = f"  step {entry['step']}/{plan.optimizer_steps}: dev " + ", ".join(parts)
    if len(parts) > 1 and entry["score"] is not None:
        line += f", score {entry['score']:.1f}"
    if plan.keep_last:
        line += "; the last step is kept"
    elif plan.average_last:
        line += f"; the weights of the last {plan.average_last} validations are averaged"
    elif progress.best_score is not None:
        line += f"; best {progress.best_score:.1f} at step {progress.best_step}"
    for task, by_language in entry.get("constant", {}).items():
        for language, answer in by_language.items():
            line += f"; {task} {language}: every prediction is {answer!r}"
    return line


def _main_metric(entry: dict, item: ValidationSet) -> float:
    """A validation set's main metric in one validation of the history."""
    by_language = entry.get("languages", {}).get(item.task.name)
    metrics = by_language[item.language] if by_language else entry["tasks"][item.task.name]
    return float(metrics[item.task.metric])


def chance_margin(chance: float, examples: int) -> float:
    """How far above ``chance`` (0-100) a score on ``examples`` examples must be to tell it from a
    guess: two standard errors of a rate of ``chance`` over that many examples (a guesser lands
    within it about 19 times in 20)."""
    rate = chance / 100
    return 200 * math.sqrt(rate * (1 - rate) / max(1, examples))


def learning_warnings(
    history: list[dict],
    validation_sets: list[ValidationSet],
    chances: dict,
    kept_step: int,
    averaged: dict | None = None,
) -> list[str]:
    """What says a stage learned nothing, one line each: a validation set whose main metric never rose
    past its chance level (`chance_margin`), and one where the kept weights (``averaged``'s validation
    where they are an average) answer every example alike. For metrics.json, the log and `stilts status`."""
    warnings: list[str] = []
    if not history:
        return warnings
    kept = averaged or next((entry for entry in history if entry["step"] == kept_step), history[-1])
    for item in validation_sets:
        chance = chances[item.name]
        metric = item.task.metric
        if chance is not None:
            best = max(_main_metric(entry, item) for entry in history)
            if best <= chance + chance_margin(chance, len(item.examples)):
                warnings.append(
                    f"{item.task.name} dev ({item.language}) never left chance: best {metric} {best:.1f} in "
                    f"{len(history)} validations; always giving one answer scores {chance:.1f} on these "
                    f"{len(item.examples)} examples"
                )
        answer = kept.get("constant", {}).get(item.task.name, {}).get(item.language)
        if answer is not None:
            which = f"the average of steps {_steps_text(kept['steps'])}" if averaged else f"step {kept['step']}"
            warnings.append(
                f"{item.task.name} dev ({item.language}): the kept weights ({which}) predict "
                f"{answer!r} for every example"
            )
    return warnings
