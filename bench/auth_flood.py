"""Benchmark: authorised scrapes during a flood of wrong passwords.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python bench/auth_flood.py --seconds 5 --rounds 3 --rate 100

In one run, against one ``c12exporter serve`` on loopback with basic auth (a bcrypt
hash of cost 10) and one unit, ``--rounds`` times, alternating:

1. Baseline: authorised ``/metrics`` scrapes one after another for ``--seconds``, each
   on a new connection (as Prometheus does after an idle timeout), after one that warms
   up the credential cache.
2. The same scrapes while another process sends ``--rate`` requests a second with wrong
   passwords, each on a new connection, whether or not earlier ones were answered.

It prints median and 90th-percentile latency of both phases and their ratios, and what
the flood was answered. ``--source DIR`` runs the exporter from another checkout (e.g.
``git archive`` of an older commit), to compare code versions on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import bcrypt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.servers import LOOPBACK, free_port, wait_until

USER, PASSWORD = "prometheus", "correct horse battery staple"


def request(url: str, password: str) -> int:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def scrape_latencies(url: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        started = time.perf_counter()
        status = request(url, PASSWORD)
        latencies.append(time.perf_counter() - started)
        assert status == 200, status
    return latencies


async def open_loop_flood(url: str, rate: float, stop: Any, running: Any) -> dict[int | str, int]:
    """Wrong passwords at ``rate`` requests a second, each on a new connection, sent
    whether or not earlier ones were answered (as an attacker does)."""
    import aiohttp

    counted: Counter[int | str] = Counter()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one(i: int) -> None:
            token = base64.b64encode(f"{USER}:wrong-{i}".encode()).decode()
            try:
                headers = {"Authorization": f"Basic {token}"}
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    counted[response.status] += 1
            except (TimeoutError, aiohttp.ClientError) as error:
                counted[type(error).__name__] += 1

        tasks = set()
        started = time.monotonic()
        i = 0
        running.set()
        while not stop.is_set():
            i += 1
            task = asyncio.ensure_future(one(i))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        counted["unanswered when the scrapes ended"] = len(tasks)
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return dict(counted)


def flood_process(
    url: str,
    rate: float,
    stop: Any,
    running: Any,
    answers: multiprocessing.Queue[dict[int | str, int]],
) -> None:
    answers.put(asyncio.run(open_loop_flood(url, rate, stop, running)))


def during_flood(url: str, rate: float, seconds: float) -> tuple[list[float], dict[int | str, int]]:
    stop, running = multiprocessing.Event(), multiprocessing.Event()
    answers: multiprocessing.Queue[dict[int | str, int]] = multiprocessing.Queue()
    flooder = multiprocessing.Process(
        target=flood_process, args=(url, rate, stop, running, answers)
    )
    flooder.start()  # a process of its own: its work does not slow the scrapes' client
    running.wait(60)
    time.sleep(1.0)  # the flood under way
    latencies = scrape_latencies(url, seconds)
    stop.set()
    answered = answers.get(timeout=120)
    flooder.join()
    return latencies, answered


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="each phase")
    parser.add_argument("--rounds", type=int, default=3, help="quiet and flooded phases")
    parser.add_argument("--rate", type=float, default=100, help="wrong passwords a second")
    parser.add_argument("--source", type=Path, help="run the exporter from this source tree")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
        (tmp / "web.yml").write_text(f"basic_auth_users: {{{USER}: '{hashed}'}}\n")
        port = free_port()
        (tmp / "c12.yml").write_text(
            f"web: {{listen_address: '{LOOPBACK}:{port}', config_file: web.yml}}\n"
            f"units: [{{name: nobody, address: '{LOOPBACK}:{free_port()}'}}]\n"
        )
        env = dict(os.environ)
        if args.source is not None:
            env["PYTHONPATH"] = str(args.source.resolve())
        command = [sys.executable, "-m", "c12exporter.cli", "--log.level=error", "serve",
                   "--config.file", str(tmp / "c12.yml")]  # fmt: skip
        with open(tmp / "exporter.log", "wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp)
        try:
            url = f"http://{LOOPBACK}:{port}/metrics"
            wait_until(lambda: request(url, PASSWORD) == 200, 30, "exporter ready")
            quiet: list[float] = []
            flooded: list[float] = []
            totals: Counter[int | str] = Counter()
            for _ in range(args.rounds):  # alternating, so drifts in machine load even out
                quiet += scrape_latencies(url, args.seconds)
                flooded_now, answered = during_flood(url, args.rate, args.seconds)
                flooded += flooded_now
                totals.update(answered)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still working through a queue of checks
                proc.kill()
                proc.wait()

    print("| | median | p90 |\n|---|---|---|")
    print(f"| quiet | {statistics.median(quiet) * 1e3:.1f} ms | {p90(quiet) * 1e3:.1f} ms |")
    print(f"| during the flood | {statistics.median(flooded) * 1e3:.1f} ms "
          f"| {p90(flooded) * 1e3:.1f} ms |")  # fmt: skip
    print(f"| ratio | {statistics.median(flooded) / statistics.median(quiet):.2f} "
          f"| {p90(flooded) / p90(quiet):.2f} |")  # fmt: skip
    print(f"\n{len(quiet)} and {len(flooded)} scrapes; flood: {args.rate:.0f} wrong "
          f"passwords a second, {args.rounds} x {args.seconds + 1:.0f} s, "
          f"answered {dict(totals)}")  # fmt: skip


if __name__ == "__main__":
    main()
