"""The simulated fleet on the network: one Modbus TCP server per unit, on loopback.

Each unit is a pymodbus 3.16 :class:`~pymodbus.server.ModbusTcpServer` on its own port,
serving a :class:`~pymodbus.simulator.SimDevice` whose action callback fills the
registers from the unit's physics at the moment of the read (physics advances lazily
to "now"; the encoded registers are cached per physics step, so a read costs a slice
copy unless the physics moved on). Modbus writes to the settings block update the
unit's channel names and supervision bands.

Device identification (function 43/14) is answered per unit: pymodbus answers it from
a process-wide control block, which a fleet in one process would share, so each
server swaps the request for one bound to its own unit (``trace_pdu``). The same
per-server hooks make a unit misbehave on the network without closing its
connections: ``hang``, ``garbage``, ``short``, ``few-registers``, ``exception`` and
``out-of-range``.
``kill`` and power loss close the port.

The fleet writes the list of units it serves as a YAML file the exporter reads as is
as its config file.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import os
import random
import resource
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pymodbus.constants import DeviceInformation, ExcCodes
from pymodbus.datastore import ModbusServerContext
from pymodbus.pdu import ExceptionResponse, ModbusPDU
from pymodbus.pdu.mei_message import ReadDeviceInformationRequest, ReadDeviceInformationResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ..measurements import CHANNEL_COUNT, LOAD_STATES, PHASES
from ..modbus.registermap import (
    C12B_V1,
    Block,
    MapError,
    RegisterMap,
    Table,
    register_map,
)
from ..model import UnitModel
from ..plugins import Plugins, load_plugins
from .physics import UnitPhysics
from .scenarios import (
    DEFAULT_SCENARIO,
    Scenario,
    derive_seed,
    role_of,
    scenario,
    unit_channels,
)

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_UNITS = 12
DEFAULT_MODELS: tuple[str, ...] = (
    "C12B-12",
    "C12B-51",
    "C12B-73",
    "C12B-24",
    "C12B-11",
    "C12B-55",
    "C12B-23",
    "C12B-71",
)
"""Cycled over the units: all four layouts and all five aux sockets."""
UNIT_NAME_PREFIX = "sim-"

VENDOR = "StageSmarts"
VENDOR_URL = "http://www.stagesmarts.com"
PRODUCT_NAME = "C12"
FIRMWARE_VERSIONS: tuple[str, ...] = ("1.0.4", "1.1.2", "1.2.0")
"""Firmware 1.x serves register map version 1 (the one in modbus/registermap.py)."""
SERIAL_PREFIX = "SS"
SERIAL_BATCH_RANGE = (1000, 9999)

BIT_FUNCTIONS = frozenset({1, 2, 5, 15})
"""Coil and discrete-input functions: a C12B has neither."""
OUT_OF_RANGE_VOLTAGE_RAW = 0xFFFE
"""Largest raw U16 that is not "not available": 6553.4 V at 0.1 V per count."""
OUT_OF_RANGE_LOAD_STATE = len(LOAD_STATES)
"""A load LED code the register map does not define."""
GARBAGE_MIN_BYTES = 8
FILE_DESCRIPTORS_PER_UNIT = 3
"""Listening socket, the exporter's connection, and one spare (e.g. a test client)."""
FILE_DESCRIPTOR_RESERVE = 256


class NetworkMode(enum.StrEnum):
    """How a unit behaves on the network (the ``network`` fault)."""

    NORMAL = "normal"
    KILL = "kill"  # port closed
    HANG = "hang"  # accepts connections and requests, never answers
    GARBAGE = "garbage"  # answers every request with random bytes (never a valid frame)
    SHORT = "short"  # answers with truncated frames: the first half of each frame's bytes
    FEW_REGISTERS = "few-registers"  # well-formed answers with half the registers asked for
    EXCEPTION = "exception"  # answers every request with Modbus exception 4
    OUT_OF_RANGE = "out-of-range"  # serves L1 = 6553.4 V and an undefined load LED code


