"""What the console shows, as text keyed by the element that shows it.

One function formats each value, for the page the server renders and for the live
updates alike: :func:`row_cells` for a unit's row of the fleet table (pane A),
:func:`detail_cells` for the unit's own panes (B to D), :func:`totals_cells` for the
fleet's totals. A :class:`Cells` holds texts (``t``), bar widths in percent (``w``) and
states (``s``) that the page styles; the browser writes them into the elements whose
``data-k`` / ``data-w`` / ``data-s`` attribute names the key.

The meter is laid out from :data:`c12exporter.measurements.MEASUREMENTS`: every phase
measurement is a row of the line table (with its neutral counterpart, the unit
measurement sharing its metric, in column N), every other numeric unit measurement a
row of the unit table. Each value carries where it comes from: its Prometheus metric and
its C12-PDU-MIB column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .. import balance
from ..forecast import TripForecast
from ..measurements import OF_SCOPE, PHASES, Measurement, Quantity, Scope
from ..model import AUX_CHANNEL, INPUT_RATING_A
from ..reading import ChannelReading, Reading, SupervisionState
from ..store import Store, UnitState


@dataclass
class Cells:
    """Texts, bar widths (percent, 0-100) and states by element key."""

    t: dict[str, str] = field(default_factory=dict)
    w: dict[str, float] = field(default_factory=dict)
    s: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {"t": self.t, "w": self.w, "s": self.s}


# --- formatting ---------------------------------------------------------------------------


def _optional(value: Quantity) -> float | None:
    """A measurement the unit may report not available, as a number or ``None``."""
    return None if value is None else float(value)


def amperes(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} A"


def kilo(value: float, unit: str) -> str:
    return f"{value / 1000:.2f} k{unit}"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


def quantity(m: Measurement, value: Quantity) -> str:
    """A measurement's value as the page shows it (n/a when the unit reports none)."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value.replace("_", " ")
    unit = m.unit
    if unit == "A":
        return f"{value:.2f} A"
    if unit == "V":
        return f"{value:.1f} V"
    if unit == "Hz":
        return f"{value:.2f} Hz"
    if unit in ("W", "var", "VA"):
        return kilo(value, unit)
    if unit == "J":
        return f"{value / 3.6e6:.2f} kWh"
    if unit == "var·s":
        return f"{value / 3.6e6:.2f} kvarh"
    if unit == "°C":
        return f"{value:.1f} °C"
    if unit == "s":
        return duration(value)
    if unit == "ratio" and "thd" in m.name:
        return f"{value * 100:.1f} %"
    if unit == "ratio":
        return f"{value:.3f}"
    return f"{value:g} {unit}".strip()


def trip_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 1:
        return "trips now"
    return f"trips in ~{duration(round(seconds))}"


def pct(value: float, full: float) -> float:
    return round(max(0.0, min(100.0, 100.0 * value / full)), 1) if full > 0 else 0.0


# --- sources: where a value comes from --------------------------------------------------


def source(m: Measurement, key: str = "") -> str:
    """``c12_current_amperes{phase="L1"} · SNMP c12LineCurrent``."""
    parts = []
    if m.metric is not None:
        labels = dict(m.metric.labels)
        if key:
            labels[m.scope.value] = key
        inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
        suffix = "_total" if m.metric.counter else ""
        parts.append(f"{m.metric_name}{suffix}" + (f"{{{inner}}}" if inner else ""))
    if m.column is not None:
        parts.append(f"SNMP {m.column.name}")
    return " · ".join(parts)


# --- the meter's layout, from the declarations ---------------------------------------------


@dataclass(frozen=True)
class LineRow:
    """A row of the line table: a phase measurement and its neutral counterpart."""

    phase: Measurement
    neutral: Measurement | None


def _layout() -> tuple[tuple[LineRow, ...], tuple[Measurement, ...]]:
    neutral = {
        m.metric_name: m
        for m in OF_SCOPE[Scope.UNIT]
        if m.metric is not None and m.metric.labels.get("phase") == "N"
    }
    lines = tuple(
        LineRow(m, neutral.get(m.metric_name) if m.metric else None) for m in OF_SCOPE[Scope.PHASE]
    )
    paired = {n.name for n in neutral.values()}
    unit = tuple(m for m in OF_SCOPE[Scope.UNIT] if not m.states and m.name not in paired)
    return lines, unit


LINE_ROWS, UNIT_ROWS = _layout()
STATE_MEASUREMENTS = tuple(m for m in OF_SCOPE[Scope.UNIT] if m.states)
"""E-stop, switch disconnector, neutral: the status pane."""


