"""A channel breaker's time-current curve, as data, and the rule for the heat it takes.

One declaration serves the simulator (when its RCBOs trip), the exporter's trip
forecast and heat (:mod:`c12exporter.forecast`) and the console's trip panel. A unit model
holds it (:attr:`c12exporter.model.UnitModel.breaker`); a plugin gives another curve
through the ``c12_breaker_curve`` hook (:mod:`c12exporter.hookspecs`). This module imports
nothing else of the project, so the simulator and the exporter may both use it.

The heat rule (the same everywhere) models the dashpot of a magnetic-hydraulic breaker:
a core in a tube of fluid, pulled by the coil against a spring, that trips the breaker
when it reaches the end of the tube. The *heat* of a breaker is the core's position,
from 0 (at rest: cold) to 1 (at the end: trip).

* Above the non-tripping multiple the pull beats the spring all the way: the core
  creeps towards the end and the heat grows by ``dt / trip_time_s(multiple)``, so a
  steady current trips a cold breaker after exactly the curve's time and a varying one
  after the sum of its shares.
* At or below the non-tripping multiple the pull (which grows as the square of the
  current) balances the spring part of the way in: the core settles at
  :meth:`BreakerCurve.equilibrium`, ``equilibrium_at_non_tripping x (multiple /
  non-tripping multiple)^2``, and the heat moves towards that equilibrium with the one
  time constant :attr:`BreakerCurve.cooling_time_constant_s` (the fluid lets it move no
  faster). At 0 A it returns to 0; at the rating it stays part of the way in, so a
  channel that was overloaded and now carries its rated current cools less than one
  that is switched off.
* The core does not know why the current stopped: an opening by overcurrent, earth
  leakage, the T button or a hand on the lever leaves the heat where it is, and it
  relaxes towards 0 while the breaker is open. Closing it again starts from there.
* At or above :attr:`BreakerCurve.instantaneous_multiple` (the magnetic band) the
  armature trips the breaker at once, whatever the heat.

Between the two regimes the rule has a step: just above the non-tripping multiple the
heat grows only as fast as the curve's very long times allow, while just below it the
heat settles at the equilibrium within a few time constants. The equilibrium is kept
small, so the step is too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ROUNDING_S = 1e-9
"""A trip due within this of the end of an interval happens in it (float sums of dt / t)."""


@dataclass(frozen=True)
class BreakerCurve:
    """Trip times at steady multiples of the rated current, and how heat accumulates.

    :param name: what the curve is, for pages and docs.
    :param points: (multiple of In, seconds to trip from cold), increasing in multiple and
        decreasing in time. The first point's time is ``inf``: the multiple the breaker
        carries indefinitely (the conventional non-tripping current). Between it and the
        second point the time falls as ``1 / (m - m0)``; between finite points it is
        interpolated log-log; from the last point to the magnetic band it holds.
    :param instantaneous_multiple: at or above this multiple it trips at once.
    :param cooling_time_constant_s: at or below the non-tripping multiple (and while
        the breaker is open) the heat moves towards its equilibrium with this time
        constant.
    :param equilibrium_at_non_tripping: the heat at which the non-tripping current holds
        the core (below 1: it never trips); a smaller current holds it at this times the
        square of its share of the non-tripping current.
    """

    name: str
    points: tuple[tuple[float, float], ...]
    instantaneous_multiple: float
    cooling_time_constant_s: float
    equilibrium_at_non_tripping: float = 0.2

    def __post_init__(self) -> None:
        if len(self.points) < 2 or not math.isinf(self.points[0][1]):
            raise ValueError("a breaker curve starts with (non-tripping multiple, inf)")
        multiples = [m for m, _ in self.points]
        times = [t for _, t in self.points]
        if multiples != sorted(set(multiples)) or times != sorted(times, reverse=True):
            raise ValueError("curve points must rise in multiple and fall in time")
        if not all(t > 0 for t in times) or self.points[-1][0] > self.instantaneous_multiple:
            raise ValueError("curve times must be positive, below the instantaneous multiple")
        if not 0.0 <= self.equilibrium_at_non_tripping < 1.0:
            raise ValueError("the equilibrium heat at the non-tripping multiple is in [0, 1)")
        if self.cooling_time_constant_s <= 0.0:
            raise ValueError("the cooling time constant must be positive")

    @property
    def non_tripping_multiple(self) -> float:
        """At or below this multiple of In the breaker never trips."""
        return self.points[0][0]

    def trip_time_s(self, multiple: float) -> float:
        """Seconds to trip from cold at a steady ``multiple`` x In: ``inf`` at or below the
        non-tripping multiple, ``0`` in the magnetic band."""
        if multiple >= self.instantaneous_multiple:
            return 0.0
        m0, _ = self.points[0]
        if multiple <= m0:
            return math.inf
        m1, t1 = self.points[1]
        if multiple <= m1:
            return t1 * (m1 - m0) / (multiple - m0)
        for (ma, ta), (mb, tb) in zip(self.points[1:], self.points[2:], strict=False):
            if multiple <= mb:
                share = math.log(multiple / ma) / math.log(mb / ma)
                return math.exp(math.log(ta) + share * (math.log(tb) - math.log(ta)))
        return self.points[-1][1]

    def heats(self, multiple: float) -> bool:
        """Whether ``multiple`` x In moves the breaker towards a trip."""
        return multiple > self.non_tripping_multiple

    def equilibrium(self, multiple: float) -> float:
        """The heat a steady ``multiple`` x In at or below the non-tripping multiple holds
        the breaker at (0 at 0 A); above it there is none: the heat grows until a trip."""
        share = min(abs(multiple), self.non_tripping_multiple) / self.non_tripping_multiple
        return self.equilibrium_at_non_tripping * share * share

    def after(self, progress: float, multiple: float, dt_s: float) -> tuple[float, float | None]:
        """Heat after ``multiple`` x In flowed for ``dt_s`` from ``progress`` (0 A for an
        open breaker), and how far into ``dt_s`` it reached 1 (``None``: no trip; then the
        heat is below 1)."""
        if dt_s <= 0.0:
            return progress, None
        if not self.heats(multiple):
            target = self.equilibrium(multiple)
            decay = math.exp(-dt_s / self.cooling_time_constant_s)
            return target + (progress - target) * decay, None
        t = self.trip_time_s(multiple)
        if t <= 0.0:
            return 1.0, 0.0
        left_s = max(0.0, 1.0 - progress) * t
        if left_s <= dt_s + ROUNDING_S:
            return 1.0, min(left_s, dt_s)
        return progress + dt_s / t, None

    def remaining_s(self, progress: float, multiple: float) -> float:
        """Seconds until a trip if ``multiple`` x In keeps flowing, from ``progress``."""
        t = self.trip_time_s(multiple)
        if math.isinf(t):
            return math.inf
        return max(0.0, 1.0 - progress) * t


EN_60947_2_MAGNETIC_HYDRAULIC = BreakerCurve(
    name="EN 60947-2 magnetic-hydraulic, long delay, representative",
    points=(
        (1.05, math.inf),  # conventional non-tripping current: no trip within 1 h (never, here)
        (1.30, 1800.0),  # conventional tripping current: a trip within 1 h
        (1.5, 400.0),
        (2.0, 80.0),
        (3.0, 20.0),
        (5.0, 5.0),
        (7.0, 2.5),
        (10.0, 1.2),
        (12.0, 0.8),
    ),
    instantaneous_multiple=12.0,
    cooling_time_constant_s=120.0,  # the dashpot's fluid: minutes, not seconds
    equilibrium_at_non_tripping=0.2,  # the rated current holds the core 18 % of the way in
)
"""The curve of every built-in model's channel RCBOs (16 A, 2-pole, magnetic-hydraulic,
as the manual says: 'industrial grade (EN 60947-2)'). It passes through the standard's
conventional currents; the points between are a representative long-delay
magnetic-hydraulic characteristic, not a given breaker's curve; so are its time constant
and its equilibrium (our choices: the manual and the standard give neither)."""
