"""The BER encodings the agent writes itself: variable bindings, encoded once per cell.

pysnmp builds a pyasn1 object per variable binding and encodes it per response, which
costs tens of microseconds each; a walk of a large fleet answers hundreds of thousands.
The agent instead encodes each cell's ``VarBind`` (X.690 BER, RFC 3416 section 3) when
the cell is built, and a response concatenates them. Only the simple types SMIv2 uses
are needed: INTEGER and the application integer types, OCTET STRING, OBJECT IDENTIFIER.
"""

from __future__ import annotations

SEQUENCE = 0x30
INTEGER = 0x02
OCTET_STRING = 0x04
OBJECT_IDENTIFIER = 0x06
NO_SUCH_OBJECT = 0x80
NO_SUCH_INSTANCE = 0x81
END_OF_MIB_VIEW = 0x82

Oid = tuple[int, ...]


def length(n: int) -> bytes:
    """A definite length: short form below 128, long form above."""
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:  # most values and bindings: a one-octet length
        return bytes((tag, size)) + body
    return bytes((tag,)) + length(size) + body


def integer_body(value: int) -> bytes:
    """Two's complement, minimal length (X.690 8.3.2)."""
    size = ((value if value >= 0 else ~value).bit_length() + 8) // 8
    return value.to_bytes(size, "big", signed=True)


def subidentifiers(arcs: Oid) -> bytes:
    """Base-128 encoding of arcs (no first-two-arcs folding: for suffixes)."""
    out = bytearray()
    for arc in arcs:
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def oid_body(oid: Oid) -> bytes:
    """The contents octets of an OBJECT IDENTIFIER (first two arcs folded, X.690 8.19)."""
    if len(oid) < 2:
        raise ValueError(f"an OID has at least two arcs, got {oid}")
    return subidentifiers((oid[0] * 40 + oid[1], *oid[2:]))


def varbind(oid_contents: bytes, value: bytes) -> bytes:
    """``SEQUENCE { name OBJECT IDENTIFIER, value }`` from encoded pieces."""
    return tlv(SEQUENCE, tlv(OBJECT_IDENTIFIER, oid_contents) + value)


def exception_varbind(oid: Oid, tag: int) -> bytes:
    """A variable binding carrying noSuchObject, noSuchInstance or endOfMibView."""
    return varbind(oid_body(oid), bytes((tag, 0)))


def sequence(items: list[bytes]) -> bytes:
    body = b"".join(items)
    return tlv(SEQUENCE, body)


# --- reading (the fast paths' requests) ---------------------------------------------------


class BerError(ValueError):
    """Not the BER this module reads: the caller leaves the message to pysnmp."""


MAX_LENGTH_OCTETS = 4
MAX_INTEGER_OCTETS = 9


def read(data: bytes, position: int) -> tuple[int, int, int]:
    """One TLV at ``position``: (tag, start of contents, end of contents).

    Single-octet tags and definite lengths only; everything is bounds-checked.
    """
    if position + 2 > len(data):
        raise BerError("truncated")
    tag, first = data[position], data[position + 1]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-octet tag")
    if first < 0x80:
        start, size = position + 2, first
    else:
        octets = first & 0x7F
        if octets == 0 or octets > MAX_LENGTH_OCTETS:
            raise BerError("indefinite or oversized length")
        start = position + 2 + octets
        if start > len(data):
            raise BerError("truncated length")
        size = int.from_bytes(data[position + 2 : start], "big")
    end = start + size
    if end > len(data):
        raise BerError("truncated contents")
    return tag, start, end


def read_integer(data: bytes, start: int, end: int) -> int:
    if not 0 < end - start <= MAX_INTEGER_OCTETS:
        raise BerError("bad INTEGER length")
    return int.from_bytes(data[start:end], "big", signed=True)


MAX_SUBIDENTIFIER_OCTETS = 5
"""A sub-identifier is at most 2^32 - 1 (RFC 2578 section 3.5): five base-128 octets."""
MAX_SUBIDENTIFIER = 2**32 - 1
MAX_SUBIDENTIFIERS = 128
"""RFC 2578 section 3.5: at most 128 sub-identifiers in a value."""


def read_oid(data: bytes, start: int, end: int) -> Oid:
    """The arcs of an OBJECT IDENTIFIER, in time linear in its length: a sub-identifier
    of more than five octets or above 2^32 - 1, one encoded with a leading 0x80 (not
    minimal, X.690 8.19.2), or more than 128 arcs are refused."""
    if start >= end:
        raise BerError("empty OBJECT IDENTIFIER")
    if data[end - 1] & 0x80:
        raise BerError("unterminated subidentifier")
    arcs: list[int] = []
    value = 0
    run = 0
    for octet in data[start:end]:
        if run == 0 and octet == 0x80:
            raise BerError("subidentifier not minimally encoded")
        run += 1
        if run > MAX_SUBIDENTIFIER_OCTETS:
            raise BerError("subidentifier too long")
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            if value > MAX_SUBIDENTIFIER + (80 if not arcs else 0):
                raise BerError("subidentifier above 2^32 - 1")
            arcs.append(value)
            value = run = 0
    if len(arcs) >= MAX_SUBIDENTIFIERS:  # the first holds two arcs
        raise BerError("more than 128 subidentifiers")
    first = arcs[0]
    head = (first // 40, first % 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])
