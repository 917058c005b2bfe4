"""One unit's series as text, cheap enough to redo at every scrape.

:mod:`.collector` says what a unit's series are; going through prometheus-client's
metric objects costs about a millisecond per unit. Here a :class:`UnitPlan` is built once
per unit label set and reading shape: a template of the unit's lines (every series'
``name{labels} `` in the collector's order, a slot for its value) and where each value
sits in the list gathered from a reading. A render gathers a reading's values
(``itemgetter`` over its measurements, a few derived values), fills the template with one
``%`` (``%r``: ``repr``, what ``generate_latest`` writes for a number, but for the
exponent Go puts on numbers from a million up, infinities and NaN: those few are written
by prometheus-client's own function; states from a table) and cuts it into one text per
family, laid out by the family's column (:data:`COLUMNS`), for the exposition to fold into
the fleet's text (:mod:`.fleet_text`). Families whose text cannot change under a plan
(identity, ratings, bands) are not rendered: the fleet's text keeps the lines the plan was
built from.

A plan is built from the collector's own families for a reading and must reproduce them
byte for byte; a unit whose plan does not is rendered through the collector every time
(correct, only slower). A reading of another shape than the plan's (a value missing that
was there, or the other way round; a new channel name; a band set) makes the caller
build a new plan. The few series whose labels come from the values (poll errors by
reason, the best balancing move, the trip forecast) are made at each render as one text,
from prefixes the collector made (per pair of channels of a move, per overloaded
channel) or, for poll errors, kept while the counts stay.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from prometheus_client.core import Metric
from prometheus_client.utils import floatToGoString as _untyped_float_to_go_string

from .. import balance, supply
from .. import catalogue as cat
from ..forecast import TripForecast
from ..measurements import OF_SCOPE, Scope
from ..reading import ChannelReading, Reading
from ..store import UnitState
from .collector import (
    BEST_MOVE,
    SUPERVISION_POSITIONS,
    _Families,
    _health,
    _sample,
    measured,
    trip_forecast,
)

POLLS_FAMILY = cat.declared("polls").metric_name
POLL_ERRORS_FAMILY = cat.declared("poll_errors").metric_name
"""The two counters' family names (their samples end in ``_total``)."""

_float = cast(Callable[[float], str], _untyped_float_to_go_string)
"""Sample values as ``generate_latest`` writes them."""
_KINDS = ("small", "large", "state")
"""Of a value: a number that ``repr`` writes as Go does (finite, under a million), another
number, a state name."""


def _kind(value: object) -> str:
    if isinstance(value, str):
        return "state"
    assert isinstance(value, int | float)
    return "small" if -math.inf < value < 1e6 else "large"


_METRICS = {scope: tuple(m for m in OF_SCOPE[scope] if m.metric is not None) for scope in Scope}
"""The measurements of each scope that have a series, in the collector's order."""


def _state_texts() -> tuple[dict[str, bytes], frozenset[str]]:
    """Each state name -> its sample value's text, and the names two measurements give
    different numbers (a unit reading such a measurement is rendered through the collector)."""
    texts: dict[str, bytes] = {}
    clashing: set[str] = set()
    for scope in Scope:
        for m in _METRICS[scope]:
            for state in m.states:
                text = _float(_sample(m, state)).encode()
                if texts.setdefault(state, text) != text:
                    clashing.add(state)
    return texts, frozenset(clashing)


_STATE_TEXTS, _CLASHING_STATES = _state_texts()


HEADERS: dict[str, bytes] = {}
"""Exposed family name -> its ``# HELP`` and ``# TYPE`` lines, for every family seen."""