class SimulatorError(Exception):
    """The simulator cannot do what was asked (a port in use, a non-loopback address)."""


def channel_phases(phases: Sequence[str], channel_count: int = CHANNEL_COUNT) -> tuple[str, ...]:
    """The phase of each of ``channel_count`` channels: one per channel as given, or 3 as
    a rotation repeated over the channels (``L2, L3, L1``: ch1 L2, ch2 L3, ch3 L1, ch4 L2 ...).

    :raises SimulatorError: another count, or a name that is not a phase.
    """
    given = tuple(p.strip().upper() for p in phases)
    if len(given) not in (len(PHASES), channel_count) or any(p not in PHASES for p in given):
        raise SimulatorError(
            f"phases {','.join(phases)!r}: give {len(PHASES)} (a rotation) or {channel_count} "
            f"(one per channel), each one of {', '.join(PHASES)}"
        )
    return tuple(given[(n - 1) % len(given)] for n in range(1, channel_count + 1))


def check_loopback(host: str) -> None:
    """Refuse anything but a loopback address: simulated units must never reach a network.

    :raises SimulatorError: with what to use instead.
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SimulatorError(
            f"{host!r} is not a loopback address; the simulator only listens on 127.0.0.0/8 "
            "or ::1 (e.g. 127.0.0.1) so simulated units can never be mistaken for real ones"
        )


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class FleetClock:
    """Physics time shared by a fleet: wall-clock seconds since start x ``speed``.

    :param speed: 1 = real time, 60 = one real second is a minute of physics, 0 = frozen.
    :param start_s: physics time at start (a warm-up: the units have been on this long).
    """

    def __init__(self, speed: float = 1.0, start_s: float = 0.0) -> None:
        if speed < 0:
            raise ValueError(f"speed must not be negative, got {speed}")
        self.speed = speed
        self.start_s = start_s
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self.start_s + (time.monotonic() - self._t0) * self.speed

    def set_speed(self, speed: float) -> None:
        """Go on at ``speed`` from the present physics time (0 freezes it)."""
        if speed < 0:
            raise ValueError(f"speed must not be negative, got {speed}")
        self.start_s, self._t0, self.speed = self.now(), time.monotonic(), speed


# --- Modbus requests answered differently from pymodbus' defaults -----------------------


_LAST_OBJECT = {DeviceInformation.BASIC: 0x02, DeviceInformation.REGULAR: 0x06}
"""Basic is objects 0x00-0x02, regular 0x00-0x06; extended adds the private 0x80-0xFF."""
_LAST_PRIVATE_OBJECT = 0xFF


def identification_objects(
    objects: dict[int, str], read_code: DeviceInformation, object_id: int
) -> dict[int, str] | None:
    """The objects a Read Device Identification request returns; ``None`` = no such object.

    A stream read starts at ``object_id`` (at the first object if the unit has no such
    object); a specific read asks for exactly one object.
    """
    if read_code == DeviceInformation.SPECIFIC:
        return {object_id: objects[object_id]} if object_id in objects else None
    first = object_id if object_id in objects else 0
    last = _LAST_OBJECT.get(read_code, _LAST_PRIVATE_OBJECT)
    return {oid: text for oid, text in sorted(objects.items()) if first <= oid <= last}


class _UnitIdentificationRequest(ReadDeviceInformationRequest):
    """Read Device Identification answered from one unit's own objects."""

    def __init__(self, request: ReadDeviceInformationRequest, objects: dict[int, str]) -> None:
        super().__init__(
            read_code=request.read_code,
            object_id=request.object_id,
            dev_id=request.dev_id,
            transaction_id=request.transaction_id,
        )
        self._objects = objects

    async def datastore_update(self, context: ModbusServerContext, device_id: int) -> ModbusPDU:
        try:
            read_code = DeviceInformation(self.read_code)
        except ValueError:
            return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_VALUE)
        information = identification_objects(self._objects, read_code, self.object_id)
        if information is None:
            return ExceptionResponse(self.function_code, ExcCodes.ILLEGAL_ADDRESS)
        return ReadDeviceInformationResponse(
            read_code=self.read_code,
            information=dict(information),
            dev_id=device_id,
            transaction_id=self.transaction_id,
        )


