"""C12-PDU-MIB's tables are written from the declarations: the committed MIB is what the
generator writes, a declaration without MIB details gets a valid column, and declarations
that cannot make a MIB are refused with the names involved."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from c12exporter import catalogue
from c12exporter.measurements import (
    BY_NAME,
    MEASUREMENTS,
    MILLI,
    Column,
    Measurement,
    Register,
    Scope,
)
from c12exporter.snmp import mibgen
from c12exporter.snmp.columns import COLUMNS
from tests.servers import REPO, require_tool


def test_the_committed_mib_is_what_the_declarations_write() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "c12exporter.snmp.mibgen", "--check"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_mib_doc_tables_are_what_the_declarations_write() -> None:
    text = (REPO / "docs" / "mib.md").read_text(encoding="utf-8")
    assert mibgen.render_docs(text) == text, "docs/mib.md is out of date: run `c12exporter docs`"


LEAKAGE = Measurement(
    "channel_leakage", Scope.CHANNEL, "Residual current of the channel", "A",
    Register("u16", 0.0001, "A", valid=(0.0, 6.0)), column=Column("c12ChannelLeakage", MILLI),
)  # fmt: skip


def test_a_bare_column_takes_the_next_number_and_a_syntax_from_its_unit(tmp_path) -> None:
    text = mibgen.render(mibgen.MIB_FILE.read_text(encoding="utf-8"), (*MEASUREMENTS, LEAKAGE))
    channel = mibgen.columns_of(mibgen.TABLES[3], (*MEASUREMENTS, LEAKAGE))
    assert channel[-1].name == "c12ChannelLeakage" and channel[-1].arc == 22
    assert "    c12ChannelLeakage          C12MilliAmperes\n}" in text
    assert "        c12ChannelLeakage\n    }" in text  # in c12ChannelGroup
    definition = text[text.index("c12ChannelLeakage OBJECT-TYPE") :].split("\n\n")[0]
    assert definition.splitlines() == [
        "c12ChannelLeakage OBJECT-TYPE",
        "    SYNTAX      C12MilliAmperes (0..2147483647)",
        '    UNITS       "A"',
        "    MAX-ACCESS  read-only",
        "    STATUS      current",
        "    DESCRIPTION",
        '        "Residual current of the channel."',
        "    ::= { c12ChannelEntry 22 }",
    ]
    # the written MIB is valid SMIv2 and the column resolves under the channel entry
    for path in mibgen.MIB_FILE.parent.iterdir():
        if path.name != "C12-PDU-MIB.txt":
            (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "C12-PDU-MIB.txt").write_text(text, encoding="utf-8")
    oid = subprocess.run(
        [require_tool("snmptranslate", "snmp"), "-M", str(tmp_path), "-m", "C12-PDU-MIB", "-On",
         "C12-PDU-MIB::c12ChannelLeakage"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert oid.stdout.strip() == ".1.3.6.1.4.1.8072.9999.9999.12.1.5.1.22", oid.stderr
    lint = subprocess.run(
        [require_tool("smilint", "smitools"), "-l", "3", "-p", str(tmp_path / "SNMPv2-SMI.mib"),
         "-p", str(tmp_path / "SNMPv2-TC.mib"), "-p", str(tmp_path / "SNMPv2-CONF.mib"),
         str(tmp_path / "C12-PDU-MIB.txt")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    problems = [line for line in lint.stderr.splitlines() if "already loaded" not in line]
    assert not problems, "\n".join(problems)


def test_a_state_measurement_gets_its_states_as_an_enumeration() -> None:
    relay = Measurement(
        "channel_relay", Scope.CHANNEL, "Channel relay", "", Register("u16"),
        states=("open", "closed_by_hand"), column=Column("c12ChannelRelay"),
    )  # fmt: skip
    assert mibgen.default_syntax(relay) == "INTEGER { open(1), closedByHand(2) }"
    assert mibgen.default_units(relay) == ""


def test_declarations_that_cannot_make_a_mib_are_refused_by_name() -> None:
    clash = dataclasses.replace(LEAKAGE, column=Column("c12ChannelLeakage", MILLI, arc=8))
    with pytest.raises(mibgen.MibGenerationError, match="c12ChannelLeakage and c12ChannelCurrent"):
        mibgen.columns_of(mibgen.TABLES[3], (*MEASUREMENTS, clash))
    twice = dataclasses.replace(LEAKAGE, column=Column("c12ChannelCurrent", MILLI))
    with pytest.raises(mibgen.MibGenerationError, match="c12ChannelCurrent is declared twice"):
        mibgen.columns_of(mibgen.TABLES[3], (*MEASUREMENTS, twice))
    astray = dataclasses.replace(BY_NAME["frequency"], column=Column("c12LineFrequency"))
    with pytest.raises(mibgen.MibGenerationError, match="'c12LineFrequency' fits no table"):
        mibgen.table_of(astray)


def test_every_column_is_declared_once() -> None:
    names = [c.name for c in COLUMNS] + [m.column.name for m in MEASUREMENTS if m.column]
    assert len(names) == len(set(names))


NOT_ON_SNMP = {
    "poll_duration", "polls", "poll_errors", "last_poll_success",  # the agent's own health
    "phase_unbalance_best_move",  # advice in words: `c12exporter advise`
    "channel_rcbo_watched_since", "rcbo_test_period",  # the overdue rule's inputs
}  # fmt: skip
"""Series of a unit that SNMP does not carry, and why (the exporter's own are not a
unit's: they have no row)."""


def test_every_derived_series_of_a_unit_has_its_column_or_a_reason() -> None:
    assert {c.series for c in COLUMNS if c.series} <= set(catalogue.DERIVED_BY_NAME)
    for series in catalogue.DERIVED:
        if isinstance(series.scope, Scope) and series.name not in NOT_ON_SNMP:
            assert catalogue.mib_columns(series.name), f"{series.name}: no MIB column names it"
    assert [c.name for c in catalogue.mib_columns("aux_socket_info")] == [
        "c12ChannelAuxSocket", "c12ChannelAuxSocketName", "c12ChannelAuxSocketStd"
    ]  # fmt: skip
    (current,) = catalogue.mib_columns("channel_current")
    assert (current.name, current.entry, current.arc) == ("c12ChannelCurrent", "c12ChannelEntry", 8)
