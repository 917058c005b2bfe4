"""Benchmark: polling and scraping while 1,100 connections send request bodies a byte a
second, at an open-file limit of 1,024.

Not a test: it prints figures for docs/performance.md.

    .venv/bin/python bench/slow_bodies.py --seconds 30

One simulated fleet (``--units`` units) and one exporter polling it every 250 ms, the
exporter started with an open-file limit of 1,024 (soft and hard). ``--rounds`` times:
``--seconds`` with nothing else (the baseline), then ``--seconds`` while another process
(at nice 19) keeps ``--connections`` connections open, each sending one of these
request heads and then a byte a second of body, opening another whenever the exporter
closes one:

* ``GET /metrics`` announcing a 1 GB body;
* ``POST /console/jobs`` announcing a 1 GB body;
* ``GET /metrics`` announcing a 100 kB body (under the body cap);
* ``POST /console/jobs`` with a chunked body of no announced size.

Alternating the phases evens out whatever else the machine runs meanwhile. In both
phases this process scrapes ``/metrics`` twice a second. It prints the polls made in
each phase (from ``c12_polls_total``, summed over the rounds) and their ratio, the
scrapes answered and how long they took, the exporter's CPU time, and its log's size
and tracebacks.
``--source DIR`` runs the exporter from another checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import resource
import statistics
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.idle_connections import cpu_seconds, exporter_at_file_limit, polls
from tests.servers import LOOPBACK, http_get, wait_until

HEADS = [
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
    b"POST /console/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n"
    b"Content-Type: application/json\r\nX-Requested-With: c12-console\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
    b"POST /console/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\nX-Requested-With: c12-console\r\n\r\n",
]


async def drip(port: int, count: int, stop: Any, opened: Any) -> None:
    async def one(head: bytes) -> None:
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            await asyncio.sleep(0.1)
            return
        with opened.get_lock():
            opened.value += 1
        try:
            writer.write(head)
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    if await asyncio.wait_for(reader.read(4096), 1.0) == b"":
                        break  # closed by the exporter: open another
                writer.write(b"1")
        except OSError:
            pass
        finally:
            writer.close()
        await asyncio.sleep(0.1)

    async def until_stopped(head: bytes) -> None:
        while not stop.is_set():
            await one(head)

    await asyncio.gather(*(until_stopped(HEADS[i % len(HEADS)]) for i in range(count)))


def drip_process(port: int, count: int, stop: Any, opened: Any) -> None:
    os.nice(19)  # a client on another machine takes no CPU from the exporter: come close
    resource.setrlimit(resource.RLIMIT_NOFILE, (count * 2 + 100, count * 2 + 100))
    asyncio.run(drip(port, count, stop, opened))


def measure(url: str, seconds: float, pid: int) -> dict[str, float]:
    """Polls made, scrapes answered and tried, their mean and longest time, and the
    exporter's CPU seconds in ``seconds``, scraping twice a second."""
    before, started, cpu = polls(url), time.monotonic(), cpu_seconds(pid)
    took: list[float] = []
    tried = 0
    while time.monotonic() - started < seconds:
        tried += 1
        begun = time.monotonic()
        with contextlib.suppress(OSError, urllib.error.URLError):
            if "c12_up{" in http_get(f"{url}/metrics", timeout=5):
                took.append(time.monotonic() - begun)
        time.sleep(0.5)
    used = cpu_seconds(pid) - cpu
    after = wait_until(lambda: polls(url), 60, "a scrape for the poll count")
    return {
        "polls": after - before, "ok": len(took), "tried": tried, "cpu": used,
        "mean": statistics.mean(took) if took else float("nan"),
        "max": max(took, default=float("nan")),
    }  # fmt: skip


def combined(rounds: list[dict[str, float]]) -> dict[str, float]:
    total = {k: sum(r[k] for r in rounds) for k in ("polls", "ok", "tried", "cpu")}
    total["mean"] = sum(r["mean"] * r["ok"] for r in rounds) / max(1, total["ok"])
    total["max"] = max(r["max"] for r in rounds)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--units", type=int, default=12)
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--source", type=Path, help="run the exporter from this source tree")
    args = parser.parse_args()

    with exporter_at_file_limit(args.units, args.source) as exporter:
        url, port, pid = exporter.url, exporter.port, exporter.pid
        opened = multiprocessing.Value("i", 0)
        quiet_rounds, slow_rounds = [], []
        for _ in range(args.rounds):
            quiet_rounds.append(measure(url, args.seconds, pid))  # the baseline
            stop = multiprocessing.Event()
            attacker = multiprocessing.Process(
                target=drip_process, args=(port, args.connections, stop, opened)
            )
            attacker.start()
            time.sleep(5)  # the connections opened
            slow_rounds.append(measure(url, args.seconds, pid))
            stop.set()
            attacker.join(30)
            attacker.kill()
            time.sleep(args.seconds / 10)  # the held connections time out
        quiet, slow = combined(quiet_rounds), combined(slow_rounds)
    text = exporter.log
    print(f"{args.units} units polled every 250 ms, {args.rounds} rounds of "
          f"{args.seconds:.0f} s each phase; "
          f"{args.connections} connections sending bodies a byte a second "
          f"({opened.value} opened in all)")  # fmt: skip
    print("| | alone | slow bodies | ratio |\n|---|---|---|---|")
    print(f"| polls | {quiet['polls']:.0f} | {slow['polls']:.0f} | "
          f"{slow['polls'] / quiet['polls']:.2f} |")  # fmt: skip
    print(f"| scrapes answered | {quiet['ok']} of {quiet['tried']} | "
          f"{slow['ok']} of {slow['tried']} | |")  # fmt: skip
    print(f"| scrape time, mean / max | {quiet['mean']:.3f} / {quiet['max']:.3f} s | "
          f"{slow['mean']:.3f} / {slow['max']:.3f} s | |")  # fmt: skip
    print(f"| exporter CPU | {quiet['cpu']:.1f} s | {slow['cpu']:.1f} s | "
          f"{slow['cpu'] / quiet['cpu']:.2f} |")  # fmt: skip
    print(f"\nexporter log: {len(text.splitlines())} lines, {len(text)} bytes, "
          f"{text.count('Traceback')} tracebacks")  # fmt: skip
    for line in text.splitlines()[1:6]:  # after the start line, what it said, if little
        print(f"    {line}")


if __name__ == "__main__":
    main()
