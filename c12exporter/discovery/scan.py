"""Scanning addresses for units: Read Device Identification (Modbus 43/14) through the
transport plugin, at a bounded rate and concurrency.

Each address ends as one :class:`Finding`: a unit of a model some family can read (a
C12B, or a C24B with its plugin: to monitor), or skipped with the reason: a model its
family names but cannot read (a C12A: no network interface), another Modbus device, a
port that accepts and says nothing, a refused connection, or bytes that are not Modbus.
A unit whose serial is new is asked a second time (:func:`confirm_serials`): a device
that gives another serial on each connection is no unit (it would add a unit per scan)
and is skipped as ``changing serial``; two addresses that claim one serial are both
skipped as ``serial conflict`` (:func:`serial_conflicts`), since nothing tells which is
the unit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..model import ModelError, ModelFamily, UnitModel
from ..poller import UnitResolver
from ..reading import Identity
from ..transport import TransportError

DEFAULT_PORT = 502
DEFAULT_CONCURRENCY = 256
DEFAULT_RATE = 500.0
"""New connections per second: a /24 in about half a second, gentle on any switch."""
DEFAULT_TIMEOUT_S = 1.0
TRANSPORT = "modbus-tcp"


class ScanResolver(UnitResolver, Protocol):
    """The plugins as a scan needs them: transports, models, and the model families that
    say which refused names are their unnetworked variant."""

    @property
    def families(self) -> Mapping[str, ModelFamily]: ...


class Outcome(enum.Enum):
    READABLE = "unit"
    UNNETWORKED = "without network interface"
    OTHER = "other device"
    SILENT = "silent"
    REFUSED = "refused"
    ERROR = "not Modbus"
    UNSTABLE = "changing serial"
    CONFLICT = "serial conflict"


@dataclass(frozen=True)
class Finding:
    """What one address turned out to be."""

    address: str  # host:port
    outcome: Outcome
    reason: str = ""
    identity: Identity | None = None
    model: UnitModel | None = None

    @property
    def is_unit(self) -> bool:
        return self.outcome is Outcome.READABLE


def endpoint(host: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int) -> str:
    return f"[{host}]:{port}" if host.version == 6 else f"{host}:{port}"


class RateLimit:
    """At most ``rate`` starts per second, spaced evenly."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


def unnetworked(name: str, families: Iterable[ModelFamily]) -> bool:
    """Whether a family names ``name`` as its variant without a network interface (a
    C12A, a C24A): a unit of a known model that cannot be read, not another device."""
    for family in families:
        if family.matches(name):
            match = family.pattern.match(name.strip().upper())
            return match is not None and match["kind"] == family.unnetworked
    return False


async def identify(resolver: ScanResolver, address: str, timeout_s: float) -> Finding:
    """Ask ``address`` who it is (one connection, closed again)."""
    transport = resolver.transports[TRANSPORT](address, timeout_s)
    try:
        async with asyncio.timeout(timeout_s * 2):
            identity = await transport.connect()
    except TimeoutError:
        return Finding(address, Outcome.SILENT, "accepts connections but answers nothing")
    except TransportError as error:
        return Finding(address, *_classify(error))
    finally:
        await transport.close()
    try:
        model = resolver.model(identity.model)
    except ModelError as error:
        refused = unnetworked(identity.model, resolver.families.values())
        outcome = Outcome.UNNETWORKED if refused else Outcome.OTHER
        who = f"{identity.vendor} {identity.model}".strip()
        return Finding(address, outcome, f"{who}: {error}", identity)
    return Finding(address, Outcome.READABLE, "", identity, model)


def _classify(error: TransportError) -> tuple[Outcome, str]:
    if error.reason == "connect":
        return Outcome.REFUSED, "nothing listens (connection refused or unreachable)"
    if error.reason == "timeout":
        return Outcome.SILENT, "accepts connections but answers nothing"
    if error.reason in ("modbus_exception", "identity"):
        return Outcome.OTHER, f"a Modbus device without C12 identification: {error}"
    return Outcome.ERROR, f"answers, but not valid Modbus TCP: {error}"


async def confirm_serials(
    resolver: ScanResolver,
    findings: Sequence[Finding],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    concurrency: int = DEFAULT_CONCURRENCY,
    known: Callable[[str], bool] = lambda serial: False,
) -> list[Finding]:
    """``findings`` with each unit whose serial is not ``known`` asked again: one that
    answers with another serial becomes ``changing serial``."""
    limit = asyncio.Semaphore(max(1, concurrency))

    async def confirm(finding: Finding) -> Finding:
        first = finding.identity
        if not finding.is_unit or first is None or known(first.serial):
            return finding
        async with limit:
            again = await identify(resolver, finding.address, timeout_s)
        if again.identity is None or again.identity.serial != first.serial:
            then = repr(again.identity.serial) if again.identity else f"no answer ({again.reason})"
            return dataclasses.replace(
                finding,
                outcome=Outcome.UNSTABLE,
                reason=f"answered serial {first.serial!r}, then {then}: a serial that changes "
                "is not a unit's; not added",
            )
        return finding

    return list(await asyncio.gather(*(confirm(f) for f in findings)))


def serial_conflicts(
    findings: Sequence[Finding], bound: Callable[[str], str | None] = lambda serial: None
) -> list[Finding]:
    """``findings`` with every unit that shares its serial with another address marked
    ``serial conflict``, except the one at the address the serial is ``bound`` to (the
    unit it already names keeps it while that address answers)."""
    claims: dict[str, list[str]] = {}
    for f in findings:
        if f.is_unit and f.identity is not None and f.identity.serial:
            claims.setdefault(f.identity.serial, []).append(f.address)
    out = []
    for f in findings:
        serial = f.identity.serial if f.is_unit and f.identity is not None else ""
        claimed = claims.get(serial, [])
        if len(claimed) > 1 and f.address != bound(serial):
            others = ", ".join(a for a in claimed if a != f.address)
            f = dataclasses.replace(
                f,
                outcome=Outcome.CONFLICT,
                reason=f"serial {serial!r} is also claimed by {others}: not taken; "
                "find the device that copies it",
            )
        out.append(f)
    return out


async def scan(
    resolver: ScanResolver,
    addresses: Sequence[str],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate: float = DEFAULT_RATE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_finding: Callable[[Finding], None] | None = None,
) -> list[Finding]:
    """Identify every address; findings in the order of ``addresses``.

    ``concurrency`` workers take the addresses in turn, so a /16 costs no more tasks or
    memory at once than a /24.
    """
    pace = RateLimit(rate)
    findings: list[Finding | None] = [None] * len(addresses)
    queue = iter(enumerate(addresses))

    async def worker() -> None:
        for index, address in queue:
            await pace.wait()
            finding = await identify(resolver, address, timeout_s)
            findings[index] = finding
            if on_finding is not None:
                on_finding(finding)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(addresses)))))
    return [f for f in findings if f is not None]
