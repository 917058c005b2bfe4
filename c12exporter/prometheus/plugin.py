"""Built-in exposer plugin ``prometheus``: its routes on the shared web server, and the
``probe:`` config section."""

from __future__ import annotations

from ..exposer import ExposerContext
from ..plugins import hookimpl
from ..registry import Registry
from ..routes import Routes
from ..settings import SectionParser
from . import routes as prometheus_routes
from .probe_config import SECTION, parse_probe


@hookimpl
def c12_add_config_sections(sections: Registry[SectionParser]) -> None:
    sections.add(SECTION, parse_probe)


@hookimpl
def c12_add_routes(routes: Routes, context: ExposerContext) -> None:
    prometheus_routes.add_routes(routes, context)
