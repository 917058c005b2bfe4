"""Benchmark: the whole exporter process under a deployment's load, against a bare pymodbus
loop polling the same fleet in the same run.

Not a test (``tests/test_whole_exporter_bench.py`` runs a short one): it prints figures
(Markdown) for docs/performance.md.

    .venv/bin/python bench/whole_exporter.py --units 1000 --window 120

1. Starts ``c12exporter simulate`` with N units (a process of its own).
2. Baseline, first: the bare pymodbus loop of ``bench/poll_fleet.py`` (one persistent
   connection per unit, the three register blocks read, nothing decoded) in a process
   of its own, each unit on the poll interval and spread over it as the poller spreads
   them, at the same concurrency; its CPU and unit-polls over ``--window`` seconds once
   every unit has been read. Then it stops: the simulator serves one client at a time.
3. ``c12exporter serve`` with everything a deployment runs: the poller, the store, the
   SQLite history, the trip forecast, the problem board, ``/metrics`` scraped gzipped
   every ``--scrape-every``, the SNMP agent (one column of the unit table walked every
   ``--walk-every``, as the soak does) and one console client reading
   ``/console/events`` (the fleet page's stream, as a browser opens it).
4. Once every unit has been read, the exporter's window: from one scrape to the one
   ``--window`` seconds later. CPU (user + system, all threads, ``/proc/PID/stat``) of
   each process over its window, divided by the polls it made (the exporter's from
   ``c12_polls_total``), and their ratio; the console stream's bytes per second.

``--profile FILE`` records the exporter over the window with py-spy (installed apart,
``pip install py-spy``; not a dependency) as collapsed stacks, and prints where the
samples fall (:data:`PARTS`).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulated import start_simulator  # bench/simulated.py, beside this script
from soak import (
    COMMUNITY,
    LOOPBACK,
    failures_by_reason,
    free_port,
    metric_sum,
    stop,
    wait_healthy,
    walk_units,
)

TICKS = os.sysconf("SC_CLK_TCK")
HTTP_TIMEOUT_S = 60.0
READY_TIMEOUT_S = 300.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` and all its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# --- the baseline --------------------------------------------------------------------------


def bare_loop(
    addresses: Sequence[str], interval_s: float, concurrency: int, polls: Synchronized[int]
) -> None:
    """The bare pymodbus loop, for ever (in a process of its own): ``polls`` counts the
    unit-polls done."""
    asyncio.run(_bare_loop(addresses, interval_s, concurrency, polls))


async def _bare_loop(
    addresses: Sequence[str], interval_s: float, concurrency: int, polls: Synchronized[int]
) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    from c12exporter.modbus.registermap import C12B_V1, Table

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
        polls.value += 1

    async def unit(address: str) -> None:
        host, port = address.rsplit(":", 1)
        client = AsyncModbusTcpClient(host, port=int(port), timeout=5, retries=0)
        await client.connect()
        await poll(client)
        # spread over the interval as the poller does
        next_at = time.monotonic() + (zlib.crc32(address.encode()) % 1000) / 1000 * interval_s
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval_s
            await poll(client)

    await asyncio.gather(*(unit(a) for a in addresses))


# --- the exporter's load -------------------------------------------------------------------


def exporter_config(workdir: Path, units_file: Path, snmp_port: int, interval_s: float) -> str:
    interval, timeout = f"{interval_s:g}s", f"{min(2.0, interval_s):g}s"
    return yaml.safe_dump(
        {
            "poll": {"interval": interval, "timeout": timeout},
            "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": COMMUNITY},
            "console": {"title": "bench"},  # no basic auth: the console is open to read
            "history": {"path": str(workdir / "history.sqlite3")},
            "state_dir": str(workdir / "state"),
            "units_files": [str(units_file)],
        }
    )


@dataclass
class Load:
    """What the bench asked of the exporter while it ran."""

    scrapes: int = 0
    scrape_bytes: int = 0
    scrape_s: list[float] = field(default_factory=list)
    """How long each scrape took (the exporter answers it on its event loop)."""
    walks: int = 0
    walk_errors: list[str] = field(default_factory=list)
    stream_bytes: int = 0
    stream_events: int = 0
    stream_error: str = ""


def scrape(url: str, load: Load) -> str:
    """``/metrics`` as Prometheus asks for it (gzip); the text."""
    request = urllib.request.Request(f"{url}/metrics", headers={"Accept-Encoding": "gzip"})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        body = response.read()
        gzipped = response.headers.get("Content-Encoding") == "gzip"
    load.scrape_s.append(time.monotonic() - started)
    load.scrapes += 1
    load.scrape_bytes += len(body)
    return (gzip.decompress(body) if gzipped else body).decode()


def read_stream(url: str, load: Load, done: threading.Event) -> None:
    """One console client: the fleet page's event stream, read until ``done``."""
    try:
        with urllib.request.urlopen(f"{url}/console/events", timeout=HTTP_TIMEOUT_S) as response:
            while not done.is_set():
                line = response.readline()
                if not line:
                    load.stream_error = "the stream ended"
                    return
                load.stream_bytes += len(line)
                if line.startswith(b"event:"):
                    load.stream_events += 1
    except OSError as error:
        load.stream_error = str(error)


