"""Scaling: the exporter's memory and CPU at 100, 1,000 and 10,000 units.

Not a test (``tests/test_scaling_bench.py`` runs a small one): it prints a Markdown table
for docs/performance.md.

    .venv/bin/python bench/scaling.py --units 100,1000,10000 --interval 5s,5s,30s

For each fleet size, one after the other:

1. ``c12exporter simulate`` serves the units from processes of their own, at most
   ``--units-per-simulator`` each (a simulated unit needs about three open files, and a
   process may not hold more than its hard limit), each simulator on its own loopback
   network (127.64.0.0/16, 127.65.0.0/16, ...), every unit on one port of its own
   address, so the exporter's connections never run out of local ports. Their physics
   is frozen (``--speed 0``) by default: a simulated unit's physics costs CPU for every
   second it runs, polled or not, and 10,000 units' physics would take the cores the
   exporter is measured on; the exporter's work per poll is the same (``--speed 1`` for
   live physics).
2. ``c12exporter serve`` polls them every ``--interval`` as a deployment runs: the
   Prometheus exposition, the console and its problem board, the history database, the
   trip forecast and the SNMP agent (``--no-snmp`` leaves the agent out); the harness
   waits until every unit is up, then one more interval so the first round of polls is
   over.
3. Over the window (``--intervals`` poll intervals) it scrapes ``/metrics`` with gzip
   every ``--scrape-every`` on a fixed schedule, as Prometheus would, timing each
   scrape, and walks one column of the SNMP unit table (``snmpbulkwalk``) at its start
   and its end, as a manager would; at the start and the end it reads the exporter's
   CPU time and the fleet's polls and failed polls (``c12_polls_total``,
   ``c12_poll_errors_total``).
4. It prints, per fleet size: resident memory at the end of the window and at its peak
   (``VmHWM``), cores used, CPU per unit-poll, polls done against polls due (units x
   window / interval: fewer means the poller skipped rounds it had fallen behind on),
   failed polls, units stale at the end (no successful poll within two intervals), the
   scrape's duration and size, and the simulators' cores; then the slope of resident
   memory per 1,000 units (least squares over the sizes run).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import math
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import traced_serve  # bench/traced_serve.py
from simulated import start_simulator  # bench/simulated.py, beside this script
from soak import COMMUNITY, free_port, proc_status, stop, wait_healthy, wait_snmp, walk_units

from c12exporter.settings import parse_duration

BENCH = Path(__file__).resolve().parent
TICKS = os.sysconf("SC_CLK_TCK")
FILES_PER_SIMULATED_UNIT = 3
"""Listening socket, the exporter's connection and a spare (the simulator's own rule)."""
UNITS_PER_SIMULATOR = 5000
FIRST_NETWORK = 64
"""Simulator i serves its units on 127.(64 + i).0.0/16."""
UP_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 120.0
STALE_INTERVALS = 2.0
SNAPSHOT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Point:
    """One fleet size, measured over its window."""

    units: int
    interval_s: float
    window_s: float
    up_after_s: float | None
    """Seconds from the exporter's start until every unit was up; ``None``: not all were."""
    rss_mib: float
    peak_rss_mib: float
    cpu_s: float
    polls: int
    due: int
    failed: int
    stale: int
    scrape_s: tuple[float, ...]
    scrape_mib: float
    """The exposition's size, uncompressed."""
    simulator_cpu_s: float
    walked: int | None = None
    """Values the last SNMP walk of the window returned; ``None``: no SNMP agent."""

    @property
    def cores(self) -> float:
        return self.cpu_s / self.window_s

    @property
    def cpu_ms_per_poll(self) -> float:
        return self.cpu_s / self.polls * 1e3 if self.polls else math.nan

    @property
    def missed(self) -> int:
        return max(0, self.due - self.polls)


