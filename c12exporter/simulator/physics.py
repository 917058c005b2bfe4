"""The physics of one simulated C12B: loads, breakers, the main meter and the safety chain.

Pure and deterministic: no I/O and no clock. The caller passes physics time in
(:meth:`UnitPhysics.advance`) and all randomness comes from a :class:`random.Random`
seeded by the caller, so one seed, one set of load profiles and one sequence of
actions always give the same readings.

The model steps on a fixed grid of :data:`STEP_S` seconds of physics time. Advancing
is lazy (the server advances a unit when it is read), and because the grid is fixed
the result does not depend on how often the unit is read.

Every constant that shapes the model is named here and stated in ``docs/simulator.md``.
"""

from __future__ import annotations

import cmath
import enum
import math
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..breaker import EN_60947_2_MAGNETIC_HYDRAULIC, BreakerCurve
from ..measurements import BY_NAME, MEASUREMENTS, PHASES, WH, Scope
from ..modbus.registermap import C12B_V1, Kind, Value
from ..model import UnitModel

STEP_S = 1.0
"""Physics time step. Readings change at most once per step."""

SECONDS_PER_HOUR = 3600.0

# --- Supply (EN 50160 as quoted by vendors: 230 V +/-10 %, 50 Hz, voltage THD <= 8 %) ------

NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0
SUPPLY_OFFSET_SPREAD_V = 3.0
"""Each phase of each unit's supply sits within +/- this of nominal (seeded)."""
VOLTAGE_NOISE_V = 0.3
"""Standard deviation of the step-to-step voltage noise."""
SOURCE_RESISTANCE_OHM = 0.05
"""Upstream cable and source resistance: volts dropped per ampere of phase current."""
VOLTAGE_THD_BASE_RANGE = (0.012, 0.03)
"""The supply's own voltage THD on each phase (seeded within this range)."""
VOLTAGE_THD_PER_HARMONIC_A = 0.0006
"""Voltage THD added per ampere of harmonic current drawn on the phase."""
VOLTAGE_THD_LIMIT = 0.08
"""The model never lets voltage THD exceed the EN 50160 limit."""
FREQUENCY_NOISE_HZ = 0.01
"""Standard deviation of the step-to-step frequency noise."""

PHASE_ANGLES_RAD: tuple[float, ...] = (0.0, -2 * math.pi / 3, 2 * math.pi / 3)
"""Angle of each phase voltage (L1, L2, L3; positive sequence)."""
HARMONIC_ORDERS: tuple[int, ...] = (3, 5, 7, 9)
"""Current harmonics the load model carries. 3 and 9 are triplen: they add up in the neutral."""

# --- Channel RCBO: 16 A, magnetic-hydraulic ---------------------------------------------------
# Its time-current curve and heat rule are the unit model's (``model.breaker``, see
# c12exporter/breaker.py); only what the curve does not cover is set here.

RESIDUAL_TRIP_MA = 30.0
"""Earth leakage at or above this trips the RCBO at once (the usual rating for stage RCBOs)."""

# --- Load LED (thresholds in docs/metrics.md) ---------------------------------------------

LOAD_PRESENT_A = 0.05
"""Below this a channel's LED is off and the channel counts as unloaded."""
SERIOUS_OVERLOAD_MULTIPLE = 1.45
"""Above this multiple of rating the LED flashes fast (serious overload); our threshold,
the manual gives none."""

# --- Meter -------------------------------------------------------------------------------

DEMAND_WINDOW_S = 900.0
"""Demand is the average power over the last complete window of this length (15 min)."""
DEMAND_SUBINTERVAL_S = 60.0
"""The window slides by this much: demand is updated at the end of every subinterval."""
METER_SUPPLY_PHASE = PHASES.index("L1")
"""The meter is powered from L1 (manual, "Main meter"): a blown L1 meter fuse stops it."""
METER_MEASUREMENTS = frozenset({
    "voltage", "current", "neutral_current", "max_current", "max_neutral_current",
    "current_thd", "voltage_thd", "frequency", "phase_active_power", "active_power",
    "phase_reactive_power", "reactive_power", "phase_apparent_power", "apparent_power",
    "phase_power_factor", "power_factor", "demand_active_power", "demand_apparent_power",
    "max_demand_active_power", "max_demand_apparent_power", "active_energy_import",
    "reactive_energy_import",
})  # fmt: skip
"""What the main meter measures; the rest (channels, safety chain, temperature, uptime)
the unit's electronics read on their own fuse."""
NO_LOAD_POWER_FACTOR = 1.0
"""Power factor reported for a phase (or the unit) that carries no current."""

# --- Temperature ---------------------------------------------------------------------------
# The unit's sensor reads the ambient (inlet) air, the temperature the manual's 0-45 °C
# operating range is about; docs/simulator.md says why.

