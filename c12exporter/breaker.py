"""A channel breaker's time-current curve, as data, and the rule for the heat it takes.

One declaration serves the simulator (when its RCBOs trip), the exporter's trip
forecast (:mod:`c12exporter.forecast`) and the console's trip panel. A unit model holds
it (:attr:`c12exporter.model.UnitModel.breaker`); a plugin gives another curve through
the ``c12_breaker_curve`` hook (:mod:`c12exporter.hookspecs`). This module imports
nothing else of the project, so the simulator and the exporter may both use it.

How heat accumulates (the same rule everywhere): the breaker's *progress* towards an
overcurrent trip runs from 0 (cold) to 1 (trip). While ``multiple`` x its rating flows
above the non-tripping multiple, progress grows by ``dt / trip_time_s(multiple)``, so a
steady current trips it after exactly the curve's time and a varying one after the sum
of its shares. At or below the non-tripping multiple the progress relaxes towards 0
with :attr:`BreakerCurve.cooling_time_constant_s` (the hydraulic core returns). At or
above :attr:`BreakerCurve.instantaneous_multiple` (the magnetic band) it trips at once.
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
    :param cooling_time_constant_s: below the non-tripping multiple the accumulated
        progress relaxes with this time constant.
    """

    name: str
    points: tuple[tuple[float, float], ...]
    instantaneous_multiple: float
    cooling_time_constant_s: float

    def __post_init__(self) -> None:
        if len(self.points) < 2 or not math.isinf(self.points[0][1]):
            raise ValueError("a breaker curve starts with (non-tripping multiple, inf)")
        multiples = [m for m, _ in self.points]
        times = [t for _, t in self.points]
        if multiples != sorted(set(multiples)) or times != sorted(times, reverse=True):
            raise ValueError("curve points must rise in multiple and fall in time")
        if not all(t > 0 for t in times) or self.points[-1][0] > self.instantaneous_multiple:
            raise ValueError("curve times must be positive, below the instantaneous multiple")

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

    def after(self, progress: float, multiple: float, dt_s: float) -> tuple[float, float | None]:
        """Progress after ``multiple`` x In flowed for ``dt_s`` from ``progress``, and how far
        into ``dt_s`` it reached 1 (``None``: no trip; then the progress is below 1)."""
        if dt_s <= 0.0:
            return progress, None
        if not self.heats(multiple):
            return progress * math.exp(-dt_s / self.cooling_time_constant_s), None
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
    cooling_time_constant_s=120.0,
)
"""The curve of every built-in model's channel RCBOs (16 A, 2-pole, magnetic-hydraulic,
as the manual says: 'industrial grade (EN 60947-2)'). It passes through the standard's
conventional currents; the points between are a representative long-delay
magnetic-hydraulic characteristic, not a given breaker's curve."""
