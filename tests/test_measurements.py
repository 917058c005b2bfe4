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
from prometheus_client.parser import text_string_to_metric_families

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
        "channel_voltage", Scope.CHANNEL, "Channel output voltage", "V",
        Register("u16", DECI, "V", valid=(0.0, VOLTAGE_MAX_V)),
        column=Column("c12ChannelVoltage", DECI),
    ),
"""
NEW_PHYSICS = """            "channel_voltage": [231.0] * len(channel_current),
"""


def _insert(path: Path, anchor: str, text: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.count(anchor) == 1, f"{path}: anchor {anchor!r} not found once"
    path.write_text(source.replace(anchor, text + anchor), encoding="utf-8")


def test_a_channel_measurement_declared_once_reaches_every_surface(tmp_path: Path) -> None:
    """A contributor's change on a copy of the tree: one declaration and one value in the
    simulator's physics, nothing else edited; the generators rewrite the MIB, the Zabbix
    templates and the docs, and the value is on /metrics, over SNMP, in the console, in
    both templates and in the docs."""
    root = tmp_path / "tree"
    for part in ("c12exporter", "zabbix", "alerts", "docs"):
        shutil.copytree(REPO / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    _insert(root / "c12exporter" / "measurements.py", ')  # fmt: skip\n"""Every measurement',
            NEW_DECLARATION)  # fmt: skip
    _insert(root / "c12exporter" / "simulator" / "physics.py",
            '            "channel_current": list(channel_current),\n', NEW_PHYSICS)  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(root), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    # Run from the copy (not the checkout the tests were started in).
    cli = [sys.executable, "-c", "from c12exporter.cli import main; raise SystemExit(main())"]

    def run(*args: str) -> str:
        done = subprocess.run(list(args), env=env, cwd=root, capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(sys.executable, "-m", "c12exporter.snmp.mibgen")
    run(sys.executable, "-m", "zabbix.generate")
    run(*cli, "docs", "--dir", str(root / "docs"))

    mib = root / "c12exporter" / "snmp" / "mibs" / "C12-PDU-MIB.txt"
    assert "c12ChannelVoltage OBJECT-TYPE" in mib.read_text(encoding="utf-8")
    assert "`channel_voltage`" in (root / "docs" / "register-map.md").read_text(encoding="utf-8")
    assert "c12_channel_voltage_volts" in (root / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert "| 22 | `c12ChannelVoltage` | C12DeciVolts (0..2147483647) | 0.1 V |" in (
        root / "docs" / "mib.md"
    ).read_text(encoding="utf-8")
    wanted = {
        "snmp": ("snmp_oid", "1.3.6.1.4.1.8072.9999.9999.12.1.5.1.22.{$C12.UNIT.INDEX}.{#CHANNEL}"),
        "http": ("pattern", 'c12_channel_voltage_volts{pdu="{$C12.UNIT}",channel="{#CHANNEL}"}'),
    }
    for kind, (field, value) in wanted.items():
        template = (root / "zabbix" / f"template_c12_{kind}.yaml").read_text(encoding="utf-8")
        (item,) = [
            item
            for t in yaml.safe_load(template)["zabbix_export"]["templates"]
            for rule in t.get("discovery_rules", [])
            for item in rule.get("item_prototypes", [])
            if item["key"] == "c12.channel.voltage[{#CHANNEL}]"
        ]
        steps = item.get("preprocessing", [])
        read = item.get("snmp_oid") if field == "snmp_oid" else steps[0]["parameters"][0]
        assert (read, item["units"]) == (value, "V"), f"{kind} template: {item}"
        if kind == "snmp":  # tenths of a volt
            assert {"type": "MULTIPLIER", "parameters": ["0.1"]} in steps, item

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
            base = f"http://{LOOPBACK}:{web_port}"

            def voltages() -> dict[str, float]:
                return {
                    sample.labels["channel"]: sample.value
                    for family in text_string_to_metric_families(http_get(base + "/metrics"))
                    for sample in family.samples
                    if sample.name == "c12_channel_voltage_volts"
                }

            wait_until(voltages, 90, "the new measurement on /metrics")
            assert voltages() == {str(n): 231.0 for n in range(1, 13)}
            walk = subprocess.run(
                [require_tool("snmpwalk", "snmp"), "-M", f"+{mib.parent}", "-m", "C12-PDU-MIB",
                 "-v2c", "-c", "public", "-Oqs", "-t", "2", "-r", "2",
                 f"udp:{LOOPBACK}:{snmp_port}", "C12-PDU-MIB::c12ChannelVoltage"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            # the last column of the MIB: the walk ends past the end of the MIB view
            rows = [row for row in walk.stdout.splitlines() if "No more variables" not in row]
            assert len(rows) == 12, walk.stdout + walk.stderr
            # 2310 tenths of a volt, shown through C12DeciVolts' DISPLAY-HINT "d-1"
            assert rows[6].split()[:2] == ["c12ChannelVoltage.1.7", "231.0"], walk.stdout
            page = http_get(f"{base}/?unit={unit['name']}")
            pane = page[page.index('id="pane-d"') :]
            assert "Channel output voltage" in pane and "231 V" in pane, pane[:2000]
