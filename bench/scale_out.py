"""Benchmark: one fleet polled by 1, 2 and 4 exporters (``--shard i/n``).

Not a test: it prints figures (Markdown) for docs/performance.md and docs/scaling.md.

    .venv/bin/python bench/scale_out.py --units 1000 --window 20

``c12exporter simulate`` serves the fleet from another process. For each number of
exporters, ``c12exporter serve --shard i/n`` processes poll it every 5 s; once every unit
is up (each exactly once across the exporters), CPU of each exporter and polls completed
are measured over the window. Baseline, in the same run: one exporter.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml
from simulated import start_simulator  # bench/simulated.py, beside this script

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def scrape(port: int) -> tuple[int, float]:
    """(units up, polls so far) from one exporter's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    up = polls = 0.0
    for line in text.splitlines():
        if line.startswith("c12_up{") and line.endswith(" 1.0"):
            up += 1
        elif line.startswith("c12_polls_total{"):
            polls += float(line.rsplit(" ", 1)[1])
    return int(up), polls


def run(count: int, config: Path, units: int, window: float) -> dict[str, float]:
    ports = [free_port() for _ in range(count)]
    logs = [config.with_name(f"exporter-{count}-{i}.log").open("wb") for i in range(count)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "c12exporter.cli",
                "serve",
                "--config.file",
                str(config),
                f"--shard={i + 1}/{count}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        for i, (port, log) in enumerate(zip(ports, logs, strict=True))
    ]
    try:
        started = time.monotonic()
        while True:
            time.sleep(1)
            try:
                if sum(scrape(p)[0] for p in ports) == units:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 300:
                tails = [log.name + ":\n" + Path(log.name).read_text()[-2000:] for log in logs]
                raise SystemExit(f"{count} exporters: not every unit came up\n" + "\n".join(tails))
        all_up = time.monotonic() - started
        cpu0 = [cpu_seconds(p.pid) for p in procs]
        polls0 = sum(scrape(p)[1] for p in ports)
        time.sleep(window)
        cpu = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu0, strict=True)]
        polls = sum(scrape(p)[1] for p in ports) - polls0
        return {
            "all_up_s": all_up,
            "cores": sum(cpu) / window,
            "max_cores": max(cpu) / window,
            "polls_per_s": polls / window,
            "cpu_ms_per_poll": sum(cpu) / polls * 1e3,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        for log in logs:
            log.close()


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        units_file = Path(tmp) / "sim-units.yml"
        sim = start_simulator(units_file, "--units", str(args.units), "--speed", "1")
        try:
            config = Path(tmp) / "c12.yml"
            config.write_text(yaml.safe_dump({
                "poll": {"interval": "5s", "timeout": "2s"},
                "units_files": [str(units_file)],
            }))  # fmt: skip
            results = {n: run(n, config, args.units, args.window) for n in (1, 2, 4)}
        finally:
            sim.terminate()
            sim.wait()
    base = results[1]
    print(f"## {args.units} units on 1, 2 and 4 exporters (`bench/scale_out.py`)\n")
    command = f"python bench/scale_out.py --units {args.units} --window {args.window:g}"
    print(f"Command: `{command}` on {os.cpu_count()} cores; poll interval 5 s; "
          "the simulator runs beside them.\n")  # fmt: skip
    print("| exporters | all units up after | polls/s | exporter CPU (cores, all) | "
          "busiest exporter (cores) | CPU per poll | CPU per poll vs 1 exporter |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, r in results.items():
        print(f"| {n} | {r['all_up_s']:.0f} s | {r['polls_per_s']:.0f} | {r['cores']:.2f} | "
              f"{r['max_cores']:.2f} | {r['cpu_ms_per_poll']:.2f} ms | "
              f"{r['cpu_ms_per_poll'] / base['cpu_ms_per_poll']:.2f} |")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--window", type=float, default=20.0)
    main(parser.parse_args())
