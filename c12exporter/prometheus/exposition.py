"""``/metrics`` assembled from pieces rendered once per reading, plain or gzip.

A unit's reading changes once per poll, but Prometheus may scrape more often (and an
HA pair scrapes twice). Rebuilding the whole exposition with ``generate_latest`` at
every scrape costs about a second at 1,000 units, and gzip compresses all of it again.
Here each unit's part of each metric family is rendered once, when its poll is
recorded, as text and as raw deflate; a scrape only puts the pieces in order.

The text format wants every family in one group (``# HELP``/``# TYPE`` once, then all
its samples), so a scrape walks the families and, within each, the units in store
order, and picks each unit's piece of that family.

Gzip without compressing per scrape: every piece is compressed on its own (a fresh
compressor, so it refers to nothing before it) and ended with a full flush, which
byte-aligns it. Such pieces concatenate into one valid deflate stream; a scrape adds
the gzip header, a final empty block, and the CRC-32 and length of the text (CRC-32
computed over the pieces' text in order, which is much cheaper than deflate).

Only while scraped: a poll renders its unit's pieces only if ``/metrics`` was scraped
within :data:`IDLE_AFTER_S`; otherwise it drops them, and the first scrape after a quiet
spell renders what it needs (as slow as the baseline, once).

Never stale: at each scrape a unit whose reading is not fresh
(:meth:`Store.fresh_reading`) gets its down form (``c12_up 0`` and its poll health,
no measurements), whatever is cached. Every cached piece is checked against the
unit's state (reading, poll counters, config, extra labels), so a missed event costs
a re-render, never a wrong answer. The content equals :class:`FleetCollector`'s; only
the order of families may differ.
"""

from __future__ import annotations

import functools
import math
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString as _untyped_float_to_go_string

from ..forecast import TripForecast
from ..reading import Reading
from ..store import Change, FleetChange, Store, UnitState
from .collector import _Families, _health, measured

IDLE_AFTER_S = 300.0
"""Pieces are rendered at each poll only while someone scraped within this time; an
exporter nobody scrapes (SNMP or the console only) spends nothing on the exposition."""
GZIP_LEVEL = 6
"""zlib's default level, as ``gzip`` and aiohttp use."""
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, OS unknown
_FINAL_EMPTY_BLOCK = b"\x03\x00"  # a final fixed-Huffman block holding only end-of-block
_float = cast(Callable[[float], str], _untyped_float_to_go_string)
"""Sample values as ``generate_latest`` writes them."""


def deflate_piece(data: bytes, level: int = GZIP_LEVEL) -> bytes:
    """``data`` as raw deflate that refers to nothing before it and ends byte-aligned
    (full flush), so such pieces concatenate into one deflate stream."""
    if not data:
        return b""
    # A window no larger than the piece: same output, far less to set up per piece.
    wbits = min(max(len(data).bit_length(), 9), zlib.MAX_WBITS)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def gzip_from_pieces(pieces: Iterable[tuple[bytes, bytes]]) -> bytes:
    """One gzip member from ``(text, deflate_piece(text))`` pairs, in order."""
    crc = 0
    size = 0
    body = [_GZIP_HEADER]
    for text, deflated in pieces:
        if text:
            crc = zlib.crc32(text, crc)
            size += len(text)
            body.append(deflated)
    body.append(_FINAL_EMPTY_BLOCK)
    body.append(struct.pack("<II", crc, size & 0xFFFFFFFF))
    return b"".join(body)


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


@dataclass(frozen=True)
class _Piece:
    text: bytes
    deflated: bytes

    @classmethod
    def of(cls, text: bytes) -> _Piece:
        return cls(text, deflate_piece(text))


_EMPTY = _Piece(b"", b"")


@functools.lru_cache(maxsize=65536)
def _escape(value: str) -> str:
    """A label value as ``generate_latest`` escapes it (values repeat: cached)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _family_name_and_type(metric: Metric) -> tuple[str, str]:
    """The name and type ``generate_latest`` writes for ``metric``."""
    if metric.type == "counter":
        return metric.name + "_total", "counter"
    return metric.name, "gauge" if metric.type in ("info", "stateset") else metric.type


def _header(metric: Metric) -> bytes:
    name, kind = _family_name_and_type(metric)
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n".encode()


def _samples(metric: Metric) -> bytes:
    """The sample lines of ``metric``, formatted as ``generate_latest`` formats them."""
    if not metric.samples:
        return b""
    names = sorted(metric.samples[0].labels)  # the family's label names: same for all
    lines = []
    for sample in metric.samples:
        labels = sample.labels
        text = ",".join([f'{k}="{_escape(labels[k])}"' for k in names])
        value = _float(sample.value)
        lines.append(f"{sample.name}{{{text}}} {value}\n" if text else f"{sample.name} {value}\n")
    return "".join(lines).encode()


_HEALTH_FAMILIES = frozenset(
    ("c12_up", "c12_poll_duration_seconds", "c12_polls", "c12_poll_errors",
     "c12_last_poll_success_timestamp_seconds")
)  # fmt: skip
"""Families of the down form (keys of ``_Families.families``: counters without _total)."""


@dataclass
class _UnitPieces:
    """One unit's pieces, and the state they were rendered from."""

    key: tuple[object, ...]
    up: dict[str, _Piece]  # health (c12_up 1) and measurements
    down: dict[str, _Piece]  # health only (c12_up 0)


def _state_key(state: UnitState, extra: tuple[str, ...]) -> tuple[object, ...]:
    return (
        state.reading,  # compared by identity first; equal content renders the same
        state.config,
        state.polls_total,
        state.last_duration_s,
        state.last_success_at,
        extra,
    )


