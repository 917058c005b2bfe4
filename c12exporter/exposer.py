"""What an exposer plugin provides: a config section and a server fed from the store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pluggy

from .forecast import TripForecast
from .history.recorder import History
from .poller import Poller
from .settings import Config
from .store import Store
from .telemetry import Telemetry


@dataclass
class ExposerContext:
    """What a running exposer may use.

    :param store: the readings to serve, and their changes.
    :param poller: on-demand reads (``poll_unit``) and the one path for settings writes
        (``check_settings``, ``write_settings``).
    :param telemetry: where to count what the exposer does (requests, drops, writes).
    :param state_dir: a directory for small state files that must outlive a restart.
    :param hook: the plugins' hooks (the web server calls ``c12_add_routes``).
    :param config: the config in force; replaced on each successful reload.
    :param reload: reload the config file now; returns ``None`` or why it was refused.
    :param history: the event, RCBO-test and job database (``docs/history.md``); ``None``
        in a context built without it.
    :param forecast: seconds until each overloaded channel's breaker trips
        (:mod:`c12exporter.forecast`); ``None`` where nothing keeps one.
    """

    store: Store
    poller: Poller
    telemetry: Telemetry
    state_dir: Path
    hook: pluggy.HookRelay
    config: Config
    reload: Callable[[], Awaitable[str | None]]
    history: History | None = None
    forecast: TripForecast | None = None


class RunningExposer(Protocol):
    """A started exposer."""

    @property
    def endpoints(self) -> list[str]:
        """Where users reach it, e.g. ``["http://127.0.0.1:10120/metrics"]``."""

    @property
    def hints(self) -> list[str]:
        """Ready-to-paste commands that show it working (the demo prints them)."""

    async def stop(self) -> None:
        """Stop serving; release ports."""


class Exposer(Protocol):
    """Serves the store's readings to some platform (Prometheus, SNMP, ...).

    :attr section: the top-level config key holding its settings (``web``, ``snmp``).
    """

    section: str

    def parse_config(self, data: Mapping[str, Any], where: str) -> object | None:
        """Validate the section (``{}`` when absent) and return settings, or ``None``
        when the exposer is disabled. Raise :class:`c12exporter.settings.ConfigError`
        naming ``where`` and the key. Settings must compare equal when unchanged: a
        reload restarts only exposers whose settings changed."""

    async def start(self, settings: Any, context: ExposerContext) -> RunningExposer:
        """Start serving with the settings :meth:`parse_config` returned."""
