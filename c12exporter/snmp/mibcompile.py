"""C12-PDU-MIB compiled by pysmi into pysnmp's Python form, cached, and loaded by name.

The MIB text in ``mibs/`` is the only source of OIDs, types and notification contents:
the agent compiles it at start into a cache directory keyed by the text's digest and
pysmi's version (so an edited MIB is recompiled, an unchanged one is loaded as is), and
loads it into a pysnmp MIB builder. Nothing compiled is committed or edited by hand.

pysmi needs the source of every module the MIB imports: SNMPv2-SMI, -TC and -CONF (the
IETF base modules, which net-snmp and smilint need as well; see ``docs/mib.md``) and
NET-SNMP-MIB. They are searched in the repository's ``mibs/``, then ``$MIBDIRS`` and
net-snmp's default directories, and last in the copies the package carries
(``c12exporter/snmp/mibs/``), so an install from PyPI needs no system MIB files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODULE = "C12-PDU-MIB"
IMPORTED = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF", "NET-SNMP-MIB")
"""What C12-PDU-MIB imports; the compiler needs the source of each."""
REPO_MIB_DIR = Path(__file__).resolve().parents[2] / "mibs"
INSTALLED_MIB_DIR = Path(sys.prefix) / "share" / "c12exporter" / "mibs"
"""Where an installed (non-editable) wheel puts ``mibs/`` (pyproject's data-files)."""
SYSTEM_MIB_DIRS: tuple[Path, ...] = (
    Path.home() / ".snmp" / "mibs",
    Path("/usr/share/snmp/mibs"),
    Path("/usr/share/snmp/mibs/ietf"),
    Path("/usr/share/snmp/mibs/iana"),
    Path("/usr/share/mibs/ietf"),
    Path("/usr/share/mibs/netsnmp"),
)
"""net-snmp's default search path on Debian, plus where snmp-mibs-downloader puts modules."""
BUNDLED_MIB_DIR = Path(__file__).resolve().parent / "mibs"
"""The imported modules shipped inside the package (package data): the fallback, so an
install without net-snmp's MIB directories still compiles the MIB."""
_SOURCE_SUFFIXES = ("", ".txt", ".mib", ".my")


class MibCompileError(Exception):
    """The MIB cannot be compiled or loaded; the message says what to install or fix."""


@dataclass(frozen=True)
class CompiledMib:
    """Where the compiled modules are, and the MIB source they came from."""

    directory: Path
    source: Path

    @property
    def source_dir(self) -> Path:
        return self.source.parent


def mib_dirs(extra: Iterable[Path] = ()) -> list[Path]:
    """The directories searched for MIB sources, first match wins."""
    dirs = [*extra, REPO_MIB_DIR, INSTALLED_MIB_DIR]
    dirs += [Path(p.lstrip("+")) for p in os.environ.get("MIBDIRS", "").split(":") if p.strip("+")]
    dirs += [*SYSTEM_MIB_DIRS, BUNDLED_MIB_DIR]
    unique: dict[Path, None] = {}
    for directory in dirs:
        if directory.is_dir():
            unique.setdefault(directory.resolve(), None)
    return list(unique)


def find_source(module: str, dirs: Sequence[Path]) -> Path | None:
    for directory in dirs:
        for suffix in _SOURCE_SUFFIXES:
            candidate = directory / f"{module}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/c12exporter/mibs`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "c12exporter" / "mibs"


def compile_mib(
    cache: Path | None = None, extra_dirs: Iterable[Path] = (), module: str = MODULE
) -> CompiledMib:
    """Compile ``module`` and what it imports (unless already cached); return where.

    :raises MibCompileError: a source is missing or does not compile.
    """
    dirs = mib_dirs(extra_dirs)
    source = find_source(module, dirs)
    if source is None:
        raise MibCompileError(
            f"cannot find the MIB {module} (looked in {', '.join(map(str, dirs))}); "
            "run from a checkout of the repository, which has it in mibs/"
        )
    missing = [name for name in IMPORTED if find_source(name, dirs) is None]
    if missing:
        raise MibCompileError(
            f"cannot compile {module}: no source for {', '.join(missing)} in "
            f"{', '.join(map(str, dirs))}; install them with scripts/install-system-tools "
            "(Debian packages snmp and libsnmp-base, and the IETF base modules, see docs/mib.md)"
            ", or add their directory to MIBDIRS"
        )
    digest = _digest([source, *(_required(find_source(name, dirs)) for name in IMPORTED)])
    target = _writable(cache or cache_root()) / digest
    if not (target / f"{module}.py").is_file():
        _compile(module, dirs, target)
    return CompiledMib(target, source)


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


def _required(path: Path | None) -> Path:
    assert path is not None
    return path


def _digest(sources: Sequence[Path]) -> str:
    import pysmi  # type: ignore[import-untyped]
    import pysnmp  # type: ignore[import-untyped]

    digest = hashlib.sha256(f"pysmi {pysmi.__version__} pysnmp {pysnmp.__version__}".encode())
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
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


def _compile(module: str, dirs: Sequence[Path], target: Path) -> None:
    from pysmi.codegen.pysnmp import PySnmpCodeGen, baseMibs  # type: ignore[import-untyped]
    from pysmi.compiler import MibCompiler  # type: ignore[import-untyped]
    from pysmi.parser.dialect import smi_v2  # type: ignore[import-untyped]
    from pysmi.parser.smi import parserFactory  # type: ignore[import-untyped]
    from pysmi.reader.localfile import FileReader  # type: ignore[import-untyped]
    from pysmi.searcher.stub import StubSearcher  # type: ignore[import-untyped]
    from pysmi.writer.pyfile import PyFileWriter  # type: ignore[import-untyped]

    staging = Path(tempfile.mkdtemp(prefix=".compiling-", dir=target.parent))
    try:
        compiler = MibCompiler(parserFactory(**smi_v2)(), PySnmpCodeGen(), PyFileWriter(staging))
        compiler.add_sources(*(FileReader(str(d), recursive=False) for d in dirs))
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
