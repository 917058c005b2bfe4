"""Parsing ``host:port`` addresses, IPv6 in brackets included."""

from __future__ import annotations


def split_host_port(address: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port``, ``[v6]:port``, ``:port`` (all interfaces) or ``host`` -> (host, port).

    :raises ValueError: no port and no default, or a port that is not a number.
    """
    address = address.strip()
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port_text = address.rpartition(":")
        if not sep or ":" in host:  # bare host name or bare IPv6 address
            host, port_text = address, ""
    if not port_text:
        if default_port is None:
            raise ValueError(f"{address!r} has no port; write host:port")
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{address!r}: port {port_text!r} is not a number 0..65535")
    return host, int(port_text)
