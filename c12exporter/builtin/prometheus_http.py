"""Built-in exposer ``web``: Prometheus ``/metrics``, ``/probe?target=`` and a landing page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..addresses import split_host_port
from ..config import ConfigError
from ..exposer import Exposer, ExposerContext
from ..plugins import Registry, hookimpl
from ..web import make_app

DEFAULT_LISTEN_ADDRESS = ":10120"
"""Default HTTP port 10120: the 9100-9999 exporter port range is fully allocated,
and 10120 is not the default of any exporter we know of."""


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int


@dataclass
class RunningHttp:
    runner: web.AppRunner
    host: str
    port: int

    @property
    def endpoints(self) -> list[str]:
        host = self.host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return [f"http://{host}:{self.port}/metrics", f"http://{host}:{self.port}/"]

    async def stop(self) -> None:
        await self.runner.cleanup()


class PrometheusHttpExposer:
    section = "web"

    def parse_config(self, data: Mapping[str, Any], where: str) -> HttpSettings:
        unknown = sorted(set(data) - {"listen_address"})
        if unknown:
            raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed keys: listen_address")
        address = str(data.get("listen_address", DEFAULT_LISTEN_ADDRESS))
        try:
            host, port = split_host_port(address)
        except ValueError as error:
            raise ConfigError(
                f"{where}.listen_address (or --web.listen-address): {error}"
            ) from None
        return HttpSettings(host, port)

    async def start(self, settings: HttpSettings, context: ExposerContext) -> RunningHttp:
        runner = web.AppRunner(make_app(context.store, context.poller), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.host or None, settings.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(
                f"web.listen_address (or --web.listen-address): cannot listen on "
                f"{settings.host}:{settings.port}: {error.strerror or error}; pick a free port"
            ) from None
        port = runner.addresses[0][1] if runner.addresses else settings.port
        return RunningHttp(runner, settings.host, int(port))


@hookimpl
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    exposers.add(PrometheusHttpExposer.section, PrometheusHttpExposer())
