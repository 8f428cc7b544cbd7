"""The attention kernel an encoder runs with: a pipeline's ``attention`` and ``packing`` settings
resolved for the encoder's class and this machine, or one line saying what either lacks.

transformers 5 runs an encoder's attention through interchangeable kernels: ``eager`` (the written-out
matmuls and softmax), ``sdpa`` (torch's ``scaled_dot_product_attention``), ``flash_attention_2`` (the
flash-attn package, CUDA, fp16/bf16) and ``flex_attention`` (torch's compiled flex attention). They
compute the same function and differ in speed, memory and the last bits of the result, so the setting
is not part of a stage's fingerprint (`stilts.pipeline.config.PipelineConfig`). Which of them an
architecture has is what its transformers class says (``_supports_sdpa``, ``_supports_flash_attn``,
``_supports_flex_attn``; every class has eager), never a list of family names: DeBERTa-v2 and RemBERT
have eager only in transformers 5.

Padding-free batches (``packing``, `stilts.formats.packing`) need a kernel that attends within each
packed example without computing the rest of the row: flash_attention_2 (variable-length sequences
from ``cu_seq_lens``) or flex attention (a block-sparse mask), on a CUDA GPU. sdpa and eager would
compute every query against the whole packed row under a dense block-diagonal mask, quadratic in the
row's length: more work than the padding packing saves.
"""

from __future__ import annotations

from dataclasses import dataclass

#: each value of a pipeline's ``attention`` but ``auto`` (the best the machine and the class have): its
#: name in transformers (``attn_implementation``)
IMPLEMENTATIONS = {"sdpa": "sdpa", "eager": "eager", "flash_attention_2": "flash_attention_2", "flex": "flex_attention"}
#: the class attribute by which a transformers model class says it has a kernel (eager: every class)
CLASS_FLAGS = {"sdpa": "_supports_sdpa", "flash_attention_2": "_supports_flash_attn", "flex": "_supports_flex_attn"}
#: the kernels that attend within each example of a packed row only (see the module's docstring)
PACKING_KERNELS = ("flash_attention_2", "flex")
#: the settings, by their transformers names
SETTING_OF = {implementation: setting for setting, implementation in IMPLEMENTATIONS.items()}


@dataclass(frozen=True)
class Machine:
    """What the machine a stage runs on offers the kernels."""

    cuda: bool
    #: the flash-attn package for flash_attention_2 (transformers' own check, CUDA included)
    flash_attn: bool
    #: torch's flex attention
    flex: bool
    #: the run computes in fp16/bf16 (autocast), which flash_attention_2 needs
    half_precision: bool

    @classmethod
    def here(cls, mixed_precision: str) -> Machine:
        """This machine, for a run of accelerate's ``mixed_precision`` (``no``, ``fp16``, ``bf16``)."""
        import torch
        from transformers.utils import is_flash_attn_2_available, is_torch_flex_attn_available

        return cls(
            cuda=torch.cuda.is_available(),
            flash_attn=bool(is_flash_attn_2_available()),
            flex=bool(is_torch_flex_attn_available()),
            half_precision=mixed_precision in ("fp16", "bf16"),
        )


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def has_kernel(model_class: type, setting: str) -> bool:
    """Whether transformers' ``model_class`` has the kernel of ``setting`` (not ``auto``)."""
    return setting == "eager" or bool(getattr(model_class, CLASS_FLAGS[setting], False))


def kernels_of(model_class: type) -> list[str]:
    """The settings ``model_class`` has a kernel for, eager first."""
    return [setting for setting in ("eager", "sdpa", "flash_attention_2", "flex") if has_kernel(model_class, setting)]


def _family(model_class: type, model_type: str | None) -> str:
    return f"the {model_type} model ({model_class.__name__})" if model_type else model_class.__name__


def _class_problem(setting: str, model_class: type, model_type: str | None) -> str | None:
    if has_kernel(model_class, setting):
        return None
    family, version, has = (
        _family(model_class, model_type),
        _transformers_version(),
        " and ".join(kernels_of(model_class)),
    )
    return f"{family} has no {setting} kernel in transformers {version} (it has {has})"