def walk_every(snmp_port: int, every_s: float, load: Load, done: threading.Event) -> None:
    while not done.is_set():
        try:
            walk_units(snmp_port)
            load.walks += 1
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            load.walk_errors.append(str(error))
        done.wait(every_s)


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    units: int
    window_s: float
    exporter_cpu_s: float
    exporter_polls: int
    exporter_failed: int
    failures: dict[str, int]
    """Failed polls by reason, since the start (``c12_poll_errors_total``)."""
    bare_cpu_s: float
    bare_polls: int
    stream_bytes: int
    stream_events: int
    load: Load
    loadavg: tuple[float, float]
    """The 1-minute load average at the start and the end of the window."""
    profile: Counter[str] | None

    @property
    def exporter_ms(self) -> float:
        return self.exporter_cpu_s / max(self.exporter_polls, 1) * 1e3

    @property
    def bare_ms(self) -> float:
        return self.bare_cpu_s / max(self.bare_polls, 1) * 1e3

    @property
    def ratio(self) -> float:
        return self.exporter_ms / self.bare_ms if self.bare_ms else float("nan")


def run(
    workdir: Path,
    units: int,
    window_s: float,
    interval: float = 5.0,
    scrape_every_s: float = 15.0,
    walk_every_s: float = 60.0,
    concurrency: int = 256,
    profile: Path | None = None,
) -> Figures:
    """The bare loop's window, then the exporter's, on one simulated fleet (one client
    at a time: the simulator, on the same two cores, keeps up with one)."""
    units_file = workdir / "sim-units.yml"
    simulator = start_simulator(units_file, "--units", str(units), "--speed", "1")
    try:
        addresses = [u["address"] for u in yaml.safe_load(units_file.read_text())["units"]]
        bare_cpu, bare_polls = _bare_window(addresses, interval, concurrency, window_s)
        return _exporter_run(
            workdir, units_file, units, window_s, interval, scrape_every_s, walk_every_s,
            profile, bare_cpu, bare_polls,
        )  # fmt: skip
    finally:
        stop(simulator)


def _bare_window(
    addresses: Sequence[str], interval: float, concurrency: int, window_s: float
) -> tuple[float, int]:
    """CPU seconds and unit-polls of the bare loop over ``window_s``, once every unit has
    been read."""
    fork = multiprocessing.get_context("fork")  # this process has no other thread yet
    polls: Synchronized[int] = fork.Value("q", 0)  # type: ignore[assignment]
    bare = fork.Process(target=bare_loop, args=(addresses, interval, concurrency, polls))
    bare.start()
    assert bare.pid is not None
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while polls.value < len(addresses):
            if not bare.is_alive() or time.monotonic() > deadline:
                raise SystemExit("the bare loop did not read every unit in time")
            time.sleep(0.5)
        time.sleep(interval)  # into the steady state, spread over the interval
        cpu0, polls0 = cpu_seconds(bare.pid), polls.value
        time.sleep(window_s)
        if not bare.is_alive():
            raise SystemExit("the bare loop ended: a request failed")
        return cpu_seconds(bare.pid) - cpu0, polls.value - polls0
    finally:
        bare.terminate()
        bare.join()


