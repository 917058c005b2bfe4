"""Benchmark: ``/metrics`` for a large fleet, generate_latest against the exposition
rendered at scrape time, in process and over HTTP from an exporter that is polling.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/exposition.py --units 1000

In process:

1. Builds N simulated units (the simulator's physics, its default scenario and models;
   no sockets) and decodes each one's registers into a Reading as a poll does, twice,
   5 s of the scenario apart, recorded in a store.
2. Baseline, in the same run: prometheus-client's ``generate_latest`` over
   FleetCollector, then gzip of that body at zlib level 6 (what aiohttp and gzip use).
3. The exposition (c12exporter.prometheus.exposition): a scrape after every unit has a
   new reading (each unit rendered again), a scrape with nothing new, plain and gzip;
   unit renders counted.

Over HTTP (skipped with ``--no-http``): ``c12exporter simulate`` serves the fleet from
another process, ``c12exporter serve`` polls every unit every 5 s; once all are up,
``/metrics`` is scraped with gzip every 15 s on a fixed schedule as Prometheus scrapes
(``--scrapes`` times after two that show the exporter the schedule) and once plain. Each
gzip body is decompressed and gzipped whole at level 6 to compare sizes; the units whose
reading changed since the previous scrape are counted from their poll timestamps.

In process every body is checked byte for byte against generate_latest's; over HTTP each
gzip body is decompressed with its CRC-32 and length checked, and every unit must be up
in it.

``--against DIR`` scrapes the exporter of another checkout (``git worktree add DIR
COMMIT``) the same way after this one's, ``--rounds`` times, for a before and after
measured in the same run, at the same load.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import gzip
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from simulated import start_simulator  # bench/simulated.py, beside this script

from c12exporter.config import UnitConfig
from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
from c12exporter.prometheus.collector import FleetCollector
from c12exporter.prometheus.exposition import GZIP_LEVEL, CachedExposition
from c12exporter.reading import Identity, Reading, build_reading
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store


def simulated_readings(
    units: int, turns: int = 2
) -> tuple[tuple[UnitConfig, ...], list[list[Reading]]]:
    """``units`` units of the simulator's default fleet and ``turns`` readings of each: a
    minute into the scenario, then every 5 s."""
    fleet = Fleet.build(units, seed=1)
    configs = tuple(
        UnitConfig(u.name, f"127.0.0.1:{20000 + i}", labels={"rack": f"R{i % 40:02d}"})
        for i, u in enumerate(fleet.units)
    )
    now = time.time()
    readings: list[list[Reading]] = [[] for _ in range(turns)]
    for unit in fleet.units:
        physics = unit.physics
        identity = Identity("StageSmarts", unit.model.name, unit.firmware, unit.serial)
        for i in range(turns):
            seconds = 60 if i == 0 else 5
            physics.advance(physics.time_s + seconds)
            values = {
                **MEASUREMENTS.decode(MEASUREMENTS.encode(physics.measurements())),
                **SETTINGS.decode(SETTINGS.encode(physics.settings())),
            }
            readings[i].append(build_reading(unit.name, identity, unit.model, now, values))
    return configs, readings


def simulated_store(units: int) -> Store:
    """``units`` units of the simulator's default fleet, each with one fresh reading."""
    configs, readings = simulated_readings(units, turns=1)
    store = Store(configs, staleness_s=3600)
    for reading in readings[0]:
        store.record_success(reading.unit, reading, 0.01)
    return store


def median_s(
    run: Callable[[], bytes], repetitions: int, before: Callable[[], None]
) -> tuple[float, bytes]:
    times, body = [], b""
    for _ in range(repetitions):
        before()
        started = time.perf_counter()
        body = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), body


