"""Where stilts keeps what it can compute again (tokenized features, file hashes)."""

from __future__ import annotations

import os
from pathlib import Path

_OFF = ("off", "0", "no", "false", "none")


def cache_folder(env: str, name: str) -> Path | None:
    """``$<env>`` (``off`` or empty: no cache, None), else ``$STILTS_CACHE/<name>``, else
    ``$XDG_CACHE_HOME/stilts/<name>``, else ``~/.cache/stilts/<name>`` (beside the offline models)."""
    explicit = os.environ.get(env)
    if explicit is not None:
        return None if explicit.strip().lower() in _OFF or not explicit.strip() else Path(explicit).expanduser()
    if os.environ.get("STILTS_CACHE"):
        return Path(os.environ["STILTS_CACHE"]).expanduser() / name
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "stilts" / name
    return Path.home() / ".cache" / "stilts" / name
