"""The HTTP side: ``/metrics`` for the fleet, ``/probe?target=`` for one unit, a landing page."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .. import __version__
from ..addresses import split_host_port
from ..poller import Poller
from ..store import Store, UnitState
from .collector import ExporterCollector, FleetCollector

STORE_KEY = web.AppKey("store", Store)
POLLER_KEY = web.AppKey("poller", Poller)
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)


def make_app(
    store: Store, poller: Poller, middlewares: Sequence[Middleware] = ()
) -> web.Application:
    app = web.Application(middlewares=list(middlewares))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))
    registry.register(ExporterCollector())
    app[STORE_KEY] = store
    app[POLLER_KEY] = poller
    app[REGISTRY_KEY] = registry
    app.router.add_get("/", landing_page)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/probe", probe)
    app.router.add_get("/sd", service_discovery)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", healthy)
    return app


async def _render(registry: CollectorRegistry) -> web.Response:
    # Rendering a large fleet takes a while; keep the poll loop running meanwhile.
    body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def metrics(request: web.Request) -> web.Response:
    return await _render(request.app[REGISTRY_KEY])


async def probe(request: web.Request) -> web.Response:
    """Read one unit now and return only its metrics: a configured unit by name or
    address, or any other ``host:port`` (then ``pdu`` is the address)."""
    store = request.app[STORE_KEY]
    poller = request.app[POLLER_KEY]
    target = request.query.get("target", "").strip()
    if not target:
        raise web.HTTPBadRequest(text="missing ?target=: give a unit's name or host:port\n")
    unit = _find(store, target)
    registry = CollectorRegistry(auto_describe=False)
    if unit is not None:
        await poller.poll_unit(unit.config.name)
        registry.register(FleetCollector(store, select=lambda u: u is unit))
    else:
        try:
            split_host_port(target, default_port=0)
        except ValueError as error:
            raise web.HTTPBadRequest(
                text=f"target {target!r} is neither a configured unit nor host:port: {error}\n"
            ) from None
        registry.register(FleetCollector(await poller.probe_address(target)))
    return await _render(registry)


async def service_discovery(request: web.Request) -> web.Response:
    """Prometheus ``http_sd_configs``: one target per configured unit, for scraping each
    unit through ``/probe`` (relabel ``__address__`` to ``__param_target``). The target
    is the unit's name, so ``/probe`` reads it with its configured model and phases."""
    groups = [
        {"targets": [unit.config.name],
         "labels": {"__meta_c12_address": unit.config.address, **unit.config.labels}}
        for unit in request.app[STORE_KEY]
    ]  # fmt: skip
    return web.json_response(groups)


def _find(store: Store, target: str) -> UnitState | None:
    for unit in store:
        if target in (unit.config.name, unit.config.address):
            return unit
    return None


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def landing_page(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    now = time.time()
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
        rows.append(
            f"<tr><td>{name}</td><td>{html.escape(unit.config.address)}</td>"
            f'<td class="{status}">{status}</td><td>{detail}</td>'
            f'<td><a href="probe?target={html.escape(unit.config.name)}">probe</a></td></tr>'
        )
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>c12exporter</title>
<style>body{{font-family:sans-serif}} td,th{{padding:2px 8px;text-align:left}}
.up{{color:#070}} .down{{color:#b00}}</style></head>
<body><h1>c12exporter {html.escape(__version__)}</h1>
<p>Monitoring for StageSmarts C12B power distribution units.
<a href="metrics">/metrics</a> serves every unit from the latest background poll;
<code>/probe?target=NAME</code> reads one unit now and serves only it;
<a href="sd">/sd</a> lists the units for Prometheus http_sd.</p>
<table><tr><th>unit</th><th>address</th><th>state</th><th>detail</th><th></th></tr>
{"".join(rows)}
</table></body></html>
"""
    return web.Response(text=page, content_type="text/html")
