"""Built-in exposer ``web``: Prometheus ``/metrics``, ``/probe?target=`` and a landing page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..addresses import split_host_port
from ..config import ConfigError, only_keys
from ..exposer import Exposer, ExposerContext
from ..plugins import Registry, hookimpl
from ..prometheus.routes import make_app
from .webconfig import WebConfig, basic_auth_middleware, load_web_config

DEFAULT_LISTEN_ADDRESS = ":10120"
"""Default HTTP port 10120: the 9100-9999 exporter port range is fully allocated,
and 10120 is not the default of any exporter we know of."""


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int
    web_config: WebConfig = field(default_factory=WebConfig)


@dataclass
class RunningHttp:
    runner: web.AppRunner
    host: str
    port: int
    tls: bool

    @property
    def endpoints(self) -> list[str]:
        host = self.host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        base = f"{'https' if self.tls else 'http'}://{host}:{self.port}"
        return [f"{base}/metrics", f"{base}/"]

    async def stop(self) -> None:
        await self.runner.cleanup()


class PrometheusHttpExposer:
    section = "web"

    def parse_config(self, data: Mapping[str, Any], where: str) -> HttpSettings:
        only_keys(data, {"listen_address", "config_file"}, where)
        address = str(data.get("listen_address", DEFAULT_LISTEN_ADDRESS))
        try:
            host, port = split_host_port(address)
        except ValueError as error:
            raise ConfigError(
                f"{where}.listen_address (or --web.listen-address): {error}"
            ) from None
        web_config = WebConfig()
        if data.get("config_file"):
            web_config = load_web_config(str(data["config_file"]))
        return HttpSettings(host, port, web_config)

    async def start(self, settings: HttpSettings, context: ExposerContext) -> RunningHttp:
        users = settings.web_config.users
        middlewares = [basic_auth_middleware(users)] if users else []
        app = make_app(context.store, context.poller, middlewares)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        tls = settings.web_config.ssl_context
        site = web.TCPSite(runner, settings.host or None, settings.port, ssl_context=tls)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(
                f"web.listen_address (or --web.listen-address): cannot listen on "
                f"{settings.host}:{settings.port}: {error.strerror or error}; pick a free port"
            ) from None
        port = runner.addresses[0][1] if runner.addresses else settings.port
        return RunningHttp(runner, settings.host, int(port), tls is not None)


@hookimpl
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    exposers.add(PrometheusHttpExposer.section, PrometheusHttpExposer())
