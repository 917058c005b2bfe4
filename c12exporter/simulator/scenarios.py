"""Named, seeded load scenarios: what is plugged into each simulated unit, as data.

A scenario is a cycle of unit *roles* (unit 1 gets the first role, unit 2 the second,
and so on, wrapping round); a role says which kind of load sits on each of the 12
channels. Each unit draws its own small variations (level, timing) from the fleet
seed, so a fleet is realistic yet identical from run to run.

Load figures are typical of the equipment named, not measurements of real products.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from ..measurements import CHANNEL_COUNT
from ..model import CHANNEL_RATING_A
from .physics import ChannelSetup, Load

DEFAULT_SCENARIO = "mixed"
FULL_TURN_RAD = 2 * math.pi


def derive_seed(seed: int, *parts: object) -> int:
    """A stable 64-bit seed for one part of the fleet (same on every run and platform)."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass(frozen=True)
class VaryingLoad:
    """A load whose activity drifts slowly around its level, optionally switched in cycles.

    Activity at time t is ``1 + swing * sin(2 pi t / period + phase)`` while the load is
    on; with ``cycle_s`` set it is on for the first ``duty`` fraction of every cycle.
    """

    load: Load
    swing: float = 0.0
    period_s: float = 600.0
    phase_rad: float = 0.0
    duty: float = 1.0
    cycle_s: float = 0.0
    cycle_offset_s: float = 0.0

    def factor_at(self, t_s: float) -> float:
        if self.cycle_s and (t_s + self.cycle_offset_s) % self.cycle_s >= self.duty * self.cycle_s:
            return 0.0
        if not self.swing:
            return 1.0
        return 1.0 + self.swing * math.sin(FULL_TURN_RAD * t_s / self.period_s + self.phase_rad)

    def with_load(self, load: Load) -> VaryingLoad:
        return dataclasses.replace(self, load=load)


@dataclass(frozen=True)
class LoadKind:
    """A kind of equipment on a channel.

    :param label: channel name prefix ("" leaves the channel unnamed, as from the factory).
    :param jitter: each unit scales the level by a random factor within +/- this.
    :param supervision: (min, max) band stored in the unit, ``None`` = not set.
    """

    label: str
    load: Load
    swing: float = 0.0
    period_s: float = 600.0
    duty: float = 1.0
    cycle_s: float = 0.0
    jitter: float = 0.1
    supervision: tuple[float | None, float | None] = (None, None)


# Switch-mode LED drivers: strong 3rd harmonic, which adds up in the neutral.
LED_WALL = LoadKind(
    "LED wall",
    Load(9.0, 0.95, harmonics={3: 0.80, 5: 0.55, 7: 0.30, 9: 0.15}, leakage_ma=3.0),
    swing=0.15,
    period_s=240.0,
    supervision=(1.0, 14.0),
)
MOVING_LIGHTS = LoadKind(
    "Movers",
    Load(7.0, 0.98, harmonics={3: 0.12, 5: 0.08}, leakage_ma=2.0),
    swing=0.25,
    period_s=45.0,
    supervision=(None, 12.0),
)
AUDIO = LoadKind(
    "Amp rack",
    Load(5.0, 0.93, harmonics={3: 0.25, 5: 0.12}, leakage_ma=1.5),
    swing=0.45,
    period_s=12.0,
)
VIDEO = LoadKind(
    "Video",
    Load(3.0, 0.97, harmonics={3: 0.70, 5: 0.45, 7: 0.25, 9: 0.10}, leakage_ma=2.5),
    swing=0.05,
    period_s=900.0,
)
TUNGSTEN = LoadKind("Dimmer feed", Load(12.0, 1.0), swing=0.3, period_s=300.0)
HOIST = LoadKind("Hoist", Load(4.5, 0.75), duty=0.1, cycle_s=600.0)
CATERING = LoadKind("Catering", Load(13.0, 1.0), duty=0.5, cycle_s=1200.0)
BENCH_FIXTURE = LoadKind(
    "", Load(0.8, 0.9, harmonics={3: 0.45, 5: 0.2}, leakage_ma=0.5), swing=0.1, period_s=60.0
)
BENCH_CHARGER = LoadKind("", Load(0.3, 0.95, harmonics={3: 0.8, 5: 0.6}), jitter=0.3)
BENCH_MOVER = LoadKind(
    "", Load(2.2, 0.97, harmonics={3: 0.15}, leakage_ma=0.8), swing=0.4, period_s=20.0
)


def _overload(label: str, multiple: float, cos_phi: float = 1.0) -> LoadKind:
    """A steady load at ``multiple`` x the 16 A rating (no drift, so trip times are exact)."""
    return LoadKind(
        label, Load(multiple * CHANNEL_RATING_A, cos_phi), jitter=0.0, supervision=(None, 16.0)
    )


# Trip times from the model's breaker curve (c12exporter/breaker.py).
OVERLOAD_SERIOUS = _overload("Heater bank", 2.2)  # ~58 s
OVERLOAD_HEAVY = _overload("Cable drum", 1.6, 0.98)  # ~4.6 min
OVERLOAD_SLIGHT = _overload("Heaters", 1.3)  # 30 min
OVERLOAD_TOLERATED = _overload("Big LED wall", 1.05, 0.95)  # slight overload LED, never trips

EMPTY = None


