"""SNMP request datagrams built field by field, so that any field can be wrong on purpose.

A :class:`Node` is one BER TLV whose encoding can be bent: a length in long form or
wrong by some octets, an INTEGER with a redundant leading octet, trailing octets. The
mutations are what a careless or hostile manager sends; the differential test and the
fuzzer (``bench/fuzz_snmp.py``) draw them from a seeded :class:`random.Random`.
"""

from __future__ import annotations

import contextlib
import hmac
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from c12exporter.snmp import ber
from c12exporter.snmp.fastv3 import UserKeys

Oid = tuple[int, ...]
PDU_TAGS = {"get": 0xA0, "next": 0xA1, "bulk": 0xA5}
NULL = b"\x05\x00"


@dataclass
class Node:
    """A TLV: ``children`` for a constructed value, else ``body``."""

    tag: int
    body: bytes = b""
    children: list[Node] | None = None
    length_delta: int = 0
    long_length: int = 0
    """0: minimal length; n: long form with n length octets."""
    trailing: bytes = b""
    """Octets after the contents, inside the value (counted by the length)."""

    def encode(self) -> bytes:
        contents = (
            b"".join(child.encode() for child in self.children)
            if self.children is not None
            else self.body
        ) + self.trailing
        size = max(len(contents) + self.length_delta, 0)
        if self.long_length:
            length = bytes((0x80 | self.long_length,)) + size.to_bytes(self.long_length, "big")
        else:
            length = ber.length(size)
        return bytes((self.tag,)) + length + contents


def integer(value: int) -> Node:
    return Node(ber.INTEGER, ber.integer_body(value))


def oid(arcs: Oid) -> Node:
    return Node(ber.OBJECT_IDENTIFIER, ber.oid_body(arcs))


def message(
    pdu: str,
    names: Sequence[Oid],
    fields: tuple[int, int] = (0, 0),
    community: bytes = b"public",
    version: int = 1,
    request_id: int = 4711,
) -> Node:
    """An SNMP (v1/v2c) message: ``fields`` are error-status and error-index, or
    non-repeaters and max-repetitions."""
    bindings = [Node(ber.SEQUENCE, children=[oid(n), Node(0x05)]) for n in names]
    pdu_node = Node(
        PDU_TAGS[pdu],
        children=[integer(request_id), integer(fields[0]), integer(fields[1]),
                  Node(ber.SEQUENCE, children=bindings)],
    )  # fmt: skip
    return Node(
        ber.SEQUENCE,
        children=[integer(version), Node(ber.OCTET_STRING, community), pdu_node],
    )


def nodes(root: Node) -> list[Node]:
    out = [root]
    for child in root.children or ():
        out += nodes(child)
    return out


class Reshaped(Exception):
    """An earlier mutation moved what this one bends: it is skipped."""


def _children(node: Node, at: int | None = None) -> list[Node]:
    if node.children is None or (at is not None and len(node.children) <= at):
        raise Reshaped
    return node.children


def _pdu(root: Node) -> Node:
    return _children(root, 2)[2]


def _bindings(root: Node) -> list[Node]:
    return _children(_children(_pdu(root), 3)[3])


def _negative_field(rng: random.Random, root: Node) -> None:
    children = _children(_pdu(root), 3)
    children[rng.choice((1, 2))] = integer(-rng.randint(1, 2**31))


def _big_field(rng: random.Random, root: Node) -> None:
    children = _children(_pdu(root), 3)
    children[rng.choice((0, 1, 2))] = integer(rng.choice((2**31, 2**32, -(2**31) - 1, 300)))


def _value(rng: random.Random, root: Node) -> None:
    bindings = _bindings(root)
    if not bindings:
        return
    values = [
        integer(0), Node(ber.OCTET_STRING, b"x"), oid((1, 3)), Node(0x80), Node(0x81),
        Node(0x82), Node(0x05, b"\x00"), Node(0x40, b"\x7f\x00\x00\x01"), Node(0x43, b"\x01"),
        Node(ber.SEQUENCE, children=[]),
    ]  # fmt: skip
    _children(rng.choice(bindings), 1)[1] = rng.choice(values)


