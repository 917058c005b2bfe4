"""Background polling: one asyncio task per unit, a fleet-wide concurrency cap.

Each poll opens (or reuses) the unit's connection, which reads its identity once, asks
the transport for one poll's decoded values, and records a
:class:`~c12exporter.reading.Reading` or a failure with its reason in the
:class:`~c12exporter.store.Store`. A failure closes the connection; reconnects back off
exponentially. A slow unit only ever costs its own timeout, never another unit's poll.

Settings writes from every exposer take one path (:meth:`Poller.write_settings`): the
unit's own connection, serialised with its polls, then read back. The fleet can change
while running (:meth:`Poller.reconcile`): unchanged units keep their connection,
reading and counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .catalogue import declared
from .model import ModelError, UnitModel
from .reading import ChannelSettings, Identity, Reading, Settings, UnitSettings, build_reading
from .resolve import printable
from .settings import PollConfig, UnitConfig
from .store import Store
from .telemetry import Telemetry
from .transport import Transport, TransportError, TransportFactory, WriteError, stray_message

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
BACKOFF_INTERVALS = 2.0
"""Reconnect attempts back off 1 s, 2 s, 4 s, ... up to two poll intervals (at most a
minute), so a unit that comes back is read again within two intervals."""
CANCEL_RETRY_S = 0.1
PROBE_GRACE_S = 0.25
"""A probe waits this long beyond the poll timeout, so a poll that times out itself is
recorded before the probe answers."""
BAND_TOLERANCE_A = 1e-6


class UnitResolver(Protocol):
    """What the poller needs from the plugins: transports by name, models by name."""

    @property
    def transports(self) -> Mapping[str, TransportFactory]: ...

    def model(self, name: str) -> UnitModel: ...


class PollFailure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Connection:
    """A unit's open transport and what was learnt when it opened."""

    transport: Transport
    identity: Identity
    model: UnitModel


