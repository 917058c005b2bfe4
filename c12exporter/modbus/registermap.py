"""The C12B's Modbus TCP register map, kept as data, and its codec; the same layout for a
model of any channel count.

StageSmarts publishes no protocol, so this project defines the unit's network
interface. The measurement block is laid out from the declarations in
:mod:`c12exporter.measurements` (in their order); the settings block is declared here.
Everything that touches registers derives from the tables here: the decoder
(:func:`Block.decode`, used by the Modbus transport), the simulator's encoder
(:func:`Block.encode`) and the documentation table (``docs/register-map.md``, written
by :func:`markdown_table`). Decoding yields SI values and state names; encoding takes
them: the conversion from the wire's units (Wh, for one) happens here and nowhere else.

Conventions (also stated in the generated document):

* Registers are 16 bit, big-endian; multi-register values put the most
  significant word first ("big-endian word order").
* Addresses are Modbus PDU addresses, counted from 0.
* A field's engineering value is ``raw * scale`` in the unit named by ``unit``; its SI
  value is that times ``to_si``.
* A state field holds the position of its state in ``states``.
* "Not available" is the all-ones pattern for unsigned types and the most
  negative value for signed types (SunSpec style). A field that may not be
  available says so (``nullable``); any other field reporting it is an error.
* Strings are UTF-8, NUL padded, two bytes per register, first byte high.

A block longer than one Modbus read may carry (125 registers) is read with several
requests, planned here (:attr:`Block.reads`) and split between items, so no 32- or 64-bit
value is ever cut; the transport decodes their concatenation as one block. A repeated
field may span several reads (a 24-channel model's names take 192 registers): it is cut
between two of its items, never inside one.

A model of another channel count (a plugin's family, :class:`c12exporter.model.ModelFamily`)
is served the same layout with its per-channel fields as wide as its channels:
:func:`register_map` builds it; the C12B's is :data:`C12B_V1`. A firmware with another
register map is a new :class:`RegisterMap` value, not new code.
"""

from __future__ import annotations

import enum
import functools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from ..measurements import CHANNEL_COUNT, Measurement, channel_keys
from ..measurements import MEASUREMENTS as DECLARED
from .client import MAX_REGISTERS


class Table(enum.IntEnum):
    """Modbus register table; the value is the read function code."""

    HOLDING = 3
    INPUT = 4


class Kind(enum.Enum):
    """How a value is laid out in registers."""

    U16 = ("H", 1)
    S16 = ("h", 1)
    U32 = ("I", 2)
    S32 = ("i", 2)
    U64 = ("Q", 4)
    STRING = ("s", 8)  # 16 bytes

    def __init__(self, struct_code: str, registers: int) -> None:
        self.struct_code = struct_code
        self.registers = registers
        bits = 16 * registers
        #: Raw value meaning "not available" for this kind.
        self.not_available = -(1 << (bits - 1)) if struct_code.islower() else (1 << bits) - 1


