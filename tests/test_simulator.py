"""The simulated fleet over real sockets: Modbus TCP on loopback, and the HTTP control interface."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ExceptionResponse

from c12exporter.config import load_config
from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS, UNIT_SETTINGS, MapError
from c12exporter.modbus.transport import ModbusTcpTransport
from c12exporter.plugins import load_plugins
from c12exporter.reading import build_reading
from c12exporter.simulator.control import ControlClient, ControlError, ControlServer
from c12exporter.simulator.physics import Load
from c12exporter.simulator.server import (
    Fleet,
    NetworkMode,
    SimulatedUnit,
    SimulatorError,
    identification_objects,
)
from c12exporter.transport import TransportError

pytestmark = pytest.mark.integration

PLUGINS = load_plugins(entry_points=False)
MODELS = ("C12B-12", "C12B-51", "C12B-73", "C12B-24")
ANSWER_TIMEOUT_S = 5.0
"""How long to wait for an answer that must come (generous: CI machines are busy)."""
SILENCE_S = 0.5
"""How long to listen to a unit that must not answer."""
DEVICE_ID = 1


@asynccontextmanager
async def fleet(units: int = 4, **options: Any) -> AsyncIterator[Fleet]:
    options = {"models": MODELS, "speed": 0.0, "warmup_s": 600.0, "plugins": PLUGINS} | options
    running = await Fleet.start(units, **options)
    try:
        yield running
    finally:
        await running.stop()


@asynccontextmanager
async def client(
    unit: SimulatedUnit, timeout: float = ANSWER_TIMEOUT_S
) -> AsyncIterator[AsyncModbusTcpClient]:
    modbus = AsyncModbusTcpClient(unit.host, port=unit.port, timeout=timeout, retries=0)
    try:
        assert await modbus.connect(), f"cannot connect to {unit.address}"
        yield modbus
    finally:
        modbus.close()
        await asyncio.sleep(0)


async def read_measurements(modbus: AsyncModbusTcpClient) -> list[int]:
    response = await modbus.read_input_registers(
        MEASUREMENTS.start, count=MEASUREMENTS.count, device_id=DEVICE_ID
    )
    assert not response.isError(), response
    return list(response.registers)


async def read_settings(modbus: AsyncModbusTcpClient) -> list[int]:
    response = await modbus.read_holding_registers(
        SETTINGS.start, count=SETTINGS.count, device_id=DEVICE_ID
    )
    assert not response.isError(), response
    return list(response.registers)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


# --- registers and identification --------------------------------------------------------


def test_registers_decode_to_the_physics_snapshot() -> None:
    async def test() -> None:
        async with fleet(scenario_name="concert") as sim:
            for unit in sim.units:
                async with client(unit) as modbus:
                    measured = MEASUREMENTS.decode(await read_measurements(modbus))
                    settings = SETTINGS.decode(await read_settings(modbus))
                    response = await modbus.read_holding_registers(
                        UNIT_SETTINGS.start, count=UNIT_SETTINGS.count, device_id=DEVICE_ID
                    )
                    settings |= UNIT_SETTINGS.decode(list(response.registers))
                snapshot = unit.snapshot()
                assert measured == snapshot["meter"]["measurements"]
                assert settings == snapshot["meter"]["settings"]
                state = snapshot["state"]
                assert measured["uptime"] == 600
                assert measured["neutral_current"] == pytest.approx(
                    state["neutral_current_a"], abs=0.005
                )
                for got, channel in zip(
                    measured["channel_current"], state["channels"], strict=True
                ):
                    assert got == pytest.approx(channel["current_a"], abs=0.005)
                assert measured["active_energy_import"] > 0
            led_wall = MEASUREMENTS.decode(await _read(sim.units[0]))
            assert led_wall["neutral_current"] > max(led_wall["current"])

    run(test)


async def _read(unit: SimulatedUnit) -> list[int]:
    async with client(unit) as modbus:
        return await read_measurements(modbus)


def test_the_exporters_transport_reads_a_consistent_reading() -> None:
    async def test() -> None:
        async with fleet(2) as sim:
            unit = sim.units[1]
            transport = ModbusTcpTransport(unit.address, ANSWER_TIMEOUT_S)
            try:
                identity = await transport.connect()
                values = await transport.read()
            finally:
                await transport.close()
            reading = build_reading(unit.name, identity, PLUGINS.model(identity.model), 0.0, values)
            state = unit.snapshot()["state"]
            assert reading.model.name == "C12B-51"
            assert reading.switch_on and not reading.estop_pressed
            assert [c.name for c in reading.channels] == [c["name"] for c in state["channels"]]
            assert [c.phase for c in reading.channels] == [c["phase"] for c in state["channels"]]

    run(test)


def test_device_identification_is_per_unit() -> None:
    async def test() -> None:
        async with fleet(seed=5) as sim:
            seen = set()
            for unit, model in zip(sim.units, MODELS, strict=True):
                async with client(unit) as modbus:
                    response = await modbus.read_device_information(
                        read_code=3, object_id=0, device_id=DEVICE_ID
                    )
                info = {k: v.decode() for k, v in response.information.items()}
                assert info[0x00] == "StageSmarts"
                assert info[0x01] == info[0x05] == model
                assert info[0x02] == unit.firmware and info[0x02].startswith("1.")
                assert info[0x04] == "C12"
                assert info[0x80] == unit.serial
                seen.add(info[0x80])
            assert len(seen) == len(sim.units)

    run(test)


def test_identification_object_selection() -> None:
    objects = {0: "StageSmarts", 1: "C12B-12", 2: "1.0.4", 5: "C12B-12", 0x80: "SS1"}
    assert list(identification_objects(objects, 1, 0) or {}) == [0, 1, 2]  # basic
    assert list(identification_objects(objects, 2, 0) or {}) == [0, 1, 2, 5]  # regular
    assert list(identification_objects(objects, 3, 5) or {}) == [5, 0x80]  # extended from 5
    assert identification_objects(objects, 4, 0x80) == {0x80: "SS1"}  # specific
    assert identification_objects(objects, 4, 0x81) is None


def test_fleet_is_the_same_for_the_same_seed() -> None:
    def describe(sim: Fleet) -> list[Any]:
        return [
            (u.name, u.model.name, u.serial, u.firmware, u.snapshot()["meter"]) for u in sim.units
        ]

    first = Fleet.build(3, seed=11, speed=0.0, plugins=PLUGINS)
    again = Fleet.build(3, seed=11, speed=0.0, plugins=PLUGINS)
    other = Fleet.build(3, seed=12, speed=0.0, plugins=PLUGINS)
    assert describe(first) == describe(again)
    assert describe(first) != describe(other)


# --- settings writes -----------------------------------------------------------------------


def name_registers(name: bytes) -> list[int]:
    data = name.ljust(16, b"\x00")
    return list(struct.unpack(">8H", data))


def test_modbus_writes_of_name_and_supervision_are_kept() -> None:
    async def test() -> None:
        async with fleet(1) as sim:
            unit = sim.units[0]
            name_at = SETTINGS.addresses["channel_name"] + 8 * (5 - 1)
            min_at = SETTINGS.addresses["supervision_min"] + (5 - 1)
            max_at = SETTINGS.addresses["supervision_max"] + (5 - 1)
            async with client(unit) as modbus:
                for address, values in (
                    (name_at, name_registers("Bühne L".encode())),
                    (min_at, [150]),  # 1.50 A
                    (max_at, [1200]),  # 12.00 A
                ):
                    response = await modbus.write_registers(address, values, device_id=DEVICE_ID)
                    assert not response.isError(), response
                # Not UTF-8, and above the 63 A limit: refused with "illegal data value".
                for address, values in ((name_at, [0xFFFE]), (max_at, [6400])):
                    response = await modbus.write_registers(address, values, device_id=DEVICE_ID)
                    assert isinstance(response, ExceptionResponse)
                    assert response.exception_code == 3
            async with client(unit) as modbus:  # a new connection sees the same
                settings = SETTINGS.decode(await read_settings(modbus))
            assert settings["channel_name"][4] == "Bühne L"
            assert settings["supervision_min"][4] == pytest.approx(1.5)
            assert settings["supervision_max"][4] == pytest.approx(12.0)
            channel = unit.snapshot()["state"]["channels"][4]
            assert channel["name"] == "Bühne L" and channel["supervision_max_a"] == 12.0

    run(test)


def test_coils_do_not_exist() -> None:
    async def test() -> None:
        async with fleet(1) as sim, client(sim.units[0]) as modbus:
            response = await modbus.read_coils(0, count=1, device_id=DEVICE_ID)
            assert isinstance(response, ExceptionResponse)

    run(test)


# --- network misbehaviour ------------------------------------------------------------------


def read_request(transaction: int = 1) -> bytes:
    """A raw Modbus TCP 'read input registers' request for the measurements block."""
    return struct.pack(
        ">HHHBBHH", transaction, 0, 6, DEVICE_ID, 4, MEASUREMENTS.start, MEASUREMENTS.count
    )


async def raw_exchange(unit: SimulatedUnit, timeout: float = ANSWER_TIMEOUT_S) -> bytes | None:
    """Send one request on a raw socket; the bytes answered, or None if nothing came."""
    reader, writer = await asyncio.open_connection(unit.host, unit.port)
    try:
        writer.write(read_request())
        await writer.drain()
        try:
            return await asyncio.wait_for(reader.read(1024), timeout)
        except TimeoutError:
            return None
    finally:
        writer.close()
        await writer.wait_closed()


def test_each_network_misbehaviour_is_observable() -> None:
    async def test() -> None:
        async with fleet(1) as sim:
            unit = sim.units[0]
            normal = await raw_exchange(unit)
            assert normal is not None and normal[7] == 4

            await unit.set_network(NetworkMode.HANG)
            assert await raw_exchange(unit, SILENCE_S) is None

            await unit.set_network(NetworkMode.GARBAGE)
            junk = await raw_exchange(unit)
            assert junk and junk[2:4] != b"\x00\x00"  # not a Modbus TCP frame

            await unit.set_network(NetworkMode.SHORT)
            cut = await raw_exchange(unit)
            assert normal is not None and cut == normal[: len(normal) // 2]

            await unit.set_network(NetworkMode.FEW_REGISTERS)
            async with client(unit) as modbus:
                response = await modbus.read_input_registers(0, count=40, device_id=DEVICE_ID)
                assert len(response.registers) == 20

            await unit.set_network(NetworkMode.EXCEPTION)
            async with client(unit) as modbus:
                response = await modbus.read_input_registers(0, count=10, device_id=DEVICE_ID)
                assert isinstance(response, ExceptionResponse) and response.exception_code == 4
                response = await modbus.read_device_information(device_id=DEVICE_ID)
                assert isinstance(response, ExceptionResponse) and response.exception_code == 4

            await unit.set_network(NetworkMode.OUT_OF_RANGE)
            registers = await _read(unit)
            with pytest.raises(MapError) as error:
                MEASUREMENTS.decode(registers)
            assert error.value.reason == "out_of_range" and "6553.4 V" in str(error.value)

            await unit.set_network(NetworkMode.KILL)
            assert not unit.serving
            with pytest.raises(OSError):
                await raw_exchange(unit)

            await unit.set_network(NetworkMode.NORMAL)
            MEASUREMENTS.decode(await _read(unit))

    run(test)


def test_misbehaviour_hits_an_open_connection_as_the_exporter_sees_it() -> None:
    async def test() -> None:
        async with fleet(1) as sim:
            unit = sim.units[0]
            expected = {
                NetworkMode.SHORT: "protocol",
                NetworkMode.GARBAGE: "protocol",
                NetworkMode.FEW_REGISTERS: "short_frame",
                NetworkMode.EXCEPTION: "modbus_exception",
                NetworkMode.HANG: "timeout",
            }
            for mode, reason in expected.items():
                timeout = SILENCE_S if reason in ("timeout", "protocol") else ANSWER_TIMEOUT_S
                transport = ModbusTcpTransport(unit.address, timeout)
                await unit.set_network(NetworkMode.NORMAL)
                await transport.connect()  # connected before the unit turns bad
                try:
                    await unit.set_network(mode)
                    with pytest.raises(TransportError) as error:
                        await transport.read()
                    assert error.value.reason == reason, mode
                finally:
                    await transport.close()
            with pytest.raises(ModbusException):  # pymodbus itself, on a hung unit
                async with client(unit, SILENCE_S) as modbus:
                    await modbus.read_input_registers(0, count=10, device_id=DEVICE_ID)

    run(test)


def test_power_loss_and_restore_over_modbus() -> None:
    async def test() -> None:
        async with fleet(1) as sim:
            unit = sim.units[0]
            before = MEASUREMENTS.decode(await _read(unit))
            assert before["uptime"] == 600 and before["active_energy_import"] > 0
            await unit.power_loss()
            with pytest.raises(OSError):
                await raw_exchange(unit)
            await unit.power_restore()
            after = MEASUREMENTS.decode(await _read(unit))
            assert after["uptime"] == 0 and after["active_energy_import"] == 0
            assert after["max_demand_active_power"] is None  # no complete window yet

    run(test)


def test_overload_trips_a_breaker_as_physics_time_runs_fast() -> None:
    async def test() -> None:
        async with fleet(1, speed=500.0, warmup_s=0.0) as sim:
            unit = sim.units[0]
            unit.physics_now().set_load(1, Load(2.0 * 16))  # trips after 80 s of physics
            async with client(unit) as modbus:
                first = MEASUREMENTS.decode(await read_measurements(modbus))
                assert (
                    first["channel_load"][0] == "serious_overload"
                    and first["channel_breaker"][0] == "closed"
                )
                for _ in range(100):
                    values = MEASUREMENTS.decode(await read_measurements(modbus))
                    if values["channel_breaker"][0] == "open":
                        break
                    await asyncio.sleep(0.02)
            assert values["channel_breaker"][0] == "open"
            assert values["channel_current"][0] == 0.0
            assert unit.snapshot()["state"]["channels"][0]["trip_cause"] == "overcurrent"

    run(test)


# --- the units file and the control interface --------------------------------------------


def test_units_file_is_an_exporter_config(tmp_path: Path) -> None:
    async def test() -> None:
        path = tmp_path / "sim-units.yml"
        async with fleet(3, units_file=path) as sim:
            text = path.read_text(encoding="utf-8")
            assert text.startswith("#")
            assert yaml.safe_load(text) == {
                "units": [{"name": u.name, "address": u.address} for u in sim.units]
            }
            assert [u.name for u in sim.units] == ["sim-01", "sim-02", "sim-03"]
            config = load_config(path, PLUGINS)
            assert [(u.name, u.address, u.model) for u in config.units] == [
                (u.name, u.address, None) for u in sim.units
            ]

    run(test)


def test_only_loopback_addresses_are_served() -> None:
    with pytest.raises(SimulatorError, match="loopback"):
        Fleet.build(1, host="192.0.2.1", plugins=PLUGINS)
    with pytest.raises(SimulatorError, match="loopback"):
        ControlServer(Fleet.build(1, plugins=PLUGINS), host="0.0.0.0")


def test_control_interface_over_http() -> None:
    async def test() -> None:
        async with (
            fleet(2) as sim,
            ControlServer(sim, port=0) as control,
            ControlClient(control.url) as http,
        ):
            index = await http.index()
            assert {"estop", "rcbo_test", "set_load", "network"} <= set(index["actions"])
            units = await http.units()
            assert [(u["name"], u["address"], u["model"]) for u in units] == [
                (u.name, u.address, u.model.name) for u in sim.units
            ]
            assert units[0]["state"]["switch_on"] is True

            after = await http.act("sim-01", "estop")
            assert after["state"]["estop_pressed"] and not after["state"]["switch_on"]
            values = MEASUREMENTS.decode(await _read(sim.units[0]))
            assert (values["emergency_stop"], values["switch_disconnector"]) == ("pressed", "off")
            assert values["channel_current"] == [0.0] * 12
            assert all(v is not None for v in values["voltage"])

            with pytest.raises(ControlError) as refused:
                await http.act("sim-01", "switch_on")
            assert refused.value.status == 409 and "emergency stop" in refused.value.message
            await http.act("sim-01", "estop_release")
            await http.act("sim-01", "switch_on")

            loaded = await http.act(
                "sim-02", "set_load", channel=2, current_a=10.5, power_factor=0.95,
                third_harmonic=0.3,
            )  # fmt: skip
            channel = loaded["state"]["channels"][1]
            assert channel["current_a"] == pytest.approx(10.5)
            assert channel["load"]["harmonics"] == {"3": 0.3}

            tested = await http.act("sim-02", "rcbo_test", channel=3)
            assert tested["meter"]["measurements"]["channel_breaker"][2] == "open"
            await http.act("sim-02", "fuse_blow", phase="L3")
            assert (await http.unit("sim-02"))["meter"]["measurements"]["voltage"][2] is None

            await http.act("sim-02", "network", mode="exception")
            assert (await http.unit("sim-02"))["network"] == "exception"

            for name, action, params, status in (
                ("sim-01", "explode", {}, 400),
                ("sim-01", "rcbo_test", {"channel": 13}, 400),
                ("sim-01", "rcbo_test", {}, 400),
                ("sim-01", "fuse_blow", {"phase": "N"}, 400),
                ("sim-01", "network", {"mode": "sulk"}, 400),
                ("sim-01", "set_load", {"channel": 1, "current_a": "lots"}, 400),
                ("sim-99", "estop", {}, 404),
            ):
                with pytest.raises(ControlError) as error:
                    await http.act(name, action, **params)
                assert error.value.status == status, (action, params, error.value.message)

    run(test)
