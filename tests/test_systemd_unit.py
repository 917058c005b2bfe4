"""The shipped systemd unit: printed by the command, verified by systemd itself, and
sandboxed; the capability to bind port 161 only through its drop-in."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from c12exporter.cli import main

COMMAND = str(Path(sys.executable).parent / "c12exporter")


def printed(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What ``c12exporter systemd-unit ARGS`` prints."""
    capsys.readouterr()
    assert main(["systemd-unit", *args]) == 0
    return capsys.readouterr().out


def service_section(text: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(text)
    return parser["Service"]


def test_the_unit_is_sandboxed_and_has_no_capability(capsys: pytest.CaptureFixture[str]) -> None:
    service = service_section(printed(capsys, "--command", COMMAND))
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


def test_the_drop_in_grants_only_binding_low_ports(capsys: pytest.CaptureFixture[str]) -> None:
    service = service_section(printed(capsys, "--snmp-port-161"))
    assert dict(service) == {
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
    }


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_unit_and_drop_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = tmp_path / "c12exporter.service"
    unit.write_text(printed(capsys, "--command", COMMAND), encoding="utf-8")
    drop_ins = tmp_path / "c12exporter.service.d"
    drop_ins.mkdir()
    drop_in = printed(capsys, "--snmp-port-161")
    (drop_ins / "snmp-port-161.conf").write_text(drop_in, encoding="utf-8")
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
