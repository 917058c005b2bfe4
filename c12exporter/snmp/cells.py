"""What each readable column of C12-PDU-MIB holds, computed from a reading.

Keys are the MIB's object names (the compiled MIB supplies OIDs and types). A function
returns the value on the wire's scale (``round(current_a * 1000)`` for milliamperes,
see ``docs/mib.md``), an enumeration label of the column's SYNTAX (``"pressed"``),
text, or ``None`` when the cell has no instance (the unit reports it not available).
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import balance, supply
from ..addresses import split_host_port
from ..forecast import TripForecast
from ..history.recorder import History
from ..measurements import OF_SCOPE, PHASES, Measurement, Quantity, Scope
from ..reading import ChannelReading, PhaseReading, Reading
from ..store import Store, UnitState

Value = int | str | bytes | None

SECONDS_TO_TICKS = 100
TICKS_MODULO = 2**32
NEVER_UPDATED = bytes(8)
"""c12UnitLastUpdate before the first good poll: '0000000000000000'H."""
NOT_SET = -1
"""A supervision limit that is not set."""
UNSIGNED32_MAX = 2**32 - 1


@dataclass(frozen=True)
class UnitFacts:
    """What the unit table shows for one configured unit.

    :param reading: the fresh reading, ``None`` while the unit is unreachable.
    :param last_good: the last successful reading (identity and time), however old.
    """

    index: int
    name: str
    address: str
    reading: Reading | None
    last_good: Reading | None
    supply: str = "grid"
    """What feeds the unit, from its config (``grid`` or ``generator``)."""

    @classmethod
    def of(
        cls, index: int, state: UnitState, store: Store, now: float, last_good: Reading | None
    ) -> UnitFacts:
        reading = store.fresh_reading(state, now)
        config = state.config
        return cls(index, config.name, config.address, reading, reading or last_good, config.supply)


def milli(value: float) -> int:
    return round(value * 1000)


def deci(value: float) -> int:
    return round(value * 10)


def truth(flag: bool) -> str:
    return "true" if flag else "false"


@functools.cache  # a few dozen labels, converted for every cell of a state column
def camel(label: str) -> str:
    """``slight_overload`` -> ``slightOverload`` (register map label -> MIB label)."""
    head, *rest = label.split("_")
    return head + "".join(part.title() for part in rest)


def phase_label(phase: str) -> str:
    """``L1`` -> ``l1`` (C12PhaseName)."""
    return phase.lower()


def line_index(phase: str) -> int:
    """c12LineIndex: L1 is 1 (the position in the register map's phase order)."""
    return PHASES.index(phase) + 1


def date_and_time(unix: float) -> bytes:
    """SNMPv2-TC DateAndTime, 11 octets, UTC with direction '+' and offset 0."""
    moment = datetime.datetime.fromtimestamp(unix, tz=datetime.UTC)
    return (
        moment.year.to_bytes(2, "big")
        + bytes(
            (
                moment.month,
                moment.day,
                moment.hour,
                moment.minute,
                moment.second,
                moment.microsecond // 100_000,
            )
        )
        + b"+\x00\x00"
    )


def ticks(seconds: float) -> int:
    return int(seconds * SECONDS_TO_TICKS) % TICKS_MODULO


def address_text(address: str) -> str:
    """``host:port``, IPv6 in brackets, as c12UnitAddress shows it."""
    try:
        host, port = split_host_port(address)
    except ValueError:
        return address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def limit_ma(limit_a: float | None) -> int:
    return NOT_SET if limit_a is None else milli(limit_a)


def _identity(facts: UnitFacts, field: str) -> str | None:
    good = facts.last_good
    return None if good is None else str(getattr(good.identity, field))


def _state(facts: UnitFacts, value: Callable[[Reading], Value]) -> Value:
    return None if facts.reading is None else value(facts.reading)


def _cell(m: Measurement, value: Quantity) -> Value:
    """A declared measurement's cell: a number in the column's units, a state as the MIB's
    enumeration label, ``None`` (no instance) while the unit reports it not available."""
    if value is None:
        return None
    if isinstance(value, str):
        return camel(value)
    assert m.column is not None
    scaled = round(value / m.column.step)
    return scaled % m.column.wrap if m.column.wrap else scaled


def _declared(scope: Scope, table_prefix: str = "") -> dict[str, Measurement]:
    return {
        m.column.name: m
        for m in OF_SCOPE[scope]
        if m.column is not None and m.column.name.startswith(table_prefix)
    }


_UNIT_DECLARED = _declared(Scope.UNIT, "c12Unit")
_INPUT_DECLARED = _declared(Scope.UNIT, "c12Input")
_LINE_DECLARED = _declared(Scope.PHASE)
_CHANNEL_DECLARED = _declared(Scope.CHANNEL)


def _unit_state(m: Measurement) -> Callable[[UnitFacts], Value]:
    return lambda u: _state(u, lambda r: _cell(m, r.values[m.name]))


def _input(m: Measurement) -> Callable[[Reading], Value]:
    return lambda r: _cell(m, r.values[m.name])


def _line(m: Measurement) -> Callable[[PhaseReading], Value]:
    return lambda p: _cell(m, p.values[m.name])


def _channel(m: Measurement) -> Callable[[ChannelReading, Reading], Value]:
    return lambda c, r: _cell(m, c.values[m.name])


UNIT_COLUMNS: Mapping[str, Callable[[UnitFacts], Value]] = {
    "c12UnitName": lambda u: u.name,
    "c12UnitAddress": lambda u: address_text(u.address),
    "c12UnitReachability": lambda u: "reachable" if u.reading is not None else "unreachable",
    "c12UnitLastUpdate": lambda u: (
        NEVER_UPDATED if u.last_good is None else date_and_time(u.last_good.taken_at)
    ),
    "c12UnitModel": lambda u: _identity(u, "model"),
    "c12UnitSerial": lambda u: _identity(u, "serial"),
    "c12UnitFirmware": lambda u: _identity(u, "firmware"),
    **{name: _unit_state(m) for name, m in _UNIT_DECLARED.items()},
    "c12UnitSupervisionWarning": lambda u: _state(u, lambda r: truth(r.supervision_warning)),
    "c12UnitStoredName": lambda u: _state(u, lambda r: r.stored_name),
    "c12UnitSupply": lambda u: u.supply,
    "c12UnitFrequencyBand": lambda u: round(supply.frequency_band(u.supply) * 1000),
}
"""Every configured unit has a row; state columns only while it is reachable."""

INPUT_COLUMNS: Mapping[str, Callable[[Reading], Value]] = {
    **{name: _input(m) for name, m in _INPUT_DECLARED.items()},
    "c12InputEnergyResetTime": lambda r: date_and_time(r.taken_at - r.uptime_s),
    "c12InputPhaseUnbalance": lambda r: _tenths_of_percent(balance.reading_unbalance(r)),
    "c12InputRating": lambda r: milli(r.model.input_rating_a),
    "c12InputVoltageUnbalance": lambda r: _hundredths_of_percent(
        supply.reading_voltage_unbalance(r)
    ),
}
"""One row per reachable unit."""

LINE_COLUMNS: Mapping[str, Callable[[PhaseReading], Value]] = {
    **{name: _line(m) for name, m in _LINE_DECLARED.items()},
    "c12LineVoltageAvailable": lambda p: truth(p.voltage_v is not None),
}
"""One row per reachable unit and line."""


def _aux_text(channel: ChannelReading, reading: Reading, attribute: str) -> str:
    """Zero-length on channels that feed no aux socket."""
    return (
        str(getattr(reading.model.aux_socket, attribute))
        if channel.number == reading.model.aux_channel
        else ""
    )


def _aux_rating(channel: ChannelReading, reading: Reading) -> int:
    """0 on channels that feed no aux socket."""
    return (
        milli(reading.model.aux_socket.rating_a)
        if channel.number == reading.model.aux_channel
        else 0
    )


CHANNEL_COLUMNS: Mapping[str, Callable[[ChannelReading, Reading], Value]] = {
    "c12ChannelName": lambda c, r: c.name,
    "c12ChannelConnector": lambda c, r: c.connector,
    "c12ChannelConnectorType": lambda c, r: c.connector_type,
    "c12ChannelPins": lambda c, r: "/".join(c.pins),
    "c12ChannelPhase": lambda c, r: phase_label(c.phase),
    "c12ChannelRating": lambda c, r: milli(c.rating_a),
    **{name: _channel(m) for name, m in _CHANNEL_DECLARED.items()},
    "c12ChannelSupervisionMin": lambda c, r: limit_ma(c.supervision.min_a),
    "c12ChannelSupervisionMax": lambda c, r: limit_ma(c.supervision.max_a),
    "c12ChannelSupervisionState": lambda c, r: c.supervision_state.value,
    "c12ChannelAuxSocket": lambda c, r: truth(c.number == r.model.aux_channel),
    "c12ChannelAuxSocketName": lambda c, r: _aux_text(c, r, "name"),
    "c12ChannelAuxSocketStd": lambda c, r: _aux_text(c, r, "standard"),
    "c12ChannelAuxSocketRating": _aux_rating,
}
"""One row per reachable unit and output channel."""


def _tenths_of_percent(ratio: float | None) -> Value:
    """A ratio in tenths of a percent; no instance for ``None``."""
    return None if ratio is None else round(ratio * 1000)


def _hundredths_of_percent(ratio: float | None) -> Value:
    """A ratio in hundredths of a percent; no instance for ``None``."""
    return None if ratio is None else round(ratio * 10000)


def rcbo_columns(
    history: History | None,
) -> Mapping[str, Callable[[ChannelReading, Reading], Value]]:
    """c12ChannelRcboLastCycle: when the channel's RCBO last closed after being open, and
    c12ChannelRcboLastTest: when it last passed a test of a test session; no instance before
    one is recorded (or where no history is kept)."""

    def column(
        times: Callable[[History], Mapping[tuple[str, int], float]],
    ) -> Callable[[ChannelReading, Reading], Value]:
        def value(channel: ChannelReading, reading: Reading) -> Value:
            at = None if history is None else times(history).get((reading.unit, channel.number))
            return None if at is None else date_and_time(at)

        return value

    return {
        "c12ChannelRcboLastCycle": column(lambda h: h.last_cycle),
        "c12ChannelRcboLastTest": column(lambda h: h.last_test),
    }


def trip_forecast_columns(
    forecast: TripForecast | None,
) -> Mapping[str, Callable[[ChannelReading, Reading], Value]]:
    """c12ChannelTripForecast: whole seconds until the breaker trips (rounded up, so 0
    only when due now); no instance while the channel is not overloaded (or nothing
    keeps a forecast). c12ChannelBreakerHeat: the breaker's heat in thousandths, for
    every channel while a forecast is kept."""

    def seconds(channel: ChannelReading, reading: Reading) -> Value:
        value = None if forecast is None else forecast.of(reading).get(channel.number)
        return None if value is None else min(math.ceil(value), UNSIGNED32_MAX)

    def heat(channel: ChannelReading, reading: Reading) -> Value:
        value = None if forecast is None else forecast.heat(reading).get(channel.number)
        return None if value is None else min(1000, max(0, round(value * 1000)))

    return {"c12ChannelTripForecast": seconds, "c12ChannelBreakerHeat": heat}
