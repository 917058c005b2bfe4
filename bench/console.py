"""Benchmark: the fleet console at 1,000 units, as a browser meets it.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/console.py --units 1000 --repetitions 3

For each fleet size, in one run:

1. N units of the simulator's default fleet, one reading each, in a store (as
   ``bench/exposition.py`` builds them; no sockets to the units), with a problem board. A
   task re-records every unit each second with currents that moved (up to ±5 %), spread
   over the second, as a poller at a 1 s interval would: every row of the fleet changes
   every second.
2. The console served by aiohttp from this process, with the web server's gzip, opened in
   Debian's headless chromium at laptop size (1280 x 800) and at phone size (390 x 844,
   the CPU slowed 4 times through the DevTools protocol, a phone-class CPU).
3. Per opening (median of the repetitions, each with an empty browser cache): the first
   screen, from navigation until the
   page has applied the stream's first snapshot (the page marks it ``c12-live``) and the
   first contentful paint; the bytes received in the first 5 s (every response body as it
   came over the wire, from the browser's network events); then the live stream's bytes
   per second over the next ``--stream-s`` seconds; the page's DOM nodes.

The reference is the same run's /metrics as a page, a plain text of the same fleet.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exposition import simulated_store

from c12exporter.config import Config
from c12exporter.console.handlers import add_routes
from c12exporter.exposer import ExposerContext
from c12exporter.prometheus.exposition import CachedExposition
from c12exporter.reading import PhaseReading, Reading
from c12exporter.routes import Routes
from c12exporter.store import Store
from c12exporter.web.compress import gzip_middleware
from c12exporter.web.server import ROUTES_KEY

POLL_S = 1.0
LAPTOP = {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
PHONE_CPU_SLOWDOWN = 4
FIRST_S = 5.0


def moved(reading: Reading, rng: random.Random) -> Reading:
    """The reading a poll a second later might bring: currents moved, taken now."""

    def wobble(value: object) -> object:
        return value * rng.uniform(0.95, 1.05) if isinstance(value, float) else value

    phases = tuple(
        PhaseReading(p.phase, {**p.values, "current": wobble(p.values["current"])})
        for p in reading.phases
    )
    channels = tuple(
        c.with_values(channel_current=wobble(c.values["channel_current"])) for c in reading.channels
    )
    return dataclasses.replace(
        reading.with_values(neutral_current=wobble(reading.values["neutral_current"])),
        taken_at=time.time(), phases=phases, channels=channels,
    )  # fmt: skip


class Server:
    """The console and /metrics served from this process, in a thread of their own, with
    every unit polled each second."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(60)

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
        add_routes(routes, context)
        exposition = CachedExposition(self.store)

        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=exposition.render(), content_type="text/plain")

        routes.add_get("/metrics", metrics, title="/metrics")
        app = web.Application(middlewares=[gzip_middleware])
        app[ROUTES_KEY] = routes
        for key, value in routes.states.items():
            app[key] = value
        for route in routes.values():
            app.router.add_route(route.method, route.path, route.handler)
        app.on_shutdown.extend(routes.shutdown_callbacks)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        self.poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        """Every unit once a second, spread over the second as the poller's tasks are."""
        rng = random.Random(1)
        units = list(self.store)
        batches = 50
        size = max(1, len(units) // batches)
        while True:
            for start in range(0, len(units), size):
                for state in units[start : start + size]:
                    if state.reading is not None:
                        self.store.record_success(
                            state.config.name, moved(state.reading, rng), 0.01
                        )
                await asyncio.sleep(POLL_S / batches)

    def stop(self) -> None:
        async def stop() -> None:
            self.poller.cancel()
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def browser(profile: str) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,800"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))


def network(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """The DevTools network events logged since the last call."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"].startswith("Network."):
            events.append(message)
    return events


@dataclasses.dataclass
class Opening:
    first_screen_s: float
    paint_s: float
    first_bytes: int
    stream_bytes_per_s: float
    nodes: int


def open_console(driver: webdriver.Chrome, base: str, stream_s: float) -> Opening:
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})  # a first visit: assets too
    network(driver)
    driver.get(base + "/")
    deadline = time.monotonic() + 60
    while not driver.execute_script("return performance.getEntriesByName('c12-live').length"):
        if time.monotonic() > deadline:
            raise SystemExit("the console did not go live within 60 s")
        time.sleep(0.01)
    live_ms = driver.execute_script("return performance.getEntriesByName('c12-live')[0].startTime")
    paint_ms = driver.execute_script(
        "const p = performance.getEntriesByName('first-contentful-paint'); "
        "return p.length ? p[0].startTime : 0"
    )
    nodes = int(driver.execute_script("return document.getElementsByTagName('*').length"))
    # wait until FIRST_S after navigation, then as long again for the stream
    while driver.execute_script("return performance.now()") < FIRST_S * 1000:
        time.sleep(0.05)
    time.sleep(stream_s)
    events = network(driver)
    sent = [e["params"] for e in events if e["method"] == "Network.requestWillBeSent"]
    started = next(p["timestamp"] for p in sent if p["request"]["url"] == base + "/")
    stream = {
        e["params"]["requestId"] for e in events
        if e["method"] == "Network.requestWillBeSent"
        and "/console/events" in e["params"]["request"]["url"]
    }  # fmt: skip
    first = streamed = 0
    for e in events:
        if e["method"] != "Network.dataReceived":
            continue
        at = e["params"]["timestamp"] - started
        size = int(e["params"]["encodedDataLength"])
        if at <= FIRST_S:
            first += size
        elif e["params"]["requestId"] in stream and at <= FIRST_S + stream_s:
            streamed += size
    return Opening(live_ms / 1000, paint_ms / 1000, first, streamed / stream_s, nodes)


def metrics_page_s(driver: webdriver.Chrome, base: str) -> float:
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(base + "/metrics")  # returns at the load event
    return time.perf_counter() - started


def median(openings: list[Opening], field: str) -> float:
    return float(statistics.median(getattr(o, field) for o in openings))


def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(profile)
        try:
            for units in args.units:
                store = simulated_store(units)
                server = Server(store)
                base = f"http://127.0.0.1:{server.port}"
                try:
                    for name, device, slowdown in (("laptop", LAPTOP, 1), ("phone", PHONE, 4)):
                        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", device)
                        driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate",
                                               {"rate": slowdown})  # fmt: skip
                        openings = [
                            open_console(driver, base, args.stream_s)
                            for _ in range(args.repetitions)
                        ]
                        metrics = statistics.median(
                            metrics_page_s(driver, base) for _ in range(args.repetitions)
                        )
                        rows.append((units, name, openings, metrics))
                    driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": 1})
                finally:
                    server.stop()
        finally:
            driver.quit()
    print(f"median of {args.repetitions}; every unit polled each second; phone: 390 x 844, "
          f"CPU slowed {PHONE_CPU_SLOWDOWN} times\n")  # fmt: skip
    print(
        "| units | screen | first screen live | first paint | received in the first 5 s "
        "| live stream | DOM nodes | /metrics as a page |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for units, name, openings, metrics in rows:
        print(
            f"| {units} | {name} | {median(openings, 'first_screen_s'):.2f} s "
            f"| {median(openings, 'paint_s'):.2f} s "
            f"| {median(openings, 'first_bytes') / 1000:.0f} KB "
            f"| {median(openings, 'stream_bytes_per_s') / 1000:.1f} KB/s "
            f"| {median(openings, 'nodes'):.0f} | {metrics:.2f} s |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[1000])
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--stream-s", type=float, default=20.0,
                        help="seconds of live stream measured after the first 5 s")  # fmt: skip
    main(parser.parse_args())