def _nesting(rng: random.Random, root: Node) -> None:
    bindings = _bindings(root)
    choice = rng.randrange(5)
    children = _children(_pdu(root), 3)
    if choice == 0 and bindings:  # a binding without its SEQUENCE
        k = rng.randrange(len(bindings))
        bindings[k : k + 1] = _children(bindings[k])
    elif choice == 1:  # the binding list wrapped once more
        children[3] = Node(ber.SEQUENCE, children=[children[3]])
    elif choice == 2 and bindings:  # a binding wrapped once more
        k = rng.randrange(len(bindings))
        bindings[k] = Node(ber.SEQUENCE, children=[bindings[k]])
    elif choice == 3:  # an extra element in the PDU or the message
        _children(rng.choice((_pdu(root), root))).append(integer(0))
    elif bindings:  # a third element in a binding
        _children(rng.choice(bindings)).append(Node(0x05))


def _trailing(rng: random.Random, root: Node) -> None:
    rng.choice(nodes(root)).trailing = rng.choice((b"\x00", b"\x05\x00", b"\x00\x00\x00"))


def _non_minimal_integer(rng: random.Random, root: Node) -> None:
    integers = [n for n in nodes(root) if n.tag == ber.INTEGER]
    target = rng.choice(integers)
    pad = b"\xff" if target.body[:1] and target.body[0] & 0x80 else b"\x00"
    target.body = pad + target.body


def _non_minimal_oid(rng: random.Random, root: Node) -> None:
    oids = [n for n in nodes(root) if n.tag == ber.OBJECT_IDENTIFIER]
    if not oids:
        return
    target = rng.choice(oids)
    at = rng.randrange(len(target.body) + 1)
    while at and target.body[at - 1] & 0x80:  # at the start of a sub-identifier
        at -= 1
    target.body = target.body[:at] + b"\x80" + target.body[at:]


def _long_length(rng: random.Random, root: Node) -> None:
    rng.choice(nodes(root)).long_length = rng.choice((1, 2, 4))


def _wrong_length(rng: random.Random, root: Node) -> None:
    rng.choice(nodes(root)).length_delta = rng.choice((-2, -1, 1, 2))


def _wrong_tag(rng: random.Random, root: Node) -> None:
    target = rng.choice(nodes(root))
    target.tag = rng.choice((0x02, 0x04, 0x05, 0x06, 0x30, 0x31, 0xA0, 0xA3, 0xA4, 0x40))


def _empty_oid(rng: random.Random, root: Node) -> None:
    oids = [n for n in nodes(root) if n.tag == ber.OBJECT_IDENTIFIER]
    if oids:
        rng.choice(oids).body = rng.choice((b"", b"\x2b\x86", b"\x00", b"\x7f"))


STRUCTURED: Sequence[Callable[[random.Random, Node], None]] = (
    _negative_field, _big_field, _value, _nesting, _trailing, _non_minimal_integer,
    _non_minimal_oid, _long_length, _wrong_length, _wrong_tag, _empty_oid,
)  # fmt: skip


def bit_flips(rng: random.Random, data: bytes) -> bytes:
    flipped = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(flipped))
        flipped[at] ^= 1 << rng.randrange(8)
    return bytes(flipped)


