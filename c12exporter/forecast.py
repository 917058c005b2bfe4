"""When each overloaded channel's breaker will trip, from its curve and the load so far.

The exporter keeps, per unit and channel, the heat the breaker has taken (its progress
towards a trip, 0 to 1) by the unit model's curve and heat rule
(:class:`c12exporter.breaker.BreakerCurve`): between two successive readings the current
of the earlier one is taken to have flowed for the time between them (the readings'
``taken_at``). A breaker that reads open starts again from 0; so does a channel first
seen (a breaker is assumed cold when the exporter starts or a unit is added). While a
unit cannot be read nothing is added; its next reading covers the gap with the last
current seen.

The forecast of a channel is the time left at its present current,
``(1 - progress) x trip_time(I / In)``, for a closed breaker drawing more than its
rating at a current its curve trips at. Other channels have none.

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


@dataclass
class _Heat:
    """One breaker as the exporter follows it: progress, and what flowed since when."""

    at: float
    progress: float = 0.0
    multiple: float = 0.0


@dataclass
class _Unit:
    reading: Reading
    heat: dict[int, _Heat] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)


class TripForecast:
    """Seconds until each overloaded channel's breaker trips, per unit, from the store."""

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
            heat = unit.heat.get(channel.number)
            if heat is None:
                heat = unit.heat[channel.number] = _Heat(reading.taken_at)
            progress, trip_in = curve.after(
                heat.progress, heat.multiple, reading.taken_at - heat.at
            )
            heat.at = reading.taken_at
            heat.progress = 1.0 if trip_in is not None else progress
            multiple = channel.current_a / channel.rating_a if channel.rating_a > 0 else 0.0
            if not channel.breaker_closed:
                heat.progress, heat.multiple = 0.0, 0.0
                continue
            heat.multiple = multiple
            if multiple > 1.0:
                seconds = curve.remaining_s(heat.progress, multiple)
                if not math.isinf(seconds):
                    unit.seconds[channel.number] = seconds
        return unit
