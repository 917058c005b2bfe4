"""One declaration per measurement: the declarations agree with each other, the docs are
generated from them, and a measurement added in one place (plus the simulator's
physics and its MIB column) is decoded, served on /metrics and walked over SNMP."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from c12exporter import measurements
from c12exporter.measurements import MEASUREMENTS, Metric
from c12exporter.prometheus import reference
from tests.servers import (
    LOOPBACK,
    REPO,
    SimulatorControl,
    free_port,
    http_get,
    process,
    require_tool,
    wait_until,
)

DOCS = REPO / "docs"


def test_metrics_doc_tables_are_generated_from_the_declarations() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    assert reference.update(text) == text, "docs/metrics.md is out of date: run `c12exporter docs`"


def test_every_measurement_is_on_prometheus_and_in_the_mib() -> None:
    mib = (REPO / "c12exporter" / "snmp" / "mibs" / "C12-PDU-MIB.txt").read_text(encoding="utf-8")
    for m in MEASUREMENTS:
        assert m.metric is not None, m.name
        assert m.column is not None and f"{m.column.name} OBJECT-TYPE" in mib, m.name


def test_contradicting_declarations_are_refused() -> None:
    current = measurements.BY_NAME["current"]
    with pytest.raises(ValueError, match="declared twice"):
        measurements.check((*MEASUREMENTS, current))
    other_help = dataclasses.replace(
        current, name="current_again", metric=Metric("c12_current_amperes", help="other")
    )
    with pytest.raises(ValueError, match="c12_current_amperes is declared elsewhere"):
        measurements.check((*MEASUREMENTS, other_help))
    odd_unit = dataclasses.replace(current, name="odd", unit="furlongs")
    with pytest.raises(ValueError, match="furlongs"):
        measurements.check((*MEASUREMENTS, odd_unit))


NEW_DECLARATION = """    Measurement(
        "earth_leakage", Scope.UNIT, "Residual current to earth", "A",
        Register("u16", 0.0001, "A", valid=(0.0, 6.0)),
        column=Column("c12InputEarthLeakage", MILLI),
    ),
"""
NEW_PHYSICS = """            "earth_leakage": 0.0123,
"""
NEW_MIB_COLUMN = """
c12InputEarthLeakage OBJECT-TYPE
    SYNTAX      C12MilliAmperes
    UNITS       "mA"
    MAX-ACCESS  read-only
    STATUS      current
    DESCRIPTION
        "The residual current to earth."
    ::= { c12InputEntry 20 }
"""


def _insert(path: Path, anchor: str, text: str, after: bool = False) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.count(anchor) == 1, f"{path}: anchor {anchor!r} not found once"
    replacement = anchor + text if after else text + anchor
    path.write_text(source.replace(anchor, replacement), encoding="utf-8")


def test_a_measurement_added_in_one_place_is_decoded_served_and_walked(tmp_path: Path) -> None:
    """A contributor's change on a copy of the package: one declaration, one value in the
    simulator's physics, one MIB column. Nothing else is edited."""
    root = tmp_path / "tree"
    shutil.copytree(REPO / "c12exporter", root / "c12exporter",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    _insert(root / "c12exporter" / "measurements.py", ')  # fmt: skip\n"""Every measurement',
            NEW_DECLARATION)  # fmt: skip
    _insert(root / "c12exporter" / "simulator" / "physics.py",
            '            "channel_current": list(channel_current),\n', NEW_PHYSICS)  # fmt: skip
    mib = root / "c12exporter" / "snmp" / "mibs" / "C12-PDU-MIB.txt"
    _insert(
        mib,
        "    c12InputVoltageUnbalance       Unsigned32\n}",
        "    c12InputEarthLeakage C12MilliAmperes,\n",
    )
    _insert(mib, "    ::= { c12InputEntry 19 }\n", NEW_MIB_COLUMN, after=True)
    _insert(mib, "        c12InputVoltageUnbalance\n    }", "        c12InputEarthLeakage,\n")

    env = {**os.environ, "PYTHONPATH": str(root), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    # Run from the copy (not the checkout the tests were started in).
    cli = [sys.executable, "-c", "from c12exporter.cli import main; raise SystemExit(main())"]

    def run(*args: str) -> str:
        done = subprocess.run([*cli, *args], env=env, cwd=root, capture_output=True, text=True,
                              timeout=60, check=True)  # fmt: skip
        return done.stdout

    assert "`earth_leakage`" in run("register-map")  # the register map grew by one field

    units_file, control_port = tmp_path / "sim-units.yml", free_port()
    simulate = [*cli, "simulate", "--units", "1", "--units-file", str(units_file),
                "--control-address", f"{LOOPBACK}:{control_port}", "--speed", "0"]  # fmt: skip
    with process(simulate, tmp_path / "simulator.log", env=env, cwd=root):
        control = SimulatorControl(f"http://{LOOPBACK}:{control_port}")
        wait_until(lambda: units_file.exists() and control.units(), 30, "simulator ready")
        (unit,) = yaml.safe_load(units_file.read_text())["units"]
        web_port, snmp_port = free_port(), free_port()
        config = tmp_path / "c12.yml"
        config.write_text(yaml.safe_dump({
            "web": {"listen_address": f"{LOOPBACK}:{web_port}"},
            "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": "public"},
            "units": [unit],
        }))  # fmt: skip
        serve = [*cli, "serve", "--config.file", str(config)]
        with process(serve, tmp_path / "exporter.log", env=env, cwd=root):
            url = f"http://{LOOPBACK}:{web_port}/metrics"
            line = f'c12_earth_leakage_amperes{{pdu="{unit["name"]}"}} 0.0123'
            wait_until(lambda: line in http_get(url), 30, "the new measurement on /metrics")
            walk = subprocess.run(
                [require_tool("snmpwalk", "snmp"), "-M", f"+{mib.parent}", "-m", "C12-PDU-MIB",
                 "-v2c", "-c", "public", "-Oqs", "-t", "2", "-r", "2",
                 f"udp:{LOOPBACK}:{snmp_port}", "C12-PDU-MIB::c12InputEarthLeakage"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            # 12 mA, shown through the MIB's DISPLAY-HINT "d-3"
            assert walk.stdout.split()[:2] == ["c12InputEarthLeakage.1", ".012"], (
                walk.stdout + walk.stderr
            )
