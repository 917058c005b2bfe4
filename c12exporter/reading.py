"""One poll of one unit as immutable values in SI units, and how decoded values become one."""

from __future__ import annotations

import dataclasses
import enum
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from .measurements import OF_SCOPE, PHASES, Quantity, Scope
from .model import ModelError, UnitModel

# Defined with the settings (a leaf); also imported from here, as before.
from .settings import SupervisionBand as SupervisionBand
from .settings import SupervisionState as SupervisionState


@dataclass(frozen=True)
class Identity:
    """What the unit says about itself: vendor, model, firmware and serial number."""

    vendor: str
    model: str
    firmware: str
    serial: str


class Keep(enum.Enum):
    """A setting a write leaves as the unit holds it."""

    KEEP = "keep"


KEEP = Keep.KEEP
Limit = float | None | Keep
"""A supervision limit to write: amperes, ``None`` to clear it, :data:`KEEP` to leave it."""


@dataclass(frozen=True)
class ChannelSettings:
    """A change to one channel's settings, as written to the unit: only what is given
    is written, so a concurrent change of another setting on the unit is not undone.

    :param name: the new name; ``None`` leaves the name as it is.
    :param min_a: the new supervision minimum, ``None`` to clear it, :data:`KEEP`.
    :param max_a: the new supervision maximum, likewise.
    """

    channel: int
    name: str | None = None
    min_a: Limit = KEEP
    max_a: Limit = KEEP

    @classmethod
    def band(cls, channel: int, band: SupervisionBand) -> ChannelSettings:
        """Both limits of ``band`` (``SupervisionBand()`` clears supervision)."""
        return cls(channel, min_a=band.min_a, max_a=band.max_a)

    @property
    def limits(self) -> dict[str, float | None]:
        """The limits to write, by settings field (``supervision_min``, ``supervision_max``)."""
        given = {"supervision_min": self.min_a, "supervision_max": self.max_a}
        return {k: v for k, v in given.items() if not isinstance(v, Keep)}

    def describe(self) -> str:
        parts = [] if self.name is None else [f"name {self.name!r}"]
        parts += [f"{k.replace('_', ' ')} {'not set' if v is None else f'{v:g} A'}"
                  for k, v in self.limits.items()]  # fmt: skip
        return f"channel {self.channel} " + ", ".join(parts)


@dataclass(frozen=True)
class UnitSettings:
    """A change to the unit's own settings: the name stored in the unit (the one its web
    page shows and lets the user change), written through the same path as
    :class:`ChannelSettings`.

    :param name: the new name (``""`` clears it).
    """

    name: str

    def describe(self) -> str:
        return f"unit name {self.name!r}"


Settings = ChannelSettings | UnitSettings
"""One change on the settings write path (:meth:`c12exporter.poller.Poller.write_settings`)."""


@dataclass(frozen=True, slots=True)  # three per reading: no __dict__ each
class PhaseReading:
    """Main meter values for one phase, by measurement name (see
    :mod:`c12exporter.measurements`). ``None`` = the meter reports it not available (the
    phase's meter fuse is blown: voltage and everything derived from it; the L1 fuse
    blown: the meter is stopped and reads nothing)."""

    phase: str
    values: Mapping[str, Quantity]

    @property
    def voltage_v(self) -> float | None:
        return _optional(self.values["voltage"])

    @property
    def current_a(self) -> float | None:
        """``None`` while the meter is stopped (its L1 supply fuse blown)."""
        return _optional(self.values["current"])


@dataclass(frozen=True)
class ChannelReading:
    """One output channel: its measurements by name, its settings, and what the model
    says about it."""

    # A dozen per reading, a reading per unit and poll: slots instead of a __dict__ each
    # halve a reading's memory. Those starting with _ keep what the properties work out.
    __slots__ = (
        "_current_a",
        "_supervision_state",
        "connector",
        "connector_type",
        "name",
        "number",
        "phase",
        "pins",
        "rating_a",
        "supervision",
        "values",
    )

    number: int
    name: str
    supervision: SupervisionBand
    phase: str
    rating_a: float
    connector: str  # connector label, e.g. "A"
    connector_type: str
    pins: tuple[str, str]  # (live, neutral)
    values: Mapping[str, Quantity]
    _current_a: ClassVar[float]  # slots, not fields: set on first use
    _supervision_state: ClassVar[SupervisionState]

    @property
    def __dict__(self) -> dict[str, Any]:  # type: ignore[override]
        """The fields by name, as ``vars()`` gave them before the slots (a changed copy
        can still be built with ``ChannelReading(**{**vars(channel), ...})``)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def current_a(self) -> float:
        # worked out once and kept: every listener of every poll (exposition, SNMP,
        # problems, forecast, history) asks for it, often more than once
        try:
            return self._current_a
        except AttributeError:
            object.__setattr__(self, "_current_a", _number(self.values["channel_current"]))
            return self._current_a

    def with_values(self, **values: Quantity) -> ChannelReading:
        """A copy with some measurements changed."""
        return dataclasses.replace(self, values={**self.values, **values})

    @property
    def breaker_closed(self) -> bool:
        return self.values["channel_breaker"] == "closed"

    @property
    def load_state(self) -> str:
        """One of :data:`c12exporter.measurements.LOAD_STATES`."""
        return str(self.values["channel_load"])

    @property
    def supervision_state(self) -> SupervisionState:
        try:
            return self._supervision_state
        except AttributeError:
            object.__setattr__(self, "_supervision_state", self.supervision.state(self.current_a))
            return self._supervision_state


@dataclass(frozen=True)
class Reading:
    """Everything read from one unit in one poll: the unit-wide measurements by name (SI
    units, state names), the phases and the channels."""

    unit: str
    identity: Identity
    model: UnitModel
    taken_at: float  # unix time, seconds
    values: Mapping[str, Quantity]
    phases: tuple[PhaseReading, ...]
    channels: tuple[ChannelReading, ...]
    stored_name: str = ""
    """The name stored in the unit itself (settings ``unit_name``); ``""`` when unset."""

    def with_values(self, **values: Quantity) -> Reading:
        """A copy with some unit-wide measurements changed."""
        return dataclasses.replace(self, values={**self.values, **values})

    @property
    def uptime_s(self) -> float:
        return _number(self.values["uptime"])

    @property
    def estop_pressed(self) -> bool:
        return self.values["emergency_stop"] == "pressed"

    @property
    def switch_on(self) -> bool:
        return self.values["switch_disconnector"] == "on"

    @property
    def neutral_lost(self) -> bool:
        return self.values["neutral"] == "lost"

    @property
    def temperature_c(self) -> float | None:
        return _optional(self.values["temperature"])

    @property
    def supervision_warning(self) -> bool:
        """The web interface's warning triangle: a channel outside its band."""
        return any(
            c.supervision_state in (SupervisionState.BELOW, SupervisionState.ABOVE)
            for c in self.channels
        )

    @property
    def aux_channel(self) -> ChannelReading:
        return self.channels[self.model.aux_channel - 1]

    def load_rating_a(self, channel: ChannelReading) -> float:
        """What a channel's load is judged by and what it can carry: its RCBO's rating,
        or on the model's aux channel the aux socket's own where that is lower (the
        socket and the channel's connector share the RCBO)."""
        if channel.number == self.model.aux_channel:
            return min(channel.rating_a, self.model.aux_socket.rating_a)
        return channel.rating_a


