"""Lists that code deep in a call fills for a caller further up, without passing them through every
function between: the files a reader opened, what it left out of them, where each split came from."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Generic, TypeVar

T = TypeVar("T")


class Collector(Generic[T]):
    """One kind of thing to collect; a caller opens `collecting`, code it calls `add`s."""

    def __init__(self, name: str):
        self._items: ContextVar[list[T] | None] = ContextVar(name, default=None)

    @contextlib.contextmanager
    def collecting(self) -> Iterator[list[T]]:
        """What `add` is given inside the block, each item once, in order."""
        items: list[T] = []
        token = self._items.set(items)
        try:
            yield items
        finally:
            self._items.reset(token)

    @property
    def active(self) -> bool:
        """Whether a `collecting` block is open (an item worth computing only for it can be skipped)."""
        return self._items.get() is not None

    def add(self, item: T) -> bool:
        """``item`` for the innermost open `collecting` block; False where none is open."""
        items = self._items.get()
        if items is None:
            return False
        if item not in items:
            items.append(item)
        return True