@dataclass(frozen=True)
class Exposition:
    polls: int
    failed: int
    units: int
    stale: int


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def scrape(url: str) -> tuple[float, str]:
    """``/metrics`` with gzip, as Prometheus asks for it: (seconds until the whole body
    arrived, the text)."""
    request = urllib.request.Request(f"{url}/metrics", headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
        body = response.read()
        zipped = response.headers.get("Content-Encoding") == "gzip"
    took = time.perf_counter() - started
    return took, (gzip.decompress(body) if zipped else body).decode("utf-8")


def read_exposition(text: str, now: float, stale_after_s: float) -> Exposition:
    """Polls and failed polls summed over the fleet; units, and units stale (not up, or no
    successful poll within ``stale_after_s``)."""
    polls = failed = units = 0
    up: set[str] = set()
    fresh: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("c12_"):
            continue
        if line.startswith("c12_polls_total{"):
            polls += int(float(line.rsplit(" ", 1)[1]))
            units += 1
        elif line.startswith("c12_poll_errors_total{"):
            failed += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("c12_up{") and line.endswith(" 1.0"):
            up.add(_pdu(line))
        elif line.startswith("c12_last_poll_success_timestamp_seconds{") and (
            now - float(line.rsplit(" ", 1)[1]) <= stale_after_s
        ):
            fresh.add(_pdu(line))
    return Exposition(polls, failed, units, units - len(up & fresh))


def _pdu(line: str) -> str:
    return line.split('pdu="', 1)[1].split('"', 1)[0]


def raise_file_limit(units: int) -> None:
    """Raise this process's soft open-file limit (the simulators and the exporter inherit
    it) to the hard limit; the simulators are split so each fits under it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < units + 256:
        raise SystemExit(
            f"{units} units need an open-file limit of at least {units + 256} for the "
            f"exporter; the hard limit is {hard} (raise it with ulimit -Hn as root)"
        )


def simulator_shares(units: int, per_simulator: int) -> list[int]:
    """Units per simulator process: as few processes as hold ``per_simulator`` each, the
    units spread evenly."""
    count = max(1, math.ceil(units / per_simulator))
    return [units // count + (1 if i < units % count else 0) for i in range(count)]


def free_port_on(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_simulators(
    workdir: Path, units: int, per_simulator: int, speed: float = 0.0
) -> tuple[list[subprocess.Popen[bytes]], list[dict[str, object]]]:
    """Start the simulators; (their processes, the units as the exporter's config lists
    them, renamed ``s2-sim-0001`` ... when there is more than one simulator)."""
    shares = simulator_shares(units, per_simulator)
    procs: list[subprocess.Popen[bytes]] = []
    listed: list[dict[str, object]] = []
    try:
        for i, share in enumerate(shares):
            network = f"127.{FIRST_NETWORK + i}.0.0/16"
            port = free_port_on(f"127.{FIRST_NETWORK + i}.0.1")
            units_file = workdir / f"sim-units-{units}-{i + 1}.yml"
            procs.append(start_simulator(
                units_file, "--units", str(share), "--speed", f"{speed:g}", "--seed", str(i),
                "--addresses", network, "--port", str(port),
            ))  # fmt: skip
            for unit in yaml.safe_load(units_file.read_text(encoding="utf-8"))["units"]:
                if len(shares) > 1:
                    unit["name"] = f"s{i + 1}-{unit['name']}"
                listed.append(unit)
    except BaseException:
        for proc in procs:
            stop(proc)
        raise
    return procs, listed


def measure(
    workdir: Path,
    units: int,
    interval_s: float,
    intervals: float,
    scrape_every_s: float,
    timeout_s: float,
    per_simulator: int = UNITS_PER_SIMULATOR,
    exporter_env: dict[str, str] | None = None,
    snapshot: Path | None = None,
    speed: float = 0.0,
    snmp: bool = True,
) -> Point:
    """Run one fleet size and measure it (see the module docstring); with ``snapshot``,
    the exporter runs under tracemalloc (slower) and writes a snapshot there at the end
    of the window; without ``snmp``, the exporter runs no SNMP agent."""
    raise_file_limit(units)
    simulators, listed = start_simulators(workdir, units, per_simulator, speed)
    exporter: subprocess.Popen[bytes] | None = None
    try:
        config = workdir / f"c12exporter-{units}.yml"
        settings: dict[str, object] = {
            "poll": {"interval": f"{interval_s:g}s", "timeout": f"{min(timeout_s, interval_s):g}s"},
            "state_dir": str(workdir / f"state-{units}"),
            "units": listed,
        }  # fmt: skip
        snmp_port = free_port(socket.SOCK_DGRAM) if snmp else None
        if snmp_port is not None:
            settings["snmp"] = {"listen_address": f"127.0.0.1:{snmp_port}", "community": COMMUNITY}
        config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        web_port = free_port_on("127.0.0.1")
        log = workdir / f"exporter-{units}.log"
        env = {**os.environ, **(exporter_env or {})}
        command = [sys.executable, "-m", "c12exporter.cli"]
        if snapshot is not None:
            command = [sys.executable, str(BENCH / "traced_serve.py")]
            env[traced_serve.SNAPSHOT_ENV] = str(snapshot)
        with open(log, "wb") as out:
            exporter = subprocess.Popen(
                [*command, "--log.level=warn", "serve", "--config.file", str(config),
                 f"--web.listen-address=127.0.0.1:{web_port}"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env,
            )  # fmt: skip
        started = time.monotonic()
        url = f"http://127.0.0.1:{web_port}"
        wait_healthy(url, exporter, log)
        if snmp_port is not None:
            wait_snmp(snmp_port)
        up_after = _wait_all_up(url, units, interval_s, started)
        time.sleep(interval_s)  # the first round (every unit at once) is over
        point = _window(exporter, simulators, url, units, interval_s, intervals,
                        scrape_every_s, up_after, snmp_port)  # fmt: skip
        if snapshot is not None:
            _take_snapshot(exporter, snapshot)
        return point
    finally:
        if exporter is not None:
            stop(exporter)
        for proc in simulators:
            stop(proc)


def _take_snapshot(exporter: subprocess.Popen[bytes], snapshot: Path) -> None:
    snapshot.unlink(missing_ok=True)
    exporter.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
    while not snapshot.exists():
        if time.monotonic() > deadline or exporter.poll() is not None:
            raise SystemExit("the exporter wrote no tracemalloc snapshot")
        time.sleep(1)


def traced_table(snapshot: Path, top: int = 25) -> str:
    """The snapshot's memory by where it was allocated: this package's modules, other
    packages by name, the standard library by module, and the import machinery (code
    objects, module dicts), as Markdown."""
    stats = tracemalloc.Snapshot.load(str(snapshot)).statistics("filename")
    groups: dict[str, list[int]] = {}
    for stat in stats:
        group = groups.setdefault(_allocated_in(stat.traceback[0].filename), [0, 0])
        group[0] += stat.size
        group[1] += stat.count
    total = sum(size for size, _ in groups.values())
    lines = ["| allocated in | MiB | blocks |", "|---|---:|---:|"]
    for name, (size, count) in sorted(groups.items(), key=lambda g: -g[1][0])[:top]:
        lines.append(f"| {name} | {size / 2**20:.2f} | {count:,} |")
    lines.append(f"| all ({len(groups)} places) | {total / 2**20:.2f} | |")
    return "\n".join(lines)


def _allocated_in(filename: str) -> str:
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1].split("/", 1)[0]
    if "/c12exporter/" in filename:
        return "c12exporter/" + filename.rsplit("/c12exporter/", 1)[1]
    if filename.startswith("<frozen importlib"):
        return "imports (code objects, modules)"
    return "stdlib " + filename.rsplit("/", 1)[-1]


def _wait_all_up(url: str, units: int, interval_s: float, started: float) -> float | None:
    deadline = started + max(UP_TIMEOUT_S, 4 * interval_s)
    while time.monotonic() < deadline:
        _, text = scrape(url)
        if read_exposition(text, time.time(), STALE_INTERVALS * interval_s).stale == 0:
            return time.monotonic() - started
        # not too often: a scrape of a large fleet is work for the exporter too
        time.sleep(max(min(5.0, interval_s), interval_s / 2))
    return None


def _window(
    exporter: subprocess.Popen[bytes],
    simulators: Sequence[subprocess.Popen[bytes]],
    url: str,
    units: int,
    interval_s: float,
    intervals: float,
    scrape_every_s: float,
    up_after: float | None,
    snmp_port: int | None = None,
) -> Point:
    window_s = intervals * interval_s
    stale_after = STALE_INTERVALS * interval_s
    # The counters are read when a scrape is asked for (the exposition is made then), so
    # polls are due over the time between the first and the last scrape's request, not
    # over the scrapes' own length (seconds, for a large fleet).
    first_asked = last_asked = time.monotonic()
    took, text = scrape(url)
    cpu0, sim0 = cpu_seconds(exporter.pid), sum(cpu_seconds(p.pid) for p in simulators)
    started = time.monotonic()
    first = read_exposition(text, time.time(), stale_after)
    scrapes = [took]
    if snmp_port is not None:
        walk_units(snmp_port)
    # On a fixed schedule from the first, as Prometheus scrapes (the exporter renders the
    # units ahead of a scrape once it has seen three on one period).
    for k in itertools.count(1):
        due = first_asked + k * scrape_every_s
        if due > started + window_s:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        last_asked = time.monotonic()
        took, text = scrape(url)
        scrapes.append(took)
    walked = None if snmp_port is None else walk_units(snmp_port)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(exporter.pid) - cpu0
    simulator_cpu = sum(cpu_seconds(p.pid) for p in simulators) - sim0
    last = read_exposition(text, time.time(), stale_after)
    status = proc_status(exporter.pid)
    return Point(
        units=units,
        interval_s=interval_s,
        window_s=elapsed,
        up_after_s=up_after,
        rss_mib=int(status["VmRSS"].split()[0]) / 1024,
        peak_rss_mib=int(status["VmHWM"].split()[0]) / 1024,
        cpu_s=cpu,
        polls=last.polls - first.polls,
        due=round(units * (last_asked - first_asked) / interval_s),
        failed=last.failed - first.failed,
        stale=last.stale,
        scrape_s=tuple(scrapes),
        scrape_mib=len(text.encode("utf-8")) / 2**20,
        simulator_cpu_s=simulator_cpu,
        walked=walked,
    )


def rss_slope(points: Sequence[Point]) -> tuple[float, float] | None:
    """(MiB per 1,000 units, MiB at no units) by least squares; ``None`` with fewer than
    two fleet sizes."""
    if len({p.units for p in points}) < 2:
        return None
    slope, intercept = statistics.linear_regression(
        [p.units / 1000 for p in points], [p.rss_mib for p in points]
    )
    return slope, intercept


def table(points: Sequence[Point]) -> str:
    lines = [
        "| units | interval | all up after | resident memory | peak | cores | CPU per "
        "unit-poll | polls done / due | failed | stale at end | `/metrics` scrape "
        "(median, max) | exposition | simulators' cores |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        up = "not all" if p.up_after_s is None else f"{p.up_after_s:.0f} s"
        lines.append(
            f"| {p.units:,} | {p.interval_s:g} s | {up} | {p.rss_mib:.1f} MiB | "
            f"{p.peak_rss_mib:.1f} MiB | {p.cores:.2f} | {p.cpu_ms_per_poll:.2f} ms | "
            f"{p.polls:,} / {p.due:,} | {p.failed:,} | {p.stale:,} | "
            f"{statistics.median(p.scrape_s):.2f} s, {max(p.scrape_s):.2f} s | "
            f"{p.scrape_mib:.1f} MiB | {p.simulator_cpu_s / p.window_s:.2f} |"
        )
    return "\n".join(lines)


def slopes(points: Sequence[Point]) -> list[str]:
    """The slope of resident memory and CPU between successive sizes, and fitted."""
    out = []
    for a, b in itertools.pairwise(points):
        if b.units == a.units:
            continue
        per_k = (b.rss_mib - a.rss_mib) / (b.units - a.units) * 1000
        out.append(
            f"- {a.units:,} to {b.units:,} units: {per_k:+.1f} MiB per 1,000 units "
            f"({per_k * 1024 / 1000:.1f} KiB per unit); CPU per unit-poll "
            f"{a.cpu_ms_per_poll:.2f} to {b.cpu_ms_per_poll:.2f} ms"
        )
    fitted = rss_slope(points)
    if fitted is not None:
        out.append(
            f"- least squares over all sizes: {fitted[0]:.1f} MiB per 1,000 units, "
            f"{fitted[1]:.1f} MiB at no units"
        )
    return out


def report(points: Sequence[Point], command: str) -> str:
    load = os.getloadavg()
    return "\n".join([
        f"Command: `{command}` on {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
        f"load average at the end {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}.\n",
        table(points),
        "",
        "Resident memory per 1,000 units:",
        *slopes(points),
    ])  # fmt: skip


def _list(text: str, count: int, name: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if len(items) == 1:
        items *= count
    if len(items) != count:
        raise SystemExit(f"{name}: give one value, or one per fleet size ({count})")
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", default="100,1000,10000", help="fleet sizes (%(default)s)")
    parser.add_argument(
        "--interval", default="5s,5s,30s",
        help="poll interval, one for all sizes or one per size (%(default)s)",
    )  # fmt: skip
    parser.add_argument("--intervals", type=float, default=4.0,
                        help="window length in poll intervals (%(default)s)")  # fmt: skip
    parser.add_argument("--scrape-every", default="15s", help="(%(default)s)")
    parser.add_argument("--timeout", default="2s",
                        help="poll timeout, at most the interval (%(default)s)")  # fmt: skip
    parser.add_argument("--units-per-simulator", type=int, default=UNITS_PER_SIMULATOR,
                        help="(%(default)s)")  # fmt: skip
    parser.add_argument(
        "--exporter-env", action="append", default=[], metavar="NAME=VALUE",
        help="set in the exporter's environment, e.g. MALLOC_ARENA_MAX=2 (repeatable)",
    )  # fmt: skip
    parser.add_argument("--no-snmp", dest="snmp", action="store_false",
                        help="run the exporter without its SNMP agent")  # fmt: skip
    parser.add_argument("--speed", type=float, default=0.0,
                        help="the simulators' physics speed, 0 = frozen (%(default)s)")  # fmt: skip
    parser.add_argument(
        "--tracemalloc", action="store_true",
        help="run the exporter under tracemalloc (slower: its CPU figures are not the "
        "plain exporter's) and print where its memory was allocated at the end of each window",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [int(u.replace("_", "")) for u in args.units.split(",") if u.strip()]
    intervals = [parse_duration(i, "--interval") for i in _list(args.interval, len(sizes),
                                                                 "--interval")]  # fmt: skip
    env = dict(item.split("=", 1) for item in args.exporter_env)
    points = []
    traced = []
    with tempfile.TemporaryDirectory() as tmp:
        for units, interval in zip(sizes, intervals, strict=True):
            print(f"{units} units every {interval:g} s ...", file=sys.stderr, flush=True)
            point = measure(
                Path(tmp), units, interval, args.intervals,
                parse_duration(args.scrape_every, "--scrape-every"),
                parse_duration(args.timeout, "--timeout"), args.units_per_simulator, env,
                Path(tmp) / f"traced-{units}.bin" if args.tracemalloc else None, args.speed,
                args.snmp,
            )  # fmt: skip
            print(f"  {point}", file=sys.stderr, flush=True)
            points.append(point)
            if args.tracemalloc:
                traced.append(f"\nTraced at {units:,} units:\n\n"
                              + traced_table(Path(tmp) / f"traced-{units}.bin"))  # fmt: skip
    print(report(points, "python bench/scaling.py " + " ".join(sys.argv[1:])))
    print("\n".join(traced))


if __name__ == "__main__":
    main()