class MapError(ValueError):
    """A register block could not be decoded into values.

    :param reason: short machine-readable reason, used as a metric label.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


Value = float | int | str | None


@dataclass(frozen=True)
class Field:
    """One named value, possibly repeated (per phase or per channel)."""

    name: str
    kind: Kind
    description: str
    unit: str = ""
    scale: float = 1.0
    count: int = 1
    valid: tuple[float, float] | None = None
    nullable: bool = False
    states: tuple[str, ...] = ()
    writable: bool = False
    labels: tuple[str, ...] = ()
    to_si: float = 1.0
    divisor: int = field(init=False, repr=False, compare=False)
    """Counts per ``unit`` when ``scale`` is the reciprocal of a whole number (0.1, 0.01,
    0.001), else 1: a count divided by it is the decimal the unit shows (``2301 / 10`` is
    230.1, ``2301 * 0.1`` is 230.10000000000002); any other scale multiplies."""

    def __post_init__(self) -> None:
        counts = 1 / self.scale if self.scale else 0.0
        whole = 0.0 < self.scale < 1.0 and counts == round(counts)
        object.__setattr__(self, "divisor", round(counts) if whole else 1)

    @classmethod
    def declared(cls, m: Measurement, channel_count: int = CHANNEL_COUNT) -> Field:
        """The register field of a declared measurement (named as the measurement), for a
        model of ``channel_count`` channels."""
        r = m.register
        return cls(
            m.name, Kind[r.kind.upper()], m.description, r.unit or m.unit, r.scale,
            m.scope.count_for(channel_count), r.valid, r.nullable, m.states,
            labels=m.scope.keys_for(channel_count), to_si=r.to_si,
        )  # fmt: skip

    @property
    def registers(self) -> int:
        return self.kind.registers * self.count


@dataclass(frozen=True)
class Block:
    """A contiguous run of fields, read with the requests :attr:`reads` plans (one unless
    the block is longer than one read may carry) and decoded as one."""

    name: str
    table: Table
    start: int
    fields: tuple[Field, ...]
    addresses: Mapping[str, int] = field(init=False, repr=False, compare=False)
    count: int = field(init=False, repr=False, compare=False)
    """Registers in the block."""
    reads: tuple[tuple[int, int], ...] = field(init=False, repr=False, compare=False)
    """(start, count) of each request that reads the block, in address order: each at
    most :data:`~.client.MAX_REGISTERS`, ending between two items."""
    _layout: struct.Struct = field(init=False, repr=False, compare=False)
    """Every item of every field in one big-endian struct: decoding is one unpack."""

    def __post_init__(self) -> None:
        addresses: dict[str, int] = {}
        next_address = self.start
        codes = []
        for f in self.fields:
            addresses[f.name] = next_address
            next_address += f.registers
            item = f"{f.kind.registers * 2}s" if f.kind is Kind.STRING else f.kind.struct_code
            codes.append(item * f.count)
        object.__setattr__(self, "addresses", addresses)
        object.__setattr__(self, "count", next_address - self.start)
        object.__setattr__(self, "reads", _plan_reads(self.start, self.fields))
        object.__setattr__(self, "_layout", struct.Struct(">" + "".join(codes)))

    def decode(
        self, registers: Sequence[int], unit: str = "unit"
    ) -> dict[str, Value | list[Value]]:
        """Turn raw registers into engineering values, checking every field.

        :raises MapError: wrong length, a value outside its valid range, an
            unknown enumeration value, or "not available" where it is not allowed
            (text that is not UTF-8 is not an error: its bad bytes show as U+FFFD).
        """
        return self.decode_bytes(struct.pack(f">{len(registers)}H", *registers), unit)

    def decode_bytes(self, raw: bytes, unit: str = "unit") -> dict[str, Value | list[Value]]:
        """:meth:`decode` of the registers as they come off the wire (big-endian)."""
        if len(raw) != 2 * self.count:
            raise MapError(
                "short_frame",
                f"{unit}: block {self.name!r} returned {len(raw) / 2:g} registers, "
                f"expected {self.count}",
            )
        items = self._layout.unpack(raw)
        values: dict[str, Value | list[Value]] = {}
        at = 0
        for f in self.fields:
            decoded = _decode_field(f, items[at : at + f.count], unit)
            values[f.name] = decoded if f.count > 1 else decoded[0]
            at += f.count
        return values

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def item_address(self, name: str, index: int = 0) -> int:
        """Address of item ``index`` (0-based) of a repeated field."""
        return self.addresses[name] + index * self.field(name).kind.registers

    def encode_item(self, name: str, value: Value) -> list[int]:
        """The registers of one item of field ``name``, rounded and clamped as :meth:`encode`."""
        data = _encode_one(self.field(name), value)
        return list(struct.unpack(f">{len(data) // 2}H", data))

    def encode(self, values: Mapping[str, Value | Sequence[Value]]) -> list[int]:
        """Turn engineering values into registers (the simulator's side).

        ``None`` encodes as "not available". Values are rounded to the field's
        resolution and clamped to what the register can hold. A value outside the valid
        range of a field that may be not available is served as not available (over
        range): never as a number the unit did not measure.
        """
        out = bytearray()
        for f in self.fields:
            given = values[f.name]
            items: list[Value] = (
                list(given)
                if isinstance(given, Sequence) and not isinstance(given, str)
                else [given]
            )
            if len(items) != f.count:
                raise ValueError(f"{f.name}: expected {f.count} values, got {len(items)}")
            for item in items:
                out += _encode_one(f, item)
        return list(struct.unpack(f">{len(out) // 2}H", bytes(out)))


def _plan_reads(start: int, fields: Sequence[Field]) -> tuple[tuple[int, int], ...]:
    """The fewest requests that read ``fields`` from ``start`` in order, each ending
    between two items (a 32- or 64-bit value is never split across two replies)."""
    reads: list[tuple[int, int]] = []
    read_start, read_count = start, 0
    for f in fields:
        for _ in range(f.count):
            if read_count + f.kind.registers > MAX_REGISTERS:
                reads.append((read_start, read_count))
                read_start, read_count = read_start + read_count, 0
            read_count += f.kind.registers
    if read_count:
        reads.append((read_start, read_count))
    return tuple(reads)


def _decode_field(f: Field, raws: Sequence[int | bytes], unit: str) -> list[Value]:
    """Every item of one field. Numbers and states in range take a short way for the whole
    field; anything else (text, "not available", out of range) goes item by item."""
    if f.kind is Kind.STRING or f.kind.not_available in raws:
        return [_decode_one(f, raw, i, unit) for i, raw in enumerate(raws)]
    numbers = cast(Sequence[int], raws)  # not text: integers
    if f.states:
        if min(numbers) >= 0 and max(numbers) < len(f.states):
            return [f.states[n] for n in numbers]
    else:
        values: list[float] = (
            [n / f.divisor for n in numbers] if f.divisor != 1
            else [n * f.scale for n in numbers] if f.scale != 1.0
            else [*numbers]
        )  # fmt: skip
        if f.valid is None or (f.valid[0] <= min(values) and max(values) <= f.valid[1]):
            return [v * f.to_si for v in values] if f.to_si != 1.0 else [*values]
    return [_decode_one(f, raw, i, unit) for i, raw in enumerate(raws)]


def _decode_one(f: Field, raw: int | bytes, index: int, unit: str) -> Value:
    """One item, unpacked: an integer, or the bytes of a string."""
    if isinstance(raw, bytes):
        # A name byte that is not UTF-8 shows as U+FFFD: one odd name must not take the
        # unit down and hide every reading.
        return raw.rstrip(b"\x00").decode("utf-8", errors="replace")
    if raw == f.kind.not_available:
        if f.nullable:
            return None
        raise MapError(
            "bad_value", f"{_where(f, index, unit)} reports 'not available', which it never should"
        )
    if f.states:
        if not 0 <= raw < len(f.states):
            raise MapError(
                "out_of_range",
                f"{_where(f, index, unit)} = {raw} is not one of 0..{len(f.states) - 1}",
            )
        return f.states[raw]
    value = raw / f.divisor if f.divisor != 1 else raw * f.scale if f.scale != 1.0 else raw
    if f.valid is not None and not f.valid[0] <= value <= f.valid[1]:
        raise MapError(
            "out_of_range",
            f"{_where(f, index, unit)} = {value:g} {f.unit} is outside "
            f"{f.valid[0]:g}..{f.valid[1]:g} {f.unit}",
        )
    return value * f.to_si if f.to_si != 1.0 else value


def _where(f: Field, index: int, unit: str) -> str:
    """The item in an error message: ``unit: name`` or ``unit: name[channel]``."""
    return f"{unit}: {f.name}" + (f"[{index + 1}]" if f.count > 1 else "")


def _encode_one(f: Field, value: Value) -> bytes:
    if f.kind is Kind.STRING:
        data = str(value or "").encode("utf-8")[: f.kind.registers * 2]
        return data.ljust(f.kind.registers * 2, b"\x00")
    if value is None or (f.nullable and not f.states and _over_range(f, float(value))):
        raw = f.kind.not_available
    elif f.states:
        raw = f.states.index(str(value))
    else:
        raw = round(float(value) / f.scale / f.to_si)
        bits = 16 * f.kind.registers
        if f.kind.struct_code.islower():
            low, high = -(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1
        else:
            low, high = 0, (1 << bits) - 2
        raw = min(max(raw, low), high)
    return struct.pack(f">{f.kind.struct_code}", raw)


def _over_range(f: Field, value: float) -> bool:
    if f.valid is None:
        return False
    wire = value / f.to_si
    return not f.valid[0] <= wire <= f.valid[1]


# --- The register map, version 1 ----------------------------------------------------


def measurement_block(channel_count: int = CHANNEL_COUNT) -> Block:
    """Every declared measurement, in declaration order, for ``channel_count`` channels."""
    return Block(
        name="measurements",
        table=Table.INPUT,
        start=0,
        fields=tuple(Field.declared(m, channel_count) for m in DECLARED),
    )


def settings_block(channel_count: int = CHANNEL_COUNT) -> Block:
    """The channels' settings: supervision band and name of each of ``channel_count``."""
    channels = channel_keys(channel_count)
    return Block(
        name="settings",
        table=Table.HOLDING,
        start=0,
        fields=(
            Field(
                "supervision_min",
                Kind.U16,
                "Channel supervision minimum; not available = not set",
                "A",
                0.01,
                valid=(0.0, 63.0),
                nullable=True,
                writable=True,
                count=channel_count,
                labels=channels,
            ),
            Field(
                "supervision_max",
                Kind.U16,
                "Channel supervision maximum; not available = not set",
                "A",
                0.01,
                valid=(0.0, 63.0),
                nullable=True,
                writable=True,
                count=channel_count,
                labels=channels,
            ),
            Field(
                "channel_name",
                Kind.STRING,
                "Channel name (UTF-8, up to 16 bytes)",
                writable=True,
                count=channel_count,
                labels=channels,
            ),
        ),
    )


def unit_settings_block(settings: Block) -> Block:
    """The unit's own settings, right after the channel settings: a block of its own
    because a C12B's channel settings already fill 120 of the 125 registers one read may
    return."""
    return Block(
        name="unit_settings",
        table=Table.HOLDING,
        start=settings.start + settings.count,
        fields=(
            Field(
                "unit_name",
                Kind.STRING,
                "Unit name, as set on the unit's web page (UTF-8, up to 16 bytes)",
                writable=True,
            ),
        ),
    )


MEASUREMENTS = measurement_block()
SETTINGS = settings_block()
UNIT_SETTINGS = unit_settings_block(SETTINGS)


@dataclass(frozen=True)
class DeviceIdentification:
    """Read Device Identification (function 43/14) objects the unit serves."""

    vendor: int = 0x00
    product_code: int = 0x01
    revision: int = 0x02
    vendor_url: int = 0x03
    product_name: int = 0x04
    model_name: int = 0x05
    serial_number: int = 0x80  # first private object


@dataclass(frozen=True)
class RegisterMap:
    """A whole register map: the blocks read every poll, and identification."""

    version: str
    blocks: tuple[Block, ...]
    identification: DeviceIdentification = DeviceIdentification()

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def field(self, name: str) -> tuple[Block, Field]:
        for b in self.blocks:
            for f in b.fields:
                if f.name == name:
                    return b, f
        raise KeyError(name)


C12B_V1 = RegisterMap(version="1", blocks=(MEASUREMENTS, SETTINGS, UNIT_SETTINGS))
"""The register map served by C12B firmware 1.x (and by the simulator)."""


@functools.cache
def register_map(channel_count: int) -> RegisterMap:
    """Version 1 of the register map for a model of ``channel_count`` channels: the C12B's
    layout with each per-channel field ``channel_count`` wide (every block after a wider
    one moves up with it); :data:`C12B_V1` itself for 12."""
    if channel_count == CHANNEL_COUNT:
        return C12B_V1
    if channel_count < 1:
        raise ValueError(f"a register map needs at least one channel, not {channel_count}")
    settings = settings_block(channel_count)
    blocks = (measurement_block(channel_count), settings, unit_settings_block(settings))
    return RegisterMap(version="1", blocks=blocks)


def channel_count_of(register_map: RegisterMap) -> int:
    """The channels a register map carries (the width of its per-channel settings)."""
    return register_map.block("settings").field("channel_name").count


def markdown_table(register_map: RegisterMap = C12B_V1) -> str:
    """Render the register map as the Markdown document in ``docs/register-map.md``."""
    ids = register_map.identification
    lines = [
        "# C12B Modbus TCP register map",
        "",
        "Generated from `c12exporter/measurements.py` and `c12exporter/modbus/registermap.py` "
        "by `c12exporter register-map`; do not edit.",
        "",
        f"Register map version {register_map.version}. Modbus TCP, port 502 on hardware, "
        "unit id 1 (any id is answered). Every poll reads each block below, with one request "
        f"unless the block is longer than the {MAX_REGISTERS} registers one read carries "
        f"({sum(len(b.reads) for b in register_map.blocks)} requests per unit); "
        "identification is read once per connection.",
        "",
        "* Registers are 16-bit big-endian; 32- and 64-bit values put the most significant "
        "word first.",
        "* Addresses are PDU addresses counted from 0 (input register 0 is 30001 in the "
        "old 1-based notation, holding register 0 is 40001).",
        "* Engineering value = raw x scale, in the unit given.",
        "* *Not available* is all ones for unsigned types (0xFFFF, 0xFFFFFFFF, ...) and the "
        "most negative value for signed types (0x8000, 0x80000000). Only fields marked "
        "nullable may report it; on any other field it is a fault. A nullable field whose "
        "value is beyond its valid range (over range) reports it too, rather than a clamped "
        "number.",
        "* Strings are UTF-8, NUL padded, 16 bytes in 8 registers, first byte in the high half.",
        "* Repeated fields (per phase L1-L3, per channel "
        f"1-{channel_count_of(register_map)}) occupy consecutive addresses in that order.",
        "",
        "## Device identification (function 43, MEI type 14)",
        "",
        "| object id | content |",
        "|---|---|",
        f"| 0x{ids.vendor:02X} | VendorName: `StageSmarts` |",
        f"| 0x{ids.product_code:02X} | ProductCode: the model, e.g. `C12B-12` |",
        f"| 0x{ids.revision:02X} | MajorMinorRevision: firmware version |",
        f"| 0x{ids.vendor_url:02X} | VendorUrl |",
        f"| 0x{ids.product_name:02X} | ProductName: `C12` |",
        f"| 0x{ids.model_name:02X} | ModelName: the model, e.g. `C12B-12` |",
        f"| 0x{ids.serial_number:02X} | serial number (private object) |",
        "",
    ]
    for block in register_map.blocks:
        table = (
            "input registers (function 4)"
            if block.table is Table.INPUT
            else ("holding registers (function 3 to read, 16 to write)")
        )
        lines += [
            f"## Block `{block.name}`: {table}, {block.start}..{block.start + block.count - 1} "
            f"({block.count} registers)",
            "",
            *_reads_line(block),
            "| address | field | type | count | scale | unit | valid range | nullable | "
            "writable | description |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for f in block.fields:
            address = block.addresses[f.name]
            span = f"{address}" if f.registers == 1 else f"{address}..{address + f.registers - 1}"
            count = f"{f.count} ({', '.join(f.labels)})" if f.count > 1 else "1"
            valid = f"{f.valid[0]:g}..{f.valid[1]:g}" if f.valid else ""
            desc = f.description
            if f.states:
                desc += ": " + ", ".join(f"{k} = {v}" for k, v in enumerate(f.states))
            if f.to_si != 1.0:
                desc += f" (decoded x {f.to_si:g} to SI)"
            lines.append(
                f"| {span} | `{f.name}` | {f.kind.name.lower()} | {count} | {f.scale:g} | "
                f"{f.unit} | {valid} | {'yes' if f.nullable else ''} | "
                f"{'yes' if f.writable else ''} | {desc} |"
            )
        lines.append("")
    return "\n".join(lines)


def _reads_line(block: Block) -> list[str]:
    """The requests of a block read with more than one (none for one)."""
    if len(block.reads) == 1:
        return []
    spans = ", ".join(f"{start}..{start + count - 1}" for start, count in block.reads)
    return [f"Read with {len(block.reads)} requests: {spans}.", ""]
