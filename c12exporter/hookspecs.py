"""Hook specifications: everything a plugin can add to c12exporter.

Every hook is prefixed ``c12_``. Built-in layouts, aux sockets, transports and
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
    from .exposer import Exposer
    from .model import AuxSocket, Layout
    from .plugins import Registry
    from .transport import TransportFactory

PROJECT = "c12exporter"

hookspec = pluggy.HookspecMarker(PROJECT)


# -------------------------------------------------------------------------
# Unit models
# -------------------------------------------------------------------------


@hookspec
def c12_add_layouts(layouts: Registry[Layout]) -> None:
    """Called once at start to register output layouts.

    A layout is the ``L`` in a model name ``C12x-LA``: which connectors a model
    has and which channel goes to which connector pins.

    :param layouts: add each layout with ``layouts.add(layout.code, layout)``;
        adding a code twice is an error naming both plugins.
    """


@hookspec
def c12_add_aux_sockets(aux_sockets: Registry[AuxSocket]) -> None:
    """Called once at start to register auxiliary socket types.

    An aux socket is the ``A`` in a model name ``C12x-LA``: the domestic socket
    wired to channel 12, with its own rating.

    :param aux_sockets: add each with ``aux_sockets.add(socket.code, socket)``.
    """


# -------------------------------------------------------------------------
# Transports
# -------------------------------------------------------------------------


@hookspec
def c12_add_transports(transports: Registry[TransportFactory]) -> None:
    """Called once at start to register transports by scheme name.

    A unit's config ``transport:`` key (default ``modbus-tcp``) picks one. The
    factory is called with the unit's address and a request timeout and returns
    a :class:`c12exporter.transport.Transport`.

    :param transports: add each with ``transports.add("scheme", factory)``.
    """


# -------------------------------------------------------------------------
# Exposers
# -------------------------------------------------------------------------


@hookspec
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    """Called once at start to register exposers by config section name.

    An exposer serves the store's readings to one platform: the built-ins are
    ``web`` (Prometheus ``/metrics`` and ``/probe``) and ``snmp`` (the agent).
    Its section of the config file is validated by
    :meth:`c12exporter.exposer.Exposer.parse_config` at load time.

    :param exposers: add each with ``exposers.add(exposer.section, exposer)``.
    """