DEFAULT_AMBIENT_C = 24.0
AMBIENT_SPREAD_C = 3.0
"""Each unit's ambient sits within +/- this of the default (seeded)."""
SENSOR_TIME_CONSTANT_S = 300.0
"""The ambient sensor (and the panel it sits on) follows a change of ambient this slowly."""

# --- Settings limits, from the register map ---------------------------------------------

_SUPERVISION_FIELD = C12B_V1.field("supervision_min")[1]
SUPERVISION_RANGE_A: tuple[float, float] = _SUPERVISION_FIELD.valid or (0.0, 0.0)
CHANNEL_NAME_MAX_BYTES = Kind.STRING.registers * 2
MAX_LOAD_A = (BY_NAME["channel_current"].register.valid or (0.0, 0.0))[1]

_ROTATION: tuple[tuple[complex, ...], ...] = tuple(
    tuple(cmath.exp(1j * order * angle) for angle in PHASE_ANGLES_RAD)
    for order in (1, *HARMONIC_ORDERS)
)
"""_ROTATION[k][p]: phasor of harmonic (1, 3, 5, 7, 9)[k] on phase p, relative to L1."""


# --- Loads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What is plugged into a channel, at its nominal level (activity 1).

    :param current_a: true rms current at 230 V.
    :param cos_phi: displacement power factor of the fundamental (cos phi), 0 < x <= 1.
    :param leading: the fundamental leads the voltage (capacitive) instead of lagging.
    :param harmonics: harmonic order -> current as a fraction of the fundamental.
    :param leakage_ma: earth leakage current while the load is on.
    """

    current_a: float = 0.0
    cos_phi: float = 1.0
    leading: bool = False
    harmonics: Mapping[int, float] = field(default_factory=dict)
    leakage_ma: float = 0.0
    fundamental_a: float = field(init=False, repr=False, compare=False)
    active_a: float = field(init=False, repr=False, compare=False)
    reactive_a: float = field(init=False, repr=False, compare=False)
    harmonic_a: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.current_a <= MAX_LOAD_A:
            raise ValueError(f"current {self.current_a} A is outside 0..{MAX_LOAD_A:g} A")
        if not 0.0 < self.cos_phi <= 1.0:
            raise ValueError(f"power factor {self.cos_phi} is outside 0 < cos phi <= 1")
        unknown = set(self.harmonics) - set(HARMONIC_ORDERS)
        if unknown:
            raise ValueError(
                f"harmonic orders {sorted(unknown)} are not modelled; use {HARMONIC_ORDERS}"
            )
        if any(fraction < 0.0 for fraction in self.harmonics.values()):
            raise ValueError("harmonic fractions must not be negative")
        if self.leakage_ma < 0.0:
            raise ValueError("earth leakage must not be negative")
        fundamental = self.current_a / math.sqrt(1.0 + self.thd**2)
        sin_phi = math.sqrt(1.0 - self.cos_phi**2)
        object.__setattr__(self, "fundamental_a", fundamental)
        object.__setattr__(self, "active_a", fundamental * self.cos_phi)
        object.__setattr__(
            self, "reactive_a", fundamental * (-sin_phi if self.leading else sin_phi)
        )
        object.__setattr__(
            self,
            "harmonic_a",
            tuple(fundamental * self.harmonics.get(order, 0.0) for order in HARMONIC_ORDERS),
        )

    @property
    def thd(self) -> float:
        """Current THD of this load: sqrt(sum of harmonic fractions squared)."""
        return math.sqrt(sum(f * f for f in self.harmonics.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "current_a": self.current_a,
            "power_factor": self.cos_phi,
            "leading": self.leading,
            "harmonics": {str(order): f for order, f in sorted(self.harmonics.items())},
            "leakage_ma": self.leakage_ma,
        }


NO_LOAD = Load()


class LoadProfile(Protocol):
    """A channel's load over time: a :class:`Load` scaled by an activity factor (0 = off)."""

    @property
    def load(self) -> Load:
        """The load at activity 1."""
        ...

    def factor_at(self, t_s: float) -> float:
        """Activity at physics time ``t_s``: 0 = off, 1 = as :attr:`load` says, may exceed 1."""
        ...

    def with_load(self, load: Load) -> LoadProfile:
        """The same variation over time, applied to another load."""
        ...


@dataclass(frozen=True)
class ConstantLoad:
    """A load that never changes (what ``set_load`` puts on a channel)."""

    load: Load = NO_LOAD

    def factor_at(self, t_s: float) -> float:
        return 1.0

    def with_load(self, load: Load) -> ConstantLoad:
        return ConstantLoad(load)


@dataclass(frozen=True)
class ChannelSetup:
    """How a channel starts: its load profile and the settings stored in the unit."""

    profile: LoadProfile = ConstantLoad()
    name: str = ""
    supervision_min_a: float | None = None
    supervision_max_a: float | None = None


# --- Breakers ------------------------------------------------------------------------------


