"""Built-in exposer ``web``: the shared web server every exposer adds its routes to.

One listen address, one ``--web.config.file`` (TLS and basic auth) for all routes, and
gzip for every text response where the client accepts it (:mod:`.compress`).
The server itself serves ``/-/healthy``, ``/-/ready``, ``POST /-/reload`` and, unless
a plugin claims ``/``, a landing page with the links the routes ask for (a title in
the introduction, a link per unit: :class:`~c12exporter.routes.Route`), so it links only
what the loaded plugins serve.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import __version__
from ..addresses import split_host_port
from ..catalogue import declared
from ..exposer import Exposer, ExposerContext
from ..plugins import fill, hookimpl
from ..registry import Registry
from ..routes import Routes
from ..settings import ConfigError, only_keys
from .clienterrors import client_error_middleware, quiet_client_errors
from .compress import gzip_middleware
from .connections import LIMIT_KEYS, ConnectionGuard, HttpLimits, connection_cap, start_sites
from .webconfig import WebConfig, basic_auth_middleware, load_web_config

DEFAULT_LISTEN_ADDRESS = ":10120"
"""Default HTTP port 10120: the 9100-9999 exporter port range is fully allocated,
and 10120 is not the default of any exporter we know of."""

SHUTDOWN_TIMEOUT_S = 5.0
"""How long a stopping server waits for requests in progress (e.g. live consoles)."""

CONTEXT_KEY = web.AppKey("context", ExposerContext)
ROUTES_KEY = web.AppKey("routes", Routes)


@dataclass(frozen=True)
class HttpSettings:
    """Where to listen and the web config; equal when nothing changed (the file's
    content is compared through its digest), so a reload keeps the server running."""

    host: str
    port: int
    web_config_file: str | None = None
    web_config_digest: str = ""
    web_config: WebConfig = field(default_factory=WebConfig, compare=False)
    limits: HttpLimits = field(default_factory=HttpLimits)


@dataclass
class RunningHttp:
    runner: web.AppRunner
    host: str
    port: int
    tls: bool

    @property
    def base_url(self) -> str:
        host = self.host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def endpoints(self) -> list[str]:
        return [f"{self.base_url}/metrics", f"{self.base_url}/"]

    @property
    def hints(self) -> list[str]:
        return []

    async def stop(self) -> None:
        await self.runner.cleanup()


class WebServerExposer:
    section = "web"
    shares_listeners = True
    """A new server on the same address takes over the old one's listening socket."""

    def parse_config(self, data: Mapping[str, Any], where: str) -> HttpSettings:
        only_keys(data, {"listen_address", "config_file", *LIMIT_KEYS}, where)
        limits = HttpLimits.parse(data, where)
        address = str(data.get("listen_address", DEFAULT_LISTEN_ADDRESS))
        try:
            host, port = split_host_port(address)
        except ValueError as error:
            raise ConfigError(
                f"{where}.listen_address (or --web.listen-address): {error}"
            ) from None
        config_file = data.get("config_file") or None
        if config_file is not None and not isinstance(config_file, str):
            raise ConfigError(f"{where}.config_file: {config_file!r} must be a file path")
        if config_file is None:
            return HttpSettings(host, port, limits=limits)
        web_config = load_web_config(config_file)
        digest = hashlib.sha256(Path(config_file).read_bytes()).hexdigest()
        return HttpSettings(host, port, config_file, digest, web_config, limits)

    async def start(self, settings: HttpSettings, context: ExposerContext) -> RunningHttp:
        users = settings.web_config.users
        middlewares = [gzip_middleware]  # outermost: compresses the refusals too
        if users:
            middlewares.append(basic_auth_middleware(users))
        middlewares.append(client_error_middleware)
        app = web.Application(middlewares=middlewares)
        quiet_client_errors()
        if settings.web_config.headers:
            app.on_response_prepare.append(response_headers(settings.web_config.headers))
        routes = server_routes()
        fill(context.hook.c12_add_routes, routes, context=context)
        if "GET /" not in routes:
            routes.add_get("/", landing_page)
        app[CONTEXT_KEY] = context
        app[ROUTES_KEY] = routes
        for key, value in routes.states.items():
            app[key] = value
        for route in routes.values():
            app.router.add_route(route.method, route.path, route.handler)
        app.on_shutdown.extend(routes.shutdown_callbacks)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        tls = settings.web_config.ssl_context
        limits = settings.limits
        closed = context.telemetry.counter_of(declared("http_connections_closed"))
        cap = connection_cap(limits.max_connections, len(context.store))
        guard = ConnectionGuard(limits, cap, lambda reason: closed.labels(reason).inc())
        try:
            await start_sites(runner, settings.host, settings.port, guard, tls)
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(
                f"web.listen_address (or --web.listen-address): cannot listen on "
                f"{settings.host}:{settings.port}: {error.strerror or error}; pick a free port"
            ) from None
        port = runner.addresses[0][1] if runner.addresses else settings.port
        return RunningHttp(runner, settings.host, int(port), tls is not None)


