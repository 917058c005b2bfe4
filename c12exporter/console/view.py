"""What the console shows, as text keyed by the element that shows it.

One function formats each value, for the page the server renders and for the live
updates alike: :func:`row_cells` for a unit's row of the fleet (and its card on a
phone), :func:`detail_cells` for the unit's own view, :func:`totals_cells` for the
fleet's totals. A :class:`Cells` holds texts (``t``), bar widths in percent (``w``),
states (``s``) and reading times (``a``, epoch seconds, shown by the browser as an
age); the browser writes them into the elements whose ``data-k`` / ``data-w`` /
``data-s`` / ``data-a`` attribute names the key.

What is wrong with a unit comes from the problem board (:mod:`c12exporter.problems`)
alone: its words, its severity, its advice. This module only formats: states of
bars and channels are the severity of the board's problem about them. Labels and
formats of the meter come from the measurements' display hints
(:class:`c12exporter.measurements.Display`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .. import balance, catalogue
from ..forecast import TripForecast
from ..measurements import BY_NAME, OF_SCOPE, PHASES, Measurement, Pane, Scope
from ..problems import Problem, Severity, down_detail
from ..reading import ChannelReading, Identity, Reading
from ..store import Store, UnitState

LINES: tuple[str, ...] = (*PHASES, "N")


@dataclass
class Cells:
    """Texts, bar widths (percent, 0-100), states and reading times by element key."""

    t: dict[str, str] = field(default_factory=dict)
    w: dict[str, float] = field(default_factory=dict)
    s: dict[str, str] = field(default_factory=dict)
    a: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, object]:
        """One dict (``"t:L1"``: text, ``"w:L1"``: width, ...): what the stream diffs."""
        out: dict[str, object] = {}
        for kind, values in (("t", self.t), ("w", self.w), ("s", self.s), ("a", self.a)):
            for key, value in values.items():
                out[f"{kind}:{key}"] = value
        return out


# --- severity --------------------------------------------------------------------------------

STATE = {Severity.ALARM: "alarm", Severity.DOWN: "down", Severity.WARNING: "warn"}
"""A severity's state name: the CSS class, the icon and the word come from it."""
WORD = {"alarm": "Alarm", "down": "Down", "warn": "Warning", "ok": "OK"}
RANK = {"alarm": 3, "down": 2, "warn": 1, "ok": 0}


def worst(problems: Iterable[Problem]) -> str:
    """The state of the worst problem, ``ok`` without any."""
    return max((STATE[p.severity] for p in problems), key=RANK.__getitem__, default="ok")


def panel_order(p: Problem) -> tuple[int, bool, float, str, str]:
    """How the crew reads problems: worst first; within a severity the ones nobody has
    acknowledged yet, newest first (what just happened is on top; what the crew knows
    about sinks)."""
    return (-p.severity, p.acked_by is not None, -p.since, p.unit, p.key)


def problem_id(p: Problem) -> str:
    return f"{p.unit}/{p.key}"


def about(problems: Sequence[Problem], *keys: str) -> str:
    """The state of the worst problem with one of ``keys`` (``input.N``), else ``ok``."""
    return worst(p for p in problems if p.key in keys)


# --- formatting ---------------------------------------------------------------------------


def amperes(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} A"


def clock(epoch: float) -> str:
    """Local wall-clock time of the exporter, ``21:04:05``."""
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def countdown(seconds: float) -> str:
    """``0:37``, ``12:05``: a trip timer."""
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def pct(value: float, full: float) -> float:
    return round(max(0.0, min(100.0, 100.0 * value / full)), 1) if full > 0 else 0.0


def _number(value: object) -> float | None:
    return None if value is None or isinstance(value, str) else float(value)  # type: ignore[arg-type]


# --- the meter's layout, from the declarations ---------------------------------------------


@dataclass(frozen=True)
class LineRow:
    """A row of the meter's line table: a phase measurement and its neutral counterpart."""

    phase: Measurement
    neutral: Measurement | None


def _layout() -> tuple[tuple[LineRow, ...], tuple[Measurement, ...]]:
    neutral = {
        m.metric_name: m
        for m in OF_SCOPE[Scope.UNIT]
        if m.metric is not None and m.metric.labels.get("phase") == "N"
    }
    lines = tuple(
        LineRow(m, neutral.get(m.metric_name) if m.metric else None)
        for m in OF_SCOPE[Scope.PHASE]
        if m.pane is Pane.METER
    )
    paired = {n.name for n in neutral.values()}
    unit = tuple(m for m in OF_SCOPE[Scope.UNIT] if m.pane is Pane.METER and m.name not in paired)
    return lines, unit