class TripCause(enum.StrEnum):
    """Why an RCBO is open."""

    OVERCURRENT = "overcurrent"
    SHORT_CIRCUIT = "short_circuit"
    EARTH_LEAKAGE = "earth_leakage"
    TEST_BUTTON = "test_button"
    MANUAL = "manual"


@dataclass
class Rcbo:
    """One channel breaker, following its curve in continuous physics time.

    ``progress`` is its heat, from 0 to 1 towards an overcurrent trip (the dashpot rule of
    :class:`c12exporter.breaker.BreakerCurve`). ``multiple`` x rating flows from ``at_s``
    on (0 while it is open); :meth:`run_to` lets it flow up to a later time and trips the
    breaker at the exact moment the curve gives, which may lie between two physics steps.
    Opening it, for whatever reason, leaves the heat as it is: it relaxes while open.
    """

    curve: BreakerCurve = EN_60947_2_MAGNETIC_HYDRAULIC
    closed: bool = True
    progress: float = 0.0
    cause: TripCause | None = None
    multiple: float = 0.0
    at_s: float = 0.0
    tripped_at_s: float | None = None

    def run_to(self, t_s: float) -> bool:
        """Let the present current flow until ``t_s``; True if the breaker trips on the way."""
        dt_s = t_s - self.at_s
        if dt_s <= 0.0:
            return False
        start_s, self.at_s = self.at_s, t_s
        self.progress, trip_in_s = self.curve.after(self.progress, self.multiple, dt_s)
        if trip_in_s is None:
            return False
        self.trip(TripCause.OVERCURRENT, start_s + trip_in_s)
        return True

    def flow(self, multiple: float, leakage_ma: float, t_s: float) -> bool:
        """From ``t_s`` on, ``multiple`` x rating flows (0 while the channel is dead) with
        ``leakage_ma`` to earth; return True if the breaker is open (it may trip at once)."""
        self.run_to(t_s)
        if not self.closed:
            self.multiple = 0.0
        elif leakage_ma >= RESIDUAL_TRIP_MA:
            self.trip(TripCause.EARTH_LEAKAGE, t_s)
        elif multiple >= self.curve.instantaneous_multiple:
            self.trip(TripCause.SHORT_CIRCUIT, t_s)
        else:
            self.multiple = multiple
        return not self.closed

    def trip(self, cause: TripCause, at_s: float | None = None) -> None:
        self.closed = False
        self.cause = cause
        self.multiple = 0.0
        self.tripped_at_s = self.at_s if at_s is None else at_s

    def close(self) -> None:
        self.closed = True
        self.cause = None


def load_state(current_a: float, rating_a: float) -> str:
    """The load LED, one of ``measurements.LOAD_STATES`` (thresholds in docs/metrics.md)."""
    if current_a < LOAD_PRESENT_A:
        return "off"
    if current_a <= rating_a:
        return "normal"  # green
    if current_a <= SERIOUS_OVERLOAD_MULTIPLE * rating_a:
        return "slight_overload"  # slow red flash
    return "serious_overload"  # fast red flash


@dataclass
class _Channel:
    number: int
    phase: int
    profile: LoadProfile
    rcbo: Rcbo
    name: str
    supervision_min_a: float | None
    supervision_max_a: float | None
    factor: float = 0.0  # activity flowing now (0 when the channel is dead)

    @property
    def current_a(self) -> float:
        return self.profile.load.current_a * self.factor


def _per_phase() -> list[float]:
    return [0.0] * len(PHASES)


@dataclass
class _SincePowerUp:
    """What the meter counts since the unit was last powered up (all reset by a power loss)."""

    power_up_s: float
    meter_from_s: float = 0.0
    """Uptime at which the meter last started (0, or when its L1 supply fuse was replaced)."""
    energy_wh: float = 0.0
    reactive_varh: float = 0.0
    apparent_vah: float = 0.0
    max_current_a: list[float] = field(default_factory=_per_phase)
    max_neutral_a: float = 0.0
    current_thd_sum: list[float] = field(default_factory=_per_phase)  # THD x seconds
    current_thd_time: list[float] = field(default_factory=_per_phase)  # seconds with current
    voltage_thd_sum: list[float] = field(default_factory=_per_phase)
    voltage_thd_time: list[float] = field(default_factory=_per_phase)  # seconds metered
    demand_marks: deque[tuple[float, float, float]] = field(
        default_factory=lambda: deque(
            [(0.0, 0.0, 0.0)], maxlen=int(DEMAND_WINDOW_S / DEMAND_SUBINTERVAL_S) + 2
        )
    )
    """(uptime, Wh, VAh) every DEMAND_SUBINTERVAL_S, enough to slide the demand window."""
    demand_w: float | None = None
    demand_va: float | None = None
    max_demand_w: float | None = None
    max_demand_va: float | None = None
    """Demand values are ``None`` (not available) until the first window completes."""


