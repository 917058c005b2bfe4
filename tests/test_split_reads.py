"""A measurements block longer than one Modbus read (125 registers) is read with the
requests the register map plans, split between items, and decoded as one block: a poll
over TCP against the simulator serving such a block reads every value. Today's map
stays at one request per block."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from c12exporter.measurements import CHANNELS
from c12exporter.modbus.client import MAX_REGISTERS
from c12exporter.modbus.registermap import (
    C12B_V1,
    MEASUREMENTS,
    SETTINGS,
    UNIT_SETTINGS,
    Block,
    Field,
    Kind,
    RegisterMap,
    Table,
    markdown_table,
    register_map,
)
from c12exporter.modbus.transport import ModbusTcpTransport
from c12exporter.plugins import load_plugins
from c12exporter.simulator.physics import UnitPhysics, Value
from c12exporter.simulator.scenarios import scenario, unit_channels
from c12exporter.simulator.server import FleetClock, SimulatedUnit, decode_holding
from tests.servers import LOOPBACK

pytestmark = pytest.mark.integration

PLUGINS = load_plugins(entry_points=False)
TIMEOUT_S = 5.0
IDENTIFICATION_REQUESTS = 1
"""Requests a connect makes (device identification; the simulator answers in one)."""

CHANNEL_ENERGY = Field(
    "channel_active_energy",
    Kind.U32,
    "Channel active energy since power-up",
    "Wh",
    count=len(CHANNELS),
    labels=CHANNELS,
)
"""One more 32-bit value per channel: 24 registers, the block grows past one read."""
CHANNEL_ENERGY_WH = tuple(70_001 + 1_000_003 * n for n in range(len(CHANNELS)))
"""Every value above 16 bits, so a value cut between two replies would not decode as it."""
LONGER = Block(
    "measurements", Table.INPUT, MEASUREMENTS.start, (*MEASUREMENTS.fields, CHANNEL_ENERGY)
)
LONGER_MAP = RegisterMap(version="1-longer", blocks=(LONGER, SETTINGS, UNIT_SETTINGS))


class ChannelEnergyPhysics(UnitPhysics):
    """A unit that also meters each channel's energy."""

    def measurements(self) -> dict[str, Value | list[Value]]:
        return {**super().measurements(), CHANNEL_ENERGY.name: list(CHANNEL_ENERGY_WH)}


def _item_boundaries(block: Block) -> set[int]:
    """Addresses where an item starts or the block ends."""
    boundaries = {block.start + block.count}
    for f in block.fields:
        boundaries |= {block.addresses[f.name] + i * f.kind.registers for i in range(f.count)}
    return boundaries


def _assert_reads_cover(block: Block) -> None:
    """The reads run from the block's start to its end, each at most one read's worth,
    each ending between two items."""
    at = block.start
    for start, count in block.reads:
        assert start == at and 1 <= count <= MAX_REGISTERS, block.reads
        assert start + count in _item_boundaries(block), (start, count)
        at += count
    assert at == block.start + block.count


def test_todays_map_reads_each_block_with_one_request() -> None:
    for block in C12B_V1.blocks:
        assert block.reads == ((block.start, block.count),), block.name
    assert MEASUREMENTS.count <= MAX_REGISTERS


def test_a_longer_block_is_split_between_items_into_full_reads() -> None:
    assert LONGER.count == MEASUREMENTS.count + 2 * len(CHANNELS) > MAX_REGISTERS
    assert len(LONGER.reads) == 2
    _assert_reads_cover(LONGER)
    assert LONGER.reads[0][1] > MAX_REGISTERS - CHANNEL_ENERGY.kind.registers


