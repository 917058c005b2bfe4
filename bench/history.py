"""Benchmark: what the history costs the event loop and the disk per poll round.

Not a test: it prints figures (Markdown) for docs/history.md.

    .venv/bin/python bench/history.py --units 1000 --rounds 5

N units of the simulator's default fleet, one reading each (as ``bench/exposition.py``
builds them; no sockets), recorded in a store the history listens to, with its database
in a temporary directory. For each kind of round, every unit's poll is recorded once:

1. ``baseline``: the first round, every state of every unit is new (28 rows each);
2. ``quiet``: nothing changed (no rows);
3. ``job``: nothing changed, one job running on every unit (one row per unit);
4. ``changes``: every unit's breaker 1 flips (2 rows each, plus a cycle every 2nd round).

"loop" is the wall time of the store's listeners for the round (what the event loop
spends); "writer" the time until the writer thread has written it all (``flush``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from exposition import simulated_store

from c12exporter.history.recorder import History
from c12exporter.reading import Reading
from c12exporter.store import Store


def flipped(reading: Reading, round_number: int) -> Reading:
    state = "open" if round_number % 2 else "closed"
    first = reading.channels[0].with_values(channel_breaker=state)
    return Reading(reading.unit, reading.identity, reading.model, time.time(), reading.values,
                   reading.phases, (first, *reading.channels[1:]))  # fmt: skip


async def poll_round(store: Store, history: History, change: int | None) -> tuple[float, float]:
    readings = []
    for state in store:
        assert state.reading is not None
        reading = state.reading if change is None else flipped(state.reading, change)
        readings.append((state.config.name, reading))
    started = time.perf_counter()
    for name, reading in readings:
        store.record_success(name, reading, 0.01)
    loop_s = time.perf_counter() - started
    await history.flush()
    return loop_s, time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    store = simulated_store(args.units)
    with tempfile.TemporaryDirectory() as tmp:
        history = await History.open(Path(tmp) / "history.sqlite3", store, 31 * 86400.0)
        try:
            figures: dict[str, list[tuple[float, float]]] = {}
            figures["baseline"] = [await poll_round(store, history, None)]
            figures["quiet"] = [await poll_round(store, history, None) for _ in range(args.rounds)]
            await history.start_job("bench", [s.config.name for s in store])
            figures["job"] = [await poll_round(store, history, None) for _ in range(args.rounds)]
            await history.stop_job("bench")
            figures["changes"] = [
                await poll_round(store, history, n) for n in range(1, args.rounds + 1)
            ]
            size = (Path(tmp) / "history.sqlite3").stat().st_size
            counts = await history._run(
                lambda: {
                    table: history.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                    for table in ("events", "states", "rcbo_cycles", "job_units")
                }
            )
        finally:
            await history.close()
    print(f"{args.units} units, median of {args.rounds} rounds (baseline: 1)\n")
    print("| round | loop per round | loop per poll | written after |")
    print("|---|---|---|---|")
    for name, runs in figures.items():
        loop_s = statistics.median(r[0] for r in runs)
        total_s = statistics.median(r[1] for r in runs)
        print(f"| {name} | {loop_s * 1e3:.1f} ms | {loop_s / args.units * 1e6:.0f} µs "
              f"| {total_s * 1e3:.0f} ms |")  # fmt: skip
    print(f"\ndatabase file after the runs: {size / 1e6:.1f} MB (WAL not counted), rows: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
