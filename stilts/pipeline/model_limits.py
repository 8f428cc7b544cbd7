"""What the pipeline's model can take of a stage's settings, checked before any stage runs: inputs no
longer than its position table, a `layer` it has, a LoRA rank no larger than its hidden size. Past
them a stage fails inside the model (an index out of range), after the stages before it trained.

The limits come from the model's config.json, read as JSON (no torch, no transformers): a local or
installed offline model's own, a Hub model's from the Hugging Face cache or, online, fetched alone.
Where it cannot be had (a dry run before an offline model is installed), only the bounds every config
has (`stilts.core.numbers`: max_length at most MAX_LENGTH) apply.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from stilts.core.errors import BadInput
from stilts.pipeline.stage_kinds import PlannedStage
from stilts.training.adapters import base_model_of

#: model types whose position ids start after the padding index (RoBERTa's scheme, XLM-R's): a table
#: of max_position_embeddings rows takes max_position_embeddings - pad_token_id - 1 tokens (514 -> 512)
POSITIONS_AFTER_PADDING = frozenset(
    {
        "camembert",
        "data2vec-text",
        "ibert",
        "longformer",
        "luke",
        "mpnet",
        "roberta",
        "roberta-prelayernorm",
        "xlm-roberta",
        "xlm-roberta-xl",
        "xmod",
    }
)

#: model types that learn nothing under fp16 autocast: DeBERTa-v2/v3's (mDeBERTa's) disentangled
#: attention overflows fp16's range, and the loss becomes NaN or training collapses to one answer.
#: No config field tells this; bf16 (float32's range) and float32 train them.
FP16_UNSTABLE = frozenset({"deberta-v2"})


def check_model_limits(stage: PlannedStage, model_path: str) -> None:
    """BadInput naming the stage's field if its settings ask more of the model than it has."""
    config = model_config(model_path)
    if config is None:
        return
    settings = stage.settings
    model = f"the {config['model_type']}" if config.get("model_type") else "the"
    if settings.get("mixed_precision") == "fp16" and config.get("model_type") in FP16_UNSTABLE:
        pipeline = stage.where.rpartition(": stages[")[0] or stage.where  # the field is the pipeline's
        raise BadInput(
            f"{pipeline}: mixed_precision: fp16 trains {model} model to nothing (its attention overflows "
            "fp16: NaN losses or a collapse to one answer); set mixed_precision: bf16 (GPUs from Ampere on) "
            "or no (float32)"
        )
    longest = longest_input(config)
    if longest is not None and settings.get("max_length", 0) > longest:
        given = "" if getattr(stage.config, "max_length", None) else " (the task's default)"
        raise BadInput(
            f"{stage.where}.max_length: {settings['max_length']}{given} is longer than {model} model takes "
            f"({longest} tokens, from max_position_embeddings {config['max_position_embeddings']} in its config.json)"
        )
    layers = config.get("num_hidden_layers")
    if settings.get("layer") is not None and isinstance(layers, int) and settings["layer"] > layers:
        raise BadInput(
            f"{stage.where}.layer: {settings['layer']} is past the last layer of {model} encoder "
            f"({layers} layers: hidden_states 0..{layers}, 0 = the embedding output)"
        )
    rank, hidden = (settings.get("peft") or {}).get("r"), config.get("hidden_size")
    if rank is not None and isinstance(hidden, int) and rank > hidden:
        raise BadInput(f"{stage.where}.peft.r: {rank} is above the hidden size of {model} encoder ({hidden})")


def longest_input(config: dict) -> int | None:
    """The most tokens the encoder's absolute position table takes; None where it has none."""
    positions = config.get("max_position_embeddings")
    # DeBERTa-v2 with position_biased_input false has only relative positions: no table to run past
    if not isinstance(positions, int) or config.get("position_biased_input") is False:
        return None
    if config.get("model_type") in POSITIONS_AFTER_PADDING:
        positions -= (config.get("pad_token_id") or 0) + 1
    return positions


def model_config(model_path: str) -> dict | None:
    """The model's config.json (under kept adapters, the encoder's), or None where it cannot be had."""
    base = Path(base_model_of(model_path))
    path = base / "config.json" if base.is_absolute() else _hub_config_file(str(base))
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        return None  # loading the model says what is wrong with it
    return config if isinstance(config, dict) else None


@functools.lru_cache(maxsize=16)
def _hub_config_file(model_id: str) -> Path | None:
    """A Hub model's config.json: cached, or (online) fetched alone, once per process."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    from stilts.data.hub import offline

    cached = try_to_load_from_cache(model_id, "config.json")
    if isinstance(cached, str):
        return Path(cached)
    if offline():
        return None
    try:
        return Path(hf_hub_download(model_id, "config.json"))
    except Exception:  # noqa: BLE001 - loading the model says what is wrong with it
        return None
