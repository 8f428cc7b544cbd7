"""Writing stage artifacts so that nothing is ever half-written.

Every file is written under a temporary name in the same folder and renamed into place (atomic on
POSIX); a stage folder counts as done only once ``COMPLETE`` exists, and that is written last. What
is renamed into place gets the permissions the umask gives any new file (`follow_umask`), as a
colleague on a lab's shared filesystem expects of a run folder.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path

from stilts.names import SCORE_COLUMNS, SCORE_KEY

COMPLETE = "COMPLETE"
#: written when a stage's run raised, with the reason on one line; removed when the stage runs again
FAILED = "FAILED"


def umask() -> int:
    """The process's umask: new files get ``0o666 & ~umask``, new folders ``0o777 & ~umask``."""
    # Linux says it in /proc without changing it; elsewhere it is set and set back (os has no getter)
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask(path: Path) -> None:
    """Give ``path``, and everything under it if it is a folder, the permissions an ordinary open or
    mkdir would. tempfile makes its files 0600 and folders 0700, and safetensors its files 0600,
    whatever the umask: a run's scores and models would be unreadable to the rest of a lab's group."""
    mask = umask()
    for entry in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if entry.is_symlink():
            continue
        executable = entry.is_dir() or entry.stat().st_mode & 0o111
        entry.chmod((0o777 if executable else 0o666) & ~mask)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        follow_umask(Path(temp))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def atomic_folder(dest: Path):
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` in one rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        yield temp
        follow_umask(temp)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(temp, dest)
    finally:
        if temp.exists():
            shutil.rmtree(temp)


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def mark_complete(folder: Path) -> None:
    write_text_atomic(folder / COMPLETE, "")


def read_json(path: Path) -> dict:
    """A JSON file's content; {} when it is missing or unreadable (a folder stilts did not finish)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def folder_size(folder: Path) -> int:
    """Bytes in the files under ``folder``."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def mark_failed(folder: Path, reason: str) -> None:
    write_text_atomic(folder / FAILED, reason + "\n")


def failure_of(folder: Path) -> str | None:
    """The reason a stage's last run failed, if it did and has not run again since."""
    try:
        return (folder / FAILED).read_text(encoding="utf-8").strip() or "failed"
    except FileNotFoundError:
        return None


def clear_failed(folder: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / FAILED)


@contextlib.contextmanager
def locked(path: Path, on_wait=None):
    """An exclusive lock on ``.<name>.lock`` beside ``path``, held for the block, so that processes
    sharing a run folder (a parallel sweep, two runs started at once) take turns; the system releases
    it if the process dies. ``on_wait()`` is called first if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(path), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def is_locked(path: Path) -> bool:
    """Whether a process holds `locked` on ``path`` now (a stage being run)."""
    lock = lock_path(path)
    if not lock.exists():
        return False
    with open(lock) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def upsert_scores(path: Path, rows: list[dict]) -> None:
    """Add rows to ``scores.csv``; a row with the same key as an existing one replaces it."""
    new_keys = {tuple(_csv_cell(row[column]) for column in SCORE_KEY) for row in rows}
    with locked(path):
        kept = []
        if path.exists():
            with open(path, newline="", encoding="utf-8") as handle:
                kept = [
                    row for row in csv.DictReader(handle) if tuple(row[column] for column in SCORE_KEY) not in new_keys
                ]
        lines = [",".join(SCORE_COLUMNS)]
        for row in kept + rows:
            lines.append(",".join(_csv_cell(row[column]) for column in SCORE_COLUMNS))
        write_text_atomic(path, "\n".join(lines) + "\n")


def _csv_cell(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if any(char in text for char in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