@pytest.mark.parametrize(
    "kinds",
    [
        (Kind.U16, Kind.U16, *[Kind.U32] * 62),  # 126 registers: the last value moves on
        (*[Kind.U64] * 31, Kind.U64, Kind.U16),  # 64-bit values, 124 then 5
        (Kind.U16, *[Kind.STRING] * 20),  # 16-byte names: never cut either
        (*[Kind.S32] * 200,),  # 400 registers: four reads
    ],
)
def test_reads_never_cut_a_value(kinds: Sequence[Kind]) -> None:
    block = Block(
        "wide", Table.INPUT, 7, tuple(Field(f"f{n}", kind, "") for n, kind in enumerate(kinds))
    )
    _assert_reads_cover(block)
    assert len(block.reads) > 1


def test_a_field_longer_than_one_read_is_cut_between_its_items() -> None:
    huge = Field("harmonics", Kind.U32, "", count=63)  # 126 registers
    block = Block("measurements", Table.INPUT, 0, (*MEASUREMENTS.fields, huge))
    _assert_reads_cover(block)
    assert len(block.reads) == 2
    names = register_map(24).block("settings")  # 24 names of 8 registers: 192 registers
    _assert_reads_cover(names)
    assert names.reads == ((0, 120), (120, 120))


def test_the_register_map_document_names_the_reads_of_a_split_block() -> None:
    text = markdown_table(LONGER_MAP)
    assert f"Read with 2 requests: 0..{LONGER.reads[0][1] - 1}, " in text
    assert "(4 requests per unit)" in text
    assert "Read with" not in markdown_table() and "(3 requests per unit)" in markdown_table()


async def _poll(unit: SimulatedUnit, register_map: RegisterMap) -> tuple[dict[str, object], int]:
    """One read of every block through the exporter's transport: the values, and how many
    requests the read took (the client's transaction ids count them)."""
    transport = ModbusTcpTransport(unit.address, TIMEOUT_S, register_map=register_map)
    try:
        await transport.connect()
        before = transport._client._tid
        values = await transport.read()
        return dict(values), transport._client._tid - before
    finally:
        await transport.close()


def _unit(physics_type: type[UnitPhysics], measurements: Block) -> SimulatedUnit:
    model = PLUGINS.model("C12B-12")
    return SimulatedUnit(
        name="sim-01",
        model=model,
        serial="SS100000001",
        firmware="1.2.0",
        role="led_wall",
        physics=physics_type(model, 7, unit_channels(scenario("concert"), 0, 7)),
        clock=FleetClock(speed=0.0, start_s=600.0),  # frozen: every read sees one state
        host=LOOPBACK,
        port=0,
        seed=7,
        measurements=measurements,
    )


def test_a_poll_of_a_block_longer_than_one_read_decodes_every_value() -> None:
    async def test() -> None:
        unit = _unit(ChannelEnergyPhysics, LONGER)
        await unit.start()
        try:
            values, requests = await _poll(unit, LONGER_MAP)
            served = LONGER.decode(unit.measurement_registers())
        finally:
            await unit.stop()
        assert requests == len(LONGER.reads) + 2  # + settings and unit settings
        assert values[CHANNEL_ENERGY.name] == list(CHANNEL_ENERGY_WH)
        for f in MEASUREMENTS.fields:
            assert values[f.name] == served[f.name], f.name
        assert any(c > 0 for c in values["channel_current"])  # type: ignore[attr-defined]
        settings = decode_holding(unit.settings_registers(), unit.name)
        assert values["channel_name"] == settings["channel_name"] != [""] * len(CHANNELS)

    asyncio.run(asyncio.wait_for(test(), 30))


def test_a_poll_of_todays_map_takes_one_request_per_block() -> None:
    async def test() -> None:
        unit = _unit(UnitPhysics, MEASUREMENTS)
        await unit.start()
        try:
            values, requests = await _poll(unit, C12B_V1)
            served = MEASUREMENTS.decode(unit.measurement_registers())
        finally:
            await unit.stop()
        assert requests == len(C12B_V1.blocks)
        assert {f.name: values[f.name] for f in MEASUREMENTS.fields} == served

    asyncio.run(asyncio.wait_for(test(), 30))
