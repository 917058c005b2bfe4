"""Logging bad replies: one line each, at most one per unit per period, never a traceback.

A unit answering garbage does so on every poll; the first line says what is wrong, and
the next one, a period later, how many were left out in between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..resolve import printable

PERIOD_S = 60.0
MAX_UNITS = 10_000
"""Units remembered at most; beyond that the oldest are forgotten (a probe of many
addresses must not grow this without end)."""


class RateLimitedLog:
    """``warning(unit, message)`` logs at most once per ``period_s`` per unit."""

    def __init__(
        self,
        logger: logging.Logger,
        period_s: float = PERIOD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.period_s = period_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, unit: str, message: str) -> bool:
        """Log ``message`` about ``unit`` unless one was logged within the period;
        True if logged."""
        now = self.clock()
        last = self._last.get(unit)
        if last is not None and now - last < self.period_s:
            self._suppressed[unit] = self._suppressed.get(unit, 0) + 1
            return False
        suppressed = self._suppressed.pop(unit, 0)
        self._last.pop(unit, None)
        self._last[unit] = now
        while len(self._last) > MAX_UNITS:
            oldest = next(iter(self._last))
            del self._last[oldest]
            self._suppressed.pop(oldest, None)
        more = (
            f" ({suppressed} more bad replies since the last line, not logged)"
            if suppressed
            else ""
        )
        self.logger.warning("%s: %s%s", printable(unit), printable(message), more)
        return True
