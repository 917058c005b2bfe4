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
at 1,000 units) keeps its text. No text is kept as text: each render folds the units'
lines, batch by batch as units are rendered, into the fleet's deflated blocks
(:mod:`.fleet_text`), and the own metrics' texts are kept deflated; a gzip scrape joins
them as they are (a block whose text did not change is not compressed again), a plain
one inflates them.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import Counter, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from ..forecast import TripForecast
from ..reading import Reading
from ..store import Store, UnitState
from .fleet_text import FleetText, Texts
from .gzip_segments import LEVEL, Deflated, KeptDeflates, deflate, inflate, member
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
    """The state a unit's latest render was made from (its lines are in the fleet's
    text), its families and its plan."""

    __slots__ = ("families", "fresh", "key", "plan")

    def __init__(
        self,
        key: tuple[object, ...],
        fresh: bool,
        families: tuple[str, ...],
        plan: UnitPlan | None,
    ) -> None:
        self.key = key
        self.fresh = fresh
        self.families = families  # interned: units of one shape share the tuple
        self.plan = plan  # kept across readings of the same shape while the unit is up


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


def _family_order(units: Iterable[_Unit]) -> list[str]:
    """The families in the order first seen, as ``generate_latest`` writes them. Units of
    one shape share their tuple of families, so the order comes from each shape's first
    unit."""
    order: dict[str, None] = {}
    shapes: set[int] = set()
    for unit in units:
        if id(unit.families) not in shapes:
            shapes.add(id(unit.families))
            order.update(dict.fromkeys(unit.families))
    return list(order)


class _OneMetric(Collector):
    """A collector of one metric, for ``generate_latest``."""

    def __init__(self, metric: Metric) -> None:
        self.metric = metric

    def collect(self) -> Iterator[Metric]:
        yield self.metric


class _OwnText:
    """The text of each metric the exporter's own collectors yield, kept deflated; a
    metric yielded again as the same object with the same samples keeps it (the object is
    held, so its id is not reused). A metric with a true ``samples_fixed`` attribute
    promises its samples never change once yielded (:class:`.history.metrics.ChannelTimes`,
    whose samples are made each time they are asked for): the same object keeps its text
    without its samples being looked at. ``compressed`` counts the texts deflated."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.compressed = 0
        self._kept: dict[int, tuple[Metric, tuple[object, ...], Deflated]] = {}

    def deflated(self, collectors: Sequence[Collector]) -> list[Deflated]:
        kept: dict[int, tuple[Metric, tuple[object, ...], Deflated]] = {}
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
                    text = generate_latest(_OneMetric(metric))
                    entry = (metric, made_of, deflate(text, self.level))
                    self.compressed += 1
                kept[id(metric)] = entry
                out.append(entry[2])
        self._kept = kept
        return out


class CachedExposition:
    """The fleet's ``/metrics`` body, each unit rendered at most once per reading.

    ``collectors`` (the exporter's own registries) are collected at every scrape and
    appended, a metric yielded again unchanged with the text it had. ``forecast`` gives
    the trip forecast series. ``renders`` counts unit renders (through a plan or the
    collector), ``planned`` those through a plan, and ``compressed`` the blocks and own
    metrics compressed, for tests and the benchmark; ``counted`` (labelled ``when``), if
    given, counts the renders ahead of a scrape and while one waits.
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
        self.renders = 0
        self.planned = 0
        self.last_render_s = 0.0  # how long the latest _rendered took, wall time
        self._lock = threading.Lock()  # one scrape renders at a time; the next reuses it
        self._units: dict[str, _Unit] = {}
        self._extra: tuple[str, ...] = ()
        self._text = FleetText(level)
        self._headers = KeptDeflates(level)
        self._own = _OwnText(level)

    @property
    def compressed(self) -> int:
        return self._text.compressed + self._own.compressed

    def _render_unit(
        self, state: UnitState, fresh: bool, extra: tuple[str, ...], old: _Unit | None
    ) -> tuple[_Unit, Texts]:
        """The unit rendered from its latest reading: one that a poll replaced meanwhile
        (the forecast has moved on from it) is left for the newer one."""
        for _ in range(_RENDER_TRIES - 1):
            reading = state.reading
            rendered = self._render_reading(state, reading, fresh, extra, old)
            if state.reading is reading:
                return rendered
        return self._render_reading(state, state.reading, fresh, extra, old)

    def _render_reading(
        self,
        state: UnitState,
        reading: Reading | None,
        fresh: bool,
        extra: tuple[str, ...],
        old: _Unit | None,
    ) -> tuple[_Unit, Texts]:
        """The unit's render and its lines by column."""
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
                families, texts = plan.render(state, reading)
                self.planned += 1
                return _Unit(key, fresh, families, plan), texts
            except PlanMismatch:
                pass
        by_family = collector_families(state, reading, extra, self.forecast)
        # A plan leaves out the lines it cannot change, which the fleet's text keeps from
        # the render it was built from: a unit keeps a plan only while they are there.
        plan = build_plan(state, reading, extra, self.forecast, by_family) if reading else None
        families, texts = through_collector(by_family)
        return _Unit(key, fresh, families, plan), texts

    def _rendered(self, now: float | None, when: str) -> list[str]:
        """Renders the units whose state moved and folds them into the fleet's text;
        the renders are counted under ``when``. The families, in order."""
        renders, started = self.renders, time.monotonic()
        now = time.time() if now is None else now
        store = self.store
        extra = tuple(sorted({k for u in store for k in u.config.labels}))
        if extra != self._extra:  # every unit's lines change
            self._extra = extra
            self._units.clear()
            self._text.clear()
        cached = self._units
        units: dict[str, _Unit] = {}

        def walked() -> Iterator[tuple[str, Texts | None]]:
            for state in store:
                name = state.config.name
                fresh = store.fresh_reading(state, now) is not None
                unit = cached.get(name)
                texts = None
                if (
                    unit is None
                    or unit.fresh != fresh
                    or unit.key != _state_key(state, state.reading, extra)
                ):
                    unit, texts = self._render_unit(state, fresh, extra, unit)
                units[name] = unit
                yield name, texts

        self._text.update(walked())  # if it fails, the texts and units kept stay together
        self._units = units  # removed units go
        if self.counted is not None and self.renders > renders:
            self.counted.labels(when).inc(self.renders - renders)
        self.last_render_s = time.monotonic() - started
        return _family_order(units.values())

    def prepare(self, now: float | None = None) -> None:
        """Render the units whose state moved, ahead of a scrape (:mod:`.cadence`)."""
        with self._lock:
            self._rendered(now, "ahead")

    def render(self, now: float | None = None) -> bytes:
        """The exposition as text."""
        with self._lock:
            parts = []
            for family in self._rendered(now, "scrape"):
                parts += [HEADERS[family], self._text.text(COLUMNS[family])]
            parts += map(inflate, self._own.deflated(self.collectors))
        return b"".join(parts)

    def render_gzip(self, now: float | None = None) -> bytes:
        """The exposition as one gzip member."""
        with self._lock:
            order = self._rendered(now, "scrape")
            headers = self._headers.deflated([HEADERS[family] for family in order])
            segments = []
            for family, header in zip(order, headers, strict=True):
                segments += [header, *self._text.blocks(COLUMNS[family])]
            segments += self._own.deflated(self.collectors)
            return member(segments)
