"""Operator actions and fault injection on a simulated unit, from JSON requests.

One table, :data:`ACTIONS`, names every action, its parameters and what it does; the
control interface serves it (``GET /``) and ``docs/simulator.md`` lists it. A request
is a JSON object such as ``{"action": "rcbo_test", "channel": 3}``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..measurements import CHANNEL_COUNT, PHASES
from .physics import HARMONIC_ORDERS, Load, PhysicsError
from .server import NetworkMode, SimulatedUnit

AMBIENT_RANGE_C = (-20.0, 70.0)
"""Ambient the simulator accepts (the unit is rated 0-45 °C; beyond is misuse)."""
FREQUENCY_RANGE_HZ = (45.0, 65.0)
"""Supply frequency the simulator accepts (a generator far off 50 Hz)."""
SUPPLY_VOLTAGE_RANGE_V = (0.0, 450.0)
"""No-load supply voltage the simulator accepts (a lost neutral floats toward 400 V)."""
SUPPLY_THD_RANGE = (0.0, 0.5)
LEAKAGE_RANGE_MA = (0.0, 1000.0)
POWER_FACTOR_RANGE = (0.05, 1.0)
HARMONIC_RANGE = (0.0, 2.0)
"""Harmonic current as a fraction of the fundamental."""


class ActionError(Exception):
    """An action request that cannot be carried out.

    :param status: HTTP status: 400 for a malformed request, 409 when the unit's state
        refuses it (e.g. switching on with the e-stop pressed).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Params:
    """The parameters of one request, read with checks that name the offending key."""

    def __init__(self, payload: Mapping[str, Any], channel_count: int = CHANNEL_COUNT) -> None:
        """:param channel_count: the unit's channels (its model's)."""
        self._payload = payload
        self._channel_count = channel_count

    def _get(self, key: str) -> Any:
        if key not in self._payload:
            raise ActionError(400, f"missing parameter {key!r}")
        return self._payload[key]

    def number(self, key: str, low: float, high: float, default: float | None = None) -> float:
        value = self._payload.get(key, default) if default is not None else self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ActionError(400, f"{key!r} must be a number, got {value!r}")
        if not low <= value <= high:
            raise ActionError(400, f"{key!r} = {value} is outside {low:g}..{high:g}")
        return float(value)

    def optional_number(self, key: str, low: float, high: float) -> float | None:
        if self._payload.get(key) is None:
            return None
        return self.number(key, low, high)

    def channel(self) -> int:
        value = self._get("channel")
        count = self._channel_count
        if isinstance(value, bool) or not isinstance(value, int):
            raise ActionError(400, f"'channel' must be an integer 1..{count}")
        if not 1 <= value <= count:
            raise ActionError(400, f"channel {value} does not exist; channels are 1..{count}")
        return value

    def phase(self) -> str:
        value = self._get("phase")
        if value not in PHASES:
            raise ActionError(400, f"'phase' must be one of {', '.join(PHASES)}, got {value!r}")
        return str(value)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ActionError(400, f"{key!r} must be a string, got {value!r}")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._payload.get(key, default)
        if not isinstance(value, bool):
            raise ActionError(400, f"{key!r} must be true or false, got {value!r}")
        return value

    def harmonics(self) -> dict[int, float]:
        """``harmonics`` ({"3": 0.3, "5": 0.1}) and/or the ``third_harmonic`` shorthand."""
        raw = self._payload.get("harmonics") or {}
        if not isinstance(raw, Mapping):
            raise ActionError(400, "'harmonics' must be an object: order -> fraction")
        result: dict[int, float] = {}
        for order, fraction in raw.items():
            try:
                number = int(order)
            except ValueError:
                raise ActionError(400, f"harmonic order {order!r} is not a number") from None
            if number not in HARMONIC_ORDERS:
                raise ActionError(400, f"harmonic order {number} is not one of {HARMONIC_ORDERS}")
            result[number] = Params({"h": fraction}).number("h", *HARMONIC_RANGE)
        third = self.optional_number("third_harmonic", *HARMONIC_RANGE)
        if third is not None:
            result[3] = third
        return result


Handler = Callable[[SimulatedUnit, Params], Awaitable[None]]


@dataclass(frozen=True)
class Action:
    """One action: its parameters (for the docs) and what it does."""

    name: str
    params: str
    description: str
    run: Handler


