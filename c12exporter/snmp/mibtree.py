"""The agent's OID table: cells built from store snapshots, found by bisection.

Columns (and the few scalars) come from the compiled MIB in OID order. Each configured
unit has a slot holding its cells, each cell encoded once as a BER variable binding. A
poll of the unit only marks its slot; the cells of a column are computed and encoded on
the first request that reaches that column of that unit after the poll (or after the
reading went stale), so the work after a poll is what the managers ask for, once however
many ask. GetNext bisects the column list, then walks units in index
order (the tables' first index, :mod:`.unitindex`), then bisects the few cells of one
unit. GetBulk does that once per repeater and then takes the following cells as slices
of each unit's pre-encoded bindings (:meth:`MibTree.run`). Slots follow the store's
fleet: a unit added by a reload gets a slot, a removed one loses it, a reconfigured one
keeps its index and starts over.

A text longer than its column's SIZE is served cut to fit, on a UTF-8 character boundary,
and counted (``c12_snmp_values_truncated_total{column}``). Any other computed value
outside its column's SYNTAX is left out (no instance), counted
(``c12_snmp_cells_dropped_total{column}``). Both are logged once per unit and column
until the value fits again.
"""

from __future__ import annotations

import logging
import math
import socket
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from .. import __version__
from ..forecast import TripForecast
from ..history.recorder import History
from ..reading import Reading
from ..store import Change, FleetChange, Store, UnitState
from ..telemetry import Telemetry
from . import ber
from .cells import (
    CHANNEL_COLUMNS,
    INPUT_COLUMNS,
    LINE_COLUMNS,
    UNIT_COLUMNS,
    UnitFacts,
    deci,
    line_index,
    rcbo_columns,
    ticks,
    trip_forecast_columns,
)
from .cells import Value as CellValue
from .mib import SNMPV2_MIB, LoadedMib, MibError, ObjectType
from .stats import SnmpStats
from .unitindex import UnitIndexes

log = logging.getLogger(__name__)

Oid = ber.Oid
Raw = int | bytes | tuple[int, ...]
Cell = tuple[Oid, Raw, bytes]
"""(instance suffix, value as on the wire, encoded variable binding)."""
Allowed = Callable[["Column"], bool]
ScalarValue = CellValue | tuple[int, ...]
Extract = Callable[..., CellValue]
V = TypeVar("V", bound=ScalarValue)

SYSTEM_OBJECTS = ("sysDescr", "sysObjectID", "sysUpTime", "sysName")
"""The SNMPv2-MIB system group objects the agent answers (from the same table)."""
SCALAR_INSTANCE: Oid = (0,)
MAX_REMEMBERED_VALUES = 256
"""Values per column whose encoding is remembered, then forgotten all at once: enough for
the values that recur (states, ratings, names), little memory for measurements, which
rarely do."""
UNIT_TABLE = "c12UnitTable"
TABLES: Mapping[str, Mapping[str, object]] = {
    UNIT_TABLE: UNIT_COLUMNS,
    "c12InputTable": INPUT_COLUMNS,
    "c12LineTable": LINE_COLUMNS,
    "c12ChannelTable": CHANNEL_COLUMNS,
}


def _arc(number: int) -> bytes:
    """The encoding of a row's second index (a line or channel number)."""
    return bytes((number,)) if number < 0x80 else ber.subidentifiers((number,))


class CellError(ValueError):
    """A computed value does not fit its column's SYNTAX."""