# --- derived values ------------------------------------------------------------------------


def phase_balance(reading: Reading) -> float | None:
    """The NEMA line current unbalance (see :mod:`c12exporter.balance`)."""
    return balance.reading_unbalance(reading)


def balance_advice(reading: Reading) -> str:
    """The one move of a load that evens the phases most, in words."""
    if balance.reading_unbalance(reading) is None:
        return "none (under 1 A)"
    move = balance.best_move(reading)
    return "none: no single move reduces the unbalance" if move is None else move.describe()


def bar_rating_a(channel: ChannelReading, reading: Reading) -> float:
    """Channel 12 feeds the aux socket: its bar is against the socket's own rating."""
    if channel.number == AUX_CHANNEL:
        return min(channel.rating_a, reading.model.aux_socket.rating_a)
    return channel.rating_a


def trips(forecast: TripForecast | None, reading: Reading | None) -> Mapping[int, float]:
    """Channel -> seconds until its breaker trips (the exporter's trip forecast)."""
    return {} if forecast is None or reading is None else forecast.of(reading)


def status(reading: Reading | None, unit: UnitState) -> tuple[str, str]:
    """The overall status (pane C): text and state (``ok``, ``warn``, ``alarm``, ``down``)."""
    if reading is None:
        return f"Down: {down_reason(unit)}", "down"
    problems = []
    if reading.estop_pressed:
        problems.append("emergency stop pressed")
    if not reading.switch_on:
        problems.append("switch disconnector off")
    if reading.neutral_lost:
        problems.append("neutral lost")
    tripped = [str(c.number) for c in reading.channels if not c.breaker_closed]
    if tripped:
        problems.append(f"breaker open on channel {', '.join(tripped)}")
    if problems:
        return "Alarm: " + "; ".join(problems), "alarm"
    outside = [
        f"{c.number} {c.supervision_state.value}"
        for c in reading.channels
        if c.supervision_state in (SupervisionState.BELOW, SupervisionState.ABOVE)
    ]
    overload = [str(c.number) for c in reading.channels if c.current_a > c.rating_a]
    if overload:
        return f"Warning: overload on channel {', '.join(overload)}", "warn"
    if outside:
        return f"Warning: channel {', '.join(outside)} its supervision band", "warn"
    return "OK", "ok"


def down_reason(unit: UnitState) -> str:
    error = unit.last_error
    if error is None:
        return "not read yet" if unit.reading is None else "reading too old"
    return f"{error.reason}: {error.message}"


# --- cells -----------------------------------------------------------------------------------


def row_cells(unit: UnitState, reading: Reading | None) -> Cells:
    """A unit's row of the fleet table; a unit that cannot be read shows no numbers."""
    cells = Cells()
    t, w, s = cells.t, cells.w, cells.s
    if reading is None:
        t["state"] = f"down: {down_reason(unit)}"
        s["state"] = "down"
        for key in ("model", "stored", *PHASES, "N", "estop", "switch", "neutral", "warn",
                    "power", "balance"):  # fmt: skip
            t[key] = ""
        for key in (*PHASES, "N"):
            w[key] = 0.0
        s["estop"] = s["switch"] = s["neutral"] = s["warn"] = "none"
        return cells
    t["state"] = "up"
    s["state"] = "up"
    t["model"] = reading.model.name
    t["stored"] = reading.stored_name
    for p in reading.phases:
        t[p.phase] = amperes(p.current_a)
        w[p.phase] = pct(p.current_a or 0.0, INPUT_RATING_A)
    neutral = _optional(reading.values["neutral_current"])
    t["N"] = amperes(neutral)
    w["N"] = pct(neutral or 0.0, INPUT_RATING_A)
    t["estop"] = "pressed" if reading.estop_pressed else "released"
    s["estop"] = "alarm" if reading.estop_pressed else "ok"
    t["switch"] = "on" if reading.switch_on else "off"
    s["switch"] = "ok" if reading.switch_on else "alarm"
    t["neutral"] = "lost" if reading.neutral_lost else "ok"
    s["neutral"] = "alarm" if reading.neutral_lost else "ok"
    t["warn"] = "⚠" if reading.supervision_warning else ""
    s["warn"] = "on" if reading.supervision_warning else "off"
    power = _optional(reading.values["active_power"])
    t["power"] = "" if power is None else kilo(power, "W")
    unbalance = phase_balance(reading)
    t["balance"] = "" if unbalance is None else f"{unbalance * 100:.0f} %"
    return cells


