"""``c12exporter mib --output DIR``: C12-PDU-MIB and the modules it imports, as files.

An NMS (Zabbix, LibreNMS, PRTG, net-snmp's tools) loads a MIB from a directory of files.
The package carries the texts (see :mod:`.mibcompile`); this writes them, under their
own names, into a directory the user chooses, so ``-M DIR -m C12-PDU-MIB`` works from
anywhere without a checkout or the agent's compile cache.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .mibcompile import SOURCE_FILES, MibCompileError, read_sources


def write_mibs(directory: Path) -> list[Path]:
    """Write every MIB file the package carries into ``directory`` (created if missing).

    :raises MibCompileError: the package lacks a MIB text.
    :raises OSError: the directory cannot be created or written.
    """
    texts = read_sources()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename in SOURCE_FILES.values():
        path = directory / filename
        path.write_bytes(texts[filename])
        written.append(path)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output", "-o", type=Path, required=True, metavar="DIR",
        help="directory to write C12-PDU-MIB and the modules it imports into",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    directory: Path = args.output
    try:
        written = write_mibs(directory)
    except MibCompileError as error:
        print(f"c12exporter mib: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"c12exporter mib: cannot write into {directory}: {error.strerror or error}; "
            "choose a directory you can write to",
            file=sys.stderr,
        )
        return 2
    absolute = directory.resolve()
    print(f"wrote {', '.join(p.name for p in written)} into {absolute}")
    print(f"load it with: snmptranslate -M {absolute} -m C12-PDU-MIB -Tp -IR c12MIB  (docs/mib.md)")
    return 0
