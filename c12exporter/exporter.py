"""Wires one running exporter together: config -> store -> poller -> exposers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .config import Config
from .exposer import ExposerContext, RunningExposer
from .plugins import Plugins
from .poller import Poller
from .store import Store

log = logging.getLogger(__name__)


@dataclass
class RunningExporter:
    store: Store
    poller: Poller
    exposers: dict[str, RunningExposer]

    async def stop(self) -> None:
        for exposer in self.exposers.values():
            await exposer.stop()
        await self.poller.stop()


async def start_exporter(config: Config, plugins: Plugins) -> RunningExporter:
    """Start every enabled exposer, then polling; returns once all ports are bound."""
    store = Store(config.units, config.poll.staleness_limit_s)
    poller = Poller(config.units, plugins, store, config.poll)
    context = ExposerContext(store, poller, plugins)
    running = RunningExporter(store, poller, {})
    try:
        for section, settings in config.exposers.items():
            running.exposers[section] = await plugins.exposers[section].start(settings, context)
    except BaseException:
        await running.stop()
        raise
    poller.start()
    for section, exposer in running.exposers.items():
        log.info("%s: serving %d units on %s", section, len(store), ", ".join(exposer.endpoints))
    return running
