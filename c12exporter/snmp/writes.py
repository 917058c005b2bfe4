"""Set: a channel's name and supervision limits, and the unit's stored name, written
through to the unit.

A Set is checked in full before anything is written (RFC 3416 4.2.5): VACM write access,
that the object is writable (``notWritable`` otherwise), that the row exists
(``noCreation`` for an unknown or unreachable unit or channel), the value's type, length
and range, that the configuration does not fix that channel's band
(``inconsistentValue``, as for a minimum above the maximum), and that the unit can hold
the value exactly (the poller's ``check_settings``: supervision limits in steps of the
register's 10 mA, names that fit; ``wrongValue`` otherwise). Then the bindings of each
unit are written in one call of the poller's ``write_settings``, which writes on the
poller's own connection to the unit, polls it and checks what it reads back, so the
table shows what the unit now holds. The response waits for that; a write that fails
answers ``commitFailed``. Writes of several units are not atomic: the unit has no
transactions, and units written before a failure stay written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pysnmp.entity.rfc3413 import cmdrsp  # type: ignore[import-untyped]
from pysnmp.proto.api import v2c  # type: ignore[import-untyped]
from pysnmp.smi import error as smi_error  # type: ignore[import-untyped]

from ..names import name_refusal
from ..poller import Poller
from ..reading import KEEP, ChannelSettings, Limit, Settings, UnitSettings
from ..transport import WriteError
from .cells import NOT_SET, limit_ma
from .mibtree import Column, MibTree
from .responders import AUTH_PRIV, REQUEST_CONTEXT, USM_MODEL, Counted, check_context

log = logging.getLogger(__name__)

NAME_COLUMN = "c12ChannelName"
MIN_COLUMN = "c12ChannelSupervisionMin"
MAX_COLUMN = "c12ChannelSupervisionMax"
UNIT_NAME_COLUMN = "c12UnitStoredName"
WRITABLE = frozenset({NAME_COLUMN, MIN_COLUMN, MAX_COLUMN, UNIT_NAME_COLUMN})
MILLI = 1000
STATUS_OF_WRITE_ERROR = {"invalid": "wrongValue", "unknown_unit": "noCreation"}
"""A :class:`WriteError` reason -> the error-status answered (else ``commitFailed``)."""


class WriteFailed(Exception):
    """Writing binding ``index`` (0-based) to the unit failed with error-status ``status``."""

    def __init__(self, index: int, status: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.status = status


@dataclass
class _Channel:
    """What a Set does to one channel: a new name, new limits (mA, -1 = not set)."""

    first: int
    name: str | None = None
    band: list[int] | None = None
    band_index: int = 0
    given: set[int] = field(default_factory=set)
    """Which limits the Set names (0 minimum, 1 maximum): only those are written."""


@dataclass
class PlannedWrite:
    """The checked changes to one unit; ``first`` is the index of its first binding."""

    unit: str
    first: int
    changes: list[Settings] = field(default_factory=list)


def _check_type(column: Column, value: Any, name: Any, index: int) -> None:
    """``wrongType`` unless the value has the column's SYNTAX."""
    tag = value.tagSet.superTags[-1]
    if (tag.tagClass | tag.tagFormat | tag.tagId) != column.object.tag:
        raise smi_error.WrongTypeError(name=name, idx=index)


def _text(column: Column, value: Any, name: Any, index: int) -> str:
    """An OCTET STRING value (a name) as text: ``wrongLength`` beyond the column's size,
    ``wrongValue`` if it is not UTF-8 or holds a character no name may hold
    (:func:`..names.name_refusal`, the console's rule too)."""
    octets = bytes(value.asOctets())
    if not column.object.check(octets):
        raise smi_error.WrongLengthError(name=name, idx=index)
    try:
        text = octets.decode("utf-8")
    except UnicodeDecodeError:
        raise smi_error.WrongValueError(name=name, idx=index) from None
    refusal = name_refusal(text)
    if refusal is not None:
        log.info("SNMP SET of %s refused: %s", column.name, refusal)
        raise smi_error.WrongValueError(name=name, idx=index)
    return text


def _amperes(milliamperes: int) -> float | None:
    return None if milliamperes == NOT_SET else milliamperes / MILLI


