"""Built-in transport ``modbus-tcp``: reads, decodes and writes a C12B over Modbus TCP.

The register map is the one for the channel count of the model the unit identifies as
(resolved by the plugins' model families): a C12B's is :data:`~.registermap.C12B_V1`, a
24-channel sibling's the same layout 24 wide (:func:`~.registermap.register_map`).

Every poll reads each block of the register map with the requests the map plans for it
(one, unless the block is longer than one read carries) and decodes it there, so what
leaves this module is values, never registers. Writes are checked against the
settings block (range, 10 mA resolution, 16-byte names) before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Sequence
from math import isclose
from typing import TypeVar

from ..addresses import split_host_port
from ..model import ModelError, ModelResolver
from ..plugins import hookimpl
from ..reading import Identity, Settings, UnitSettings
from ..registry import Registry
from ..resolve import DEFAULT_RESOLVER, ResolveError, Resolver, printable
from ..transport import (
    Transport,
    TransportError,
    TransportFactory,
    UnitValues,
    Value,
    WriteError,
    stray_message,
)
from .client import ConnectionClosed, ExceptionReply, ModbusTcpClient, ReplyError, ShortReply
from .framelog import RateLimitedLog
from .registermap import C12B_V1, Block, MapError, RegisterMap, register_map

DEFAULT_PORT = 502
DEVICE_ID = 1
READ_DEVICE_ID_EXTENDED = 0x03  # basic + regular + private objects
RESOLVE_SHARE = 0.5
"""Name resolution may take this share of the timeout, so a name that does not resolve
is reported as such (reason ``resolve``) before the poll times out."""

UNANSWERED = frozenset({"connect", "timeout", "resolve"})

log = logging.getLogger(__name__)
BAD_REPLIES = RateLimitedLog(log)
_T = TypeVar("_T")


class ModbusTcpTransport:
    """One persistent Modbus TCP connection; reconnecting is the poller's job."""

    __slots__ = ("_client", "address", "host", "models", "port", "register_map", "resolver",
                 "settings", "timeout", "unit_settings", "where")  # fmt: skip
    """One per unit: no ``__dict__`` each."""

    def __init__(
        self,
        address: str,
        timeout: float,
        register_map: RegisterMap = C12B_V1,
        resolver: Resolver | None = None,
        models: ModelResolver | None = None,
    ) -> None:
        """:param register_map: the map read until the unit identifies itself, and after
            that too unless ``models`` is given.
        :param models: resolves the model the unit identifies as; its channel count picks
            the register map at each connect (a name no family reads keeps the map: the
            poller refuses the model with its own message).
        """
        self.address = address
        self.where = printable(address)
        """The address as messages show it (control characters escaped)."""
        self.timeout = timeout
        self.models = models
        self._use(register_map)
        self.host, self.port = split_host_port(address, DEFAULT_PORT)
        self.resolver = resolver or DEFAULT_RESOLVER
        self._client = ModbusTcpClient(DEVICE_ID)

    def _use(self, register_map: RegisterMap) -> None:
        self.register_map = register_map
        self.settings = register_map.block("settings")
        self.unit_settings = register_map.block("unit_settings")

    @property
    def stray_bytes(self) -> int:
        """Bytes received that do not make a whole reply; 0 when a whole reply came just as
        the wait for it timed out (a late answer is a timeout, not garbage)."""
        return 0 if self._client.whole_reply_waiting else self._client.unread

    async def connect(self) -> Identity:
        self._client.close()
        where = self.where
        try:
            addresses = await self.resolver.resolve(
                self.host, self.port, self.timeout * RESOLVE_SHARE
            )
        except ResolveError as error:
            raise TransportError("resolve", f"{where}: cannot resolve the host: {error}") from None
        problems = []
        for ip in addresses:
            try:
                async with asyncio.timeout(self.timeout):
                    await self._client.connect(ip, self.port)
                break
            except TimeoutError:
                problems.append(f"{ip}: no answer within {self.timeout:g}s")
            except OSError as error:
                problems.append(f"{ip}: {error.strerror or error}")
        else:
            raise TransportError("connect", f"{where}: cannot connect: {'; '.join(problems)}")
        identity = await self._read_identity()
        if self.models is not None:
            # A name no family reads keeps the map: the poller refuses the model by name.
            with contextlib.suppress(ModelError):
                self._use(register_map(self.models(identity.model).channel_count))
        return identity

    async def read(self) -> UnitValues:
        values: dict[str, Value | list[Value]] = {}
        for block in self.register_map.blocks:
            function, parts = int(block.table), []
            for start, count in block.reads:  # one, unless the block outgrew one read
                parts.append(await self._call(self._client.read_registers(function, start, count)))
            registers = b"".join(parts)  # one part: that part itself, not a copy
            try:
                values.update(block.decode_bytes(registers, unit=self.address))
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
                try:
                    await self._call(self._client.write_registers(address, registers))
                except TransportError as error:
                    what = (
                        "unit name"
                        if isinstance(change, UnitSettings)
                        else f"channel {change.channel}"
                    )
                    # Not answered at all: unreachable; answered with a refusal: failed.
                    reason = "unreachable" if error.reason in UNANSWERED else "failed"
                    raise WriteError(reason, f"{self.address}: {what}: {error}") from None

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

    async def _read_identity(self) -> Identity:
        ids = self.register_map.identification
        information = await self._call(
            self._client.read_device_identification(READ_DEVICE_ID_EXTENDED)
        )
        # Vendor, model and firmware repeat across a fleet: one string each, not one per unit.
        info = {k: sys.intern(_text(v)) for k, v in information.items()}
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

    async def _call(self, request: Awaitable[_T]) -> _T:
        """Await one request within the timeout; every failure becomes a
        :class:`TransportError` with a reason, and closes the connection (it is out of
        step)."""
        where = self.where
        try:
            async with asyncio.timeout(self.timeout):
                return await request
        except TimeoutError:
            stray = self.stray_bytes
            self._client.close()
            if stray:
                BAD_REPLIES.warning(self.address, f"{stray} bytes that are not a whole reply")
                raise TransportError("protocol", stray_message(where, stray)) from None
            raise TransportError(
                "timeout", f"{where}: no answer within {self.timeout:g}s"
            ) from None
        except ShortReply as error:
            self._client.close()
            raise TransportError("short_frame", f"{where}: {error}") from None
        except ReplyError as error:
            self._client.close()
            BAD_REPLIES.warning(self.address, f"bad reply: {error}")
            raise TransportError("protocol", f"{where}: bad reply: {error}") from None
        except ConnectionClosed as error:
            self._client.close()
            if error.partial:
                BAD_REPLIES.warning(self.address, str(error))
                raise TransportError("protocol", f"{where}: {error}") from None
            raise TransportError("connect", f"{where}: connection lost: {error}") from None
        except ExceptionReply as error:
            raise TransportError("modbus_exception", f"{where}: {error}") from None
        except OSError as error:
            self._client.close()
            raise TransportError("connect", f"{where}: {error.strerror or error}") from None
        except BaseException:
            self._client.close()  # cancelled mid-request: the reply would come out of step
            raise


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip("\x00 ")
    return str(value)


def modbus_tcp(address: str, timeout: float) -> Transport:
    """The ``modbus-tcp`` transport factory for C12B units only (:data:`C12B_V1`)."""
    return ModbusTcpTransport(address, timeout)


def modbus_tcp_for(models: ModelResolver) -> TransportFactory:
    """The ``modbus-tcp`` transport factory that reads each unit with the register map of
    the model it identifies as."""

    def modbus_tcp(address: str, timeout: float) -> Transport:
        return ModbusTcpTransport(address, timeout, models=models)

    return modbus_tcp


@hookimpl
def c12_add_transports(transports: Registry[TransportFactory], models: ModelResolver) -> None:
    transports.add("modbus-tcp", modbus_tcp_for(models))
