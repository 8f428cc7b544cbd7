"""The forward passes `stilts rank` makes (`stilts.pipeline.rank`): an encoder's labelled features of a task's
examples, the states the task format's head reads (LogME, H-score), and the mean-pooled features of a data
set's examples (TextEmb). No training: the encoder runs in inference mode, under the Accelerator's autocast
(bf16 on a GPU that has it, as evaluation runs), and its features are copied to the host as float32."""

from __future__ import annotations

import numpy as np
import torch

from stilts.analysis.transferability import mean_pool
from stilts.core.catalog import Task
from stilts.formats.base import TransferRows, encoder_inputs
from stilts.formats.batching import feature_lengths, make_loader
from stilts.formats.tokenize import featurize
from stilts.training.devices import evaluation_batch_size, to_device


def _batches(accelerator, encoder, tokenizer, task: Task, examples: list[dict], max_length: int, batch_size):
    """The collated batches of ``examples`` on the Accelerator's device, sorted by length (each pads little),
    with the encoder there in evaluation mode."""
    features = featurize(task, examples, tokenizer, max_length, cache=False)
    device = accelerator.device
    order = np.argsort(feature_lengths(features), kind="stable")
    loader = make_loader(
        task, features, tokenizer, evaluation_batch_size(device, batch_size), shuffle=False, order=order
    )
    encoder.to(device).eval()
    for batch in loader:
        yield to_device(batch, device)


def labelled_features(
    accelerator, encoder, tokenizer, task: Task, examples: list[dict], *, max_length: int, batch_size: int | None
) -> TransferRows:
    """The rows the format's head reads, with their labels (`TaskFormat.transfer_rows`), for labelled
    ``examples`` of ``task``."""
    parts = []
    with torch.inference_mode(), accelerator.autocast():
        for batch in _batches(accelerator, encoder, tokenizer, task, examples, max_length, batch_size):
            parts.append(task.format.transfer_rows(encoder, batch))
    return TransferRows.joined(parts)


def mean_pooled_features(
    accelerator, encoder, tokenizer, task: Task, examples: list[dict], *, max_length: int, batch_size: int | None
) -> np.ndarray:
    """One vector per input sequence of ``examples``: the mean of its last-layer token states (the padding
    left out), as TextEmb (Vu et al. 2020) embeds a data set's examples. A multiple-choice question is one
    sequence per choice (the fillers a batch adds left out), a long QA context one per window."""
    vectors = []
    with torch.inference_mode(), accelerator.autocast():
        for batch in _batches(accelerator, encoder, tokenizer, task, examples, max_length, batch_size):
            inputs = encoder_inputs(batch)
            if inputs["input_ids"].dim() == 3:  # (questions, choices, tokens): one sequence per real choice
                real = batch["choice_mask"].flatten()
                inputs = {key: value.flatten(0, 1)[real] for key, value in inputs.items()}
            states = encoder(**inputs).last_hidden_state.float().cpu().numpy()
            vectors.append(mean_pool(states, inputs["attention_mask"].cpu().numpy()))
    return np.concatenate(vectors)
