"""Parameter-efficient stages through peft: a LoRA adapter on the incoming encoder, trained
with fresh, fully trained heads while the encoder's own weights stay frozen.

At the stage's end the adapter is either merged (``on_end: merge``: ``model/`` is a plain encoder
with the adapter folded in, what STILTs needs, since the next stage re-initialises heads) or kept
(``on_end: keep``: ``model/`` is the adapter alone in peft's format, a few MB, naming the frozen
encoder it sits on; the next stage starts from encoder + adapter and trains a new adapter on top).
Either way ``adapter/`` holds the adapter in peft's ``save_pretrained`` format, loadable with
``PeftModel.from_pretrained(encoder, "<stage>/adapter")``.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stilts.core.errors import BadInput
from stilts.core.numbers import MAX_COUNT, Count, Float

ADAPTER_FOLDER = "adapter"
ADAPTER_CONFIG = "adapter_config.json"


class PeftSettings(BaseModel):
    """The ``peft:`` block of a training stage."""

    model_config = ConfigDict(extra="forbid")

    # the field leaves room for other peft methods
    method: Literal["lora"] = Field(
        default="lora", description="The peft method: `lora`, peft's LoRA (the only one so far)."
    )
    # checked against the model's config before any stage starts (`stilts.pipeline.model_limits`)
    r: Count = Field(default=8, description="LoRA's rank (at most the encoder's hidden size).")
    alpha: Annotated[Float, Field(gt=0, le=MAX_COUNT)] | None = Field(
        default=None, description="LoRA's scaling numerator: the update is scaled by alpha / r. Unset: 2 r."
    )
    dropout: Annotated[Float, Field(ge=0, lt=1)] = Field(default=0.0, description="Dropout on LoRA's input (0: none).")
    target_modules: Annotated[list[str], Field(min_length=1)] | None = Field(
        default=None,
        description="Module names (or name suffixes) to adapt; names the model lacks are refused before any stage "
        "starts. Unset: peft's default for the architecture (query and value for BERT, XLM-R, e5; query_proj "
        "and value_proj for DeBERTa-v2).",
    )
    on_end: Literal["merge", "keep"] = Field(
        default="merge",
        description="What the next stage gets: `merge`, the encoder with the adapter folded in (a plain encoder, "
        "what STILTs needs), or `keep`, the frozen encoder plus this adapter (model/ holds the adapter alone), "
        "on which the next stage trains a new adapter.",
    )


def peft_config(settings: dict):
    from peft import LoraConfig

    return LoraConfig(
        r=settings["r"],
        lora_alpha=settings["alpha"] or 2 * settings["r"],
        lora_dropout=settings["dropout"],
        target_modules=settings["target_modules"],
    )


def add_adapter(encoder, settings: dict, where: str):
    """The encoder wrapped with a new, trainable adapter; its own weights are frozen."""
    from peft import get_peft_model

    try:
        with _quiet():
            return get_peft_model(encoder, peft_config(settings))
    except ValueError as error:  # e.g. "Target modules {'qkv'} not found in the base model"
        message = str(error).strip().splitlines()[0]
        raise BadInput(f"{where}.peft.target_modules: {message} (its modules: {module_suffixes(encoder)})") from None


def module_suffixes(encoder) -> str:
    """The last parts of the encoder's Linear module names, which target_modules may name."""
    from torch import nn

    names = sorted(
        {name.rsplit(".", 1)[-1] for name, module in encoder.named_modules() if isinstance(module, nn.Linear)}
    )
    return ", ".join(names)


def check_target_modules(model_path: str, settings: dict, where: str) -> None:
    """Refuse a peft block without peft installed, and target_modules the architecture of
    ``model_path`` does not have (without loading its weights)."""
    import importlib.util

    if importlib.util.find_spec("peft") is None:
        raise BadInput(f'{where}.peft: needs the peft package: pip install -e ".[peft]"')
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(base_model_of(model_path))
    except (OSError, ValueError):
        return  # not here yet (a dry run before the model is installed); loading it will tell
    if settings["target_modules"] is None:
        # peft knows the attention projections of the architectures it lists; for the others
        # (ModernBERT, RemBERT) it would refuse when the stage starts, after the stages before it trained
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

        if config.model_type in DEFAULTS:
            return
        raise BadInput(
            f"{where}.peft.target_modules: peft has no default modules for the {config.model_type} encoder: name "
            f"the attention projections to adapt (its Linear modules: {module_suffixes(_meta_encoder(config))})"
        )
    encoder = _meta_encoder(config)
    names = [name for name, _ in encoder.named_modules()]
    for wanted in settings["target_modules"]:
        if not any(name == wanted or name.endswith(f".{wanted}") for name in names):
            raise BadInput(
                f"{where}.peft.target_modules: the {config.model_type} encoder has no module '{wanted}' "
                f"(its Linear modules: {module_suffixes(encoder)})"
            )


def _meta_encoder(config):
    """The encoder ``config`` builds, without memory for its weights (for its module names)."""
    import torch
    from transformers import AutoModel

    from stilts.training.encoder_class import without_pooler

    with torch.device("meta"):
        return AutoModel.from_config(config, **without_pooler(config))


def is_adapter_folder(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file()


def base_model_of(model_path: str) -> str:
    """The full encoder under a chain of kept adapters."""
    folder = Path(model_path)
    while is_adapter_folder(folder):
        folder = Path(json.loads((folder / ADAPTER_CONFIG).read_text())["base_model_name_or_path"])
    return str(folder) if Path(model_path).is_dir() else model_path


def merged_with_adapter(encoder, folder: Path):
    """``encoder`` with the adapter in ``folder`` folded into its weights."""
    from peft import PeftModel

    with _quiet():
        return PeftModel.from_pretrained(encoder, str(folder)).merge_and_unload()


@contextlib.contextmanager
def _quiet():
    """peft asks transformers a deprecated question about checkpointing, which warns every time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def save_adapter(peft_encoder, folder: Path, base_model: str) -> None:
    """The adapter alone, in peft's format, naming the encoder it sits on."""
    peft_encoder.save_pretrained(str(folder))
    config_path = folder / ADAPTER_CONFIG
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = str(Path(base_model).resolve()) if Path(base_model).exists() else base_model
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
