"""``c12exporter demo``: a simulated warehouse, the exporter on top, and Prometheus if installed.

Everything listens on loopback. The demo writes its files (the simulator's unit
list, the exporter config, Prometheus' config and data, and the MIB files an NMS loads)
to ``--data-dir``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from .config import load_config
from .exporter import RunningExporter, start_exporter
from .lifecycle import Signals
from .plugins import load_plugins
from .simulator.control import DEFAULT_CONTROL_PORT, ControlServer
from .simulator.scenarios import DEFAULT_SCENARIO, SCENARIOS
from .simulator.server import Fleet
from .snmp.mibfiles import write_mibs

HOST = "127.0.0.1"
DEFAULT_WEB_PORT = 10120
DEFAULT_SNMP_PORT = 10161
DEFAULT_PROMETHEUS_PORT = 10190
DEMO_COMMUNITY = "public"
ALERT_DIRS = (
    Path(__file__).resolve().parent.parent / "alerts",  # a source checkout
    Path(sys.prefix) / "share" / "c12exporter" / "alerts",  # an installed wheel
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--units", type=int, default=24, help="simulated units (%(default)s)")
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        help="load scenario (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="simulation seed (%(default)s)")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="physics seconds per real second (%(default)s)"
    )
    parser.add_argument(
        "--data-dir",
        default="demo-data",
        type=Path,
        help="where the demo writes its files (%(default)s)",
    )
    parser.add_argument(
        "--web-port", type=int, default=DEFAULT_WEB_PORT, help="exporter HTTP port (%(default)s)"
    )
    parser.add_argument(
        "--snmp-port", type=int, default=DEFAULT_SNMP_PORT, help="SNMP agent UDP port (%(default)s)"
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=DEFAULT_CONTROL_PORT,
        help="simulator control interface port (%(default)s)",
    )
    parser.add_argument(
        "--prometheus-port",
        type=int,
        default=DEFAULT_PROMETHEUS_PORT,
        help="Prometheus port, if Prometheus is installed (%(default)s)",
    )
    parser.add_argument("--no-prometheus", action="store_true",
                        help="do not start Prometheus even if it is installed")  # fmt: skip


def write_exporter_config(data_dir: Path, units_file: Path, web_port: int,
                          snmp_port: int | None) -> Path:  # fmt: skip
    config: dict[str, Any] = {
        "units_files": [units_file.name],
        "poll": {"interval": "5s", "timeout": "2s"},
        "web": {"listen_address": f"{HOST}:{web_port}"},
    }
    if snmp_port is not None:
        config["snmp"] = {"listen_address": f"{HOST}:{snmp_port}", "community": DEMO_COMMUNITY}
    path = data_dir / "c12exporter.yml"
    path.write_text("# Written by `c12exporter demo`.\n" + json.dumps(config, indent=2) + "\n")
    return path


def write_prometheus_config(data_dir: Path, web_port: int) -> Path:
    alerts = next((d for d in ALERT_DIRS if d.is_dir()), None)
    rules = sorted(str(p) for p in alerts.glob("*alerts*.yml")) if alerts else []
    config = {
        "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
        "rule_files": rules,
        "scrape_configs": [
            {"job_name": "c12", "static_configs": [{"targets": [f"{HOST}:{web_port}"]}]}
        ],
    }
    path = data_dir / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


async def start_prometheus(data_dir: Path, web_port: int, port: int) -> asyncio.subprocess.Process:
    binary = shutil.which("prometheus")
    assert binary is not None
    config = write_prometheus_config(data_dir, web_port)
    log = open(data_dir / "prometheus.log", "wb")  # noqa: SIM115 - owned by the process
    return await asyncio.create_subprocess_exec(
        binary, f"--config.file={config}", f"--storage.tsdb.path={data_dir / 'prometheus'}",
        f"--web.listen-address={HOST}:{port}", stdout=log, stderr=log,
    )  # fmt: skip


def _snmp_hints(agent: Any, mib_dir: Path) -> list[str]:
    """``agent`` is the SNMP exposer's RunningAgent (not imported here: it loads pysnmp).
    The walk with the MIB files the demo wrote: a stable path the user keeps using."""
    mibs = ["-M", str(mib_dir), "-m", "C12-PDU-MIB"]
    credentials = agent.credentials(secrets=True)
    walk = ["snmpbulkwalk", *mibs, *credentials, agent.target, "C12-PDU-MIB::c12ChannelTable"]
    return [
        f"MIB files for any NMS: {mib_dir}   (docs/mib.md)",
        "SNMP walk (MIB loaded by name):",
        f"  {shlex.join(walk)}",
    ]


def _banner(fleet: Fleet, exporter: RunningExporter, control: ControlServer,
            prometheus_port: int | None, mib_dir: Path) -> str:  # fmt: skip
    lines = [
        "",
        f"c12exporter demo: {len(fleet.units)} simulated units "
        f"(scenario {fleet.scenario.name}), polled every 5 s",
        "",
    ]
    web = exporter.exposers.get("web")
    consoles = [u for u in (web.endpoints if web else []) if u.endswith("/")]
    if "console" in exporter.exposers and consoles:
        lines.append(f"  {'console':<11} {consoles[0]}   (open this in a browser)")
    for section, running in exporter.exposers.items():
        for endpoint in running.endpoints:
            lines.append(f"  {section:<11} {endpoint}")
    lines.append(f"  {'simulator':<11} {control.url}/units   (fault injection: docs/simulator.md)")
    if prometheus_port is not None:
        query = "c12_current_amperes"
        lines.append(
            f"  {'prometheus':<11} http://{HOST}:{prometheus_port}/graph?g0.expr={query}&g0.tab=0"
        )
    snmp = exporter.exposers.get("snmp")
    for running in exporter.exposers.values():
        hints = _snmp_hints(running, mib_dir) if running is snmp else running.hints
        if hints:
            lines += ["", *(f"  {hint}" for hint in hints)]
    lines += ["", "Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> None:
    signals = Signals()
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    plugins = load_plugins()
    units_file = data_dir / "sim-units.yml"
    fleet = await Fleet.start(
        args.units, scenario_name=args.scenario, seed=args.seed, speed=args.speed,
        units_file=units_file, plugins=plugins,
    )  # fmt: skip
    control = ControlServer(fleet, HOST, args.control_port)
    prometheus: asyncio.subprocess.Process | None = None
    exporter: RunningExporter | None = None
    try:
        await control.start()
        snmp_port = args.snmp_port if "snmp" in plugins.exposers else None
        config_file = write_exporter_config(data_dir, units_file, args.web_port, snmp_port)
        exporter = await start_exporter(
            load_config(config_file, plugins), plugins, lambda: load_config(config_file, plugins)
        )
        prometheus_port = None
        if not args.no_prometheus and shutil.which("prometheus"):
            prometheus = await start_prometheus(data_dir, args.web_port, args.prometheus_port)
            prometheus_port = args.prometheus_port
        mib_dir = data_dir.resolve() / "mibs"
        write_mibs(mib_dir)
        print(_banner(fleet, exporter, control, prometheus_port, mib_dir), flush=True)
        await signals.stopped()
    finally:
        if prometheus is not None and prometheus.returncode is None:
            prometheus.terminate()
            with contextlib.suppress(ProcessLookupError):
                await prometheus.wait()
        if exporter is not None:
            await exporter.stop()
        await control.stop()
        await fleet.stop()
