"""Built-in plugin ``history``: the jobs' routes on the shared web server, and the
``history:`` config section."""

from __future__ import annotations

from ..exposer import ExposerContext
from ..plugins import hookimpl
from ..registry import Registry
from ..routes import Routes
from ..settings import SectionParser
from . import api
from .config import SECTION, parse_history


@hookimpl
def c12_add_config_sections(sections: Registry[SectionParser]) -> None:
    sections.add(SECTION, parse_history)


@hookimpl
def c12_add_routes(routes: Routes, context: ExposerContext) -> None:
    api.add_routes(routes, context)
