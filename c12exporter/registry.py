"""Name -> item tables that plugins fill through hooks, with errors naming the plugins."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar


class PluginError(Exception):
    """A plugin misbehaved: a duplicate registration or an unknown hook."""


T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A name -> item table that plugins fill through a hook."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self.current_plugin = "?"

    def add(self, key: str, item: T) -> None:
        if key in self._items:
            raise PluginError(
                f"{self.what} {key!r} registered twice: by {self._owners[key]} "
                f"and by {self.current_plugin}"
            )
        self._items[key] = item
        self._owners[key] = self.current_plugin

    def __getitem__(self, key: str) -> T:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