@dataclass(frozen=True)
class UnitRole:
    """What one unit feeds: a load kind (or nothing) per channel 1..12; a unit of more
    channels repeats them (channel 13 feeds what channel 1 does), one of fewer takes the
    first."""

    name: str
    channels: tuple[LoadKind | None, ...]

    def __post_init__(self) -> None:
        if len(self.channels) != CHANNEL_COUNT:
            raise ValueError(f"role {self.name!r} must list {CHANNEL_COUNT} channels")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    roles: tuple[UnitRole, ...]


def _role(name: str, *channels: LoadKind | None) -> UnitRole:
    return UnitRole(name, tuple(channels) + (EMPTY,) * (CHANNEL_COUNT - len(channels)))


LED_WALL_UNIT = _role("led-wall", *([LED_WALL] * CHANNEL_COUNT))
LIGHTING_UNIT = _role("lighting", *([MOVING_LIGHTS] * 9), HOIST, HOIST, HOIST)
AUDIO_UNIT = _role("audio", *([AUDIO] * 8), VIDEO, VIDEO)
STAGE_MIX_UNIT = _role(
    "stage-mix",
    LED_WALL,
    MOVING_LIGHTS,
    AUDIO,
    LED_WALL,
    MOVING_LIGHTS,
    AUDIO,
    LED_WALL,
    MOVING_LIGHTS,
    AUDIO,
    VIDEO,
    VIDEO,
    TUNGSTEN,
)
CATERING_UNIT = _role("catering", CATERING, CATERING, CATERING, TUNGSTEN, TUNGSTEN, EMPTY, VIDEO)
BENCH_UNIT = _role("bench", BENCH_FIXTURE, BENCH_FIXTURE, EMPTY, BENCH_CHARGER)
BENCH_MOVER_UNIT = _role(
    "bench-mover", EMPTY, BENCH_MOVER, BENCH_MOVER, EMPTY, EMPTY, BENCH_FIXTURE
)
SHELF_UNIT = _role("shelf")
OVERLOAD_UNIT_A = _role(
    "overloaded-a",
    OVERLOAD_SERIOUS,
    OVERLOAD_HEAVY,
    OVERLOAD_SLIGHT,
    OVERLOAD_TOLERATED,
    MOVING_LIGHTS,
    AUDIO,
    TUNGSTEN,
)
OVERLOAD_UNIT_B = _role(
    "overloaded-b",
    TUNGSTEN,
    EMPTY,
    OVERLOAD_HEAVY,
    AUDIO,
    OVERLOAD_TOLERATED,
    OVERLOAD_SLIGHT,
    EMPTY,
    OVERLOAD_SERIOUS,
)

SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "idle-bench",
            "warehouse test bench: fixtures and chargers on a few channels, many empty",
            (BENCH_UNIT, BENCH_MOVER_UNIT, SHELF_UNIT),
        ),
        Scenario(
            "concert",
            "show power: LED walls (neutral above the phase currents), movers, hoists, audio",
            (LED_WALL_UNIT, LIGHTING_UNIT, AUDIO_UNIT, STAGE_MIX_UNIT),
        ),
        Scenario(
            "overload",
            "channels slightly and seriously overloaded: RCBOs trip over time",
            (OVERLOAD_UNIT_A, OVERLOAD_UNIT_B, STAGE_MIX_UNIT),
        ),
        Scenario(
            "mixed",
            "a realistic warehouse: show racks under load, a test bench, catering, idle units",
            (
                LED_WALL_UNIT,
                LIGHTING_UNIT,
                BENCH_UNIT,
                AUDIO_UNIT,
                SHELF_UNIT,
                STAGE_MIX_UNIT,
                CATERING_UNIT,
                BENCH_MOVER_UNIT,
            ),
        ),
    )
}


def scenario(name: str) -> Scenario:
    """Look a scenario up by name; the error lists the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(
            f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}"
        ) from None


def role_of(chosen: Scenario, index: int) -> UnitRole:
    """The role unit ``index`` (0-based) of a fleet plays: the roles in turn, wrapping round."""
    return chosen.roles[index % len(chosen.roles)]


def unit_channels(
    chosen: Scenario, index: int, seed: int, channel_count: int = CHANNEL_COUNT
) -> tuple[ChannelSetup, ...]:
    """How the ``channel_count`` channels of unit ``index`` (0-based) of a fleet start, in
    ``chosen``."""
    role = role_of(chosen, index)
    rng = random.Random(derive_seed(seed, "loads", index))
    counts: dict[str, int] = {}
    setups: list[ChannelSetup] = []
    for number in range(channel_count):
        kind = role.channels[number % len(role.channels)]
        if kind is None:
            setups.append(ChannelSetup())
            continue
        level = 1.0 + rng.uniform(-kind.jitter, kind.jitter)
        base = kind.load
        load = Load(
            base.current_a * level, base.cos_phi, base.leading, base.harmonics, base.leakage_ma
        )
        profile = VaryingLoad(
            load,
            swing=kind.swing,
            period_s=kind.period_s,
            phase_rad=rng.uniform(0.0, FULL_TURN_RAD),
            duty=kind.duty,
            cycle_s=kind.cycle_s,
            cycle_offset_s=rng.uniform(0.0, kind.cycle_s),
        )
        name = ""
        if kind.label:
            counts[kind.label] = counts.get(kind.label, 0) + 1
            name = f"{kind.label} {counts[kind.label]}"
        setups.append(ChannelSetup(profile, name, *kind.supervision))
    return tuple(setups)
