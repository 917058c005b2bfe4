"""``c12exporter zabbix-trap``: snmptrapd's traphandle input to Zabbix's SNMP trap file.

Run as snmptrapd runs it (a process, the notification on stdin); records are checked the
way the Zabbix server splits them (at ``ZBXTRAP``, the address after it). Zabbix reading
them is tested in ``tests/test_zabbix.py``.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.servers import c12exporter_command

ESTOP = (
    "localhost\n"
    "UDP: [127.0.0.1]:47573->[127.0.0.1]:54302\n"
    "SNMPv2-MIB::sysUpTime.0 0:0:00:03.49\n"
    "SNMPv2-MIB::snmpTrapOID.0 C12-PDU-MIB::c12EstopPressed\n"
    "C12-PDU-MIB::c12UnitName.2 sim-02\n"
    "C12-PDU-MIB::c12NotifPrevEstopState.0 released\n"
    "C12-PDU-MIB::c12UnitEstopState.2 pressed\n"
)


def handle(trap_file: Path, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        c12exporter_command("zabbix-trap", "--file", str(trap_file), *args),
        input=stdin, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def records(text: str) -> list[tuple[str, str]]:
    """(address, body) per record, split as zabbix_server's snmptrapper does."""
    parts = re.split(r"^.*?ZBXTRAP ", text, flags=re.MULTILINE)
    out = []
    for part in parts[1:]:
        address, _, body = part.partition("\n")
        out.append((address, body))
    return out


def test_a_notification_becomes_one_record_for_its_sender(tmp_path: Path) -> None:
    trap_file = tmp_path / "traps.log"
    result = handle(trap_file, ESTOP)
    assert result.returncode == 0, result.stderr
    text = trap_file.read_text()
    assert re.match(r"\d\d:\d\d:\d\d \d{4}/\d\d/\d\d ZBXTRAP 127\.0\.0\.1\n", text), text
    [(address, body)] = records(text)
    assert address == "127.0.0.1"
    assert "VARBINDS:" in body
    assert re.search(r"^  SNMPv2-MIB::snmpTrapOID\.0 +C12-PDU-MIB::c12EstopPressed$", body, re.M)
    assert re.search(r"^  C12-PDU-MIB::c12UnitName\.2 +sim-02$", body, re.M)

    ipv6 = ESTOP.replace("UDP: [127.0.0.1]:47573->[127.0.0.1]:54302", "UDP/IPv6: [::1]:5->[::1]:6")
    assert handle(trap_file, ipv6).returncode == 0
    assert [a for a, _ in records(trap_file.read_text())] == ["127.0.0.1", "::1"]


def test_a_varbind_cannot_forge_a_record(tmp_path: Path) -> None:
    """A channel name is anyone's to set: ``ZBXTRAP 127.0.0.9`` in it starts no record."""
    trap_file = tmp_path / "traps.log"
    forged = ESTOP + "C12-PDU-MIB::c12ChannelName.2.1 x\nZBXTRAP 127.0.0.9 c12EstopReleased\n"
    assert handle(trap_file, forged).returncode == 0
    [(address, body)] = records(trap_file.read_text())
    assert address == "127.0.0.1"
    assert re.search(r"ZBX_TRAP +127\.0\.0\.9", body), body


def test_concurrent_handlers_never_interleave(tmp_path: Path) -> None:
    trap_file = tmp_path / "traps.log"
    many = ESTOP + "".join(f"C12-PDU-MIB::c12ChannelName.2.{n} {'x' * 200}\n" for n in range(40))
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: handle(trap_file, many), range(16)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    found = records(trap_file.read_text())
    assert len(found) == 16
    assert all(body.count("c12ChannelName") == 40 and body.endswith("x\n") for _, body in found)


def test_rotation_keeps_every_record(tmp_path: Path) -> None:
    trap_file = tmp_path / "traps.log"
    for _ in range(5):
        assert handle(trap_file, ESTOP, "--max-size", "1000").returncode == 0
    rotated = trap_file.with_name("traps.log.1")
    assert rotated.exists() and trap_file.stat().st_size <= 1000
    assert len(records(rotated.read_text())) + len(records(trap_file.read_text())) >= 2
    assert len(records(trap_file.read_text())) >= 1


def test_bad_input_and_unwritable_file_are_clear_errors(tmp_path: Path) -> None:
    result = handle(tmp_path / "traps.log", "just one line\n")
    assert result.returncode == 2 and "traphandle input" in result.stderr
    assert "Traceback" not in result.stderr
    result = handle(tmp_path / "missing-dir" / "traps.log", ESTOP)
    assert result.returncode == 1
    assert f"cannot append to {tmp_path / 'missing-dir' / 'traps.log'}" in result.stderr
    assert "Traceback" not in result.stderr