class CachedExposition:
    """The fleet's ``/metrics`` body from per-unit pieces, kept current by store events.

    ``collectors`` (the exporter's own registries) are rendered at every scrape and
    appended; they are small. ``forecast`` gives the trip forecast series (it changes with
    the reading, so it is cached with it).
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
        self._lock = threading.Lock()
        self._units: dict[str, _UnitPieces] = {}
        self._headers: dict[str, _Piece] = {}
        self._order: list[str] = []  # families in the order first seen
        self._extra: tuple[str, ...] = self._label_union()
        self._last_scrape = -math.inf
        # The store keeps these listeners; they hold this object weakly, so a dropped
        # exposition (an exposer restarted by a reload) does not live on through them.
        ref = weakref.ref(self)

        def on_change(change: Change) -> None:
            target = ref()
            if target is not None:
                target._on_change(change)

        def on_fleet(change: FleetChange) -> None:
            target = ref()
            if target is not None:
                target._on_fleet(change)

        self._listener = on_change
        self._fleet_listener = on_fleet
        store.subscribe(on_change)
        store.watch_fleet(on_fleet)

    def close(self) -> None:
        """Stop following the store."""
        self.store.unsubscribe(self._listener)
        self.store.unwatch_fleet(self._fleet_listener)

    # ------------------------------------------------------------------ events

    def _label_union(self) -> tuple[str, ...]:
        return tuple(sorted({k for u in self.store for k in u.config.labels}))

    def _on_change(self, change: Change) -> None:
        if time.monotonic() - self._last_scrape > IDLE_AFTER_S:
            # Nobody scrapes: forget the unit's pieces rather than render them; the next
            # scrape renders what it needs.
            with self._lock:
                self._units.pop(change.unit.config.name, None)
            return
        self._refresh(change.unit, self._extra)

    def _on_fleet(self, change: FleetChange) -> None:
        extra = self._label_union()
        with self._lock:
            if extra != self._extra:
                self._extra = extra
                self._units.clear()
            else:
                for name in (*change.removed, *change.changed):
                    self._units.pop(name, None)

    # ------------------------------------------------------------------ rendering

    def _refresh(self, state: UnitState, extra: tuple[str, ...]) -> _UnitPieces:
        """Render ``state``'s pieces and cache them (unless the label set moved on)."""
        pieces = self._render_unit(state, extra)
        with self._lock:
            if extra == self._extra:
                self._units[state.config.name] = pieces
        return pieces

    def _render_unit(self, state: UnitState, extra: tuple[str, ...]) -> _UnitPieces:
        key = _state_key(state, extra)
        reading = state.reading
        ext = [state.config.labels.get(k, "") for k in extra]
        down = self._render(_families(state, None, extra, ext).families.values())
        if reading is None:
            return _UnitPieces(key, {}, down)
        f = _Families(extra)
        _health(f, state, True, ext)
        up_flag = f.families.pop("c12_up")
        measured(f, state, reading, ext, self.forecast)
        up = {**down, **self._render([up_flag])}
        for name, metric in f.families.items():
            if name not in _HEALTH_FAMILIES:
                up.update(self._render([metric]))
        return _UnitPieces(key, up, down)

    def _render(self, metrics: Iterable[Metric]) -> dict[str, _Piece]:
        pieces: dict[str, _Piece] = {}
        for metric in metrics:
            name = _family_name_and_type(metric)[0]
            if name not in self._headers:
                with self._lock:
                    if name not in self._headers:
                        self._headers[name] = _Piece.of(_header(metric))
                        self._order.append(name)
            samples = _samples(metric)
            pieces[name] = _Piece(samples, deflate_piece(samples, self.level))
        return pieces

    # ------------------------------------------------------------------ scrapes

    def _pieces(self, now: float | None = None) -> list[_Piece]:
        """Every piece of the fleet's part, in exposition order."""
        now = time.time() if now is None else now
        self._last_scrape = time.monotonic()
        with self._lock:
            extra = self._extra
            cached = dict(self._units)
        if extra != self._label_union():  # a config change not yet announced
            with self._lock:
                self._extra = extra = self._label_union()
                self._units.clear()
            cached = {}
        parts: list[dict[str, _Piece]] = []
        for state in self.store:
            unit = cached.get(state.config.name)
            if unit is None or unit.key != _state_key(state, extra):
                unit = self._refresh(state, extra)
            up = self.store.fresh_reading(state, now) is not None and bool(unit.up)
            parts.append(unit.up if up else unit.down)
        with self._lock:
            order = list(self._order)
            headers = dict(self._headers)
        out: list[_Piece] = []
        for name in order:
            group = [p[name] for p in parts if name in p]
            if group:
                out.append(headers[name])
                out.extend(group)
        out.extend(_Piece.of(generate_latest(c)) for c in self.collectors)
        return out

    def render(self, now: float | None = None) -> bytes:
        """The exposition as text."""
        return b"".join(p.text for p in self._pieces(now))

    def render_gzip(self, now: float | None = None) -> bytes:
        """The exposition as one gzip member, from the compressed pieces."""
        return gzip_from_pieces((p.text, p.deflated) for p in self._pieces(now))


def _families(
    state: UnitState, reading: Reading | None, extra: Sequence[str], ext: list[str]
) -> _Families:
    """What :class:`FleetCollector` yields for one unit: its down form without a reading."""
    f = _Families(extra)
    _health(f, state, reading is not None, ext)
    if reading is not None:
        measured(f, state, reading, ext)
    return f
