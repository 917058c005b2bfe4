"""Supply quality the meter does not report itself: the voltage unbalance, and the
frequency band a unit is judged by.

Voltage unbalance is EN 50160's (and IEC 61000-4-30's) quantity: the negative-sequence
voltage over the positive-sequence voltage. The C12's meter reports line-neutral
magnitudes only, no angles, so the sequence components cannot be taken directly. We
derive the line-line magnitudes from the line-neutral ones assuming the three are 120°
apart (``U12² = U1² + U2² + U1·U2``; the supply's angles are not measured, and a real
public or generator supply holds them within a degree or two), and apply the standard's
magnitude-only formula to them (IEC 61000-4-30, 5.7.1; EN 50160 annex)::

    beta = (U12⁴ + U23⁴ + U31⁴) / (U12² + U23² + U31²)²
    u2   = sqrt((1 - sqrt(3 - 6 beta)) / (1 + sqrt(3 - 6 beta)))

Line-line voltages carry no zero-sequence component, so ``u2`` is the negative-sequence
ratio itself. It is 0.50 to 0.58 of the largest deviation of a line-neutral voltage from
their mean (the measure once used here, which so fired at about half the standard's
limit).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import limits
from .reading import Reading


def line_line_squares(voltages_v: Sequence[float]) -> tuple[float, float, float]:
    """U12², U23², U31² from U1, U2, U3 (line-neutral magnitudes 120° apart)."""
    u1, u2, u3 = voltages_v
    return (
        u1 * u1 + u2 * u2 + u1 * u2,
        u2 * u2 + u3 * u3 + u2 * u3,
        u3 * u3 + u1 * u1 + u3 * u1,
    )


def voltage_unbalance(voltages_v: Sequence[float | None]) -> float | None:
    """The negative-sequence over positive-sequence ratio of three line-neutral voltages
    (0 balanced); ``None`` when a voltage is missing or all are 0."""
    if len(voltages_v) != 3 or any(v is None for v in voltages_v):
        return None
    squares = line_line_squares([float(v) for v in voltages_v if v is not None])
    total = sum(squares)
    if total <= 0.0:
        return None
    beta = sum(s * s for s in squares) / (total * total)
    root = math.sqrt(max(0.0, 3.0 - 6.0 * beta))
    return math.sqrt(max(0.0, (1.0 - root) / (1.0 + root)))


def reading_voltage_unbalance(reading: Reading) -> float | None:
    """:func:`voltage_unbalance` of a reading's three line-neutral voltages."""
    return voltage_unbalance([p.voltage_v for p in reading.phases])


def frequency_band(supply: str) -> float:
    """The allowed frequency deviation (a ratio of nominal) for a kind of supply."""
    return limits.FREQUENCY_BANDS[supply].value