@dataclass(eq=False)
class Column:
    """One readable object: a table column or a scalar (instance ``.0``)."""

    position: int
    object: ObjectType
    scalar: Callable[[], ScalarValue] | None = None
    prefix: bytes = field(init=False)
    _values: dict[int | bytes, bytes | None] = field(init=False, default_factory=dict)
    """Values seen last -> their encoding, ``None`` outside the SYNTAX (pyasn1's check
    costs microseconds, and most values recur: states, ratings, names)."""

    def __post_init__(self) -> None:
        self.prefix = ber.oid_body(self.object.oid)

    def encoded(self, raw: int | bytes) -> bytes | None:
        """The encoded value, ``None`` if it does not fit the column's SYNTAX."""
        try:
            return self._values[raw]
        except KeyError:
            pass
        if len(self._values) >= MAX_REMEMBERED_VALUES:
            self._values.clear()
        value = self.encode_value(raw) if self.object.check(raw) else None
        self._values[raw] = value
        return value

    @property
    def oid(self) -> Oid:
        return self.object.oid

    @property
    def name(self) -> str:
        return self.object.name

    def raw(self, value: ScalarValue) -> Raw:
        """The wire value of a cell value (enumeration labels become their numbers)."""
        try:
            return self.object.raw(value)
        except ValueError as error:
            raise CellError(str(error)) from None

    def encode_value(self, raw: Raw) -> bytes:
        if isinstance(raw, int):
            return ber.tlv(self.object.tag, ber.integer_body(raw))
        if isinstance(raw, bytes):
            return ber.tlv(self.object.tag, raw)
        return ber.tlv(self.object.tag, ber.oid_body(raw))

    def cell(self, suffix: Oid, suffix_body: bytes, value: ScalarValue) -> Cell:
        raw = self.raw(value)
        encoded = self.encode_value(raw) if isinstance(raw, tuple) else self.encoded(raw)
        if encoded is None:
            raise CellError(f"{self.name}: {raw!r} is outside what its SYNTAX allows")
        return suffix, raw, ber.varbind(self.prefix + suffix_body, encoded)

    def fitted(self, value: V) -> tuple[V | bytes, bool]:
        """``value``, or a text cut to its SIZE (then ``True``)."""
        if not isinstance(value, str) or self.object.kind != "octets":
            return value, False
        text = value.encode("utf-8")
        if self.encoded(text) is not None:
            return value, False
        cut = self.object.cut_text(text)
        return (value, False) if cut is None else (cut, True)


@dataclass(frozen=True)
class Hit:
    """A cell found by a lookup."""

    column: Column
    suffix: Oid
    raw: Raw
    encoded: bytes

    @property
    def oid(self) -> Oid:
        return self.column.oid + self.suffix

    def value(self) -> Any:
        """The cell as a pyasn1 value of the column's SYNTAX (for pysnmp's APIs)."""
        return self.column.object.value(self.raw)


Entry = tuple[list[Oid], list[Cell], list[bytes]]
"""One unit's cells of one column, in OID order: suffixes, cells, encoded bindings."""
View = dict[int, Entry]
"""The columns of a unit built since its last poll, by column position."""
Row = tuple[Oid, bytes, tuple[Any, ...]]
"""(instance suffix, its encoding, what the column's function takes)."""


@dataclass(eq=False)
class UnitSlot:
    """One configured unit's cells, rebuilt when its state changed."""

    index: int
    state: UnitState
    body: bytes
    view: View = field(default_factory=dict)
    dirty: bool = True
    """Polled (or reconfigured) since ``rows`` were taken: nothing built holds."""
    expires: float = math.inf
    last_good: Reading | None = None
    facts: UnitFacts | None = None
    """The unit as the last request after its poll found it."""
    rows: dict[str, list[Row]] = field(default_factory=dict)
    """The rows of each table asked for since, by table name."""
    failing: dict[str, str] = field(default_factory=dict)
    """Columns whose value did not fit when last built -> what was done."""