def _meter_silent() -> dict[str, Value | list[Value]]:
    """The meter's measurements while it is stopped: every one not available."""
    return {
        m.name: [None] * len(PHASES) if m.scope is Scope.PHASE else None
        for m in MEASUREMENTS
        if m.name in METER_MEASUREMENTS
    }


class PhysicsError(ValueError):
    """An action the unit refuses in its present state (e.g. switch on with the e-stop pressed)."""


# --- The unit ------------------------------------------------------------------------------


class UnitPhysics:
    """The true physical state of one C12B and what its meter reads.

    :param model: the unit's model (channel phases and rating come from it).
    :param seed: seeds the unit's supply offsets, ambient and noise.
    :param channels: how channels 1..n start; missing channels start empty.
    """

    def __init__(self, model: UnitModel, seed: int, channels: Sequence[ChannelSetup] = ()) -> None:
        count = model.channel_count
        if len(channels) > count:
            raise ValueError(f"a {model.name} has {count} channels, got {len(channels)}")
        self.model = model
        self._rng = random.Random(seed)
        rng = self._rng
        self._supply_v = [
            NOMINAL_VOLTAGE_V + rng.uniform(-SUPPLY_OFFSET_SPREAD_V, SUPPLY_OFFSET_SPREAD_V)
            for _ in PHASES
        ]
        self._base_vthd = [rng.uniform(*VOLTAGE_THD_BASE_RANGE) for _ in PHASES]
        self.ambient_c = DEFAULT_AMBIENT_C + rng.uniform(-AMBIENT_SPREAD_C, AMBIENT_SPREAD_C)
        self.frequency_setpoint_hz = NOMINAL_FREQUENCY_HZ
        setups = list(channels) + [ChannelSetup()] * (count - len(channels))
        self._channels = [
            _Channel(
                number=n,
                phase=PHASES.index(model.channel_phases[n - 1]),
                profile=setup.profile,
                rcbo=Rcbo(model.breaker),
                name=setup.name,
                supervision_min_a=setup.supervision_min_a,
                supervision_max_a=setup.supervision_max_a,
            )
            for n, setup in enumerate(setups, start=1)
        ]
        self._rating_a = model.channel_rating_a
        self._steps = 0
        self._now_s = 0.0
        """The latest time asked for (:meth:`advance`): breakers have run up to it."""
        self.powered = True
        self.estop_pressed = False
        self.switch_on = True
        self.neutral_lost = False
        self.fuse_ok = [True] * len(PHASES)
        self._noise_v = [0.0] * len(PHASES)
        self._noise_hz = 0.0
        self._temperature_c = self.ambient_c
        self.version = 0
        """Incremented whenever a measurement may have changed."""
        self.settings_version = 0
        """Incremented whenever a setting (unit or channel name, supervision) changes."""
        self.unit_name = ""
        """The name stored in the unit (set on its web page or over the network)."""
        self._power_up()
        self._settle()

    # --- time ----------------------------------------------------------------------------

    @property
    def time_s(self) -> float:
        """Physics time of the state, on the :data:`STEP_S` grid."""
        return self._steps * STEP_S

    @property
    def uptime_s(self) -> float:
        return self.time_s - self._since.power_up_s if self.powered else 0.0

    def advance(self, now_s: float) -> None:
        """Step the model up to physics time ``now_s`` (rounded down to the step grid); the
        breakers run up to ``now_s`` itself, so one trips at the moment its curve gives.

        Asking for a time in the past does nothing.
        """
        target = math.floor(now_s / STEP_S + 1e-9)
        changed = target > self._steps
        while self._steps < target:
            self._step()
        self._now_s = max(self._now_s, now_s, self.time_s)
        tripped = [ch for ch in self._channels if ch.rcbo.run_to(self._now_s)]
        for ch in tripped:
            ch.factor = 0.0
        if tripped:
            self._measure()
        if changed or tripped:
            self.version += 1

    def _step(self) -> None:
        self._steps += 1
        rng = self._rng
        self._noise_v = [rng.gauss(0.0, VOLTAGE_NOISE_V) for _ in PHASES]
        self._noise_hz = rng.gauss(0.0, FREQUENCY_NOISE_HZ)
        self._update_channels(self.time_s)
        self._measure()
        self._integrate(STEP_S)

    def _settle(self) -> None:
        """Recompute after an action, without time passing."""
        self._update_channels(max(self._now_s, self.time_s))
        self._measure()
        self.version += 1

    # --- model ---------------------------------------------------------------------------

    @property
    def energized(self) -> bool:
        """Outputs have voltage: the unit is powered and the switch disconnector is on."""
        return self.powered and self.switch_on

    def _update_channels(self, at_s: float) -> None:
        """What flows in each channel from ``at_s`` on (loads at the step's time)."""
        energized = self.energized
        t = self.time_s
        rating = self._rating_a
        for ch in self._channels:
            rcbo = ch.rcbo
            factor = 0.0
            if energized and rcbo.closed:
                factor = ch.profile.factor_at(t)
                load = ch.profile.load
                leakage = load.leakage_ma if factor > 0.0 else 0.0
                if rcbo.flow(load.current_a * factor / rating, leakage, at_s):
                    factor = 0.0
            else:
                rcbo.flow(0.0, 0.0, at_s)
            ch.factor = factor

    def _measure(self) -> None:
        """Phase currents, powers, THD and the neutral from the channels' loads."""
        n_phases = len(PHASES)
        n_harm = len(HARMONIC_ORDERS)
        active = [0.0] * n_phases
        reactive = [0.0] * n_phases
        harmonic = [[0.0] * n_harm for _ in range(n_phases)]
        for ch in self._channels:
            f = ch.factor
            if not f:
                continue
            load = ch.profile.load
            p = ch.phase
            active[p] += load.active_a * f
            reactive[p] += load.reactive_a * f
            row = harmonic[p]
            for k, amps in enumerate(load.harmonic_a):
                row[k] += amps * f

        self._fundamental_a = [math.hypot(active[p], reactive[p]) for p in range(n_phases)]
        harmonic_sq = [sum(a * a for a in harmonic[p]) for p in range(n_phases)]
        self._current_a = [
            math.sqrt(self._fundamental_a[p] ** 2 + harmonic_sq[p]) for p in range(n_phases)
        ]
        self._current_thd = [
            math.sqrt(harmonic_sq[p]) / self._fundamental_a[p]
            if self._fundamental_a[p] >= LOAD_PRESENT_A
            else 0.0
            for p in range(n_phases)
        ]
        self._voltage_v = [  # a source pulled down to nothing gives 0 V, never less
            max(
                0.0,
                self._supply_v[p] + self._noise_v[p] - SOURCE_RESISTANCE_OHM * self._current_a[p],
            )
            for p in range(n_phases)
        ]
        self._voltage_thd = [
            min(
                max(VOLTAGE_THD_LIMIT, self._base_vthd[p]),
                self._base_vthd[p] + VOLTAGE_THD_PER_HARMONIC_A * math.sqrt(harmonic_sq[p]),
            )
            for p in range(n_phases)
        ]
        v = self._voltage_v
        self._active_w = [v[p] * active[p] for p in range(n_phases)]
        self._reactive_var = [v[p] * reactive[p] for p in range(n_phases)]
        self._apparent_va = [v[p] * self._current_a[p] for p in range(n_phases)]
        self._frequency_hz = self.frequency_setpoint_hz + self._noise_hz

        # Neutral: Kirchhoff per harmonic order. The current phasor of phase p lags its
        # voltage (at PHASE_ANGLES_RAD[p]) by phi; harmonic h of phase p sits at h x that
        # angle, so triplen harmonics of the three phases line up and add arithmetically.
        rotation = _ROTATION
        fundamental_n = sum(
            complex(active[p], -reactive[p]) * rotation[0][p] for p in range(n_phases)
        )
        neutral_sq = abs(fundamental_n) ** 2
        for k in range(n_harm):
            neutral_sq += (
                abs(sum(harmonic[p][k] * rotation[k + 1][p] for p in range(n_phases))) ** 2
            )
        self._neutral_a = math.sqrt(neutral_sq)

    @property
    def meter_running(self) -> bool:
        """The main meter is powered from L1 (manual): its L1 fuse blown, it stops."""
        return self.powered and self.fuse_ok[METER_SUPPLY_PHASE]

    @property
    def metered(self) -> list[bool]:
        """Per phase: the meter measures it (running, and the phase's fuse intact)."""
        running = self.meter_running
        return [running and good for good in self.fuse_ok]

    def _metered_totals(self) -> tuple[float, float, float]:
        """(P, Q, S) summed over the phases the meter measures."""
        ok = self.metered
        return (
            sum(x for x, good in zip(self._active_w, ok, strict=True) if good),
            sum(x for x, good in zip(self._reactive_var, ok, strict=True) if good),
            sum(x for x, good in zip(self._apparent_va, ok, strict=True) if good),
        )

    def _integrate(self, dt_s: float) -> None:
        """Counters since power-up: energy, maxima, THD averages, demand; and temperature."""
        if self.meter_running:
            since = self._since
            p_total, q_total, s_total = self._metered_totals()
            hours = dt_s / SECONDS_PER_HOUR
            since.energy_wh += max(p_total, 0.0) * hours
            since.reactive_varh += max(q_total, 0.0) * hours
            since.apparent_vah += s_total * hours
            for p in range(len(PHASES)):
                since.max_current_a[p] = max(since.max_current_a[p], self._current_a[p])
                if self._fundamental_a[p] >= LOAD_PRESENT_A:
                    since.current_thd_sum[p] += self._current_thd[p] * dt_s
                    since.current_thd_time[p] += dt_s
                if self.fuse_ok[p]:
                    since.voltage_thd_sum[p] += self._voltage_thd[p] * dt_s
                    since.voltage_thd_time[p] += dt_s
            since.max_neutral_a = max(since.max_neutral_a, self._neutral_a)
            self._update_demand()
        alpha = 1.0 - math.exp(-dt_s / SENSOR_TIME_CONSTANT_S)
        self._temperature_c += (self._settled_temperature_c() - self._temperature_c) * alpha

    def _settled_temperature_c(self) -> float:
        """Where the ambient sensor's reading heads: the ambient air, whatever the load."""
        return self.ambient_c

    def _update_demand(self) -> None:
        """Rolling demand: at the end of every subinterval, the average power over the
        window that has just completed. Nothing before the first complete window."""
        since = self._since
        uptime = self.uptime_s - since.meter_from_s  # the meter's own time since it started
        marks = since.demand_marks
        if uptime - marks[-1][0] < DEMAND_SUBINTERVAL_S:
            return
        marks.append((uptime, since.energy_wh, since.apparent_vah))
        if uptime < DEMAND_WINDOW_S:
            return
        start = next(m for m in marks if m[0] >= uptime - DEMAND_WINDOW_S)
        window_h = (uptime - start[0]) / SECONDS_PER_HOUR
        demand_w = (since.energy_wh - start[1]) / window_h
        demand_va = (since.apparent_vah - start[2]) / window_h
        since.demand_w, since.demand_va = demand_w, demand_va
        since.max_demand_w = max(since.max_demand_w or 0.0, demand_w)
        since.max_demand_va = max(since.max_demand_va or 0.0, demand_va)

    def _power_up(self) -> None:
        """Reset everything the meter counts since power-up."""
        self._since = _SincePowerUp(power_up_s=self.time_s)

    # --- actions -------------------------------------------------------------------------
    # Each action takes effect at the current physics time; call advance() first.

    def press_estop(self) -> None:
        """The e-stop trips the switch disconnector at once."""
        self.estop_pressed = True
        self.switch_on = False
        self._settle()

    def release_estop(self) -> None:
        """Twisting the button releases it; the switch stays off until switched on."""
        self.estop_pressed = False
        self._settle()

    def switch(self, on: bool) -> None:
        """Move the switch disconnector by hand.

        :raises PhysicsError: switching on while the e-stop is pressed or the neutral is lost.
        """
        if on and self.estop_pressed:
            raise PhysicsError("the emergency stop is pressed: release it before switching on")
        if on and self.neutral_lost:
            raise PhysicsError("the neutral is lost: the switch disconnector trips at once")
        self.switch_on = on
        self._settle()

    def lose_neutral(self) -> None:
        """The loss-of-neutral sensor trips the switch disconnector at once."""
        self.neutral_lost = True
        self.switch_on = False
        self._settle()

    def restore_neutral(self) -> None:
        self.neutral_lost = False
        self._settle()

    def set_fuse(self, phase: str, ok: bool) -> None:
        """Blow (``ok=False``) or replace a meter fuse: the meter loses that phase's voltage."""
        index = PHASES.index(phase)
        restarts = ok and index == METER_SUPPLY_PHASE and not self.fuse_ok[index]
        self.fuse_ok[index] = ok
        if restarts:  # the meter starts again and counts from 0; the unit's uptime goes on
            self._since = _SincePowerUp(self._since.power_up_s, meter_from_s=self.uptime_s)
        self._settle()

    def press_test_button(self, channel: int) -> None:
        """The RCBO's T button: trips it if its output side has voltage.

        :raises PhysicsError: the test circuit has no supply (unit off or switch off).
        """
        if not self.energized:
            raise PhysicsError(
                "the switch disconnector is off: the RCBO test circuit has no supply"
            )
        self._rcbo_now(channel).trip(TripCause.TEST_BUTTON)
        self._settle()

    def open_rcbo(self, channel: int) -> None:
        """Switch an RCBO off by hand."""
        rcbo = self._rcbo_now(channel)
        if rcbo.closed:
            rcbo.trip(TripCause.MANUAL)
        self._settle()

    def _rcbo_now(self, channel: int) -> Rcbo:
        """A channel's RCBO with its heat brought up to now: the load flowed until the
        moment a hand or a button opens it."""
        rcbo = self._channel(channel).rcbo
        rcbo.run_to(max(self._now_s, self.time_s))
        return rcbo

    def reset_rcbo(self, channel: int) -> None:
        """Switch an RCBO back on; it trips again at once if the fault is still there."""
        self._channel(channel).rcbo.close()
        self._settle()

    def set_leakage(self, channel: int, leakage_ma: float) -> None:
        """Change a channel's earth leakage; at 30 mA or more its RCBO trips."""
        ch = self._channel(channel)
        load = ch.profile.load
        ch.profile = ch.profile.with_load(
            Load(load.current_a, load.cos_phi, load.leading, load.harmonics, leakage_ma)
        )
        self._settle()

    def set_load(self, channel: int, load: Load) -> None:
        """Replace a channel's load with a constant one."""
        self._channel(channel).profile = ConstantLoad(load)
        self._settle()

    def set_name(self, channel: int, name: str) -> None:
        if len(name.encode("utf-8")) > CHANNEL_NAME_MAX_BYTES:
            raise ValueError(f"channel name {name!r} is longer than {CHANNEL_NAME_MAX_BYTES} bytes")
        self._channel(channel).name = name
        self.settings_version += 1

    def set_supervision(self, channel: int, min_a: float | None, max_a: float | None) -> None:
        low, high = SUPERVISION_RANGE_A
        for value in (min_a, max_a):
            if value is not None and not low <= value <= high:
                raise ValueError(f"supervision limit {value} A is outside {low:g}..{high:g} A")
        ch = self._channel(channel)
        ch.supervision_min_a, ch.supervision_max_a = min_a, max_a
        self.settings_version += 1

    def set_unit_name(self, name: str) -> None:
        if len(name.encode("utf-8")) > CHANNEL_NAME_MAX_BYTES:
            raise ValueError(f"unit name {name!r} is longer than {CHANNEL_NAME_MAX_BYTES} bytes")
        self.unit_name = name
        self.settings_version += 1

    def apply_settings(self, values: Mapping[str, Value | list[Value]]) -> None:
        """Store a decoded ``registermap.SETTINGS`` block (a Modbus write)."""
        self.set_unit_name(str(values["unit_name"] or ""))
        names, lows, highs = (
            values["channel_name"],
            values["supervision_min"],
            values["supervision_max"],
        )
        assert isinstance(names, list) and isinstance(lows, list) and isinstance(highs, list)
        for number in range(1, self.model.channel_count + 1):
            low, high = lows[number - 1], highs[number - 1]
            self.set_supervision(
                number,
                None if low is None else float(low),
                None if high is None else float(high),
            )
            self.set_name(number, str(names[number - 1]))

    def power_loss(self) -> None:
        """The unit loses its supply: nothing flows, and the unit vanishes from the network."""
        self.powered = False
        self._settle()

    def power_restore(self) -> None:
        """Power comes back: uptime, energy, maxima, THD averages and demand restart from 0.

        Breakers and the switch disconnector keep their positions; settings are kept.
        """
        if not self.powered:
            self.powered = True
            self._power_up()
        self._settle()

    def set_ambient(self, celsius: float, soaked: bool = False) -> None:
        """Ambient temperature; ``soaked``: the unit has stood in it long enough to settle
        (no thermal lag), e.g. a rack already hot when the monitoring starts."""
        self.ambient_c = celsius
        if soaked:
            self._temperature_c = self._settled_temperature_c()
        self.version += 1

    def set_supply(
        self, phase: str, voltage_v: float | None = None, voltage_thd: float | None = None
    ) -> None:
        """The supply itself on one phase (e.g. a weak or distorting generator): its
        no-load voltage and its own voltage THD. Loads still pull the voltage down and
        add harmonic distortion; loads drawn cannot push THD past the EN 50160 limit,
        a supply set above it stays there."""
        index = PHASES.index(phase)
        if voltage_v is not None:
            self._supply_v[index] = voltage_v
        if voltage_thd is not None:
            self._base_vthd[index] = voltage_thd
        self._settle()

    def set_frequency(self, hz: float) -> None:
        """Supply frequency setpoint (a generator may sit off 50 Hz)."""
        self.frequency_setpoint_hz = hz
        self._settle()

    def _channel(self, number: int) -> _Channel:
        count = self.model.channel_count
        if not 1 <= number <= count:
            raise ValueError(f"channel {number} does not exist; channels are 1..{count}")
        return self._channels[number - 1]

    # --- what the unit reports -----------------------------------------------------------

    def measurements(self) -> dict[str, Value | list[Value]]:
        """The meter's values by measurement name, in SI units and state names, as
        ``registermap.MEASUREMENTS.encode()`` takes them.

        ``None`` = not available: a blown meter fuse silences its phase's voltage and
        everything computed from it; with its L1 supply fuse blown the meter reads nothing.
        """
        channel_current = [ch.current_a for ch in self._channels]
        metered = self.metered
        meter = self._meter_values() if self.meter_running else _meter_silent()
        return {
            "emergency_stop": "pressed" if self.estop_pressed else "released",
            "switch_disconnector": "on" if self.switch_on else "off",
            "neutral": "lost" if self.neutral_lost else "ok",
            "temperature": self._temperature_c,
            "uptime": int(self.uptime_s),
            **meter,
            "metered_phases": sum(metered),
            "channel_current": list(channel_current),
            "channel_breaker": ["closed" if ch.rcbo.closed else "open" for ch in self._channels],
            "channel_load": [load_state(c, self._rating_a) for c in channel_current],
        }

    def _meter_values(self) -> dict[str, Value | list[Value]]:
        """What the running meter reads, by measurement name."""
        ok = self.metered
        since = self._since
        p_total, q_total, s_total = self._metered_totals()
        any_phase = any(ok)

        def phase_values(values: Sequence[Value]) -> list[Value]:
            return [v if good else None for v, good in zip(values, ok, strict=True)]

        def average(
            sums: Sequence[float], times: Sequence[float], now: Sequence[float]
        ) -> list[Value]:
            return [s / t if t else n for s, t, n in zip(sums, times, now, strict=True)]

        power_factor = [
            w / va if va > 0.0 else NO_LOAD_POWER_FACTOR
            for w, va in zip(self._active_w, self._apparent_va, strict=True)
        ]
        return {
            "voltage": phase_values(self._voltage_v),
            "current": list(self._current_a),
            "neutral_current": self._neutral_a,
            "max_current": [
                max(m, c) for m, c in zip(since.max_current_a, self._current_a, strict=True)
            ],
            "max_neutral_current": max(since.max_neutral_a, self._neutral_a),
            "current_thd": average(
                since.current_thd_sum, since.current_thd_time, self._current_thd
            ),
            "voltage_thd": phase_values(
                average(since.voltage_thd_sum, since.voltage_thd_time, self._voltage_thd)
            ),
            "frequency": self._frequency_hz if any_phase else None,
            "phase_active_power": phase_values(self._active_w),
            "active_power": p_total,
            "phase_reactive_power": phase_values(self._reactive_var),
            "reactive_power": q_total,
            "phase_apparent_power": phase_values(self._apparent_va),
            "apparent_power": s_total,
            "phase_power_factor": phase_values(power_factor),
            "power_factor": (
                (p_total / s_total if s_total > 0.0 else NO_LOAD_POWER_FACTOR)
                if any_phase
                else None
            ),
            "demand_active_power": since.demand_w,
            "demand_apparent_power": since.demand_va,
            "max_demand_active_power": since.max_demand_w,
            "max_demand_apparent_power": since.max_demand_va,
            "active_energy_import": since.energy_wh * WH,
            "reactive_energy_import": since.reactive_varh * WH,
        }

    def settings(self) -> dict[str, Value | list[Value]]:
        """The stored settings, as ``registermap.SETTINGS.encode()`` takes them."""
        return {
            "supervision_min": [ch.supervision_min_a for ch in self._channels],
            "supervision_max": [ch.supervision_max_a for ch in self._channels],
            "channel_name": [ch.name for ch in self._channels],
            "unit_name": self.unit_name,
        }

    def snapshot(self) -> dict[str, Any]:
        """The true state, JSON-able: what is really there, beside what the meter reports."""
        return {
            "time_s": self.time_s,
            "powered": self.powered,
            "uptime_s": self.uptime_s,
            "estop_pressed": self.estop_pressed,
            "switch_on": self.switch_on,
            "neutral_lost": self.neutral_lost,
            "meter_fuses": {
                phase: "ok" if good else "blown"
                for phase, good in zip(PHASES, self.fuse_ok, strict=True)
            },
            "ambient_c": self.ambient_c,
            "temperature_c": self._temperature_c,
            "frequency_hz": self._frequency_hz,
            "phases": {
                phase: {
                    "voltage_v": self._voltage_v[p],
                    "current_a": self._current_a[p],
                    "fundamental_a": self._fundamental_a[p],
                    "current_thd": self._current_thd[p],
                    "voltage_thd": self._voltage_thd[p],
                    "active_power_w": self._active_w[p],
                    "reactive_power_var": self._reactive_var[p],
                    "apparent_power_va": self._apparent_va[p],
                }
                for p, phase in enumerate(PHASES)
            },
            "neutral_current_a": self._neutral_a,
            "channels": [
                {
                    "channel": ch.number,
                    "phase": PHASES[ch.phase],
                    "name": ch.name,
                    "current_a": ch.current_a,
                    "breaker": "closed" if ch.rcbo.closed else "open",
                    "trip_cause": None if ch.rcbo.cause is None else str(ch.rcbo.cause),
                    "trip_progress": ch.rcbo.progress,
                    "tripped_at_s": ch.rcbo.tripped_at_s,
                    "load_state": load_state(ch.current_a, self._rating_a),
                    "supervision_min_a": ch.supervision_min_a,
                    "supervision_max_a": ch.supervision_max_a,
                    "load": ch.profile.load.to_json(),
                    "activity": ch.factor,
                }
                for ch in self._channels
            ],
            "measurements": self.measurements(),
            "settings": self.settings(),
        }
