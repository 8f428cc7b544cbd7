"""Local inputs by content: the sha256 of a file, and of the files in a folder, kept on disk.

A stage's fingerprint hashes its local data and model folders by what is in them, not by how their
path is written, so the same data spelled two ways is one stage, a file edited in place is a new one,
and a run folder moved with its data keeps its stages. A file's sha256 is kept in a cache keyed by its
resolved path, size and modification time (ns): a folder hashed once costs one ``stat`` per file after
that, in this process and the next ones (a second dry run, a Slurm job planning the same sweep).

The cache is ``$STILTS_HASH_CACHE`` (``off`` keeps nothing on disk), else ``$STILTS_CACHE/hashes``,
else ``$XDG_CACHE_HOME/stilts/hashes``, else ``~/.cache/stilts/hashes``: one small JSON file per folder
of files hashed. It is only ever a shortcut; a lost or unwritable cache means hashing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from stilts.core.artifacts import write_json_atomic
from stilts.core.caches import cache_folder

CACHE_ENV = "STILTS_HASH_CACHE"
_CACHE_VERSION = 1
#: a file modified this recently may be modified again within its file system's timestamp resolution
#: (a few ms on ext4, 2 s on FAT) without its time changing; its hash is not kept (as git does)
_RACY_NS = 2_000_000_000

#: resolved folder -> {file name: [size, mtime_ns, sha256]}, as loaded from and saved to the disk cache
_known: dict[str, dict[str, list]] = {}
_changed: set[str] = set()


def hash_cache_root() -> Path | None:
    return cache_folder(CACHE_ENV, "hashes")


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (of the file a symbolic link points to)."""
    with _saving():
        return _file_sha256(Path(path).resolve())


def folder_sha256(folder: Path) -> str:
    """The sha256 of a folder's content: every file under it, by its path relative to the folder and
    the sha256 of its bytes. Hidden files and folders (names starting with '.': editor swap files, a
    download tool's metadata) are left out; symbolic links are followed."""
    folder = Path(folder)
    digest = hashlib.sha256()
    with _saving():
        for name, path in _files_under(folder):
            digest.update(f"{name}\0{_file_sha256(path)}\n".encode())
    return digest.hexdigest()


def _files_under(folder: Path) -> list[tuple[str, Path]]:
    """(relative name with '/', resolved path) of every file under ``folder``, sorted by name."""
    found = []
    seen_folders = set()
    for root, folders, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen_folders:  # a link back up the tree: walked already
            folders[:] = []
            continue
        seen_folders.add(real)
        folders[:] = [name for name in folders if not name.startswith(".")]
        relative = Path(root).relative_to(folder)
        for name in files:
            path = Path(root) / name
            if not name.startswith(".") and path.is_file():
                found.append(((relative / name).as_posix(), path.resolve()))
    return sorted(found)


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    entries = _entries(str(path.parent))
    known = entries.get(path.name)
    if known is not None and known[:2] == [stat.st_size, stat.st_mtime_ns]:
        return known[2]
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    sha = digest.hexdigest()
    after = path.stat()
    unchanged = (after.st_size, after.st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    if unchanged and time.time_ns() - after.st_mtime_ns > _RACY_NS:
        entries[path.name] = [stat.st_size, stat.st_mtime_ns, sha]
        _changed.add(str(path.parent))
    return sha


def _entries(folder: str) -> dict[str, list]:
    if folder not in _known:
        _known[folder] = {}
        cache = _cache_file(folder)
        if cache is not None and cache.is_file():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                record = json.loads(cache.read_text(encoding="utf-8"))
                if record.get("version") == _CACHE_VERSION and record.get("folder") == folder:
                    _known[folder] = dict(record["files"])
    return _known[folder]


def _cache_file(folder: str) -> Path | None:
    root = hash_cache_root()
    return None if root is None else root / f"{hashlib.sha256(folder.encode()).hexdigest()[:32]}.json"


@contextlib.contextmanager
def _saving() -> Iterator[None]:
    """Write the folders whose entries changed to the disk cache at the end (if it can be written)."""
    try:
        yield
    finally:
        for folder in sorted(_changed):
            cache = _cache_file(folder)
            if cache is not None:
                # another process may have written it meanwhile: a lost entry is only hashed again
                with contextlib.suppress(OSError):
                    write_json_atomic(cache, {"version": _CACHE_VERSION, "folder": folder, "files": _known[folder]})
        _changed.clear()
