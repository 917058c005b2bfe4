"""Benchmark: the problem board's cost per poll, and what gzip saves on the console's routes.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/problems.py --units 200 1000 --repetitions 5 --stream-s 10

1. Board CPU per poll: N units of the simulator's default fleet (``bench/exposition.py``'s
   store), a whole poll round recorded in the store with the trip forecast alone
   subscribed (the baseline: it judges every breaker of every reading too), then with
   the forecast and the problem board (SQLite log in a temporary state directory).
   Process CPU time, median of the repetitions; and one ``board.active()`` over the fleet.
2. Bytes on the wire: a real exporter reading 50 simulated units over Modbus on loopback;
   each route fetched plain and with ``Accept-Encoding: gzip``, and the console's event
   stream read for ``--stream-s`` seconds by two clients at once, one of each kind. The
   gzip stream's CPU: the plain stream's events, as captured, compressed again with the
   stream's settings and a flush per event, against the exporter's whole process CPU in
   the same window.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import http.client
import re
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exposition import simulated_store

from c12exporter.config import load_config
from c12exporter.console.acks import SqliteProblemLog
from c12exporter.exporter import start_exporter
from c12exporter.forecast import TripForecast
from c12exporter.plugins import load_plugins
from c12exporter.problems import ProblemBoard
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store
from c12exporter.web.compress import STREAM_LEVEL, STREAM_MEM_LEVEL, STREAM_WINDOW_BITS
from tests.servers import LOOPBACK, free_port

PLUGINS = load_plugins(entry_points=False)


def poll_round_cpu(store: Store, repetitions: int) -> float:
    """CPU of recording one fresh reading of every unit, median of ``repetitions``."""
    readings = [s.reading for s in store]
    times = []
    for _ in range(repetitions):
        now = time.time()
        fresh = [dataclasses.replace(r, taken_at=now) for r in readings if r is not None]
        started = time.process_time()
        for reading in fresh:
            store.record_success(reading.unit, reading, 0.01)
        times.append(time.process_time() - started)
    return statistics.median(times)


def board_figures(units: int, repetitions: int) -> str:
    store = simulated_store(units)
    forecast = TripForecast(store)
    baseline = poll_round_cpu(store, repetitions)
    with tempfile.TemporaryDirectory() as state:
        log = SqliteProblemLog.in_dir(Path(state))
        board = ProblemBoard(store, forecast, log)
        both = poll_round_cpu(store, repetitions)
        started = time.process_time()
        active = board.active(time.time())
        active_s = time.process_time() - started
        board.close()
        log.close()
    board_s = both - baseline
    return (
        f"| {units} | {baseline * 1000:.1f} ms | {board_s * 1000:.1f} ms "
        f"| {board_s / baseline:.2f}x | {board_s / units * 1e6:.0f} µs "
        f"| {active_s * 1000:.1f} ms | {len(active)} |"
    )


def fetch(port: int, path: str, gzip: bool) -> tuple[int, str]:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"} if gzip else {})
        response = conn.getresponse()
        body = response.read()
        return len(body), response.getheader("Content-Encoding") or "identity"
    finally:
        conn.close()


async def read_stream(port: int, gzip: bool, seconds: float) -> tuple[int, bytes]:
    """Bytes received on the wire (chunk framing left out), and the body as sent."""
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    accept = "Accept-Encoding: gzip\r\n" if gzip else ""
    writer.write(f"GET /console/events HTTP/1.1\r\nHost: x\r\n{accept}\r\n".encode())
    await reader.readuntil(b"\r\n\r\n")
    body = bytearray()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            size_line = await asyncio.wait_for(
                reader.readuntil(b"\r\n"), deadline - time.monotonic()
            )
            size = int(size_line.strip(), 16)
            body += (await reader.readexactly(size + 2))[:-2]
    except TimeoutError:
        pass
    writer.close()
    return len(body), bytes(body)


def stream_gzip_cpu(plain: bytes) -> float:
    """CPU to compress the captured events as the stream does: one flush per event."""
    events = [e + b"\n\n" for e in plain.split(b"\n\n") if e]
    compressor = zlib.compressobj(
        STREAM_LEVEL, zlib.DEFLATED, 16 + STREAM_WINDOW_BITS, STREAM_MEM_LEVEL
    )
    started = time.process_time()
    for event in events:
        compressor.compress(event)
        compressor.flush(zlib.Z_SYNC_FLUSH)
    return time.process_time() - started


async def wire_figures(stream_s: float) -> list[str]:
    port = free_port()
    lines = []
    async with await Fleet.start(50, plugins=PLUGINS) as fleet:
        with tempfile.TemporaryDirectory() as tmp:
            config_file = Path(tmp) / "c12.yml"
            config_file.write_text(
                "units:\n"
                + "".join(
                    f"  - {{name: u{i + 1:02d}, address: '{u.address}'}}\n"
                    for i, u in enumerate(fleet.units)
                )
                + f"state_dir: {tmp}/state\nweb: {{listen_address: '{LOOPBACK}:{port}'}}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            try:
                await asyncio.sleep(6)  # a poll of every unit, some history
                loop = asyncio.get_running_loop()
                _, _ = await loop.run_in_executor(None, fetch, port, "/", False)
                page = await loop.run_in_executor(None, page_text, port)
                assets = sorted(set(re.findall(r'(?:src|href)="/?(console/static/[^"?]+)', page)))
                paths = ["/", *(f"/{a}" for a in assets), "/console/problems",
                         "/console/timeline?limit=100", "/console/timeline?limit=100&format=html",
                         "/metrics", "/sd"]  # fmt: skip
                for path in paths:
                    plain, _ = await loop.run_in_executor(None, fetch, port, path, False)
                    packed, coding = await loop.run_in_executor(None, fetch, port, path, True)
                    lines.append(
                        f"| `{path}` | {plain / 1024:.1f} KiB | {packed / 1024:.1f} KiB "
                        f"({coding}) | {packed / plain:.2f} |"
                    )
                cpu_before = time.process_time()
                (plain_n, plain_body), (gzip_n, _) = await asyncio.gather(
                    read_stream(port, False, stream_s), read_stream(port, True, stream_s)
                )
                window_cpu = time.process_time() - cpu_before
                compress_cpu = stream_gzip_cpu(plain_body)
                lines.append(
                    f"| `/console/events`, {stream_s:g} s | {plain_n / 1024:.1f} KiB "
                    f"| {gzip_n / 1024:.1f} KiB (gzip) | {gzip_n / plain_n:.2f} |"
                )
                lines.append("")
                lines.append(
                    f"Compressing that stream for one browser: {compress_cpu * 1000:.1f} ms of "
                    f"CPU in {stream_s:g} s, {compress_cpu / window_cpu:.3f} of the exporter's "
                    f"whole CPU in the same window ({window_cpu * 1000:.0f} ms: 50 units "
                    "polled, two streams served)."
                )
            finally:
                await running.stop()
    return lines


def page_text(port: int) -> str:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=30)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--stream-s", type=float, default=10.0)
    args = parser.parse_args()
    print("| units | poll round, forecast only: CPU | the board's share | ratio "
          "| per poll | board.active(): CPU | problems |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for units in args.units:
        print(board_figures(units, args.repetitions), flush=True)
    print()
    print("| route | plain | with Accept-Encoding: gzip | ratio |")
    print("|---|---|---|---|")
    for line in asyncio.run(wire_figures(args.stream_s)):
        print(line)


if __name__ == "__main__":
    main()
