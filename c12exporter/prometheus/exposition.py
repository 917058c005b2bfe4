"""``/metrics`` rendered at scrape time, only for the units whose reading changed, plain or gzip.

A unit's reading changes once per poll; Prometheus scrapes at its own pace (often less
often than units are polled; an HA pair scrapes twice). Rendering the whole fleet with
``generate_latest`` costs about two seconds at 1,000 units. Here nothing is rendered when
a poll is recorded: a scrape renders each unit whose state changed since its cached
render (once per reading at most, and only when asked for), through the unit's plan
(:mod:`.unit_text`), and joins the cached texts of the others.

The text format wants every family in one group (``# HELP``/``# TYPE`` once, then all its
samples), so a scrape walks the units in store order and puts each unit's lines under
its family, families in the order first seen, as ``generate_latest`` over
:class:`FleetCollector` does: the text is the same, byte for byte.

Never stale: at each scrape a unit whose reading is not fresh
(:meth:`Store.fresh_reading`) gets its down form (``c12_up 0`` and its poll health, no
measurements), whatever is cached. A cached render is checked against the unit's state
(reading, poll counters, config, extra labels), so it is redone when any of them moved.

Gzip compresses the joined text once per scrape, at zlib level 1 (:data:`GZIP_LEVEL`),
in two halves on two threads (zlib lets go of the GIL while it compresses), so polling
goes on meanwhile.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import weakref
import zlib
from collections.abc import Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.registry import Collector

from ..forecast import TripForecast
from ..store import Store, UnitState
from .unit_text import (
    HEADERS,
    PlanMismatch,
    UnitPlan,
    build_plan,
    collector_families,
    plan_key,
    through_collector,
)

GZIP_LEVEL = 1
"""zlib's fastest level: about a third of level 6's time for about 1.4x its size on this
text (docs/performance.md)."""
_COMPRESS_POOL = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="metrics-gzip")
"""Compresses the first half of a body while the scrape's own thread does the second."""


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (``gzip`` or ``*``, not at ``q=0``)."""
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
            try:
                return float(q) > 0
            except ValueError:
                return False
    return False


_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, OS unknown


def _deflate(data: bytes | memoryview, level: int, last: bool) -> bytes:
    """Raw deflate of ``data``; not ``last``: ended byte-aligned by a full flush (no
    reference to it from what follows), so the next part's deflate can be appended."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    flush = zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH
    return compressor.compress(data) + compressor.flush(flush)


