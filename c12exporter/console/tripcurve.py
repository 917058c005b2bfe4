"""When a channel's RCBO trips under a steady overload: its time-current characteristic,
kept as data so another breaker (or a manufacturer's measured curve) replaces the table
and nothing else.

The table is a representative curve for a 16 A RCBO of characteristic C in the style of
IEC 60898-1 (reference temperature 30 °C, from cold), drawn through the standard's
limit points: no trip at the conventional non-tripping current 1.13 In within 1 h, a trip
within 1 h at the conventional tripping current 1.45 In, between 1 s and 60 s at 2.55 In,
and instantaneous (under 0.1 s) from 10 In. It is not a given breaker's curve, and it
ignores the heat the breaker has already taken: the time shown is for a cold breaker
carrying the present current from now on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TripCurve:
    """Trip times at multiples of the rated current, interpolated log-log.

    :param points: (multiple of In, seconds to trip) in increasing multiple; the first
        point's time is ``inf`` (the current it may carry indefinitely).
    :param name: what the curve is, for the page.
    """

    name: str
    points: tuple[tuple[float, float], ...]

    def time_to_trip_s(self, current_a: float, rating_a: float) -> float | None:
        """Seconds until a trip at a steady ``current_a``; ``None`` when it never trips."""
        if rating_a <= 0:
            return None
        multiple = current_a / rating_a
        first, _ = self.points[0]
        if multiple <= first:
            return None
        last, last_s = self.points[-1]
        if multiple >= last:
            return last_s
        for (m0, t0), (m1, t1) in zip(self.points, self.points[1:], strict=False):
            if m0 < multiple <= m1:
                if math.isinf(t0):
                    # from "never" at m0 down to t1 at m1: t ~ 1 / (m - m0), fitted at m1
                    return t1 * (m1 - m0) / (multiple - m0)
                share = math.log(multiple / m0) / math.log(m1 / m0)
                return math.exp(math.log(t0) + share * (math.log(t1) - math.log(t0)))
        return None


TYPE_C = TripCurve(
    name="IEC 60898-1 type C style, representative, 30 °C, cold",
    points=(
        (1.13, math.inf),  # conventional non-tripping current: no trip within 1 h
        (1.45, 1200.0),  # conventional tripping current: trips within 1 h
        (2.0, 100.0),
        (2.55, 25.0),  # the standard: 1 s < t < 60 s
        (3.0, 12.0),
        (4.0, 5.0),
        (5.0, 2.5),  # type C: no instantaneous trip below 5 In
        (7.0, 1.0),
        (10.0, 0.01),  # instantaneous from 10 In
    ),
)
"""The curve the console uses for every channel breaker."""
