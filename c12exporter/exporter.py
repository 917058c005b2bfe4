"""Wires one running exporter together: config -> store -> poller -> exposers, and reloads.

A reload reconciles instead of restarting: units whose config is unchanged keep their
connection, reading and counters; exposers whose settings are unchanged keep running.
A config that does not load leaves the running one in place.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .catalogue import declared
from .discovery.service import Discovery
from .exposer import ExposerContext, RunningExposer
from .forecast import TripForecast
from .history.recorder import History
from .plugins import Plugins
from .poller import Poller
from .settings import Config, ConfigError, UnitConfig
from .store import Store
from .telemetry import Telemetry

log = logging.getLogger(__name__)

ConfigLoader = Callable[[], Config]


@dataclass
class RunningExporter:
    plugins: Plugins
    context: ExposerContext
    load: ConfigLoader | None
    exposers: dict[str, RunningExposer] = field(default_factory=dict)
    discovery: Discovery | None = None
    settings: dict[str, object] = field(default_factory=dict)
    """The settings each running exposer was started with."""
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retiring: set[asyncio.Task[None]] = field(default_factory=set)
    _discovering: asyncio.Task[None] | None = None

    def fleet(self, config: Config) -> tuple[UnitConfig, ...]:
        return fleet_units(config, self.discovery)

    def start_discovery(self) -> None:
        """Scan now and on the interval (when the config has a discovery section)."""
        config = self.config.discovery
        if config is None:
            self.discovery = None
            return
        if self.discovery is None:
            self.discovery = Discovery(
                config, self.plugins, self.config.state_dir, self.context.telemetry
            )
        self.discovery.config = config

        async def publish() -> None:
            async with self._reloading:
                await self.poller.reconcile(self.fleet(self.config), self.config.poll)

        self._discovering = asyncio.create_task(
            self.discovery.run(lambda: self.config.units, publish), name="discovery"
        )

    async def stop_discovery(self) -> None:
        task, self._discovering = self._discovering, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    @property
    def config(self) -> Config:
        return self.context.config

    @property
    def store(self) -> Store:
        return self.context.store

    @property
    def poller(self) -> Poller:
        return self.context.poller

    async def start_exposers(self) -> None:
        """Start every enabled exposer, in the config's order. A reload asked for
        meanwhile (the web server answers ``POST /-/reload`` before the SNMP agent has
        bound its port) waits until all have started, then finds them running."""
        async with self._reloading:
            for section, settings in self.config.exposers.items():
                exposer = self.plugins.exposers[section]
                self.exposers[section] = await exposer.start(settings, self.context)
                self.settings[section] = settings

    async def reload(self) -> str | None:
        """Load the config again and follow it; returns ``None`` or why it was refused.
        A reload never ends the process: whatever goes wrong is logged and counted."""
        async with self._reloading:
            telemetry = self.context.telemetry
            try:
                if self.load is None:
                    raise ConfigError("this exporter was started without a config file")
                new = self.load()
                await self._apply(new)
            except ConfigError as error:
                log.error("reload refused, still serving the previous config: %s", error)
                _reload_result(telemetry, ok=False)
                return str(error)
            except Exception as error:  # no reload may end the process
                log.error("reload failed, still serving: %s: %s", type(error).__name__, error)
                _reload_result(telemetry, ok=False)
                return f"{type(error).__name__}: {error}"
            _reload_result(telemetry, ok=True)
            log.info("reloaded %s: %d units", new.source, len(new.units))
            return None

    async def _apply(self, new: Config) -> None:
        old = self.context.config
        if new.discovery != old.discovery:
            await self.stop_discovery()
        await self.poller.reconcile(self.fleet(new), new.poll)
        self.context.config = new
        if self.context.history is not None:
            self.context.history.rcbo_test_period_s = new.history.rcbo_test_period_s
            if new.history_path != old.history_path:
                log.warning("history: a new database path takes effect at the next start")
        if new.discovery != old.discovery:
            self.start_discovery()
        for section in [s for s in self.exposers if s not in new.exposers]:
            self.settings.pop(section, None)
            await self.exposers.pop(section).stop()
        refused: list[str] = []
        for section, settings in new.exposers.items():
            if section in self.exposers and self.settings.get(section) == settings:
                continue
            try:
                await self._replace(section, settings)
            except ConfigError as error:
                refused.append(str(error))
        if refused:
            raise ConfigError("; ".join(refused))

    async def _replace(self, section: str, settings: object) -> None:
        """Start ``section`` with ``settings``, then stop the one it replaces, so there is
        no moment without a listener. The web server shares the old server's listening
        socket on the same address (:mod:`.web.listener`): the port is never free for
        another process to take, and if the new server cannot start the old one goes on
        serving; so does the SNMP agent with its bound UDP socket (:mod:`.snmp.agent`).
        An exposer that cannot share its port is stopped first when the new one cannot
        start beside it, and restarted if the new one still cannot start; then the error
        is raised."""
        exposer = self.plugins.exposers[section]
        previous = self.exposers.get(section)
        try:
            started = await exposer.start(settings, self.context)
        except ConfigError:
            if previous is None or getattr(exposer, "shares_listeners", False):
                raise
            await previous.stop()
            try:
                started = await exposer.start(settings, self.context)
            except ConfigError:
                self.exposers[section] = await exposer.start(self.settings[section], self.context)
                raise
        else:
            if previous is not None:  # in the background: it may be serving this reload
                retiring = asyncio.create_task(previous.stop(), name=f"stop old {section}")
                self._retiring.add(retiring)
                retiring.add_done_callback(self._retiring.discard)
        self.exposers[section] = started
        self.settings[section] = settings

    async def stop(self) -> None:
        await self.stop_discovery()
        await asyncio.gather(*self._retiring, return_exceptions=True)
        for exposer in self.exposers.values():
            await exposer.stop()
        self.exposers.clear()
        await self.poller.stop()
        if self.context.history is not None:
            await self.context.history.close()


def fleet_units(config: Config, discovery: Discovery | None) -> tuple[UnitConfig, ...]:
    """The units to poll: the configured ones, then the discovered ones whose names the
    config does not use, kept to this exporter's shard."""
    units = list(config.units)
    if discovery is not None:
        names = {u.name for u in units}
        units += [u for u in discovery.units() if u.name not in names]
    return tuple(u for u in units if config.shard.holds(u.name))