class WriteThrough:
    """Checks Sets against the table, the configuration and what the unit can hold;
    writes them through the poller."""

    def __init__(self, tree: MibTree, poller: Poller) -> None:
        self.tree = tree
        self.poller = poller

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
        edits: dict[str, dict[int, _Channel]] = {}
        names: dict[str, tuple[int, str]] = {}
        for index, (name, value) in enumerate(var_binds):
            oid = tuple(name)
            if not allowed(oid):
                raise smi_error.NoAccessError(name=name, idx=index)
            found = self.tree.column_of(oid)
            if found is None:
                raise smi_error.NotWritableError(name=name, idx=index)
            column, suffix = found
            if not column.object.writable or column.name not in WRITABLE:
                raise smi_error.NotWritableError(name=name, idx=index)
            if column.name == UNIT_NAME_COLUMN:
                self._check_unit_name(index, name, column, suffix, value, names, now)
            else:
                self._check_one(index, name, column, suffix, value, edits, now)
        plans = []
        for unit in dict.fromkeys([*names, *edits]):
            channels = edits.get(unit, {})
            firsts = [c.first for c in channels.values()]
            if unit in names:
                firsts.append(names[unit][0])
            plan = PlannedWrite(unit, min(firsts))
            if unit in names:
                plan.changes.append(UnitSettings(names[unit][1]))
            for number, edit in channels.items():
                limits: list[Limit] = [KEEP, KEEP]
                if edit.band is not None:
                    low, high = edit.band
                    if low != NOT_SET and high != NOT_SET and low > high:
                        i = edit.band_index
                        raise smi_error.InconsistentValueError(name=var_binds[i][0], idx=i)
                    for side in edit.given:
                        limits[side] = _amperes(edit.band[side])
                plan.changes.append(ChannelSettings(number, edit.name, limits[0], limits[1]))
            self._check_unit(plan, var_binds[plan.first][0])
            plans.append(plan)
        return plans

    def _check_unit_name(
        self,
        index: int,
        name: Any,
        column: Column,
        suffix: tuple[int, ...],
        value: Any,
        names: dict[str, tuple[int, str]],
        now: float,
    ) -> None:
        slot = self.tree.slot(suffix[0]) if len(suffix) == 1 else None
        reading = None if slot is None else self.tree.store.fresh_reading(slot.state, now)
        if slot is None or reading is None:
            raise smi_error.NoCreationError(name=name, idx=index)
        _check_type(column, value, name, index)
        text = _text(column, value, name, index)
        unit = slot.state.config.name
        self._check_unit_holds(unit, UnitSettings(text), name, index)
        names[unit] = (names.get(unit, (index, ""))[0], text)

    def _check_one(
        self,
        index: int,
        name: Any,
        column: Column,
        suffix: tuple[int, ...],
        value: Any,
        edits: dict[str, dict[int, _Channel]],
        now: float,
    ) -> None:
        slot = self.tree.slot(suffix[0]) if len(suffix) == 2 else None
        reading = None if slot is None else self.tree.store.fresh_reading(slot.state, now)
        channels = {} if reading is None else {c.number: c for c in reading.channels}
        if slot is None or reading is None or suffix[1] not in channels:
            raise smi_error.NoCreationError(name=name, idx=index)
        unit, channel = slot.state.config, channels[suffix[1]]
        _check_type(column, value, name, index)
        edit = edits.setdefault(unit.name, {}).setdefault(channel.number, _Channel(index))
        if column.object.kind == "octets":
            text = _text(column, value, name, index)
            self._check_unit_holds(
                unit.name, ChannelSettings(channel.number, name=text), name, index
            )
            edit.name = text
            return
        milliamperes = int(value)
        if not column.object.check(milliamperes):
            raise smi_error.WrongValueError(name=name, idx=index)
        if channel.number in unit.supervision:
            raise smi_error.InconsistentValueError(name=name, idx=index)
        limit = _amperes(milliamperes)
        side = 0 if column.name == MIN_COLUMN else 1
        single = (
            ChannelSettings(channel.number, min_a=limit)
            if side == 0
            else ChannelSettings(channel.number, max_a=limit)
        )
        self._check_unit_holds(unit.name, single, name, index)
        if edit.band is None:
            held = channel.supervision
            edit.band, edit.band_index = [limit_ma(held.min_a), limit_ma(held.max_a)], index
        edit.band[side] = milliamperes
        edit.given.add(side)

    def _check_unit_holds(self, unit: str, change: Settings, name: Any, index: int) -> None:
        try:
            self.poller.check_settings(unit, [change])
        except WriteError as error:
            log.info("SNMP Set refused (wrongValue): %s", error)
            raise smi_error.WrongValueError(name=name, idx=index) from None

    def _check_unit(self, plan: PlannedWrite, name: Any) -> None:
        """The unit's changes together (each binding was checked on its own)."""
        try:
            self.poller.check_settings(plan.unit, plan.changes)
        except WriteError as error:
            log.info("SNMP Set refused (wrongValue): %s", error)
            raise smi_error.WrongValueError(name=name, idx=plan.first) from None

    # --- writing ----------------------------------------------------------------------------

    async def apply(self, plans: Sequence[PlannedWrite], principal: str) -> None:
        """Write each unit's changes through the poller, one unit after the other.

        :raises WriteFailed: naming the first binding of the unit that was not written.
        """
        for plan in plans:
            try:
                await self.poller.write_settings(plan.unit, plan.changes)
            except WriteError as error:
                status = STATUS_OF_WRITE_ERROR.get(error.reason, "commitFailed")
                raise WriteFailed(plan.first, status, f"{plan.unit}: {error}") from None
            log.info(
                "SNMP Set by %s: %s written (%s)",
                principal,
                plan.unit,
                "; ".join(change.describe() for change in plan.changes),
            )


