"""Soak: the exporter serving a simulated fleet for a long while, watched from outside.

Not a test (``tests/test_soak.py`` runs a short one): it prints a Markdown table for
docs/performance.md.

    .venv/bin/python bench/soak.py --units 1000 --duration 1h

1. Starts ``c12exporter simulate`` with N units and ``c12exporter serve`` against them
   (SNMP agent on), each a process of its own, on free loopback ports.
2. Scrapes ``/metrics`` every ``--scrape-every`` (gzip accepted, as Prometheus asks) and
   walks one column of the SNMP unit table (``snmpbulkwalk``, in a thread of its own)
   every ``--walk-every``, as Prometheus and a manager would.
3. Every ``--sample-every`` records the exporter's resident memory, open file
   descriptors (``/proc/PID/fd``), threads, asyncio tasks
   (``c12_exporter_asyncio_tasks``) and polls done and failed (``c12_polls_total``,
   ``c12_poll_errors_total`` summed over the fleet).
4. At the end: start, min, max and end of each, and the slope of resident memory over
   the second half of the run (least squares).
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from simulated import start_simulator  # bench/simulated.py, beside this script

from c12exporter.settings import parse_duration
from c12exporter.snmp import mibcompile

LOOPBACK = "127.0.0.1"
COMMUNITY = "soak"
START_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Sample:
    """The exporter process at one moment."""

    at_s: float
    """Seconds since the exporter answered for the first time."""
    rss_mib: float
    fds: int
    threads: int
    tasks: int
    polls: int
    failed: int


@dataclass
class Load:
    """What the soak asked of the exporter, and how much of it failed."""

    scrapes: int = 0
    scrape_errors: list[str] = field(default_factory=list)
    walks: int = 0
    walk_varbinds: int = 0
    walk_errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Soak:
    samples: tuple[Sample, ...]
    load: Load
    failures: dict[str, int]
    """Failed polls over the run by reason (``c12_poll_errors_total``'s ``reason``)."""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def exporter_config(units_file: Path, snmp_port: int, interval: str) -> str:
    return (
        f"poll: {{interval: {interval}, timeout: 2s}}\n"
        f"snmp: {{listen_address: '{LOOPBACK}:{snmp_port}', community: {COMMUNITY}}}\n"
        f"units_files: ['{units_file}']\n"
    )


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def metric_sum(body: str, name: str) -> float:
    """The sum of every sample of ``name`` (with or without labels) in a text exposition."""
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def failures_by_reason(body: str) -> dict[str, int]:
    reasons: dict[str, int] = {}
    for line in body.splitlines():
        if line.startswith("c12_poll_errors_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            reasons[reason] = reasons.get(reason, 0) + int(float(line.rsplit(" ", 1)[1]))
    return reasons


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
        return str(response.read().decode("utf-8"))


def scrape(url: str) -> str:
    """``/metrics`` asked for as Prometheus asks: gzip accepted."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return str(body.decode("utf-8"))


def sample(pid: int, at_s: float, metrics: str) -> Sample:
    status = proc_status(pid)
    return Sample(
        at_s=at_s,
        rss_mib=int(status["VmRSS"].split()[0]) / 1024,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(status["Threads"]),
        tasks=int(metric_sum(metrics, "c12_exporter_asyncio_tasks")),
        polls=int(metric_sum(metrics, "c12_polls_total")),
        failed=int(metric_sum(metrics, "c12_poll_errors_total")),
    )


WALKED = "C12-PDU-MIB::c12UnitName"
"""One column of the unit table: a value per unit."""


MIB_DIR = Path(mibcompile.__file__).parent / mibcompile.PACKAGE_DIR
"""The MIBs the package carries, for net-snmp's -M."""


def walk_units(snmp_port: int) -> int:
    """Walk :data:`WALKED` once; the number of values it returned."""
    command = [
        "snmpbulkwalk", "-v2c", "-c", COMMUNITY, "-On", "-Oq", "-t", "10", "-r", "0",
        "-M", f"+{MIB_DIR}", "-m", "+C12-PDU-MIB",
        f"{LOOPBACK}:{snmp_port}", WALKED,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode:
        raise RuntimeError(f"snmpbulkwalk failed: {done.stderr.strip()[-300:]}")
    return sum(1 for line in done.stdout.splitlines() if line.startswith("."))


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the exporter exited: {log.read_text()[-2000:]}")
        try:
            http_get(f"{url}/-/healthy")
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the exporter did not answer in time")


def wait_snmp(snmp_port: int) -> None:
    """Wait for the agent (it may start after the web server answers)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            walk_units(snmp_port)
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                raise SystemExit("the SNMP agent did not answer in time") from None


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_soak(
    workdir: Path,
    units: int,
    duration_s: float,
    sample_every_s: float = 60.0,
    scrape_every_s: float = 15.0,
    walk_every_s: float = 60.0,
    interval: str = "5s",
    progress: Callable[[Sample], None] | None = None,
) -> Soak:
    """Run the simulator and the exporter for ``duration_s`` under load; the samples."""
    units_file = workdir / "sim-units.yml"
    simulator = start_simulator(units_file, "--units", str(units), "--speed", "1")
    exporter: subprocess.Popen[bytes] | None = None
    try:
        snmp_port, web_port = free_port(socket.SOCK_DGRAM), free_port()
        config = workdir / "c12exporter.yml"
        config.write_text(exporter_config(units_file, snmp_port, interval), encoding="utf-8")
        log = workdir / "exporter.log"
        with open(log, "wb") as out:
            exporter = subprocess.Popen(
                [sys.executable, "-m", "c12exporter.cli", "--log.level=warn", "serve",
                 "--config.file", str(config), f"--web.listen-address={LOOPBACK}:{web_port}"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://{LOOPBACK}:{web_port}"
        wait_healthy(url, exporter, log)
        wait_snmp(snmp_port)
        return _load_and_watch(
            exporter, url, snmp_port, duration_s, sample_every_s, scrape_every_s,
            walk_every_s, progress,
        )  # fmt: skip
    finally:
        if exporter is not None:
            stop(exporter)
        stop(simulator)


def _load_and_watch(
    exporter: subprocess.Popen[bytes],
    url: str,
    snmp_port: int,
    duration_s: float,
    sample_every_s: float,
    scrape_every_s: float,
    walk_every_s: float,
    progress: Callable[[Sample], None] | None,
) -> Soak:
    load = Load()
    samples: list[Sample] = []
    started = time.monotonic()
    done = threading.Event()
    walker = threading.Thread(target=_walk_until, args=(done, snmp_port, walk_every_s, load))
    walker.start()
    try:
        return _watch(exporter, url, started, duration_s, sample_every_s, scrape_every_s,
                      samples, load, progress)  # fmt: skip
    finally:
        done.set()
        walker.join()


def _walk_until(done: threading.Event, snmp_port: int, every_s: float, load: Load) -> None:
    """Walk every ``every_s`` (in a thread of its own, so a slow walk delays no sample)."""
    started = time.monotonic()
    while not done.is_set():
        try:
            load.walk_varbinds += walk_units(snmp_port)
            load.walks += 1
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            load.walk_errors.append(f"{time.monotonic() - started:.0f} s: {error}")
        done.wait(every_s)


def _watch(
    exporter: subprocess.Popen[bytes],
    url: str,
    started: float,
    duration_s: float,
    sample_every_s: float,
    scrape_every_s: float,
    samples: list[Sample],
    load: Load,
    progress: Callable[[Sample], None] | None,
) -> Soak:
    metrics = ""
    due = {"sample": 0.0, "scrape": 0.0}
    while True:
        now = time.monotonic() - started
        if exporter.poll() is not None:
            raise SystemExit(f"the exporter exited after {now:.0f} s")
        last = now >= duration_s
        if due["scrape"] <= now or due["sample"] <= now or last:
            try:
                metrics = scrape(f"{url}/metrics")
                load.scrapes += 1
            except OSError as error:
                load.scrape_errors.append(f"{now:.0f} s: {error}")
                metrics = ""
            due["scrape"] = now + scrape_every_s
            if (due["sample"] <= now or last) and metrics:
                samples.append(sample(exporter.pid, round(now, 1), metrics))
                due["sample"] = now + sample_every_s
                if progress is not None:
                    progress(samples[-1])
        if last:
            return Soak(tuple(samples), load, failures_by_reason(metrics))
        time.sleep(max(0.0, min(min(due.values()), duration_s) - (time.monotonic() - started)))


def rss_slope_mib_per_h(samples: Sequence[Sample]) -> float | None:
    """Least-squares slope of resident memory over the second half of the run, MiB/h;
    ``None`` with fewer than two samples there."""
    if not samples:
        return None
    half = samples[-1].at_s / 2
    late = [s for s in samples if s.at_s >= half]
    if len(late) < 2:
        return None
    slope, _ = statistics.linear_regression(
        [s.at_s / 3600 for s in late], [s.rss_mib for s in late]
    )
    return slope


FIGURES = tuple(f.name for f in fields(Sample) if f.name != "at_s")


def table(samples: Sequence[Sample]) -> str:
    """Start, min, max and end of every figure, as Markdown."""
    lines = ["| figure | start | min | max | end |", "|---|---:|---:|---:|---:|"]
    for name in FIGURES:
        values = [getattr(s, name) for s in samples]
        cells = [values[0], min(values), max(values), values[-1]]
        text = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in cells]
        lines.append(f"| {name.replace('_', ' ')} | " + " | ".join(text) + " |")
    return "\n".join(lines)


def report(soak: Soak, args: argparse.Namespace) -> str:
    samples, load = soak.samples, soak.load
    slope = rss_slope_mib_per_h(samples)
    span = samples[-1].at_s if samples else 0.0
    return "\n".join([
        f"## Soak: {args.units} simulated units, {span / 60:.1f} min\n",
        f"Command: `python bench/soak.py --units {args.units} --duration {args.duration} "
        f"--interval {args.interval}` on {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}.\n",
        f"{len(samples)} samples; {load.scrapes} scrapes of /metrics "
        f"({len(load.scrape_errors)} failed), {load.walks} walks of {WALKED.split(':')[-1]} "
        f"({load.walk_varbinds} values, {len(load.walk_errors)} failed).\n",
        table(samples) if samples else "(no samples)",
        "",
        "Resident memory over the second half: "
        + ("too few samples" if slope is None else f"{slope:+.2f} MiB/h")
        + "; failed polls by reason: "
        + (", ".join(f"{k} {v}" for k, v in sorted(soak.failures.items())) or "none"),
        *[f"- scrape error at {e}" for e in load.scrape_errors[:5]],
        *[f"- walk error at {e}" for e in load.walk_errors[:5]],
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--duration", default="1h", help="e.g. 10m, 1h (%(default)s)")
    parser.add_argument("--interval", default="5s", help="poll interval (%(default)s)")
    parser.add_argument("--sample-every", default="1m", help="(%(default)s)")
    parser.add_argument("--scrape-every", default="15s", help="(%(default)s)")
    parser.add_argument("--walk-every", default="1m", help="(%(default)s)")
    parser.add_argument(
        "--workdir", type=Path, help="keep the config and the exporter's log here (default: "
        "a temporary directory, removed at the end)",
    )  # fmt: skip
    args = parser.parse_args()

    def progress(s: Sample) -> None:
        print(f"{s.at_s:7.0f} s  {s}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        soak = run_soak(
            workdir, args.units, parse_duration(args.duration, "--duration"),
            parse_duration(args.sample_every, "--sample-every"),
            parse_duration(args.scrape_every, "--scrape-every"),
            parse_duration(args.walk_every, "--walk-every"), args.interval, progress,
        )  # fmt: skip
    print(report(soak, args))


if __name__ == "__main__":
    main()
