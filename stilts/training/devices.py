"""The Accelerator of a process, the numerics it runs with, and how batches reach its device.

Runs (`stilts run`, `stilts sweep`) and `stilts predict` make theirs with `make_accelerator`, from the
pipeline's ``mixed_precision``:

- ``auto``: bf16 autocast on GPUs that support it, full float32 elsewhere (CPU autocast is slower);
- ``no``: full float32 everywhere, matmuls included (no TF32): for runs that must compare bit for bit;
- ``tf32``: float32 weights and activations, float32 matmuls on CUDA's TF32 tensor cores (10-bit
  mantissa products, float32 sums), as Hugging Face's Trainer does with ``--tf32``;
- ``fp16``, ``bf16``: that autocast.

Training, validation and evaluation all run under the Accelerator's autocast. On CUDA, batches are
copied from pinned host memory without waiting for the copy, so the host prepares the next step while
the GPU still runs the last one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: `stilts --help` and planning do without it
    import torch

#: evaluation and validation batch sizes where a stage sets none (inference keeps no activations
#: for a backward pass, so a GPU takes several times a training batch)
EVALUATION_BATCH_SIZE = {"cpu": 64, "cuda": 256}


def mixed_precision_for(setting: str) -> str:
    """Accelerate's ``mixed_precision`` for a pipeline's setting."""
    if setting == "tf32":
        return "no"
    if setting != "auto":
        return setting
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def make_accelerator(setting: str = "auto", **options):
    """The process's Accelerator for ``setting`` (a pipeline's ``mixed_precision``, the values listed
    above); ``options`` go to Accelerator."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    accelerator = Accelerator(
        mixed_precision=mixed_precision_for(setting),
        dataloader_config=DataLoaderConfiguration(non_blocking=True),
        **options,
    )
    set_matmul_precision(accelerator.device, setting)
    return accelerator


def set_matmul_precision(device: torch.device, setting: str) -> None:
    """float32 matmuls on CUDA in TF32 for ``tf32``, in full float32 otherwise. Set on every call: the
    setting is global to the process, and a sweep runs pipelines of different settings in one.
    CPU matmuls are left as they are."""
    if device.type == "cuda":
        import torch

        torch.set_float32_matmul_precision("high" if setting == "tf32" else "highest")


def to_device(batch: dict, device: torch.device) -> dict:
    """``batch`` on ``device``: on CUDA through pinned memory, asynchronously (a copy from pageable
    memory would make the host wait for the GPU to finish the step before). Values that are not
    tensors (a packed batch's longest example, a number the kernel takes on the host) stay as they are."""
    import torch

    if device.type == "cuda":
        return {
            key: value.pin_memory().to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
            for key, value in batch.items()
        }
    return {key: value.to(device) if isinstance(value, torch.Tensor) else value for key, value in batch.items()}


def evaluation_batch_size(device: torch.device, configured: int | None = None) -> int:
    return configured or EVALUATION_BATCH_SIZE.get(device.type, EVALUATION_BATCH_SIZE["cpu"])
