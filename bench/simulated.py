"""The benchmarks' simulated fleet: ``c12exporter simulate`` in a process of its own, so
the units' side runs on the other core."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

START_TIMEOUT_S = 300.0


def start_simulator(units_file: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start the simulator with ``args`` and wait until it has written ``units_file``.

    :raises SystemExit: it exited or did not come up in time.
    """
    command = [
        sys.executable, "-m", "c12exporter.cli", "--log.level=warn", "simulate",
        "--units-file", str(units_file), "--control-address", "127.0.0.1:0", *args,
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not units_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the simulator did not start")
        time.sleep(0.2)
    return proc