class SetResponder(Counted, cmdrsp.SetCommandResponder):  # type: ignore[misc]
    """Set: checked at once, answered once the unit has been written and read back.

    Counts each request on ``c12_snmp_writes_total{outcome}``: ``written``, or the
    error-status that refused it.
    """

    def __init__(
        self, engine: Any, context: Any, writer: WriteThrough, writers: frozenset[str]
    ) -> None:
        """:param writers: the SNMPv3 users that may write (checked on top of VACM)."""
        super().__init__(engine, context)
        self.writer = writer
        self.writers = writers
        self.stats = writer.tree.stats
        self._deferred: set[Any] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def handle_management_operation(
        self, engine: Any, state_reference: Any, context_name: Any, pdu: Any
    ) -> None:
        check_context(context_name, self.stats)
        var_binds = v2c.apiPDU.get_varbinds(pdu)
        request = engine.observer.get_execution_context(REQUEST_CONTEXT)
        principal = str(request["securityName"])
        verify = cmdrsp.CommandResponderBase.verify_access

        def allowed(oid: tuple[int, ...]) -> bool:
            return not verify("write", (oid, None), snmpEngine=engine)

        try:
            if (
                int(request["securityModel"]) != USM_MODEL
                or int(request["securityLevel"]) != AUTH_PRIV
                or principal not in self.writers
            ):
                raise smi_error.NoAccessError(name=var_binds[0][0] if var_binds else None, idx=0)
            plans = self.writer.plan(var_binds, allowed, time.time())
        except smi_error.SmiError as error:
            self._count(self.SMI_ERROR_MAP.get(type(error), "genErr"))
            raise
        except Exception as error:
            log.exception("SNMP Set from %s failed: %s", principal, error)
            self._count("genErr")
            raise smi_error.GenError(idx=0) from None
        self._deferred.add(state_reference)
        task = asyncio.get_running_loop().create_task(
            self._complete(engine, state_reference, plans, var_binds, principal)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _count(self, outcome: str) -> None:
        self.stats.writes.labels(outcome).inc()

    async def _complete(
        self,
        engine: Any,
        state_reference: Any,
        plans: list[PlannedWrite],
        var_binds: Any,
        principal: str,
    ) -> None:
        status: int | str = 0
        index = 0
        try:
            await self.writer.apply(plans, principal)
        except WriteFailed as error:
            log.warning("SNMP Set by %s not written: %s", principal, error)
            status, index = error.status, error.index + 1
        except Exception as error:
            log.exception("SNMP Set by %s failed: %s", principal, error)
            status, index = "genErr", 1
        finally:
            self._deferred.discard(state_reference)
        self._count("written" if status == 0 else str(status))
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
