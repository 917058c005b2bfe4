"""Set: a channel's name and supervision limits, written through to the unit over Modbus.

A Set is checked in full before anything is written (RFC 3416 4.2.5): VACM write access,
that the object is writable (``notWritable`` otherwise), that the row exists
(``noCreation`` for an unknown or unreachable unit or channel), the value's type, length
and range, that the register can hold it exactly (supervision limits in steps of the
register's resolution, 10 mA), and that the configuration does not fix that channel's
band (``inconsistentValue``, as for a minimum above the maximum). Then each binding is
written to the unit's holding registers on a connection of its own, and the unit is
polled at once so the table shows what the unit now holds. The response waits for both;
a failed Modbus write answers ``commitFailed``. Writes of several bindings are not
atomic: the unit has no transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pysnmp.entity.rfc3413 import cmdrsp  # type: ignore[import-untyped]
from pysnmp.proto.api import v2c  # type: ignore[import-untyped]
from pysnmp.smi import error as smi_error  # type: ignore[import-untyped]

from ..config import UnitConfig
from ..poller import Poller
from ..registermap import Block, Value
from ..transport import TransportError
from .cells import NOT_SET
from .mibtree import Column, MibTree
from .responders import AUTH_PRIV, REQUEST_CONTEXT, USM_MODEL, StoreInstrumController

log = logging.getLogger(__name__)

NAME_COLUMN = "c12ChannelName"
MIN_COLUMN = "c12ChannelSupervisionMin"
MAX_COLUMN = "c12ChannelSupervisionMax"
FIELDS = {
    NAME_COLUMN: "channel_name",
    MIN_COLUMN: "supervision_min",
    MAX_COLUMN: "supervision_max",
}
"""Writable column -> field of the register map's settings block."""
MILLI = 1000


