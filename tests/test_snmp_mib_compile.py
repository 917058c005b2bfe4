"""The MIB compiles with pysmi into a cache that is reused, and the test harness reads
net-snmp's scaled output back exactly."""

from __future__ import annotations

from pathlib import Path

from c12exporter.snmp.mibcompile import compile_mib
from tests.snmp_harness import scaled


def test_mib_compiles_into_the_cache_and_is_reused(tmp_path: Path) -> None:
    first = compile_mib(cache=tmp_path)
    compiled = first.directory / "C12-PDU-MIB.py"
    assert compiled.is_file() and (first.directory / "NET-SNMP-MIB.py").is_file()
    stamp = compiled.stat().st_mtime_ns
    again = compile_mib(cache=tmp_path)
    assert again.directory == first.directory and compiled.stat().st_mtime_ns == stamp
    assert "Produced by pysmi" in compiled.read_text(encoding="utf-8")


def test_scaled_undoes_display_hints() -> None:
    assert scaled("12.340") == 12340 and scaled("-.001") == -1 and scaled("230.1") == 2301
    assert scaled("7") == 7
