"""One registry type for every extension axis: mixers, models, heads, norms, stems, FFNs, losses, datasets and export
formats are each a :class:`Registry` of named entries (a class, a factory or an info record)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name no entry of a registry has; a ``ValueError`` for callers, a ``KeyError`` for ``Mapping`` methods."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Mapping[str, T], Generic[T]):
    """Named entries of one extension axis, kept in registration order.

    ``registry[name]`` raises :class:`UnknownNameError` naming the axis and listing the registered names;
    registering a taken name raises ``ValueError``. Iterating gives the names, so ``name in registry``,
    ``tuple(registry)`` and ``argparse`` ``choices=registry`` work as on a tuple of names.
    """

    def __init__(self, kind: str, entries: Mapping[str, T] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._watchers: list[Callable[[str, T], None]] = []
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} needs a non-empty string name, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered ({self._entries[name]!r})")
        self._entries[name] = entry
        for watcher in self._watchers:
            watcher(name, entry)
        return entry

    def watch(self, callback: Callable[[str, T], None]) -> None:
        """Call ``callback(name, entry)`` for every entry now and for each one registered later.

        Derived entries use it: every mixer gets its ``ecgformer_s_<mixer>`` model preset this way, also a mixer
        registered by a module imported after the models.
        """
        self._watchers.append(callback)
        for name, entry in list(self._entries.items()):
            callback(name, entry)

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator(name)``: register the decorated class or function under ``name``."""
        return lambda entry: self.register(name, entry)

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._entries)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; registered: {', '.join(self._entries)}")
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
