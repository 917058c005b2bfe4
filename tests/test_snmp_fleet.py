"""The SNMP agent follows the fleet: unit indexes stay with their units across reloads,
restarts and removals of other units, rows come and go with the configuration, and what
does not fit the MIB is counted and logged, never silently lost."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from c12exporter.snmp.unitindex import FILE_NAME, UnitIndexes
from tests.snmp_harness import Stack, parse, snmp_stack

pytestmark = pytest.mark.integration


def unit_names(stack: Stack) -> dict[int, str]:
    """c12UnitIndex -> c12UnitName, as net-snmp walks them."""
    result = stack.snmp("snmpwalk", stack.v2c(), "C12-PDU-MIB::c12UnitName")
    assert result.returncode == 0, result.stderr[-1000:]
    return {int(key.split(".")[1]): value for key, value in parse(result.stdout).items()}


def walked_order(stack: Stack, column: str = "c12ChannelCurrent") -> list[int]:
    """The unit index of each instance of ``column``, in the order a walk returns them."""
    result = stack.snmp("snmpbulkwalk", stack.v2c(), f"C12-PDU-MIB::{column}")
    assert result.returncode == 0, result.stderr[-1000:]
    return [int(line.split()[0].split(".")[1]) for line in result.stdout.splitlines()]


def test_removing_a_unit_keeps_the_others_indexes_and_a_restart_keeps_them_all(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    with snmp_stack(tmp_path, units=4, state_dir=state) as stack:
        names = stack.names
        assert unit_names(stack) == {1: names[0], 2: names[1], 3: names[2], 4: names[3]}
        stack.reconcile(stack.unit_configs(names[0], names[2], names[3]))  # a reload without #2
        assert unit_names(stack) == {1: names[0], 3: names[2], 4: names[3]}
        current = parse(
            stack.snmp("snmpget", stack.v2c(), "C12-PDU-MIB::c12ChannelCurrent.3.1").stdout
        )
        assert current["c12ChannelCurrent.3.1"]  # the unit's other tables keep the index too
        got = stack.snmp("snmpget", stack.v2c(), "C12-PDU-MIB::c12UnitName.2")
        assert "No Such Instance" in got.stdout
        assert walked_order(stack).count(3) == 12 and 2 not in walked_order(stack)
    saved = json.loads((state / FILE_NAME).read_text(encoding="utf-8"))
    assert saved["units"] == {names[0]: 1, names[1]: 2, names[2]: 3, names[3]: 4}
    assert saved["next"] == 5
    # A restart with the same state directory, the config listing the units in another order.
    with snmp_stack(tmp_path / "again", units=4, state_dir=state, configured=(3, 2, 0)) as again:
        assert again.names == names
        assert unit_names(again) == {1: names[0], 3: names[2], 4: names[3]}
        assert walked_order(again) == [1] * 12 + [3] * 12 + [4] * 12


def test_rows_follow_units_added_removed_and_changed_without_a_restart(tmp_path: Path) -> None:
    with snmp_stack(tmp_path, units=4, configured=(0, 1)) as stack:
        names = stack.names
        assert unit_names(stack) == {1: names[0], 2: names[1]}
        # Added: the next index never used; read once polled.
        stack.reconcile(stack.unit_configs(names[0], names[1], names[2]))
        assert unit_names(stack) == {1: names[0], 2: names[1], 3: names[2]}
        walked = parse(stack.snmp("snmpwalk", stack.v2c(), "C12-PDU-MIB::c12UnitTable").stdout)
        assert walked["c12UnitReachability.3"] == "2"  # not polled yet
        stack.poll(names[2])
        assert walked_order(stack) == [1] * 12 + [2] * 12 + [3] * 12
        descr = stack.snmp("snmpget", stack.v2c(), "SNMPv2-MIB::sysDescr.0").stdout
        assert "for 3 StageSmarts" in descr
        # Removed, then added again: it gets its old index back, the newcomer a new one.
        stack.reconcile(stack.unit_configs(names[0], names[2]))
        assert unit_names(stack) == {1: names[0], 3: names[2]}
        stack.reconcile(stack.unit_configs(names[0], names[2], names[3], names[1]))
        assert unit_names(stack) == {1: names[0], 2: names[1], 3: names[2], 4: names[3]}
        # Changed (another address): same index, the old reading is gone until polled.
        moved = stack.unit_configs(names[0], names[2], names[3], names[1])
        swapped = tuple(
            c if c.name != names[2] else type(c)(c.name, stack.fleet.units[3].address)
            for c in moved
        )
        stack.reconcile(swapped)
        walked = parse(stack.snmp("snmpwalk", stack.v2c(), "C12-PDU-MIB::c12UnitTable").stdout)
        assert walked["c12UnitName.3"] == names[2]
        assert walked["c12UnitAddress.3"] == stack.fleet.units[3].address
        assert walked["c12UnitReachability.3"] == "2" and "c12UnitModel.3" not in walked
        stack.poll(names[2])
        walked = parse(stack.snmp("snmpwalk", stack.v2c(), "C12-PDU-MIB::c12UnitTable").stdout)
        assert walked["c12UnitModel.3"] == stack.fleet.units[3].model.name


def test_a_name_longer_than_its_column_is_cut_to_fit_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with snmp_stack(tmp_path, units=1) as stack:
        unit = stack.fleet.units[0]
        long_name = "unit" + "é" * 200  # 404 octets; c12UnitName holds up to 255
        served = "unit" + "é" * 125  # 255 octets would end inside an "é": 254
        config = stack.unit_configs(unit.name)[0]
        with caplog.at_level(logging.WARNING, logger="c12exporter.snmp"):
            stack.reconcile((type(config)(long_name, unit.address),))
            stack.poll(long_name)
            for _ in range(2):
                walked = parse(
                    stack.snmp("snmpwalk", stack.v2c(), "C12-PDU-MIB::c12UnitTable").stdout
                )
                assert walked["c12UnitName.2"] == served, walked
                assert walked["c12UnitReachability.2"] == "1"
                stack.poll(long_name)  # another build of the row, the same cut
        warnings = [r.getMessage() for r in caplog.records if "c12UnitName" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert long_name in warnings[0] and "cut to its SIZE, 254 octets" in warnings[0]
        assert stack.count("c12_snmp_values_truncated_total", column="c12UnitName") >= 2
        assert stack.count("c12_snmp_cells_dropped_total", column="c12UnitName") == 0


def test_a_text_is_cut_on_a_character_boundary_or_not_at_all(tmp_path: Path) -> None:
    from pyasn1.type import constraint, univ
    from pysnmp.smi import builder

    from c12exporter.snmp.mib import ObjectType
    from c12exporter.snmp.mibcompile import compile_mib, load_mib

    mib_builder = builder.MibBuilder()
    load_mib(mib_builder, compile_mib(cache=tmp_path))
    (name,) = mib_builder.import_symbols("C12-PDU-MIB", "c12ChannelName")
    column = ObjectType("C12-PDU-MIB", "c12ChannelName", (1,), name.syntax, "read-write",
                        "c12ChannelTable", 4, "octets", {})  # fmt: skip
    assert column.cut_text(("a" * 15 + "€").encode()) == b"a" * 15  # 18 octets, SIZE 0..16
    assert column.cut_text("ab€".encode() * 4) == ("ab€" * 3 + "a").encode()
    assert column.cut_text(b"x" * 16) is None  # fits already
    eight = univ.OctetString().subtype(subtypeSpec=constraint.ValueSizeConstraint(8, 8))
    fixed = ObjectType("M", "fixed", (1,), eight, "read-only", None, 4, "octets", {})
    assert fixed.cut_text(b"123456789") == b"12345678"
    assert fixed.cut_text("1234567€".encode()) is None  # 7 octets would not fit either


# --- the index file ------------------------------------------------------------------------


def test_an_index_is_never_given_to_another_name(tmp_path: Path) -> None:
    indexes = UnitIndexes.in_dir(tmp_path / "new" / "dir")  # created if missing
    assert indexes.assign(["a", "b"]) == {"a": 1, "b": 2}
    again = UnitIndexes.in_dir(tmp_path / "new" / "dir")
    assert again["c"] == 3 and again["a"] == 1
    assert UnitIndexes.in_dir(tmp_path / "new" / "dir").known == {"a": 1, "b": 2, "c": 3}
    assert not [p for p in (tmp_path / "new" / "dir").iterdir() if p.name != FILE_NAME]


@pytest.mark.parametrize(
    "text",
    ["{not json", '{"version": 1, "next": 3, "units": {"a": 1, "b": 1}}', "[]"],
    ids=["not-json", "repeated-index", "not-an-object"],
)
def test_a_corrupt_file_is_reported_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str
) -> None:
    path = tmp_path / FILE_NAME
    path.write_text(text, encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        indexes = UnitIndexes(path)
    assert str(path) in caplog.text and "put the copy back" in caplog.text
    assert (tmp_path / f"{FILE_NAME}.bad").read_text(encoding="utf-8") == text
    assert indexes.assign(["b", "a"]) == {"b": 1, "a": 2}
    assert json.loads(path.read_text(encoding="utf-8"))["units"] == {"b": 1, "a": 2}