@functools.lru_cache(maxsize=1024)
def _band(min_a: float | None, max_a: float | None) -> SupervisionBand:
    """One shared band per pair of limits: the fleet's channels use a handful of them, and
    a band of its own per channel and poll was a twelfth of a reading's memory."""
    return SupervisionBand(min_a, max_a)


def _number(value: Quantity) -> float:
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _optional(value: Quantity) -> float | None:
    return None if value is None else _number(value)


Values = Mapping[str, Quantity | list[Quantity]]
"""Decoded values by measurement or settings field name, repeated ones as lists."""


_HOLDERS = {
    scope: type(f"{scope.name.title()}Values", (), {"__module__": __name__}) for scope in Scope
}
"""A class per scope whose instances' attributes are a reading's values of that scope:
CPython lets the attribute dicts of one class's instances share one table of keys when
they are set in the same order, so each of a reading's 16 dicts of values holds only its
values (a reading is 2.1 KB of dicts instead of 3.6: some 2 MiB at 1,000 units). The
dict is an ordinary ``dict``; the instance is not kept."""


def build_reading(
    unit: str,
    identity: Identity,
    model: UnitModel,
    taken_at: float,
    values: Values,
    supervision_overrides: Mapping[int, SupervisionBand] | None = None,
) -> Reading:
    """Combine one poll's decoded values and the unit's model into a :class:`Reading`.

    :param values: every declared measurement, the settings ``supervision_min``,
        ``supervision_max`` and ``channel_name``, per channel, and ``unit_name`` (a
        transport that has no stored unit name may leave it out).
    :param supervision_overrides: channel -> band from config; replaces the band
        stored in the unit for that channel.
    :raises ModelError: the values are not of the model's channel count.
    """

    def scoped(scope: Scope, index: int) -> dict[str, Quantity]:
        holder = _HOLDERS[scope]()
        for m in OF_SCOPE[scope]:
            value = values[m.name]
            setattr(holder, m.name, value[index] if isinstance(value, list) else value)
        return cast(dict[str, Quantity], holder.__dict__)

    def setting(name: str, index: int) -> Quantity:
        value = values[name]
        assert isinstance(value, list)
        return value[index]

    reported = values["channel_current"]
    if not isinstance(reported, list) or len(reported) != model.channel_count:
        raise ModelError(
            f"unit {unit}: reports {len(reported) if isinstance(reported, list) else 1} "
            f"channels, but a {model.name} has {model.channel_count}; correct the unit's "
            "model: in the config, or read it with its own model's register map"
        )
    overrides = supervision_overrides or {}
    channels = []
    for i in range(len(model.channel_phases)):
        number = i + 1
        connector = model.layout.connector_of(number)
        band = (
            overrides[number]
            if number in overrides
            else _band(
                _optional(setting("supervision_min", i)), _optional(setting("supervision_max", i))
            )
        )
        channels.append(
            ChannelReading(
                number=number,
                name=str(setting("channel_name", i)),
                supervision=band,
                phase=model.channel_phases[i],
                rating_a=model.channel_rating_a,
                connector=connector.label,
                connector_type=connector.type,
                pins=connector.channel_pins[number],
                values=scoped(Scope.CHANNEL, i),
            )
        )
    return Reading(
        unit=unit,
        identity=identity,
        model=model,
        taken_at=taken_at,
        values=scoped(Scope.UNIT, 0),
        phases=tuple(PhaseReading(phase, scoped(Scope.PHASE, i)) for i, phase in enumerate(PHASES)),
        channels=tuple(channels),
        stored_name=str(values.get("unit_name") or ""),
    )
