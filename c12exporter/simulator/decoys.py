"""Things on a network that are not C12B units, for discovery to skip: another vendor's
Modbus device, a C12A (a unit without the network option, as a mislabelled device would
announce itself), and a port that accepts connections and never answers."""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.mei_message import ReadDeviceInformationRequest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ..modbus.registermap import C12B_V1
from .server import SimulatorError, _shutdown, _UnitIdentificationRequest, check_loopback

ids = C12B_V1.identification
IDENTITIES: dict[str, dict[int, str]] = {
    "other": {ids.vendor: "Acme Metering", ids.product_code: "PM-3000", ids.revision: "2.1",
              ids.model_name: "PM-3000"},
    "c12a": {ids.vendor: "StageSmarts", ids.product_code: "C12A-12", ids.revision: "1.0",
             ids.model_name: "C12A-12", ids.serial_number: "SA000001"},
}  # fmt: skip


class DecoyKind(enum.StrEnum):
    OTHER = "other"  # another vendor's Modbus TCP device
    C12A = "c12a"  # announces a C12A
    SILENT = "silent"  # accepts, never answers


class Decoy:
    """One decoy listening on ``host:port`` (loopback only)."""

    def __init__(self, kind: DecoyKind, host: str, port: int) -> None:
        check_loopback(host)
        self.kind = kind
        self.host = host
        self.port = port
        self._modbus: ModbusTcpServer | None = None
        self._silent: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        if self.kind is DecoyKind.SILENT:
            self._silent = await asyncio.start_server(self._hold, self.host, self.port)
            self.port = int(self._silent.sockets[0].getsockname()[1])
            return
        objects = IDENTITIES[self.kind.value]

        def identify(sending: bool, pdu: ModbusPDU) -> ModbusPDU:
            if not sending and isinstance(pdu, ReadDeviceInformationRequest):
                return _UnitIdentificationRequest(pdu, objects)
            return pdu

        device = SimDevice(
            id=0,
            simdata=(
                [SimData(0, values=0, datatype=DataType.BITS)],
                [SimData(0, values=0, datatype=DataType.BITS)],
                [SimData(0, count=16, datatype=DataType.REGISTERS)],
                [SimData(0, count=16, datatype=DataType.REGISTERS)],
            ),
        )
        server = ModbusTcpServer(device, address=(self.host, self.port), trace_pdu=identify)
        try:
            await server.serve_forever(background=True)
        except RuntimeError:
            await _shutdown(server)
            raise SimulatorError(f"decoy {self.kind}: cannot listen on {self.address}") from None
        if self.port == 0:
            listener: Any = server.transport
            self.port = int(listener.sockets[0].getsockname()[1])
        self._modbus = server

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.add(writer)
        try:
            while await reader.read(4096):
                pass  # read and say nothing
        except OSError:
            pass
        finally:
            self._held.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._modbus is not None:
            await _shutdown(self._modbus)
            self._modbus = None
        if self._silent is not None:
            self._silent.close()
            for writer in list(self._held):
                writer.close()
            await self._silent.wait_closed()
            self._silent = None


def parse_decoy(spec: str, port: int) -> Decoy:
    """``KIND:HOST`` (e.g. ``c12a:127.0.4.2``) on ``port``.

    :raises SimulatorError: an unknown kind or a host that is not loopback.
    """
    kind_text, _, host = spec.partition(":")
    try:
        kind = DecoyKind(kind_text.strip().lower())
    except ValueError:
        kinds = ", ".join(k.value for k in DecoyKind)
        raise SimulatorError(f"decoy {spec!r}: kind must be one of {kinds}") from None
    if not host:
        raise SimulatorError(f"decoy {spec!r}: write KIND:HOST, e.g. silent:127.0.4.3")
    return Decoy(kind, host.strip(), port)
