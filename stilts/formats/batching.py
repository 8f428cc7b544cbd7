"""Batches for the loops, from tokenized features.

Two things here are about speed, and neither changes what a run computes:

- `Batcher` builds a batch from feature indices without making a `datasets.Dataset` or a Python dict
  per feature: it takes the rows from Arrow, and for formats whose batches are plain dynamic padding
  (classification, pooled sentences) it pads with numpy instead of ``tokenizer.pad``, after checking on
  sample batches that both give the same tensors (otherwise it uses the format's own ``collate``).
- `feature_lengths` gives the token count of every feature, for length-sorted evaluation and
  length-grouped training batches.
"""

from __future__ import annotations

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from stilts.core.catalog import Task
from stilts.formats.tokenize import EXAMPLE_INDEX


def feature_lengths(features: datasets.Dataset) -> np.ndarray:
    """Tokens in each feature's ``input_ids``; for features holding several sequences (multiple
    choice) the longest of them, which is what the padded batch width depends on."""
    column = features.with_format("arrow")["input_ids"]
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(column) == 0:
        return np.zeros(0, dtype=np.int64)
    if not pa.types.is_list(column.type.value_type) and not pa.types.is_large_list(column.type.value_type):
        return pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    inner = pc.list_value_length(pc.list_flatten(column)).to_numpy(zero_copy_only=False).astype(np.int64)
    counts = pc.list_value_length(column).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.zeros(len(counts), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    present = counts > 0
    if present.any():
        lengths[present] = np.maximum.reduceat(inner, starts[present]) if len(inner) else 0
    return lengths


class Batcher:
    """``batcher(indices)``: the collated batch of those features, as the format's ``collate`` makes it.

    Rows come out of the Arrow table in one ``take`` (no per-step ``Dataset.select``, no Python dict
    per feature on the fast path). Formats whose ``collate`` is plain dynamic padding of token columns
    (classification: every token column plus scalar labels; pooled sentences: the encoder's inputs)
    are padded with numpy, once checked on sample batches to give exactly what ``collate`` gives;
    every other format (or a mismatch) goes through ``collate`` on Python rows.
    """

    def __init__(
        self,
        task: Task,
        features: datasets.Dataset,
        tokenizer,
        *,
        check_sample: int = 16,
        packed_from: int | None = None,
    ):
        self.task, self.tokenizer = task, tokenizer
        self.table = features.with_format("arrow")
        self.columns = [name for name in features.column_names if name != EXAMPLE_INDEX]
        #: packed batches (`stilts.formats.packing`) with positions from this offset; None: padded ones
        self.packed_from = packed_from
        if packed_from is not None and not task.format.packs:
            raise ValueError(f"the {task.format.name} format does not pack its batches")
        #: the fast path's (token columns, scalar columns, pad values, padding side); None: ``collate``
        self.plan = self._plain_padding_plan(features, check_sample) if packed_from is None else None

    def __call__(self, indices) -> dict[str, torch.Tensor]:
        rows = self.table[[int(i) for i in indices]]
        if self.packed_from is not None:
            from stilts.formats.packing import PACKED_TOKEN_COLUMNS, packed_batch

            scalars = [name for name in self.columns if name not in PACKED_TOKEN_COLUMNS and name != "attention_mask"]
            return packed_batch(rows.select(self.columns), scalars, self.packed_from)  # type: ignore[return-value]
        if self.plan is not None:
            return self._pad(rows, *self.plan)
        return self.task.format.collate(rows.select(self.columns).to_pylist(), self.tokenizer)

    def rows(self, indices) -> list[dict]:
        """The features as Python dicts without their example index (what ``collate`` takes)."""
        return self.table[[int(i) for i in indices]].select(self.columns).to_pylist()

    # the fast path ---------------------------------------------------------------------------

    def _plain_padding_plan(self, features, check_sample: int):
        token_keys, scalar_keys = _plain_padding_keys(self.task, features)
        if token_keys is None or len(features) == 0:
            return None
        pad_values = _pad_values(self.tokenizer, token_keys)
        if pad_values is None:
            return None
        plan = (token_keys, scalar_keys, pad_values)
        # the check: samples with different lengths (shortest, longest, the first ones) both ways
        lengths = feature_lengths(features)
        order = np.argsort(lengths, kind="stable")
        samples = [
            list(range(min(check_sample, len(features)))),
            sorted({int(order[0]), int(order[-1]), int(order[len(order) // 2]), 0}),
        ]
        for sample in samples:
            expected = self.task.format.collate(self.rows(sample), self.tokenizer)
            if not _same_batch(self._pad(self.table[sample], *plan), expected):
                return None
        return plan

    @staticmethod
    def _pad(rows: pa.Table, token_keys, scalar_keys, pad_values) -> dict[str, torch.Tensor]:
        """Right padding, as every format's ``collate`` pads (`stilts.formats.base.pad_right`)."""
        batch = {}
        for key in token_keys:
            column = rows.column(key)
            lengths = pc.list_value_length(column).to_numpy().astype(np.int64)
            flat = pc.list_flatten(column).to_numpy()
            width = int(lengths.max()) if len(lengths) else 0
            padded = np.full((len(lengths), width), pad_values[key], dtype=np.int64)
            padded[np.arange(width) < lengths[:, None]] = flat
            batch[key] = torch.from_numpy(padded)
        for key in scalar_keys:
            batch[key] = torch.from_numpy(rows.column(key).to_numpy().astype(np.int64))
        return batch


def _plain_padding_keys(task: Task, features) -> tuple[list[str] | None, list[str]]:
    """Which columns a format's ``collate`` pads and which it stacks, for the formats whose ``collate``
    is known to be plain dynamic padding; ``(None, [])`` for every other format."""
    from stilts.formats.base import encoder_inputs
    from stilts.formats.classification import Classification
    from stilts.formats.retrieval import PooledSentences

    collate = type(task.format).collate
    schema = features.features
    columns = [name for name in features.column_names if name != EXAMPLE_INDEX]
    is_tokens = {
        name: isinstance(schema[name], (datasets.Sequence, datasets.List))
        and getattr(schema[name], "feature", None) is not None
        and isinstance(schema[name].feature, datasets.Value)
        and schema[name].feature.dtype.startswith("int")
        for name in columns
    }
    if collate is Classification.collate:
        scalars = [name for name in columns if not is_tokens[name]]
        if scalars != ["labels"] or not str(schema["labels"].dtype).startswith("int"):
            return None, []
        return [name for name in columns if is_tokens[name]], ["labels"]
    if collate is PooledSentences.collate:
        keys = list(encoder_inputs(dict.fromkeys(columns)))
        return (keys, []) if keys and all(is_tokens[k] for k in keys) else (None, [])
    return None, []


def _pad_values(tokenizer, keys) -> dict[str, int] | None:
    values = {
        "input_ids": tokenizer.pad_token_id,
        "attention_mask": 0,
        "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0),
        "special_tokens_mask": 1,
    }
    if any(key not in values for key in keys) or values["input_ids"] is None:
        return None
    return {key: values[key] for key in keys}


def _same_batch(mine: dict, theirs) -> bool:
    theirs = dict(theirs)
    if set(mine) != set(theirs):
        return False
    return all(
        isinstance(theirs[k], torch.Tensor)
        and mine[k].dtype == theirs[k].dtype
        and mine[k].shape == theirs[k].shape
        and torch.equal(mine[k], theirs[k])
        for k in mine
    )


class _Positions(torch.utils.data.Dataset):
    """Feature indices as a map-style dataset: a loader over it hands ``Batcher`` lists of indices."""

    def __init__(self, indices):
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> int:
        return int(self.indices[position])


def make_loader(
    task: Task,
    features: datasets.Dataset,
    tokenizer,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    order=None,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """Batches of ``features`` (in ``order``, a sequence of feature indices, if given). The loader is
    over feature indices and collates with a `Batcher`, so Accelerate can shard it across processes.
    ``pin_memory``: batches in pinned host memory (for a GPU; see `stilts.training.devices`)."""
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    positions = _Positions(np.arange(len(features)) if order is None else order)
    return torch.utils.data.DataLoader(
        positions,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=Batcher(task, features, tokenizer),
        pin_memory=pin_memory,
    )
