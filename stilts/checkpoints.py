"""Checkpoints inside a stage, so a killed run continues where it stopped.

``<stage>/checkpoints/step-<N>/`` holds everything a resume needs: Accelerate's state (model,
optimizer, scheduler, gradient scaler, the RNGs of python/numpy/torch) plus ``progress.json`` (step
counters, each task's position in its data, the task sampler's state, early-stopping state).
``<stage>/checkpoints/best/`` holds the best validated weights. Each is written under a temporary
name and renamed, so a crash while saving leaves the previous checkpoint as it was; only the newest
step checkpoint and the best weights are kept.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from stilts.artifacts import atomic_folder, follow_umask

if TYPE_CHECKING:
    import torch

PROGRESS = "progress.json"
BEST = "best"
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

    def _steps(self) -> list[tuple[int, Path]]:
        return saved_steps(self.folder)

    def latest(self) -> Path | None:
        steps = self._steps()
        return steps[-1][1] if steps else None

    def save(self, step: int, progress: dict) -> None:
        """Save the full training state at optimizer step ``step``; prune older step checkpoints."""
        accelerator = self.accelerator
        dest = self.folder / f"step-{step}"
        # every process takes part in save_state (it gathers sharded state); the main one writes
        temp = self.folder / f".step-{step}.tmp"
        if accelerator.is_main_process and temp.exists():
            shutil.rmtree(temp)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(temp))
        if accelerator.is_main_process:
            (temp / PROGRESS).write_text(json.dumps(progress, sort_keys=True))
            follow_umask(temp)  # safetensors writes the model 0600, whatever the umask
            if dest.exists():
                shutil.rmtree(dest)
            temp.rename(dest)
            for older_step, path in self._steps():
                if older_step < step:
                    shutil.rmtree(path, ignore_errors=True)
        accelerator.wait_for_everyone()

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
