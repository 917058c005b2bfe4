"""One poll of one unit as immutable values in SI units, and how raw values become one."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from .model import AUX_CHANNEL, UnitModel
from .registermap import BREAKER_STATES, LOAD_STATES, PHASES, Value

WH_TO_J = 3600.0


@dataclass(frozen=True)
class Identity:
    """What the unit says about itself: vendor, model, firmware and serial number."""

    vendor: str
    model: str
    firmware: str
    serial: str


class SupervisionState(enum.Enum):
    """Where a channel's current sits against its supervision band."""

    DISABLED = "disabled"  # neither minimum nor maximum set
    OK = "ok"
    BELOW = "below"
    ABOVE = "above"


@dataclass(frozen=True)
class SupervisionBand:
    """Minimum and maximum current for a channel; ``None`` means not set."""

    min_a: float | None = None
    max_a: float | None = None

    @property
    def enabled(self) -> bool:
        return self.min_a is not None or self.max_a is not None

    def state(self, current_a: float) -> SupervisionState:
        if not self.enabled:
            return SupervisionState.DISABLED
        if self.min_a is not None and current_a < self.min_a:
            return SupervisionState.BELOW
        if self.max_a is not None and current_a > self.max_a:
            return SupervisionState.ABOVE
        return SupervisionState.OK


@dataclass(frozen=True)
class ChannelSettings:
    """A change to one channel's settings, as written to the unit.

    :param name: the new name; ``None`` leaves the name as it is.
    :param band: the new supervision band; ``None`` leaves it as it is,
        ``SupervisionBand()`` clears both limits.
    """

    channel: int
    name: str | None = None
    band: SupervisionBand | None = None


@dataclass(frozen=True)
class PhaseReading:
    """Main meter values for one phase. ``None`` = the meter reports it not available
    (the phase's meter fuse is blown: voltage and everything derived from it)."""

    phase: str
    voltage_v: float | None
    current_a: float
    max_current_a: float
    current_thd_ratio: float
    voltage_thd_ratio: float | None
    active_power_w: float | None
    reactive_power_var: float | None
    apparent_power_va: float | None
    power_factor: float | None


@dataclass(frozen=True)
class ChannelReading:
    """One output channel: measured values plus what the model says about it."""

    number: int
    name: str
    current_a: float
    breaker_closed: bool
    load_state: str  # one of registermap.LOAD_STATES values
    supervision: SupervisionBand
    phase: str
    rating_a: float
    connector: str  # connector label, e.g. "A"
    connector_type: str
    pins: tuple[str, str]  # (live, neutral)

    @property
    def supervision_state(self) -> SupervisionState:
        return self.supervision.state(self.current_a)


@dataclass(frozen=True)
class Reading:
    """Everything read from one unit in one poll."""

    unit: str
    identity: Identity
    model: UnitModel
    taken_at: float  # unix time, seconds
    uptime_s: float
    estop_pressed: bool
    switch_on: bool
    neutral_lost: bool
    temperature_c: float | None
    frequency_hz: float | None
    neutral_current_a: float
    max_neutral_current_a: float
    active_power_w: float
    reactive_power_var: float
    apparent_power_va: float
    power_factor: float | None
    demand_active_w: float
    demand_apparent_va: float
    max_demand_active_w: float
    max_demand_apparent_va: float
    active_energy_j: float
    reactive_energy_varh: float
    phases: tuple[PhaseReading, ...]
    channels: tuple[ChannelReading, ...]

    @property
    def supervision_warning(self) -> bool:
        """The web interface's warning triangle: a channel outside its band."""
        return any(
            c.supervision_state in (SupervisionState.BELOW, SupervisionState.ABOVE)
            for c in self.channels
        )

    @property
    def aux_channel(self) -> ChannelReading:
        return self.channels[AUX_CHANNEL - 1]


Values = Mapping[str, Value | list[Value]]


def build_reading(
    unit: str,
    identity: Identity,
    model: UnitModel,
    taken_at: float,
    values: Values,
    supervision_overrides: Mapping[int, SupervisionBand] | None = None,
) -> Reading:
    """Combine one poll's decoded values and the unit's model into a :class:`Reading`.

    :param supervision_overrides: channel -> band from config; replaces the band
        stored in the unit for that channel.
    """
    m = s = values

    def at(values: Values, name: str, index: int) -> Value:
        seq = values[name]
        assert isinstance(seq, list)
        return seq[index]

    def num(value: object) -> float:
        assert isinstance(value, int | float)
        return float(value)

    def opt(value: object) -> float | None:
        return None if value is None else num(value)

    phases = tuple(
        PhaseReading(
            phase=phase,
            voltage_v=opt(at(m, "voltage", i)),
            current_a=num(at(m, "current", i)),
            max_current_a=num(at(m, "max_current", i)),
            current_thd_ratio=num(at(m, "current_thd", i)),
            voltage_thd_ratio=opt(at(m, "voltage_thd", i)),
            active_power_w=opt(at(m, "active_power", i)),
            reactive_power_var=opt(at(m, "reactive_power", i)),
            apparent_power_va=opt(at(m, "apparent_power", i)),
            power_factor=opt(at(m, "power_factor", i)),
        )
        for i, phase in enumerate(PHASES)
    )
    overrides = supervision_overrides or {}
    channels = []
    for i in range(len(model.channel_phases)):
        number = i + 1
        connector = model.layout.connector_of(number)
        band = overrides.get(
            number,
            SupervisionBand(opt(at(s, "supervision_min", i)), opt(at(s, "supervision_max", i))),
        )
        channels.append(
            ChannelReading(
                number=number,
                name=str(at(s, "channel_name", i)),
                current_a=num(at(m, "channel_current", i)),
                breaker_closed=BREAKER_STATES[int(num(at(m, "channel_breaker", i)))] == "closed",
                load_state=LOAD_STATES[int(num(at(m, "channel_load", i)))],
                supervision=band,
                phase=model.channel_phases[i],
                rating_a=model.channel_rating_a,
                connector=connector.label,
                connector_type=connector.type,
                pins=connector.channel_pins[number],
            )
        )
    return Reading(
        unit=unit,
        identity=identity,
        model=model,
        taken_at=taken_at,
        uptime_s=num(m["uptime"]),
        estop_pressed=m["estop"] == 1,
        switch_on=m["switch"] == 1,
        neutral_lost=m["neutral"] == 1,
        temperature_c=opt(m["temperature"]),
        frequency_hz=opt(m["frequency"]),
        neutral_current_a=num(m["neutral_current"]),
        max_neutral_current_a=num(m["max_neutral_current"]),
        active_power_w=num(m["active_power_total"]),
        reactive_power_var=num(m["reactive_power_total"]),
        apparent_power_va=num(m["apparent_power_total"]),
        power_factor=opt(m["power_factor_average"]),
        demand_active_w=num(m["demand_active"]),
        demand_apparent_va=num(m["demand_apparent"]),
        max_demand_active_w=num(m["max_demand_active"]),
        max_demand_apparent_va=num(m["max_demand_apparent"]),
        active_energy_j=num(m["active_energy"]) * WH_TO_J,
        reactive_energy_varh=num(m["reactive_energy"]),
        phases=phases,
        channels=tuple(channels),
    )