def _machine_problem(setting: str, machine: Machine) -> str | None:
    if setting == "flash_attention_2":
        if not machine.cuda or not machine.flash_attn:
            lacks = "no CUDA GPU" if not machine.cuda else "no flash-attn package that transformers can use"
            return f"flash_attention_2 needs a CUDA GPU and the flash-attn package (this machine has {lacks})"
        if not machine.half_precision:
            return (
                "flash_attention_2 computes in fp16/bf16 only, and this run's mixed_precision keeps float32 "
                "(set mixed_precision: bf16, or auto on a GPU that has bf16)"
            )
    if setting == "flex" and not machine.flex:
        return "flex needs torch's flex attention (torch 2.5 or later)"
    return None


def _packing_problem(setting: str, machine: Machine | None) -> str | None:
    if setting not in PACKING_KERNELS:
        return (
            f"packing: true needs attention flash_attention_2 or flex; {setting} would compute every token against "
            "the whole packed row (a dense block-diagonal mask), more work than the padding packing saves"
        )
    if setting == "flex" and machine is not None and not machine.cuda:
        return (
            "packing: true with attention flex needs a CUDA GPU (torch's compiled flex attention on the CPU gave "
            "wrong outputs for packed rows when stilts measured it: off by up to 0.8, and NaN)"
        )
    return None


def attention_problem(
    setting: str, model_class: type | None, model_type: str | None, *, packing: bool, machine: Machine | None
) -> str | None:
    """Why ``setting`` (with ``packing``) cannot run an encoder of ``model_class`` here: one line that
    starts with the pipeline field at fault (``attention: ...`` or ``packing: ...``); None where it
    can. ``model_class`` None: the machine only (the model's config could not be read yet, as in a dry
    run before an offline model is installed); ``machine`` None: the class only (the machine is checked
    where the stage runs, as for a sweep submitted to Slurm)."""
    if setting == "auto":
        if not packing:
            return None
        candidates = [s for s in PACKING_KERNELS if model_class is None or has_kernel(model_class, s)]
        if not candidates and model_class is not None:
            return (
                f"packing: true needs a flash_attention_2 or flex kernel, and {_family(model_class, model_type)} has "
                f"neither in transformers {_transformers_version()} (it has {' and '.join(kernels_of(model_class))})"
            )
        if machine is None:
            return None
        problems = [_machine_problem(s, machine) or _packing_problem(s, machine) for s in candidates]
        if all(problems):
            return "packing: true finds no kernel that packs on this machine: " + "; ".join(map(str, problems))
        return None
    problem = _class_problem(setting, model_class, model_type) if model_class is not None else None
    if problem is not None:
        return f"attention: {setting}: {problem}"
    problem = _machine_problem(setting, machine) if machine is not None else None
    if problem is not None:
        return f"attention: {problem}"
    return _packing_problem(setting, machine) if packing else None


def resolve_attention(setting: str, model_class: type, machine: Machine, *, packing: bool = False) -> str:
    """The transformers ``attn_implementation`` for ``setting``: itself, or for ``auto`` the best
    ``model_class`` and ``machine`` have: flash_attention_2 (CUDA, flash-attn, fp16/bf16), else (with
    packing) flex on a CUDA GPU, else sdpa, else eager. Call `attention_problem` first."""
    if setting != "auto":
        return IMPLEMENTATIONS[setting]
    for candidate in ("flash_attention_2", "flex") if packing else ("flash_attention_2", "sdpa"):
        if not has_kernel(model_class, candidate) or _machine_problem(candidate, machine):
            continue
        if packing and _packing_problem(candidate, machine):
            continue
        return IMPLEMENTATIONS[candidate]
    return "sdpa" if has_kernel(model_class, "sdpa") else "eager"


def attention_record(setting: str, encoder) -> dict:
    """What a stage's metrics.json says of its attention: the pipeline's setting and the kernel the
    encoder ran (transformers' name)."""
    return {"setting": setting, "implementation": encoder.config._attn_implementation}


def describe_attention(setting: str, encoder) -> str:
    """The kernel for the log: ``sdpa`` where set so, ``sdpa (auto)`` where auto chose it."""
    implementation = encoder.config._attn_implementation
    return implementation + (f" ({setting})" if SETTING_OF.get(implementation) != setting else "")
