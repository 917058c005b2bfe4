"""The states a reading shows, and the changes between two sets of them.

A state is keyed by ``(channel, kind)``; ``channel`` 0 is the unit itself. Kinds:

* ``reachable`` - ``up`` or ``down`` (the poll failed; ``detail`` is its reason);
* ``emergency_stop`` - ``released`` / ``pressed``;
* ``switch_disconnector`` - ``on`` / ``off``;
* ``neutral`` - ``ok`` / ``lost``;
* ``breaker`` (per channel) - ``closed`` / ``open`` (the reading carries no cause: an
  open RCBO tripped, was tested with its T button or was switched off by hand);
* ``supervision`` (per channel) - ``below`` / ``within`` / ``above`` / ``disabled``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from ..reading import Reading, SupervisionState

UNIT_CHANNEL = 0
"""The ``channel`` of a unit-wide state."""
UNIT_KINDS = ("emergency_stop", "switch_disconnector", "neutral")
"""Unit-wide state measurements recorded as they are named in the reading."""
REACHABLE = "reachable"
BREAKER = "breaker"
SUPERVISION = "supervision"
KINDS = (REACHABLE, *UNIT_KINDS, BREAKER, SUPERVISION)
SUPERVISION_NAMES: Mapping[str, str] = {
    SupervisionState.BELOW.value: "below",
    SupervisionState.OK.value: "within",
    SupervisionState.ABOVE.value: "above",
    SupervisionState.DISABLED.value: "disabled",
}
"""A supervision state's value -> its name in the history."""

Key = tuple[int, str]
"""``(channel, kind)``; channel 0 for the unit."""


@functools.cache
def key(channel: int, kind: str) -> Key:
    """The one ``(channel, kind)`` tuple the whole fleet shares: the history keeps some 30
    states per unit twice (state and since), and a tuple of its own for each was most of
    that memory. Channels and kinds are few (a model's channels, :data:`KINDS`)."""
    return (channel, kind)


UNIT_KEYS = tuple(key(UNIT_CHANNEL, kind) for kind in UNIT_KINDS)
UP = key(UNIT_CHANNEL, REACHABLE)


@dataclass(frozen=True)
class Event:
    """One recorded state: a change (``previous`` set) or a baseline (``previous`` None:
    the first time this state of this unit was seen)."""

    at: float
    unit: str
    channel: int | None
    kind: str
    state: str
    previous: str | None
    detail: str = ""

    @property
    def key(self) -> Key:
        return key(self.channel or UNIT_CHANNEL, self.kind)


def states_of(reading: Reading) -> dict[Key, str]:
    """Every recorded state a successful poll shows."""
    values = reading.values
    states: dict[Key, str] = {UP: "up"}
    for unit_key, kind in zip(UNIT_KEYS, UNIT_KINDS, strict=True):
        states[unit_key] = str(values[kind])
    for channel in reading.channels:
        number = channel.number
        states[key(number, BREAKER)] = str(channel.values["channel_breaker"])
        states[key(number, SUPERVISION)] = SUPERVISION_NAMES[channel.supervision_state.value]
    return states


def changes(
    unit: str,
    at: float,
    known: Mapping[Key, str],
    seen: Mapping[Key, str],
    details: Mapping[Key, str] | None = None,
) -> list[Event]:
    """The events between the last recorded states ``known`` and those ``seen`` now: a
    change where they differ, a baseline where nothing was recorded yet. States not seen
    (a failed poll shows only ``reachable``) keep their last recorded value."""
    events = []
    for key, state in seen.items():
        previous = known.get(key)
        if previous == state:
            continue
        channel, kind = key
        events.append(
            Event(
                at,
                unit,
                None if channel == UNIT_CHANNEL else channel,
                kind,
                state,
                previous,
                (details or {}).get(key, ""),
            )
        )
    return events