def in_process(units: int, reps: int) -> None:
    configs, readings = simulated_readings(units)
    store = Store(configs, staleness_s=3600)
    gc.collect()
    rss_before = rss_mib(os.getpid())
    exposition = CachedExposition(store)
    for reading in readings[0]:
        store.record_success(reading.unit, reading, 0.01)
    renders_at_polls = exposition.renders
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))

    started = time.perf_counter()
    exposition.render()  # the first scrape: every unit's plan built
    first_s = time.perf_counter() - started
    turn = [1]

    def new_readings() -> None:  # every unit polled again since the last scrape
        now = time.time()
        for reading in readings[turn[0] % 2]:
            store.record_success(reading.unit, dataclasses.replace(reading, taken_at=now), 0.01)
        turn[0] += 1

    def nothing() -> None:
        pass

    new_readings()
    exposition.render_gzip()  # every unit rendered through its plan, before any baseline
    gc.collect()
    cache_mib = rss_mib(os.getpid()) - rss_before
    renders0 = exposition.renders
    base_text_s, _ = median_s(lambda: generate_latest(registry), reps, new_readings)
    base_gzip_s, base_gzip = median_s(
        lambda: gzip.compress(generate_latest(registry), 6), reps, nothing
    )
    new_text_s, new_text = median_s(exposition.render, reps, new_readings)
    if new_text != generate_latest(registry):
        raise SystemExit("the exposition differs from generate_latest's")
    new_gzip_s, new_gzip = median_s(exposition.render_gzip, reps, new_readings)
    if gzip.decompress(new_gzip) != generate_latest(registry):
        raise SystemExit("the gzip exposition differs from generate_latest's")
    renders_per_scrape = (exposition.renders - renders0) / (2 * reps)
    renders0 = exposition.renders
    same_text_s, _ = median_s(exposition.render, reps, nothing)
    same_gzip_s, _ = median_s(exposition.render_gzip, reps, nothing)
    renders_unchanged = exposition.renders - renders0
    whole6 = len(gzip.compress(new_text, 6))
    series = sum(1 for line in new_text.splitlines() if line and not line.startswith(b"#"))

    print(f"## `/metrics` for {units} simulated units\n")
    print(f"Command: `python bench/exposition.py --units {units} --repetitions {reps}` on "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; load average "
          f"{os.getloadavg()[0]:.2f} after the in-process part; median of {reps}.\n")  # fmt: skip
    print(
        f"{series} series, {series / units:.1f} per unit; text body {len(new_text) / 1e6:.2f} MB.\n"
    )
    print("In process, every unit with a new reading before each scrape (so each is rendered "
          "again), and with nothing new:\n")  # fmt: skip
    print("| scrape | generate_latest (baseline) | exposition | ratio baseline / exposition |")
    print("|---|---:|---:|---:|")
    print(f"| plain text, every unit new | {base_text_s * 1e3:.0f} ms | {new_text_s * 1e3:.1f} ms "
          f"| {base_text_s / new_text_s:.1f} |")  # fmt: skip
    print(
        f"| gzip, every unit new | {base_gzip_s * 1e3:.0f} ms (level 6) | "
        f"{new_gzip_s * 1e3:.1f} ms (level {GZIP_LEVEL}) | {base_gzip_s / new_gzip_s:.1f} |"
    )
    print(f"| plain text, nothing new | {base_text_s * 1e3:.0f} ms | {same_text_s * 1e3:.1f} ms "
          f"| {base_text_s / same_text_s:.1f} |")  # fmt: skip
    print(f"| gzip, nothing new | {base_gzip_s * 1e3:.0f} ms | {same_gzip_s * 1e3:.1f} ms "
          f"| {base_gzip_s / same_gzip_s:.1f} |")  # fmt: skip
    print(f"| gzip body | {len(base_gzip) / 1e6:.3f} MB | {len(new_gzip) / 1e6:.3f} MB "
          f"| {len(new_gzip) / whole6:.2f} x the whole-body level-6 gzip |")  # fmt: skip
    print()
    print(
        f"Unit renders: {renders_at_polls} while the first readings were recorded, "
        f"{renders_per_scrape:.0f} per scrape after every unit's new reading "
        f"(each at most once), {renders_unchanged} in {2 * reps} scrapes with nothing new. "
        f"The process's resident memory grew by {cache_mib:.0f} MiB from before the "
        f"exposition was made to after two scrapes (before the baseline ran). The first "
        f"scrape, which builds "
        f"every unit's plan through the collector: {first_s * 1e3:.0f} ms.\n"
    )


