"""``/metrics`` rendered at scrape time, only for the units whose reading changed, plain or gzip.

A unit's reading changes once per poll; Prometheus scrapes at its own pace (often less
often than units are polled; an HA pair scrapes twice). Rendering the whole fleet with
``generate_latest`` costs about two seconds at 1,000 units. Here nothing is rendered when
a poll is recorded: a scrape renders each unit whose state changed since its cached
render (once per reading at most, and only when asked for), through the unit's plan
(:mod:`.unit_text`), and joins the cached texts of the others. Once scrapes come on a
schedule, :meth:`CachedExposition.prepare` renders them a little before the next is due
(:mod:`.cadence`), so the scrape renders only the units polled since.

The text format wants every family in one group (``# HELP``/``# TYPE`` once, then all its
samples), so a scrape walks the units in store order and puts each unit's lines under
its family, families in the order first seen, as ``generate_latest`` over
:class:`FleetCollector` does: the text is the same, byte for byte.

Never stale: at each scrape a unit whose reading is not fresh
(:meth:`Store.fresh_reading`) gets its down form (``c12_up 0`` and its poll health, no
measurements), whatever is cached. A cached render is checked against the unit's state
(reading, poll counters, config, extra labels), so it is redone when any of them moved.

A reading that a poll replaces while the scrape renders it is not served: the unit is
rendered from the newer one (the trip forecast follows only the latest reading).

The exporter's own collectors are rendered at every scrape, but a metric a collector
yields again as the same object with the same samples (the RCBO test log: 12,000 series
at 1,000 units) keeps its text. Gzip is made family by family (:mod:`.gzip_segments`):
a family whose text did not change since the previous gzip scrape is not compressed
again. A unit rendered again keeps its earlier text of each family that reads the same,
and the families whose text it changed are counted, so what changed is known without
keeping the texts the previous gzip scrape was made of (a second copy of the fleet's
text, at 1,000 units some 10 MB).
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from collections.abc import Iterator, Sequence

from prometheus_client import Counter, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from ..forecast import TripForecast
from ..reading import Reading
from ..store import Store, UnitState
from .gzip_segments import LEVEL, Segment, SegmentedGzip
from .unit_text import (
    COLUMNS,
    HEADERS,
    PlanMismatch,
    UnitPlan,
    build_plan,
    collector_families,
    plan_key,
    through_collector,
)

GZIP_LEVEL = LEVEL
"""zlib's level for the gzip body (:data:`.gzip_segments.LEVEL`)."""
_RENDER_TRIES = 3
"""Tries at rendering a unit from its latest reading while polls replace it: a unit is
polled every few seconds and rendered in well under a millisecond, so a second try is
rare and a third is served even if a poll replaced its reading again."""


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
        self.chunks = chunks  # the unit's lines of each family, by column
        self.plan = plan  # kept across readings of the same shape


def _state_key(
    state: UnitState, reading: Reading | None, extra: tuple[str, ...]
) -> tuple[object, ...]:
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


def _grouped(units: Sequence[_Unit]) -> dict[str, tuple[bytes, ...]]:
    """The units' lines family by family under each family's header, families in the
    order first seen: what ``generate_latest`` writes for them. Units of one shape share
    their tuple of families, so the order comes from each shape's first unit; the texts
    are turned into families all at once, by column (:data:`.unit_text.COLUMNS`)."""
    order: dict[str, None] = {}
    shapes: set[int] = set()
    for unit in units:
        if id(unit.families) not in shapes:
            shapes.add(id(unit.families))
            order.update(dict.fromkeys(unit.families))
    columns = list(itertools.zip_longest(*[unit.chunks for unit in units], fillvalue=b""))
    return {family: (HEADERS[family], *columns[COLUMNS[family]]) for family in order}


class _OneMetric(Collector):
    """A collector of one metric, for ``generate_latest``."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


class _OwnText:
    """The text of each metric the exporter's own collectors yield; a metric yielded
    again as the same object with the same samples keeps its text (the object is held,
    so its id is not reused). A metric with a true ``samples_fixed`` attribute promises
    its samples never change once yielded (:class:`.history.metrics.ChannelTimes`, whose
    samples are made each time they are asked for): the same object keeps its text
    without its samples being looked at."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[Metric, tuple[object, ...], bytes]] = {}

    def texts(self, collectors: Sequence[Collector]) -> list[bytes]:
        kept: dict[int, tuple[Metric, tuple[object, ...], bytes]] = {}
        out = []
        for collector in collectors:
            for metric in collector.collect():
                entry = self._kept.get(id(metric))
                if getattr(metric, "samples_fixed", False):
                    made_of: tuple[object, ...] = ()
                else:
                    made_of = (metric.name, metric.documentation, metric.type, metric.unit,
                               tuple(metric.samples))  # fmt: skip
                if entry is None or entry[0] is not metric or entry[1] != made_of:
                    entry = (metric, made_of, generate_latest(_OneMetric(metric)))
                kept[id(metric)] = entry
                out.append(entry[2])
        self._kept = kept
        return out


