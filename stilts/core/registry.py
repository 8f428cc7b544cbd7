"""One registry pattern for everything that varies: tasks, task formats, stage kinds, mixing rules,
offline models, benchmarks, CLI commands.

A `Registry` maps names to entries, refuses a name twice, and answers an unknown name with one
``BadInput`` line and a did-you-mean. Entries may be lazy (``"module:attribute"``, imported when first
asked for) so that start-up stays fast.

Entries come from plugins: every module named in the ``stilts.plugins`` entry-point group of an
installed package is imported once, the first time any registry is read, and registers what it
provides. stilts' own stage packages are plugins like any other (see ``pyproject.toml``), so a lab adds
private tasks, formats or stage kinds from its own package without editing stilts.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points, packages_distributions
from types import FrameType
from typing import Generic, TypeVar

from stilts.core.errors import BadInput, RunFailed, did_you_mean

PLUGIN_GROUP = "stilts.plugins"
#: the origin of entries added outside any plugin when the registering module is unknown
RUNTIME_ORIGIN = "runtime"

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``what`` names it in messages: "task", "stage kind").

    Reading a registry loads the plugins first, unless ``from_plugins`` is false (a registry that
    must answer without importing them, as the CLI's commands do for a fast ``stilts --help``)."""

    def __init__(self, what: str, *, from_plugins: bool = True):
        self.what = what
        self.from_plugins = from_plugins
        self._entries: dict[str, T | str] = {}
        self._origins: dict[str, str] = {}
        self._lazy: set[str] = set()  # names whose entry is still a "module:attribute" string

    def add(self, name: str, entry: T, *, origin: str | None = None) -> T:
        """Register ``entry`` under ``name``; a name registered twice is a programming error."""
        self._claim(name, origin)
        self._entries[name] = entry
        return entry

    def add_lazy(self, name: str, target: str, *, origin: str | None = None) -> None:
        """Register ``"module:attribute"``, imported when the entry is first asked for."""
        if target.count(":") != 1:
            raise ValueError(f"{self.what} '{name}': lazy entry '{target}' is not 'module:attribute'")
        self._claim(name, origin)
        self._entries[name] = target
        self._lazy.add(name)

    def remove(self, name: str) -> None:
        """Take an entry out again (tests that register made-up entries clean up with it)."""
        self._entries.pop(name)
        self._origins.pop(name)
        self._lazy.discard(name)

    def get(self, name: str, where: str | None = None) -> T:
        """The entry, or BadInput ``<where>: unknown <what> '<name>' (did you mean ...?)``."""
        self._load()
        if name not in self._entries:
            prefix = f"{where}: " if where else ""
            raise BadInput(f"{prefix}unknown {self.what} '{name}'{did_you_mean(name, self._entries)}")
        return self._resolve(name)

    def names(self) -> list[str]:
        self._load()
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return ((name, self._resolve(name)) for name in self.names())

    def origin(self, name: str) -> str:
        """The distribution (or plugin) that registered ``name``."""
        self._load()
        return self._origins[name]

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __len__(self) -> int:
        return len(self.names())

    # --- internals ---

    def _load(self) -> None:
        if self.from_plugins:
            load_plugins()

    def _claim(self, name: str, origin: str | None) -> None:
        if name in self._entries:
            raise ValueError(
                f"{self.what} '{name}' registered twice (by {self._origins[name]} and by {origin or _loading_origin()})"
            )
        self._origins[name] = origin or _loading_origin()

    def _resolve(self, name: str) -> T:
        entry = self._entries[name]
        if name in self._lazy:
            module_name, attribute = str(entry).split(":")
            entry = getattr(importlib.import_module(module_name), attribute)
            self._entries[name] = entry
            self._lazy.discard(name)
        return entry  # type: ignore[return-value]


# --- plugins -----------------------------------------------------------------------------------


class _PluginState:
    loaded = False
    #: who is registering right now: the plugin being imported, or RUNTIME_ORIGIN
    origin = RUNTIME_ORIGIN


_state = _PluginState()
#: modules that register on behalf of their callers (their frames are skipped to find who registers)
_HELPER_MODULES = {__name__, "stilts.core.catalog", "stilts.pipeline.stage_kinds"}


def _loading_origin() -> str:
    """The plugin being loaded; else the plugin whose module registers, or the distribution that has
    the module (imported directly before the plugins were loaded); else the registering module's name
    (a script, a test)."""
    if _state.origin != RUNTIME_ORIGIN:
        return _state.origin
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__") in _HELPER_MODULES:
        frame = frame.f_back
    module = frame.f_globals.get("__name__", RUNTIME_ORIGIN) if frame is not None else RUNTIME_ORIGIN
    for point in entry_points(group=PLUGIN_GROUP):
        if point.value.partition(":")[0] == module:
            return _plugin_label(point)
    return _distribution_of(module.partition(".")[0]) or module


@functools.cache
def _distribution_of(package: str) -> str | None:
    """The installed distribution that has the top-level ``package``. Cached: `packages_distributions`
    reads every installed distribution's file list (half a second), and a catalog module imported
    directly registers dozens of entries."""
    distributions = packages_distributions().get(package)
    return distributions[0] if distributions else None


def _plugin_label(point) -> str:
    distribution = point.dist.name if point.dist is not None else point.value
    return f"{distribution} ({point.name})"


def load_plugins() -> None:
    """Import every ``stilts.plugins`` entry point once (in name order, so registration order and
    duplicate messages are the same on every machine). A plugin's entry point is a module (which
    registers on import) or a callable (called with no arguments)."""
    if _state.loaded:
        return
    _state.loaded = True  # before importing: a plugin that reads a registry must not recurse
    points = sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name)
    if not any(point.dist is not None and point.dist.name == "stilts" for point in points):
        # an install made before the entry points existed (a `git pull` without reinstalling)
        raise RunFailed(
            "stilts' own tasks and stage kinds are not registered: its package metadata has no "
            f"{PLUGIN_GROUP} entry points; reinstall it (pip install -e .)"
        )
    for point in points:
        _state.origin = _plugin_label(point)
        try:
            loaded = point.load()
            if callable(loaded):
                loaded()
        except ImportError as error:
            raise RuntimeError(f"stilts plugin {_state.origin} = {point.value} cannot be imported: {error}") from error
        finally:
            _state.origin = RUNTIME_ORIGIN
