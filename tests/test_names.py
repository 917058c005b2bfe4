"""One rule for names written to a unit, on every writer: the console's edits and SNMP
SETs refuse control characters, bidirectional overrides, zero-width characters and the
byte-order mark alike, and take names in any script."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from c12exporter.console.handlers import EditRefused, parse_edit
from c12exporter.names import name_refusal
from c12exporter.reading import ChannelSettings, Reading
from tests.servers import simulated_reading
from tests.snmp_harness import Stack, parse, snmp_stack

pytestmark = pytest.mark.integration

REFUSED = {
    "escape": ("Stage\x1bleft", "U+001B"),
    "delete": ("Stage\x7f", "U+007F"),
    "right-to-left override": ("Stage\u202eleft", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "zero-width space": ("Stage\u200bleft", "U+200B ZERO WIDTH SPACE"),
    "byte-order mark": ("\ufeffStage", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
    "line separator": ("Stage\u2028left", "U+2028 LINE SEPARATOR"),
}
TAKEN = ["Bühne links", "Сцена", "舞台 2", "Stage-left #3"]


@pytest.fixture(scope="module")
def reading() -> Reading:
    return simulated_reading("C12B-13")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with snmp_stack(tmp_path_factory.mktemp("names")) as running:
        yield running


def console_refusal(reading: Reading, name: str) -> str | None:
    body: dict[str, Any] = {"field": "channel_name", "channel": 1, "value": name}
    try:
        change = parse_edit(body, reading)[0]
    except EditRefused as refused:
        return str(refused)
    assert change == ChannelSettings(1, name=name)
    return None


def snmp_set_name(stack: Stack, name: str) -> str:
    """Set channel 1 of unit 1's name; the net-snmp tool's error, or "" when written."""
    result = stack.snmp(
        "snmpset", stack.v3("operator"), "C12-PDU-MIB::c12ChannelName.1.1", "x",
        name.encode().hex(),
    )  # fmt: skip
    return "" if result.returncode == 0 else result.stdout + result.stderr


def unit_holds(stack: Stack) -> str:
    return str(stack.fleet.units[0].snapshot()["meter"]["settings"]["channel_name"][0])


@pytest.mark.parametrize(("name", "named"), REFUSED.values(), ids=REFUSED.keys())
def test_every_writer_refuses_the_same_characters(
    reading: Reading, stack: Stack, name: str, named: str
) -> None:
    why = name_refusal(name)
    assert why is not None and named in why
    assert console_refusal(reading, name) == f"channel 1 name: {why}"
    before = unit_holds(stack)
    assert "wrongValue" in snmp_set_name(stack, name)
    assert unit_holds(stack) == before


@pytest.mark.parametrize("name", TAKEN)
def test_every_writer_takes_names_in_any_script(reading: Reading, stack: Stack, name: str) -> None:
    assert name_refusal(name) is None
    assert console_refusal(reading, name) is None
    assert snmp_set_name(stack, name) == ""
    assert unit_holds(stack) == name
    got = parse(stack.snmp("snmpget", stack.v2c(), "C12-PDU-MIB::c12ChannelName.1.1").stdout)
    assert got["c12ChannelName.1.1"] == name
