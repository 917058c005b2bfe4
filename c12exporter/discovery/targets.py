"""Address ranges to scan: CIDR networks, first-last ranges and single addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

MAX_ADDRESSES = 1 << 20
"""More than a /12 in one scan is refused: almost surely a typo (a /8 for a /24)."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetError(ValueError):
    """A network, range or address that cannot be scanned; says which and why."""


def parse_targets(specs: Iterable[str]) -> list[Address]:
    """``10.0.3.0/24`` (its hosts), ``10.0.3.10-10.0.3.40`` or ``10.0.3.10-40`` (both ends
    included), ``10.0.3.7``: every address once, in the order given.

    :raises TargetError: naming the spec and what is wrong.
    """
    seen: dict[Address, None] = {}
    for spec in specs:
        for address in _expand(spec.strip()):
            seen.setdefault(address, None)
            if len(seen) > MAX_ADDRESSES:
                raise TargetError(
                    f"{spec!r}: more than {MAX_ADDRESSES} addresses in all; scan smaller ranges"
                )
    return list(seen)


def _expand(spec: str) -> Iterable[Address]:
    if not spec:
        raise TargetError("an empty network; give e.g. 10.0.3.0/24, 10.0.3.10-40 or 10.0.3.7")
    try:
        if "/" in spec:
            network = ipaddress.ip_network(spec, strict=False)
            if network.num_addresses > MAX_ADDRESSES:
                raise TargetError(f"{spec!r} holds {network.num_addresses} addresses; too many")
            hosts: list[Address] = list(network.hosts())
            return hosts or [ipaddress.ip_address(network.network_address)]
        if "-" in spec:
            first_text, last_text = spec.split("-", 1)
            first = ipaddress.ip_address(first_text)
            if "." not in last_text and ":" not in last_text:  # 10.0.3.10-40
                last_text = first_text.rsplit(".", 1)[0] + "." + last_text
            last = ipaddress.ip_address(last_text)
            if last.version != first.version or int(last) < int(first):
                raise TargetError(f"{spec!r}: the range must run from a lower to a higher address")
            if int(last) - int(first) >= MAX_ADDRESSES:
                raise TargetError(f"{spec!r}: too many addresses")
            return [ipaddress.ip_address(n) for n in range(int(first), int(last) + 1)]
        return [ipaddress.ip_address(spec)]
    except ValueError as error:
        if isinstance(error, TargetError):
            raise
        raise TargetError(
            f"{spec!r} is not a network (10.0.3.0/24), a range (10.0.3.10-40) or an address: "
            f"{error}"
        ) from None
