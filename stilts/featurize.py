"""Examples -> tokenized features (a `datasets.Dataset`), and batches for the loops."""

from __future__ import annotations

from functools import partial

import datasets
import torch

from stilts.registry import Task


def featurize(task: Task, examples: list[dict], tokenizer, max_length: int) -> datasets.Dataset:
    """Tokenized features of ``examples``; each feature keeps the index of its example, since one
    example can give several features (QA windows, long tagged sentences)."""
    table = datasets.Dataset.from_list([dict(example, example_index=i) for i, example in enumerate(examples)])

    def tokenize(batch):
        features = task.format.featurize(batch, tokenizer, task, max_length)
        features.setdefault("example_index", batch["example_index"])
        return features

    return table.map(tokenize, batched=True, remove_columns=table.column_names,
                     desc=f"tokenizing {task.name}")


def make_loader(task: Task, features: datasets.Dataset, tokenizer, batch_size: int, *, shuffle: bool,
                seed: int = 0) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return torch.utils.data.DataLoader(
        features, batch_size=batch_size, shuffle=shuffle, generator=generator,
        collate_fn=partial(_collate, task, tokenizer))


def _collate(task: Task, tokenizer, rows: list[dict]) -> dict:
    rows = [{key: value for key, value in row.items() if key != "example_index"} for row in rows]
    return task.format.collate(rows, tokenizer)
