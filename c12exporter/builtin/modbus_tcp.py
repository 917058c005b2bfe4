"""Built-in transport ``modbus-tcp``: the C12B's Modbus TCP interface, via pymodbus."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ExceptionResponse, ModbusPDU

from ..addresses import split_host_port
from ..plugins import Registry, hookimpl
from ..registermap import C12B_V1, Table
from ..transport import Identity, Transport, TransportError, TransportFactory, stray_message

DEFAULT_PORT = 502
DEVICE_ID = 1
READ_DEVICE_ID_EXTENDED = 0x03  # basic + regular + private objects

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # failures surface as TransportError


class ModbusTcpTransport:
    """One persistent pymodbus connection; reconnecting is the poller's job."""

    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
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

    async def connect(self) -> None:
        try:
            connected = await self._client.connect()
        except (OSError, ModbusException) as error:
            raise TransportError("connect", f"{self.address}: cannot connect: {error}") from None
        if not connected:
            raise TransportError("connect", f"{self.address}: connection refused or timed out")

    async def read_registers(self, table: Table, address: int, count: int) -> list[int]:
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

    async def write_registers(self, address: int, values: Sequence[int]) -> None:
        await self._call(
            lambda: self._client.write_registers(address, list(values), device_id=DEVICE_ID)
        )

    async def read_identity(self) -> Identity:
        ids = C12B_V1.identification
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
