"""Hook specifications: everything a plugin can add to c12exporter.

Every hook is prefixed ``c12_``. Hooks are grouped as the exporter uses them: unit
models, transports, exposers, then what an exposer adds to the command line and to the
shared web server. Built-in layouts, aux sockets, transports and
exposers are plugins using these same hooks (see :mod:`c12exporter.builtin`).
A third-party plugin is a module with ``@hookimpl``-decorated functions,
published under the ``c12exporter`` entry-point group::

    [project.entry-points.c12exporter]
    my_layouts = "my_package.layouts"
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import argparse

    from .breaker import BreakerCurve
    from .exposer import Exposer, ExposerContext
    from .model import AuxSocket, Layout, ModelFamily, ModelResolver, UnitModel
    from .registry import Registry
    from .routes import Routes
    from .settings import SectionParser
    from .transport import TransportFactory

PROJECT = "c12exporter"

hookspec = pluggy.HookspecMarker(PROJECT)


# -------------------------------------------------------------------------
# Unit models
# -------------------------------------------------------------------------


@hookspec
def c12_add_model_families(
    families: Registry[ModelFamily], layouts: Registry[Layout], aux_sockets: Registry[AuxSocket]
) -> None:
    """Called once at start, after :func:`c12_add_layouts` and :func:`c12_add_aux_sockets`,
    to register model families by name prefix.

    A family (:class:`c12exporter.model.ModelFamily`) reads the model names that start
    with its prefix (``C12B-12``, ``C24B-12``) and declares what its models share: the
    channel count, the channel the aux socket is wired to, the input's rating, its
    output layouts and its aux sockets. Everything else follows from the model: the
    register map's per-channel fields, the readings' channels, the simulator's channels.
    A model name no family matches is refused with the names every family expects. The
    built-in C12 family (:mod:`c12exporter.builtin.families`) takes its layouts and aux
    sockets from the registries below; another family brings its own layouts (their codes
    may repeat the C12's) and may share the aux sockets.

    :param families: add each with ``families.add(family.prefix, family)``.
    :param layouts: the layouts registered with :func:`c12_add_layouts` (the C12's).
    :param aux_sockets: the aux socket types registered with :func:`c12_add_aux_sockets`.
    """


@hookspec
def c12_add_layouts(layouts: Registry[Layout]) -> None:
    """Called once at start to register the C12 family's output layouts.

    A layout is the ``L`` in a model name ``C12x-LA``: which connectors a model
    has and which channel goes to which connector pins. Another family's layouts come
    with the family (:func:`c12_add_model_families`).

    :param layouts: add each layout with ``layouts.add(layout.code, layout)``;
        adding a code twice is an error naming both plugins.
    """


@hookspec
def c12_add_aux_sockets(aux_sockets: Registry[AuxSocket]) -> None:
    """Called once at start to register auxiliary socket types.

    An aux socket is the ``A`` in a model name ``C12x-LA``: the domestic socket
    wired to the family's aux channel (the C12's channel 12), with its own rating.

    :param aux_sockets: add each with ``aux_sockets.add(socket.code, socket)``.
    """


@hookspec(firstresult=True)
def c12_breaker_curve(model: UnitModel) -> BreakerCurve | None:
    """Called each time a model name is resolved, to give the time-current curve of its
    channel breakers.

    The curve is data (:class:`c12exporter.breaker.BreakerCurve`: a table of (multiple of
    In, seconds to trip) and the rule for accumulating heat). The simulator trips its
    RCBOs by it, the exporter forecasts trips by it and the console shows it. The first
    plugin that returns a curve wins; the built-in one (:mod:`c12exporter.builtin.breakers`)
    answers last, with a representative EN 60947-2 magnetic-hydraulic curve.

    :param model: the resolved model (name, layout, aux socket, channel rating).
    :return: the curve, or ``None`` to leave the choice to other plugins.
    """


# -------------------------------------------------------------------------
# Transports
# -------------------------------------------------------------------------


@hookspec
def c12_add_transports(transports: Registry[TransportFactory], models: ModelResolver) -> None:
    """Called once at start, after :func:`c12_add_model_families`, to register transports
    by scheme name.

    A unit's config ``transport:`` key (default ``modbus-tcp``) picks one. The
    factory is called with the unit's address and a request timeout and returns
    a :class:`c12exporter.transport.Transport`.

    :param transports: add each with ``transports.add("scheme", factory)``.
    :param models: resolves a model name to its :class:`~c12exporter.model.UnitModel`
        (raising :class:`~c12exporter.model.ModelError`), so a transport can read what
        the unit says it is with that model's channels (the built-in one picks the
        register map by the model's channel count).
    """


# -------------------------------------------------------------------------
# Exposers
# -------------------------------------------------------------------------


@hookspec
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    """Called once at start to register exposers by config section name.

    An exposer serves the store's readings to one platform: the built-ins are
    ``web`` (the shared web server, which plugins add routes to:
    :func:`c12_add_routes`), ``snmp`` (the agent) and ``console`` (the fleet console's
    settings).
    Its section of the config file is validated by
    :meth:`c12exporter.exposer.Exposer.parse_config` at load time.

    :param exposers: add each with ``exposers.add(exposer.section, exposer)``.
    """


@hookspec
def c12_add_config_sections(sections: Registry[SectionParser]) -> None:
    """Called once at start to register the top-level config sections a plugin owns that
    start nothing by themselves (an exposer's section comes with the exposer).

    A section no loaded plugin owns is an unknown key of the config file. The built-in
    ones are ``probe`` (the Prometheus plugin: what ``/probe`` may read) and ``history``
    (the history plugin: its database and RCBO test period). Their settings are in
    ``Config.sections`` by key (``Config.probe`` and ``Config.history`` read them).

    :param sections: add each with ``sections.add(key, parse)``;
        ``parse(data, where, base)`` is called at every load with the section as written
        (``None`` when absent), where it is (``"c12.yml: probe"``) and the config file's
        directory (for relative paths); it returns the settings, which must compare equal
        when unchanged, or raises :class:`c12exporter.settings.ConfigError` naming
        ``where`` and the key.
    """


@hookspec
def c12_add_options(parser: argparse.ArgumentParser) -> None:
    """Called once when the command line is built, to add options to ``c12exporter serve``.

    An option whose ``dest`` is ``"<section>.<key>"`` overrides that key of that config
    section when given (``--web.listen-address`` has ``dest="web.listen_address"``), so
    an exposer reads flags and config file alike in its
    :meth:`~c12exporter.exposer.Exposer.parse_config`. Give options ``default=None``.

    :param parser: the ``serve`` command's parser; ``parser.add_argument(...)``.
    """


@hookspec
def c12_add_routes(routes: Routes, context: ExposerContext) -> None:
    """Called each time the shared web server starts (and on a reload that restarts it),
    to add HTTP routes to it.

    Every route is served on the one listen address with the same TLS and basic auth
    (``--web.config.file``). Unless a plugin serves ``/`` (the console does), the server
    answers ``/`` with a landing page built from the links the routes ask for, so a
    plugin that is not loaded shows no link:

    * ``title``: a link to the route in the page's introduction, followed by its
      ``description`` (a route with a description and no title is described without
      a link);
    * ``unit_title``: a link in each unit's row to ``path?target=NAME``, for a route that
      serves one unit by name (the Prometheus plugin's ``/probe``).

    :param routes: add each with ``routes.add_get(path, handler, title=...,
        description=..., unit_title=...)`` or ``routes.add_post(path, handler)``; a path
        added twice is an error naming both plugins. ``routes.state(key, value)`` hands
        handlers a value as ``request.app[key]``; ``routes.on_shutdown(callback)`` ends
        long-lived responses when the server stops.
    :param context: the store, poller, telemetry and current config the handlers serve.
    """