@functools.lru_cache(maxsize=65536)
def _escape(value: str) -> str:
    """A label value as ``generate_latest`` escapes it (values repeat: cached)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def exposed_name(metric: Metric) -> str:
    """The family name ``generate_latest`` writes (counters end in ``_total``)."""
    return metric.name + "_total" if metric.type == "counter" else metric.name


def _header(metric: Metric) -> bytes:
    name = exposed_name(metric)
    kind = "gauge" if metric.type in ("info", "stateset") else metric.type
    doc = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n".encode()


def _recorded(families: dict[str, Metric]) -> dict[str, Metric]:
    """``families``, their headers noted in :data:`HEADERS`."""
    for metric in families.values():
        name = exposed_name(metric)
        if name not in HEADERS:
            HEADERS[name] = _header(metric)
    return families


def _prefixes(metric: Metric, slotted: Mapping[str, str] = {}) -> list[bytes]:
    """``name{labels} `` of each sample of ``metric``, labels sorted as ``generate_latest``
    sorts them; a label in ``slotted`` (name -> marker) has the marker for its value."""
    out = []
    for sample in metric.samples:
        labels = sample.labels
        text = ",".join(
            [f'{k}="{slotted[k] if k in slotted else _escape(labels[k])}"' for k in sorted(labels)]
        )
        out.append((f"{sample.name}{{{text}}} " if text else f"{sample.name} ").encode())
    return out


def samples_text(metric: Metric) -> bytes:
    """The sample lines of ``metric``, as ``generate_latest`` writes them."""
    values = [(_float(s.value) + "\n").encode() for s in metric.samples]
    return b"".join(map(operator.add, _prefixes(metric), values))


def collector_families(
    state: UnitState,
    reading: Reading | None,
    extra: Sequence[str],
    forecast: TripForecast | None,
) -> dict[str, Metric]:
    """What :class:`FleetCollector` yields for one unit (its down form without a reading),
    by the collector's family key."""
    f = _Families(extra)
    ext = [state.config.labels.get(k, "") for k in extra]
    _health(f, state, reading is not None, ext)
    if reading is not None:
        measured(f, state, reading, ext, forecast)
    return _recorded(f.families)


