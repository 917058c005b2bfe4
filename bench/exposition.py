"""Benchmark: ``/metrics`` for a large fleet, generate_latest against the cached exposition.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/exposition.py --units 1000

1. Builds N simulated units in this process (the simulator's physics, its default
   scenario and models; no sockets) and decodes each one's registers into a Reading
   as a poll does, recorded in a store.
2. Baseline, in the same run: prometheus-client's ``generate_latest`` over
   FleetCollector, then gzip of that body at zlib level 6 (what aiohttp and gzip use).
3. The cached exposition (c12exporter.prometheus.exposition): a scrape assembled from
   pieces rendered once per reading, plain and gzip.
4. The cost moved to the poll side: rendering every unit's pieces once per reading.

Each scrape figure is the median of ``--repetitions`` runs; every body is checked
(the gzip one decompressed) against the baseline's samples.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import sys
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from c12exporter.config import UnitConfig
from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
from c12exporter.prometheus.collector import FleetCollector
from c12exporter.prometheus.exposition import CachedExposition
from c12exporter.reading import Identity, build_reading
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store


def simulated_store(units: int) -> Store:
    """``units`` units of the simulator's default fleet, each with one fresh reading."""
    fleet = Fleet.build(units, seed=1)
    configs = tuple(
        UnitConfig(u.name, f"127.0.0.1:{20000 + i}", labels={"rack": f"R{i % 40:02d}"})
        for i, u in enumerate(fleet.units)
    )
    store = Store(configs, staleness_s=3600)
    now = time.time()
    for unit in fleet.units:
        physics = unit.physics
        physics.advance(physics.time_s + 60)  # a minute of the scenario's loads
        values = {
            **MEASUREMENTS.decode(MEASUREMENTS.encode(physics.measurements())),
            **SETTINGS.decode(SETTINGS.encode(physics.settings())),
        }
        identity = Identity("StageSmarts", unit.model.name, unit.firmware, unit.serial)
        reading = build_reading(unit.name, identity, unit.model, now, values)
        store.record_success(unit.name, reading, 0.01)
    return store


def median_s(run: Callable[[], bytes], repetitions: int) -> tuple[float, bytes]:
    times, body = [], b""
    for _ in range(repetitions):
        started = time.perf_counter()
        body = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), body


def sample_lines(text: bytes) -> list[bytes]:
    return sorted(line for line in text.splitlines() if line and not line.startswith(b"#"))


def main(args: argparse.Namespace) -> None:
    store = simulated_store(args.units)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))

    cached = CachedExposition(store)  # subscribed after the polls: its cache is empty
    started = time.perf_counter()
    cached.render()  # renders every unit's pieces, as the listener does once per reading
    render_all = time.perf_counter() - started

    reps = args.repetitions
    base_text_s, base_text = median_s(lambda: generate_latest(registry), reps)
    base_gzip_s, base_gzip = median_s(lambda: gzip.compress(generate_latest(registry), 6), reps)
    new_text_s, new_text = median_s(cached.render, reps)
    new_gzip_s, new_gzip = median_s(cached.render_gzip, reps)

    if not (sample_lines(base_text) == sample_lines(new_text) == sample_lines(
        gzip.decompress(new_gzip)
    )):  # fmt: skip
        raise SystemExit("the cached exposition differs from generate_latest's")
    series = len(sample_lines(new_text))

    print(f"## `/metrics` for {args.units} simulated units\n")
    print(f"Command: `python bench/exposition.py --units {args.units} "
          f"--repetitions {reps}` on {os.cpu_count()} cores, "
          f"Python {sys.version.split()[0]}; median of {reps}.\n")  # fmt: skip
    print(f"{series} series, {series / args.units:.1f} per unit; "
          f"text body {len(new_text) / 1e6:.2f} MB.\n")  # fmt: skip
    print("| scrape | generate_latest (baseline) | cached exposition | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| plain text | {base_text_s * 1e3:.0f} ms | {new_text_s * 1e3:.1f} ms "
          f"| {base_text_s / new_text_s:.1f}x |")  # fmt: skip
    print(f"| gzip (level 6) | {base_gzip_s * 1e3:.0f} ms | {new_gzip_s * 1e3:.1f} ms "
          f"| {base_gzip_s / new_gzip_s:.1f}x |")  # fmt: skip
    print(f"| gzip body size | {len(base_gzip) / 1e6:.2f} MB | {len(new_gzip) / 1e6:.2f} MB "
          f"| {len(new_gzip) / len(base_gzip):.2f}x the size |")  # fmt: skip
    print()
    print(f"First scrape with an empty cache (every unit's pieces rendered, as each recorded "
          f"poll does for its own unit): {render_all * 1e3:.0f} ms, "
          f"{render_all / args.units * 1e3:.2f} ms per unit "
          f"({render_all / base_gzip_s:.2f}x one baseline gzip scrape).")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=5)
    main(parser.parse_args())
