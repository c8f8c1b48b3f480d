"""Name -> object registries, so adding an architecture, a preset, a preprocessing, a
window-label rule, a data set layout, a loss, an optimiser, a training phase, an
augmentation or a recipe is one new function (or module) plus its registration line."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Objects of one ``kind`` (e.g. "network") registered by name."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: make the decorated object available under ``name``."""

        def wrap(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return wrap

    def remove(self, name: str) -> T:
        """Take ``name`` out again (e.g. a test's own registration, when the test ends); returns its object."""
        return self._items.pop(name)

    def get(self, name: str) -> T:
        """The object registered as ``name``; a clear error listing the known names otherwise."""
        try:
            return self._items[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {', '.join(self.available())}") from None

    def available(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        """``(name, object)`` pairs in the order they were registered."""
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items
