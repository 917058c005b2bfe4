"""The MIB compiles with pysmi into a cache that is reused, and the test harness reads
net-snmp's scaled output back exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_the_package_carries_every_module_the_mib_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after `pip install` on a machine without net-snmp's MIB files: no system
    directories, no $MIBDIRS; the MIB still compiles and loads, from the package alone."""
    from pysnmp.smi import builder

    from c12exporter.snmp import mibcompile

    monkeypatch.setattr(mibcompile, "SYSTEM_MIB_DIRS", ())
    monkeypatch.setenv("MIBDIRS", "")
    dirs = mibcompile.mib_dirs()
    for name in mibcompile.IMPORTED:
        source = mibcompile.find_source(name, dirs)
        assert source is not None and source.parent == mibcompile.BUNDLED_MIB_DIR, name
    compiled = mibcompile.compile_mib(cache=tmp_path)
    mib_builder = builder.MibBuilder()
    mibcompile.load_mib(mib_builder, compiled)
    (root,) = mib_builder.import_symbols("C12-PDU-MIB", "c12MIB")
    assert root.getName() == (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 12)
