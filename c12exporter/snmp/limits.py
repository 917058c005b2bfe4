"""What a request may be, checked before any decoding: oversize requests are dropped.

An OBJECT IDENTIFIER whose sub-identifiers run over thousands of octets, or a request
with thousands of bindings, costs a BER decoder time out of proportion to its size; one
datagram could hold up the event loop the poller shares. Every datagram is therefore
scanned once, linearly and without recursion, before pysnmp sees it, and dropped
(counted by reason) if it exceeds:

* ``MAX_REQUEST_OCTETS`` octets;
* ``MAX_SUBIDENTIFIERS`` sub-identifiers in an OBJECT IDENTIFIER (RFC 2578 section 3.5
  allows at most 128), each at most ``MAX_SUBIDENTIFIER`` (2^32 - 1);
* ``MAX_BINDINGS`` variable bindings (net-snmp's tools send at most 128 names);
* ``MAX_DEPTH`` nested constructed values (an SNMP message has five).

The fast paths (SNMPv2c and SNMPv3), which read their requests' whole structure anyway,
apply the same limits while reading and leaves any request beyond them to this scan, which then
drops it; so the scan only costs the requests that go to pysnmp.

The scan reads definite lengths only (what every SNMP implementation sends); a datagram
it cannot read is dropped as ``undecodable``, as pysnmp would drop it. An SNMPv3
``encryptedPDU`` is opaque here; its size is bounded by ``MAX_REQUEST_OCTETS``.
"""

from __future__ import annotations

from .ber import (
    MAX_SUBIDENTIFIER,
    MAX_SUBIDENTIFIER_OCTETS,
    MAX_SUBIDENTIFIERS,
    OBJECT_IDENTIFIER,
    SEQUENCE,
)

MAX_REQUEST_OCTETS = 8192
MAX_BINDINGS = 128
MAX_DEPTH = 8
CONSTRUCTED = 0x20

TOO_LARGE = "too_large"
OID_TOO_LONG = "oid_too_long"
TOO_MANY_BINDINGS = "too_many_bindings"
UNDECODABLE = "undecodable"
REASONS = (TOO_LARGE, OID_TOO_LONG, TOO_MANY_BINDINGS, UNDECODABLE)


def violation(datagram: bytes) -> str | None:
    """Why ``datagram`` is dropped unread (a ``c12_snmp_requests_dropped_total`` reason),
    or ``None`` if it is within the limits."""
    size = len(datagram)
    if size > MAX_REQUEST_OCTETS:
        return TOO_LARGE
    ends: list[int] = []  # end of each enclosing constructed value
    bindings = 0
    position = 0
    first_in_sequence = False
    while position < size or ends:
        while ends and position == ends[-1]:
            ends.pop()
            first_in_sequence = False
        if not ends and position == size:
            break
        header = _header(datagram, position, ends[-1] if ends else size)
        if header is None:
            return UNDECODABLE
        tag, start, end = header
        if tag & CONSTRUCTED:
            if len(ends) >= MAX_DEPTH:
                return UNDECODABLE
            ends.append(end)
            first_in_sequence = tag == SEQUENCE
            position = start
            continue
        if tag == OBJECT_IDENTIFIER:
            if not _oid_within_limits(datagram, start, end):
                return OID_TOO_LONG
            if first_in_sequence:
                bindings += 1
                if bindings > MAX_BINDINGS:
                    return TOO_MANY_BINDINGS
        first_in_sequence = False
        position = end
    return None


def _header(data: bytes, position: int, limit: int) -> tuple[int, int, int] | None:
    """(tag, start, end) of the TLV at ``position`` within ``limit``, or ``None``."""
    if position + 2 > limit:
        return None
    tag, first = data[position], data[position + 1]
    if tag & 0x1F == 0x1F:
        return None  # multi-octet tags: no SNMP type has one
    if first < 0x80:
        start, length = position + 2, first
    else:
        octets = first & 0x7F
        if octets == 0 or octets > 4:
            return None  # indefinite or absurd length
        start = position + 2 + octets
        if start > limit:
            return None
        length = int.from_bytes(data[position + 2 : start], "big")
    end = start + length
    return None if end > limit else (tag, start, end)


_MARKS = bytes(0x80 if octet & 0x80 else 0 for octet in range(256))
"""Each octet mapped to 0x80 if it continues a sub-identifier, else 0 (it ends one)."""
_TOO_MANY_OCTETS = b"\x80" * MAX_SUBIDENTIFIER_OCTETS
_FIVE_OCTETS = b"\x80" * (MAX_SUBIDENTIFIER_OCTETS - 1)


def _oid_within_limits(data: bytes, start: int, end: int) -> bool:
    """At most ``MAX_SUBIDENTIFIERS`` sub-identifiers (the first octet group holds two,
    X.690 8.19.4), each of at most five octets and 2^32 - 1, checked with byte
    operations rather than a loop per octet."""
    body = data[start:end]
    marks = body.translate(_MARKS)
    if len(body) - marks.count(0x80) + 1 > MAX_SUBIDENTIFIERS:
        return False
    if _TOO_MANY_OCTETS in marks:
        return False
    if _FIVE_OCTETS in marks:
        return _values_within_limits(body)
    return True


def _values_within_limits(body: bytes) -> bool:
    """Whether every sub-identifier is at most 2^32 - 1 (each is at most five octets)."""
    value = 0
    first = True
    for octet in body:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            if value > MAX_SUBIDENTIFIER + (80 if first else 0):
                return False
            value, first = 0, False
    return True
