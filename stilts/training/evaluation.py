"""Running a trained model over examples and scoring the predictions."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from stilts.core.catalog import Task
from stilts.formats.batching import feature_lengths, make_loader
from stilts.formats.tokenize import featurize
from stilts.training.devices import evaluation_batch_size


def predict_outputs(
    accelerator,
    model,
    task: Task,
    features,
    tokenizer,
    batch_size: int | None,
    desc: str = "predicting",
    *,
    sort_by_length: bool = True,
) -> list[np.ndarray]:
    """One output array per feature, in feature order; ``batch_size`` None: the device's default
    (`stilts.training.devices.evaluation_batch_size`).

    Features are run sorted by length (unless ``sort_by_length`` is false, which is only there to
    measure what sorting saves), so each batch pads little; every process of a distributed run sees
    its shard, and `gather_for_metrics` drops the duplicates that even batches add. The model runs
    under the Accelerator's autocast (bf16 on GPUs with ``mixed_precision: auto``), as in training;
    on a GPU, batches come from pinned memory and outputs go back to the host without a wait per
    batch (one at the end).
    """
    device = accelerator.device
    batch_size = evaluation_batch_size(device, batch_size)
    order = np.argsort(feature_lengths(features), kind="stable") if sort_by_length else np.arange(len(features))
    loader = make_loader(
        task, features, tokenizer, batch_size, shuffle=False, order=order, pin_memory=device.type == "cuda"
    )
    loader = accelerator.prepare(loader)
    model.eval()
    copies: list[torch.Tensor] = []
    with torch.inference_mode(), accelerator.autocast():
        for batch in tqdm(loader, desc=desc, leave=False, disable=not accelerator.is_local_main_process):
            _, batch_outputs = model(task.name, batch)
            batch_outputs = (
                accelerator.pad_across_processes(batch_outputs, dim=1) if batch_outputs.dim() > 2 else batch_outputs
            )
            copies.append(accelerator.gather_for_metrics(batch_outputs).float().to("cpu", non_blocking=True))
    if device.type == "cuda":  # the copies above are asynchronous (into pinned memory)
        torch.cuda.current_stream(device).synchronize()
    outputs = [row for copy in copies for row in copy.numpy()]
    restored: list = [None] * len(outputs)
    for position, feature_index in enumerate(order):
        restored[feature_index] = outputs[position]
    return restored


def _forward_examples(
    accelerator, model, task: Task, examples: list[dict], tokenizer, max_length: int, batch_size: int | None, desc: str
) -> tuple[list, list]:
    """The model's outputs on ``examples``' features, and the features: what predictions are read from."""
    features = featurize(task, examples, tokenizer, max_length)
    return predict_outputs(accelerator, model, task, features, tokenizer, batch_size, desc=desc), features


def predict_examples(
    accelerator,
    model,
    task: Task,
    examples: list[dict],
    tokenizer,
    *,
    max_length: int,
    batch_size: int | None,
    desc: str,
) -> list:
    """The format's predictions for ``examples``, one per example (labels not needed)."""
    outputs, features = _forward_examples(accelerator, model, task, examples, tokenizer, max_length, batch_size, desc)
    return task.format.predict(outputs, features, examples, task)


def predict_with_probabilities(
    accelerator,
    model,
    task: Task,
    examples: list[dict],
    tokenizer,
    *,
    max_length: int,
    batch_size: int | None,
    desc: str,
) -> tuple[list, list[dict[str, float]] | None]:
    """`predict_examples`, and per example the probability of each answer where the format has them
    (`TaskFormat.probabilities`; None where it has not), from the same forward pass."""
    outputs, features = _forward_examples(accelerator, model, task, examples, tokenizer, max_length, batch_size, desc)
    predictions = task.format.predict(outputs, features, examples, task)
    return predictions, task.format.probabilities(outputs, features, examples, task)
