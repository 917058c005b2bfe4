"""Names, OIDs and types from the compiled MIB modules loaded in a pysnmp MIB builder.

Every OID the agent uses comes from here: C12-PDU-MIB's objects and notifications (the
module's root is the value of its MODULE-IDENTITY, nowhere else) and the system group of
SNMPv2-MIB, which pysnmp ships compiled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pyasn1.error import PyAsn1Error  # type: ignore[import-untyped]
from pyasn1.type import constraint, univ  # type: ignore[import-untyped]

from .ber import OBJECT_IDENTIFIER, OCTET_STRING, Oid
from .mibcompile import MODULE

SNMPV2_MIB = "SNMPv2-MIB"
READABLE = ("read-only", "read-write", "read-create")
WRITABLE = ("read-write", "read-create")


WIRE_TYPE_MODULES = ("pysnmp.proto.rfc1902", "pyasn1.type.univ")


def _wire_class(syntax: Any) -> Any:
    """The SMI base type under a SYNTAX's textual conventions (``Integer32``, ...)."""
    for cls in type(syntax).__mro__:
        if cls.__module__ in WIRE_TYPE_MODULES:
            return cls
    raise MibError(f"{type(syntax).__name__} has no SMI base type")


class MibError(Exception):
    """The loaded MIB lacks something the agent needs."""


@dataclass(frozen=True)
class ObjectType:
    """One OBJECT-TYPE: a table column or a scalar.

    :param syntax: the pyasn1 prototype of its SYNTAX (textual convention included).
    :param table: the name of the table for a column, ``None`` for a scalar.
    :param tag: the BER tag its values carry on the wire.
    :param kind: ``integer``, ``octets`` or ``oid``.
    :param labels: enumeration label -> number (empty if not enumerated).
    """

    module: str
    name: str
    oid: Oid
    syntax: Any
    access: str
    table: str | None
    tag: int
    kind: str
    labels: Mapping[str, int]

    @property
    def readable(self) -> bool:
        return self.access in READABLE

    @property
    def writable(self) -> bool:
        return self.access in WRITABLE

    def check(self, value: int | bytes) -> bool:
        """Whether ``value`` fits the SYNTAX's ranges and sizes."""
        try:
            self.syntax.subtypeSpec(value)
        except PyAsn1Error:
            return False
        return True

    def cut_text(self, text: bytes) -> bytes | None:
        """``text`` (UTF-8) cut to the longest SIZE its SYNTAX allows, on a character
        boundary; ``None`` if no cut fits (or it already fits)."""
        for size in sorted(_sizes(self.syntax.subtypeSpec), reverse=True):
            if size >= len(text):
                continue
            while size > 0 and text[size] & 0xC0 == 0x80:  # inside a UTF-8 sequence
                size -= 1
            if self.check(text[:size]):
                return text[:size]
        return None

    def raw(
        self, value: int | str | bytes | tuple[int, ...] | None
    ) -> int | bytes | tuple[int, ...]:
        """The wire value of a cell value: enumeration labels become their numbers, text
        becomes UTF-8.

        :raises ValueError: a value of the wrong kind, or an unknown label.
        """
        if self.kind == "integer":
            if isinstance(value, str):
                if value not in self.labels:
                    raise ValueError(f"{self.name}: {value!r} is not one of {sorted(self.labels)}")
                return self.labels[value]
            if not isinstance(value, int):
                raise ValueError(f"{self.name}: {value!r} is not an integer")
            return value
        if self.kind == "octets":
            if isinstance(value, str):
                return value.encode("utf-8")
            if not isinstance(value, bytes):
                raise ValueError(f"{self.name}: {value!r} is not text")
            return value
        if not isinstance(value, tuple):
            raise ValueError(f"{self.name}: {value!r} is not an OBJECT IDENTIFIER")
        return value

    def value(self, raw: int | bytes | tuple[int, ...]) -> Any:
        """A pyasn1 value with this object's wire type and constraints.

        Not ``syntax.clone(raw)``: pysnmp's textual conventions read a value given to
        them through their DISPLAY-HINT (12340 in a ``d-3`` type would become 12340000).
        """
        return _wire_class(self.syntax)(raw, subtypeSpec=self.syntax.subtypeSpec)


def _sizes(spec: Any) -> set[int]:
    """The upper bounds of every SIZE constraint in a (nested) constraint set."""
    if isinstance(spec, constraint.ValueSizeConstraint):
        return {int(spec.stop)}
    if isinstance(spec, constraint.AbstractConstraintSet):
        return {size for inner in spec for size in _sizes(inner)}
    return set()


