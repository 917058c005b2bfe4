"""The register map: layout, encode/decode round trips, and rejection of bad values."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from c12exporter.modbus.registermap import (
    C12B_V1,
    MEASUREMENTS,
    SETTINGS,
    Block,
    Field,
    Kind,
    MapError,
    _decode_one,
    markdown_table,
)

MAX_REGISTERS_PER_READ = 125  # Modbus limit for function 3/4


def sample_measurements() -> dict[str, object]:
    """One poll's measurements in SI units and state names, as the simulator gives them."""
    return {
        "emergency_stop": "released", "switch_disconnector": "on", "neutral": "ok",
        "temperature": 31.4, "uptime": 86400,
        "voltage": [230.1, None, 229.5], "current": [12.34, 5.0, 0.0],
        "neutral_current": 7.25, "max_current": [20.0, 6.0, 1.0], "max_neutral_current": 9.0,
        "current_thd": [0.05, 0.8, 0.0], "voltage_thd": [0.021, None, 0.03],
        "frequency": 49.98, "phase_active_power": [2700, None, -10],
        "active_power": 2690, "phase_reactive_power": [300, None, 0],
        "reactive_power": 300, "phase_apparent_power": [2840, None, 0],
        "apparent_power": 2840, "phase_power_factor": [0.951, None, -0.5],
        "power_factor": 0.95, "demand_active_power": 2500, "demand_apparent_power": 2600,
        "max_demand_active_power": 4000, "max_demand_apparent_power": 4200,
        "active_energy_import": 123456789012 * 3600.0, "reactive_energy_import": 42 * 3600.0,
        "channel_current": [1.5 * n for n in range(12)],
        "channel_breaker": ["closed"] * 11 + ["open"],
        "channel_load": ["normal", "slight_overload", "serious_overload", "off"] * 3,
        "metered_phases": 2,
    }  # fmt: skip


def test_every_block_fits_one_request_and_a_poll_is_at_most_three() -> None:
    assert len(C12B_V1.blocks) <= 3
    for block in C12B_V1.blocks:
        assert 0 < block.count <= MAX_REGISTERS_PER_READ, block.name


def test_addresses_are_contiguous_and_unique() -> None:
    for block in C12B_V1.blocks:
        next_address = block.start
        for field in block.fields:
            assert block.addresses[field.name] == next_address
            next_address += field.registers


def test_measurements_round_trip() -> None:
    values = sample_measurements()
    decoded = MEASUREMENTS.decode(MEASUREMENTS.encode(values))
    assert decoded["voltage"] == [pytest.approx(230.1), None, pytest.approx(229.5)]
    assert decoded["current"] == [pytest.approx(12.34), pytest.approx(5.0), 0.0]
    assert decoded["phase_active_power"] == [2700, None, -10]
    assert decoded["phase_power_factor"] == [pytest.approx(0.951), None, pytest.approx(-0.5)]
    assert decoded["temperature"] == pytest.approx(31.4)
    assert decoded["channel_breaker"] == ["closed"] * 11 + ["open"]
    assert decoded["channel_load"] == values["channel_load"]


def test_scaled_counts_decode_to_the_decimals_the_unit_shows() -> None:
    """2301 counts of 0.1 V are 230.1 V, as the unit's display and a scrape show them, not
    the 230.10000000000002 that multiplying by 0.1 gives; so for every count of the
    hundredths and thousandths fields (by the whole field and count by count)."""
    values = sample_measurements()
    values["voltage"] = [230.1, 229.9, 0.3]
    values["current"] = [12.34, 0.07, 1.1]
    values["phase_power_factor"] = [0.951, 0.3, -0.7]
    values["temperature"] = 31.7
    decoded = MEASUREMENTS.decode(MEASUREMENTS.encode(values))
    for name in ("voltage", "current", "phase_power_factor"):
        assert list(map(repr, decoded[name])) == list(map(repr, values[name])), name
    assert repr(decoded["temperature"]) == "31.7"
    values["voltage"] = [230.1, None, 0.3]  # "not available": decoded count by count
    decoded = MEASUREMENTS.decode(MEASUREMENTS.encode(values))
    assert list(map(repr, decoded["voltage"])) == ["230.1", "None", "0.3"]


def test_energy_is_carried_in_wh_and_decoded_in_joules() -> None:
    values = sample_measurements()
    registers = MEASUREMENTS.encode(values)
    at = MEASUREMENTS.addresses["active_energy_import"]
    raw = (registers[at] << 48) | (registers[at + 1] << 32) | (registers[at + 2] << 16)
    assert raw | registers[at + 3] == 123456789012  # Wh on the wire
    decoded = MEASUREMENTS.decode(registers)
    assert decoded["active_energy_import"] == 123456789012 * 3600.0  # J in the reading
    assert decoded["reactive_energy_import"] == 42 * 3600.0


def test_big_endian_word_order() -> None:
    values = sample_measurements()
    values["uptime"] = 0x0001_0002
    registers = MEASUREMENTS.encode(values)
    at = MEASUREMENTS.addresses["uptime"]
    assert registers[at : at + 2] == [0x0001, 0x0002]


