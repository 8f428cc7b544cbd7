"""A crash-safe, append-only cache of translations, one file per (model, decoding settings).

Translating HellaSwag's 40k training examples (~200k strings) takes hours on one GPU, so an
interruption must not lose the work: each batch's translations are appended to
``<cache-dir>/<model>-<key>.jsonl`` as ``{"src": ..., "tgt": ...}`` lines, then flushed and fsync'd,
before the next batch starts. A rerun loads the file and translates only the strings not in it.

``key`` hashes everything that changes a translation: the model (Hub id + resolved commit, or a local
folder's path + its weight files' sizes and modification times, so retraining a model in place starts
a new cache), the beam size, the maximum length and the source prefix. ``<model>-<key>.json`` beside it
records those settings for people.

A crash can tear the last line (a partial write). Loading skips lines that are not complete JSON
records, and opening for append first cuts the file back to its last full line, so new records never
glue onto a torn one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from stilts.core.artifacts import write_json_atomic


def cache_key(identity: dict) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _readable_name(model: str) -> str:
    """The last part of a Hub id or folder, safe as a file name (``opus-mt-en-de``)."""
    name = Path(model.rstrip("/")).name or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[-60:]


class TranslationCache:
    """``source text -> translation`` for one model and decoding setup, persisted as JSON lines.

    ``folder=None`` keeps it in memory only (a BLEU check with no cache folder)."""

    def __init__(self, folder: Path | None, model: str, identity: dict):
        self.translations: dict[str, str] = {}
        self.skipped_lines = 0
        self.path: Path | None = None
        if folder is None:
            return
        folder = Path(folder)
        stem = f"{_readable_name(model)}-{cache_key(identity)}"
        path = self.path = folder / f"{stem}.jsonl"
        folder.mkdir(parents=True, exist_ok=True)
        info = folder / f"{stem}.json"
        if not info.is_file():
            write_json_atomic(info, identity)
        if path.is_file():
            self._load(path)
            self._cut_torn_tail(path)

    def _load(self, path: Path) -> None:
        with open(path, "rb") as handle:
            for raw in handle:
                try:
                    record = json.loads(raw.decode("utf-8"))
                    source, target = record["src"], record["tgt"]
                except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
                    self.skipped_lines += 1  # a line torn by a crash mid-write
                    continue
                if isinstance(source, str) and isinstance(target, str):
                    self.translations[source] = target
                else:
                    self.skipped_lines += 1

    def _cut_torn_tail(self, path: Path) -> None:
        """Truncate to the last newline, so the next append starts on a line of its own."""
        with open(path, "rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            chunk_start = size
            while chunk_start > 0:
                chunk_start = max(0, chunk_start - 65536)
                handle.seek(chunk_start)
                chunk = handle.read(size - chunk_start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    handle.truncate(chunk_start + newline + 1)
                    return
            handle.truncate(0)

    def __len__(self) -> int:
        return len(self.translations)

    def get(self, text: str) -> str | None:
        return self.translations.get(text)

    def add(self, pairs: list[tuple[str, str]]) -> None:
        """Record a batch of translations; on disk (flushed and fsync'd) when this returns."""
        for source, target in pairs:
            self.translations[source] = target
        if self.path is None or not pairs:
            return
        lines = "".join(
            json.dumps({"src": source, "tgt": target}, ensure_ascii=False) + "\n" for source, target in pairs
        )
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
