"""Examples -> tokenized features (a `datasets.Dataset`): each format's ``featurize`` over the examples,
each feature keeping the index of its example; large sets come from the feature cache
(`stilts.formats.feature_cache`) when it holds them."""

from __future__ import annotations

import uuid
from pathlib import Path

import datasets

from stilts.core.catalog import Task
from stilts.formats.feature_cache import FeatureCache

EXAMPLE_INDEX = "example_index"


def featurize(
    task: Task, examples: list[dict], tokenizer, max_length: int, *, cache: bool | str | Path | None = None
) -> datasets.Dataset:
    """Tokenized features of ``examples``; each feature keeps the index of its example, since one
    example can give several features (QA windows, long tagged sentences).

    ``cache``: ``None`` caches sets of at least `CACHE_MIN_EXAMPLES` examples in `feature_cache_root`
    (smaller ones tokenize faster than they load); ``False`` never caches; ``True`` or a folder always
    caches (in that folder).
    """
    store = FeatureCache.for_call(cache, len(examples))
    if store is None:
        return _tokenize(task, examples, tokenizer, max_length)
    key = store.key(task, examples, tokenizer, max_length)
    cached = store.load(task, key)
    if cached is not None:
        return cached
    return store.save(task, key, _tokenize(task, examples, tokenizer, max_length, key))


def _tokenize(task: Task, examples: list[dict], tokenizer, max_length: int, key: str | None = None) -> datasets.Dataset:
    table = datasets.Dataset.from_list([dict(example, example_index=i) for i, example in enumerate(examples)])

    def tokenize(batch):
        features = task.format.featurize(batch, tokenizer, task, max_length)
        features.setdefault(EXAMPLE_INDEX, batch[EXAMPLE_INDEX])
        return features

    # a fingerprint of our own: otherwise `map` pickles ``tokenize`` with the tokenizer in it to make
    # one (1-5 s for XLM-R's 250k-piece vocabulary, at every call), for a cache an in-memory table
    # never uses
    return table.map(
        tokenize,
        batched=True,
        remove_columns=table.column_names,
        desc=f"tokenizing {task.name}",
        new_fingerprint=key or uuid.uuid4().hex,
    )
