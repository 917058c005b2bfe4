"""The shipped systemd unit: printed by the command, verified by systemd itself, and
sandboxed; the capability to bind port 161 only through its drop-in."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import c12exporter_command

COMMAND = str(Path(sys.executable).parent / "c12exporter")


def printed(*args: str) -> str:
    done = subprocess.run(
        c12exporter_command("systemd-unit", *args),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout


def service_section(text: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(text)
    return parser["Service"]


def test_the_unit_is_sandboxed_and_has_no_capability() -> None:
    service = service_section(printed("--command", COMMAND))
    assert service["ExecStart"].startswith(f"{COMMAND} serve --config.file=")
    expected = {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "StateDirectory": "c12exporter",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert int(service["LimitNOFILE"]) >= 65536


def test_the_drop_in_grants_only_binding_low_ports() -> None:
    service = service_section(printed("--snmp-port-161"))
    assert dict(service) == {
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
    }


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_unit_and_drop_in(tmp_path: Path) -> None:
    unit = tmp_path / "c12exporter.service"
    unit.write_text(printed("--command", COMMAND), encoding="utf-8")
    drop_ins = tmp_path / "c12exporter.service.d"
    drop_ins.mkdir()
    (drop_ins / "snmp-port-161.conf").write_text(printed("--snmp-port-161"), encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    complaints = [line for line in done.stderr.splitlines() if "c12exporter" in line]
    assert done.returncode == 0 and not complaints, done.stderr
    shown = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert "Overall exposure level" in shown.stdout, shown.stdout + shown.stderr
