"""``c12exporter mib --output DIR``: the MIB files load in net-snmp from outside the checkout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.servers import c12exporter_command, require_tool

NOTIFICATIONS = re.compile(r"^(c12\w+)\s+NOTIFICATION-TYPE", re.MULTILINE)


def _mib(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        c12exporter_command("mib", *args), capture_output=True, text=True, timeout=60,
        cwd=tmp_path, check=False,
    )  # fmt: skip


def test_written_mibs_load_by_name_outside_the_checkout(tmp_path: Path) -> None:
    out = tmp_path / "nms" / "mibs"
    result = _mib(tmp_path, "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    mib_text = (out / "C12-PDU-MIB.txt").read_text()
    notifications = NOTIFICATIONS.findall(mib_text)
    assert len(notifications) >= 15
    names = ["C12-PDU-MIB::c12ChannelCurrent", *(f"C12-PDU-MIB::{n}" for n in notifications)]
    translate = subprocess.run(
        [require_tool("snmptranslate", "snmp"), "-M", str(out), "-m", "C12-PDU-MIB", "-On", *names],
        capture_output=True, text=True, timeout=30, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert translate.returncode == 0, translate.stderr
    oids = translate.stdout.split()
    assert oids[0] == ".1.3.6.1.4.1.8072.9999.9999.12.1.5.1.8"
    assert len(oids) == len(names) and all(
        o.startswith(".1.3.6.1.4.1.8072.9999.9999.12.") for o in oids
    )
    assert "Cannot find module" not in translate.stderr, translate.stderr


def test_unwritable_output_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = _mib(tmp_path, "--output", str(blocker / "mibs"))
    assert result.returncode == 2
    assert f"cannot write into {blocker / 'mibs'}" in result.stderr
    assert "Traceback" not in result.stderr
