"""Wires one running exporter together: config -> store -> poller -> HTTP server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from .addresses import split_host_port
from .config import Config, ConfigError
from .plugins import Plugins
from .poller import Poller
from .store import Store
from .web import make_app

log = logging.getLogger(__name__)


@dataclass
class RunningExporter:
    store: Store
    poller: Poller
    runner: web.AppRunner
    port: int

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.poller.stop()


async def start_exporter(
    config: Config, plugins: Plugins, listen_address: str | None = None
) -> RunningExporter:
    """Start polling and serving HTTP; returns once the port is bound."""
    store = Store(config.units, config.poll.staleness_limit_s)
    poller = Poller(config.units, plugins, store, config.poll)
    runner = web.AppRunner(make_app(store, poller), access_log=None)
    await runner.setup()
    address = listen_address or config.listen_address
    try:
        host, port = split_host_port(address)
    except ValueError as error:
        raise ConfigError(f"--web.listen-address / web.listen_address: {error}") from None
    site = web.TCPSite(runner, host or None, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise ConfigError(
            f"--web.listen-address / web.listen_address: cannot listen on {address}: "
            f"{error.strerror or error}; pick a free port"
        ) from None
    bound = runner.addresses[0][1] if runner.addresses else port
    poller.start()
    log.info("serving %d units on %s:%d", len(store), host or "*", bound)
    return RunningExporter(store, poller, runner, int(bound))
