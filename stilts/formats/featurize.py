"""Examples -> tokenized features (a `datasets.Dataset`), and batches for the loops.

Three things here are about speed, and none changes what a run computes:

- Features of large example sets are cached on disk (`FeatureCache`), keyed by everything they
  depend on, so a second run of a pipeline (or another pipeline of a sweep on the same data) starts
  training without tokenizing.
- `Batcher` builds a batch from feature indices without making a `datasets.Dataset` or a Python dict
  per feature: it takes the rows from Arrow, and for formats whose batches are plain dynamic padding
  (classification, pooled sentences) it pads with numpy instead of ``tokenizer.pad``, after checking on
  sample batches that both give the same tensors (otherwise it uses the format's own ``collate``).
- `feature_lengths` gives the token count of every feature, for length-sorted evaluation and
  length-grouped training batches.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import uuid
import weakref
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from stilts.core.caches import cache_folder
from stilts.core.catalog import Task

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


# --- the feature cache ---------------------------------------------------------------------------

#: below this many examples `featurize` does not cache by default (tokenizing is about as fast)
CACHE_MIN_EXAMPLES = 1000
#: bump when features change in a way the key does not see
CACHE_VERSION = 1
#: a folder for the cache, or "off" to disable it (default: see `feature_cache_root`)
CACHE_ENV = "STILTS_FEATURE_CACHE"


def feature_cache_root() -> Path | None:
    """``$STILTS_FEATURE_CACHE`` (``off`` disables caching), else ``$STILTS_CACHE/features``, else
    ``$XDG_CACHE_HOME/stilts/features``, else ``~/.cache/stilts/features`` (beside the offline models)."""
    return cache_folder(CACHE_ENV, "features")


class FeatureCache:
    """Tokenized features saved with ``save_to_disk`` under ``<root>/<task>-<key>/``.

    The key hashes everything the features depend on: the examples' content (so an edited data file,
    another split, language or ``max_train_examples`` misses), the task (name, labels) and its format
    (class, settings, the source file that defines it), the tokenizer (its full serialised vocabulary
    and settings, not its folder name), ``max_length``, and the library versions that tokenize.
    A folder is written under a temporary name and renamed into place, so a killed run leaves no
    half-written entry, and two processes featurizing the same data at once both end with one entry.
    """

    def __init__(self, root: Path):
        self.root = Path(root)

    @classmethod
    def for_call(cls, cache, count: int) -> FeatureCache | None:
        if cache is False:
            return None
        if isinstance(cache, (str, Path)):
            return cls(Path(cache))
        if cache is None and count < CACHE_MIN_EXAMPLES:
            return None
        root = feature_cache_root()
        return cls(root) if root is not None else None

    def key(self, task: Task, examples: list[dict], tokenizer, max_length: int) -> str:
        fmt = task.format
        payload = {
            "version": CACHE_VERSION,
            "task": task.name,
            "labels": list(task.labels or ()),
            "format": f"{type(fmt).__module__}.{type(fmt).__qualname__}",
            "format_settings": json.dumps(vars(fmt), sort_keys=True, default=str),
            "format_source": _source_hash(type(fmt)),
            "featurize_source": _file_hash(__file__),
            "tokenizer": tokenizer_fingerprint(tokenizer),
            "max_length": max_length,
            "versions": [datasets.__version__, _version("transformers"), _version("tokenizers")],
            "examples": examples_fingerprint(examples),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()

    def folder(self, task: Task, key: str) -> Path:
        return self.root / f"{_safe(task.name)}-{key[:24]}"

    def load(self, task: Task, key: str) -> datasets.Dataset | None:
        folder = self.folder(task, key)
        if not folder.is_dir():
            return None
        try:
            return datasets.load_from_disk(str(folder))
        except (OSError, ValueError, FileNotFoundError, pa.ArrowException):
            return None  # unreadable (e.g. removed while loading): tokenize again

    def save(self, task: Task, key: str, features: datasets.Dataset) -> datasets.Dataset:
        """Store ``features``; returns them as loaded from the cache (memory-mapped, not in RAM)."""
        folder = self.folder(task, key)
        temp = folder.parent / f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            features.save_to_disk(str(temp))
            try:
                os.rename(temp, folder)
            except OSError:  # another process stored the same features first
                shutil.rmtree(temp, ignore_errors=True)
            return datasets.load_from_disk(str(folder))
        except OSError:  # a read-only or full disk must not stop a run: keep the features in memory
            shutil.rmtree(temp, ignore_errors=True)
            return features


def examples_fingerprint(examples: list[dict]) -> str:
    """sha256 of the examples' JSON, in chunks (a tenth or less of the time tokenizing them takes)."""
    digest = hashlib.sha256(str(len(examples)).encode())
    for start in range(0, len(examples), 10_000):
        chunk = examples[start : start + 10_000]
        digest.update(json.dumps(chunk, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
    return digest.hexdigest()


#: tokenizer settings that say where it was loaded from, or the truncation of its last call (saved
#: with it), not what it does when featurize calls it with its own max_length
_NOT_BEHAVIOUR_KWARGS = {
    "name_or_path",
    "vocab_file",
    "tokenizer_file",
    "merges_file",
    "is_local",
    "local_files_only",
    "cache_dir",
    "_commit_hash",
    "max_length",
    "stride",
    "truncation_strategy",
    "padding_strategy",
    "pad_to_multiple_of",
}
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of what a tokenizer does: its class, its serialised model (vocabulary, normaliser,
    pre-tokeniser, post-processor) and its settings. The same tokenizer in two folders hashes the same.
    Remembered per tokenizer object (half a second for XLM-R's 250k pieces), unless its size changes."""
    try:
        size, known = _FINGERPRINTS[tokenizer]
        if size == len(tokenizer):
            return known
    except (KeyError, TypeError):
        pass
    fingerprint = _tokenizer_fingerprint(tokenizer)
    try:
        _FINGERPRINTS[tokenizer] = (len(tokenizer), fingerprint)
    except TypeError:  # not weakly referenceable
        pass
    return fingerprint


def _tokenizer_fingerprint(tokenizer) -> str:
    digest = hashlib.sha256(type(tokenizer).__qualname__.encode())
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        # without its truncation/padding state, which every call with max_length=... changes: the
        # serialisation starts {"version", "truncation", "padding", "added_tokens", ...}
        text = backend.to_str()
        start = text.find('"added_tokens":')
        if start >= 0:
            text = text[start:]
        else:
            state = json.loads(text)
            state.pop("truncation", None), state.pop("padding", None)
            text = json.dumps(state, sort_keys=True)
        digest.update(text.encode("utf-8"))
    else:  # a slow (Python) tokenizer: datasets' pickling hasher sees its vocabulary
        from datasets.fingerprint import Hasher

        digest.update(Hasher.hash(tokenizer).encode())
    settings = {
        key: value for key, value in getattr(tokenizer, "init_kwargs", {}).items() if key not in _NOT_BEHAVIOUR_KWARGS
    }
    settings.update(
        padding_side=tokenizer.padding_side,
        truncation_side=tokenizer.truncation_side,
        model_max_length=tokenizer.model_max_length,
        vocabulary_size=len(tokenizer),
    )
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode("utf-8"))
    return digest.hexdigest()


def _source_hash(obj) -> str:
    """Hash of the file that defines ``obj``: editing a format's code invalidates its cached features."""
    try:
        return _file_hash(inspect.getfile(obj))
    except TypeError:
        return "unknown"


def _file_hash(path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unknown"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._+-" else "_" for c in name)


# --- lengths ---------------------------------------------------------------------------------------


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


# --- batches ---------------------------------------------------------------------------------------


class Batcher:
    """``batcher(indices)``: the collated batch of those features, as the format's ``collate`` makes it.

    Rows come out of the Arrow table in one ``take`` (no per-step ``Dataset.select``, no Python dict
    per feature on the fast path). Formats whose ``collate`` is plain dynamic padding of token columns
    (classification: every token column plus scalar labels; pooled sentences: the encoder's inputs)
    are padded with numpy, once checked on sample batches to give exactly what ``collate`` gives;
    every other format (or a mismatch) goes through ``collate`` on Python rows.
    """

    def __init__(self, task: Task, features: datasets.Dataset, tokenizer, *, check_sample: int = 16):
        self.task, self.tokenizer = task, tokenizer
        self.table = features.with_format("arrow")
        self.columns = [name for name in features.column_names if name != EXAMPLE_INDEX]
        #: the fast path's (token columns, scalar columns, pad values, padding side); None: ``collate``
        self.plan = self._plain_padding_plan(features, check_sample)

    def __call__(self, indices) -> dict[str, torch.Tensor]:
        rows = self.table[[int(i) for i in indices]]
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
