"""Benchmark: polling and scraping while 1,100 idle or slow connections are held open at
an open-file limit of 1,024.

Not a test: it prints figures for docs/performance.md.

    .venv/bin/python bench/idle_connections.py --seconds 30

One simulated fleet (``--units`` units) and one exporter polling it every 250 ms, the
exporter started with an open-file limit of 1,024 (soft and hard, so it cannot raise
it). First ``--seconds`` with nothing else (the baseline), then another process keeps
``--connections`` connections to the exporter open: half
idle, half sending a request head one byte a second; each one the exporter closes is
opened again (that process runs at nice 19, as close as one machine comes to an
attacker elsewhere). In both phases this process scrapes ``/metrics`` twice a second. It
prints the polls made in each phase (from ``c12_polls_total``) and their ratio, the
scrapes answered, the exporter's CPU time, and its log size. ``--source DIR`` runs the
exporter from another checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import LOOPBACK, free_port, http_get, simulator, wait_until

LIMIT = 1024


def polls(url: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in http_get(f"{url}/metrics", timeout=10).splitlines()
        if line.startswith("c12_polls_total{")
    )


async def hold(port: int, count: int, stop: Any, opened: Any) -> None:
    async def one(slow: bool) -> None:
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            with opened.get_lock():
                opened.value += 1
            head = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" * 100
            try:
                for byte in head if slow else iter(int, 1):
                    if stop.is_set():
                        break
                    if slow:
                        writer.write(bytes([byte]))
                    data = await asyncio.wait_for(reader.read(1), 1.0)
                    if data == b"":
                        break  # closed by the exporter: open another
            except TimeoutError:
                pass
            except OSError:
                pass
            finally:
                writer.close()
            await asyncio.sleep(0.1)

    async def until_stopped(slow: bool) -> None:
        while not stop.is_set():
            try:
                await one(slow)
            except TimeoutError:
                continue

    await asyncio.gather(*(until_stopped(i % 2 == 1) for i in range(count)))


def hold_process(port: int, count: int, stop: Any, opened: Any) -> None:
    os.nice(19)  # a client on another machine takes no CPU from the exporter: come close
    resource.setrlimit(resource.RLIMIT_NOFILE, (count * 2 + 100, count * 2 + 100))
    asyncio.run(hold(port, count, stop, opened))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(url: str, seconds: float, pid: int) -> tuple[float, int, int, float]:
    """Polls made, scrapes answered, scrapes tried and the exporter's CPU seconds in
    ``seconds``, scraping twice a second."""
    before, started, cpu = polls(url), time.monotonic(), cpu_seconds(pid)
    ok = tried = 0
    while time.monotonic() - started < seconds:
        tried += 1
        with contextlib.suppress(OSError, urllib.error.URLError):
            ok += "c12_up{" in http_get(f"{url}/metrics", timeout=5)
        time.sleep(0.5)
    used = cpu_seconds(pid) - cpu
    after = wait_until(lambda: polls(url), 60, "a scrape for the poll count")
    return after - before, ok, tried, used


def limit_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@dataclass
class Exporter:
    """An exporter process at the open-file limit, polling a simulated fleet every 250 ms."""

    url: str
    port: int
    pid: int
    log: str = ""
    """What it logged, once it has stopped."""


@contextlib.contextmanager
def exporter_at_file_limit(units: int, source: Path | None) -> Iterator[Exporter]:
    """Start the simulator and an exporter (from ``source`` if given) reading it, wait for
    its first polls, and stop both at the end, keeping the exporter's log."""
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with simulator(tmp, units, "--speed", "0") as (_, units_file):
            port = free_port()
            config = tmp / "c12.yml"
            config.write_text(yaml.safe_dump({
                "poll": {"interval": "250ms", "timeout": "200ms"},
                "web": {"listen_address": f"{LOOPBACK}:{port}"},
                "units_files": [str(units_file)],
            }))  # fmt: skip
            env = dict(os.environ)
            if source is not None:
                env["PYTHONPATH"] = str(source.resolve())
            log = tmp / "exporter.log"
            command = [sys.executable, "-m", "c12exporter.cli", "serve",
                       "--config.file", str(config)]  # fmt: skip
            with open(log, "wb") as out:
                proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                        env=env, cwd=tmp, preexec_fn=limit_files)  # fmt: skip
            exporter = Exporter(f"http://{LOOPBACK}:{port}", port, proc.pid)
            try:
                wait_until(lambda: polls(exporter.url) > 0, 60, "first polls")
                time.sleep(2)
                yield exporter
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            exporter.log = log.read_text(errors="replace")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--units", type=int, default=12)
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--source", type=Path, help="run the exporter from this source tree")
    args = parser.parse_args()

    with exporter_at_file_limit(args.units, args.source) as exporter:
        url, port, pid = exporter.url, exporter.port, exporter.pid
        quiet = measure(url, args.seconds, pid)  # the baseline: nothing held open
        stop = multiprocessing.Event()
        opened = multiprocessing.Value("i", 0)
        holder = multiprocessing.Process(
            target=hold_process, args=(port, args.connections, stop, opened)
        )
        holder.start()
        time.sleep(5)  # the connections opened
        held = measure(url, args.seconds, pid)
        stop.set()
        holder.join(30)
        holder.kill()
    text = exporter.log
    print(f"{args.units} units polled every 250 ms, {args.seconds:.0f} s each phase; "
          f"{args.connections} connections held open ({opened.value} opened in all)")  # fmt: skip
    print("| | quiet | connections held | ratio |\n|---|---|---|---|")
    print(f"| polls | {quiet[0]:.0f} | {held[0]:.0f} | {held[0] / quiet[0]:.2f} |")
    print(f"| scrapes answered | {quiet[1]} of {quiet[2]} | {held[1]} of {held[2]} | |")
    print(f"| exporter CPU | {quiet[3]:.1f} s | {held[3]:.1f} s | {held[3] / quiet[3]:.2f} |")
    print(f"\nexporter log: {len(text.splitlines())} lines, {len(text)} bytes, "
          f"{text.count('Traceback')} tracebacks")  # fmt: skip


if __name__ == "__main__":
    main()
