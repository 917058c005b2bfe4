"""The heat of each channel's breaker, and when each overloaded one will trip.

The exporter keeps, per unit and channel, the heat the breaker has taken (0 cold, 1
trip) by the unit model's curve and its dashpot rule
(:class:`c12exporter.breaker.BreakerCurve`): between two successive readings the current
of the earlier one is taken to have flowed for the time between them (the readings'
``taken_at``; 0 A while the breaker reads open). The heat survives every opening of the
breaker, whatever opened it, and relaxes while it is open, as the simulator's does. A
channel first seen is taken to have carried its present current long enough to sit at
that current's equilibrium (cold, 0, if it is above the non-tripping current: the
exporter cannot know for how long it has been). While a unit cannot be read nothing is
added; its next reading covers the gap with the last current seen.

The heat of every channel is kept (:meth:`TripForecast.heat`). The forecast of a channel
is the time left at its present current, ``(1 - heat) x trip_time(I / In)``, for a closed
breaker drawing more than its rating at a current its curve trips at; other channels
have none (their heat still says how close a new overload would start to a trip).

Updated from the store's poll events (:meth:`Store.subscribe`); a reader asking about a
newer reading than the last event brought is answered from it at once, so the order in
which listeners run does not matter.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from .reading import Reading
from .store import Change, FleetChange, Store


@dataclass(slots=True)  # one per channel of the fleet: no __dict__ each
class _Heat:
    """One breaker as the exporter follows it: progress, and what flowed since when."""

    at: float
    progress: float = 0.0
    multiple: float = 0.0


@dataclass(slots=True)
class _Unit:
    reading: Reading
    heat: dict[int, _Heat] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)


class TripForecast:
    """The heat of every channel's breaker and the seconds until each overloaded one trips,
    per unit, from the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._units: dict[str, _Unit] = {}
        store.subscribe(self._on_change)
        store.watch_fleet(self._on_fleet)

    def close(self) -> None:
        """Stop following the store."""
        with contextlib.suppress(ValueError):
            self.store.unsubscribe(self._on_change)
        with contextlib.suppress(ValueError):
            self.store.unwatch_fleet(self._on_fleet)

    def of(self, reading: Reading) -> Mapping[int, float]:
        """Channel number -> seconds until its breaker trips at the present current, for
        ``reading`` (the unit's latest); channels with no forecast are left out."""
        with self._lock:
            unit = self._follow(reading)
            return dict(unit.seconds) if unit is not None else {}

    def heat(self, reading: Reading) -> Mapping[int, float]:
        """Channel number -> the heat of its breaker (0 cold, 1 trip) for ``reading`` (the
        unit's latest), for every channel; empty for an older reading."""
        with self._lock:
            unit = self._follow(reading)
            return {n: h.progress for n, h in unit.heat.items()} if unit is not None else {}

    def progress(self, unit: str, channel: int) -> float:
        """The heat accumulated so far by a channel's breaker (0 cold, 1 trip)."""
        with self._lock:
            followed = self._units.get(unit)
            heat = None if followed is None else followed.heat.get(channel)
            return 0.0 if heat is None else heat.progress

    # --- store events ------------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        if change.after is not None:
            with self._lock:
                self._follow(change.after)

    def _on_fleet(self, change: FleetChange) -> None:
        with self._lock:
            for name in (*change.removed, *change.changed):
                self._units.pop(name, None)

    # --- the computation ---------------------------------------------------------------

    def _follow(self, reading: Reading) -> _Unit | None:
        """Bring the unit's breakers up to ``reading``; ``None`` for an older reading."""
        unit = self._units.get(reading.unit)
        if unit is not None and unit.reading is reading:
            return unit
        if unit is not None and reading.taken_at < unit.reading.taken_at:
            return None
        if unit is None:
            unit = self._units[reading.unit] = _Unit(reading)
        unit.reading = reading
        curve = reading.model.breaker
        unit.seconds = {}
        for channel in reading.channels:
            multiple = channel.current_a / channel.rating_a if channel.rating_a > 0 else 0.0
            if not channel.breaker_closed:
                multiple = 0.0
            heat = unit.heat.get(channel.number)
            if heat is None:
                start = 0.0 if curve.heats(multiple) else curve.equilibrium(multiple)
                heat = unit.heat[channel.number] = _Heat(reading.taken_at, start, multiple)
            progress, trip_in = curve.after(
                heat.progress, heat.multiple, reading.taken_at - heat.at
            )
            heat.at = reading.taken_at
            heat.progress = 1.0 if trip_in is not None else progress
            heat.multiple = multiple
            if not channel.breaker_closed:
                continue
            if multiple > 1.0:
                seconds = curve.remaining_s(heat.progress, multiple)
                if not math.isinf(seconds):
                    unit.seconds[channel.number] = seconds
        return unit
