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


def test_the_mib_is_compiled_from_the_package_data_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As after `pip install` on a machine without net-snmp's MIB files: the agent reads
    every MIB text from the package, whatever $MIBDIRS or the current directory hold."""
    from pysnmp.smi import builder

    from c12exporter.snmp import mibcompile

    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "C12-PDU-MIB.txt").write_text("C12-PDU-MIB DEFINITIONS ::= BEGIN broken")
    monkeypatch.setenv("MIBDIRS", str(decoy))
    monkeypatch.chdir(decoy)
    package = Path(mibcompile.__file__).parent / "mibs"
    compiled = mibcompile.compile_mib(cache=tmp_path / "cache")
    for module, filename in mibcompile.SOURCE_FILES.items():
        copy = compiled.source_dir / filename
        assert copy.read_bytes() == (package / filename).read_bytes(), module
    assert set(mibcompile.SOURCE_FILES) == {mibcompile.MODULE, *mibcompile.IMPORTED}
    mib_builder = builder.MibBuilder()
    mibcompile.load_mib(mib_builder, compiled)
    (root,) = mib_builder.import_symbols("C12-PDU-MIB", "c12MIB")
    assert root.getName() == (1, 3, 6, 1, 4, 1, 8072, 9999, 9999, 12)


def test_a_changed_mib_text_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c12exporter.snmp import mibcompile

    first = compile_mib(cache=tmp_path)
    texts = mibcompile.read_sources()
    texts["C12-PDU-MIB.txt"] += b"\n-- a comment\n"
    monkeypatch.setattr(mibcompile, "read_sources", lambda: texts)
    second = compile_mib(cache=tmp_path)
    assert second.directory != first.directory
    assert second.source.read_bytes().endswith(b"-- a comment\n")
