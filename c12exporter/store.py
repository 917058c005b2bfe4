"""The latest reading and poll health of every unit, and the events between them.

The poller writes here; every exposer (Prometheus collector, SNMP agent) reads
here. A reading is served only while the last poll succeeded and it is younger
than the staleness limit: a unit that cannot be read is never shown with old
numbers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .reading import Reading
from .settings import UnitConfig


@dataclass(frozen=True, slots=True)
class PollError:
    reason: str
    message: str
    at: float


@dataclass(slots=True)  # one per unit: no __dict__ each
class UnitState:
    """What is known about one configured unit."""

    config: UnitConfig
    reading: Reading | None = None
    last_success_at: float | None = None
    last_error: PollError | None = None
    last_duration_s: float | None = None
    polls_total: int = 0
    errors_total: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Change:
    """A poll's outcome for listeners: ``before``/``after`` are the served readings
    (``None`` while the unit is unreachable)."""

    unit: UnitState
    before: Reading | None
    after: Reading | None


Listener = Callable[[Change], None]


@dataclass(frozen=True)
class FleetChange:
    """Units that joined, left or were reconfigured (a reload, later discovery).

    ``changed`` units keep their poll counters; their reading is dropped until the next
    poll, since a new address or model may mean another unit."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


FleetListener = Callable[[FleetChange], None]


class Store:
    """Latest state per unit, in config order."""

    def __init__(self, units: tuple[UnitConfig, ...], staleness_s: float) -> None:
        self.staleness_s = staleness_s
        self._units = {u.name: UnitState(u) for u in units}
        self._listeners: list[Listener] = []
        self._fleet_listeners: list[FleetListener] = []

    def __iter__(self) -> Iterator[UnitState]:
        return iter(list(self._units.values()))

    def __len__(self) -> int:
        return len(self._units)

    def get(self, name: str) -> UnitState | None:
        return self._units.get(name)

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` after every recorded poll (from the poller's event loop)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        """Stop calling ``listener`` (a stopped exposer)."""
        self._listeners.remove(listener)

    def watch_fleet(self, listener: FleetListener) -> None:
        """Call ``listener`` after units are added, removed or reconfigured."""
        self._fleet_listeners.append(listener)

    def unwatch_fleet(self, listener: FleetListener) -> None:
        self._fleet_listeners.remove(listener)

    def reconcile(self, units: tuple[UnitConfig, ...]) -> FleetChange:
        """Make the store hold exactly ``units``, in that order.

        Units whose config is unchanged keep everything; units whose config changed keep
        their counters and lose their reading; new units start empty; the rest go.
        """
        old = self._units
        new: dict[str, UnitState] = {}
        added, changed = [], []
        for config in units:
            state = old.get(config.name)
            if state is None:
                state = UnitState(config)
                added.append(config.name)
            elif state.config != config:
                state.config = config
                state.reading = None
                changed.append(config.name)
            new[config.name] = state
        removed = tuple(name for name in old if name not in new)
        self._units = new
        change = FleetChange(tuple(added), removed, tuple(changed))
        if change:
            for listener in list(self._fleet_listeners):
                listener(change)
        return change

    def fresh_reading(self, state: UnitState, now: float | None = None) -> Reading | None:
        """The unit's reading if its last poll succeeded and is within the staleness limit."""
        reading = state.reading
        if reading is None or state.last_error is not None:
            return None
        if (now if now is not None else time.time()) - reading.taken_at > self.staleness_s:
            return None
        return reading

    def record_success(self, name: str, reading: Reading, duration_s: float) -> None:
        state = self._units.get(name)
        if state is None:  # removed while its poll was in flight
            return
        before = self.fresh_reading(state, reading.taken_at)
        state.reading = reading
        state.last_success_at = reading.taken_at
        state.last_error = None
        state.last_duration_s = duration_s
        state.polls_total += 1
        self._notify(Change(state, before, reading))

    def record_failure(self, name: str, reason: str, message: str, duration_s: float) -> None:
        state = self._units.get(name)
        if state is None:
            return
        now = time.time()
        before = self.fresh_reading(state, now)
        state.reading = None
        state.last_error = PollError(reason, message, now)
        state.last_duration_s = duration_s
        state.polls_total += 1
        state.errors_total[reason] += 1
        self._notify(Change(state, before, None))

    def _notify(self, change: Change) -> None:
        for listener in self._listeners:
            listener(change)
