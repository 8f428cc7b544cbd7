"""Writing stage artifacts so that nothing is ever half-written.

Every file is written under a temporary name in the same folder and renamed into place (atomic on
POSIX); a stage folder counts as done only once ``COMPLETE`` exists, and that is written last. What
is renamed into place gets the permissions the umask gives any new file (`follow_umask`), as a
colleague on a lab's shared filesystem expects of a run folder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from stilts.core.errors import RunFailed, one_line

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


#: what every stage's config.json has held since the first release (`stilts.pipeline.engine` writes it) and the
#: commands that read it (predict, export) use
STAGE_CONFIG_KEYS = ("kind", "pipeline", "model", "upstream", "settings")


def read_record(path: Path, remedy: str, keys: Collection[str] = ()) -> dict:
    """A JSON object stilts wrote in a run folder that a command cannot do without (a stage's
    config.json, metrics.json or heads.json; the run's stages.json). One that is missing, cut short
    (a disk that filled up, a copy that stopped) or lacks one of ``keys`` is a `RunFailed`: one line
    naming the file, what is wrong, and ``remedy``, what to do about it. (`read_json` is for files
    whose absence only means less to show.)"""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFailed(f"{path}: missing; {remedy}") from None
    except ValueError as error:  # not JSON, or not UTF-8
        raise RunFailed(f"{path}: damaged (not JSON: {one_line(error)}); {remedy}") from None
    if not isinstance(record, dict):
        raise RunFailed(f"{path}: damaged (not a JSON object); {remedy}")
    lacking = [key for key in keys if key not in record]
    if lacking:
        raise RunFailed(f"{path}: damaged (no {', '.join(lacking)}); {remedy}")
    return record


def redo_stage(folder: Path) -> str:
    """What to do about a damaged file of a complete stage (a rerun would reuse the stage as it is)."""
    return f"delete the stage folder {folder} and run its pipeline again to redo the stage"


def upstream_folder(stage_dir: Path, recorded: str) -> Path:
    """The folder of a stage recorded as another's upstream. The record is the absolute path at run
    time; a run folder copied or moved since (from a cluster's scratch) still has it by name, beside."""
    beside = stage_dir.resolve().parent / Path(recorded).name
    return beside if beside.is_dir() else Path(recorded)


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


#: a lock file is opened only as itself: a symbolic link there (to a file outside the run folder,
#: say) is refused, never followed, as the truncating open for `locked` would empty what it points to
_NOT_THROUGH_A_LINK = os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def locked(path: Path, on_wait=None):
    """An exclusive lock on ``.<name>.lock`` beside ``path``, held for the block, so that processes
    sharing a run folder (a parallel sweep, two runs started at once) take turns; the system releases
    it if the process dies. ``on_wait()`` is called first if another process holds it. A lock file
    that is a symbolic link is refused (RunFailed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = lock_path(path)
    try:
        # truncated as open(..., "w") did: its time is when a process took it (`stilts status`)
        descriptor = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOT_THROUGH_A_LINK, 0o666)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RunFailed(
                f"{lock}: a symbolic link where stilts keeps a lock file; delete the link (stilts opens no "
                "lock file through one)"
            ) from None
        raise
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)


def lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def is_locked(path: Path) -> bool:
    """Whether a process holds `locked` on ``path`` now (a stage being run)."""
    try:
        descriptor = os.open(lock_path(path), os.O_RDONLY | _NOT_THROUGH_A_LINK)
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno == errno.ELOOP:  # `locked` refuses a link: no process holds it
            return False
        raise
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        return False
    finally:
        os.close(descriptor)
