"""Notifications: state changes of units and channels, sent as traps or informs.

:class:`StateTracker` turns the store's poll events into events named after the MIB's
NOTIFICATION-TYPEs; :class:`Composer` fills in the OBJECTS each one lists (the unit's
and channel's names, the previous state, the new state or value); :class:`Sender`
queues them and sends them from a task of its own, so the poll loop only ever appends
to a queue.

The first poll result of a unit is its baseline: it is not notified, whatever it shows
(also an e-stop already pressed: the MIB's notifications report changes, and a change
from an unknown state is none; ``c12UnitEstopState`` and the Prometheus alerts show the
state). A unit whose reading goes stale without a failed poll is notified unreachable
with the reason ``stale``. Changes that happened while a unit was unreachable are
notified after ``c12UnitReachable``, against the last reading before it went away.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import limits
from ..measurements import PHASES
from ..reading import ChannelReading, Reading, SupervisionState
from ..store import Change, FleetChange, Store, UnitState
from .cells import CHANNEL_COLUMNS, UNIT_COLUMNS, UnitFacts, camel, deci, milli
from .cells import Value as CellValue
from .mib import SNMPV2_MIB, LoadedMib, MibError, Notification, ObjectType
from .stats import SnmpStats
from .unitindex import UnitIndexes

log = logging.getLogger(__name__)

OVERLOADS = frozenset({"slight_overload", "serious_overload"})
OUTSIDE = frozenset({SupervisionState.BELOW, SupervisionState.ABOVE})
MAX_QUEUED = 10_000
"""Events waiting to be sent beyond this are dropped (and counted)."""
REASON_LENGTH = 255
"""c12NotifReason is a DisplayString."""
STALE = "stale"
SCALAR = (0,)
TEMPERATURE_LIMIT = "c12TemperatureLimit"
UNIT_TABLE = "c12UnitTable"
INPUT_LEVELS = (
    ("over", limits.INPUT_OVER_RATING_RATIO.value),
    ("high", limits.INPUT_NEAR_RATING_RATIO.value),
)
"""C12InputLoad levels above normal, highest first, with the share of the input's rating a
current must exceed to enter them (as the Prometheus rules judge it)."""
CONDUCTORS = {**{phase: phase.lower() for phase in PHASES}, "N": "neutral"}
"""Conductor -> its C12Conductor label."""
CHANNEL_TABLE = "c12ChannelTable"


@dataclass(frozen=True)
class Event:
    """One notification to send, with what its OBJECTS need.

    :param previous: values of the notification-only objects (``c12NotifPrev...``,
        ``c12NotifReason``) by name.
    """

    notification: str
    index: int
    unit: UnitState
    reading: Reading | None
    last_good: Reading | None
    channel: int | None = None
    previous: Mapping[str, CellValue] = field(default_factory=dict)


@dataclass
class _Known:
    """What the tracker last saw of a unit."""

    reachable: bool
    reading: Reading | None
    temperature_c: float | None = None
    temperature_high: bool | None = None
    input_loads: dict[str, str] = field(default_factory=dict)
    """Conductor (L1, L2, L3, N) -> its C12InputLoad label, once it has been read."""


def conductor_currents(reading: Reading) -> dict[str, float]:
    """The current of each conductor of the input the meter reads (none while stopped)."""
    currents = {p.phase: p.current_a for p in reading.phases if p.current_a is not None}
    neutral = reading.values["neutral_current"]
    if isinstance(neutral, int | float):
        currents["N"] = float(neutral)
    return currents


def input_load(current_a: float, rating_a: float, before: str | None) -> str:
    """The C12InputLoad of a conductor: a level is entered at its threshold and left only
    :data:`limits.INPUT_LOAD_HYSTERESIS` of the rating below it."""
    share = current_a / rating_a if rating_a > 0 else 0.0
    margin = limits.INPUT_LOAD_HYSTERESIS.value
    order = [name for name, _ in INPUT_LEVELS]
    for name, threshold in INPUT_LEVELS:
        held = (
            before is not None and before != "normal" and order.index(before) <= order.index(name)
        )
        if share > threshold or (held and share > threshold - margin):
            return name
    return "normal"


class StateTracker:
    """Events from poll results; remembers each unit's last state.

    :param indexes: each unit's c12UnitIndex (the instance of the objects sent).
    """

    def __init__(self, store: Store, temperature_limit_c: float, indexes: UnitIndexes) -> None:
        self.store = store
        self.limit_c = temperature_limit_c
        self.indexes = indexes
        self._known: dict[str, _Known] = {}

    def on_fleet(self, change: FleetChange) -> None:
        """Forget removed units; a reconfigured unit's next poll is a new baseline
        (it may be another device)."""
        for name in (*change.removed, *change.changed):
            self._known.pop(name, None)

    def on_change(self, change: Change) -> list[Event]:
        state, after = change.unit, change.after
        name = state.config.name
        known = self._known.get(name)
        if known is None:
            self._known[name] = known = _Known(after is not None, after)
            self._temperature(known, state, after)  # baseline, never an event
            self._input_loads(known, state, after)
            return []
        if after is None:
            error = state.last_error
            reason = STALE if error is None else f"{error.reason}: {error.message}"
            return self._unreachable(known, state, reason)
        events = []
        if not known.reachable:
            known.reachable = True
            events.append(
                self._event(
                    "c12UnitReachable", state, after, known, c12NotifPrevReachability="unreachable"
                )
            )
        if known.reading is not None:
            events += self._compare(state, known, known.reading, after)
        known.reading = after
        events += self._temperature(known, state, after)
        events += self._input_loads(known, state, after)
        return events

    def on_tick(self, now: float) -> list[Event]:
        """Units that were reachable but whose reading went stale without a failed poll."""
        events = []
        for state in self.store:
            known = self._known.get(state.config.name)
            if (
                known is not None
                and known.reachable
                and self.store.fresh_reading(state, now) is None
            ):
                error = state.last_error
                reason = STALE if error is None else f"{error.reason}: {error.message}"
                events += self._unreachable(known, state, reason)
        return events

    def _unreachable(self, known: _Known, state: UnitState, reason: str) -> list[Event]:
        if not known.reachable:
            return []
        known.reachable = False
        return [
            self._event(
                "c12UnitUnreachable",
                state,
                None,
                known,
                c12NotifPrevReachability="reachable",
                c12NotifReason=reason[:REASON_LENGTH],
            )
        ]

    def _event(
        self,
        notification: str,
        state: UnitState,
        reading: Reading | None,
        known: _Known,
        channel: int | None = None,
        **previous: CellValue,
    ) -> Event:
        return Event(
            notification,
            self.indexes[state.config.name],
            state,
            reading,
            reading or known.reading,
            channel,
            previous,
        )

    def _compare(self, state: UnitState, known: _Known, old: Reading, new: Reading) -> list[Event]:
        events = []

        def unit(flag: str, names: tuple[str, str], labels: tuple[str, str], prev: str) -> None:
            before, after = getattr(old, flag), getattr(new, flag)
            if before != after:
                previous: dict[str, CellValue] = {prev: labels[1] if before else labels[0]}
                events.append(
                    self._event(
                        names[1] if after else names[0], state, new, known, None, **previous
                    )
                )

        unit(
            "estop_pressed",
            ("c12EstopReleased", "c12EstopPressed"),
            ("released", "pressed"),
            "c12NotifPrevEstopState",
        )
        # The causes (e-stop, lost neutral) before the switch they open, so a receiver
        # that acts on the first notification of a burst acts on the cause.
        unit(
            "neutral_lost",
            ("c12NeutralRestored", "c12NeutralLost"),
            ("ok", "lost"),
            "c12NotifPrevNeutralState",
        )
        unit("switch_on", ("c12SwitchOff", "c12SwitchOn"), ("off", "on"), "c12NotifPrevSwitchState")
        before_channels = {c.number: c for c in old.channels}
        for channel in new.channels:
            previous = before_channels.get(channel.number)
            if previous is not None:
                events += self._channel(state, known, new, previous, channel)
        return events

    def _channel(
        self,
        state: UnitState,
        known: _Known,
        reading: Reading,
        old: ChannelReading,
        new: ChannelReading,
    ) -> list[Event]:
        events = []
        number = new.number
        if old.breaker_closed != new.breaker_closed:
            events.append(
                self._event(
                    "c12BreakerClosed" if new.breaker_closed else "c12BreakerOpened",
                    state,
                    reading,
                    known,
                    number,
                    c12NotifPrevBreakerState="closed" if old.breaker_closed else "open",
                )
            )
        if old.load_state != new.load_state and {old.load_state, new.load_state} & OVERLOADS:
            events.append(
                self._event(
                    "c12ChannelLoadStateChanged",
                    state,
                    reading,
                    known,
                    number,
                    c12NotifPrevLoadState=camel(old.load_state),
                )
            )
        before, after = old.supervision_state, new.supervision_state
        name = None
        if after in OUTSIDE and after != before:
            name = "c12ChannelOutsideBand"
        elif before in OUTSIDE and after not in OUTSIDE:
            name = "c12ChannelInsideBand"
        if name is not None:
            events.append(
                self._event(
                    name, state, reading, known, number, c12NotifPrevSupervisionState=before.value
                )
            )
        return events

    def _input_loads(self, known: _Known, state: UnitState, reading: Reading | None) -> list[Event]:
        """c12InputLoadChanged for each conductor whose level changed (the first reading
        of a conductor is its baseline)."""
        if reading is None:
            return []
        rating = reading.model.input_rating_a
        events = []
        for conductor, amps in conductor_currents(reading).items():
            before = known.input_loads.get(conductor)
            now = input_load(amps, rating, before)
            known.input_loads[conductor] = now
            if before is not None and now != before:
                events.append(
                    self._event(
                        "c12InputLoadChanged",
                        state,
                        reading,
                        known,
                        c12NotifConductor=CONDUCTORS[conductor],
                        c12NotifPrevInputLoad=before,
                        c12NotifInputLoad=now,
                        c12NotifConductorCurrent=milli(amps),
                        c12NotifInputRating=milli(rating),
                    )
                )
        return events

    def _temperature(self, known: _Known, state: UnitState, reading: Reading | None) -> list[Event]:
        if reading is None or reading.temperature_c is None:
            return []
        now_c = reading.temperature_c
        high = now_c > self.limit_c
        events = []
        if known.temperature_high is not None and high != known.temperature_high:
            previous = known.temperature_c
            events.append(
                self._event(
                    "c12TemperatureHigh" if high else "c12TemperatureNormal",
                    state,
                    reading,
                    known,
                    c12NotifPrevTemperature=None if previous is None else deci(previous),
                )
            )
        known.temperature_high, known.temperature_c = high, now_c
        return events


class Composer:
    """The variable bindings of an event: sysUpTime.0 and snmpTrapOID.0 (RFC 3416 4.2.6),
    then the notification's OBJECTS.

    :param uptime: the agent's sysUpTime in hundredths of a second.
    """

    def __init__(
        self, mib: LoadedMib, temperature_limit_c: float, uptime: Callable[[], int]
    ) -> None:
        self.mib = mib
        self.limit = deci(temperature_limit_c)
        self.uptime = uptime
        self.notifications = mib.notifications()
        self.sys_up_time = mib.object("sysUpTime", SNMPV2_MIB)
        self.trap_oid = mib.object("snmpTrapOID", SNMPV2_MIB)
        self._objects: dict[tuple[str, str], ObjectType] = {}
        for notification in self.notifications.values():
            for module, name in notification.objects:
                obj = mib.object(name, module)
                if obj.table not in (None, UNIT_TABLE, CHANNEL_TABLE):
                    raise MibError(f"{notification.name}: cannot send {name} of {obj.table}")
                self._objects[module, name] = obj

    def notification(self, name: str) -> Notification:
        return self.notifications[name]

    def varbinds(self, event: Event) -> list[tuple[Any, Any]]:
        notification = self.notifications[event.notification]
        facts = UnitFacts(
            event.index,
            event.unit.config.name,
            event.unit.config.address,
            event.reading,
            event.last_good,
        )
        channel = self._channel(event)
        out = [
            (self.sys_up_time.oid + SCALAR, self.sys_up_time.value(self.uptime())),
            (self.trap_oid.oid + SCALAR, self.trap_oid.value(notification.oid)),
        ]
        for key in notification.objects:
            obj = self._objects[key]
            if obj.table == UNIT_TABLE:
                suffix: tuple[int, ...] = (event.index,)
                value = UNIT_COLUMNS[obj.name](facts)
            elif obj.table == CHANNEL_TABLE:
                if channel is None or event.reading is None:
                    continue
                suffix = (event.index, channel.number)
                value = CHANNEL_COLUMNS[obj.name](channel, event.reading)
            elif obj.name == TEMPERATURE_LIMIT:
                suffix, value = SCALAR, self.limit
            else:
                suffix, value = SCALAR, event.previous.get(obj.name)
            if value is None:
                continue  # not available, or not known (e.g. no earlier temperature)
            out.append((obj.oid + suffix, obj.value(obj.raw(value))))
        return out

    @staticmethod
    def _channel(event: Event) -> ChannelReading | None:
        if event.channel is None or event.reading is None:
            return None
        return next((c for c in event.reading.channels if c.number == event.channel), None)


Send = Callable[[str, Sequence[tuple[Any, Any]]], None]
"""Sends one notification (its name, its variable bindings) to every receiver."""


class Sender:
    """Queues events from the store's listener and sends them from its own task.

    Counts on ``stats``: ``c12_snmp_notifications_sent_total{notification}``, and
    ``..._failed_total{notification, reason}`` with reason ``queue_full`` (more than
    :data:`MAX_QUEUED` waiting) or ``error`` (could not be sent).
    """

    def __init__(
        self,
        store: Store,
        tracker: StateTracker,
        composer: Composer,
        send: Send,
        tick_s: float,
        stats: SnmpStats,
    ) -> None:
        self.tracker = tracker
        self.composer = composer
        self._send = send
        self.tick_s = tick_s
        self.stats = stats
        self._queue: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self._stopped = False
        self._tasks = [
            asyncio.create_task(self._run(), name="snmp notifications"),
            asyncio.create_task(self._tick(), name="snmp staleness"),
        ]
        self._store = store
        store.subscribe(self.on_change)
        store.watch_fleet(tracker.on_fleet)

    @property
    def pending(self) -> int:
        """Events queued and not sent yet."""
        return len(self._queue)

    def on_change(self, change: Change) -> None:
        """Store listener (the poll loop): decide and queue, never send here."""
        if not self._stopped:
            self._enqueue(self.tracker.on_change(change))

    def _enqueue(self, events: list[Event]) -> None:
        for event in events:
            if len(self._queue) >= MAX_QUEUED:
                self.stats.notifications_failed.labels(event.notification, "queue_full").inc()
                continue
            self._queue.append(event)
        if events:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                event = self._queue.popleft()
                try:
                    self._send(event.notification, self.composer.varbinds(event))
                except Exception as error:
                    self.stats.notifications_failed.labels(event.notification, "error").inc()
                    log.warning("SNMP notification %s not sent: %s", event.notification, error)
                else:
                    self.stats.notifications_sent.labels(event.notification).inc()
                    log.info(
                        "SNMP notification %s for %s%s",
                        event.notification,
                        event.unit.config.name,
                        "" if event.channel is None else f" channel {event.channel}",
                    )
                await asyncio.sleep(0)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            self._enqueue(self.tracker.on_tick(time.time()))

    async def stop(self) -> None:
        self._stopped = True
        self._store.unsubscribe(self.on_change)
        self._store.unwatch_fleet(self.tracker.on_fleet)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
