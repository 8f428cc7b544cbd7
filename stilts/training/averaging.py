"""Weight averaging: the uniform average of a model's weights at several points of its training
(``model_selection: average_last``, Schmidt, Vulić and Glavaš 2023), and of several trained models
(`stilts sweep`'s ``average_seeds``).

Both keep one running mean in float32 on the CPU, whatever the number of models averaged: the k-th
snapshot moves the mean by (snapshot - mean) / k. Only floating-point tensors are averaged; integer
buffers (position ids) are the same in every snapshot and are taken from the model as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: the file a checkpoint keeps the running mean in (beside Accelerate's state)
AVERAGE_FILE = "average.safetensors"


def validation_steps(optimizer_steps: int, validate_every: int) -> list[int]:
    """The optimizer steps a stage of ``optimizer_steps`` steps validates at when it does not stop early:
    every ``validate_every`` steps, and its last step."""
    steps = list(range(validate_every, optimizer_steps + 1, validate_every))
    if not steps or steps[-1] != optimizer_steps:
        steps.append(optimizer_steps)
    return steps


def averaged_steps(optimizer_steps: int, validate_every: int, last: int) -> list[int]:
    """The steps whose weights ``model_selection: average_last`` averages: the last ``last`` validations.
    ValueError (saying how many there are) where the stage validates fewer times than that."""
    steps = validation_steps(optimizer_steps, validate_every)
    if len(steps) < last:
        raise ValueError(
            f"averages the weights at the last {last} validations, but the stage validates "
            f"{len(steps)} time{'s' if len(steps) != 1 else ''} ({optimizer_steps} optimizer steps, "
            f"validate_every {validate_every})"
        )
    return steps[-last:]


class RunningMean:
    """The uniform mean of the floating-point tensors of several state dicts, added one at a time."""

    def __init__(self) -> None:
        self.mean: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, state: Mapping[str, torch.Tensor]) -> None:
        import torch

        with torch.no_grad():
            if not self.count:
                self.mean = {
                    key: value.detach().to(device="cpu", dtype=torch.float32, copy=True)
                    for key, value in state.items()
                    if value.is_floating_point()
                }
            else:
                if set(self.mean) != {key for key, value in state.items() if value.is_floating_point()}:
                    raise ValueError("the models averaged do not have the same weights")
                for key, mean in self.mean.items():
                    value = state[key].detach().to(device="cpu", dtype=torch.float32)
                    if value.shape != mean.shape:
                        raise ValueError(f"the models averaged differ in the shape of {key}")
                    mean.add_(value - mean, alpha=1.0 / (self.count + 1))
        self.count += 1

    def averaged(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` (a state dict of the same model) with every averaged tensor replaced by its mean, in
        the tensor's own dtype."""
        return {key: self.mean[key].to(value.dtype) if key in self.mean else value for key, value in state.items()}

    def load_into(self, model: torch.nn.Module) -> None:
        model.load_state_dict(self.averaged(model.state_dict()))

    # --- a checkpoint's copy (`stilts.training.checkpoints`) -------------------------------------

    def save(self, path) -> None:
        from safetensors.torch import save_file

        # tied weights are one tensor under two names: saved as two
        save_file({key: value.clone().contiguous() for key, value in self.mean.items()}, str(path))

    def load(self, path, count: int) -> None:
        from safetensors.torch import load_file

        self.mean, self.count = load_file(str(path)), count
