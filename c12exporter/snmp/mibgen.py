"""C12-PDU-MIB's four tables written from the declarations.

Each column of c12UnitTable, c12InputTable, c12LineTable and c12ChannelTable is declared
once in Python: a measurement's column on its declaration (:class:`c12exporter.measurements.
Column`), every other column in :data:`c12exporter.snmp.columns.COLUMNS`. This module
writes, between marker comments of ``C12-PDU-MIB.txt``, each table's SEQUENCE, its
columns' OBJECT-TYPE definitions and its OBJECT-GROUP. The rest of the MIB (the module
identity and its revisions, the textual conventions, the tables' and entries' own
definitions, the notifications) is written by hand.

A measurement declared with a :class:`~c12exporter.measurements.Column` and nothing else
gets a column: the next free number in its table, a SYNTAX and UNITS from its SI unit and
scale (:data:`SYNTAX_OF_STEP`), its description as the DESCRIPTION. Run::

    python -m c12exporter.snmp.mibgen            # rewrite the package's MIB
    python -m c12exporter.snmp.mibgen --check    # exit 1 if it is stale

then ``make mibs`` for the copy in ``mibs/`` at the top of the repository, and add a
REVISION clause when the change is one a manager should know about.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..measurements import MEASUREMENTS, Measurement, Scope
from .columns import COLUMNS, MibColumn

MIB_FILE = Path(__file__).parent / "mibs" / "C12-PDU-MIB.txt"
WIDTH = 70
"""The longest line of a wrapped DESCRIPTION."""


@dataclass(frozen=True)
class Table:
    """A table whose columns are generated, and the object group that lists them."""

    entry: str
    scope: Scope
    prefix: str
    """A unit-scope measurement's column is in this table when its name starts so."""
    group: str
    group_arc: int
    group_description: str
    doc_source: str = "from the Reading"
    """The heading of docs/mib.md's last column."""


TABLES: tuple[Table, ...] = (
    Table("c12UnitEntry", Scope.UNIT, "c12Unit", "c12UnitGroup", 2,
          "Identity, reachability and the safety chain of each unit.",
          "from the Reading (or the store and config)"),
    Table("c12InputEntry", Scope.UNIT, "c12Input", "c12InputGroup", 3,
          "The unit-wide values of the main meter."),
    Table("c12LineEntry", Scope.PHASE, "c12Line", "c12LineGroup", 4,
          "The per-line values of the main meter.", "from `Reading.phases[line - 1]`"),
    Table("c12ChannelEntry", Scope.CHANNEL, "c12Channel", "c12ChannelGroup", 5,
          "The output channels: wiring, current, breaker, load LED, supervision, trip "
          "forecast and RCBO test log.", "from `Reading.channels[channel - 1]`"),
)  # fmt: skip

SYNTAX_OF_STEP: Mapping[tuple[str, float], str] = {
    ("A", 0.001): "C12MilliAmperes",
    ("V", 0.1): "C12DeciVolts",
    ("Hz", 0.01): "C12CentiHertz",
    ("°C", 0.1): "C12DeciCelsius",
    ("ratio", 0.001): "C12Thousandths",
}
"""The textual convention of a measurement's column by its SI unit and the SI value of
one step (:attr:`Column.step`); any other is an Integer32 (Counter64 for a counter)."""

UNITS_OF: Mapping[str, str] = {
    "A": "A",
    "V": "V",
    "W": "W",
    "var": "var",
    "VA": "VA",
    "Hz": "Hz",
    "°C": "degrees Celsius",
    "s": "seconds",
}
"""The UNITS clause of a measurement's column by its SI unit (the register's unit when the
column counts in it, e.g. Wh)."""


SCALE_OF_SYNTAX: Mapping[str, str] = {
    "C12MilliAmperes": "mA",
    "C12DeciVolts": "0.1 V",
    "C12CentiHertz": "0.01 Hz",
    "C12DeciCelsius": "0.1 °C",
    "C12Thousandths": "0.001",
    "C12DeciPercent": "0.1 %",
    "TimeTicks": "0.01 s",
}
"""docs/mib.md's "scale / units" of a column by its type (else its UNITS)."""


class MibGenerationError(ValueError):
    """The declarations cannot make a valid MIB."""


def _camel(label: str) -> str:
    head, *rest = label.split("_")
    return head + "".join(part.title() for part in rest)


