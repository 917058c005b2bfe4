"""The C12B's Modbus TCP register map, kept as data.

StageSmarts publishes no protocol, so this project defines the unit's network
interface. Everything that touches registers derives from the tables here: the
decoder (:func:`RegisterMap.decode`), the simulator's encoder
(:func:`RegisterMap.encode`) and the documentation table
(``docs/register-map.md``, written by :func:`markdown_table`).

Conventions (also stated in the generated document):

* Registers are 16 bit, big-endian; multi-register values put the most
  significant word first ("big-endian word order").
* Addresses are Modbus PDU addresses, counted from 0.
* A field's engineering value is ``raw * scale`` in the unit named by ``unit``.
* "Not available" is the all-ones pattern for unsigned types and the most
  negative value for signed types (SunSpec style). A field that may not be
  available says so (``nullable``); any other field reporting it is an error.
* Strings are UTF-8, NUL padded, two bytes per register, first byte high.

A firmware with another register map is a new :class:`RegisterMap` value, not
new code.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PHASES: tuple[str, ...] = ("L1", "L2", "L3")
CHANNEL_COUNT = 12


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
    enum: Mapping[int, str] | None = None
    writable: bool = False
    labels: tuple[str, ...] = ()

    @property
    def registers(self) -> int:
        return self.kind.registers * self.count


@dataclass(frozen=True)
class Block:
    """A contiguous run of fields read with one request."""

    name: str
    table: Table
    start: int
    fields: tuple[Field, ...]
    addresses: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        addresses: dict[str, int] = {}
        next_address = self.start
        for f in self.fields:
            addresses[f.name] = next_address
            next_address += f.registers
        object.__setattr__(self, "addresses", addresses)

    @property
    def count(self) -> int:
        return sum(f.registers for f in self.fields)

    def decode(
        self, registers: Sequence[int], unit: str = "unit"
    ) -> dict[str, Value | list[Value]]:
        """Turn raw registers into engineering values, checking every field.

        :raises MapError: wrong length, a value outside its valid range, an
            unknown enumeration value, "not available" where it is not allowed
            or a string that is not UTF-8.
        """
        if len(registers) != self.count:
            raise MapError(
                "short_frame",
                f"{unit}: block {self.name!r} returned {len(registers)} registers, "
                f"expected {self.count}",
            )
        raw = struct.pack(f">{len(registers)}H", *registers)
        values: dict[str, Value | list[Value]] = {}
        offset = 0
        for f in self.fields:
            items: list[Value] = []
            for index in range(f.count):
                size = f.kind.registers * 2
                chunk = raw[offset : offset + size]
                offset += size
                items.append(_decode_one(f, chunk, index, unit))
            values[f.name] = items if f.count > 1 else items[0]
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
        resolution and clamped to what the register can hold.
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


def _decode_one(f: Field, chunk: bytes, index: int, unit: str) -> Value:
    where = f"{unit}: {f.name}" + (f"[{index + 1}]" if f.count > 1 else "")
    if f.kind is Kind.STRING:
        try:
            return chunk.rstrip(b"\x00").decode("utf-8")
        except UnicodeDecodeError:
            raise MapError("bad_value", f"{where} is not UTF-8 text") from None
    raw: int = struct.unpack(f">{f.kind.struct_code}", chunk)[0]
    if raw == f.kind.not_available:
        if f.nullable:
            return None
        raise MapError("bad_value", f"{where} reports 'not available', which it never should")
    if f.enum is not None:
        if raw not in f.enum:
            raise MapError("out_of_range", f"{where} = {raw} is not one of {sorted(f.enum)}")
        return int(raw)
    value = raw * f.scale if f.scale != 1.0 else raw
    if f.valid is not None and not f.valid[0] <= value <= f.valid[1]:
        raise MapError(
            "out_of_range",
            f"{where} = {value:g} {f.unit} is outside {f.valid[0]:g}..{f.valid[1]:g} {f.unit}",
        )
    return value


def _encode_one(f: Field, value: Value) -> bytes:
    if f.kind is Kind.STRING:
        data = str(value or "").encode("utf-8")[: f.kind.registers * 2]
        return data.ljust(f.kind.registers * 2, b"\x00")
    if value is None:
        raw = f.kind.not_available
    else:
        raw = round(float(value) / f.scale)
        bits = 16 * f.kind.registers
        if f.kind.struct_code.islower():
            low, high = -(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1
        else:
            low, high = 0, (1 << bits) - 2
        raw = min(max(raw, low), high)
    return struct.pack(f">{f.kind.struct_code}", raw)


# --- The C12B register map, version 1 ------------------------------------------------

ESTOP_STATES = {0: "released", 1: "pressed"}
SWITCH_STATES = {0: "off", 1: "on"}
NEUTRAL_STATES = {0: "ok", 1: "lost"}
BREAKER_STATES = {0: "closed", 1: "open"}
LOAD_STATES = {0: "off", 1: "normal", 2: "slight_overload", 3: "serious_overload"}

CHANNELS: tuple[str, ...] = tuple(str(n) for n in range(1, CHANNEL_COUNT + 1))
CURRENT_RANGE_A = (0.0, 650.0)

MEASUREMENTS = Block(
    name="measurements",
    table=Table.INPUT,
    start=0,
    fields=(
        Field("estop", Kind.U16, "Emergency stop button", enum=ESTOP_STATES),
        Field("switch", Kind.U16, "Switch disconnector", enum=SWITCH_STATES),
        Field("neutral", Kind.U16, "Loss-of-neutral sensor", enum=NEUTRAL_STATES),
        Field(
            "temperature",
            Kind.S16,
            "Unit temperature",
            "°C",
            0.1,
            valid=(-40.0, 125.0),
            nullable=True,
        ),
        Field("uptime", Kind.U32, "Seconds since the unit was last powered up", "s"),
        Field(
            "voltage",
            Kind.U16,
            "Line-neutral voltage; not available when the phase's meter fuse is blown",
            "V",
            0.1,
            valid=(0.0, 500.0),
            nullable=True,
            count=3,
            labels=PHASES,
        ),
        Field(
            "current",
            Kind.U16,
            "Line current",
            "A",
            0.01,
            valid=CURRENT_RANGE_A,
            count=3,
            labels=PHASES,
        ),
        Field("neutral_current", Kind.U16, "Neutral current", "A", 0.01, valid=CURRENT_RANGE_A),
        Field(
            "max_current",
            Kind.U16,
            "Maximum line current since power-up",
            "A",
            0.01,
            valid=CURRENT_RANGE_A,
            count=3,
            labels=PHASES,
        ),
        Field(
            "max_neutral_current",
            Kind.U16,
            "Maximum neutral current since power-up",
            "A",
            0.01,
            valid=CURRENT_RANGE_A,
        ),
        Field(
            "current_thd",
            Kind.U16,
            "Average current THD since power-up",
            "ratio",
            0.001,
            valid=(0.0, 10.0),
            count=3,
            labels=PHASES,
        ),
        Field(
            "voltage_thd",
            Kind.U16,
            "Average voltage THD since power-up",
            "ratio",
            0.001,
            valid=(0.0, 1.0),
            nullable=True,
            count=3,
            labels=PHASES,
        ),
        Field(
            "frequency", Kind.U16, "Supply frequency", "Hz", 0.01, valid=(40.0, 70.0), nullable=True
        ),
        Field(
            "active_power",
            Kind.S32,
            "Active power per phase",
            "W",
            valid=(-50e3, 50e3),
            nullable=True,
            count=3,
            labels=PHASES,
        ),
        Field("active_power_total", Kind.S32, "Total active power", "W", valid=(-150e3, 150e3)),
        Field(
            "reactive_power",
            Kind.S32,
            "Reactive power per phase",
            "var",
            valid=(-50e3, 50e3),
            nullable=True,
            count=3,
            labels=PHASES,
        ),
        Field(
            "reactive_power_total", Kind.S32, "Total reactive power", "var", valid=(-150e3, 150e3)
        ),
        Field(
            "apparent_power",
            Kind.U32,
            "Apparent power per phase",
            "VA",
            valid=(0.0, 50e3),
            nullable=True,
            count=3,
            labels=PHASES,
        ),
        Field("apparent_power_total", Kind.U32, "Total apparent power", "VA", valid=(0.0, 150e3)),
        Field(
            "power_factor",
            Kind.S16,
            "Power factor per phase",
            "ratio",
            0.001,
            valid=(-1.0, 1.0),
            nullable=True,
            count=3,
            labels=PHASES,
        ),
        Field(
            "power_factor_average",
            Kind.S16,
            "Average power factor (total P / total S)",
            "ratio",
            0.001,
            valid=(-1.0, 1.0),
            nullable=True,
        ),
        Field(
            "demand_active",
            Kind.U32,
            "Active power demand (15 min window)",
            "W",
            valid=(0.0, 150e3),
        ),
        Field(
            "demand_apparent",
            Kind.U32,
            "Apparent power demand (15 min window)",
            "VA",
            valid=(0.0, 150e3),
        ),
        Field(
            "max_demand_active",
            Kind.U32,
            "Maximum active power demand since power-up",
            "W",
            valid=(0.0, 150e3),
        ),
        Field(
            "max_demand_apparent",
            Kind.U32,
            "Maximum apparent power demand since power-up",
            "VA",
            valid=(0.0, 150e3),
        ),
        Field("active_energy", Kind.U64, "Import active energy since power-up", "Wh"),
        Field("reactive_energy", Kind.U64, "Import reactive energy since power-up", "varh"),
        Field(
            "channel_current",
            Kind.U16,
            "Channel output current",
            "A",
            0.01,
            valid=CURRENT_RANGE_A,
            count=CHANNEL_COUNT,
            labels=CHANNELS,
        ),
        Field(
            "channel_breaker",
            Kind.U16,
            "Channel RCBO",
            enum=BREAKER_STATES,
            count=CHANNEL_COUNT,
            labels=CHANNELS,
        ),
        Field(
            "channel_load",
            Kind.U16,
            "Channel load LED",
            enum=LOAD_STATES,
            count=CHANNEL_COUNT,
            labels=CHANNELS,
        ),
    ),
)

SETTINGS = Block(
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
            count=CHANNEL_COUNT,
            labels=CHANNELS,
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
            count=CHANNEL_COUNT,
            labels=CHANNELS,
        ),
        Field(
            "channel_name",
            Kind.STRING,
            "Channel name (UTF-8, up to 16 bytes)",
            writable=True,
            count=CHANNEL_COUNT,
            labels=CHANNELS,
        ),
    ),
)


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


C12B_V1 = RegisterMap(version="1", blocks=(MEASUREMENTS, SETTINGS))
"""The register map served by C12B firmware 1.x (and by the simulator)."""


def markdown_table(register_map: RegisterMap = C12B_V1) -> str:
    """Render the register map as the Markdown document in ``docs/register-map.md``."""
    ids = register_map.identification
    lines = [
        "# C12B Modbus TCP register map",
        "",
        "Generated from `c12exporter/registermap.py` by `c12exporter register-map`; do not edit.",
        "",
        f"Register map version {register_map.version}. Modbus TCP, port 502 on hardware, "
        "unit id 1 (any id is answered). Every poll reads each block below with one request "
        f"({len(register_map.blocks)} requests per unit); identification is read once per "
        "connection.",
        "",
        "* Registers are 16-bit big-endian; 32- and 64-bit values put the most significant "
        "word first.",
        "* Addresses are PDU addresses counted from 0 (input register 0 is 30001 in the "
        "old 1-based notation, holding register 0 is 40001).",
        "* Engineering value = raw x scale, in the unit given.",
        "* *Not available* is all ones for unsigned types (0xFFFF, 0xFFFFFFFF, ...) and the "
        "most negative value for signed types (0x8000, 0x80000000). Only fields marked "
        "nullable may report it; on any other field it is a fault.",
        "* Strings are UTF-8, NUL padded, 16 bytes in 8 registers, first byte in the high half.",
        "* Repeated fields (per phase L1-L3, per channel 1-12) occupy consecutive addresses "
        "in that order.",
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
            if f.enum:
                desc += ": " + ", ".join(f"{k} = {v}" for k, v in f.enum.items())
            lines.append(
                f"| {span} | `{f.name}` | {f.kind.name.lower()} | {count} | {f.scale:g} | "
                f"{f.unit} | {valid} | {'yes' if f.nullable else ''} | "
                f"{'yes' if f.writable else ''} | {desc} |"
            )
        lines.append("")
    return "\n".join(lines)