class _RefusedRequest(ModbusPDU):
    """Any request, answered with Modbus exception 4 (server device failure)."""

    def __init__(self, request: ModbusPDU) -> None:
        super().__init__(dev_id=request.dev_id, transaction_id=request.transaction_id)
        self.function_code = request.function_code

    async def datastore_update(self, context: ModbusServerContext, device_id: int) -> ModbusPDU:
        return ExceptionResponse(self.function_code, ExcCodes.DEVICE_FAILURE)


async def _shutdown(server: ModbusTcpServer) -> None:
    """Close a server's listener and its connections (pymodbus leaves this untyped)."""
    await server.shutdown()  # type: ignore[no-untyped-call]


# --- One unit ----------------------------------------------------------------------------


def decode_holding(
    registers: Sequence[int], unit: str, served: RegisterMap = C12B_V1
) -> dict[str, Any]:
    """The settings and unit settings blocks of the map ``served``, decoded, from the
    holding registers."""
    settings, unit_settings = served.block("settings"), served.block("unit_settings")
    split = unit_settings.start - settings.start
    return {
        **settings.decode(registers[:split], unit),
        **unit_settings.decode(registers[split:], unit),
    }


def _refuse_text_not_utf8(settings: dict[str, Any]) -> None:
    """The unit stores only UTF-8 names. The decoder shows a bad byte as U+FFFD (so a
    reader is never taken down by one), so a written name holding one was not UTF-8."""
    for key, value in settings.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and "\ufffd" in text:
                raise ValueError(f"{key}: a name that is not UTF-8 text")


