"""What the poller needs from a transport plugin: registers and identity from one unit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .registermap import Table


class TransportError(Exception):
    """Reading a unit failed.

    :param reason: short machine-readable reason, used as the ``reason`` label of
        ``c12_poll_errors_total`` (e.g. ``timeout``, ``connect``, ``protocol``,
        ``modbus_exception``).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """What the unit says about itself (Modbus Read Device Identification)."""

    vendor: str
    model: str
    firmware: str
    serial: str


def stray_message(address: str, count: int) -> str:
    return (
        f"{address}: answered {count} bytes that are not a valid response (garbage or "
        "truncated frames): check that the address is a C12B and not another device"
    )


class Transport(Protocol):
    """A connection to one unit. Implementations raise :class:`TransportError`.

    :attr stray_bytes: bytes received since the last valid response; lets a poll that
        timed out tell a silent unit (``timeout``) from one answering garbage
        (``protocol``).
    """

    stray_bytes: int

    async def connect(self) -> None:
        """Open the connection (called again after :meth:`close` to reconnect)."""

    async def read_identity(self) -> Identity:
        """Read vendor, model, firmware and serial number."""

    async def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """Read ``count`` registers of ``table`` starting at ``address``, in one request."""

    async def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write holding registers starting at ``address``."""

    async def close(self) -> None:
        """Close the connection; safe to call when not connected."""


TransportFactory = Callable[[str, float], Transport]
"""Builds a transport for an address (``host:port``) with a per-request timeout in seconds."""