@dataclass(frozen=True)
class Notification:
    name: str
    oid: Oid
    objects: tuple[tuple[str, str], ...]
    """(module, name) of each object in its OBJECTS clause, in order."""


class LoadedMib:
    """Lookups into the MIB modules a pysnmp ``MibBuilder`` has loaded."""

    def __init__(self, builder: Any, module: str = MODULE) -> None:
        self.builder = builder
        self.module = module
        (self._scalar_class, self._row_class, self._table_class) = builder.import_symbols(
            "SNMPv2-SMI", "MibScalar", "MibTableRow", "MibTable"
        )
        (self._notification_class, self._identity_class) = builder.import_symbols(
            "SNMPv2-SMI", "NotificationType", "ModuleIdentity"
        )
        symbols = builder.mibSymbols.get(module)
        if not symbols:
            raise MibError(f"MIB module {module} is not loaded")
        identities = [s for s in symbols.values() if isinstance(s, self._identity_class)]
        if len(identities) != 1:
            raise MibError(f"{module} has {len(identities)} MODULE-IDENTITY, expected one")
        self.root: Oid = tuple(identities[0].name)
        self._tables = self._table_names(symbols)

    # --- lookups --------------------------------------------------------------------------

    def symbol(self, name: str, module: str | None = None) -> Any:
        try:
            (symbol,) = self.builder.import_symbols(module or self.module, name)
        except Exception as error:  # pysnmp raises SmiError subclasses
            raise MibError(f"{module or self.module} has no {name}: {error}") from None
        return symbol

    def oid(self, name: str, module: str | None = None) -> Oid:
        return tuple(self.symbol(name, module).name)

    def object(self, name: str, module: str | None = None) -> ObjectType:
        symbol = self.symbol(name, module)
        if not isinstance(symbol, self._scalar_class):  # columns are scalars too
            raise MibError(f"{name} is not an OBJECT-TYPE with a value")
        table = self._tables.get(tuple(symbol.name)[:-1])
        syntax = symbol.syntax
        tag_of = syntax.tagSet.superTags[-1]
        if isinstance(syntax, univ.Integer):
            kind = "integer"
        elif isinstance(syntax, univ.OctetString):
            kind = "octets"
        elif isinstance(syntax, univ.ObjectIdentifier):
            kind = "oid"
        else:
            raise MibError(f"{name}: SYNTAX {type(syntax).__name__} is not supported")
        tag = tag_of.tagClass | tag_of.tagFormat | tag_of.tagId
        assert kind != "octets" or tag != OBJECT_IDENTIFIER
        assert kind != "oid" or tag != OCTET_STRING
        named = getattr(syntax, "namedValues", None)
        return ObjectType(
            module=module or self.module,
            name=name,
            oid=tuple(symbol.name),
            syntax=syntax,
            access=str(getattr(symbol, "maxAccess", "not-accessible")),
            table=table,
            tag=tag,
            kind=kind,
            labels={str(k): int(v) for k, v in named.items()} if named else {},
        )

    def objects(self) -> Iterator[ObjectType]:
        """Every OBJECT-TYPE of the module with a value (columns and scalars), in OID order."""
        symbols = self.builder.mibSymbols[self.module]
        found = [
            self.object(name)
            for name, symbol in symbols.items()
            if isinstance(symbol, self._scalar_class)
        ]
        return iter(sorted(found, key=lambda o: o.oid))

    def notification(self, name: str) -> Notification:
        symbol = self.symbol(name)
        if not isinstance(symbol, self._notification_class):
            raise MibError(f"{name} is not a NOTIFICATION-TYPE")
        return Notification(
            name, tuple(symbol.name), tuple((str(m), str(n)) for m, n in symbol.getObjects())
        )

    def notifications(self) -> dict[str, Notification]:
        symbols = self.builder.mibSymbols[self.module]
        return {
            name: self.notification(name)
            for name, symbol in symbols.items()
            if isinstance(symbol, self._notification_class)
        }

    def _table_names(self, symbols: Mapping[str, Any]) -> dict[Oid, str]:
        """Entry OID -> table name, for telling which table a column belongs to."""
        tables = {
            tuple(s.name): name for name, s in symbols.items() if isinstance(s, self._table_class)
        }
        return {
            tuple(s.name): tables[tuple(s.name)[:-1]]
            for s in symbols.values()
            if isinstance(s, self._row_class) and tuple(s.name)[:-1] in tables
        }