def response_headers(
    headers: Mapping[str, str],
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """``http_server_config.headers`` of the web config, on every response."""

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        response.headers.update(headers)

    return add


def server_routes() -> Routes:
    routes = Routes()
    routes.current_plugin = __name__
    routes.add_get("/-/healthy", healthy)
    routes.add_get("/-/ready", healthy)
    routes.add_post("/-/reload", reload)
    return routes


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


def cross_site(request: web.Request) -> str | None:
    """Why a state-changing request is refused as coming from another site, or ``None``.

    A browser names the page a request comes from (``Sec-Fetch-Site``, ``Origin``): a
    form on any web page could otherwise post to this server from an operator's browser.
    A request without either header (curl, a script) is not from a web page."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site {site})"
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return f"request from another origin ({origin}) refused"
    return None


async def reload(request: web.Request) -> web.Response:
    """Reload the config file, as SIGHUP does; 500 with the reason if it is refused,
    403 for a request from another site's page (:func:`cross_site`)."""
    refusal = cross_site(request)
    if refusal is not None:
        return web.Response(status=403, text=f"{refusal}; reload from this server or curl\n")
    # Shielded: a reload that replaces this very server must not be cut short by it.
    error = await asyncio.shield(asyncio.ensure_future(request.app[CONTEXT_KEY].reload()))
    if error is not None:
        return web.Response(status=500, text=f"failed to reload config: {error}\n")
    return web.Response(text="OK\n")


async def landing_page(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    store = context.store
    now = time.time()
    links = " ".join(
        f'<a href="{html.escape(r.path.lstrip("/") or ".")}">{html.escape(r.title or "")}</a> '
        f"{r.description};"
        for r in request.app[ROUTES_KEY].links
    )
    others = " ".join(
        f"{r.description};"
        for r in request.app[ROUTES_KEY].values()
        if r.description and not r.title
    )
    unit_links = request.app[ROUTES_KEY].unit_links
    link_headers = "<th></th>" * len(unit_links)
    rows = []
    for unit in store:
        reading = store.fresh_reading(unit, now)
        name = html.escape(unit.config.name)
        if reading is not None:
            status = "up"
            detail = html.escape(f"{reading.model.name}, serial {reading.identity.serial}")
        else:
            status = "down"
            error = unit.last_error
            detail = html.escape(f"{error.reason}: {error.message}" if error else "not polled yet")
        target = html.escape(urllib.parse.quote(unit.config.name, safe=""))
        row_links = "".join(
            f'<td><a href="{html.escape(r.path.lstrip("/"))}?target={target}">'
            f"{html.escape(r.unit_title or '')}</a></td>"
            for r in unit_links
        )
        rows.append(
            f"<tr><td>{name}</td><td>{html.escape(unit.config.address)}</td>"
            f'<td class="{status}">{status}</td><td>{detail}</td>{row_links}</tr>'
        )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>c12exporter</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;text-align:left}}
.up{{color:#070}} .down{{color:#b00}}</style></head>
<body><h1>c12exporter {html.escape(__version__)}</h1>
<p>Monitoring for StageSmarts C12B power distribution units. {links} {others}</p>
<table><tr><th>unit</th><th>address</th><th>state</th><th>detail</th>{link_headers}</tr>
{"".join(rows)}
</table></body></html>
"""
    return web.Response(text=page, content_type="text/html")


@hookimpl
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    exposers.add(WebServerExposer.section, WebServerExposer())


@hookimpl
def c12_add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web.listen-address",
        dest="web.listen_address",
        metavar="ADDR",
        help=f"address to serve HTTP on (default from config, else {DEFAULT_LISTEN_ADDRESS})",
    )
    parser.add_argument(
        "--web.config.file",
        dest="web.config_file",
        metavar="FILE",
        help="TLS and basic auth, exporter-toolkit format (docs/configuration.md)",
    )
