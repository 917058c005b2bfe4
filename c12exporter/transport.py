"""What the poller needs from a transport plugin: one unit's identity, its values, its writes.

A transport speaks one unit's protocol (the built-in one is Modbus TCP, see
:mod:`c12exporter.modbus`) and hands back decoded values; nothing above it knows about
registers or frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from .reading import Identity, Settings

Value = float | int | str | None
UnitValues = Mapping[str, Value | list[Value]]
"""One poll's values by measurement name (repeated measurements as lists, in phase or
channel order), in the units the measurement declares."""


class TransportError(Exception):
    """Reading a unit failed.

    :param reason: short machine-readable reason, used as the ``reason`` label of
        ``c12_poll_errors_total`` (e.g. ``timeout``, ``connect``, ``protocol``,
        ``modbus_exception``, ``bad_value``, ``out_of_range``, ``resolve``).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WriteError(Exception):
    """A settings write was refused or failed; the message names unit, channel and field.

    :param reason: ``invalid`` (refused before anything was written), ``unknown_unit``,
        ``unreachable``, ``failed`` (the unit did not take it) or ``not_read_back``
        (written, but the unit reads back something else).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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

    @property
    def stray_bytes(self) -> int: ...

    async def connect(self) -> Identity:
        """Open the connection (again after :meth:`close`) and read the unit's identity."""

    async def read(self) -> UnitValues:
        """Read and decode every value of one poll, checking each against its declaration."""

    def check(self, changes: Sequence[Settings]) -> None:
        """Raise :class:`WriteError` (``invalid``) if the unit cannot hold ``changes``
        exactly; writes nothing."""

    async def write(self, changes: Sequence[Settings]) -> None:
        """Write ``changes`` to the unit (after :meth:`check`)."""

    async def close(self) -> None:
        """Close the connection; safe to call when not connected."""


TransportFactory = Callable[[str, float], Transport]
"""Builds a transport for an address (``host:port``) with a per-request timeout in seconds."""