LINE_ROWS, UNIT_ROWS = _layout()
DERIVED_ROWS = tuple(
    d
    for d in catalogue.DERIVED
    if d.scope is Scope.UNIT and d.of is not None and d.display and d.display.pane is Pane.METER
)
"""The meter pane's values the exporter derives from a reading, from their declarations."""
STATUS_MEASUREMENTS = tuple(m for m in OF_SCOPE[Scope.UNIT] if m.pane is Pane.STATUS)
"""E-stop, switch disconnector, neutral: the safety chain, in words."""
CHANNEL_CURRENT = BY_NAME["channel_current"]
CHANNEL_BREAKER = BY_NAME["channel_breaker"]
CHANNEL_LOAD = BY_NAME["channel_load"]
CHANNEL_MORE = tuple(
    m
    for m in OF_SCOPE[Scope.CHANNEL]
    if m.pane is Pane.CHANNELS and m not in (CHANNEL_CURRENT, CHANNEL_BREAKER, CHANNEL_LOAD)
)
"""Pane D's other per-channel measurements, each a labelled line in its channel's block
(current, breaker and load LED are drawn as the bar, the word and the LED)."""


# --- derived values ------------------------------------------------------------------------


def balance_advice(reading: Reading) -> str:
    """The one move of a load that evens the phases most, in words."""
    if balance.reading_unbalance(reading) is None:
        return "none (under 1 A)"
    move = balance.best_move(reading)
    return "none: no single move reduces the unbalance" if move is None else move.describe()


def trips(forecast: TripForecast | None, reading: Reading | None) -> Mapping[int, float]:
    """Channel -> seconds until its breaker trips (the exporter's trip forecast)."""
    return {} if forecast is None or reading is None else forecast.of(reading)


def line_currents(reading: Reading) -> dict[str, float | None]:
    out: dict[str, float | None] = {p.phase: p.current_a for p in reading.phases}
    out["N"] = _number(reading.values["neutral_current"])
    return out


def status(problems: Sequence[Problem]) -> tuple[str, str]:
    """The unit's status in words and its state, from the board's problems about it."""
    if not problems:
        return "OK", "ok"
    return "; ".join(p.text for p in problems), worst(problems)


# --- cells -----------------------------------------------------------------------------------


def row_cells(
    unit: UnitState,
    reading: Reading | None,
    problems: Sequence[Problem],
    known: Reading | None = None,
    identity: Identity | None = None,
) -> Cells:
    """A unit's row of the fleet (and its card on a phone).

    :param reading: the fresh reading, ``None`` while the unit cannot be read: then no
        numbers are shown, only ``known``'s identity (the last reading taken since the
        exporter started) or ``identity`` (what the board kept across restarts).
    """
    cells = Cells()
    t, w, s = cells.t, cells.w, cells.s
    text, state = status(problems)
    t["status"] = text
    s["status"] = state
    t["sev"] = WORD[state]
    last = reading or known
    t["model"] = last.model.name if last else identity.model if identity else ""
    t["stored"] = last.stored_name if last else ""
    if reading is None:
        for key in (*LINES, "power"):
            t[key] = ""
        for key in LINES:
            w[key] = 0.0
            s[key] = "none"
        if known is not None:
            cells.a["age"] = known.taken_at
        else:
            t["age"] = "never read"
        return cells
    cells.a["age"] = reading.taken_at
    rating = reading.model.input_rating_a
    for line, current in line_currents(reading).items():
        t[line] = amperes(current)
        w[line] = pct(current or 0.0, rating)
        s[line] = about(problems, f"input.{line}")
    power = _number(reading.values["active_power"])
    t["power"] = "" if power is None else BY_NAME["active_power"].show(power)
    return cells