class UnitReader:
    """Reads one unit; keeps its connection between polls. ``lock`` serialises polls
    and writes on that connection."""

    def __init__(
        self,
        unit: UnitConfig,
        resolver: UnitResolver,
        timeout_s: float,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self.unit = unit
        self.resolver = resolver
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.lock = asyncio.Lock()
        self._connection: Connection | None = None
        self._transport: Transport | None = None  # the one being opened or in use
        self._failures = 0
        self._retry_at = 0.0

    @property
    def backing_off(self) -> bool:
        return self._connection is None and time.monotonic() < self._retry_at

    async def read(self) -> Reading:
        """One poll, within the unit's timeout. Raises :class:`PollFailure`."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._read()
        except TimeoutError:
            stray = self._transport.stray_bytes if self._transport else 0
            await self._drop()
            if stray:
                raise PollFailure(
                    "protocol", f"unit {self.unit.name}: {stray_message(self.unit.address, stray)}"
                ) from None
            raise PollFailure(
                "timeout",
                f"unit {self.unit.name} ({self.unit.address}): no answer within "
                f"{self.timeout_s:g}s",
            ) from None
        except TransportError as error:
            await self._drop()
            raise PollFailure(error.reason, f"unit {self.unit.name}: {error}") from None
        except ModelError as error:
            await self._drop()
            raise PollFailure("model", f"unit {self.unit.name}: {error}") from None
        except asyncio.CancelledError:
            await self._abandon()
            raise
        except Exception as error:  # a bug or a library surprise must not end the polling
            log.exception("unit %r: unexpected error while polling", self.unit.name)
            await self._drop()
            raise PollFailure("internal", f"unit {self.unit.name}: {error!r}") from None

    def transport_for_checks(self) -> Transport:
        """The open transport, or a new unopened one (checks need no connection)."""
        if self._connection is not None:
            return self._connection.transport
        return self.resolver.transports[self.unit.transport](self.unit.address, self.timeout_s)

    async def write(self, changes: Sequence[Settings]) -> None:
        """Write on the unit's connection (opening it if needed). Hold :attr:`lock`."""
        try:
            async with asyncio.timeout(self.timeout_s):
                connection = self._connection or await self._connect()
                await connection.transport.write(changes)
        except TimeoutError:
            await self._drop()
            raise WriteError(
                "unreachable", f"unit {self.unit.name}: no answer within {self.timeout_s:g}s"
            ) from None
        except WriteError as error:
            await self._drop()
            if self.unit.name in str(error):
                raise
            raise WriteError(error.reason, f"unit {self.unit.name}: {error}") from None
        except (TransportError, ModelError) as error:
            await self._drop()
            raise WriteError("unreachable", f"unit {self.unit.name}: {error}") from None
        except asyncio.CancelledError:
            await self._abandon()
            raise

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.transport.close()
            self._connection = None

    async def _read(self) -> Reading:
        connection = self._connection or await self._connect()
        # The reading's time is when it was asked for: the measurements (the uptime among
        # them) come in the first answer, before the settings blocks, however slow those.
        asked_at = time.time()
        values = await connection.transport.read()
        self._failures = 0
        return build_reading(
            self.unit.name,
            connection.identity,
            connection.model,
            asked_at,
            values,
            self.unit.supervision,
        )

    async def _connect(self) -> Connection:
        factory = self.resolver.transports[self.unit.transport]
        transport = factory(self.unit.address, self.timeout_s)
        self._transport = transport
        try:
            identity = await transport.connect()
            if self.unit.serial and identity.serial != self.unit.serial:
                raise TransportError(
                    "identity",
                    f"{self.unit.address} answers as serial {identity.serial!r}, not "
                    f"{self.unit.serial!r}: another unit took the address; run "
                    "`c12exporter discover` again or correct serial:",
                )
            model = self.resolver.model(self.unit.model or identity.model)
            if self.unit.phases:
                model = model.with_phases(self.unit.phases)
        except BaseException:
            await transport.close()
            raise
        self._connection = Connection(transport, identity, model)
        return self._connection

    async def _abandon(self) -> None:
        """Close a connection left in the middle of a request (its reply would come out
        of step); not a failure of the unit, so no backoff."""
        with contextlib.suppress(Exception):
            await self.close()

    async def _drop(self) -> None:
        with contextlib.suppress(Exception):
            await self.close()
        self._failures += 1
        backoff = min(self.max_backoff_s, 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + backoff


class Poller:
    """Polls every unit of the fleet on the interval and records results in the store."""

    def __init__(
        self,
        units: tuple[UnitConfig, ...],
        resolver: UnitResolver,
        store: Store,
        poll: PollConfig,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.poll = poll
        self.store = store
        self.resolver = resolver
        self.readers = {u.name: self._reader(u) for u in units}
        self._limit = asyncio.Semaphore(poll.concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._probes: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._epoch = time.monotonic()
        self._places: dict[str, float] = {}
        telemetry = telemetry or Telemetry()
        self._writes = telemetry.counter_of(declared("setting_writes"))

    def _reader(self, unit: UnitConfig) -> UnitReader:
        return UnitReader(unit, self.resolver, self.poll.timeout_s, _max_backoff(self.poll))

    def start(self) -> None:
        """Start polling: every unit is read at once (within the concurrency cap), then
        on the interval, spread over it."""
        self._started = True
        self._epoch = time.monotonic()
        self._places = self._spread()
        for name in self.readers:
            self._start_task(name)

    def _spread(self) -> dict[str, float]:
        """Each unit's place in the interval, as a share of it: the units are polled in
        the store's order, evenly spread, so the units polled in any short while are
        neighbours in ``/metrics`` (what a scrape then renders again is a few blocks of the
        fleet's text, :mod:`.prometheus.fleet_text`, not a few lines of every block)."""
        names = [state.config.name for state in self.store]
        return {name: i / len(names) for i, name in enumerate(names)}

    async def stop(self) -> None:
        self._started = False
        tasks = [*self._tasks.values(), *self._probes.values()]
        self._tasks.clear()
        self._probes.clear()
        await _cancel(tasks)
        await asyncio.gather(*(r.close() for r in self.readers.values()), return_exceptions=True)

    async def reconcile(self, units: tuple[UnitConfig, ...], poll: PollConfig) -> None:
        """Follow a new unit list and poll settings without stopping: unchanged units keep
        their connection, reading and counters; changed units reconnect and are read at
        once; new units are read at once; removed units are closed and forgotten."""
        if poll != self.poll:
            self.poll = poll
            self._limit = asyncio.Semaphore(poll.concurrency)
            self.store.staleness_s = poll.staleness_limit_s
            for reader in self.readers.values():
                reader.timeout_s = poll.timeout_s
                reader.max_backoff_s = _max_backoff(poll)
            restart = set(self.readers)  # new timing for every unit
        else:
            restart = set()
        change = self.store.reconcile(units)
        for name in (*change.removed, *change.changed):
            await self._stop_task(name)
            reader = self.readers.pop(name)
            await reader.close()
        for unit in units:
            if unit.name in change.added or unit.name in change.changed:
                self.readers[unit.name] = self._reader(unit)
                restart.add(unit.name)
        if self._started:
            self._places = self._spread()
            for name in restart & set(self.readers):
                await self._stop_task(name)
                self._start_task(name)

    async def poll_unit(self, name: str) -> None:
        """Poll one unit of the fleet now and record the result (``/probe`` by name)."""
        await self._poll_into(self.readers[name], self.store)

    async def probe_unit(self, name: str) -> None:
        """Poll one unit of the fleet for ``/probe``, waiting at most the poll timeout.

        Concurrent probes of a unit share one poll, which runs on the unit's connection
        under its lock like any other; a probe that has waited the poll timeout returns
        (the store then holds the latest result) and the poll finishes on its own."""
        task = self._probes.get(name)
        if task is None:
            task = asyncio.create_task(self.poll_unit(name), name=f"probe {name}")
            self._probes[name] = task
            task.add_done_callback(lambda done: self._probe_done(name, done))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self.poll.timeout_s + PROBE_GRACE_S)

    def _probe_done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._probes.get(name) is task:
            del self._probes[name]
        if not task.cancelled() and task.exception() is not None:
            log.warning("unit %r: probe failed: %r", name, task.exception())

    async def probe_address(self, name: str, address: str) -> Store:
        """Read a unit that is not in the fleet, once, over a connection of its own that
        is always closed (``/probe?target=host:port``, the pure multi-target pattern),
        within the poll timeout. The result goes to a store of its own, the unit named
        ``name``; nothing is kept."""
        unit = UnitConfig(name=name, address=address)
        store = Store((unit,), self.poll.staleness_limit_s)
        reader = self._reader(unit)
        try:
            async with asyncio.timeout(self.poll.timeout_s):
                await self._limit.acquire()
        except TimeoutError:
            store.record_failure(
                name,
                "timeout",
                f"unit {name}: more than {self.poll.concurrency} polls in flight for "
                f"{self.poll.timeout_s:g}s; not polled",
                self.poll.timeout_s,
            )
            return store
        try:
            await self._read_into(reader, store)
        finally:
            self._limit.release()
            await reader.close()
        return store

    def check_settings(self, name: str, changes: Sequence[Settings]) -> None:
        """Raise :class:`WriteError` if ``changes`` cannot be written exactly; writes nothing."""
        reader = self.readers.get(name)
        if reader is None:
            raise WriteError("unknown_unit", f"unit {name!r} is not in the fleet")
        for change in changes:
            if not isinstance(change, ChannelSettings):
                continue
            if change.limits and change.channel in reader.unit.supervision:
                raise WriteError(
                    "invalid",
                    f"unit {name}: channel {change.channel}: the supervision band is fixed "
                    "by the config file (supervision:); change it there",
                )
        reader.transport_for_checks().check(changes)

    async def write_settings(self, name: str, changes: Sequence[Settings]) -> Reading:
        """Write channel and unit settings to a unit on its own connection, serialised with its
        polls; then poll it and check that it reads back what was written.

        :returns: the reading taken after the write (also recorded in the store).
        :raises WriteError: nothing is written when the reason is ``invalid`` or
            ``unknown_unit``.
        """
        try:
            self.check_settings(name, changes)
            reader = self.readers[name]
            async with self._limit, reader.lock:
                await reader.write(changes)
                log.info("unit %s: wrote %s", name, "; ".join(c.describe() for c in changes))
                reading = await self._read_into(reader, self.store)
            if reading is None:
                raise WriteError(
                    "not_read_back", f"unit {name}: written, but the unit could not be read back"
                )
            _check_read_back(name, reading, changes)
        except WriteError as error:
            self._writes.labels(error.reason).inc()
            raise
        self._writes.labels("written").inc()
        return reading

    async def _poll_into(self, reader: UnitReader, store: Store) -> None:
        async with self._limit, reader.lock:
            await self._read_into(reader, store)

    async def _read_into(self, reader: UnitReader, store: Store) -> Reading | None:
        name = reader.unit.name
        started = time.perf_counter()
        try:
            reading = await reader.read()
        except PollFailure as failure:
            log.debug("%s", printable(str(failure)))
            store.record_failure(name, failure.reason, str(failure), time.perf_counter() - started)
            return None
        store.record_success(name, reading, time.perf_counter() - started)
        return reading

    def _start_task(self, name: str) -> None:
        self._tasks[name] = asyncio.create_task(self._run(name), name=f"poll {name}")

    async def _stop_task(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        if task is not None:
            await _cancel([task])

    async def _run(self, name: str) -> None:
        interval = self.poll.interval_s
        reader = self.readers[name]
        await self.poll_unit(name)  # at once: no reachable unit shows down for an interval
        # Then at the unit's place in the interval, so a large fleet is not read in one burst.
        place = self._epoch + self._places.get(name, 0.0) * interval
        next_at = place + math.ceil((time.monotonic() - place) / interval) * interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            if next_at < time.monotonic():  # fell behind: skip, never queue up polls
                next_at = time.monotonic() + interval
            if reader.backing_off:
                continue
            await self.poll_unit(name)


def _max_backoff(poll: PollConfig) -> float:
    return min(MAX_BACKOFF_S, BACKOFF_INTERVALS * poll.interval_s)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait for them. A cancellation that lands while a Modbus reply
    arrives can be lost inside the client library (``asyncio.wait_for`` before Python
    3.12), so the request is repeated until each task has ended."""
    pending = set(tasks)
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=CANCEL_RETRY_S)


def _check_read_back(name: str, reading: Reading, changes: Sequence[Settings]) -> None:
    channels = {c.number: c for c in reading.channels}
    for change in changes:
        if isinstance(change, UnitSettings):
            if reading.stored_name != change.name:
                raise WriteError(
                    "not_read_back",
                    f"unit {name}: wrote unit name {change.name!r}, "
                    f"reads back {reading.stored_name!r}",
                )
            continue
        channel = channels[change.channel]
        if change.name is not None and channel.name != change.name:
            raise WriteError(
                "not_read_back",
                f"unit {name}: channel {change.channel}: wrote name {change.name!r}, "
                f"reads back {channel.name!r}",
            )
        held = {"supervision_min": channel.supervision.min_a,
                "supervision_max": channel.supervision.max_a}  # fmt: skip
        for field, wrote in change.limits.items():
            read = held[field]
            if (wrote is None) != (read is None) or (
                wrote is not None and read is not None and abs(wrote - read) > BAND_TOLERANCE_A
            ):
                raise WriteError(
                    "not_read_back",
                    f"unit {name}: channel {change.channel}: wrote {field.replace('_', ' ')} "
                    f"{wrote} A, reads back {read} A",
                )
