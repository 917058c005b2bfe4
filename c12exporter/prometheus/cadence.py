"""When the next scrape will come, from when the last ones came, and the units rendered just
before it.

Prometheus scrapes a target on a fixed schedule (its interval, at an offset of its own),
an HA pair of Prometheus servers on two such schedules. A scrape at 1,000 units finds
nearly every unit with a new reading (polls every few seconds, scrapes every 15 s or
more), and rendering them all while Prometheus waits costs most of the scrape's time.
:class:`RenderAhead` watches when scrapes arrive and, once they come on a schedule, renders
the units whose reading changed a little before the next one is due
(:meth:`.CachedExposition.prepare`); the scrape itself then renders only the units polled
since. A unit is still rendered at most once per reading: a reading replaced before the
scrape was rendered for nothing (about the lead over the poll interval, a few per cent).
Without a schedule (scrapes by hand, a scraper that keeps changing its pace) nothing is
rendered ahead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections import deque
from typing import Protocol

log = logging.getLogger(__name__)

KEPT = 9
"""Scrape arrivals remembered: enough to see the schedules of up to :data:`SCRAPERS`."""
SCRAPERS = 3
"""Scrapers on schedules of their own that :class:`ScrapeCadence` tells apart (an HA pair
of Prometheus servers, and one more)."""
TOLERANCE = 0.05
"""How far apart two periods of one schedule may be, as a share of the period."""
MIN_PERIOD_S = 1.0
"""Shorter periods are not scheduled: rendering ahead saves nothing there."""
MIN_LEAD_S = 0.1
LEAD_PER_RENDER = 1.5
"""How far ahead of the scrape the units are rendered: this many times the last render
ahead took (the machine's load shows in it; before the first, the last scrape's render),
at least :data:`MIN_LEAD_S`, at most a quarter of the period."""


class ScrapeCadence:
    """Scrape arrivals and the schedule they follow, if any."""

    def __init__(self) -> None:
        self._arrivals: deque[float] = deque(maxlen=KEPT)

    def scraped(self, at: float) -> None:
        """A scrape arrived at ``at`` (monotonic seconds)."""
        self._arrivals.append(at)

    def period(self) -> tuple[int, float] | None:
        """``(scrapers, period)``: the fewest scrapers on one period that explain the
        latest arrivals (each scraper's last two periods agree), or ``None``."""
        t = list(self._arrivals)
        for scrapers in range(1, SCRAPERS + 1):
            if len(t) < 2 * scrapers + 1:
                return None
            # Each scraper's latest period, and the one before for the latest scraper.
            periods = [t[-1 - i] - t[-1 - i - scrapers] for i in range(scrapers + 1)]
            period = _median(periods)
            if period >= MIN_PERIOD_S and all(
                abs(p - period) <= TOLERANCE * period for p in periods
            ):
                return scrapers, period
        return None

    def next_scrape(self) -> tuple[float, float] | None:
        """When the next scrape is due (monotonic seconds) and the period, or ``None``
        without a schedule."""
        found = self.period()
        if found is None:
            return None
        scrapers, period = found
        # The scraper after the latest one came `scrapers - 1` arrivals ago.
        return self._arrivals[-scrapers] + period, period


class Preparable(Protocol):
    last_render_s: float
    """How long the latest render of the units whose state moved took (wall seconds)."""

    def prepare(self) -> None: ...


class RenderAhead:
    """Calls ``exposition.prepare()`` on ``pool`` a little before each scrape is due,
    once scrapes come on a schedule (:class:`ScrapeCadence`)."""

    def __init__(self, exposition: Preparable, pool: concurrent.futures.Executor) -> None:
        self.exposition = exposition
        self.pool = pool
        self.cadence = ScrapeCadence()
        self.lead_s: float | None = None  # from the latest render ahead
        self._due: tuple[float, float] | None = None  # the next scrape's time, the period
        self._timer: asyncio.TimerHandle | None = None

    def scraped(self, loop: asyncio.AbstractEventLoop) -> None:
        """A scrape arrived: plan the render ahead of the next one (called on ``loop``)."""
        self.cadence.scraped(time.monotonic())
        self.cancel()
        self._due = self.cadence.next_scrape()
        self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._due is None:
            return
        due, period = self._due
        lead = self.lead_s
        if lead is None:
            lead = LEAD_PER_RENDER * self.exposition.last_render_s
        lead = min(max(lead, MIN_LEAD_S), period / 4)
        delay = max(0.0, due - lead - time.monotonic())
        self._timer = loop.call_later(delay, self._start, loop)

    def cancel(self) -> None:
        """Drop the planned render (a scrape came first, or the server stops)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = self._due = None
        done = loop.run_in_executor(self.pool, self._prepare)
        done.add_done_callback(lambda future: self._prepared(future, loop))

    def _prepare(self) -> None:
        started = time.monotonic()
        self.exposition.prepare()
        self.lead_s = LEAD_PER_RENDER * (time.monotonic() - started)

    def _prepared(self, future: asyncio.Future[None], loop: asyncio.AbstractEventLoop) -> None:
        """Back on ``loop``: a scrape that came while the units were rendered planned the
        next render ahead with the lead of the one before; plan it again with this one's."""
        if not future.cancelled() and future.exception() is not None:
            log.error("rendering /metrics ahead of a scrape failed", exc_info=future.exception())
        if self._timer is not None:
            self.cancel()
            self._schedule(loop)


def _median(values: list[float]) -> float:
    """``statistics.median`` (whose import, with decimal and fractions, would cost the
    serving process over half a MiB for this one call)."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
