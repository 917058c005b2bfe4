"""The open-file limit: raised to what the system allows at start, since every unit
connection and every HTTP client needs a descriptor (many shells still give 1,024)."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def raise_open_file_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; returns the soft limit now in
    force (logged when it changed, or when it could not)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as error:
        log.warning("open-file limit stays at %d (hard limit %d): %s", soft, hard, error)
        return soft
    log.info("open-file limit raised from %d to %d (the hard limit)", soft, hard)
    return hard