def default_syntax(m: Measurement) -> str:
    """The SYNTAX a measurement's column gets unless its :class:`Column` names one."""
    assert m.column is not None
    if m.states:
        return (
            "INTEGER { "
            + ", ".join(f"{_camel(state)}({n})" for n, state in enumerate(m.states, start=1))
            + " }"
        )
    if m.metric is not None and m.metric.counter:
        return "Counter64"
    base = SYNTAX_OF_STEP.get((m.unit, m.column.step), "Integer32")
    unsigned = m.register.kind.startswith("u")
    return f"{base} (0..2147483647)" if unsigned else base


def default_units(m: Measurement) -> str:
    """The UNITS a measurement's column gets unless its :class:`Column` names one."""
    assert m.column is not None
    if m.register.to_si != 1.0 and m.column.step == m.register.to_si:
        return m.register.unit
    return UNITS_OF.get(m.unit, "")


def default_source(m: Measurement) -> str:
    """What a measurement's column holds, for docs/mib.md."""
    assert m.column is not None
    step, text = m.column.step, f"`{m.name}`"
    if not m.states and step < 1:
        text += f" x {round(1 / step)}"
    elif not m.states and step > 1:
        text += f" / {step:g}"
    if m.column.wrap:
        text += f", modulo 2^{m.column.wrap.bit_length() - 1}"
    if m.register.nullable:
        text += "; absent when not available"
    return text


def measured_column(m: Measurement, table: Table) -> MibColumn:
    """A measurement's column with its defaults filled in (``arc`` may stay ``None``)."""
    column = m.column
    assert column is not None
    syntax = column.syntax or default_syntax(m)
    units = default_units(m) if column.units is None else column.units
    return MibColumn(
        table.entry,
        column.arc,
        column.name,
        syntax,
        units=units,
        description=column.description or f"{m.description}.",
        scale=SCALE_OF_SYNTAX.get(_base_type(syntax), units),
        source=default_source(m),
    )


def table_of(m: Measurement) -> Table:
    """The table that holds a measurement's column."""
    assert m.column is not None
    for table in TABLES:
        if table.scope is m.scope and m.column.name.startswith(table.prefix):
            return table
    raise MibGenerationError(
        f"measurement {m.name!r}: column {m.column.name!r} fits no table; a "
        f"{m.scope.value}-scope column's name starts with "
        + " or ".join(repr(t.prefix) for t in TABLES if t.scope is m.scope)
    )


def columns_of(
    table: Table,
    measurements: Iterable[Measurement] = MEASUREMENTS,
    others: Iterable[MibColumn] = COLUMNS,
) -> list[MibColumn]:
    """The table's columns in number order; a column declared without a number takes the
    next free one, in declaration order."""
    declared = [c for c in others if c.entry == table.entry]
    declared += [
        measured_column(m, table)
        for m in measurements
        if m.column is not None and table_of(m) is table
    ]
    numbered: dict[int, MibColumn] = {}
    names: set[str] = set()
    for column in declared:
        if column.name in names:
            raise MibGenerationError(f"{table.entry}: column {column.name} is declared twice")
        names.add(column.name)
        if column.arc is None:
            continue
        if column.arc in numbered:
            raise MibGenerationError(
                f"{table.entry}: {column.name} and {numbered[column.arc].name} are both "
                f"column {column.arc}"
            )
        numbered[column.arc] = column
    for column in declared:
        if column.arc is None:
            arc = max(numbered, default=0) + 1
            numbered[arc] = dataclasses.replace(column, arc=arc)
    return [numbered[arc] for arc in sorted(numbered)]


# -------------------------------------------------------------------------- writing


def _base_type(syntax: str) -> str:
    """``C12MilliAmperes (0..2147483647)`` -> ``C12MilliAmperes`` (as in a SEQUENCE)."""
    return re.split(r"\s*[({]", syntax, maxsplit=1)[0]


def _description(text: str) -> list[str]:
    lines: list[str] = []
    paragraphs = text.split("\n\n")
    for n, paragraph in enumerate(paragraphs):
        first = '        "' if n == 0 else "         "
        lines += textwrap.wrap(
            paragraph,
            WIDTH,
            initial_indent=first,
            subsequent_indent="         ",
            break_on_hyphens=False,
            break_long_words=False,
        )
        if n < len(paragraphs) - 1:
            lines.append("")
    lines[-1] += '"'
    return lines


def object_type(column: MibColumn) -> str:
    lines = [f"{column.name} OBJECT-TYPE", f"    SYNTAX      {column.syntax}"]
    if column.units:
        lines.append(f'    UNITS       "{column.units}"')
    lines += [
        f"    MAX-ACCESS  {column.access}",
        "    STATUS      current",
        "    DESCRIPTION",
        *_description(column.description),
        f"    ::= {{ {column.entry} {column.arc} }}",
    ]
    return "\n".join(lines)


