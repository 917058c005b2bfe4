"""Built-in transport ``modbus-tcp``: reads, decodes and writes a C12B over Modbus TCP.

Every poll reads each block of the register map with one request and decodes it there,
so what leaves this module is values, never registers. Writes are checked against the
settings block (range, 10 mA resolution, 16-byte names) before anything is sent.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from math import isclose

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from ..addresses import split_host_port
from ..plugins import hookimpl
from ..reading import Identity, Settings, UnitSettings
from ..registry import Registry
from ..transport import (
    Transport,
    TransportError,
    TransportFactory,
    UnitValues,
    Value,
    WriteError,
    stray_message,
)
from .registermap import C12B_V1, Block, MapError, RegisterMap, Table

DEFAULT_PORT = 502
DEVICE_ID = 1
READ_DEVICE_ID_EXTENDED = 0x03  # basic + regular + private objects

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # failures surface as TransportError


class ModbusTcpTransport:
    """One persistent pymodbus connection; reconnecting is the poller's job."""

    def __init__(self, address: str, timeout: float, register_map: RegisterMap = C12B_V1) -> None:
        self.address = address
        self.register_map = register_map
        self.settings = register_map.block("settings")
        self.unit_settings = register_map.block("unit_settings")
        host, port = split_host_port(address, DEFAULT_PORT)
        self.stray_bytes = 0
        self._client = AsyncModbusTcpClient(
            host,
            port=port,
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._count_received,
        )

    def _count_received(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.stray_bytes += len(data)
        return data

    async def connect(self) -> Identity:
        try:
            connected = await self._client.connect()
        except (OSError, ModbusException) as error:
            raise TransportError("connect", f"{self.address}: cannot connect: {error}") from None
        if not connected:
            raise TransportError("connect", f"{self.address}: connection refused or timed out")
        return await self._read_identity()

    async def read(self) -> UnitValues:
        values: dict[str, Value | list[Value]] = {}
        for block in self.register_map.blocks:
            registers = await self._read_registers(block.table, block.start, block.count)
            try:
                values.update(block.decode(registers, unit=self.address))
            except MapError as error:
                raise TransportError(error.reason, str(error)) from None
        return values

    def check(self, changes: Sequence[Settings]) -> None:
        for change in changes:
            self._registers_for(change)

    async def write(self, changes: Sequence[Settings]) -> None:
        planned = [(c, self._registers_for(c)) for c in changes]
        for change, writes in planned:
            for address, registers in writes:
                request = functools.partial(
                    self._client.write_registers, address, registers, device_id=DEVICE_ID
                )
                try:
                    await self._call(request)
                except TransportError as error:
                    what = (
                        "unit name"
                        if isinstance(change, UnitSettings)
                        else f"channel {change.channel}"
                    )
                    raise WriteError("failed", f"{self.address}: {what}: {error}") from None

    def _registers_for(self, change: Settings) -> list[tuple[int, list[int]]]:
        """(address, registers) to write for ``change``; :class:`WriteError` if the settings
        block cannot hold it exactly."""
        if isinstance(change, UnitSettings):
            where = f"{self.address}: unit name"
            return [self._text(self.unit_settings, "unit_name", 0, change.name, where)]
        where = f"{self.address}: channel {change.channel}"
        count = self.settings.field("channel_name").count
        if not 1 <= change.channel <= count:
            raise WriteError("invalid", f"{where}: no such channel (1..{count})")
        index = change.channel - 1
        writes: list[tuple[int, list[int]]] = []
        if change.name is not None:
            writes.append(self._text(self.settings, "channel_name", index, change.name, where))
        limits = change.limits
        low, high = limits.get("supervision_min"), limits.get("supervision_max")
        if low is not None and high is not None and low > high:
            raise WriteError(
                "invalid", f"{where}: supervision minimum {low:g} A is above maximum {high:g} A"
            )
        for name, limit in limits.items():
            writes.append(
                (self.settings.item_address(name, index), self._limit(name, limit, where))
            )
        return writes

    @staticmethod
    def _text(block: Block, name: str, index: int, text: str, where: str) -> tuple[int, list[int]]:
        size = block.field(name).kind.registers * 2
        if "\x00" in text or len(text.encode("utf-8")) > size:
            raise WriteError("invalid", f"{where}: name must be UTF-8 text of at most {size} bytes")
        return block.item_address(name, index), block.encode_item(name, text)

    def _limit(self, name: str, limit_a: float | None, where: str) -> list[int]:
        field = self.settings.field(name)
        if limit_a is not None:
            steps = limit_a / field.scale
            valid = field.valid or (0.0, limit_a)
            if not valid[0] <= limit_a <= valid[1] or not isclose(
                steps, round(steps), abs_tol=1e-6
            ):
                raise WriteError(
                    "invalid",
                    f"{where}: {name.replace('_', ' ')} {limit_a:g} A must be within "
                    f"{valid[0]:g}..{valid[1]:g} A in steps of {field.scale:g} A",
                )
        return self.settings.encode_item(name, limit_a)

    async def _read_registers(self, table: Table, address: int, count: int) -> list[int]:
        read = (
            self._client.read_input_registers
            if table is Table.INPUT
            else self._client.read_holding_registers
        )
        response = await self._call(lambda: read(address, count=count, device_id=DEVICE_ID))
        registers = list(response.registers)
        if len(registers) != count:
            raise TransportError(
                "short_frame",
                f"{self.address}: asked for {count} registers at {address}, got {len(registers)}",
            )
        return registers

    async def _read_identity(self) -> Identity:
        ids = self.register_map.identification
        response = await self._call(
            lambda: self._client.read_device_information(
                read_code=READ_DEVICE_ID_EXTENDED, object_id=0, device_id=DEVICE_ID
            )
        )
        information = getattr(response, "information", None) or {}
        info = {k: _text(v) for k, v in information.items()}
        model = info.get(ids.model_name) or info.get(ids.product_code) or ""
        if not model:
            raise TransportError("identity", f"{self.address}: device identification has no model")
        return Identity(
            vendor=info.get(ids.vendor, ""),
            model=model,
            firmware=info.get(ids.revision, ""),
            serial=info.get(ids.serial_number, ""),
        )

    async def close(self) -> None:
        self._client.close()

    async def _call(self, request: Callable[[], Awaitable[ModbusPDU]]) -> ModbusPDU:
        """Send one request; every failure becomes a :class:`TransportError` with a reason.
        (pymodbus raises some errors when the request is made, others when awaited.)"""
        try:
            response = await request()
        except ModbusIOException as error:
            if self.stray_bytes:
                raise TransportError(
                    "protocol", stray_message(self.address, self.stray_bytes)
                ) from None
            raise TransportError("timeout", f"{self.address}: no valid answer: {error}") from None
        except ConnectionException as error:
            raise TransportError("connect", f"{self.address}: connection lost: {error}") from None
        except ModbusException as error:
            raise TransportError("protocol", f"{self.address}: {error}") from None
        except OSError as error:
            raise TransportError("connect", f"{self.address}: {error}") from None
        self.stray_bytes = 0
        if isinstance(response, ExceptionResponse) or response.isError():
            code = getattr(response, "exception_code", "?")
            raise TransportError(
                "modbus_exception", f"{self.address}: unit answered Modbus exception {code}"
            )
        return response


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip("\x00 ")
    return str(value)


def modbus_tcp(address: str, timeout: float) -> Transport:
    return ModbusTcpTransport(address, timeout)


@hookimpl
def c12_add_transports(transports: Registry[TransportFactory]) -> None:
    transports.add("modbus-tcp", modbus_tcp)