class Layout:
    """How a unit's values become its lines, one text per family in the collector's order.

    The families of values (``alone`` 0) have one template: their lines with a ``%r``
    for each number under a million, a ``%b`` for each other value (its text) and a
    ``%b`` for each value of the unit's own labels (``pdu`` and the config's), families
    apart by a NUL (``template``: one string for the unit
    rather than one per series, written with one ``%`` and cut with one ``split``; units
    of one shape share it, their names not in it). A
    render picks from its gathered list the numbers under a million (``small``, written
    with ``repr``), the others (``large``: times, energy) and the state names
    (``states``); ``order`` puts their texts, laid end to end in that order and followed
    by the unit's label values (kind ``label``, position: which label), in the template's
    order.
    A family whose text cannot change under the plan (``alone`` 1: identity, ratings,
    bands) is not rendered: ``None`` takes its place (``kept``), the lines the plan was
    built from being kept by the caller. One made at each render (``alone`` 2: poll
    errors, the best move, the trip forecast) is picked from the gathered list by
    ``texts``. ``merge`` puts the templated, kept and made texts, laid end to end, in the
    families' columns (:data:`COLUMNS`; the empty text, last, in the columns of families
    not there)."""

    __slots__ = ("alone", "dynamic", "families", "kept", "kinds", "large", "merge", "order",
                 "positions", "small", "states", "template", "templated", "texts")  # fmt: skip

    def __init__(
        self,
        families: Sequence[str],
        alone: Sequence[int],
        template: bytes,
        kept: int,
        dynamic: Sequence[int],
        positions: Sequence[int],
        kinds: Sequence[str],
    ) -> None:
        self.families = interned(tuple(families))
        self.alone, self.dynamic, self.positions, self.kinds = (
            _SHARED.setdefault(t, t)
            for t in (tuple(alone), tuple(dynamic), tuple(positions), tuple(kinds))
        )
        self.template = template
        self.templated = self.alone.count(0)
        self.kept = (None,) * kept
        self.texts = _picker(dynamic)
        laid_end_to_end = {0: itertools.count(), 1: itertools.count(self.templated),
                           2: itertools.count(self.templated + kept)}  # fmt: skip
        families_laid = [next(laid_end_to_end[which]) for which in self.alone]
        self.merge = _column_picker(self.families, families_laid, len(self.alone))
        by_kind: dict[str, list[int]] = {kind: [] for kind in _KINDS}
        for position, kind in zip(positions, kinds, strict=True):
            if kind != _LABEL:
                by_kind[kind].append(position)
        self.small, self.large, self.states = (_picker(by_kind[kind]) for kind in _KINDS)
        laid = {(kind, p): i for i, (kind, p) in enumerate(
            (kind, p) for kind in _KINDS for p in by_kind[kind])}  # fmt: skip
        labels_at = sum(map(len, by_kind.values()))
        self.order = _picker([labels_at + p if k == _LABEL else laid[k, p]
                              for p, k in zip(positions, kinds, strict=True)])  # fmt: skip

    def resorted(self, flat: list[Any]) -> Layout:
        """This layout with the small numbers that are no longer small (by ``flat``) made
        large; a large one stays large (its text is right whatever its size), so a number
        that moves about a million does not sort the layout again and again."""
        kinds = [
            _kind(flat[p]) if k == "small" else k
            for p, k in zip(self.positions, self.kinds, strict=True)
        ]
        template = _shared_template(_reslotted(self.template, kinds))
        return Layout(self.families, self.alone, template, len(self.kept), self.dynamic,
                      self.positions, kinds)  # fmt: skip

    def chunks(self, flat: list[Any], labels: tuple[bytes, ...]) -> tuple[bytes | None, ...] | None:
        """Each family's lines by column (:data:`COLUMNS`; ``None``: kept), from the
        gathered values, the texts made for this render (at the end of ``flat``) and the
        unit's label values; ``None`` if a "small" number is not small."""
        small = list(map(float, self.small(flat)))
        if small and not (max(small) < 1e6 and math.isfinite(sum(small))):
            return None
        # Under a million, finite, repr() (%r) is what generate_latest writes.
        values = self.order((
            *small,
            *[_float(x).encode() for x in map(float, self.large(flat))],
            *map(_STATE_TEXTS.__getitem__, self.states(flat)),
            *labels,
        ))  # fmt: skip
        templated = (self.template % values).split(_FAMILY_END) if self.templated else []
        return self.merge((*templated, *self.kept, *self.texts(flat), b""))


_FAMILY_END = b"\0"
"""Between two families in a template: no text ``generate_latest`` writes for a planned unit
has it (a prefix that does is not planned)."""
_LABEL = "label"
_SLOT = {"small": b"%r\n", "large": b"%b\n", "state": b"%b\n", _LABEL: b"%b"}
"""A value's place in a template, by its kind (a unit's label value's: ``label``)."""
_LABEL_MARK = re.compile(rb"\x01(\d+)\x01")
"""Where a unit's label value goes in a prefix (:func:`_label_marks`) before it is a slot."""


def _reslotted(template: bytes, kinds: Sequence[str]) -> bytes:
    """``template`` with the slots of ``kinds`` (one a value, in order)."""
    slots = iter(kinds)
    return re.sub(
        rb"%[%rb]\n?",
        lambda m: m[0] if m[0].startswith(b"%%") else _SLOT[next(slots)],
        template,
    )


def _label_marks(keys: Sequence[str]) -> dict[str, str]:
    """A marker for the value of each of the unit's labels ``keys`` in :func:`_prefixes`."""
    return {key: f"\x01{i}\x01" for i, key in enumerate(keys)}


def _template(
    prefixes: Sequence[bytes], kinds: Sequence[str]
) -> tuple[bytes, list[tuple[int, ...]]]:
    """A family's lines with a slot for each value and for each of the unit's label values
    (marked in ``prefixes``), and which labels each line's slots take, in order."""
    lines, labels = [], []
    for prefix, kind in zip(prefixes, kinds, strict=True):
        prefix = prefix.replace(b"%", b"%%")
        labels.append(tuple(map(int, _LABEL_MARK.findall(prefix))))
        lines.append(_LABEL_MARK.sub(b"%b", prefix) + _SLOT[kind])
    return b"".join(lines), labels


