"""The training loop: one loop, read top to bottom, in the spirit of the Accelerate examples.

Each step draws a task (always the same one for a single-task stage), takes the next batch of that
task, and accumulates gradients; AdamW with linear warm-up then linear decay; validation every N
optimizer steps on the first dev examples of every task, early stopping with patience, and the best
weights kept.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from stilts.evaluation import predict_outputs
from stilts.featurize import make_loader
from stilts.registry import Task


@dataclass
class TrainingTask:
    task: Task
    features: object  # datasets.Dataset of training features
    batch_size: int
    dev_features: object | None = None
    dev_examples: list[dict] = field(default_factory=list)


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
    #: () -> name of the task that trains on the next batch
    draw_task: Callable[[], str]

    @property
    def optimizer_steps(self) -> int:
        return math.ceil(self.total_batches / self.gradient_accumulation_steps)


def _endless(loader) -> Iterator[dict]:
    """Batches forever; each pass over the data reshuffles (the loader's seeded generator advances)."""
    while True:
        yield from loader


def _build_optimizer(model, plan: TrainingPlan):
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": plan.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=plan.learning_rate, eps=1e-8,
                                  fused=torch.cuda.is_available())
    from transformers import get_linear_schedule_with_warmup

    warmup = int(plan.warmup_ratio * plan.optimizer_steps)
    return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, plan.optimizer_steps)


def validate(accelerator, model, tasks: list[TrainingTask], tokenizer, batch_size: int = 64) -> dict[str, dict]:
    """Main metric of every task on its validation examples (only tasks that have them)."""
    results = {}
    for item in tasks:
        if item.dev_features is None:
            continue
        outputs = predict_outputs(accelerator, model, item.task, item.dev_features, tokenizer, batch_size,
                                  desc=f"validating {item.task.name}")
        predictions = item.task.format.predict(outputs, item.dev_features, item.dev_examples, item.task)
        results[item.task.name] = item.task.format.score(predictions, item.dev_examples, item.task,
                                                         item.task.source_language)
    return results


def validation_score(results: dict[str, dict], tasks: list[TrainingTask]) -> float | None:
    """Mean over tasks of each task's main metric: what early stopping watches."""
    values = [results[item.task.name][item.task.metric] for item in tasks if item.task.name in results]
    return float(np.mean(values)) if values else None


def train(accelerator, model, tasks: list[TrainingTask], tokenizer, plan: TrainingPlan, log=print) -> dict:
    """Train ``model`` in place; at the end it holds the best validated weights. Returns a summary."""
    loaders = {item.task.name: make_loader(item.task, item.features, tokenizer, item.batch_size,
                                           shuffle=True, seed=plan.seed) for item in tasks}
    optimizer, scheduler = _build_optimizer(model, plan)
    model, optimizer, scheduler, *prepared = accelerator.prepare(model, optimizer, scheduler, *loaders.values())
    batches = {name: _endless(loader) for name, loader in zip(loaders, prepared)}

    best_score, best_state, best_step, history = None, None, 0, []
    validations_without_gain, optimizer_step, losses = 0, 0, []
    progress = tqdm(total=plan.optimizer_steps, desc="training", disable=not accelerator.is_local_main_process)
    model.train()
    for batch_number in range(1, plan.total_batches + 1):
        task_name = plan.draw_task()
        batch = next(batches[task_name])
        steps_now = batch_number % plan.gradient_accumulation_steps == 0 or batch_number == plan.total_batches
        with contextlib.nullcontext() if steps_now else accelerator.no_sync(model):
            with accelerator.autocast():
                loss, _ = model(task_name, batch)
            accelerator.backward(loss / plan.gradient_accumulation_steps)
        losses.append(loss.detach())
        if not steps_now:
            continue
        if plan.max_grad_norm:
            accelerator.clip_grad_norm_(model.parameters(), plan.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        optimizer_step += 1
        progress.update(1)
        if optimizer_step % 10 == 0 or optimizer_step == plan.optimizer_steps:
            progress.set_postfix(loss=f"{torch.stack(losses).float().mean().item():.4f}")
            losses.clear()

        if optimizer_step % plan.validate_every == 0 or optimizer_step == plan.optimizer_steps:
            results = validate(accelerator, model, tasks, tokenizer)
            score = validation_score(results, tasks)
            model.train()
            history.append({"step": optimizer_step, "score": score, "tasks": results})
            if score is None:
                continue
            if best_score is None or score > best_score:
                best_score, best_step, validations_without_gain = score, optimizer_step, 0
                best_state = copy.deepcopy({k: v.detach().cpu() for k, v in accelerator.unwrap_model(model).state_dict().items()})
            else:
                validations_without_gain += 1
                if validations_without_gain >= plan.patience:
                    log(f"early stopping at step {optimizer_step}: no gain in {plan.patience} validations "
                        f"(best {best_score:.2f} at step {best_step})")
                    break
    progress.close()
    unwrapped = accelerator.unwrap_model(model)
    if best_state is not None:
        unwrapped.load_state_dict(best_state)
    return {"optimizer_steps": optimizer_step, "best_step": best_step or optimizer_step,
            "best_validation_score": best_score, "validations": history}

