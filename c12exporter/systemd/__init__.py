"""The systemd unit shipped with the package, and its drop-in for SNMP on port 161."""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

UNIT = "c12exporter.service"
SNMP_PORT_161 = "snmp-port-161.conf"
PACKAGED_COMMAND = "/usr/local/bin/c12exporter"


def packaged(name: str) -> str:
    """The text of a file shipped in this package."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def installed_command() -> str:
    """The ``c12exporter`` command of this installation, by absolute path."""
    running = Path(sys.argv[0])
    found = str(running) if running.name == "c12exporter" else shutil.which("c12exporter")
    return str(Path(found).absolute()) if found else PACKAGED_COMMAND


def unit_text(command: str | None = None) -> str:
    """The unit, with ``ExecStart`` running ``command`` (default: this installation's)."""
    return packaged(UNIT).replace(PACKAGED_COMMAND, command or installed_command())
