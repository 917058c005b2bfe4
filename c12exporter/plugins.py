"""The plugin manager: built-in plugins, entry points, and the registries they fill."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Generic, TypeVar

import pluggy

from . import hookspecs
from .exposer import Exposer
from .model import AuxSocket, Layout, UnitModel, parse_model_name
from .transport import TransportFactory

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
"""Marker for hook implementations: ``@hookimpl def c12_add_layouts(layouts): ...``."""

BUILTIN_PLUGINS: tuple[str, ...] = (
    "c12exporter.builtin.layouts",
    "c12exporter.builtin.aux_sockets",
    "c12exporter.builtin.modbus_tcp",
    "c12exporter.web.server",
    "c12exporter.builtin.snmp_agent",
)

DISABLE_ENTRY_POINTS_ENV = "C12EXPORTER_DISABLE_PLUGIN_AUTOLOAD"
"""Set to any non-empty value to skip third-party plugins found through entry points."""

T = TypeVar("T")


class PluginError(Exception):
    """A plugin misbehaved: a duplicate registration or an unknown hook."""


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


@dataclass
class Plugins:
    """What all registered plugins provide, collected once at start."""

    manager: pluggy.PluginManager
    layouts: Registry[Layout] = field(default_factory=lambda: Registry("layout"))
    aux_sockets: Registry[AuxSocket] = field(default_factory=lambda: Registry("aux socket"))
    transports: Registry[TransportFactory] = field(default_factory=lambda: Registry("transport"))
    exposers: Registry[Exposer] = field(default_factory=lambda: Registry("exposer"))

    def model(self, name: str) -> UnitModel:
        """Resolve a model name (``C12B-12``); raises :class:`c12exporter.model.ModelError`."""
        return parse_model_name(name, self.layouts, self.aux_sockets)


def _fill(manager: pluggy.PluginManager, hook_name: str, registry: Registry[T]) -> None:
    hook = getattr(manager.hook, hook_name)
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        registry.current_plugin = _plugin_name(impl.plugin)
        impl.function(registry)
    registry.current_plugin = "?"


def _plugin_name(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}"


def load_plugins(
    extra: Iterable[ModuleType | object] = (), *, entry_points: bool | None = None
) -> Plugins:
    """Register built-ins, entry-point plugins and ``extra``; collect what they add.

    :param extra: plugin objects or modules to register after the built-ins
        (how tests add a plugin without installing it).
    :param entry_points: load the ``c12exporter`` entry-point group; default is
        yes unless ``C12EXPORTER_DISABLE_PLUGIN_AUTOLOAD`` is set.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(module_name), name=module_name)
    if entry_points is None:
        entry_points = not os.environ.get(DISABLE_ENTRY_POINTS_ENV)
    if entry_points:
        manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for plugin in extra:
        manager.register(plugin)
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as error:
        raise PluginError(f"a plugin implements an unknown hook: {error}") from error
    plugins = Plugins(manager)
    _fill(manager, "c12_add_layouts", plugins.layouts)
    _fill(manager, "c12_add_aux_sockets", plugins.aux_sockets)
    _fill(manager, "c12_add_transports", plugins.transports)
    _fill(manager, "c12_add_exposers", plugins.exposers)
    return plugins