class SimulatedUnit:
    """One simulated unit (a C12B, or a plugin's model): its physics, its identity and its
    Modbus TCP server."""

    def __init__(
        self,
        *,
        name: str,
        model: UnitModel,
        serial: str,
        firmware: str,
        role: str,
        physics: UnitPhysics,
        clock: FleetClock,
        host: str,
        port: int,
        seed: int,
        measurements: Block | None = None,
    ) -> None:
        """:param measurements: the measurements block served (default: that of the
        register map for the model's channel count; another map's, for one whose values
        ``physics.measurements()`` gives)."""
        self.name = name
        self.register_map = register_map(model.channel_count)
        self.measurements = measurements or self.register_map.block("measurements")
        self.settings_block = self.register_map.block("settings")
        self.unit_settings_block = self.register_map.block("unit_settings")
        self.model = model
        self.serial = serial
        self.firmware = firmware
        self.role = role
        self.physics = physics
        self.host = host
        self.port = port
        self.network = NetworkMode.NORMAL
        self._clock = clock
        self._server: ModbusTcpServer | None = None
        self._net_rng = random.Random(seed)
        ids = C12B_V1.identification
        self.identification: dict[int, str] = {
            ids.vendor: VENDOR,
            ids.product_code: model.name,
            ids.revision: firmware,
            ids.vendor_url: VENDOR_URL,
            ids.product_name: PRODUCT_NAME,
            ids.model_name: model.name,
            ids.serial_number: serial,
        }
        self._measurements: tuple[int, list[int]] = (-1, [])
        self._settings: tuple[int, list[int]] = (-1, [])

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    @property
    def serving(self) -> bool:
        """The unit's port is open."""
        return self._server is not None

    def physics_now(self) -> UnitPhysics:
        """The unit's physics, advanced to the fleet clock's present."""
        self.physics.advance(self._clock.now())
        return self.physics

    # --- registers -----------------------------------------------------------------------

    def measurement_registers(self) -> list[int]:
        """The measurements block as served now (cached per physics step)."""
        physics = self.physics_now()
        version, registers = self._measurements
        if version != physics.version:
            registers = self.measurements.encode(physics.measurements())
            self._measurements = (physics.version, registers)
        return registers

    def settings_registers(self) -> list[int]:
        """The holding registers as served now: the settings and unit settings blocks,
        which follow each other (cached until a setting changes)."""
        version, registers = self._settings
        if version != self.physics.settings_version:
            settings = self.physics.settings()
            registers = self.settings_block.encode(settings) + self.unit_settings_block.encode(
                settings
            )
            self._settings = (self.physics.settings_version, registers)
        return registers

    def _served_measurements(self) -> list[int]:
        registers = self.measurement_registers()
        if self.network is not NetworkMode.OUT_OF_RANGE:
            return registers
        bad, block = list(registers), self.measurements
        bad[block.addresses["voltage"] - block.start] = OUT_OF_RANGE_VOLTAGE_RAW
        bad[block.addresses["channel_load"] - block.start] = OUT_OF_RANGE_LOAD_STATE
        return bad

    def _write_settings(self, address: int, values: Sequence[int]) -> ExcCodes | None:
        registers = list(self.settings_registers())
        offset = address - self.settings_block.start
        registers[offset : offset + len(values)] = values
        try:
            settings = decode_holding(registers, self.name, self.register_map)
            _refuse_text_not_utf8(settings)
            self.physics.apply_settings(settings)
        except (MapError, ValueError) as error:
            log.info("%s: refused a settings write at %d: %s", self.name, address, error)
            return ExcCodes.ILLEGAL_VALUE
        return None

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """SimDevice action: fill the registers before a read, apply a write before storing."""
        if function_code in BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        if set_values is not None:
            return self._write_settings(address, [int(v) for v in set_values])
        block = (
            self._served_measurements()
            if function_code == Table.INPUT
            else self.settings_registers()
        )
        registers[: len(block)] = block
        return None

    def _device(self) -> SimDevice:
        def bits() -> list[SimData]:
            return [SimData(0, values=0, datatype=DataType.BITS)]

        return SimDevice(
            id=0,  # answer any unit id
            simdata=(
                bits(),
                bits(),
                [
                    SimData(
                        self.settings_block.start,
                        count=self.settings_block.count + self.unit_settings_block.count,
                        datatype=DataType.REGISTERS,
                    )
                ],
                [
                    SimData(
                        self.measurements.start,
                        count=self.measurements.count,
                        datatype=DataType.REGISTERS,
                    )
                ],
            ),
            action=self._on_access,
        )

    # --- network behaviour ---------------------------------------------------------------

    def _trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if sending:
            if self.network is NetworkMode.FEW_REGISTERS and isinstance(
                pdu, ReadHoldingRegistersResponse
            ):
                pdu.registers = pdu.registers[: len(pdu.registers) // 2]
            return pdu
        if self.network is NetworkMode.EXCEPTION:
            return _RefusedRequest(pdu)
        if isinstance(pdu, ReadDeviceInformationRequest):
            return _UnitIdentificationRequest(pdu, self.identification)
        return pdu

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or self.network is NetworkMode.NORMAL:
            return data
        if self.network is NetworkMode.HANG:
            return b""
        if self.network is NetworkMode.GARBAGE:
            rng = self._net_rng
            junk = bytearray(rng.randbytes(rng.randint(GARBAGE_MIN_BYTES, 2 * len(data))))
            junk[2] = rng.randint(1, 0xFF)  # non-zero protocol id: never a valid Modbus TCP frame
            return bytes(junk)
        if self.network is NetworkMode.SHORT:
            return data[: len(data) // 2]
        return data

    async def _open(self) -> None:
        if self._server is not None:
            return
        server = ModbusTcpServer(
            self._device(),
            address=(self.host, self.port),
            trace_pdu=self._trace_pdu,
            trace_packet=self._trace_packet,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            await _shutdown(server)
            raise SimulatorError(
                f"{self.name}: cannot listen on {self.address} (port in use?)"
            ) from None
        if self.port == 0:
            listener: Any = server.transport  # an asyncio.Server once listening
            self.port = int(listener.sockets[0].getsockname()[1])
        self._server = server

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await _shutdown(server)
            await asyncio.sleep(0)  # let the closed connections' transports finish

    async def start(self) -> None:
        """Open the unit's port (unless it has no power or was killed)."""
        if self.physics.powered and self.network is not NetworkMode.KILL:
            await self._open()

    async def stop(self) -> None:
        """Close the unit's port and its connections."""
        await self._close()

    async def set_network(self, mode: NetworkMode) -> None:
        """Change how the unit behaves on the network; ``kill`` closes its port."""
        self.network = mode
        if mode is NetworkMode.KILL:
            await self._close()
        else:
            await self.start()

    async def power_loss(self) -> None:
        """The unit loses its supply and vanishes from the network."""
        self.physics_now().power_loss()
        await self._close()

    async def power_restore(self) -> None:
        """Power is back: the meter restarts its counters and the port opens again."""
        self.physics_now().power_restore()
        await self.start()

    # --- state ---------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Who the unit is and how it is reachable (JSON-able)."""
        return {
            "name": self.name,
            "address": self.address,
            "model": self.model.name,
            "serial": self.serial,
            "firmware": self.firmware,
            "role": self.role,
            "network": str(self.network),
            "serving": self.serving,
        }

    def snapshot(self) -> dict[str, Any]:
        """:meth:`info`, the true physical state, and the register blocks as a client
        decodes them (``meter``; without any network misbehaviour applied)."""
        state = self.physics_now().snapshot()
        try:
            meter: dict[str, Any] = {
                "measurements": self.measurements.decode(self.measurement_registers(), self.name),
                "settings": decode_holding(self.settings_registers(), self.name, self.register_map),
            }
        except MapError as error:
            meter = {"error": str(error)}
        return {**self.info(), "meter": meter, "state": state}


# --- The fleet ---------------------------------------------------------------------------


class UnknownUnitError(KeyError):
    """No unit of that name in the fleet."""


class Fleet:
    """N simulated units, each on its own loopback port.

    Start one with :meth:`start`, stop it with :meth:`stop` (or ``async with``)::

        async with await Fleet.start(4, scenario_name="concert", speed=60) as fleet:
            print(fleet.units[0].address)
    """

    def __init__(
        self,
        units: Sequence[SimulatedUnit],
        clock: FleetClock,
        chosen: Scenario,
        seed: int,
        rewired: bool = False,
    ) -> None:
        self.units: tuple[SimulatedUnit, ...] = tuple(units)
        self.rewired = rewired
        """The channels' phases differ from the models': the units file lists them."""
        self.clock = clock
        self.scenario = chosen
        self.seed = seed
        self._by_name = {unit.name: unit for unit in self.units}

    @classmethod
    def build(
        cls,
        units: int = DEFAULT_UNITS,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        scenario_name: str = DEFAULT_SCENARIO,
        seed: int = 0,
        host: str = DEFAULT_HOST,
        base_port: int = 0,
        speed: float = 1.0,
        warmup_s: float = 0.0,
        plugins: Plugins | None = None,
        phases: Sequence[str] | None = None,
    ) -> Fleet:
        """Make the units without opening any port (see :meth:`start`).

        :param phases: the channels' phases of every unit (see :func:`channel_phases`),
            when they are wired otherwise than the model says; the units file then lists
            them for the exporter (``phases:``).

        :raises SimulatorError: non-loopback host, or no units or models.
        :raises c12exporter.model.ModelError: a model name no plugin provides.
        """
        check_loopback(host)
        if units < 1:
            raise SimulatorError(f"a fleet needs at least one unit, got {units}")
        if not models:
            raise SimulatorError("no models given")
        chosen = scenario(scenario_name)
        plugins = plugins or load_plugins()
        resolved = {name: plugins.model(name) for name in dict.fromkeys(models)}
        if phases is not None:
            resolved = {
                name: model.with_phases(channel_phases(phases, model.channel_count))
                for name, model in resolved.items()
            }
        clock = FleetClock(speed, warmup_s)
        width = max(2, len(str(units)))
        batch = SERIAL_BATCH_RANGE[0] + derive_seed(seed, "batch") % (
            SERIAL_BATCH_RANGE[1] - SERIAL_BATCH_RANGE[0] + 1
        )
        fleet_units = []
        for index in range(units):
            model = resolved[models[index % len(models)]]
            fleet_units.append(
                SimulatedUnit(
                    name=f"{UNIT_NAME_PREFIX}{index + 1:0{width}d}",
                    model=model,
                    serial=f"{SERIAL_PREFIX}{batch}{index + 1:05d}",
                    firmware=FIRMWARE_VERSIONS[
                        derive_seed(seed, "firmware", index) % len(FIRMWARE_VERSIONS)
                    ],
                    role=role_of(chosen, index).name,
                    physics=UnitPhysics(
                        model,
                        derive_seed(seed, "physics", index),
                        unit_channels(chosen, index, seed, model.channel_count),
                    ),
                    clock=clock,
                    host=host,
                    port=base_port + index if base_port else 0,
                    seed=derive_seed(seed, "network", index),
                )
            )
        return cls(fleet_units, clock, chosen, seed, rewired=phases is not None)

    @classmethod
    async def start(
        cls,
        units: int = DEFAULT_UNITS,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        scenario_name: str = DEFAULT_SCENARIO,
        seed: int = 0,
        host: str = DEFAULT_HOST,
        base_port: int = 0,
        speed: float = 1.0,
        warmup_s: float = 0.0,
        units_file: str | os.PathLike[str] | None = None,
        plugins: Plugins | None = None,
        phases: Sequence[str] | None = None,
    ) -> Fleet:
        """Build the fleet, open every unit's port, and write ``units_file`` if given.

        :param base_port: unit n listens on ``base_port + n - 1``; 0 = any free port.
        :param speed: physics seconds per real second (0 freezes the physics).
        :param warmup_s: physics time at start: the units have been powered this long.
        """
        fleet = cls.build(
            units,
            models=models,
            scenario_name=scenario_name,
            seed=seed,
            host=host,
            base_port=base_port,
            speed=speed,
            warmup_s=warmup_s,
            plugins=plugins,
            phases=phases,
        )
        await fleet.open(units_file)
        return fleet

    async def open(self, units_file: str | os.PathLike[str] | None = None) -> None:
        """Open every unit's port, then write ``units_file`` if given.

        :raises SimulatorError: a port cannot be opened (the ports opened are closed again).
        """
        raise_open_file_limit(len(self.units) * FILE_DESCRIPTORS_PER_UNIT + FILE_DESCRIPTOR_RESERVE)
        try:
            for unit in self.units:
                await unit.start()
            if units_file is not None:
                self.write_units_file(units_file)
        except BaseException:
            await self.stop()
            raise
        log.info(
            "%d simulated units (%s) on %s, ports %d..%d",
            len(self.units),
            self.scenario.name,
            self.units[0].host,
            min(u.port for u in self.units),
            max(u.port for u in self.units),
        )

    async def stop(self) -> None:
        """Close every unit's port."""
        for unit in self.units:
            await unit.stop()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def unit(self, name: str) -> SimulatedUnit:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownUnitError(name) from None

    def units_yaml(self) -> str:
        """The exporter config listing every unit (models come from device identification)."""
        lines = [
            f"# Simulated fleet: {len(self.units)} units, scenario "
            f"{self.scenario.name!r}, seed {self.seed}.",
            "# Written by the simulator at start; the exporter reads it as is as its config",
            "# file. Models are not listed: the exporter reads each unit's device identification.",
            "units:",
        ]
        for unit in self.units:
            lines += [f"  - name: {unit.name}", f"    address: {unit.address}"]
            if self.rewired:
                lines.append(f"    phases: [{', '.join(unit.model.channel_phases)}]")
        return "\n".join(lines) + "\n"

    def write_units_file(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`units_yaml` to ``path`` atomically."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_text(self.units_yaml(), encoding="utf-8")
        temporary.replace(target)
        return target


def raise_open_file_limit(needed: int) -> None:
    """Raise this process's open-file soft limit towards ``needed`` (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning(
            "open-file limit %d is below the %d this fleet needs; some units may fail",
            target,
            needed,
        )