def test_settings_round_trip_with_utf8_names_and_unset_bands() -> None:
    names = ["Bühne links", "", "LED wall 1", *[f"ch {n}" for n in range(4, 13)]]
    values = {
        "supervision_min": [None, 0.5] + [None] * 10,
        "supervision_max": [16.0, 10.0] + [None] * 10,
        "channel_name": names,
    }
    decoded = SETTINGS.decode(SETTINGS.encode(values))
    assert decoded["channel_name"] == names
    assert decoded["supervision_min"] == [None, 0.5] + [None] * 10
    assert decoded["supervision_max"] == [16.0, 10.0] + [None] * 10


def test_short_block_is_rejected() -> None:
    registers = MEASUREMENTS.encode(sample_measurements())
    with pytest.raises(MapError) as error:
        MEASUREMENTS.decode(registers[:-1], unit="u7")
    assert error.value.reason == "short_frame"
    assert "u7" in str(error.value)


def test_out_of_range_voltage_is_rejected_not_reported() -> None:
    registers = MEASUREMENTS.encode(sample_measurements())
    registers[MEASUREMENTS.addresses["voltage"]] = 65534  # 6553.4 V
    with pytest.raises(MapError) as error:
        MEASUREMENTS.decode(registers, unit="u1")
    assert error.value.reason == "out_of_range"
    assert "voltage[1]" in str(error.value)


def test_unknown_enum_value_is_rejected() -> None:
    registers = MEASUREMENTS.encode(sample_measurements())
    registers[MEASUREMENTS.addresses["channel_load"] + 4] = 9
    with pytest.raises(MapError, match=r"channel_load\[5\] = 9"):
        MEASUREMENTS.decode(registers)


def test_not_available_on_a_mandatory_field_is_rejected() -> None:
    registers = MEASUREMENTS.encode(sample_measurements())
    registers[MEASUREMENTS.addresses["channel_current"]] = Kind.U16.not_available
    with pytest.raises(MapError) as error:
        MEASUREMENTS.decode(registers)
    assert error.value.reason == "bad_value"


def test_a_name_that_is_not_utf8_shows_replaced() -> None:
    values = {"supervision_min": [None] * 12, "supervision_max": [None] * 12,
              "channel_name": [""] * 12}  # fmt: skip
    registers = SETTINGS.encode(values)
    registers[SETTINGS.addresses["channel_name"]] = 0xFFFE
    assert SETTINGS.decode(registers)["channel_name"][0] == "\ufffd\ufffd"  # type: ignore[index]


@given(st.lists(st.integers(0, 0xFFFF), min_size=MEASUREMENTS.count, max_size=MEASUREMENTS.count))
def test_garbage_registers_decode_or_fail_cleanly(registers: list[int]) -> None:
    try:
        values = MEASUREMENTS.decode(registers)
    except MapError as error:
        assert error.reason in {"out_of_range", "bad_value"}
    else:
        for voltage in values["voltage"]:  # type: ignore[union-attr]
            assert voltage is None or 0 <= voltage <= 500


def test_documentation_is_generated_from_the_map() -> None:
    from pathlib import Path

    committed = Path(__file__).parent.parent / "docs" / "register-map.md"
    assert committed.read_text(encoding="utf-8") == markdown_table() + "\n", (
        "docs/register-map.md is out of date: run `c12exporter register-map > docs/register-map.md`"
    )


def test_a_value_beyond_the_valid_range_is_served_as_not_available_not_clamped() -> None:
    values = sample_measurements() | {"current_thd": [50.0, 0.2, 0.0], "voltage": [230, 501, 0]}
    decoded = MEASUREMENTS.decode(MEASUREMENTS.encode(values))
    assert decoded["current_thd"] == [None, pytest.approx(0.2), 0.0]
    assert decoded["voltage"] == [pytest.approx(230), None, 0.0]


@pytest.mark.parametrize("block", C12B_V1.blocks, ids=lambda b: b.name)
@given(data=st.data())
def test_a_block_decodes_as_its_items_do_one_by_one(block: Block, data: st.DataObject) -> None:
    """The whole-field short way and the item-by-item way agree on any registers: the same
    values, or the same error."""
    # Mostly plausible registers (from a real encoding), with some words replaced at random.
    registers = block.encode(
        {f.name: [None] * f.count if f.count > 1 else None for f in block.fields}
        if data.draw(st.booleans()) else _sample_values(block)
    )  # fmt: skip
    for _ in range(data.draw(st.integers(0, 4))):
        registers[data.draw(st.integers(0, len(registers) - 1))] = data.draw(st.integers(0, 65535))
    raw = struct.pack(f">{len(registers)}H", *registers)
    items = block._layout.unpack(raw)

    def one_by_one() -> dict[str, object]:
        out: dict[str, object] = {}
        at = 0
        for f in block.fields:
            decoded = [_decode_one(f, items[at + i], i, "u") for i in range(f.count)]
            out[f.name] = decoded if f.count > 1 else decoded[0]
            at += f.count
        return out

    try:
        expected: object = one_by_one()
    except MapError as error:
        expected = (error.reason, str(error))
    try:
        got: object = block.decode_bytes(raw, "u")
    except MapError as error:
        got = (error.reason, str(error))
    assert got == expected


def _sample_values(block: Block) -> dict[str, object]:
    def sample(f: Field) -> object:
        if f.kind is Kind.STRING:
            return "name"
        if f.states:
            return f.states[-1]
        return ((f.valid[0] + f.valid[1]) / 2 if f.valid else 7) * f.to_si

    return {f.name: [sample(f)] * f.count if f.count > 1 else sample(f) for f in block.fields}