def table_text(table: Table, columns: Sequence[MibColumn]) -> str:
    """The entry's SEQUENCE and every column's definition."""
    width = max(len(c.name) for c in columns) + 1
    members = ",\n".join(f"    {c.name:<{width}}{_base_type(c.syntax)}" for c in columns)
    entry_type = table.entry[0].upper() + table.entry[1:]
    parts = [f"{entry_type} ::= SEQUENCE {{\n{members}\n}}"]
    parts += [object_type(c) for c in columns]
    return "\n\n".join(parts)


def group_text(table: Table, columns: Sequence[MibColumn]) -> str:
    """The table's OBJECT-GROUP: every column a manager can read or write."""
    objects = ",\n".join(f"        {c.name}" for c in columns if c.access != "not-accessible")
    return "\n".join([
        f"{table.group} OBJECT-GROUP",
        "    OBJECTS     {",
        objects,
        "    }",
        "    STATUS      current",
        "    DESCRIPTION",
        *_description(table.group_description),
        f"    ::= {{ c12Groups {table.group_arc} }}",
    ])  # fmt: skip


def _marker(what: str) -> tuple[str, str]:
    return f"-- begin {what}: written by python -m c12exporter.snmp.mibgen\n", f"-- end {what}\n"


def _between(text: str, markers: tuple[str, str], body: str, where: str) -> str:
    """``text`` with what stands between the two marker lines replaced by ``body``."""
    begin, end = markers
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise MibGenerationError(f"{where}: the marker {begin.strip()!r} or its end is missing")
    return text[: start + len(begin)] + body + text[stop:]


def _replace(text: str, what: str, body: str) -> str:
    return _between(text, _marker(what), "\n" + body + "\n\n", MIB_FILE.name)


def render(
    text: str,
    measurements: Iterable[Measurement] = MEASUREMENTS,
    others: Iterable[MibColumn] = COLUMNS,
) -> str:
    """``text`` (the MIB) with every generated part rewritten from the declarations."""
    measurements, others = tuple(measurements), tuple(others)
    for table in TABLES:
        columns = columns_of(table, measurements, others)
        text = _replace(text, f"{table.entry} columns", table_text(table, columns))
        text = _replace(text, table.group, group_text(table, columns))
    return text


def _cell(text: str) -> str:
    """Text in a Markdown table cell (a SYNTAX's ``|`` would end the cell)."""
    return text.replace("|", "\\|")


def doc_table(table: Table, columns: Sequence[MibColumn]) -> str:
    """docs/mib.md's table of the entry's columns."""
    rows = [
        f"| col | object | syntax | scale / units | {table.doc_source} |",
        "|---|---|---|---|---|",
    ]
    for c in columns:
        syntax = c.syntax + {
            "not-accessible": ", not-accessible",
            "read-write": ", **read-write**",
        }.get(c.access, "")
        scale = c.scale or SCALE_OF_SYNTAX.get(_base_type(c.syntax), c.units)
        cells = (str(c.arc), f"`{c.name}`", syntax, scale, c.source)
        rows.append("|" + "|".join(f" {_cell(cell)} " if cell else " " for cell in cells) + "|")
    return "\n".join(rows)


def render_docs(
    text: str,
    measurements: Iterable[Measurement] = MEASUREMENTS,
    others: Iterable[MibColumn] = COLUMNS,
) -> str:
    """``text`` (docs/mib.md) with each table of columns rewritten from the declarations."""
    measurements, others = tuple(measurements), tuple(others)
    for table in TABLES:
        markers = (
            f"<!-- begin {table.entry} columns: written by c12exporter docs -->\n",
            f"<!-- end {table.entry} columns -->\n",
        )
        body = doc_table(table, columns_of(table, measurements, others))
        text = _between(text, markers, body + "\n", "docs/mib.md")
    return text


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="python -m c12exporter.snmp.mibgen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the MIB is stale")
    args = parser.parse_args(argv)
    current = MIB_FILE.read_text(encoding="utf-8")
    try:
        wanted = render(current)
    except MibGenerationError as error:
        out(f"error: {error}")
        return 2
    if wanted == current:
        return 0
    if args.check:
        out(f"{MIB_FILE} is out of date: run python -m c12exporter.snmp.mibgen")
        return 1
    MIB_FILE.write_text(wanted, encoding="utf-8")
    out(f"wrote {MIB_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
