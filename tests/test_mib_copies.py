"""``mibs/`` at the top of the repository holds copies of the package's MIB files, the
same bytes ``c12exporter mib --output`` writes, and they load by name from there."""

from __future__ import annotations

import subprocess
from pathlib import Path

from c12exporter.snmp.mibcompile import SOURCE_FILES, read_sources
from tests.servers import require_tool

TOP = Path(__file__).resolve().parent.parent / "mibs"
REFRESH = "run `make mibs` (c12exporter mib --output mibs) and commit mibs/"


def test_the_top_level_mibs_are_the_packages_byte_for_byte() -> None:
    package = read_sources()
    assert set(package) == set(SOURCE_FILES.values())
    for filename, text in package.items():
        copy = TOP / filename
        assert copy.is_file(), f"mibs/{filename} is missing: {REFRESH}"
        assert copy.read_bytes() == text, f"mibs/{filename} differs from the package's: {REFRESH}"
    extra = {p.name for p in TOP.iterdir()} - set(package) - {"README.md"}
    assert not extra, f"mibs/ holds files the package does not: {sorted(extra)}"


def test_the_top_level_mibs_load_by_name() -> None:
    result = subprocess.run(
        [require_tool("snmptranslate", "snmp"), "-M", str(TOP), "-m", "C12-PDU-MIB", "-On",
         "C12-PDU-MIB::c12ChannelCurrent"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ".1.3.6.1.4.1.8072.9999.9999.12.1.5.1.8"
    assert "Cannot find module" not in result.stderr, result.stderr
