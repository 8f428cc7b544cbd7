"""Checkpoints inside a stage, so a killed run continues where it stopped.

``<stage>/checkpoints/step-<N>/`` holds everything a resume needs: Accelerate's state (model,
optimizer, scheduler, gradient scaler, the RNGs of python/numpy/torch) plus ``progress.json`` (step
counters, each task's position in its data, the task sampler's state, early-stopping state).
``<stage>/checkpoints/best/`` holds the best validated weights. A stage that averages its weights
(``model_selection: average_last``) keeps the running mean so far in each step checkpoint
(``average.safetensors``), so a resumed stage ends with the same average. Each is written under a temporary
name and renamed, so a crash while saving leaves the previous checkpoint as it was; only the newest
step checkpoint and the best weights are kept.

A resume starts only from a checkpoint whose every file loads (`CheckpointStore.resumable`): Accelerate
itself goes on with fresh random states when it cannot read the saved ones (saying so at info level
only), and the rest of the stage would then differ from an uninterrupted run. One that cannot be
restored is removed with a warning, and the stage resumes from an older whole one, or else starts
again from its first step, which ends as an uninterrupted run does.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from stilts.core.artifacts import atomic_folder, follow_umask
from stilts.training.averaging import AVERAGE_FILE
from stilts.training.weights import file_problem

if TYPE_CHECKING:
    import torch

    from stilts.training.averaging import RunningMean

PROGRESS = "progress.json"
#: what progress.json holds (`stilts.training.loop.train` writes it)
PROGRESS_KEYS = ("progress", "streams", "sampler", "scheduler")
BEST = "best"
#: the files of Accelerate's save_state (its names: SAFE_MODEL_NAME, OPTIMIZER_NAME, SCALER_NAME,
#: RNG_STATE_NAME) for the one model and optimizer a stage prepares
MODEL_FILE, OPTIMIZER_FILE, SCALER_FILE = "model.safetensors", "optimizer.bin", "scaler.pt"
RANDOM_STATES = "random_states_{process}.pkl"
_STEP_FOLDER = re.compile(r"^step-(\d+)$")


def saved_steps(folder: Path) -> list[tuple[int, Path]]:
    """The whole step checkpoints in ``folder`` (a stage's checkpoints/), oldest first: (step, path).
    Without torch: the engine says what an interrupted stage kept."""
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), path)
        for path in folder.iterdir()
        if (m := _STEP_FOLDER.match(path.name)) and (path / PROGRESS).is_file()
    ]
    return sorted(found)


class CheckpointStore:
    def __init__(self, folder: Path, accelerator):
        self.folder = Path(folder)
        self.accelerator = accelerator
        #: the running mean of the weights a stage that averages them keeps in each step checkpoint
        self.average: RunningMean | None = None

    def _steps(self) -> list[tuple[int, Path]]:
        return saved_steps(self.folder)

    def latest(self) -> Path | None:
        steps = self._steps()
        return steps[-1][1] if steps else None

    def save(self, step: int, progress: dict) -> None:
        """Save the full training state at optimizer step ``step`` (with the running mean of the weights
        so far, where the stage averages them: `average`); prune older step checkpoints."""
        accelerator = self.accelerator
        dest = self.folder / f"step-{step}"
        # every process takes part in save_state (it gathers sharded state); the main one writes
        temp = self.folder / f".step-{step}.tmp"
        if accelerator.is_main_process:  # what a save that crashed left there
            if temp.is_symlink():  # removed, not followed: the state would be saved where it points
                temp.unlink()
            elif temp.exists():
                shutil.rmtree(temp)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(temp))
        if accelerator.is_main_process:
            (temp / PROGRESS).write_text(json.dumps(progress, sort_keys=True))
            if self.average is not None and self.average.count:
                self.average.save(temp / AVERAGE_FILE)
            follow_umask(temp)  # safetensors writes the model 0600, whatever the umask
            if dest.exists():
                shutil.rmtree(dest)
            temp.rename(dest)
            for older_step, path in self._steps():
                if older_step < step:
                    shutil.rmtree(path, ignore_errors=True)
        accelerator.wait_for_everyone()

    def resumable(self, keep_last: bool, log) -> Path | None:
        """The newest step checkpoint that restores the whole training state (`problem`), or None.
        Newer ones that cannot are removed, each with a warning line saying what the stage does
        instead; where none can, the whole checkpoints/ folder goes and the stage starts again.
        ``keep_last``: the stage keeps its last weights, not the best (see `problem`)."""
        chosen, refused = None, []
        for _, path in reversed(self._steps()):
            problem = self.problem(path, keep_last)
            if problem is None:
                chosen = path
                break
            refused.append((path, problem))
        instead = f"resuming from {chosen.name} instead" if chosen else "the stage starts again from its first step"
        for path, problem in refused:
            log(f"  warning: checkpoint {path.name} cannot be restored exactly ({problem}); removed it, {instead}")
        # every process decided alike (they read the same files) before the main one removes any
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process and refused:
            for path, _ in refused:
                shutil.rmtree(path, ignore_errors=True)
            if chosen is None:  # nothing left is of use, best/ included: the stage starts afresh
                shutil.rmtree(self.folder, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return chosen

    def problem(self, path: Path, keep_last: bool) -> str | None:
        """Why the step checkpoint ``path`` cannot restore everything a resume restores, or None: its
        progress.json, and the model, optimizer, gradient scaler (fp16) and every process's random
        states, each read as Accelerate's load_state reads it; and the best weights where the stage
        keeps the best and had validated by then (else it would end with the last weights instead), and
        the running mean of the weights where the stage averages them and had added some by then."""
        from accelerate.utils import load

        try:
            progress = json.loads((path / PROGRESS).read_text(encoding="utf-8"))
            lacking = [key for key in PROGRESS_KEYS if key not in progress]
            validated = bool(progress["progress"]["history"])
            averaged = bool(progress["progress"].get("averaged_steps"))
        except FileNotFoundError:
            return f"{path / PROGRESS}: missing"
        except (ValueError, KeyError, TypeError) as error:  # not JSON, or not what train() writes
            return f"{path / PROGRESS}: damaged ({type(error).__name__}: {error})"
        if lacking:
            return f"{path / PROGRESS}: damaged (no {', '.join(lacking)})"
        files = [path / MODEL_FILE, path / OPTIMIZER_FILE]
        files += [path / SCALER_FILE] if self.accelerator.scaler is not None else []
        files += [self.folder / BEST / MODEL_FILE] if validated and not keep_last else []
        files += [path / AVERAGE_FILE] if averaged else []
        problems = (file_problem(file, load) for file in files)
        rngs = (path / RANDOM_STATES.format(process=i) for i in range(self.accelerator.num_processes))
        return next(filter(None, itertools.chain(problems, map(self._random_states_problem, rngs))), None)

    def _random_states_problem(self, file: Path) -> str | None:
        """Why ``file`` cannot restore one process's random generators as they were: python's, numpy's,
        torch's, and the device's where the stage runs on one (dropout draws from them)."""
        from accelerate.utils import load

        problem = file_problem(file, load)  # a small file: read once more below for what it holds
        if problem is not None:
            return problem
        states = load(file, map_location="cpu")
        device = self.accelerator.device.type
        needed = ["random_state", "numpy_random_seed", "torch_manual_seed"]
        needed += [f"torch_{device}_manual_seed"] if device != "cpu" else []
        lacking = [key for key in needed if not isinstance(states, dict) or key not in states]
        return f"{file}: damaged (no {', '.join(lacking)})" if lacking else None

    def load(self, path: Path) -> dict:
        self.accelerator.load_state(str(path))
        return json.loads((path / PROGRESS).read_text())

    def save_best(self, model: torch.nn.Module) -> None:
        from safetensors.torch import save_file

        if not self.accelerator.is_main_process:
            return
        state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
        with atomic_folder(self.folder / BEST) as folder:
            # tied weights (e.g. an MLM decoder sharing the embeddings) are stored once per name
            save_file({key: value.clone() for key, value in state.items()}, str(folder / "model.safetensors"))

    def load_best(self, model: torch.nn.Module) -> bool:
        from safetensors.torch import load_file

        path = self.folder / BEST / "model.safetensors"
        if not path.is_file():
            return False
        model.load_state_dict(load_file(str(path)))
        return True

    def remove(self) -> None:
        """Once the stage is complete its model/ is the result: the checkpoints are no longer needed."""
        if self.accelerator.is_main_process:
            shutil.rmtree(self.folder, ignore_errors=True)