_TEMPLATES: dict[bytes, bytes] = {}
"""One object for each template: units of one shape share it."""
_MAX_TEMPLATES = 4096
"""Shapes remembered (then forgotten all at once): the heat series' channels make shapes
come and go."""


def _shared_template(template: bytes) -> bytes:
    if len(_TEMPLATES) >= _MAX_TEMPLATES:
        _TEMPLATES.clear()
    return _TEMPLATES.setdefault(template, template)


_FAMILIES: dict[tuple[str, ...], tuple[str, ...]] = {}
_SHARED: dict[tuple[Any, ...], tuple[Any, ...]] = {}
"""One tuple object for each layout's counts, positions and kinds: units of one shape
share them."""


COLUMNS: dict[str, int] = {}
"""Exposed family name -> its column: a unit's texts are laid out by column, ``b""`` for a
family it has not, so that the fleet's text (:mod:`.fleet_text`) keeps each family's lines
of every unit together whatever each unit's families. Numbered in the order first met;
the order of the families in the text is another matter
(:func:`.exposition._family_order`)."""


def _column_picker(
    families: Sequence[str], laid: Sequence[int], empty: int
) -> Callable[[Sequence[bytes | None]], tuple[bytes | None, ...]]:
    """Picks the texts of ``families`` (at ``laid``, one a family) by column, and the
    empty text at ``empty`` for the columns of the families not there."""
    by_column = {
        COLUMNS.setdefault(f, len(COLUMNS)): p for f, p in zip(families, laid, strict=True)
    }
    return _picker([by_column.get(c, empty) for c in range(max(by_column, default=-1) + 1)])


