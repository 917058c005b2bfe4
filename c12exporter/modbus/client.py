"""A strict Modbus TCP client for the few functions a C12B answers (3, 4, 16, 43/14).

Every reply must answer its request exactly: the transaction id, protocol id, unit id
and function code of the request, a length that matches the function's layout and a
byte count that matches the registers asked for; no bytes may arrive unasked. Anything
else is :class:`ReplyError` (reason ``protocol``): the connection is out of step and
must be closed. A Modbus exception reply is :class:`ExceptionReply`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Sequence

MBAP = struct.Struct(">HHHB")
"""Transaction id, protocol id (0), length (unit id + PDU), unit id."""
MAX_PDU = 253
MAX_BUFFERED = 4096
"""More unread bytes than this from a unit is a flood: the connection is closed."""
MAX_REGISTERS = 125
MEI_DEVICE_ID = 0x0E
READ_DEVICE_ID_MORE_ROUNDS = 8


class ReplyError(Exception):
    """A reply that does not answer its request (reason ``protocol``)."""


class ShortReply(ReplyError):
    """A well-formed reply with fewer registers than asked for (reason ``short_frame``)."""


class ExceptionReply(Exception):
    """The unit answered with a Modbus exception."""

    def __init__(self, function: int, code: int) -> None:
        super().__init__(f"unit answered Modbus exception {code} to function {function}")
        self.code = code


class ConnectionClosed(Exception):
    """The unit closed the connection (``partial``: bytes of an unfinished reply)."""

    def __init__(self, partial: int) -> None:
        detail = f" after {partial} bytes of a reply" if partial else ""
        super().__init__(f"the unit closed the connection{detail}")
        self.partial = partial


class _Receiver(asyncio.Protocol):
    """Buffers what the unit sends; counts bytes not yet part of a valid reply."""

    __slots__ = ("_waiter", "buffer", "closed", "transport")  # one per unit: no __dict__

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_BUFFERED and self.transport is not None:
            self.transport.close()
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def take(self, count: int, partial: int) -> bytes:
        """The next ``count`` bytes (``partial``: bytes of this reply taken before)."""
        while len(self.buffer) < count:
            if self.closed:
                raise ConnectionClosed(partial + len(self.buffer))
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data


class ModbusTcpClient:
    """One TCP connection to one unit; one request at a time (the caller serialises)."""

    __slots__ = ("_body_length", "_receiver", "_tid", "pending", "unit_id")

    def __init__(self, unit_id: int = 1) -> None:
        self.unit_id = unit_id
        self._receiver: _Receiver | None = None
        self._tid = 0
        self.pending = 0
        """Bytes of the reply being received so far (for telling garbage from silence)."""
        self._body_length = 0
        """Bytes of the reply after its header, by its length field."""

    @property
    def connected(self) -> bool:
        return self._receiver is not None and not self._receiver.closed

    async def connect(self, host: str, port: int) -> None:
        _, receiver = await asyncio.get_running_loop().create_connection(_Receiver, host, port)
        self._receiver = receiver
        self._tid = 0

    def close(self) -> None:
        """Close at once: the socket is shut down now (asyncio would close it on the next
        turn of the loop, after a new connection may already have been opened)."""
        if self._receiver is not None:
            transport = self._receiver.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                transport.abort()
            self._receiver = None

    @property
    def unread(self) -> int:
        """Bytes received and not yet consumed (garbage or a truncated reply)."""
        return self.pending + (len(self._receiver.buffer) if self._receiver else 0)

    @property
    def whole_reply_waiting(self) -> bool:
        """A whole reply (by its length field) has arrived and not been taken: it came as
        the wait for it was cancelled."""
        buffered = len(self._receiver.buffer) if self._receiver else 0
        if self.pending:  # its header taken, waiting for the rest
            return buffered >= self._body_length
        if buffered < MBAP.size or self._receiver is None:
            return False
        length: int = MBAP.unpack(bytes(self._receiver.buffer[: MBAP.size]))[2]
        return buffered >= MBAP.size + length - 1

    async def read_registers(self, function: int, address: int, count: int) -> bytes:
        """Function 3 (holding) or 4 (input): ``count`` registers from ``address``, as the
        wire carries them (``2 * count`` big-endian bytes)."""
        if function not in (3, 4) or not 1 <= count <= MAX_REGISTERS:
            raise ValueError(f"cannot read {count} registers with function {function}")
        data = await self.exchange(function, struct.pack(">HH", address, count))
        if len(data) < 1 or data[0] != 2 * count or len(data) != 1 + 2 * count:
            got = data[0] if data else "no"
            short = data and data[0] % 2 == 0 and data[0] < 2 * count and len(data) == 1 + data[0]
            raise (ShortReply if short else ReplyError)(
                f"asked for {count} registers at {address}, the reply says {got} bytes "
                f"and carries {max(0, len(data) - 1)}"
            )
        return data[1:]

    async def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Function 16: write ``values`` from ``address``; the reply must echo both."""
        count = len(values)
        header = struct.pack(">HHB", address, count, 2 * count)
        data = await self.exchange(16, header + struct.pack(f">{count}H", *values))
        if data != struct.pack(">HH", address, count):
            raise ReplyError(
                f"wrote {count} registers at {address}, the reply confirms {data.hex()}"
            )

    async def read_device_identification(self, read_code: int) -> dict[int, bytes]:
        """Function 43/14: the unit's identification objects by id."""
        objects: dict[int, bytes] = {}
        next_id = 0
        for _ in range(READ_DEVICE_ID_MORE_ROUNDS):
            data = await self.exchange(43, bytes((MEI_DEVICE_ID, read_code, next_id)))
            more, next_id = _device_objects(data, read_code, objects)
            if not more:
                return objects
        raise ReplyError(f"device identification did not end after {len(objects)} objects")

    async def exchange(self, function: int, payload: bytes) -> bytes:
        """Send one request; the reply's data after its function code.

        :raises ReplyError, ExceptionReply, ConnectionClosed:
        """
        receiver = self._receiver
        if receiver is None or receiver.transport is None:
            raise ConnectionClosed(0)
        if receiver.buffer:
            raise ReplyError(f"{len(receiver.buffer)} bytes arrived that no request asked for")
        self._tid = self._tid % 0xFFFF + 1  # 1..65535: 0 is never a valid answer
        tid = self._tid
        receiver.transport.write(MBAP.pack(tid, 0, len(payload) + 2, self.unit_id) +
                                 bytes((function,)) + payload)  # fmt: skip
        self.pending = 0
        header = await receiver.take(MBAP.size, 0)
        self.pending = len(header)
        reply_tid, protocol, length, unit_id = MBAP.unpack(header)
        if protocol != 0:
            raise ReplyError(f"reply has protocol id {protocol}, not 0 (Modbus)")
        if not 2 <= length <= MAX_PDU + 1:
            raise ReplyError(f"reply declares a length of {length} bytes (2..{MAX_PDU + 1})")
        if reply_tid != tid:
            raise ReplyError(f"reply has transaction id {reply_tid}, the request {tid}")
        if unit_id != self.unit_id:
            raise ReplyError(f"reply comes from unit id {unit_id}, the request went to "
                             f"{self.unit_id}")  # fmt: skip
        self._body_length = length - 1
        body = await receiver.take(self._body_length, self.pending)
        self.pending = 0
        if receiver.buffer:
            raise ReplyError(f"{len(receiver.buffer)} bytes follow the reply")
        answered = body[0]
        if answered == function | 0x80:
            if len(body) != 2:
                raise ReplyError(f"exception reply to function {function} is {len(body)} bytes")
            raise ExceptionReply(function, body[1])
        if answered != function:
            raise ReplyError(f"reply is for function {answered}, the request was {function}")
        return body[1:]


def _device_objects(data: bytes, read_code: int, objects: dict[int, bytes]) -> tuple[bool, int]:
    """Parse a 43/14 reply into ``objects``: (more follows, next object id)."""
    if len(data) < 6 or data[0] != MEI_DEVICE_ID or data[1] != read_code:
        raise ReplyError(f"device identification reply has a wrong header: {data[:6].hex()}")
    more, next_id, count = data[3], data[4], data[5]
    if more not in (0x00, 0xFF):
        raise ReplyError(f"device identification 'more follows' is {more:#04x}")
    at = 6
    for _ in range(count):
        if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
            raise ReplyError("device identification objects run past the reply")
        object_id, size = data[at], data[at + 1]
        objects[object_id] = data[at + 2 : at + 2 + size]
        at += 2 + size
    if at != len(data):
        raise ReplyError(f"device identification reply has {len(data) - at} bytes too many")
    return more == 0xFF, next_id
