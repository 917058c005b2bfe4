"""``c12exporter demo`` as the README runs it: a mixed fleet in Prometheus, and the
printed snmpwalk command works as pasted."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.servers import (
    LOOPBACK,
    Prometheus,
    c12exporter_command,
    free_port,
    http_get,
    process,
    require_tool,
    wait_until,
)

pytestmark = pytest.mark.integration

UNITS = 8


def test_demo_shows_a_mixed_fleet_in_prometheus_and_over_snmp(tmp_path: Path) -> None:
    require_tool("prometheus", "prometheus")
    ports = {name: free_port() for name in ("web", "control", "prometheus")}
    snmp_port = free_port()
    command = c12exporter_command(
        "demo", "--units", str(UNITS), "--data-dir", str(tmp_path / "demo"),
        "--web-port", str(ports["web"]), "--control-port", str(ports["control"]),
        "--prometheus-port", str(ports["prometheus"]), "--snmp-port", str(snmp_port),
    )  # fmt: skip
    log = tmp_path / "demo.log"
    with process(command, log):
        banner = wait_until(lambda: "Press Ctrl-C" in log.read_text() and log.read_text(), 60,
                            "demo banner")  # fmt: skip
        assert f"http://{LOOPBACK}:{ports['web']}/metrics" in banner
        urls = [w for line in banner.splitlines() for w in line.split()[1:2] if "://" in w]
        assert urls[0] == f"http://{LOOPBACK}:{ports['web']}/"  # the console first
        assert "C12 fleet console" in http_get(urls[0])
        assert f"http://{LOOPBACK}:{ports['prometheus']}/" in banner

        server = Prometheus(ports["prometheus"])
        wait_until(lambda: server.value("count(c12_up == 1)") == UNITS, 60, "fleet in Prometheus")
        models = {r["metric"]["model"] for r in server.query("c12_unit_info")}
        layouts = {r["metric"]["layout"] for r in server.query("c12_unit_info")}
        assert len(models) >= 4 and len(layouts) == 4, (models, layouts)
        rules = json.loads(http_get(f"{server.url}/api/v1/rules"))["data"]["groups"]
        alerts = {rule["name"] for group in rules for rule in group["rules"]}
        assert {"C12UnitDown", "C12ChannelOutsideSupervisionBand"} <= alerts

        walk = next(line.strip() for line in banner.splitlines() if "snmpbulkwalk" in line)
        argv = shlex.split(walk)
        argv[0] = require_tool(argv[0], "snmp")
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        names = [line for line in result.stdout.splitlines() if "c12ChannelName." in line]
        assert len(names) == UNITS * 12, result.stdout[:500]
