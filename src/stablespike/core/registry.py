"""One small registry class behind ``--model``, ``--dataset``, ``--backend`` and the commands.

Every registry behaves the same:

* names are matched without regard to case, and ``-`` and ``_`` are the same character
  (``fashion-mnist`` finds ``fashion_mnist``); each registry lists its names with its own
  separator;
* registering a name twice is an error unless ``replace=True``;
* an unknown name raises :class:`~stablespike.core.errors.ConfigError` (a ``ValueError``)
  naming the closest match and every registered name;
* ``loader`` (optional) is called once, before the first lookup, to import the built-in entries
  lazily (nothing is imported when the registry is created).

Example:
    >>> things = Registry("thing", separator="-")
    >>> things.add("Fast_Path", 1)
    >>> things.get("fast-path"), "FAST_PATH" in things, things.names()
    (1, True, ('fast-path',))
    >>> things.get("fats-path")
    Traceback (most recent call last):
    ...
    stablespike.core.errors.ConfigError: unknown thing 'fats-path' (did you mean 'fast-path'?); available: fast-path
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` is used in messages: "unknown model 'x'")."""

    def __init__(
        self,
        kind: str,
        *,
        separator: str = "-",
        loader: Callable[[], object] | None = None,
    ) -> None:
        if separator not in ("-", "_"):
            raise ValueError(f"separator must be '-' or '_', got {separator!r}")
        self.kind = kind
        self.separator = separator
        self._loader = loader
        self._entries: dict[str, T] = {}

    def canonical(self, name: str) -> str:
        """``name`` as this registry spells it: stripped, lower case, its separator."""
        other = "_" if self.separator == "-" else "-"
        return str(name).strip().lower().replace(other, self.separator)

    def add(self, name: str, value: T, *, replace: bool = False) -> None:
        """Register ``value`` under ``name``; a second ``add`` of a name needs ``replace=True``."""
        key = self.canonical(name)
        if not key:
            raise ValueError(f"invalid {self.kind} name {name!r}")
        if key in self._entries and not replace:
            raise ValueError(f"a {self.kind} named {key!r} is already registered")
        self._entries[key] = value

    def get(self, name: str) -> T:
        """The entry of ``name``; :class:`ConfigError` naming the known names if there is none."""
        self._load()
        key = self.canonical(name)
        if key not in self._entries:
            raise ConfigError(self.unknown_message(name))
        return self._entries[key]

    def unknown_message(self, name: str, listed: str | None = None) -> str:
        """ "unknown KIND 'name' (did you mean ...?); available: ..." (``listed``: the names)."""
        self._load()
        close = difflib.get_close_matches(self.canonical(name), list(self._entries), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown {self.kind} {name!r}{hint}; available: {listed or ', '.join(self.names())}"

    def names(self) -> tuple[str, ...]:
        """The registered names, sorted."""
        self._load()
        return tuple(sorted(self._entries))

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs, sorted by name."""
        self._load()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return isinstance(name, str) and self.canonical(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()