async def _estop(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().press_estop()


async def _estop_release(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().release_estop()


async def _switch_on(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().switch(True)


async def _switch_off(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().switch(False)


async def _neutral_lose(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().lose_neutral()


async def _neutral_restore(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().restore_neutral()


async def _fuse_blow(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().set_fuse(p.phase(), ok=False)


async def _fuse_replace(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().set_fuse(p.phase(), ok=True)


async def _rcbo_test(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().press_test_button(p.channel())


async def _rcbo_reset(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().reset_rcbo(p.channel())


async def _rcbo_off(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().open_rcbo(p.channel())


async def _earth_leakage(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().set_leakage(p.channel(), p.number("leakage_ma", *LEAKAGE_RANGE_MA))


async def _set_load(unit: SimulatedUnit, p: Params) -> None:
    channel = p.channel()
    load = Load(
        current_a=p.number("current_a", 0.0, math.inf),
        cos_phi=p.number("power_factor", *POWER_FACTOR_RANGE, default=1.0),
        leading=p.flag("leading"),
        harmonics=p.harmonics(),
        leakage_ma=p.number("leakage_ma", *LEAKAGE_RANGE_MA, default=0.0),
    )
    unit.physics_now().set_load(channel, load)


async def _set_name(unit: SimulatedUnit, p: Params) -> None:
    unit.physics.set_name(p.channel(), p.text("name"))


async def _set_supervision(unit: SimulatedUnit, p: Params) -> None:
    channel = p.channel()
    unit.physics.set_supervision(
        channel,
        p.optional_number("min_a", 0.0, math.inf),
        p.optional_number("max_a", 0.0, math.inf),
    )


async def _power_loss(unit: SimulatedUnit, p: Params) -> None:
    await unit.power_loss()


async def _power_restore(unit: SimulatedUnit, p: Params) -> None:
    await unit.power_restore()


async def _ambient(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().set_ambient(p.number("celsius", *AMBIENT_RANGE_C), soaked=p.flag("soaked"))


async def _supply(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().set_supply(
        p.phase(),
        p.optional_number("voltage_v", *SUPPLY_VOLTAGE_RANGE_V),
        p.optional_number("voltage_thd", *SUPPLY_THD_RANGE),
    )


async def _frequency(unit: SimulatedUnit, p: Params) -> None:
    unit.physics_now().set_frequency(p.number("frequency_hz", *FREQUENCY_RANGE_HZ))


async def _network(unit: SimulatedUnit, p: Params) -> None:
    mode = p.text("mode")
    try:
        chosen = NetworkMode(mode)
    except ValueError:
        known = ", ".join(str(m) for m in NetworkMode)
        raise ActionError(400, f"unknown network mode {mode!r}; known: {known}") from None
    await unit.set_network(chosen)


ACTIONS: Mapping[str, Action] = {
    a.name: a
    for a in (
        Action("estop", "", "press the emergency stop: the switch disconnector trips", _estop),
        Action(
            "estop_release", "", "twist the e-stop to release it (switch stays off)", _estop_release
        ),
        Action(
            "switch_on",
            "",
            "switch disconnector ON (refused while the e-stop is pressed or the neutral lost)",
            _switch_on,
        ),
        Action(
            "switch_off",
            "",
            "switch disconnector OFF: all outputs dead, meter still reads",
            _switch_off,
        ),
        Action(
            "neutral_lose", "", "lose the neutral: the switch disconnector trips", _neutral_lose
        ),
        Action("neutral_restore", "", "the neutral is back (switch stays off)", _neutral_restore),
        Action(
            "fuse_blow", "phase", "blow a meter fuse: that phase's voltage reads n/a", _fuse_blow
        ),
        Action("fuse_replace", "phase", "replace a blown meter fuse", _fuse_replace),
        Action(
            "rcbo_test",
            "channel",
            "press the RCBO's T button: it trips (refused while the outputs are dead)",
            _rcbo_test,
        ),
        Action("rcbo_reset", "channel", "switch a tripped RCBO back on", _rcbo_reset),
        Action("rcbo_off", "channel", "switch an RCBO off by hand", _rcbo_off),
        Action(
            "earth_leakage",
            "channel, leakage_ma",
            "set a channel's earth leakage; 30 mA or more trips its RCBO",
            _earth_leakage,
        ),
        Action(
            "set_load",
            "channel, current_a, [power_factor=1], [leading=false], [third_harmonic], "
            "[harmonics={order: fraction}], [leakage_ma=0]",
            "put a constant load on a channel (replaces the scenario's load)",
            _set_load,
        ),
        Action("set_name", "channel, name", "set a channel's name (up to 16 bytes)", _set_name),
        Action(
            "set_supervision",
            "channel, [min_a], [max_a]",
            "set a channel's supervision band; a missing or null limit is not set",
            _set_supervision,
        ),
        Action("power_loss", "", "the unit loses power and vanishes from the network", _power_loss),
        Action(
            "power_restore",
            "",
            "power is back: uptime, energy, maxima and demand restart from 0",
            _power_restore,
        ),
        Action(
            "ambient",
            "celsius, [soaked=false]",
            "set the ambient temperature; soaked: the unit has already settled to it",
            _ambient,
        ),
        Action(
            "supply",
            "phase, [voltage_v], [voltage_thd]",
            "set a phase's no-load supply voltage and the supply's own voltage THD (0.1 = 10 %)",
            _supply,
        ),
        Action(
            "frequency", "frequency_hz", "set the supply frequency (e.g. a generator)", _frequency
        ),
        Action(
            "network",
            "mode: " + " | ".join(str(m) for m in NetworkMode),
            "make the unit misbehave on the network, or go back to normal",
            _network,
        ),
    )
}


async def apply_action(unit: SimulatedUnit, payload: Mapping[str, Any]) -> None:
    """Carry out one action request on ``unit``.

    :raises ActionError: unknown action, bad parameter (400) or refused by the unit (409).
    """
    name = payload.get("action")
    if not isinstance(name, str) or name not in ACTIONS:
        raise ActionError(400, f"unknown action {name!r}; known: {', '.join(ACTIONS)}")
    try:
        await ACTIONS[name].run(unit, Params(payload, unit.model.channel_count))
    except PhysicsError as error:
        raise ActionError(409, f"{unit.name}: {error}") from None
    except ValueError as error:
        raise ActionError(400, f"{unit.name}: {error}") from None
