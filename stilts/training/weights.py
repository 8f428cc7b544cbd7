"""Whether weight files can be loaded, found without loading them: a model folder given as a pipeline's
``model:`` (before any stage trains), a stage's saved model, a checkpoint's files before a resume.

A zero-byte or truncated safetensors file, or a pickle that torch refuses to unpickle as plain weights
(it names classes, so loading it could run code), fails here in one line naming the file, instead of as
a traceback from deep inside transformers once training or evaluation has started. Safetensors files
are checked by their header (which must parse and cover the whole file), pickles by torch's own
``weights_only`` loader, memory-mapped where the file is a zip archive (as torch has written them since
1.6): neither reads the weights themselves, except from an older pickle, which is read whole.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from stilts.core.artifacts import COMPLETE, redo_stage
from stilts.core.errors import BadInput, RunFailed


def folder_problem(folder: Path) -> str | None:
    """Why the weights transformers would load from ``folder`` cannot be loaded (one line naming the
    file), or None: its safetensors files where it has any (transformers ignores the .bin files then),
    else its .bin files."""
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        return f"{folder}: model folder has no weights (*.safetensors or *.bin)"
    return next(filter(None, map(file_problem, files)), None)


def file_problem(path: Path, load=None) -> str | None:
    """Why the weights file ``path`` cannot be loaded (one line naming it), or None. ``load(path,
    **torch_load_options)`` reads a pickle (default: torch.load with weights_only, as transformers
    reads .bin files), onto the CPU; a safetensors file is checked by its header."""
    if not path.is_file():
        return f"{path}: missing"
    if path.stat().st_size == 0:
        return f"{path}: empty (0 bytes)"
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    # torch writes a zip archive (since 1.6): one cut short has lost its directory at the end, which
    # torch reports as "Invalid argument"; a whole one is mapped, not read; an older pickle is read whole
    is_zip = zipfile.is_zipfile(path)
    if not is_zip and _starts_as_zip(path):
        return f"{path}: truncated (the zip archive torch writes lacks its end)"
    try:
        (load or _torch_load)(path, map_location="cpu", **({"mmap": True} if is_zip else {}))
    except Exception as error:  # noqa: BLE001 - whatever torch raises, the file will not load
        return f"{path}: {_load_error(error)}"
    return None


def _starts_as_zip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):  # reads and checks the header only
            return None
    except SafetensorError as error:  # e.g. "incomplete metadata, file not fully covered": truncated
        return f"{path}: not a whole safetensors file ({error})"


def _torch_load(path: Path, **options):
    import torch

    return torch.load(path, weights_only=True, **options)


def _load_error(error: BaseException) -> str:
    """One line for why torch could not load a file: its weights_only refusal spans a dozen lines
    around the reason."""
    text = str(error)
    marker = "WeightsUnpickler error: "
    if marker in text:
        reason = text.split(marker, 1)[1].split(" Please ")[0].splitlines()[0].strip()
        return (
            f"torch will not load it as plain weights ({reason}): it is a pickle that could run code; "
            "save the model with safetensors (save_pretrained does)"
        )
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"cannot be read ({first})"


def check_weights(model_path: str) -> None:
    """Refuse a local model folder whose weights cannot be loaded (`folder_problem`); a Hub id passes.
    The model/ of a complete stage is stilts' own output, damaged since: the stage must be redone
    (RunFailed); any other folder is the user's (BadInput)."""
    folder = Path(model_path)
    problem = folder_problem(folder) if folder.is_dir() else None
    if problem is None:
        return
    stage = folder.parent
    if (stage / COMPLETE).is_file():
        raise RunFailed(f"{problem}; {redo_stage(stage)}")
    raise BadInput(problem)


def check_stage_file(path: Path, stage: Path) -> None:
    """Refuse a weights file a complete ``stage`` wrote (a head) that cannot be loaded: redo the stage."""
    problem = file_problem(path)
    if problem is not None:
        raise RunFailed(f"{problem}; {redo_stage(stage)}")
