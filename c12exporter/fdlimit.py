"""The open-file limit: raised to what the system allows at start, since every unit
connection and every HTTP client needs a descriptor (many shells still give 1,024)."""

from __future__ import annotations

import logging
import resource
from pathlib import Path

log = logging.getLogger(__name__)

NR_OPEN_DEFAULT = 1_048_576
"""Linux's default ceiling on descriptors per process (``/proc/sys/fs/nr_open``)."""


def raise_open_file_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the soft limit now in
    force (logged when it changed, or when it could not)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit still stops at the kernel's ceiling, nr_open.
    target = _nr_open() if hard == resource.RLIM_INFINITY else hard
    if soft == target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as error:
        log.warning("open-file limit stays at %d (hard limit %d): %s", soft, target, error)
        return soft
    log.info("open-file limit raised from %d to %d (the hard limit)", soft, target)
    return target


def _nr_open() -> int:
    try:
        return int(Path("/proc/sys/fs/nr_open").read_text())
    except (OSError, ValueError):
        return NR_OPEN_DEFAULT
