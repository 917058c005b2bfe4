"""Built-in exposer plugin ``prometheus``: its routes on the shared web server."""

from __future__ import annotations

from ..exposer import ExposerContext
from ..plugins import hookimpl
from ..routes import Routes
from . import routes as prometheus_routes


@hookimpl
def c12_add_routes(routes: Routes, context: ExposerContext) -> None:
    prometheus_routes.add_routes(routes, context)
