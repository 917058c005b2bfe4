"""Built-in plugin ``history``: the jobs' routes on the shared web server."""

from __future__ import annotations

from ..exposer import ExposerContext
from ..plugins import hookimpl
from ..routes import Routes
from . import api


@hookimpl
def c12_add_routes(routes: Routes, context: ExposerContext) -> None:
    api.add_routes(routes, context)