def detail_cells(
    unit: UnitState,
    reading: Reading | None,
    problems: Sequence[Problem],
    trip_s: Mapping[int, float] | None = None,
    known: Reading | None = None,
    identity: Identity | None = None,
) -> Cells:
    """The unit's own view; keys start with ``d.``, ``m.`` (meter) and ``c.N.`` (channel).

    ``trip_s``: the trip forecast (:func:`trips`): the soonest is shown as a large timer.
    """
    cells = Cells()
    t, w, s = cells.t, cells.w, cells.s
    state = worst(problems)
    t["d.status"] = WORD[state]
    s["d.status"] = state
    t["d.address"] = unit.config.address
    last = reading or known
    if last is not None:
        t["d.stored"] = last.stored_name or "none"
        t["d.model"] = last.model.name
        t["d.layout"] = last.model.layout.description
        aux = last.model.aux_socket
        t["d.aux"] = (
            f"{aux.name} ({aux.standard}, {aux.rating_a:g} A) on channel {last.model.aux_channel}"
        )
        t["d.serial"] = last.identity.serial
        t["d.firmware"] = last.identity.firmware
        cells.a["d.age"] = last.taken_at
    elif identity is not None:  # down since before the exporter started: what the board kept
        t["d.model"] = identity.model
        t["d.serial"] = identity.serial
        t["d.firmware"] = identity.firmware
    if reading is None:
        s["d.up"] = "down"
        t["d.reason"] = down_detail(unit)
        return cells
    s["d.up"] = "up"
    for m in STATUS_MEASUREMENTS:
        t[f"d.{m.name}"] = m.show(reading.values[m.name])
    t["d.advice"] = balance_advice(reading)
    rating = reading.model.input_rating_a
    for line, current in line_currents(reading).items():
        t[f"d.{line}"] = amperes(current)
        w[f"d.{line}"] = pct(current or 0.0, rating)
        s[f"d.{line}"] = about(problems, f"input.{line}")
    for row in LINE_ROWS:
        for p in reading.phases:
            t[f"m.{row.phase.name}.{p.phase}"] = row.phase.show(p.values[row.phase.name])
        if row.neutral is not None:
            t[f"m.{row.phase.name}.N"] = row.neutral.show(reading.values[row.neutral.name])
    for m in UNIT_ROWS:
        t[f"m.{m.name}"] = m.show(reading.values[m.name])
    for d in DERIVED_ROWS:
        assert d.of is not None
        t[f"m.{d.name}"] = d.show(d.of(reading))
    forecast = trip_s or {}
    for c in reading.channels:
        _channel(cells, c, reading, forecast.get(c.number), problems)
    soonest = min(forecast.items(), key=lambda item: item[1], default=None)
    if soonest is None:
        t["d.trip"] = ""
        t["d.trip.what"] = ""
        s["d.trip"] = "none"
    else:
        number, seconds = soonest
        channel = next(c for c in reading.channels if c.number == number)
        t["d.trip"] = countdown(seconds)
        t["d.trip.what"] = f"Channel {number}" + (f" ({channel.name})" if channel.name else "")
        s["d.trip"] = about(problems, f"trip.{number}") if problems else "alarm"
    return cells


def _channel(
    cells: Cells,
    c: ChannelReading,
    reading: Reading,
    trip_s: float | None,
    problems: Sequence[Problem],
) -> None:
    t, w, s = cells.t, cells.w, cells.s
    k = f"c.{c.number}."
    mine = [p for p in problems if p.channel == c.number]
    t[k + "name"] = c.name or f"Channel {c.number}"
    t[k + "current"] = CHANNEL_CURRENT.show(c.current_a)
    w[k + "current"] = pct(c.current_a, reading.load_rating_a(c))
    s[k + "current"] = about(mine, f"overload.{c.number}", f"trip.{c.number}")
    s[k] = worst(mine)
    t[k + "problem"] = "; ".join(p.text for p in mine)
    t[k + "load"] = CHANNEL_LOAD.show(c.load_state)
    s[k + "load"] = c.load_state
    t[k + "breaker"] = CHANNEL_BREAKER.show(c.values["channel_breaker"])
    s[k + "breaker"] = about(mine, f"breaker.{c.number}")
    for m in CHANNEL_MORE:
        t[k + m.name] = m.show(c.values[m.name])
    band = c.supervision
    rating = reading.load_rating_a(c)
    # the band drawn on the bar: marks at its minimum and maximum (0 when not set)
    w[k + "lo"] = pct(band.min_a or 0.0, rating)
    w[k + "hi"] = 0.0 if band.max_a is None else pct(band.max_a, rating)
    if band.enabled:
        low = "-" if band.min_a is None else f"{band.min_a:g}"
        high = "-" if band.max_a is None else f"{band.max_a:g}"
        t[k + "band"] = f"{low} … {high} A"
    else:
        t[k + "band"] = "no band"
    s[k + "band"] = about(mine, f"band.{c.number}")
    t[k + "trip"] = "" if trip_s is None else f"trips in {countdown(trip_s)}"


def totals_cells(store: Store, problems: Sequence[Problem], now: float) -> Cells:
    """The fleet in one line: units by state, and the power over the units that are up."""
    cells = Cells()
    power = 0.0
    up = unmetered = 0
    for unit in store:
        reading = store.fresh_reading(unit, now)
        if reading is None:
            continue
        up += 1
        active = _number(reading.values["active_power"])
        if active is None:
            unmetered += 1  # its meter is stopped: counted, not added as a zero
            continue
        power += active
    counts = Counter(p.severity for p in problems)
    problem_units = len({p.unit for p in problems})
    cells.t["f.count"] = (
        f"{len(store)} units: {up} read, {len(store) - problem_units} without a problem"
    )
    cells.t["f.power"] = BY_NAME["active_power"].show(power) + (
        f" ({unmetered} with the meter stopped, not counted)" if unmetered else ""
    )
    for severity, state in STATE.items():
        cells.t[f"f.{state}"] = str(counts[severity])
    return cells