def truncated(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


@dataclass
class Requests:
    """Valid SNMPv2c reads of ``names``, and mutations of them."""

    names: Sequence[Oid]
    community: bytes
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def valid(self) -> Node:
        rng = self.rng
        pdu = rng.choice(("get", "next", "bulk"))
        chosen = [rng.choice(self.names) for _ in range(rng.randint(0, 4))]
        fields = (rng.randint(0, 3), rng.randint(0, 12)) if pdu == "bulk" else (0, 0)
        return message(pdu, chosen, fields, self.community, request_id=rng.randint(0, 2**31 - 1))

    def mutated(self) -> bytes:
        """A valid request bent in one or two ways (structured, then maybe raw)."""
        rng = self.rng
        root = self.valid()
        for _ in range(rng.randint(1, 2)):
            with contextlib.suppress(Reshaped):
                rng.choice(STRUCTURED)(rng, root)
        data = root.encode()
        if data and rng.random() < 0.2:
            data = rng.choice((bit_flips, truncated))(rng, data)
        return data


def huge_oid_request(rng: random.Random, community: bytes, version: int = 1) -> bytes:
    """A Get whose name is one sub-identifier spread over thousands of octets, or an OID
    of hundreds of sub-identifiers."""
    root = message("get", [(1, 3)], community=community, version=version)
    binding = _children(_bindings(root)[0])
    if rng.random() < 0.5:
        octets = rng.choice((6, 100, 8_000, 60_000))
        binding[0].body = b"\x2b" + b"\x81" * (octets - 1) + b"\x01"
    else:
        binding[0] = oid((1, 3, *(rng.randrange(2**32) for _ in range(rng.choice((129, 2000))))))
    return root.encode()


V3_FLAGS = (b"\x00", b"\x01", b"\x03", b"\x04", b"\x07", b"\x02", b"")


def v3_message(rng: random.Random, engine_id: bytes, user: bytes) -> Node:
    """An SNMPv3 request with USM parameters right or wrong: the engine ID (empty asks
    for discovery), the user, the flags, the digest and salt, a plaintext or an
    "encrypted" scoped PDU."""
    engine = rng.choice((engine_id, b"", rng.randbytes(rng.randint(1, 40)), engine_id[:-1]))
    name = rng.choice((user, b"", b"nobody", user + b"x"))
    flags = rng.choice(V3_FLAGS)
    digest = rng.choice((b"", rng.randbytes(12), rng.randbytes(24), rng.randbytes(48)))
    salt = rng.choice((b"", rng.randbytes(8)))
    security = Node(ber.SEQUENCE, children=[
        Node(ber.OCTET_STRING, engine), integer(rng.choice((0, 1, 2**31 - 1))),
        integer(rng.choice((0, 5, 2**31 - 1))), Node(ber.OCTET_STRING, name),
        Node(ber.OCTET_STRING, digest), Node(ber.OCTET_STRING, salt),
    ])  # fmt: skip
    pdu = _pdu(message(rng.choice(("get", "next", "bulk")), [(1, 3, 6, 1, 2, 1, 1, 1, 0)]))
    scoped: Node = Node(ber.SEQUENCE, children=[
        Node(ber.OCTET_STRING, engine), Node(ber.OCTET_STRING, rng.choice((b"", b"other"))), pdu,
    ])  # fmt: skip
    if rng.random() < 0.4:
        scoped = Node(ber.OCTET_STRING, rng.randbytes(rng.randint(0, 120)))
    header = Node(ber.SEQUENCE, children=[
        integer(rng.randint(0, 2**31 - 1)), integer(rng.choice((484, 65507, 100, 2**31 - 1))),
        Node(ber.OCTET_STRING, flags), integer(rng.choice((3, 3, 3, 1, 2, 0, 99))),
    ])  # fmt: skip
    return Node(ber.SEQUENCE, children=[
        integer(3), header, Node(ber.OCTET_STRING, security.encode()), scoped,
    ])  # fmt: skip


def bent(rng: random.Random, root: Node) -> bytes:
    """Any message with a TLV-level fault or two, then perhaps flipped bits or a cut."""
    for _ in range(rng.randint(0, 2)):
        rng.choice((_trailing, _non_minimal_integer, _long_length, _wrong_length, _wrong_tag))(
            rng, root
        )
    data = root.encode()
    if data and rng.random() < 0.3:
        data = rng.choice((bit_flips, truncated))(rng, data)
    return data


# --- SNMPv3 authPriv, as a manager seals and opens messages (RFC 3414, RFC 3826) -------------


def _aes(key: bytes, boots: int, engine_time: int, salt: bytes) -> Any:
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
    return Cipher(algorithms.AES(key), CFB(iv))


def scoped_pdu(engine_id: bytes, pdu: Node, context: bytes = b"") -> Node:
    return Node(ber.SEQUENCE, children=[
        Node(ber.OCTET_STRING, engine_id), Node(ber.OCTET_STRING, context), pdu])  # fmt: skip


def bent_scoped_pdu(message: bytes, engine_id: bytes) -> bytes | None:
    """The (bent) PDU of a bent SNMPv2c message in a scoped PDU for ``engine_id``, or
    ``None`` where the bending broke the message around the PDU."""
    try:
        _, start, end = ber.read(message, 0)
        _, _, after = ber.read(message, start)  # version
        _, _, after = ber.read(message, after)  # community
    except ber.BerError:
        return None
    context = ber.tlv(ber.OCTET_STRING, engine_id) + ber.tlv(ber.OCTET_STRING, b"")
    return ber.tlv(ber.SEQUENCE, context + message[after:end])


def seal(
    user: UserKeys,
    engine_id: bytes,
    boots: int,
    engine_time: int,
    scoped: bytes,
    msg_id: int = 1,
    flags: bytes = b"\x07",
    max_size: int = 65507,
    salt: bytes = b"\x00\x00\x00\x00\x00\x00\x00\x01",
) -> bytes:
    """An authPriv message carrying the (plaintext) ``scoped`` PDU: encrypted, then
    authenticated over the whole message with the MAC's place zeroed."""
    encrypted = _aes(user.priv_key, boots, engine_time, salt).encryptor().update(scoped)
    security = Node(ber.SEQUENCE, children=[
        Node(ber.OCTET_STRING, engine_id), integer(boots), integer(engine_time),
        Node(ber.OCTET_STRING, user.name), Node(ber.OCTET_STRING, bytes(user.mac_octets)),
        Node(ber.OCTET_STRING, salt),
    ]).encode()  # fmt: skip
    header = Node(ber.SEQUENCE, children=[
        integer(msg_id), integer(max_size), Node(ber.OCTET_STRING, flags), integer(3)])  # fmt: skip
    data = bytearray(Node(ber.SEQUENCE, children=[
        integer(3), header, Node(ber.OCTET_STRING, security),
        Node(ber.OCTET_STRING, encrypted)]).encode())  # fmt: skip
    mac_at = data.index(security) + len(security) - 10 - user.mac_octets  # salt TLV: 10
    mac = hmac.new(user.auth_key, bytes(data), user.digest).digest()[: user.mac_octets]
    data[mac_at : mac_at + user.mac_octets] = mac
    return bytes(data)


@dataclass
class Opened:
    """An authPriv message, authenticated and decrypted."""

    msg_id: int
    flags: bytes
    boots: int
    engine_time: int
    scoped: bytes


def open_sealed(user: UserKeys, data: bytes) -> Opened:
    """Check an authPriv message's MAC and decrypt its scoped PDU (AssertionError if the
    MAC is wrong or the message is not authPriv)."""
    _, position, _ = ber.read(data, 0)
    _, _, position = ber.read(data, position)  # version
    _, start, header_end = ber.read(data, position)
    fields = []
    while start < header_end:
        _, value, start = ber.read(data, start)
        fields.append(data[value:start])
    msg_id, flags = int.from_bytes(fields[0], "big"), fields[2]
    _, params, params_end = ber.read(data, header_end)
    _, position, _ = ber.read(data, params)
    values = []
    while position < params_end:
        _, value, position = ber.read(data, position)
        values.append((value, position))
    (b0, b1), (t0, t1) = values[1], values[2]
    (mac_at, mac_end), (salt_at, salt_end) = values[4], values[5]
    boots, engine_time = ber.read_integer(data, b0, b1), ber.read_integer(data, t0, t1)
    signed = data[:mac_at] + bytes(mac_end - mac_at) + data[mac_end:]
    mac = hmac.new(user.auth_key, signed, user.digest).digest()[: user.mac_octets]
    assert flags[0] & 0x03 == 0x03, f"not authPriv: flags {flags.hex()}"
    assert hmac.compare_digest(mac, data[mac_at:mac_end]), "wrong MAC"
    _, start, end = ber.read(data, params_end)
    salt = data[salt_at:salt_end]
    scoped = _aes(user.priv_key, boots, engine_time, salt).decryptor().update(data[start:end])
    return Opened(msg_id, flags, boots, engine_time, scoped)
