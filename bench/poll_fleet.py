"""Benchmark: polling a large simulated fleet, against a bare pymodbus loop in the same run.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/poll_fleet.py --units 1000 --intervals 4

1. Starts ``c12exporter simulate`` with N units in a separate process (the units'
   side runs on the other core).
2. Baseline: a bare pymodbus loop doing the same requests per unit (one read per
   register block over a persistent connection, no decoding), all units once,
   at the same concurrency; CPU seconds per unit-poll of this process.
3. The exporter's poller (decode, checks, Reading, store) on the same fleet for a
   few intervals: polls/s, CPU per poll, CPU share of one core at that interval.
4. ``/metrics`` render time for the whole fleet (generate_latest), and resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry, generate_latest
from pymodbus.client import AsyncModbusTcpClient
from simulated import start_simulator  # bench/simulated.py, beside this script

from c12exporter.config import PollConfig, UnitConfig
from c12exporter.modbus.registermap import C12B_V1, Table
from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.prometheus.collector import FleetCollector
from c12exporter.store import Store


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bare_pymodbus(units: list[UnitConfig], concurrency: int, rounds: int) -> float:
    """CPU seconds per unit-poll for the bare request loop."""
    clients = []
    for unit in units:
        host, port = unit.address.rsplit(":", 1)
        client = AsyncModbusTcpClient(host, port=int(port), timeout=5, retries=0)
        await client.connect()
        clients.append(client)
    limit = asyncio.Semaphore(concurrency)

    async def poll(client: AsyncModbusTcpClient) -> None:
        async with limit:
            for block in C12B_V1.blocks:
                read = (
                    client.read_input_registers
                    if block.table is Table.INPUT
                    else client.read_holding_registers
                )
                response = await read(block.start, count=block.count, device_id=1)
                assert not response.isError()

    await asyncio.gather(*(poll(c) for c in clients))  # warm up
    started = cpu_seconds()
    for _ in range(rounds):
        await asyncio.gather(*(poll(c) for c in clients))
    per_poll = (cpu_seconds() - started) / (rounds * len(clients))
    for client in clients:
        client.close()
    return per_poll


async def exporter_polls(
    units: list[UnitConfig], interval: float, intervals: int, concurrency: int
) -> tuple[Poller, float, float, int, float]:
    plugins = load_plugins()
    poll = PollConfig(interval_s=interval, timeout_s=min(2.0, interval), concurrency=concurrency)
    store = Store(tuple(units), poll.staleness_limit_s)
    poller = Poller(tuple(units), plugins, store, poll)
    poller.start()
    await asyncio.sleep(interval * 1.5)  # connections open, identification read
    polls_before = sum(u.polls_total for u in store)
    cpu_before, wall_before = cpu_seconds(), time.monotonic()
    await asyncio.sleep(interval * intervals)
    cpu = cpu_seconds() - cpu_before
    wall = time.monotonic() - wall_before
    polls = sum(u.polls_total for u in store) - polls_before
    failed = sum(sum(u.errors_total.values()) for u in store)
    return poller, cpu, wall, polls, failed  # still polling: the renders read fresh units


def render_times(store: Store, runs: int, one_unit: bool = False) -> tuple[float, int]:
    registry = CollectorRegistry(auto_describe=False)
    first = next(iter(store))
    registry.register(FleetCollector(store, select=(lambda u: u is first) if one_unit else None))
    times = []
    body = b""
    for _ in range(runs):
        started = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - started)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return statistics.median(times), series


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        units_file = Path(tmp) / "sim-units.yml"
        proc = start_simulator(units_file, "--units", str(args.units), "--speed", "1")
        data = yaml.safe_load(units_file.read_text())
        units = [UnitConfig(u["name"], u["address"]) for u in data["units"]]
        try:
            baseline = await bare_pymodbus(units, args.concurrency, rounds=3)
            poller, cpu, wall, polls, failed = await exporter_polls(
                units, args.interval, args.intervals, args.concurrency
            )
            store = poller.store
            # One unit first: the fleet's renders hold the loop for seconds, and its units
            # go stale meanwhile.
            render_one, series_one = render_times(store, runs=50, one_unit=True)
            render, series = render_times(store, runs=5)
            await poller.stop()
        finally:
            proc.terminate()
            proc.wait()
    up = sum(1 for u in store if store.fresh_reading(u, time.time() - args.interval) is not None)
    per_poll = cpu / max(polls, 1)
    print(f"## Polling {args.units} simulated units every {args.interval:g} s\n")
    print(f"Command: `python bench/poll_fleet.py --units {args.units} "
          f"--interval {args.interval:g} --intervals {args.intervals}` "
          f"on {os.cpu_count()} cores, Python {sys.version.split()[0]}.\n")  # fmt: skip
    print("| figure | value |")
    print("|---|---|")
    print(f"| polls measured (over {wall:.1f} s) | {polls} ({polls / wall:.0f} polls/s; "
          f"{failed} failed, {up}/{args.units} units fresh at the end) |")  # fmt: skip
    print(f"| baseline: bare pymodbus loop, CPU per unit-poll (same requests) | "
          f"{baseline * 1e3:.3f} ms |")  # fmt: skip
    print(f"| exporter poller, CPU per unit-poll | {per_poll * 1e3:.3f} ms |")
    print(f"| ratio exporter / bare loop | {per_poll / baseline:.2f} |")
    print(f"| CPU share of one core at this interval | {cpu / wall:.0%} |")
    print(f"| `/metrics` render, whole fleet (median of 5) | {render * 1e3:.0f} ms "
          f"for {series} series |")  # fmt: skip
    print(f"| `/probe` render, one unit (median of 50) | {render_one * 1e3:.1f} ms "
          f"for {series_one} series |")  # fmt: skip
    print(f"| resident memory of the exporter process | {rss_mib():.0f} MiB |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--intervals", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=256)
    asyncio.run(main(parser.parse_args()))
