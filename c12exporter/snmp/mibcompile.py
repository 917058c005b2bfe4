"""C12-PDU-MIB compiled by pysmi into pysnmp's Python form, cached, and loaded by name.

Every MIB text the agent compiles travels inside the package (package data in
``c12exporter/snmp/mibs/``, read with :mod:`importlib.resources`): C12-PDU-MIB itself and
the modules it imports (SNMPv2-SMI, -TC, -CONF and NET-SNMP-MIB). No system directory and
no environment variable is consulted, so an install from a wheel serves SNMP on a machine
without any MIB files, and always from the MIB text of its own version.

The texts are copied into a cache directory keyed by their digest and pysmi's and
pysnmp's versions (an edited MIB is recompiled, an unchanged one loaded as is), compiled
there, and loaded into a pysnmp MIB builder. The copies stay next to the compiled modules,
so net-snmp's tools can load the module by name from there (``-M +<dir>``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

MODULE = "C12-PDU-MIB"
IMPORTED = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF", "NET-SNMP-MIB")
"""What C12-PDU-MIB imports; the compiler needs the source of each."""
PACKAGE = "c12exporter.snmp"
PACKAGE_DIR = "mibs"
"""The package data directory holding the MIB texts."""
SOURCE_FILES: Mapping[str, str] = {
    MODULE: "C12-PDU-MIB.txt",
    "SNMPv2-SMI": "SNMPv2-SMI.mib",
    "SNMPv2-TC": "SNMPv2-TC.mib",
    "SNMPv2-CONF": "SNMPv2-CONF.mib",
    "NET-SNMP-MIB": "NET-SNMP-MIB.txt",
}
"""Each module's file in the package's ``mibs/``."""
SOURCES_SUBDIR = "sources"
LAYOUT = "layout 2: sources copied from the package"


class MibCompileError(Exception):
    """The MIB cannot be compiled or loaded; the message says what to install or fix."""


@dataclass(frozen=True)
class CompiledMib:
    """Where the compiled modules are, and the MIB source they came from."""

    directory: Path
    source: Path

    @property
    def source_dir(self) -> Path:
        """A directory holding C12-PDU-MIB and every module it imports (for ``-M``)."""
        return self.source.parent


def read_sources() -> dict[str, bytes]:
    """The text of every module the agent compiles, from the package's data.

    :raises MibCompileError: the package lacks one (a broken install).
    """
    folder = resources.files(PACKAGE).joinpath(PACKAGE_DIR)
    texts = {}
    for module, filename in SOURCE_FILES.items():
        try:
            texts[filename] = folder.joinpath(filename).read_bytes()
        except OSError as error:
            raise MibCompileError(
                f"the package c12exporter lacks its MIB {module} ({PACKAGE_DIR}/{filename}: "
                f"{error.strerror or error}); reinstall the package"
            ) from None
    return texts


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/c12exporter/mibs`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "c12exporter" / "mibs"


def compile_mib(cache: Path | None = None, module: str = MODULE) -> CompiledMib:
    """Compile ``module`` and what it imports (unless already cached); return where.

    :raises MibCompileError: a source is missing or does not compile.
    """
    texts = read_sources()
    target = _writable(cache or cache_root()) / _digest(texts)
    if not (target / f"{module}.py").is_file():
        _compile(module, texts, target)
    return CompiledMib(target, target / SOURCES_SUBDIR / SOURCE_FILES[module])


def load_mib(builder: Any, compiled: CompiledMib, module: str = MODULE) -> None:
    """Load the compiled module (and NET-SNMP-MIB) into a pysnmp ``MibBuilder``.

    :raises MibCompileError: the compiled module does not load.
    """
    from pysnmp.smi import builder as pysnmp_builder  # type: ignore[import-untyped]
    from pysnmp.smi import error as smi_error

    builder.add_mib_sources(pysnmp_builder.DirMibSource(str(compiled.directory)))
    try:
        with warnings.catch_warnings():
            # pysmi 2.0 writes the camelCase calls that pysnmp 7.1 deprecates.
            warnings.simplefilter("ignore", DeprecationWarning)
            builder.load_modules(module)
    except smi_error.SmiError as error:
        raise MibCompileError(
            f"the compiled {module} in {compiled.directory} does not load: {error}; "
            "delete that directory to compile it again"
        ) from None


def _digest(texts: Mapping[str, bytes]) -> str:
    import pysmi  # type: ignore[import-untyped]
    import pysnmp  # type: ignore[import-untyped]

    digest = hashlib.sha256(f"pysmi {pysmi.__version__} pysnmp {pysnmp.__version__}".encode())
    digest.update(LAYOUT.encode() + b"\0")
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name] + b"\0")
    return digest.hexdigest()[:16]


def _writable(directory: Path) -> Path:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=directory)  # noqa: SIM115 - closed at once
        probe.close()
        return directory
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"c12exporter-mibs-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _compile(module: str, texts: Mapping[str, bytes], target: Path) -> None:
    from pysmi.codegen.pysnmp import PySnmpCodeGen, baseMibs  # type: ignore[import-untyped]
    from pysmi.compiler import MibCompiler  # type: ignore[import-untyped]
    from pysmi.parser.dialect import smi_v2  # type: ignore[import-untyped]
    from pysmi.parser.smi import parserFactory  # type: ignore[import-untyped]
    from pysmi.reader.localfile import FileReader  # type: ignore[import-untyped]
    from pysmi.searcher.stub import StubSearcher  # type: ignore[import-untyped]
    from pysmi.writer.pyfile import PyFileWriter  # type: ignore[import-untyped]

    staging = Path(tempfile.mkdtemp(prefix=".compiling-", dir=target.parent))
    try:
        sources = staging / SOURCES_SUBDIR
        sources.mkdir()
        for filename, text in texts.items():
            (sources / filename).write_bytes(text)
        compiler = MibCompiler(parserFactory(**smi_v2)(), PySnmpCodeGen(), PyFileWriter(staging))
        compiler.add_sources(FileReader(str(sources), recursive=False))
        # Modules pysnmp ships compiled (SNMPv2-SMI, -TC, -CONF, ...) are not written again.
        compiler.add_searchers(StubSearcher(*baseMibs))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            results = compiler.compile(module, genTexts=False, rebuild=True)
        failed = {
            name: str(getattr(status, "error", status))
            for name, status in results.items()
            if status not in ("compiled", "untouched")
        }
        if failed or not (staging / f"{module}.py").is_file():
            details = "; ".join(f"{name}: {why}" for name, why in failed.items())
            raise MibCompileError(f"pysmi could not compile {module}: {details or results}")
        try:
            staging.rename(target)
        except OSError:
            if not (target / f"{module}.py").is_file():  # not a concurrent compile's result
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