def detail_cells(
    unit: UnitState, reading: Reading | None, trip_s: Mapping[int, float] | None = None
) -> Cells:
    """The unit's panes B to D; keys start with ``d.``. ``trip_s``: the trip forecast
    (:func:`trips`), shown beside each overloaded channel."""
    cells = Cells()
    t, w, s = cells.t, cells.w, cells.s
    text, state = status(reading, unit)
    t["d.status"] = text
    s["d.status"] = state
    t["d.address"] = unit.config.address
    if reading is None:
        s["d.up"] = "down"
        return cells
    s["d.up"] = "up"
    identity = reading.identity
    t["d.stored"] = reading.stored_name or "(no name stored in the unit)"
    t["d.model"] = reading.model.name
    t["d.layout"] = reading.model.layout.description
    aux = reading.model.aux_socket
    t["d.aux"] = f"{aux.name} ({aux.standard}, {aux.rating_a:g} A) on channel {AUX_CHANNEL}"
    t["d.serial"] = identity.serial
    t["d.firmware"] = identity.firmware
    for m in STATE_MEASUREMENTS:
        t[f"d.{m.name}"] = quantity(m, reading.values[m.name])
    unbalance = phase_balance(reading)
    t["d.balance"] = "n/a (under 1 A)" if unbalance is None else f"{unbalance * 100:.1f} %"
    t["d.advice"] = balance_advice(reading)
    for row in LINE_ROWS:
        for p in reading.phases:
            t[f"m.{row.phase.name}.{p.phase}"] = quantity(row.phase, p.values[row.phase.name])
        if row.neutral is not None:
            t[f"m.{row.phase.name}.N"] = quantity(row.neutral, reading.values[row.neutral.name])
    for p in reading.phases:
        w[f"m.current.{p.phase}"] = pct(p.current_a or 0.0, INPUT_RATING_A)
    for m in UNIT_ROWS:
        t[f"m.{m.name}"] = quantity(m, reading.values[m.name])
    for c in reading.channels:
        _channel(cells, c, reading, (trip_s or {}).get(c.number))
    return cells


def _channel(cells: Cells, c: ChannelReading, reading: Reading, trip_s: float | None) -> None:
    t, w, s = cells.t, cells.w, cells.s
    k = f"c.{c.number}."
    t[k + "name"] = c.name or f"Channel {c.number}"
    t[k + "current"] = f"{c.current_a:.2f} A"
    rating = bar_rating_a(c, reading)
    w[k + "current"] = pct(c.current_a, rating)
    s[k + "current"] = (
        "alarm" if c.current_a > rating else "warn" if c.current_a > 0.8 * rating else "ok"
    )
    t[k + "load"] = c.load_state.replace("_", " ")
    s[k + "load"] = c.load_state
    t[k + "breaker"] = "closed" if c.breaker_closed else "open"
    s[k + "breaker"] = "ok" if c.breaker_closed else "alarm"
    band = c.supervision
    if band.enabled:
        low = "-" if band.min_a is None else f"{band.min_a:g}"
        high = "-" if band.max_a is None else f"{band.max_a:g}"
        t[k + "band"] = f"{low} … {high} A"
    else:
        t[k + "band"] = "off"
    t[k + "sup"] = c.supervision_state.value
    s[k + "sup"] = c.supervision_state.value
    t[k + "trip"] = trip_text(trip_s)


def totals_cells(store: Store, now: float) -> Cells:
    """Fleet totals per phase and power, over the units that are up."""
    cells = Cells()
    sums = dict.fromkeys((*PHASES, "N"), 0.0)
    power = 0.0
    up = down = warnings = unmetered = 0
    for unit in store:
        reading = store.fresh_reading(unit, now)
        if reading is None:
            down += 1
            continue
        up += 1
        warnings += reading.supervision_warning
        currents = [p.current_a for p in reading.phases]
        neutral = _optional(reading.values["neutral_current"])
        active = _optional(reading.values["active_power"])
        if None in currents or neutral is None or active is None:
            unmetered += 1  # its meter is stopped: counted, not added as zeros
            continue
        for p, current in zip(reading.phases, currents, strict=True):
            sums[p.phase] += current or 0.0
        sums["N"] += neutral
        power += active
    for key, value in sums.items():
        cells.t[f"f.{key}"] = amperes(value)
    cells.t["f.power"] = kilo(power, "W")
    cells.t["f.count"] = f"{up} up, {down} down, {warnings} with a warning" + (
        f", {unmetered} with the meter stopped (not in the totals)" if unmetered else ""
    )
    return cells
