"""Prometheus routes: ``/metrics`` for the fleet, ``/probe?target=`` for one unit, ``/sd``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from ..addresses import split_host_port
from ..catalogue import declared
from ..exposer import ExposerContext
from ..history.metrics import HistoryCollector
from ..poller import Poller
from ..resolve import DEFAULT_RESOLVER, Resolver
from ..routes import Routes
from ..store import Store
from ..telemetry import Telemetry
from .cadence import RenderAhead
from .collector import ExporterCollector, FleetCollector
from .exposition import CachedExposition, accepts_gzip
from .probe_targets import REFUSED, admitted_address, find_unit

STORE_KEY = web.AppKey("store", Store)
POLLER_KEY = web.AppKey("poller", Poller)
REGISTRY_KEY = web.AppKey("registry", CollectorRegistry)
TELEMETRY_KEY = web.AppKey("telemetry", Telemetry)
EXPOSITION_KEY = web.AppKey("exposition", CachedExposition)
RENDER_AHEAD_KEY = web.AppKey("render_ahead", RenderAhead)
CONTEXT_KEY = web.AppKey("context", ExposerContext)
RESOLVER_KEY = web.AppKey("resolver", Resolver)
RENDER_POOL = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="metrics-render")
"""Rendering has threads of its own, so that no flood elsewhere (password checks, probes)
holds up /metrics, nor rendering holds them up. Names resolve on the resolver's own."""

log = logging.getLogger(__name__)


def add_routes(routes: Routes, context: ExposerContext) -> None:
    """``/metrics``, ``/probe`` and ``/sd`` on the shared web server."""
    registry = CollectorRegistry(auto_describe=False)  # the exporter's own metrics
    registry.register(ExporterCollector())
    # prometheus-client's standard process_* and python_* series: the exporter's memory,
    # CPU, open files and garbage collections, as every Python exporter serves them.
    for standard in (ProcessCollector, PlatformCollector, GCCollector):
        standard(registry=registry)  # each registers itself
    registry.register(context.telemetry.registry)
    if context.history is not None:
        registry.register(HistoryCollector(context.history))
    exposition = CachedExposition(
        context.store,
        [registry],
        forecast=context.forecast,
        counted=context.telemetry.counter_of(declared("metrics_unit_renders")),
    )
    routes.state(EXPOSITION_KEY, exposition)
    render_ahead = RenderAhead(exposition, RENDER_POOL)
    routes.state(RENDER_AHEAD_KEY, render_ahead)

    async def stop_rendering_ahead(app: web.Application) -> None:
        render_ahead.cancel()

    routes.on_shutdown(stop_rendering_ahead)
    routes.state(CONTEXT_KEY, context)
    routes.state(STORE_KEY, context.store)
    routes.state(POLLER_KEY, context.poller)
    routes.state(REGISTRY_KEY, registry)
    routes.state(TELEMETRY_KEY, context.telemetry)
    routes.state(CONTEXT_KEY, context)  # its config is the one in force after a reload
    routes.state(RESOLVER_KEY, DEFAULT_RESOLVER)
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
        unit_title="probe",
    )
    routes.add_get(
        "/sd", service_discovery, title="/sd", description="the units for Prometheus http_sd"
    )


async def _render(registry: CollectorRegistry) -> web.Response:
    # Rendering a large fleet takes a while; keep the poll loop running meanwhile.
    body = await asyncio.get_running_loop().run_in_executor(RENDER_POOL, generate_latest, registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def metrics(request: web.Request) -> web.Response:
    """The whole fleet, each unit rendered again only if its reading changed; gzip when
    the scraper accepts it (Prometheus does)."""
    exposition = request.app[EXPOSITION_KEY]
    loop = asyncio.get_running_loop()
    request.app[RENDER_AHEAD_KEY].scraped(loop)
    headers = {"Content-Type": CONTENT_TYPE_LATEST, "Vary": "Accept-Encoding"}
    if accepts_gzip(request.headers.get("Accept-Encoding", "")):
        render = exposition.render_gzip
        headers["Content-Encoding"] = "gzip"
    else:
        render = exposition.render
    # Units polled since their last render (here or just before the scrape was due) are
    # rendered here, off the poll loop.
    body = await loop.run_in_executor(RENDER_POOL, render)
    return web.Response(body=body, headers=headers)


async def probe(request: web.Request) -> web.Response:
    """Read one unit now and return only its metrics: a configured unit by name or
    address, or an address ``probe.allow`` admits (then ``pdu`` is the target). Answers
    within about the poll timeout."""
    store = request.app[STORE_KEY]
    poller = request.app[POLLER_KEY]
    target = request.query.get("target", "").strip()
    if not target:
        raise web.HTTPBadRequest(text="missing ?target=: give a unit's name or host:port\n")
    unit = find_unit(store, target)
    registry = CollectorRegistry(auto_describe=False)
    if unit is not None:
        reader = poller.readers.get(unit.config.name)
        if reader is not None and reader.backing_off:
            # Probes must not undo the backoff: the store already says why it is down.
            log.debug("/probe %s: backing off after a failure, answered from the store", target)
        else:
            await poller.probe_unit(unit.config.name)
        forecast = request.app[CONTEXT_KEY].forecast
        registry.register(FleetCollector(store, select=lambda u: u is unit, forecast=forecast))
        return await _render(registry)
    try:
        split_host_port(target, default_port=0)
    except ValueError:
        raise web.HTTPBadRequest(
            text="target is neither a configured unit nor host:port\n"
        ) from None
    config = request.app[CONTEXT_KEY].config
    address = await admitted_address(
        target, config.probe, request.app[RESOLVER_KEY], config.poll.timeout_s / 2
    )
    if address is None:
        # The log's formatter escapes the target: it is the requester's text.
        log.debug("/probe refused target %s: not a unit, not admitted by probe.allow", target)
        raise web.HTTPForbidden(text=REFUSED)
    registry.register(FleetCollector(await poller.probe_address(target, address)))
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
