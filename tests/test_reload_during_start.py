"""A reload asked for while the exporter is still starting its exposers (the web server
answers ``POST /-/reload`` before the SNMP agent has bound its port) waits until every
exposer has started, and then finds them running: nothing is started twice."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.exposer import ExposerContext
from c12exporter.plugins import hookimpl, load_plugins
from c12exporter.registry import Registry
from c12exporter.settings import only_keys


@dataclass
class Running:
    endpoints: list[str] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)

    async def stop(self) -> None:
        pass


@dataclass
class Asker:
    """The first exposer: like the web server, it can take a reload before the next
    exposer has started; it asks for one as soon as it is up."""

    section: str = "asker"
    reloads: list[asyncio.Future[str | None]] = field(default_factory=list)

    def parse_config(self, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        only_keys(data, set(), where)
        return {}

    async def start(self, settings: object, context: ExposerContext) -> Running:
        self.reloads.append(asyncio.ensure_future(context.reload()))
        await asyncio.sleep(0)  # the reload runs as far as it can
        return Running()


@dataclass
class SlowBinder:
    """The second exposer: like the SNMP agent, it takes a while to bind its port, and a
    second start while the first is running fails, as a second bind would."""

    section: str = "binder"
    starts: int = 0
    bound: bool = False

    def parse_config(self, data: Mapping[str, Any], where: str) -> dict[str, Any]:
        only_keys(data, set(), where)
        return {}

    async def start(self, settings: object, context: ExposerContext) -> Running:
        self.starts += 1
        if self.bound:
            raise OSError("address already in use")
        await asyncio.sleep(0.05)
        self.bound = True
        return Running()


def test_a_reload_during_the_start_waits_and_starts_nothing_twice(tmp_path: Path) -> None:
    asker, binder = Asker(), SlowBinder()

    class Plugin:
        @hookimpl
        def c12_add_exposers(self, exposers: Registry[Any]) -> None:
            exposers.add(asker.section, asker)
            exposers.add(binder.section, binder)

    plugins = load_plugins([Plugin()], entry_points=False)
    config_file = tmp_path / "c12.yml"
    config_file.write_text(
        "asker: {}\nbinder: {}\nunits: [{name: stage-left, address: '127.0.0.1:9'}]\n"
    )
    loaded = load_config(config_file, plugins)
    # the two exposers alone, in this order (the web server is not needed here)
    config = dataclasses.replace(
        loaded, exposers={s: loaded.exposers[s] for s in ("asker", "binder")}
    )

    async def run() -> None:
        running = await start_exporter(config, plugins, load=lambda: config)
        try:
            (reload,) = asker.reloads
            assert await reload is None  # the reload succeeded, after the start
            assert binder.starts == 1
        finally:
            await running.stop()

    asyncio.run(run())
