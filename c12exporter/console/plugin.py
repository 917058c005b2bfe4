"""Built-in exposer plugin ``console``: its config section and its routes on the shared
web server (``/``, its assets, its live events and its edits, the problem board and its
acknowledgements, the event timeline).

The problem board (:mod:`.board`) is built here once per web server, before the console's
handlers are added, so they find it as ``routes.states[PROBLEMS_KEY]``; it stops following
the store when the server shuts down."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..exposer import Exposer, ExposerContext
from ..plugins import hookimpl
from ..registry import Registry
from ..routes import Routes
from ..settings import ConfigError, only_keys
from . import alarms, timeline
from .board import PROBLEMS_KEY, build_board
from .config import DEFAULT_TITLE, ConsoleSettings
from .handlers import add_routes


@dataclass
class RunningConsole:
    endpoints: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    async def stop(self) -> None:
        pass


class ConsoleExposer:
    section = "console"

    def parse_config(self, data: Mapping[str, Any], where: str) -> ConsoleSettings:
        only_keys(data, {"writes_enabled", "editors", "title", "anonymous_view"}, where)
        writes = data.get("writes_enabled", False)
        if not isinstance(writes, bool):
            raise ConfigError(f"{where}.writes_enabled: {writes!r} must be true or false")
        editors = data.get("editors")
        if editors is not None and (
            not isinstance(editors, list) or not all(isinstance(u, str) and u for u in editors)
        ):
            raise ConfigError(
                f"{where}.editors: must be a list of basic-auth user names (from "
                "--web.config.file), e.g. [alice, bob]; leave it out to let every user edit"
            )
        title = data.get("title", DEFAULT_TITLE)
        if not isinstance(title, str) or not title.strip():
            raise ConfigError(f"{where}.title: must be non-empty text")
        anonymous = data.get("anonymous_view", False)
        if not isinstance(anonymous, bool):
            raise ConfigError(f"{where}.anonymous_view: {anonymous!r} must be true or false")
        return ConsoleSettings(
            writes, None if editors is None else tuple(editors), title.strip(), anonymous
        )

    async def start(self, settings: ConsoleSettings, context: ExposerContext) -> RunningConsole:
        return RunningConsole()


@hookimpl
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    exposers.add(ConsoleExposer.section, ConsoleExposer())


@hookimpl
def c12_add_routes(routes: Routes, context: ExposerContext) -> None:
    board, problem_log = build_board(context.store, context.forecast, context.state_dir)
    routes.state(PROBLEMS_KEY, board)
    alarms.add_routes(routes)
    timeline.add_routes(routes)
    add_routes(routes, context)

    async def close_board(_app: object) -> None:
        board.close()
        if problem_log is not None:
            problem_log.close()

    routes.on_shutdown(close_board)
