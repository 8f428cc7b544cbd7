"""Which transformers class an encoder's config builds, and what that class takes: found by inspecting
the class, never from a list of family names, so a new architecture works the day transformers has it.
"""

from __future__ import annotations


def base_model_class(config) -> type:
    """The base-model class (``AutoModel``'s choice) for ``config``: where several classes share a
    config, ``MODEL_MAPPING`` holds them all and AutoModel picks by the config's ``architectures``."""
    from transformers import MODEL_MAPPING
    from transformers.models.auto.auto_factory import _get_model_class  # AutoModel's own choice

    return _get_model_class(config, MODEL_MAPPING)


def without_pooler(config) -> dict:
    """``from_pretrained``/``from_config`` options that leave out the pooler, where the class has one.

    Heads read the token states, and an unused pooler only adds warnings and weights. BERT, XLM-R and
    RemBERT build one unless told ``add_pooling_layer=False``; DeBERTa and ModernBERT have none, and
    their ``__init__`` refuses the argument (a TypeError)."""
    import inspect

    parameters = inspect.signature(base_model_class(config)).parameters  # its __init__'s
    return {"add_pooling_layer": False} if "add_pooling_layer" in parameters else {}