def _exporter_run(
    workdir: Path,
    units_file: Path,
    units: int,
    window_s: float,
    interval: float,
    scrape_every_s: float,
    walk_every_s: float,
    profile: Path | None,
    bare_cpu: float,
    bare_polls: int,
) -> Figures:
    exporter: subprocess.Popen[bytes] | None = None
    done = threading.Event()
    threads: list[threading.Thread] = []
    try:
        snmp_port, web_port = free_port(socket.SOCK_DGRAM), free_port()
        config = workdir / "c12exporter.yml"
        config.write_text(exporter_config(workdir, units_file, snmp_port, interval))
        log = workdir / "exporter.log"
        with open(log, "wb") as out:
            exporter = subprocess.Popen(
                [sys.executable, "-m", "c12exporter.cli", "--log.level=warn", "serve",
                 "--config.file", str(config), f"--web.listen-address={LOOPBACK}:{web_port}"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://{LOOPBACK}:{web_port}"
        wait_healthy(url, exporter, log)
        load = Load()
        _wait_all_read(url, units, load, exporter)
        threads = [
            threading.Thread(target=read_stream, args=(url, load, done)),
            threading.Thread(target=walk_every, args=(snmp_port, walk_every_s, load, done)),
        ]
        for thread in threads:
            thread.start()
        time.sleep(scrape_every_s)  # the stream's snapshot sent, a walk done
        figures = _window(exporter, url, units, window_s, scrape_every_s, load, profile)
        return replace(figures, bare_cpu_s=bare_cpu, bare_polls=bare_polls)
    finally:
        done.set()
        if exporter is not None:
            stop(exporter)  # ends the console stream too
        for thread in threads:
            thread.join()


def _wait_all_read(url: str, units: int, load: Load, exporter: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while metric_sum(scrape(url, load), "c12_polls_total") < units:
        if exporter.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the exporter did not read every unit in time")
        time.sleep(1.0)


def _window(
    exporter: subprocess.Popen[bytes],
    url: str,
    units: int,
    window_s: float,
    scrape_every_s: float,
    load: Load,
    profile: Path | None,
) -> Figures:
    spy = None
    if profile is not None:
        spy = subprocess.Popen(
            [_py_spy(), "record", "--pid", str(exporter.pid), "--threads", "--format", "raw",
             "--rate", "97", "--output", str(profile), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    text = scrape(url, load)
    cpu0 = cpu_seconds(exporter.pid)
    polls0 = metric_sum(text, "c12_polls_total")
    failed0 = metric_sum(text, "c12_poll_errors_total")
    stream0, events0 = load.stream_bytes, load.stream_events
    load0 = os.getloadavg()[0]
    started = time.monotonic()
    while time.monotonic() - started < window_s - 0.5 * scrape_every_s:
        time.sleep(scrape_every_s)
        scrape(url, load)
    time.sleep(max(0.0, window_s - (time.monotonic() - started)))
    text = scrape(url, load)
    cpu = cpu_seconds(exporter.pid)
    elapsed = time.monotonic() - started
    counts = None
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes what it has
        spy.wait(timeout=60)
        counts = parts(profile) if profile is not None and profile.exists() else Counter()
    if load.stream_error:
        raise SystemExit(f"the console stream failed: {load.stream_error}")
    return Figures(
        units=units,
        window_s=elapsed,
        exporter_cpu_s=cpu - cpu0,
        exporter_polls=int(metric_sum(text, "c12_polls_total") - polls0),
        exporter_failed=int(metric_sum(text, "c12_poll_errors_total") - failed0),
        failures=failures_by_reason(text),
        bare_cpu_s=0.0,
        bare_polls=0,
        stream_bytes=load.stream_bytes - stream0,
        stream_events=load.stream_events - events0,
        load=load,
        loadavg=(load0, os.getloadavg()[0]),
        profile=counts,
    )


def _py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


# --- the profile ---------------------------------------------------------------------------

PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (part, frames that put a sample in it): the first part, in this order, whose frame is
    # on the sample's stack takes it
    ("history (SQLite writer thread)", ("history/db.py", "sqlite3", "_write (c12exporter/history")),
    ("history: RCBO test metrics (scrapes)", ("c12exporter/history/metrics.py",)),
    ("history recorder (poll listener)", ("c12exporter/history/",)),
    ("problem board", ("c12exporter/problems.py", "console/board.py", "console/alarms.py")),
    ("trip forecast", ("c12exporter/forecast.py",)),
    ("console stream", ("c12exporter/console/",)),
    ("/metrics pieces and scrapes", ("c12exporter/prometheus/",)),
    ("SNMP cells and walks", ("c12exporter/snmp/",)),
    ("poller: Modbus client and decode", ("c12exporter/modbus/", "c12exporter/transport.py")),
    ("poller: reading and store", ("c12exporter/poller.py", "c12exporter/reading.py",
                                   "c12exporter/store.py", "c12exporter/breaker.py")),
    ("web server (aiohttp)", ("aiohttp/", "c12exporter/web/")),
    ("asyncio and sockets", ("asyncio/", "selectors.py", "uvloop")),
)  # fmt: skip


def parts(collapsed: Path) -> Counter[str]:
    """Samples by part (:data:`PARTS`) from py-spy's collapsed stacks."""
    counts: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        where = "other"
        for part, marks in PARTS:
            if any(mark in frame for frame in frames for mark in marks):
                where = part
                break
        counts[where] += int(count)
    return counts


# --- the report ----------------------------------------------------------------------------


def report(figures: Figures, command: str) -> str:
    f = figures
    lines = [
        f"## The whole exporter at {f.units:,} units (`bench/whole_exporter.py`)\n",
        f"Command: `{command}` on {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"load average (1 min) {f.loadavg[0]:.2f} at the start of the window, "
        f"{f.loadavg[1]:.2f} at its end.\n",
        "| figure | value |",
        "|---|---|",
        f"| window | {f.window_s:.0f} s; {f.load.scrapes} scrapes in all "
        f"({f.load.scrape_bytes / max(f.load.scrapes, 1) / 1e6:.2f} MB gzip each), "
        f"{f.load.walks} SNMP walks, {len(f.load.walk_errors)} failed; scrapes took "
        f"{min(f.load.scrape_s, default=0):.2f} to {max(f.load.scrape_s, default=0):.2f} s |",
        f"| exporter: polls (failed), CPU | {f.exporter_polls} ({f.exporter_failed}; "
        f"since the start: {f.failures or 'none'}), "
        f"{f.exporter_cpu_s:.2f} s ({f.exporter_cpu_s / f.window_s:.0%} of one core) |",
        f"| bare pymodbus loop: polls, CPU | {f.bare_polls}, {f.bare_cpu_s:.2f} s "
        f"({f.bare_cpu_s / f.window_s:.0%} of one core) |",
        f"| exporter, CPU per unit-poll | {f.exporter_ms:.3f} ms |",
        f"| bare loop, CPU per unit-poll | {f.bare_ms:.3f} ms |",
        f"| ratio exporter / bare loop | **{f.ratio:.2f}** |",
        f"| console stream, one client | {f.stream_bytes / f.window_s:,.0f} bytes/s "
        f"({f.stream_events / f.window_s:.1f} events/s) |",
    ]
    if f.profile is not None:
        total = sum(f.profile.values()) or 1
        per_poll = f.exporter_ms
        lines += ["", "| part of the exporter (py-spy samples) | share | ms per unit-poll |",
                  "|---|---:|---:|"]  # fmt: skip
        for part, count in f.profile.most_common():
            lines.append(f"| {part} | {count / total:.0%} | {count / total * per_poll:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--window", type=float, default=120.0, help="seconds measured")
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--scrape-every", type=float, default=15.0)
    parser.add_argument("--walk-every", type=float, default=60.0)
    parser.add_argument("--profile", type=Path, help="py-spy's collapsed stacks to FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(
            Path(tmp), args.units, args.window, args.interval, args.scrape_every,
            args.walk_every, profile=args.profile,
        )  # fmt: skip
    command = f"python bench/whole_exporter.py --units {args.units} --window {args.window:g}"
    print(report(figures, command))


if __name__ == "__main__":
    main()
