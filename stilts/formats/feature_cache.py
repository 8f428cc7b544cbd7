"""Tokenized features of large example sets, cached on disk (`FeatureCache`) and keyed by everything they
depend on, so a second run of a pipeline (or another pipeline of a sweep on the same data) starts training
without tokenizing. It changes nothing a run computes."""

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
import pyarrow as pa

from stilts.core.caches import cache_folder
from stilts.core.catalog import Task

#: the code that makes the features: editing it invalidates every cached entry
_TOKENIZING_CODE = Path(__file__).with_name("tokenize.py")

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
            "featurize_source": _file_hash(_TOKENIZING_CODE),
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
