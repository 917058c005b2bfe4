"""Which targets ``/probe`` reads: configured units by name or address, and other
addresses only where the config's ``probe.allow`` admits them (default: none).

A refused target gets one answer whatever its host or port, and no connection is opened,
so ``/probe`` cannot be used to scan a network or the exporter's own host. Names are
resolved, every address they resolve to is checked, and the unit is then read at the
checked address (never resolved a second time).
"""

from __future__ import annotations

from ..addresses import split_host_port
from ..resolve import ResolveError, Resolver, ip_literal
from ..settings import ProbeConfig
from ..store import Store, UnitState

DEFAULT_PORT = 502
REFUSED = (
    "target refused: it is not a configured unit, and probe.allow in the config does not admit it\n"
)


def normal_address(address: str) -> tuple[str, int] | None:
    """(host, port) as compared: host in lower case (IP addresses canonical), port 502 if
    none; None if ``address`` is not host:port."""
    try:
        host, port = split_host_port(address, DEFAULT_PORT)
    except ValueError:
        return None
    return (ip_literal(host) or host.lower().rstrip(".")), port


def find_unit(store: Store, target: str) -> UnitState | None:
    """The configured unit named ``target`` or at address ``target``."""
    wanted = normal_address(target)
    for unit in store:
        if target == unit.config.name:
            return unit
    for unit in store:
        if wanted is not None and normal_address(unit.config.address) == wanted:
            return unit
    return None


def join_host_port(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


async def admitted_address(
    target: str, probe: ProbeConfig, resolver: Resolver, timeout_s: float
) -> str | None:
    """The address to read ``target`` at (``ip:port``), or None if it is refused."""
    if not probe.allow:
        return None  # default deny: nothing is even resolved
    address = normal_address(target)
    if address is None:
        return None
    host, port = address
    try:
        ips = await resolver.resolve(host, port, timeout_s)
    except ResolveError:
        return None
    if not all(probe.admits(ip, port) for ip in ips):
        return None
    return join_host_port(ips[0], port)
