"""A Modbus TCP server on loopback that answers requests as a test says: honestly (a
simulated unit's registers), or with any bytes at all."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from pymodbus.constants import DeviceInformation

from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
from c12exporter.plugins import load_plugins
from c12exporter.simulator.server import Fleet, identification_objects

LOOPBACK = "127.0.0.1"
MBAP = struct.Struct(">HHHB")


@dataclass(frozen=True)
class Request:
    tid: int
    unit: int
    function: int
    data: bytes

    @property
    def span(self) -> tuple[int, int]:
        """(address, count) of a register read or write."""
        address, count = struct.unpack(">HH", self.data[:4])
        return address, count


def adu(tid: int, unit: int, pdu: bytes, protocol: int = 0, length: int | None = None) -> bytes:
    """A Modbus TCP frame; ``length`` overrides the MBAP length field."""
    return MBAP.pack(tid, protocol, len(pdu) + 1 if length is None else length, unit) + pdu


class HonestUnit:
    """What a simulated C12B answers (registers frozen at one moment)."""

    def __init__(self, seed: int = 0) -> None:
        plugins = load_plugins(entry_points=False)
        unit = Fleet.build(1, speed=0.0, warmup_s=600.0, seed=seed, plugins=plugins).units[0]
        self.input = unit.measurement_registers()
        self.holding = unit.settings_registers()
        self.objects = dict(unit.identification)
        self.serial = unit.serial

    def registers(self, function: int, address: int, count: int) -> list[int]:
        table, start = (self.input, MEASUREMENTS.start) if function == 4 else (
            self.holding, SETTINGS.start)  # fmt: skip
        return table[address - start : address - start + count]

    def pdu(self, request: Request) -> bytes:
        """The well-formed answer's PDU (function code first)."""
        if request.function in (3, 4):
            address, count = request.span
            values = self.registers(request.function, address, count)
            return bytes((request.function, 2 * count)) + struct.pack(f">{count}H", *values)
        if request.function == 16:
            return bytes((16,)) + request.data[:4]
        if request.function == 43 and request.data[:1] == b"\x0e":
            read_code, object_id = request.data[1], request.data[2]
            objects = identification_objects(self.objects, DeviceInformation(read_code), object_id)
            body = b"".join(
                bytes((oid, len(text.encode()))) + text.encode()
                for oid, text in (objects or {}).items()
            )
            return bytes((43, 14, read_code, 0x83, 0, 0, len(objects or {}))) + body
        return bytes((request.function | 0x80, 1))

    def reply(self, request: Request) -> bytes:
        return adu(request.tid, request.unit, self.pdu(request))


Answer = Callable[[Request], bytes | None]
"""Bytes to send for a request (None: close the connection)."""


class HostileServer:
    """``async with HostileServer(answer) as server:`` serves on ``server.address``."""

    def __init__(self, answer: Answer, port: int = 0) -> None:
        self.answer = answer
        self.open = 0
        self.accepted = 0
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = port

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, LOOPBACK, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._handlers:
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._answer(reader, writer)
        except asyncio.CancelledError:
            pass  # the server is closing
        finally:
            self._handlers.discard(task)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.accepted += 1
        try:
            while True:
                header = await reader.readexactly(MBAP.size)
                tid, _, length, unit = MBAP.unpack(header)
                pdu = await reader.readexactly(length - 1)
                self.requests += 1
                answer = self.answer(Request(tid, unit, pdu[0], pdu[1:]))
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()
