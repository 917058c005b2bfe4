"""Benchmark: the fleet console at 200 and 1,000 units.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/console.py --units 200 1000 --repetitions 5

For each fleet size, in one run:

1. N units of the simulator's default fleet, one fresh reading each, in a store (as
   ``bench/exposition.py`` builds them; no sockets to the units).
2. Server CPU per update: one poll round of the whole fleet as the console's event hub
   sends it (every unit dirty, one connected client: rows, totals and the selected
   unit's panes, JSON-encoded), process CPU time, median of the repetitions. Baseline in
   the same run: one ``/metrics`` scrape of the same store from the cached exposition
   (pieces already rendered), and rendering every unit's pieces once (what a poll round
   costs the exposition).
3. Time to first full render: the console served by aiohttp from this process, opened in
   Debian's headless chromium; from navigation until the page has applied the event
   stream's first snapshot (``#live`` says live). Baseline in the same run and browser:
   loading ``/metrics`` as a page (the exporter's plain text), until its load event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exposition import simulated_store

from c12exporter.config import Config
from c12exporter.console.handlers import Client, Hub
from c12exporter.exposer import ExposerContext
from c12exporter.prometheus.exposition import CachedExposition
from c12exporter.routes import Routes
from c12exporter.store import Store
from c12exporter.web.server import ROUTES_KEY


def cpu_median(run: Callable[[], Any], repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        started = time.process_time()
        run()
        times.append(time.process_time() - started)
    return statistics.median(times)


def update_cost(store: Store, repetitions: int) -> tuple[float, int]:
    """CPU seconds for one update event covering every unit; its size in bytes."""

    async def measure() -> tuple[float, int]:
        hub = Hub(store)
        client = Client(next(iter(store)).config.name)
        client.queue = asyncio.Queue()  # unbounded: keep every event for its size
        hub.clients.add(client)
        names = {unit.config.name for unit in store}
        now = time.time()
        cost = cpu_median(lambda: hub.flush(set(names), now), repetitions)
        event = client.queue.get_nowait()
        return cost, len((event or "").encode())

    return asyncio.run(measure())


class Server:
    """The console and /metrics served from this process, in a thread of their own."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        context = ExposerContext(
            store=self.store, poller=None, telemetry=None, state_dir=Path("."),  # type: ignore[arg-type]
            hook=None, config=Config(units=()), reload=None,  # type: ignore[arg-type]
        )  # fmt: skip
        routes = Routes()
        from c12exporter.console.handlers import add_routes

        add_routes(routes, context)
        exposition = CachedExposition(self.store)

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=exposition.render(), content_type="text/plain")

        routes.add_get("/metrics", metrics, title="/metrics")
        app = web.Application()
        app[ROUTES_KEY] = routes
        for route in routes.values():
            app.router.add_route(route.method, route.path, route.handler)
        app.on_shutdown.extend(routes.shutdown_callbacks)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def browser(profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def render_times(driver: webdriver.Chrome, port: int, repetitions: int) -> tuple[float, float]:
    """Median seconds: console to its first live snapshot; /metrics to its load event."""
    base = f"http://127.0.0.1:{port}"
    console, metrics = [], []
    for _ in range(repetitions):
        driver.get("about:blank")
        started = time.perf_counter()
        driver.get(base + "/")  # returns at the load event
        while not driver.find_element("id", "live").text.startswith("live"):
            time.sleep(0.005)
        console.append(time.perf_counter() - started)
        driver.get("about:blank")
        started = time.perf_counter()
        driver.get(base + "/metrics")
        metrics.append(time.perf_counter() - started)
    return statistics.median(console), statistics.median(metrics)


def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            for units in args.units:
                store = simulated_store(units)
                exposition = CachedExposition(store)
                render_all = cpu_median(exposition.render, 1)  # every unit's pieces, once
                scrape = cpu_median(exposition.render, args.repetitions)
                update, size = update_cost(store, args.repetitions)
                server = Server(store)
                try:
                    page = len(driver_get_bytes(server.port))
                    console_s, metrics_s = render_times(driver, server.port, args.repetitions)
                finally:
                    server.stop()
                rows.append((units, update, size, scrape, render_all, console_s, metrics_s, page))
        finally:
            driver.quit()
    cpus = os.cpu_count()
    print(f"{cpus} CPUs, Python {sys.version.split()[0]}, median of {args.repetitions}\n")
    print(
        "| units | update event (all units polled): CPU | its size | /metrics scrape "
        "(cached): CPU | ratio | render every unit's pieces: CPU | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for units, update, size, scrape, render_all, *_ in rows:
        print(f"| {units} | {update * 1000:.1f} ms | {size / 1024:.0f} KiB | "
              f"{scrape * 1000:.1f} ms | {update / scrape:.1f}x | {render_all * 1000:.1f} ms | "
              f"{update / render_all:.2f}x |")  # fmt: skip
    print()
    print("| units | page (HTML) | console: first full render | /metrics as a page | ratio |")
    print("|---|---|---|---|---|")
    for units, *_, console_s, metrics_s, page in rows:
        print(
            f"| {units} | {page / 1024:.0f} KiB | {console_s * 1000:.0f} ms | "
            f"{metrics_s * 1000:.0f} ms | {console_s / metrics_s:.2f}x |"
        )


def driver_get_bytes(port: int) -> bytes:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
        return bytes(response.read())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repetitions", type=int, default=5)
    main(parser.parse_args())
