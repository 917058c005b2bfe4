"""Prometheus routes: ``/metrics`` for the fleet, ``/probe?target=`` for one unit, ``/sd``."""

from __future__ import annotations

import asyncio
import concurrent.futures

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..addresses import split_host_port
from ..exposer import ExposerContext
from ..history.metrics import HistoryCollector
from ..poller import Poller
from ..routes import Routes
from ..store import Store, UnitState
from ..telemetry import Telemetry
from .collector import ExporterCollector, FleetCollector
from .exposition import CachedExposition, accepts_gzip

STORE_KEY = web.AppKey("store", Store)
POLLER_KEY = web.AppKey("poller", Poller)
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)
TELEMETRY_KEY = web.AppKey("telemetry", Telemetry)
EXPOSITION_KEY = web.AppKey("exposition", CachedExposition)
CONTEXT_KEY = web.AppKey("context", ExposerContext)
RENDER_POOL = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="metrics-render")
"""Rendering has threads of its own: the default pool also resolves names, and a flood
there (e.g. of /probe targets) must not hold up /metrics, nor rendering hold it up."""


def add_routes(routes: Routes, context: ExposerContext) -> None:
    """``/metrics``, ``/probe`` and ``/sd`` on the shared web server."""
    registry = CollectorRegistry(auto_describe=False)  # the exporter's own metrics
    registry.register(ExporterCollector())
    registry.register(context.telemetry.registry)
    if context.history is not None:
        registry.register(HistoryCollector(context.history))
    exposition = CachedExposition(context.store, [registry], forecast=context.forecast)
    routes.state(EXPOSITION_KEY, exposition)
    routes.state(CONTEXT_KEY, context)
    routes.state(STORE_KEY, context.store)
    routes.state(POLLER_KEY, context.poller)
    routes.state(REGISTRY_KEY, registry)
    routes.state(TELEMETRY_KEY, context.telemetry)
    routes.add_get(
        "/metrics",
        metrics,
        title="/metrics",
        description="every unit from the latest background poll, and the exporter itself",
    )
    routes.add_get(
        "/probe",
        probe,
        description="<code>/probe?target=NAME</code> reads one unit now and serves only it",
    )
    routes.add_get(
        "/sd", service_discovery, title="/sd", description="the units for Prometheus http_sd"
    )


async def _render(registry: CollectorRegistry) -> web.Response:
    # Rendering a large fleet takes a while; keep the poll loop running meanwhile.
    body = await asyncio.get_running_loop().run_in_executor(RENDER_POOL, generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def metrics(request: web.Request) -> web.Response:
    """The whole fleet from cached pieces; gzip when the scraper accepts it (Prometheus
    does), assembled from pieces compressed once per reading."""
    exposition = request.app[EXPOSITION_KEY]
    headers = {"Content-Type": CONTENT_TYPE_LATEST, "Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("Accept-Encoding", "")):
        render = exposition.render_gzip
        headers["Content-Encoding"] = "gzip"
    else:
        render = exposition.render
    # Pieces of units polled since they were cached are rendered here: off the poll loop.
    body = await asyncio.get_running_loop().run_in_executor(RENDER_POOL, render)
    return web.Response(body=body, headers=headers)


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
        forecast = request.app[CONTEXT_KEY].forecast
        registry.register(FleetCollector(store, select=lambda u: u is unit, forecast=forecast))
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
