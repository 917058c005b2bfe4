"""Phase balance: how unequal a unit's three line currents are, and the one move of a
channel's load to a free channel on another phase that evens them most.

Unbalance is NEMA MG-1's definition (the one IEEE Std 1159 calls line current unbalance):
the largest deviation of a line current from the mean of the three, over that mean.
0 is balanced, 0.1 is 10 %, 2.0 is all current on one line. Below
:data:`MEAN_CURRENT_MIN_A` it is not judged: a few stray amperes say nothing.

A move unplugs the load of one channel that draws current and plugs it into a *free*
channel on another phase: breaker closed, drawing under :data:`FREE_CHANNEL_MAX_A`, able
to carry the load (channel 12's aux socket has a lower rating than its RCBO). Its effect
is estimated arithmetically: the channel's current leaves its line and joins the other.
That treats the loads' currents as in phase with each other, which holds closely for the
resistive and power-factor-corrected loads of a stage and overstates the change when
power factors differ a lot. A free channel may be a load switched off at its own switch:
the advice is to check, not to follow blindly. See docs/console.md, "Phase balance".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .reading import ChannelReading, Reading

MEAN_CURRENT_MIN_A = 1.0
"""Below this mean line current the unbalance is not judged and no move is advised."""
FREE_CHANNEL_MAX_A = 0.1
"""A channel drawing less than this (and with its breaker closed) counts as free."""
MOVABLE_MIN_A = 0.5
"""A channel drawing less than this has no load worth moving."""


def unbalance(currents: Sequence[float]) -> float | None:
    """NEMA unbalance of line currents; ``None`` while their mean is below
    :data:`MEAN_CURRENT_MIN_A`.

    >>> unbalance([10.0, 10.0, 10.0])
    0.0
    >>> round(unbalance([20.0, 10.0, 0.0]), 3)
    1.0
    """
    mean = sum(currents) / len(currents)
    if mean < MEAN_CURRENT_MIN_A:
        return None
    return max([abs(c - mean) for c in currents]) / mean


@dataclass(frozen=True)
class Move:
    """Move the load of channel ``channel`` (on ``phase``) to channel ``to_channel``
    (on ``to_phase``): the line currents become ``currents_after``."""

    channel: ChannelReading
    to_channel: ChannelReading
    current_a: float
    unbalance_before: float
    unbalance_after: float
    currents_after: dict[str, float]

    @property
    def phase(self) -> str:
        return self.channel.phase

    @property
    def to_phase(self) -> str:
        return self.to_channel.phase

    def describe(self) -> str:
        def named(c: ChannelReading) -> str:
            return f"channel {c.number}" + (f" ({c.name})" if c.name else "")

        return (
            f"move the {self.current_a:.1f} A load of {named(self.channel)} on {self.phase} "
            f"to {named(self.to_channel)} on {self.to_phase}: unbalance "
            f"{self.unbalance_before:.0%} -> {self.unbalance_after:.0%}"
        )


def line_currents(reading: Reading) -> dict[str, float] | None:
    """Line current by phase name (``L1``...) as the meter measured it; ``None`` when the
    meter did not measure every line."""
    currents = {p.phase: p.values["current"] for p in reading.phases}
    if any(not isinstance(c, int | float) for c in currents.values()):
        return None
    return {phase: float(c) for phase, c in currents.items()}  # type: ignore[arg-type]


def reading_unbalance(reading: Reading) -> float | None:
    """The unit's present unbalance (see :func:`unbalance`)."""
    currents = line_currents(reading)
    return None if currents is None else unbalance(list(currents.values()))


def moves(reading: Reading) -> Iterator[Move]:
    """Every possible move that lowers the unbalance, in the order of the loads, then of
    the free channels."""
    currents = line_currents(reading)
    before = reading_unbalance(reading)
    if currents is None or before is None:
        return
    closed = [(c, c.current_a) for c in reading.channels if c.breaker_closed]  # read once
    loaded = [(c, amps) for c, amps in closed if amps >= MOVABLE_MIN_A]
    free = [c for c, amps in closed if amps < FREE_CHANNEL_MAX_A]
    for source, amps in loaded:
        for target in free:
            if target.phase == source.phase or target.phase not in currents:
                continue
            if amps > reading.load_rating_a(target):
                continue
            after = dict(currents)
            after[source.phase] = max(0.0, after[source.phase] - amps)
            after[target.phase] += amps
            result = unbalance(list(after.values()))
            if result is not None and result < before:
                yield Move(source, target, amps, before, result, after)


def _rank(move: Move) -> tuple[float, float, int, int]:
    """Best first: the lowest unbalance after; on a tie the smaller load moved (less to
    replug), then the lower channel numbers."""
    return (round(move.unbalance_after, 6), move.current_a, move.channel.number,
            move.to_channel.number)  # fmt: skip


def ranked_moves(reading: Reading) -> list[Move]:
    """Moves that lower the unbalance, best first, one per load and phase it goes to (the
    lowest-numbered free channel there). On a tie the smaller load moved comes first (less
    to replug), then the lower channel numbers."""
    ordered = sorted(moves(reading), key=_rank)
    seen: set[tuple[int, str]] = set()
    ranked = []
    for move in ordered:
        if (move.channel.number, move.to_phase) not in seen:
            seen.add((move.channel.number, move.to_phase))
            ranked.append(move)
    return ranked


def best_move(reading: Reading) -> Move | None:
    """The single move that reduces the unbalance most; ``None`` when none reduces it.

    The first of :func:`ranked_moves`, without making every move (``/metrics`` asks for
    it at each new reading of every unit): the free channels on one phase that can carry
    a load all leave the same unbalance after, so only the lowest-numbered of them is
    tried, and only the winner becomes a :class:`Move`.
    """
    currents = line_currents(reading)
    if currents is None:
        return None
    before = unbalance(list(currents.values()))
    if before is None:
        return None
    closed = [(c, c.current_a) for c in reading.channels if c.breaker_closed]  # read once
    free = sorted((c for c, amps in closed if amps < FREE_CHANNEL_MAX_A), key=_number)
    if not free:
        return None
    phases = list(currents)
    lines = list(currents.values())
    takers: dict[str, list[tuple[float, ChannelReading]]] = {}  # by phase, lowest number first
    for c in free:
        takers.setdefault(c.phase, []).append((reading.load_rating_a(c), c))
    to_phases = [(i, takers[phase]) for i, phase in enumerate(phases) if phase in takers]
    best: tuple[tuple[float, float, int, int], ChannelReading, ChannelReading] | None = None
    for source, amps in closed:
        if not amps >= MOVABLE_MIN_A:
            continue
        leaves = phases.index(source.phase)
        for joins, candidates in to_phases:
            if joins == leaves:
                continue
            target = next((c for most, c in candidates if amps <= most), None)
            if target is None:
                continue
            after = lines.copy()  # as moves() computes it, in the phases' order
            after[leaves] = max(0.0, after[leaves] - amps)
            after[joins] += amps
            result = unbalance(after)
            if result is None or not result < before:
                continue
            rank = (round(result, 6), amps, source.number, target.number)
            if best is None or rank < best[0]:
                best = (rank, source, target)
    if best is None:
        return None
    _, source, target = best
    amps = source.current_a
    currents_after = dict(currents)  # as moves() makes it
    currents_after[source.phase] = max(0.0, currents_after[source.phase] - amps)
    currents_after[target.phase] += amps
    result = unbalance(list(currents_after.values()))
    assert result is not None
    return Move(source, target, amps, before, result, currents_after)


def _number(channel: ChannelReading) -> int:
    return channel.number
