"""The plugin manager: built-in plugins, entry points, and the registries they fill."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TypeVar

import pluggy

from . import hookspecs
from .exposer import Exposer
from .model import AuxSocket, Layout, ModelFamily, UnitModel, parse_model_name
from .registry import PluginError, Registry
from .settings import SectionParser
from .transport import TransportFactory

T = TypeVar("T")

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)
"""Marker for hook implementations: ``@hookimpl def c12_add_layouts(layouts): ...``."""

BUILTIN_PLUGINS: tuple[str, ...] = (
    "c12exporter.builtin.layouts",
    "c12exporter.builtin.aux_sockets",
    "c12exporter.builtin.families",
    "c12exporter.builtin.breakers",
    "c12exporter.modbus.transport",
    "c12exporter.web.server",
    "c12exporter.prometheus.plugin",
    "c12exporter.snmp.plugin",
    "c12exporter.console.plugin",
    "c12exporter.history.plugin",
)

DISABLE_ENTRY_POINTS_ENV = "C12EXPORTER_DISABLE_PLUGIN_AUTOLOAD"
"""Set to any non-empty value to skip third-party plugins found through entry points."""


@dataclass
class Plugins:
    """What all registered plugins provide, collected once at start."""

    manager: pluggy.PluginManager
    layouts: Registry[Layout] = field(default_factory=lambda: Registry("layout"))
    aux_sockets: Registry[AuxSocket] = field(default_factory=lambda: Registry("aux socket"))
    families: Registry[ModelFamily] = field(default_factory=lambda: Registry("model family"))
    transports: Registry[TransportFactory] = field(default_factory=lambda: Registry("transport"))
    exposers: Registry[Exposer] = field(default_factory=lambda: Registry("exposer"))
    sections: Registry[SectionParser] = field(default_factory=lambda: Registry("config section"))

    @property
    def hook(self) -> pluggy.HookRelay:
        return self.manager.hook

    def model(self, name: str) -> UnitModel:
        """Resolve a model name (``C12B-12``) by its family, with its breakers' curve from
        the plugins; raises :class:`c12exporter.model.ModelError`."""
        model = parse_model_name(name, self.families)
        curve = self.hook.c12_breaker_curve(model=model)
        return model if curve is None else model.with_breaker(curve)


def fill(hook: pluggy.HookCaller, registry: Registry[T], **kwargs: object) -> Registry[T]:
    """Call every implementation of ``hook`` with ``registry`` as its first argument (and
    ``kwargs`` for the others it names), remembering which plugin added what."""
    for impl in hook.get_hookimpls():  # registration order: built-ins first
        registry.current_plugin = _plugin_name(impl.plugin)
        _registry, *rest = impl.argnames
        impl.function(registry, **{name: kwargs[name] for name in rest})
    registry.current_plugin = "?"
    return registry


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
    fill(manager.hook.c12_add_layouts, plugins.layouts)
    fill(manager.hook.c12_add_aux_sockets, plugins.aux_sockets)
    fill(
        manager.hook.c12_add_model_families,
        plugins.families,
        layouts=plugins.layouts,
        aux_sockets=plugins.aux_sockets,
    )
    fill(manager.hook.c12_add_transports, plugins.transports, models=plugins.model)
    fill(manager.hook.c12_add_exposers, plugins.exposers)
    fill(manager.hook.c12_add_config_sections, plugins.sections)
    return plugins
