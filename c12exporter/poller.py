"""Background polling: one asyncio task per unit, a fleet-wide concurrency cap.

Each poll opens (or reuses) the unit's connection, reads identification once per
connection, reads every register block (one request each), decodes and checks
the values, and records a :class:`~c12exporter.reading.Reading` or a failure with
its reason in the :class:`~c12exporter.store.Store`. A failure closes the
connection; reconnects back off exponentially. A slow unit only ever costs its
own timeout, never another unit's poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from dataclasses import dataclass

from .config import PollConfig, UnitConfig
from .model import ModelError, UnitModel
from .plugins import Plugins
from .reading import Reading, build_reading
from .registermap import C12B_V1, MapError, RegisterMap
from .store import Store
from .transport import Identity, Transport, TransportError, stray_message

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0


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
    """Reads one unit; keeps its connection between polls."""

    def __init__(
        self, unit: UnitConfig, plugins: Plugins, timeout_s: float, register_map: RegisterMap
    ) -> None:
        self.unit = unit
        self.plugins = plugins
        self.timeout_s = timeout_s
        self.register_map = register_map
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
        except (TransportError, MapError) as error:
            await self._drop()
            raise PollFailure(error.reason, f"unit {self.unit.name}: {error}") from None
        except ModelError as error:
            await self._drop()
            raise PollFailure("model", f"unit {self.unit.name}: {error}") from None
        except Exception as error:  # a bug or a library surprise must not end the polling
            log.exception("unit %s: unexpected error while polling", self.unit.name)
            await self._drop()
            raise PollFailure("internal", f"unit {self.unit.name}: {error!r}") from None

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.transport.close()
            self._connection = None

    async def _read(self) -> Reading:
        connection = self._connection or await self._connect()
        blocks = {}
        for block in self.register_map.blocks:
            registers = await connection.transport.read_registers(
                block.table, block.start, block.count
            )
            blocks[block.name] = block.decode(registers, unit=self.unit.name)
        self._failures = 0
        return build_reading(
            self.unit.name,
            connection.identity,
            connection.model,
            time.time(),
            blocks["measurements"],
            blocks["settings"],
            self.unit.supervision,
        )

    async def _connect(self) -> Connection:
        factory = self.plugins.transports[self.unit.transport]
        transport = factory(self.unit.address, self.timeout_s)
        self._transport = transport
        try:
            await transport.connect()
            identity = await transport.read_identity()
            model = self.plugins.model(self.unit.model or identity.model)
        except BaseException:
            await transport.close()
            raise
        if self.unit.phases:
            model = model.with_phases(self.unit.phases)
        self._connection = Connection(transport, identity, model)
        return self._connection

    async def _drop(self) -> None:
        with contextlib.suppress(Exception):
            await self.close()
        self._failures += 1
        backoff = min(MAX_BACKOFF_S, 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + backoff


class Poller:
    """Polls every configured unit on the interval and records results in the store."""

    def __init__(
        self,
        units: tuple[UnitConfig, ...],
        plugins: Plugins,
        store: Store,
        poll: PollConfig,
        register_map: RegisterMap = C12B_V1,
    ) -> None:
        self.poll = poll
        self.store = store
        self.plugins = plugins
        self.register_map = register_map
        self.readers = {u.name: UnitReader(u, plugins, poll.timeout_s, register_map) for u in units}
        self._limit = asyncio.Semaphore(poll.concurrency)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for name in self.readers:
            self._tasks.append(asyncio.create_task(self._run(name), name=f"poll {name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(r.close() for r in self.readers.values()), return_exceptions=True)

    async def poll_unit(self, name: str) -> None:
        """Poll one configured unit now and record the result (``/probe`` by name)."""
        await self._poll_into(self.readers[name], self.store)

    async def probe_address(self, address: str) -> Store:
        """Read a unit that is not configured, once, over a connection of its own
        (``/probe?target=host:port``, the pure multi-target pattern). The result goes to
        a store of its own, named after the address; nothing is kept."""
        unit = UnitConfig(name=address, address=address)
        store = Store((unit,), self.poll.staleness_limit_s)
        reader = UnitReader(unit, self.plugins, self.poll.timeout_s, self.register_map)
        try:
            await self._poll_into(reader, store)
        finally:
            await reader.close()
        return store

    async def _poll_into(self, reader: UnitReader, store: Store) -> None:
        name = reader.unit.name
        async with self._limit:
            started = time.perf_counter()
            try:
                reading = await reader.read()
            except PollFailure as failure:
                log.debug("%s", failure)
                store.record_failure(
                    name, failure.reason, str(failure), time.perf_counter() - started
                )
            else:
                store.record_success(name, reading, time.perf_counter() - started)

    async def _run(self, name: str) -> None:
        interval = self.poll.interval_s
        # Spread units over the interval so a large fleet is not read in one burst.
        offset = (zlib.crc32(name.encode()) % 1000) / 1000 * interval
        next_at = time.monotonic() + offset
        reader = self.readers[name]
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            if next_at < time.monotonic():  # fell behind: skip, never queue up polls
                next_at = time.monotonic() + interval
            if reader.backing_off:
                continue
            await self.poll_unit(name)