class CachedExposition:
    """The fleet's ``/metrics`` body, each unit rendered at most once per reading.

    ``collectors`` (the exporter's own registries) are collected at every scrape and
    appended, a metric yielded again unchanged with the text it had. ``forecast`` gives
    the trip forecast series. ``renders`` counts unit renders (through a plan or the
    collector), ``planned`` those through a plan, and ``gzip.compressed`` the families
    compressed, for tests and the benchmark; ``counted`` (labelled ``when``), if given,
    counts the renders ahead of a scrape and while one waits.
    """

    def __init__(
        self,
        store: Store,
        collectors: Sequence[Collector] = (),
        level: int = GZIP_LEVEL,
        forecast: TripForecast | None = None,
        counted: Counter | None = None,
    ) -> None:
        self.store = store
        self.counted = counted
        self.forecast = forecast
        self.collectors = list(collectors)
        self.gzip = SegmentedGzip(level)
        self.renders = 0
        self.planned = 0
        self.last_render_s = 0.0  # how long the latest _rendered took, wall time
        self._lock = threading.Lock()  # one scrape renders at a time; the next reuses it
        self._units: dict[str, _Unit] = {}
        self._extra: tuple[str, ...] = ()
        self._own = _OwnText()
        self._changes: dict[int, int] = {}
        """Column -> how many times a unit's text of that family changed."""
        self._fleet_changes = 0
        """How many times the units, their order or a unit's first render came about."""

    def _kept_where_same(self, old: _Unit | None, new: _Unit) -> _Unit:
        """``new`` with ``old``'s text of each family that reads the same; counts the
        families whose text changed (and a new unit as a change of the fleet)."""
        if old is None:
            self._fleet_changes += 1
            return new
        if old.chunks == new.chunks:
            new.chunks = old.chunks
            return new
        chunks = []
        for column, (before, after) in enumerate(
            itertools.zip_longest(old.chunks, new.chunks, fillvalue=b"")
        ):
            if before == after:
                chunks.append(before)
            else:
                chunks.append(after)
                self._changes[column] = self._changes.get(column, 0) + 1
        new.chunks = tuple(chunks)
        return new

    def _version(self, family: str) -> tuple[int, int]:
        """A family's texts are the same as long as this is."""
        return self._fleet_changes, self._changes.get(COLUMNS[family], 0)

    def _render_unit(
        self, state: UnitState, fresh: bool, extra: tuple[str, ...], old: _Unit | None
    ) -> _Unit:
        """The unit rendered from its latest reading: one that a poll replaced meanwhile
        (the forecast has moved on from it) is left for the newer one."""
        for _ in range(_RENDER_TRIES - 1):
            reading = state.reading
            unit = self._render_reading(state, reading, fresh, extra, old)
            if state.reading is reading:
                return unit
        return self._render_reading(state, state.reading, fresh, extra, old)

    def _render_reading(
        self,
        state: UnitState,
        reading: Reading | None,
        fresh: bool,
        extra: tuple[str, ...],
        old: _Unit | None,
    ) -> _Unit:
        self.renders += 1
        key = _state_key(state, reading, extra)
        if not fresh:
            reading = None
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

    def _fleet(self, now: float | None) -> dict[str, tuple[bytes, ...]]:
        """The fleet's families and their lines (each with its header first), rendering
        the units whose state moved."""
        return _grouped(self._rendered(now, "scrape"))

    def _rendered(self, now: float | None, when: str) -> list[_Unit]:
        """Every unit's latest render, rendering the units whose state moved; the renders
        are counted under ``when``."""
        renders, started = self.renders, time.monotonic()
        now = time.time() if now is None else now
        store = self.store
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
            if (
                unit is None
                or unit.fresh != fresh
                or unit.key != _state_key(state, state.reading, extra)
            ):
                unit = self._kept_where_same(unit, self._render_unit(state, fresh, extra, unit))
            units[name] = unit
        if list(units) != list(cached):
            self._fleet_changes += 1  # a unit gone, or the order changed
        self._units = units  # removed units go
        if self.counted is not None and self.renders > renders:
            self.counted.labels(when).inc(self.renders - renders)
        self.last_render_s = time.monotonic() - started
        return list(units.values())

    def prepare(self, now: float | None = None) -> None:
        """Render the units whose state moved, ahead of a scrape (:mod:`.cadence`)."""
        with self._lock:
            self._rendered(now, "ahead")

    def render(self, now: float | None = None) -> bytes:
        """The exposition as text."""
        with self._lock:
            groups = self._fleet(now)
            own = self._own.texts(self.collectors)
        return b"".join([part for texts in groups.values() for part in texts] + own)

    def render_gzip(self, now: float | None = None) -> bytes:
        """The exposition as one gzip member."""
        with self._lock:
            segments: list[Segment] = [
                (family, self._version(family), texts) for family, texts in self._fleet(now).items()
            ]
            segments += [
                (f"own {i}", text, (text,))
                for i, text in enumerate(self._own.texts(self.collectors))
            ]
            return self.gzip.body(segments)