def interned(families: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple object for each list of families, so that units of the same shape can
    be told by identity (a scrape joins such units' texts family by family at once)."""
    return _FAMILIES.setdefault(families, families)


def _picker(positions: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """``itemgetter`` that always answers a tuple; one for each list of positions (units
    of one shape share them)."""
    return _shared_picker(tuple(positions))


@functools.lru_cache(maxsize=4096)
def _shared_picker(positions: tuple[int, ...]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    if len(positions) == 1:
        (position,) = positions
        return lambda values: (values[position],)
    if not positions:
        return lambda values: ()
    return cast(Callable[[Sequence[Any]], tuple[Any, ...]], operator.itemgetter(*positions))


def through_collector(families: Mapping[str, Metric]) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
    """A unit rendered through the collector: its families' names and texts by column."""
    names = interned(tuple(exposed_name(m) for m in families.values()))
    texts = [samples_text(m) for m in families.values()]
    picker = _column_picker(names, range(len(names)), len(names))
    return names, cast(tuple[bytes, ...], picker((*texts, b"")))


# ---------------------------------------------------------------------- gathering

_GET = {
    scope: cast(
        Callable[[Mapping[str, Any]], tuple[Any, ...]],
        operator.itemgetter(*[m.name for m in _METRICS[scope]]),
    )
    for scope in Scope
}
_GET_UNIT, _GET_PHASE, _GET_CHANNEL = _GET[Scope.UNIT], _GET[Scope.PHASE], _GET[Scope.CHANNEL]
"""Without a lookup by Scope at each render: hashing an Enum member runs Python code."""
_VALUES = operator.attrgetter("values")
_STATIC = operator.attrgetter(
    "number", "name", "phase", "rating_a", "connector", "connector_type", "pins",
    # The band's limits rather than the band: comparing two of its dataclass objects
    # runs Python code, twelve times a unit at each render.
    "supervision.min_a", "supervision.max_a",
)  # fmt: skip


def _static_key(
    state: UnitState,
    r: Reading,
    forecast: TripForecast | None,
    channel: Callable[[ChannelReading], tuple[object, ...]] = _STATIC,
) -> tuple[object, ...]:
    """Everything a plan's prefixes and kept texts depend on, besides the value shape;
    ``channel`` gives a channel's part."""
    return (
        state.config,
        r.unit,
        r.identity,
        r.model,
        r.stored_name,
        tuple([p.phase for p in r.phases]),
        tuple(map(channel, r.channels)),
        forecast is not None,
    )


_CHANNEL_KEYS: dict[tuple[object, ...], tuple[object, ...]] = {}
"""One tuple object for each channel's part of a kept plan key: channels of one name,
phase, rating, connector and band share it (a dozen per unit)."""
_MAX_CHANNEL_KEYS = 65536
"""Channel keys remembered (then forgotten all at once)."""


def _shared_channel_key(channel: ChannelReading) -> tuple[object, ...]:
    key = _STATIC(channel)
    if len(_CHANNEL_KEYS) >= _MAX_CHANNEL_KEYS:
        _CHANNEL_KEYS.clear()
    return _CHANNEL_KEYS.setdefault(key, key)


_POSITIONS = {id(state): position for state, position in SUPERVISION_POSITIONS.items()}
"""SUPERVISION_POSITIONS by the member's id: hashing an Enum member runs Python code."""
_DERIVED = 7
"""Values gathered after the measurements, in this order:"""
_DURATION, _POLLS, _LAST_SUCCESS, _WARNING, _POWER_UP, _VOLTAGE_UNBALANCE, _UNBALANCE = range(
    _DERIVED
)


def _gather(
    state: UnitState,
    r: Reading,
    banded: Sequence[int],
    heat_channels: Sequence[int],
    forecast: TripForecast | None,
) -> list[Any]:
    """Every value of ``r`` and ``state`` a plan picks from, in one list: the measurements
    (unit, each phase, each channel), the derived values listed above, the supervision
    positions of the channels ``banded`` (indexes), the heat of ``heat_channels``."""
    rows = [_GET_UNIT(r.values)]
    rows += map(_GET_PHASE, map(_VALUES, r.phases))
    rows += map(_GET_CHANNEL, map(_VALUES, r.channels))
    flat = list(itertools.chain.from_iterable(rows))
    channels = r.channels
    positions = [_POSITIONS[id(channels[i].supervision_state)] for i in banded]
    flat += (
        state.last_duration_s,
        state.polls_total,
        state.last_success_at,
        float(1.0 in positions or -1.0 in positions),  # Reading.supervision_warning
        r.taken_at - r.uptime_s,
        supply.reading_voltage_unbalance(r),
        balance.reading_unbalance(r),
    )
    flat += positions
    if heat_channels:
        heat = forecast.heat(r) if forecast is not None else {}
        if len(heat) != len(heat_channels):
            raise KeyError("the channels with a heat changed")
        flat += [heat[channel] for channel in heat_channels]
    return flat


# ---------------------------------------------------------------------- plans


class PlanMismatch(Exception):
    """The plan cannot render this reading (its shape changed): build another."""


_Dynamic = Callable[[UnitState, Reading, list[Any]], "bytes | None"]


class UnitPlan:
    """How to render one unit's readings of one shape without the collector."""

    def __init__(
        self,
        key: tuple[object, ...],
        gathered: int,
        present: Callable[[Sequence[Any]], tuple[Any, ...]],
        absent: Callable[[Sequence[Any]], tuple[Any, ...]],
        absent_count: int,
        banded: tuple[int, ...],
        heat_channels: tuple[int, ...],
        forecast: TripForecast | None,
        dynamic: Sequence[_Dynamic],
        layouts: tuple[Layout, Layout],
        labels: tuple[bytes, ...],
    ) -> None:
        self.key = key
        self.labels = labels  # the unit's label values, escaped, for the templates' slots
        self.gathered = gathered
        self.present = present
        self.absent = absent
        self.absent_nones = (None,) * absent_count
        self.banded = banded
        self.heat_channels = heat_channels
        self.forecast = forecast
        self.dynamic = dynamic
        self.layouts = layouts  # without and with the best balancing move

    def render(
        self, state: UnitState, r: Reading
    ) -> tuple[tuple[str, ...], tuple[bytes | None, ...]]:
        """``r``'s families and the lines of each, ``None`` for the families whose lines
        cannot change under the plan: the caller keeps the lines of the render the plan
        was built from (the collector's). :class:`PlanMismatch` if ``r`` is not of this
        plan's shape."""
        try:
            flat = _gather(state, r, self.banded, self.heat_channels, self.forecast)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise PlanMismatch from e
        if (
            len(flat) != self.gathered
            or None in self.present(flat)
            or self.absent(flat) != self.absent_nones
        ):
            raise PlanMismatch
        try:
            texts = [dynamic(state, r, flat) for dynamic in self.dynamic]
        except KeyError as e:  # the forecast moved on to a newer reading meanwhile
            raise PlanMismatch from e
        which = texts[1] is not None  # the best move's family is there
        layout = self.layouts[which]
        flat += texts
        try:
            chunks = layout.chunks(flat, self.labels)
            if chunks is None:  # a number grew past a million (an energy counter, uptime)
                layout = layout.resorted(flat)
                self.layouts = (layout, self.layouts[1]) if not which else (self.layouts[0], layout)
                chunks = layout.chunks(flat, self.labels)
        except (TypeError, ValueError, KeyError) as e:  # a number became a state or back
            raise PlanMismatch from e
        if chunks is None:
            raise PlanMismatch
        return layout.families, chunks


def build_plan(
    state: UnitState,
    r: Reading,
    extra: Sequence[str],
    forecast: TripForecast | None,
    families: Mapping[str, Metric],
) -> UnitPlan | None:
    """A plan for ``r``'s shape, from ``families`` (the collector's for ``r``); ``None``
    if the plan would not render ``r`` exactly as the collector does."""
    ext = [state.config.labels.get(k, "") for k in extra]
    channels = r.channels
    banded = tuple(i for i, c in enumerate(channels) if c.supervision.enabled)
    heat_channels = tuple(sorted(forecast.heat(r))) if forecast is not None else ()
    try:
        flat = _gather(state, r, banded, heat_channels, forecast)
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    derived = len(flat) - _DERIVED - len(banded) - len(heat_channels)
    made = len(flat)  # the texts made at a render are appended
    errors_at, move_at, trip_at = made, made + 1, made + 2

    # Family key -> positions of its values, in the collector's order of families and
    # samples; "kept" families are served whole, "dynamic" ones as one text.
    slots: dict[str, list[int]] = {}
    kept: set[str] = set()
    dynamic: dict[str, int] = {}

    def slot(key: str, position: int) -> None:
        value = flat[position]
        if value is None:
            return
        if isinstance(value, str) and (value not in _STATE_TEXTS or value in _CLASHING_STATES):
            raise PlanMismatch
        slots.setdefault(key, []).append(position)

    def keep(key: str) -> None:
        slots[key] = []
        kept.add(key)

    def scoped(scope: Scope, offset: int) -> None:
        for i, m in enumerate(_METRICS[scope]):
            slot(m.metric_name, offset + i)

    width = {scope: len(_METRICS[scope]) for scope in Scope}
    try:
        # In the collector's order: _health, then measured(): _unit, _input, _phases,
        # _channels, _balance, trip_forecast.
        keep(cat.UP)
        slot(cat.POLL_DURATION, derived + _DURATION)
        slot(POLLS_FAMILY, derived + _POLLS)
        slots[POLL_ERRORS_FAMILY] = []
        dynamic[POLL_ERRORS_FAMILY] = errors_at
        slot(cat.LAST_POLL_SUCCESS, derived + _LAST_SUCCESS)
        keep(cat.UNIT_INFO)
        scoped(Scope.UNIT, 0)
        slot(cat.SUPERVISION_WARNING, derived + _WARNING)
        keep(cat.INPUT_RATING)
        slot(cat.POWER_UP_TIME, derived + _POWER_UP)
        keep(cat.SUPPLY_FREQUENCY_BAND)
        slot(cat.VOLTAGE_UNBALANCE, derived + _VOLTAGE_UNBALANCE)
        keep(cat.VOLTAGE_MISSING)
        for i in range(len(r.phases)):
            scoped(Scope.PHASE, width[Scope.UNIT] + i * width[Scope.PHASE])
        for key in (
            cat.CHANNEL_INFO,
            cat.CHANNEL_RATING,
            cat.CHANNEL_SUPERVISION_MIN,
            cat.CHANNEL_SUPERVISION_MAX,
        ):
            keep(key)  # fmt: skip
        slots[cat.CHANNEL_SUPERVISION_POSITION] = []
        channel_offset = width[Scope.UNIT] + len(r.phases) * width[Scope.PHASE]
        for i in range(len(channels)):
            scoped(Scope.CHANNEL, channel_offset + i * width[Scope.CHANNEL])
            if i in banded:
                slot(cat.CHANNEL_SUPERVISION_POSITION, derived + _DERIVED + banded.index(i))
        keep(cat.AUX_SOCKET_INFO)
        keep(cat.AUX_SOCKET_RATING)
        slot(cat.PHASE_UNBALANCE, derived + _UNBALANCE)
        slots[cat.PHASE_UNBALANCE_BEST_MOVE] = []
        dynamic[cat.PHASE_UNBALANCE_BEST_MOVE] = move_at
        slots[cat.CHANNEL_TRIP_FORECAST] = []
        dynamic[cat.CHANNEL_TRIP_FORECAST] = trip_at
        slots[cat.CHANNEL_BREAKER_HEAT] = []
        for i in range(len(heat_channels)):
            slot(cat.CHANNEL_BREAKER_HEAT, derived + _DERIVED + len(banded) + i)
    except PlanMismatch:
        return None

    @functools.cache
    def kinds_of(key: str) -> list[str]:
        # A counter only grows: written as a large number from the start, its layout is
        # not sorted again when it passes a million (the simulator's fresh energy meters).
        counter = families[key].type == "counter"
        kinds = [_kind(flat[p]) for p in slots[key]]
        return ["large" if counter and k == "small" else k for k in kinds]

    unit_keys = ("pdu", *extra)
    marks = _label_marks(unit_keys)
    unit_values: dict[int, str] = {}  # each of the unit's labels -> its value

    @functools.cache
    def template_of(key: str) -> tuple[bytes, list[tuple[int, ...]]]:
        metric = families[key]
        for sample in metric.samples:
            for i, k in enumerate(unit_keys):
                if (
                    k in sample.labels
                    and unit_values.setdefault(i, sample.labels[k]) != (sample.labels[k])
                ):
                    raise PlanMismatch  # not one value for the whole unit
        return _template(_prefixes(metric, marks), kinds_of(key))

    def layout(with_move: bool) -> Layout | None:
        names: list[str] = []
        alone: list[int] = []  # of each family: see Layout
        templates: list[bytes] = []
        kept_families = 0  # the families whose lines the caller keeps
        made: list[int] = []
        positions: list[int] = []
        kinds: list[str] = []  # of each value (_KINDS)

        for key, where in slots.items():
            if key in dynamic:
                if key == cat.PHASE_UNBALANCE_BEST_MOVE and not with_move:
                    continue
                names.append(cat.POLL_ERRORS if key == POLL_ERRORS_FAMILY else key)
                alone.append(2)
                made.append(dynamic[key])
                continue
            metric = families.get(key)
            if metric is None:
                if key in kept or where:
                    return None
                continue  # a family that has no value now is absent, as in the collector
            names.append(exposed_name(metric))
            if key in kept or (not where and not metric.samples):
                alone.append(1)
                kept_families += 1
            elif len(metric.samples) != len(where):
                return None
            else:
                alone.append(0)
                template, line_labels = template_of(key)
                templates.append(template)
                for labels, position, kind in zip(line_labels, where, kinds_of(key), strict=True):
                    positions += [*labels, position]
                    kinds += [*[_LABEL] * len(labels), kind]
        if any(_FAMILY_END in t for t in templates):
            return None
        template = _shared_template(_FAMILY_END.join(templates))
        return Layout(names, alone, template, kept_families, made, positions, kinds)

    try:
        without_move, with_move = layout(False), layout(True)
    except PlanMismatch:
        return None
    if without_move is None or with_move is None:
        return None
    labels = tuple(_escape(unit_values.get(i, "")).encode() for i in range(len(unit_keys)))
    if any(_FAMILY_END in label for label in labels):
        return None

    errors_text: dict[tuple[tuple[str, int], ...], bytes] = {}  # the latest counts' text

    def errors(state: UnitState, r: Reading, flat: list[Any]) -> bytes:
        if not state.errors_total:
            return b""
        counts = tuple(sorted(state.errors_total.items()))
        text = errors_text.get(counts)
        if text is None:
            f = _Families(extra)
            _health(f, state, True, ext)
            text = samples_text(_recorded(f.families)[POLL_ERRORS_FAMILY])
            errors_text.clear()
            errors_text[counts] = text
        return text

    move_prefixes: dict[tuple[int, int], bytes] = {}  # by (channel, to_channel)

    def best_move(state: UnitState, r: Reading, flat: list[Any]) -> bytes | None:
        if flat[derived + _UNBALANCE] is None:
            return None
        move = balance.best_move(r)
        if move is None:
            return None
        # The phases are the channels' (part of the plan's key): the channels name the series.
        pair = (move.channel.number, move.to_channel.number)
        prefix = move_prefixes.get(pair)
        if prefix is None:
            # The series as the collector's _balance labels it (a plan whose first render
            # has a move is checked against it), without working the move out again.
            family = _Families(extra).of(BEST_MOVE)
            family.add_metric(
                [r.unit, str(pair[0]), move.phase, str(pair[1]), move.to_phase, *ext],
                move.unbalance_after,
            )
            (prefix,) = _prefixes(family)
            move_prefixes[pair] = prefix
        return prefix + (_float(move.unbalance_after) + "\n").encode()

    trip_prefixes: dict[int, bytes] = {}  # by channel number

    def trip(state: UnitState, r: Reading, flat: list[Any]) -> bytes:
        seconds = forecast.of(r) if forecast is not None else {}
        if not seconds:
            return b""
        if not trip_prefixes.keys() >= seconds.keys():
            f = _Families(extra)
            trip_forecast(f, r, forecast, ext)
            metric = _recorded(f.families)[cat.CHANNEL_TRIP_FORECAST]
            for sample, prefix in zip(metric.samples, _prefixes(metric), strict=True):
                trip_prefixes[int(sample.labels["channel"])] = prefix
        # In the collector's order: by channel number.
        return b"".join(
            [trip_prefixes[c] + (_float(s) + "\n").encode() for c, s in sorted(seconds.items())]
        )

    used = [p for where in slots.values() for p in where]
    absent = [i for i, value in enumerate(flat) if value is None]
    plan = UnitPlan(
        _static_key(state, r, forecast, _shared_channel_key),  # kept: channels shared
        len(flat),
        _picker(used),
        _picker(absent),
        len(absent),
        banded,
        heat_channels,
        forecast,
        (errors, best_move, trip),
        (without_move, with_move),
        labels,
    )
    try:
        names, chunks = plan.render(state, r)
    except PlanMismatch:
        return None
    collected_names, collected = through_collector(families)  # what the caller keeps
    if names != collected_names or len(chunks) != len(collected):
        return None
    if any(text is not None and text != want for text, want in zip(chunks, collected, strict=True)):
        return None
    return plan


def plan_key(state: UnitState, r: Reading, forecast: TripForecast | None) -> tuple[object, ...]:
    """What a plan must have been built for to render ``r`` (:attr:`UnitPlan.key`)."""
    return _static_key(state, r, forecast)