def gzip_body(text: bytes, level: int = GZIP_LEVEL) -> bytes:
    """``text`` as one gzip member, its two halves deflated at once on two threads."""
    half = text.find(b"\n", len(text) // 2) + 1 if len(text) > 1 << 16 else 0
    view = memoryview(text)
    if half <= 0:
        deflated = [_deflate(view, level, last=True)]
    else:
        first = _COMPRESS_POOL.submit(_deflate, view[:half], level, False)
        second = _deflate(view[half:], level, last=True)
        deflated = [first.result(), second]
    trailer = (zlib.crc32(text) & 0xFFFFFFFF).to_bytes(4, "little") + (
        len(text) & 0xFFFFFFFF
    ).to_bytes(4, "little")
    return b"".join([_GZIP_HEADER, *deflated, trailer])


class _Unit:
    """One unit's latest render and the state it was rendered from."""

    __slots__ = ("chunks", "families", "fresh", "key", "plan")

    def __init__(
        self,
        key: tuple[object, ...],
        fresh: bool,
        families: tuple[str, ...],
        chunks: tuple[bytes, ...],
        plan: UnitPlan | None,
    ) -> None:
        self.key = key
        self.fresh = fresh
        self.families = families  # interned: units of one shape share the tuple
        self.chunks = chunks  # the unit's lines of each family
        self.plan = plan  # kept across readings of the same shape


def _state_key(state: UnitState, extra: tuple[str, ...]) -> tuple[object, ...]:
    reading = state.reading
    return (
        # The same reading (a reference that does not keep an old one alive: the store
        # holds the newer reading until the next scrape, this the one rendered).
        None if reading is None else weakref.ref(reading),
        state.config,
        state.polls_total,
        state.last_duration_s,
        state.last_success_at,
        extra,
    )


def _joined(units: Iterable[_Unit]) -> bytes:
    """The units' lines family by family, families in the order first seen, each under
    its header: what ``generate_latest`` writes for them. A run of units of the same
    shape is turned family by family at once (``zip``)."""
    groups: dict[str, list[bytes]] = {}
    run: list[tuple[bytes, ...]] = []
    shape: tuple[str, ...] = ()

    def close_run() -> None:
        for family, texts in zip(shape, zip(*run, strict=True), strict=True):
            group = groups.get(family)
            if group is None:
                groups[family] = list(texts)
            else:
                group += texts

    for unit in units:
        if unit.families is not shape:
            close_run()
            shape, run = unit.families, []
        run.append(unit.chunks)
    close_run()
    parts: list[bytes] = []
    for family, texts in groups.items():
        parts.append(HEADERS[family])
        parts += texts
    return b"".join(parts)


class CachedExposition:
    """The fleet's ``/metrics`` body, each unit rendered at most once per reading.

    ``collectors`` (the exporter's own registries) are rendered at every scrape and
    appended; they are small. ``forecast`` gives the trip forecast series.
    ``renders`` counts unit renders (through a plan or the collector), ``planned`` those
    through a plan, for tests and the benchmark.
    """

    def __init__(
        self,
        store: Store,
        collectors: Sequence[Collector] = (),
        level: int = GZIP_LEVEL,
        forecast: TripForecast | None = None,
    ) -> None:
        self.store = store
        self.forecast = forecast
        self.collectors = list(collectors)
        self.level = level
        self.renders = 0
        self.planned = 0
        self._lock = threading.Lock()  # one scrape renders at a time; the next reuses it
        self._units: dict[str, _Unit] = {}
        self._extra: tuple[str, ...] = ()

    def _render_unit(
        self, state: UnitState, fresh: bool, extra: tuple[str, ...], old: _Unit | None
    ) -> _Unit:
        self.renders += 1
        key = _state_key(state, extra)
        reading = state.reading if fresh else None
        plan = old.plan if old is not None else None
        if (
            reading is not None
            and plan is not None
            and plan.key == plan_key(state, reading, self.forecast)
        ):
            try:
                unit = _Unit(key, fresh, *plan.render(state, reading), plan)
                self.planned += 1
                return unit
            except PlanMismatch:
                pass
        families = collector_families(state, reading, extra, self.forecast)
        if reading is not None:
            plan = build_plan(state, reading, extra, self.forecast, families)
        return _Unit(key, fresh, *through_collector(families), plan)

    def _fleet(self, now: float | None) -> bytes:
        """The fleet's part of the exposition, rendering the units whose state moved."""
        now = time.time() if now is None else now
        store = self.store
        with self._lock:
            extra = tuple(sorted({k for u in store for k in u.config.labels}))
            if extra != self._extra:
                self._extra = extra
                self._units.clear()
            cached = self._units
            units: dict[str, _Unit] = {}
            for state in store:
                name = state.config.name
                fresh = store.fresh_reading(state, now) is not None
                unit = cached.get(name)
                if unit is None or unit.fresh != fresh or unit.key != _state_key(state, extra):
                    unit = self._render_unit(state, fresh, extra, unit)
                units[name] = unit
            self._units = units  # removed units go
            return _joined(units.values())

    def render(self, now: float | None = None) -> bytes:
        """The exposition as text."""
        own = b"".join(generate_latest(c) for c in self.collectors)
        return self._fleet(now) + own

    def render_gzip(self, now: float | None = None) -> bytes:
        """The exposition as one gzip member."""
        return gzip_body(self.render(now), self.level)