class MibTree:
    """Readable instances of C12-PDU-MIB (and the system group) from a :class:`Store`.

    :param temperature_limit_c: the value of c12TemperatureLimit.
    :param indexes: each unit's c12UnitIndex.
    :param telemetry: where dropped cells are counted.
    :param forecast: the trip forecast (c12ChannelTripForecast), if one is kept.
    :param history: the RCBO test log (c12ChannelRcboLastCycle), if one is kept.
    """

    def __init__(
        self,
        mib: LoadedMib,
        store: Store,
        temperature_limit_c: float,
        indexes: UnitIndexes,
        telemetry: Telemetry,
        forecast: TripForecast | None = None,
        history: History | None = None,
    ) -> None:
        self.tables: Mapping[str, Mapping[str, object]] = {
            **TABLES,
            "c12ChannelTable": {
                **CHANNEL_COLUMNS,
                **trip_forecast_columns(forecast),
                **rcbo_columns(history),
            },
        }
        self.mib = mib
        self.store = store
        self.indexes = indexes
        self.stats = SnmpStats(telemetry)
        self.started = time.monotonic()
        self._slots: dict[int, UnitSlot] = {}
        self._order: list[int] = []
        """The slots' indexes, ascending: the walk order."""
        self._by_name: dict[str, UnitSlot] = {}
        self._scalar_failing: set[str] = set()
        indexes.assign(state.config.name for state in store)
        for state in store:
            self._add(state)
        self.columns = self._columns(mib, temperature_limit_c)
        self.prefixes = [c.oid for c in self.columns]
        self._extract: dict[int, Extract] = {
            c.position: cast(Extract, self.tables[str(c.object.table)][c.name])
            for c in self.columns
            if c.object.table is not None
        }
        store.subscribe(self.on_change)
        store.watch_fleet(self.on_fleet)

    def close(self) -> None:
        """Stop following the store."""
        self.store.unsubscribe(self.on_change)
        self.store.unwatch_fleet(self.on_fleet)

    def __len__(self) -> int:
        """How many units have a row."""
        return len(self._slots)

    def _add(self, state: UnitState) -> None:
        index = self.indexes[state.config.name]
        slot = UnitSlot(index, state, ber.subidentifiers((index,)), last_good=state.reading)
        self._slots[index] = slot
        self._by_name[state.config.name] = slot
        insort(self._order, index)

    def _remove(self, name: str) -> None:
        slot = self._by_name.pop(name, None)
        if slot is not None:
            del self._slots[slot.index]
            self._order.remove(slot.index)

    # --- building ---------------------------------------------------------------------------

    def _columns(self, mib: LoadedMib, temperature_limit_c: float) -> list[Column]:
        system_values: dict[str, Callable[[], ScalarValue]] = {
            "sysDescr": lambda: (
                f"c12exporter {__version__}: SNMP agent for {len(self._slots)} StageSmarts "
                "C12B power distribution units"
            ),
            "sysObjectID": lambda: mib.root,
            "sysUpTime": self.uptime,
            "sysName": socket.gethostname,
        }
        scalars: dict[str, Callable[[], ScalarValue]] = {
            "c12TemperatureLimit": lambda: deci(temperature_limit_c),
        }
        objects: list[tuple[ObjectType, Callable[[], ScalarValue] | None]] = [
            (mib.object(name, SNMPV2_MIB), system_values[name]) for name in SYSTEM_OBJECTS
        ]
        expected = {name for columns in self.tables.values() for name in columns}
        for obj in mib.objects():
            if not obj.readable:
                continue
            if obj.table is None:
                if obj.name not in scalars:
                    raise MibError(f"the agent has no value for the scalar {obj.name}")
                objects.append((obj, scalars[obj.name]))
                continue
            if obj.table not in self.tables or obj.name not in self.tables[obj.table]:
                raise MibError(f"the agent has no value for {obj.table}.{obj.name}")
            expected.discard(obj.name)
            objects.append((obj, None))
        if expected:
            raise MibError(f"the MIB lacks readable columns the agent serves: {sorted(expected)}")
        objects.sort(key=lambda item: item[0].oid)
        return [Column(i, obj, scalar) for i, (obj, scalar) in enumerate(objects)]

    def uptime(self) -> int:
        """sysUpTime: hundredths of a second since the agent started."""
        return ticks(time.monotonic() - self.started)

    def on_change(self, change: Change) -> None:
        """Store listener: the unit's cells are rebuilt at the next request; what was built
        from the older reading goes now (a walk's cells of every unit would otherwise stay
        until each unit is asked for again)."""
        slot = self._by_name.get(change.unit.config.name)
        if slot is not None:
            slot.dirty = True
            slot.facts, slot.rows, slot.view = None, {}, {}
            if change.after is not None:
                slot.last_good = change.after

    def on_fleet(self, change: FleetChange) -> None:
        """Store fleet listener: rows for added units, none for removed ones; a
        reconfigured unit keeps its index and starts over (it may be another device)."""
        for name in change.removed:
            self._remove(name)
        self.indexes.assign(change.added)
        for name in change.added:
            state = self.store.get(name)
            if state is not None:
                self._remove(name)
                self._add(state)
        for name in change.changed:
            slot = self._by_name.get(name)
            state = self.store.get(name)
            if slot is not None and state is not None:
                slot.state, slot.last_good, slot.dirty, slot.view = state, None, True, {}

    def slot(self, index: int) -> UnitSlot | None:
        return self._slots.get(index)

    def entry(self, slot: UnitSlot, column: Column, now: float) -> Entry:
        """The unit's cells of a table column, built if the unit was polled (or its
        reading went stale) since they were."""
        if slot.dirty or now > slot.expires:
            self._refresh(slot, now)
        entry = slot.view.get(column.position)
        return self._build(slot, column) if entry is None else entry

    def _refresh(self, slot: UnitSlot, now: float) -> None:
        """Take the unit's state as of ``now``; drop every column built before."""
        slot.dirty = False
        slot.facts = facts = UnitFacts.of(slot.index, slot.state, self.store, now, slot.last_good)
        if facts.reading is not None:
            slot.last_good = facts.reading
            slot.expires = facts.reading.taken_at + self.store.staleness_s
        else:
            slot.expires = math.inf
        slot.rows = {}
        slot.view = {}

    @staticmethod
    def _rows(slot: UnitSlot, table: str) -> list[Row]:
        """A table's rows of the unit (none but the unit row while it is unreachable)."""
        rows = slot.rows.get(table)
        if rows is not None:
            return rows
        facts, key, body = slot.facts, (slot.index,), slot.body
        reading = None if facts is None else facts.reading
        if table == UNIT_TABLE:
            rows = [(key, body, (facts,))]
        elif reading is None:
            rows = []
        elif table == "c12InputTable":
            rows = [(key, body, (reading,))]
        elif table == "c12LineTable":
            numbered = [(line_index(phase.phase), (phase,)) for phase in reading.phases]
            rows = [((slot.index, n), body + _arc(n), args) for n, args in numbered]
        else:
            rows = [
                ((slot.index, c.number), body + _arc(c.number), (c, reading))
                for c in reading.channels
            ]
        slot.rows[table] = rows
        return rows

    def _build(self, slot: UnitSlot, column: Column) -> Entry:
        extract = self._extract[column.position]
        entry: Entry = ([], [], [])
        problem = None
        for suffix, body, args in self._rows(slot, str(column.object.table)):
            found = self._put(entry, column, suffix, body, extract(*args))
            problem = problem or found  # the first of the column's problems is logged
        keys, cells, encoded = entry
        if len(keys) > 1 and keys != sorted(keys):
            cells.sort()
            keys[:] = [cell[0] for cell in cells]
            encoded[:] = [cell[2] for cell in cells]
        self._report(slot, column.name, problem)
        slot.view[column.position] = entry
        return entry

    def _report(self, slot: UnitSlot, column: str, problem: str | None) -> None:
        """Log a column of a unit when it starts and stops failing."""
        name = slot.state.config.name
        before = slot.failing.pop(column, None)
        if problem is not None:
            slot.failing[column] = problem
            if before is None:
                log.warning(
                    "SNMP: %s of unit %s %s (reported once until it fits again)",
                    column,
                    name,
                    problem,
                )
        elif before is not None:
            log.info("SNMP: %s of unit %s fits its SYNTAX again", column, name)

    def _put(
        self, entry: Entry, column: Column, suffix: Oid, body: bytes, value: CellValue
    ) -> str | None:
        """Add a cell to ``entry``; what was done to a value that did not fit, if any."""
        if value is None:
            return None  # not available: no instance
        problem = None
        value, truncated = column.fitted(value)
        if truncated:
            self.stats.values_truncated.labels(column.name).inc()
            problem = f"cut to its SIZE, {len(cast(bytes, value))} octets"
        try:
            cell = column.cell(suffix, body, value)
        except CellError as error:
            self.stats.cells_dropped.labels(column.name).inc()
            return f"left out: {error}"
        entry[0].append(suffix)
        entry[1].append(cell)
        entry[2].append(cell[2])
        return problem

    def _scalar(self, column: Column) -> Cell | None:
        assert column.scalar is not None
        try:
            value, truncated = column.fitted(column.scalar())
            cell = column.cell(SCALAR_INSTANCE, b"\x00", value)
            if truncated:
                self.stats.values_truncated.labels(column.name).inc()
        except CellError as error:
            if column.name not in self._scalar_failing:  # counted once until it fits
                self._scalar_failing.add(column.name)
                self.stats.cells_dropped.labels(column.name).inc()
                log.warning("SNMP: %s left out: %s", column.name, error)
            return None
        self._scalar_failing.discard(column.name)
        return cell

    # --- lookups ------------------------------------------------------------------------

    def column_of(self, oid: Oid) -> tuple[Column, Oid] | None:
        """The column whose OID prefixes ``oid``, and the rest (the instance suffix)."""
        i = bisect_right(self.prefixes, oid) - 1
        if i < 0:
            return None
        prefix = self.prefixes[i]
        if oid[: len(prefix)] != prefix:
            return None
        return self.columns[i], oid[len(prefix) :]

    def get(self, oid: Oid, allowed: Allowed, now: float) -> Hit | int:
        """The instance ``oid``, or ``ber.NO_SUCH_OBJECT`` / ``ber.NO_SUCH_INSTANCE``."""
        found = self.column_of(oid)
        if found is None or not allowed(found[0]):
            return ber.NO_SUCH_OBJECT
        column, suffix = found
        if column.scalar is not None:
            cell = self._scalar(column) if suffix == SCALAR_INSTANCE else None
        else:
            cell = self._cell(column, suffix, now)
        if cell is None:
            return ber.NO_SUCH_INSTANCE
        return Hit(column, *cell)

    def _cell(self, column: Column, suffix: Oid, now: float) -> Cell | None:
        slot = self.slot(suffix[0]) if suffix else None
        if slot is None:
            return None
        keys, cells, _ = self.entry(slot, column, now)
        i = bisect_left(keys, suffix)
        return cells[i] if i < len(keys) and keys[i] == suffix else None

    def next(self, oid: Oid, allowed: Allowed, now: float) -> Hit | None:
        """The first instance after ``oid`` in the view ``allowed``; ``None`` at the end."""
        i = bisect_right(self.prefixes, oid) - 1
        if i >= 0:
            prefix = self.prefixes[i]
            if oid[: len(prefix)] == prefix and allowed(self.columns[i]):
                hit = self._next_in(self.columns[i], oid[len(prefix) :], now)
                if hit is not None:
                    return hit
        for column in self.columns[i + 1 :]:
            if allowed(column):
                hit = self._next_in(column, None, now)
                if hit is not None:
                    return hit
        return None

    def _next_in(self, column: Column, after: Oid | None, now: float) -> Hit | None:
        if column.scalar is not None:
            if after and after >= SCALAR_INSTANCE:
                return None
            cell = self._scalar(column)
            return None if cell is None else Hit(column, *cell)
        order = self._order
        start, bound = 0, None
        if after:
            start, bound = bisect_left(order, after[0]), after
        for i in range(start, len(order)):
            keys, cells, _ = self.entry(self._slots[order[i]], column, now)
            j = 0 if bound is None or i != start else bisect_right(keys, bound)
            if j < len(keys):
                return Hit(column, *cells[j])
        return None

    def run(
        self, oid: Oid, allowed: Allowed, now: float, count: int, space: int
    ) -> tuple[list[bytes], Oid]:
        """The encoded instances that ``count`` GetNexts in a row would find from ``oid``
        (each from the one before), and the OID of the last (``oid`` if none).

        Fewer than ``count`` when the view ends, or once their total length exceeds
        ``space`` (then a few more than fit: the caller cuts). Each unit's run of cells
        in a column is taken as one slice of its pre-encoded bindings, so a walk costs
        a bisection per request, not per binding.
        """
        out: list[bytes] = []
        if count <= 0:
            return out, oid
        used = 0
        last: tuple[Column, Oid] | None = None
        i = bisect_right(self.prefixes, oid) - 1
        bound: Oid | None = None
        if i >= 0:
            prefix = self.prefixes[i]
            if oid[: len(prefix)] == prefix and allowed(self.columns[i]):
                bound = oid[len(prefix) :]
            else:
                i += 1
        else:
            i = 0
        order, slots = self._order, self._slots
        for column in self.columns[i:]:
            if not allowed(column):
                bound = None
                continue
            if column.scalar is not None:
                if not (bound and bound >= SCALAR_INSTANCE):
                    cell = self._scalar(column)
                    if cell is not None:
                        out.append(cell[2])
                        used += len(cell[2])
                        last = column, cell[0]
                        if len(out) == count or used > space:
                            break
                bound = None
                continue
            position = column.position
            start = bisect_left(order, bound[0]) if bound else 0
            for index in order[start:]:
                slot = slots[index]
                if slot.dirty or now > slot.expires:
                    self._refresh(slot, now)
                entry = slot.view.get(position)
                keys, cells, encoded = self._build(slot, column) if entry is None else entry
                j = bisect_right(keys, bound) if bound else 0
                bound = None
                taken = encoded[j : j + count - len(out)]
                if not taken:
                    continue
                out += taken
                used += sum(map(len, taken))
                last = column, cells[j + len(taken) - 1][0]
                if len(out) == count or used > space:
                    break
            else:
                bound = None
                continue
            break
        if last is None:
            return out, oid
        return out, last[0].oid + last[1]