def _reload_result(telemetry: Telemetry, *, ok: bool) -> None:
    _load_result(telemetry, ok=ok)
    telemetry.counter_of(declared("config_reloads")).labels("success" if ok else "failure").inc()


def _load_result(telemetry: Telemetry, *, ok: bool) -> None:
    telemetry.gauge_of(declared("config_last_reload_successful")).set(1 if ok else 0)
    if ok:
        telemetry.gauge_of(declared("config_last_reload_success")).set(time.time())


async def start_exporter(
    config: Config, plugins: Plugins, load: ConfigLoader | None = None
) -> RunningExporter:
    """Start every enabled exposer, then polling; returns once all ports are bound.

    :param load: reads the config again for :meth:`RunningExporter.reload` (SIGHUP and
        ``POST /-/reload``).
    """
    telemetry = Telemetry()
    telemetry.count_tasks(asyncio.get_running_loop())
    discovery = None
    if config.discovery is not None:
        discovery = Discovery(config.discovery, plugins, config.state_dir, telemetry)
    running: RunningExporter
    units = fleet_units(config, discovery)
    store = Store(units, config.poll.staleness_limit_s)
    poller = Poller(units, plugins, store, config.poll, telemetry)
    forecast = TripForecast(store)

    async def reload() -> str | None:
        return await running.reload()

    history = await History.open_or_none(
        config.history_path, store, config.history.rcbo_test_period_s, forecast.progress
    )
    context = ExposerContext(
        store,
        poller,
        telemetry,
        config.state_dir,
        plugins.hook,
        config,
        reload,
        history,
        forecast,
    )
    running = RunningExporter(plugins, context, load, discovery=discovery)
    try:
        await running.start_exposers()
    except BaseException:
        await running.stop()
        raise
    _load_result(telemetry, ok=True)
    poller.start()
    running.start_discovery()
    for section, exposer in running.exposers.items():
        if exposer.endpoints:
            log.info(
                "%s: serving %d units on %s", section, len(store), ", ".join(exposer.endpoints)
            )
    return running