def traced(units: int) -> None:
    """What the exposition keeps between scrapes, as tracemalloc counts it: readings
    recorded first, then the exposition made and scraped (gzip) after three rounds of new
    readings."""
    configs, readings = simulated_readings(units)
    store = Store(configs, staleness_s=3600)
    for reading in readings[0]:
        store.record_success(reading.unit, reading, 0.01)
    gc.collect()
    tracemalloc.start()
    exposition = CachedExposition(store)
    exposition.render_gzip()
    for turn in range(1, 4):
        now = time.time()
        for reading in readings[turn % 2]:
            store.record_success(reading.unit, dataclasses.replace(reading, taken_at=now), 0.01)
        exposition.render_gzip()
    gc.collect()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"Kept by the exposition between scrapes (tracemalloc, after four gzip scrapes of "
          f"{units} units; the readings recorded before it started are not counted): "
          f"{kept / 2**20:.1f} MiB.\n")  # fmt: skip


# ---------------------------------------------------------------------- over HTTP


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, gzipped: bool) -> tuple[float, bytes]:
    """(seconds to the last byte, body as sent) of one ``/metrics`` scrape."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Accept-Encoding": "gzip"} if gzipped else {}
    started = time.perf_counter()
    connection.request("GET", "/metrics", headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        raise SystemExit(f"/metrics answered {response.status}")
    if gzipped != (response.getheader("Content-Encoding") == "gzip"):
        raise SystemExit("/metrics: unexpected Content-Encoding")
    return elapsed, body


def last_polls(text: bytes) -> dict[bytes, bytes]:
    prefix = b"c12_last_poll_success_timestamp_seconds{"
    return {
        line.rsplit(b" ", 1)[0]: line.rsplit(b" ", 1)[1]
        for line in text.splitlines()
        if line.startswith(prefix)
    }


def unit_renders(text: bytes) -> dict[str, float]:
    """``c12_metrics_unit_renders_total`` by ``when`` (none from an exporter without it)."""
    prefix = b'c12_metrics_unit_renders_total{when="'
    return {
        line[len(prefix) :].split(b'"')[0].decode(): float(line.rsplit(b" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


WARM_UP = 2
"""Scrapes over HTTP before those measured: with the first, three arrivals on a schedule."""


def over_http(units: int, scrapes: int, interval: float, checkout: Path | None = None) -> None:
    """The scrapes over HTTP, from this checkout's exporter or ``checkout``'s."""
    with tempfile.TemporaryDirectory() as tmp:
        units_file = Path(tmp) / "sim-units.yml"
        sim = start_simulator(units_file, "--units", str(units), "--speed", "1")
        port = free_port()
        config = Path(tmp) / "c12.yml"
        config.write_text(yaml.safe_dump({
            "poll": {"interval": "5s", "timeout": "2s"},
            "units_files": [str(units_file)],
        }))  # fmt: skip
        log = (Path(tmp) / "exporter.log").open("wb")
        exporter = subprocess.Popen(
            [sys.executable, "-m", "c12exporter.cli", "serve", "--config.file", str(config),
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=log, start_new_session=True, cwd=checkout,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            while True:
                time.sleep(2)
                try:
                    _, text = get(port, False)
                    if text.count(b"c12_up{") == units and b" 0.0\n" not in b"".join(
                        line + b"\n" for line in text.splitlines() if line.startswith(b"c12_up{")
                    ):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(
                        "not every unit came up:\n"
                        + (Path(tmp) / "exporter.log").read_text()[-2000:]
                    )
            # Scrapes on a fixed schedule, as Prometheus makes them; the first WARM_UP
            # show the exporter the schedule (it renders ahead of the ones after).
            load = os.getloadavg()[0]
            start = time.monotonic()
            previous = last_polls(get(port, False)[1])
            rows = []
            for k in range(1, WARM_UP + scrapes + 1):
                time.sleep(max(0.0, start + k * interval - time.monotonic()))
                seconds, body = get(port, True)
                text = gzip.decompress(body)  # checks the CRC-32 and the length
                rendered = unit_renders(text)
                if k <= WARM_UP:
                    previous, previous_rendered = last_polls(text), rendered
                    continue
                up = [line for line in text.splitlines() if line.startswith(b"c12_up{")]
                if len(up) != units or not all(line.endswith(b"} 1.0") for line in up):
                    raise SystemExit("a gzip scrape did not have every unit up")
                polls = last_polls(text)
                changed = sum(1 for k, v in polls.items() if previous.get(k) != v)
                previous = polls
                whole6 = len(gzip.compress(text, 6))
                renders = {when: n - previous_rendered.get(when, 0) for when, n in rendered.items()}
                previous_rendered = rendered
                rows.append((seconds, len(body), whole6, changed, renders))
            time.sleep(max(0.0, start + (WARM_UP + scrapes + 1) * interval - time.monotonic()))
            plain_s, plain = get(port, False)
            rss = rss_mib(exporter.pid)
        finally:
            exporter.terminate()
            exporter.wait()
            log.close()
            sim.terminate()
            sim.wait()
    code = f"the exporter of {checkout}" if checkout else "`c12exporter serve`"
    print(f"Over HTTP: {code} polling {units} simulated units (the simulator in "
          f"another process) every 5 s, scraped with gzip every {interval:g} s on a fixed "
          f"schedule (after {WARM_UP} not measured); load average {load:.2f} when the "
          f"scrapes began.\n")  # fmt: skip
    print("| scrape | units with a new reading | rendered ahead | rendered while it waited "
          "| answered in | gzip body | whole-body level-6 gzip of the same text "
          "| ratio |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, (seconds, size, whole6, changed, renders) in enumerate(rows, 1):
        ahead, waited = (f"{renders[w]:.0f}" if w in renders else "-" for w in ("ahead", "scrape"))
        print(f"| {i} | {changed} | {ahead} | {waited} | {seconds * 1e3:.0f} ms | "
              f"{size / 1e6:.3f} MB | {whole6 / 1e6:.3f} MB | {size / whole6:.2f} |")  # fmt: skip
    times = sorted(r[0] for r in rows)
    print()
    print(f"Gzip scrapes: median {statistics.median(times) * 1e3:.0f} ms, slowest "
          f"{times[-1] * 1e3:.0f} ms. A plain-text scrape after them: {plain_s * 1e3:.0f} ms "
          f"for {len(plain) / 1e6:.2f} MB. Exporter resident memory after the scrapes: "
          f"{rss:.0f} MiB.")  # fmt: skip


def main(args: argparse.Namespace) -> None:
    if args.in_process:
        in_process(args.units, args.repetitions)
        traced(args.units)
    if args.http:
        for _ in range(args.rounds):
            over_http(args.units, args.scrapes, args.interval)
            if args.against:
                print()
                over_http(args.units, args.scrapes, args.interval, args.against)
                print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--scrapes", type=int, default=6, help="gzip scrapes over HTTP")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between scrapes")
    parser.add_argument("--http", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--against",
        type=Path,
        help="a checkout of another commit (git worktree add DIR COMMIT): its exporter is "
        "scraped the same way right after this one's, for figures of the same run",
    )
    parser.add_argument("--rounds", type=int, default=1, help="over HTTP, one after the other")
    parser.add_argument(
        "--in-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="--no-in-process: only over HTTP (e.g. against another version's exporter)",
    )
    main(parser.parse_args())
