"""Benchmark: discovery of a /24 and a /16 of loopback addresses.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/discovery.py --units 50

Simulated units sit on the first host addresses of 127.0.10.0/24 and of 127.11.0.0/16,
all on one port, served by ``c12exporter simulate`` in other processes (the units' side
runs on the other core). Baseline, in the same run: the /24 scanned one address at a
time. Figures for the scanning process: wall time, CPU seconds, the most connections
open at once (its file descriptors, sampled every 10 ms), units found.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from simulated import start_simulator  # bench/simulated.py, beside this script

from c12exporter.discovery.scan import endpoint, scan
from c12exporter.discovery.targets import parse_targets
from c12exporter.plugins import Plugins, load_plugins


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


async def measure(run: Callable[[], Awaitable[int]]) -> tuple[float, float, int, int]:
    """(wall s, CPU s, most descriptors open above the start, units found)."""
    base = open_descriptors()
    peak = base
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, open_descriptors())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    cpu, wall = cpu_seconds(), time.perf_counter()
    found = await run()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    done = True
    await sampler
    return wall, cpu, peak - base, found


async def main(args: argparse.Namespace) -> None:
    plugins = load_plugins()
    with tempfile.TemporaryDirectory() as tmp:
        simulators = [
            start_simulator(
                Path(tmp) / f"units-{seed}.yml",
                "--units",
                str(args.units),
                "--addresses",
                network,
                "--port",
                str(args.port),
                "--seed",
                str(seed),
                "--speed",
                "0",
            )
            for seed, network in enumerate(("127.0.10.0/24", "127.11.0.0/16"), start=1)
        ]
        try:
            await _bench(plugins, args)
        finally:
            for proc in simulators:
                proc.terminate()
                proc.wait()


async def _bench(plugins: Plugins, args: argparse.Namespace) -> None:
    def scanning(network: str, **options: float) -> Callable[[], Awaitable[int]]:
        addresses = [endpoint(h, args.port) for h in parse_targets([network])]

        async def run() -> int:
            findings = await scan(plugins, addresses, **options)  # type: ignore[arg-type]
            return sum(f.is_unit for f in findings)

        return run

    rows = [
        ("/24, one address at a time (baseline)", "127.0.10.0/24",
         {"concurrency": 1, "rate": 0.0}),
        ("/24, defaults (256 at once, 500/s)", "127.0.10.0/24", {}),
        ("/24, 256 at once, no rate limit", "127.0.10.0/24", {"rate": 0.0}),
        ("/16, 256 at once, no rate limit", "127.11.0.0/16", {"rate": 0.0}),
    ]  # fmt: skip
    results = []
    for label, network, options in rows:
        results.append((label, *(await measure(scanning(network, **options)))))
    base_wall = results[0][1]
    print(f"## Discovery (`bench/discovery.py`)\n\nCommand: `python bench/discovery.py "
          f"--units {args.units}` on {os.cpu_count()} cores, Python "
          f"{sys.version.split()[0]}; {args.units} simulated units in each range.\n")  # fmt: skip
    print("| scan | addresses | wall | CPU | connections at once (peak) | found | "
          "wall vs baseline |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (label, wall, cpu, peak, found), (_, network, _) in zip(results, rows, strict=True):
        count = len(parse_targets([network]))
        print(f"| {label} | {count} | {wall:.2f} s | {cpu:.2f} s | {peak} | {found} | "
              f"{wall / base_wall:.3f} |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=50)
    parser.add_argument("--port", type=int, default=15502)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    asyncio.run(main(parser.parse_args()))