class WriteFailed(Exception):
    """Writing binding ``index`` (0-based) to the unit failed."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class PlannedWrite:
    """One checked binding: which registers of which unit get which values."""

    index: int
    unit: UnitConfig
    channel: int
    column: str
    address: int
    registers: tuple[int, ...]


class WriteThrough:
    """Checks Sets against the table and the configuration; writes them to the units."""

    def __init__(self, tree: MibTree, poller: Poller, transports: Any, timeout_s: float) -> None:
        self.tree = tree
        self.poller = poller
        self.transports = transports
        self.timeout_s = timeout_s
        self._locks: dict[str, asyncio.Lock] = {}

    # --- checking ---------------------------------------------------------------------------

    def plan(
        self,
        var_binds: Sequence[tuple[Any, Any]],
        allowed: Callable[[tuple[int, ...]], bool],
        now: float,
    ) -> list[PlannedWrite]:
        """Check every binding; raise the first problem as a pysnmp SMI error with its index.

        :param allowed: VACM write access to an OID.
        """
        plans: list[PlannedWrite] = []
        bands: dict[tuple[str, int], list[int]] = {}
        for index, (name, value) in enumerate(var_binds):
            oid = tuple(name)
            if not allowed(oid):
                raise smi_error.NoAccessError(name=name, idx=index)
            found = self.tree.column_of(oid)
            if found is None:
                raise smi_error.NotWritableError(name=name, idx=index)
            column, suffix = found
            if not column.object.writable or column.name not in FIELDS:
                raise smi_error.NotWritableError(name=name, idx=index)
            plan = self._plan_one(index, name, column, suffix, value, bands, now)
            plans.append(plan)
        for (unit, channel), (low, high) in bands.items():
            if low != NOT_SET and high != NOT_SET and low > high:
                index = next(p.index for p in plans if (p.unit.name, p.channel) == (unit, channel))
                raise smi_error.InconsistentValueError(name=var_binds[index][0], idx=index)
        return plans

    def _plan_one(
        self,
        index: int,
        name: Any,
        column: Column,
        suffix: tuple[int, ...],
        value: Any,
        bands: dict[tuple[str, int], list[int]],
        now: float,
    ) -> PlannedWrite:
        slot = self.tree.slot(suffix[0]) if len(suffix) == 2 else None
        reading = None if slot is None else self.tree.store.fresh_reading(slot.state, now)
        channels = {} if reading is None else {c.number: c for c in reading.channels}
        if slot is None or reading is None or suffix[1] not in channels:
            raise smi_error.NoCreationError(name=name, idx=index)
        unit, channel = slot.state.config, channels[suffix[1]]
        settings = self.poller.readers[unit.name].register_map.block("settings")
        field = next(f for f in settings.fields if f.name == FIELDS[column.name])
        kind = column.object.kind
        tag = value.tagSet.superTags[-1]
        if (tag.tagClass | tag.tagFormat | tag.tagId) != column.object.tag:
            raise smi_error.WrongTypeError(name=name, idx=index)
        encoded: Value
        if kind == "octets":
            octets = bytes(value.asOctets())
            if not column.object.check(octets):
                raise smi_error.WrongLengthError(name=name, idx=index)
            try:
                text = octets.decode("utf-8")
            except UnicodeDecodeError:
                raise smi_error.WrongValueError(name=name, idx=index) from None
            if "\x00" in text or len(octets) > field.kind.registers * 2:
                raise smi_error.WrongValueError(name=name, idx=index)
            encoded = text
        else:
            milliamperes = int(value)
            step = round(field.scale * MILLI)
            if not column.object.check(milliamperes) or (
                milliamperes != NOT_SET and milliamperes % step
            ):
                raise smi_error.WrongValueError(name=name, idx=index)
            if channel.number in unit.supervision:
                raise smi_error.InconsistentValueError(name=name, idx=index)
            band = bands.setdefault(
                (unit.name, channel.number),
                [_ma(channel.supervision.min_a), _ma(channel.supervision.max_a)],
            )
            band[0 if column.name == MIN_COLUMN else 1] = milliamperes
            encoded = None if milliamperes == NOT_SET else milliamperes / MILLI
        return PlannedWrite(
            index=index,
            unit=unit,
            channel=channel.number,
            column=column.name,
            address=settings.addresses[field.name] + (channel.number - 1) * field.kind.registers,
            registers=tuple(_encode_one(settings, field.name, encoded)),
        )

    # --- writing ----------------------------------------------------------------------------

    async def apply(self, plans: Sequence[PlannedWrite]) -> None:
        """Write each planned binding, then poll each unit written to.

        :raises WriteFailed: naming the first binding that could not be written.
        """
        units = {p.unit.name: p.unit for p in plans}
        try:
            for name, unit in units.items():
                lock = self._locks.setdefault(name, asyncio.Lock())
                async with lock:
                    await self._write_unit(unit, [p for p in plans if p.unit.name == name])
        finally:
            for name in units:
                with contextlib.suppress(Exception):
                    await self.poller.poll_unit(name)

    async def _write_unit(self, unit: UnitConfig, plans: Sequence[PlannedWrite]) -> None:
        transport = self.transports[unit.transport](unit.address, self.timeout_s)
        try:
            async with asyncio.timeout(self.timeout_s * (1 + len(plans))):
                await transport.connect()
                for plan in plans:
                    try:
                        await transport.write_registers(plan.address, plan.registers)
                    except TransportError as error:
                        raise WriteFailed(plan.index, f"{unit.name}: {error}") from None
                    log.info(
                        "SNMP Set: %s channel %d %s written", unit.name, plan.channel, plan.column
                    )
        except TransportError as error:
            raise WriteFailed(plans[0].index, f"{unit.name}: {error}") from None
        except TimeoutError:
            raise WriteFailed(plans[0].index, f"{unit.name}: no answer in time") from None
        finally:
            with contextlib.suppress(Exception):
                await transport.close()


def _ma(limit_a: float | None) -> int:
    return NOT_SET if limit_a is None else round(limit_a * MILLI)


def _encode_one(block: Block, field_name: str, value: Value) -> list[int]:
    """The registers of one item of a repeated field, encoded by the register map."""
    field = next(f for f in block.fields if f.name == field_name)
    single = Block(block.name, block.table, 0, (dataclasses.replace(field, count=1),))
    return single.encode({field_name: value})


class SetResponder(cmdrsp.SetCommandResponder):  # type: ignore[misc]
    """Set: checked at once, answered once the unit has been written and read back."""

    def __init__(
        self, engine: Any, context: Any, writer: WriteThrough, writers: frozenset[str]
    ) -> None:
        """:param writers: the SNMPv3 users that may write (checked on top of VACM)."""
        super().__init__(engine, context)
        self.writer = writer
        self.writers = writers
        self._deferred: set[Any] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def handle_management_operation(
        self, engine: Any, state_reference: Any, context_name: Any, pdu: Any
    ) -> None:
        instrum = self.snmpContext.get_mib_instrum(context_name)
        var_binds = v2c.apiPDU.get_varbinds(pdu)
        if not isinstance(instrum, StoreInstrumController):
            raise smi_error.NotWritableError(idx=0)
        request = engine.observer.get_execution_context(REQUEST_CONTEXT)
        principal = str(request["securityName"])
        if (
            int(request["securityModel"]) != USM_MODEL
            or int(request["securityLevel"]) != AUTH_PRIV
            or principal not in self.writers
        ):
            raise smi_error.NoAccessError(name=var_binds[0][0] if var_binds else None, idx=0)
        verify = cmdrsp.CommandResponderBase.verify_access

        def allowed(oid: tuple[int, ...]) -> bool:
            return not verify("write", (oid, None), snmpEngine=engine)

        try:
            plans = self.writer.plan(var_binds, allowed, time.time())
        except smi_error.SmiError:
            raise
        except Exception as error:
            log.exception("SNMP Set from %s failed: %s", request.get("securityName"), error)
            raise smi_error.GenError(idx=0) from None
        self._deferred.add(state_reference)
        task = asyncio.get_running_loop().create_task(
            self._complete(engine, state_reference, plans, var_binds)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _complete(
        self, engine: Any, state_reference: Any, plans: list[PlannedWrite], var_binds: Any
    ) -> None:
        status: int | str = 0
        index = 0
        try:
            assert self.writer is not None
            await self.writer.apply(plans)
        except WriteFailed as error:
            log.warning("SNMP Set not written: %s", error)
            status, index = "commitFailed", error.index + 1
        except Exception as error:
            log.exception("SNMP Set failed: %s", error)
            status, index = "genErr", 1
        finally:
            self._deferred.discard(state_reference)
        try:
            self.send_varbinds(engine, state_reference, status, index, var_binds)
        except Exception as error:
            log.debug("SNMP Set response not sent: %s", error)
        self.release_state_information(state_reference)

    def release_state_information(self, state_reference: Any) -> None:
        if state_reference not in self._deferred:
            super().release_state_information(state_reference)

    async def drain(self) -> None:
        """Wait for writes in progress (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
