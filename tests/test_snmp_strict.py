"""The agent under abuse: oversize requests are dropped before anything decodes them, and
the SNMPv2c fast path answers exactly what pysnmp's own path answers, or leaves the
datagram to it."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from c12exporter.snmp import ber, limits
from tests.snmp_harness import COMMUNITY, Stack, both_paths, snmp_stack
from tests.snmp_packets import Requests, message

pytestmark = pytest.mark.integration

DROPPED = "c12_snmp_requests_dropped_total"
DIFFERENTIAL_PACKETS = 2000
SYS_DESCR: tuple[int, ...] = (1, 3, 6, 1, 2, 1, 1, 1, 0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with snmp_stack(tmp_path_factory.mktemp("snmp"), units=2) as running:
        yield running


def huge_arc(octets: int) -> bytes:
    """One sub-identifier spread over ``octets`` octets (0x81 ... 0x01)."""
    return b"\x81" * (octets - 1) + b"\x01"


def get_with_oid_body(body: bytes) -> bytes:
    root = message("get", [SYS_DESCR], community=COMMUNITY.encode())
    assert root.children is not None
    pdu = root.children[2].children
    assert pdu is not None and pdu[3].children is not None
    binding = pdu[3].children[0].children
    assert binding is not None
    binding[0].body = body
    return root.encode()


# --- the limits ----------------------------------------------------------------------------


def test_limits_refuse_what_is_too_big_and_pass_ordinary_requests() -> None:
    ordinary = message("bulk", [SYS_DESCR] * 10, (0, 50)).encode()
    assert limits.violation(ordinary) is None
    longest = (1, 3, *range(2, 128))  # 128 sub-identifiers
    assert limits.violation(message("get", [longest]).encode()) is None
    assert limits.violation(message("get", [(*longest, 1)]).encode()) == limits.OID_TOO_LONG
    assert limits.violation(message("get", [(1, 3, 2**32 - 1)]).encode()) is None
    assert limits.violation(message("get", [(1, 3, 2**32)]).encode()) == limits.OID_TOO_LONG
    assert limits.violation(get_with_oid_body(b"\x2b" + huge_arc(6))) == limits.OID_TOO_LONG
    huge = get_with_oid_body(b"\x2b" + huge_arc(60_000))
    assert limits.violation(huge) == limits.TOO_LARGE
    assert limits.violation(message("get", [SYS_DESCR] * 128).encode()) is None
    many = message("get", [SYS_DESCR] * 129).encode()
    assert limits.violation(many) == limits.TOO_MANY_BINDINGS
    assert limits.violation(b"\x30" * 100) == limits.UNDECODABLE  # nesting without end
    assert limits.violation(b"\x30\x80\x02\x01\x01\x00\x00") == limits.UNDECODABLE  # indefinite


def test_oid_decoding_is_linear_and_refuses_long_or_padded_subidentifiers() -> None:
    long = ber.oid_body((1, 3, *range(2**32 - 126, 2**32)))  # 128 arcs, the most allowed
    assert ber.read_oid(long, 0, len(long))[2:] == tuple(range(2**32 - 126, 2**32))
    huge = b"\x2b" + huge_arc(60_000)  # was one 420,000-bit number, built 7 bits at a time
    over = ber.oid_body((1, 3, 2**32))
    too_many = ber.oid_body((1, 3, *range(127)))  # 129 arcs
    assert len(ber.read_oid(too_many[:-1], 0, len(too_many) - 1)) == 128
    for body in (huge, b"\x2b" + huge_arc(6), b"\x2b\x80\x01", b"\x2b\x06\x81", over, too_many):
        with pytest.raises(ber.BerError):
            ber.read_oid(body, 0, len(body))
    largest = ber.oid_body((1, 3, 2**32 - 1))
    assert ber.read_oid(largest, 0, len(largest)) == (1, 3, 2**32 - 1)


def test_a_huge_oid_is_dropped_and_counted_and_the_agent_answers_on(stack: Stack) -> None:
    agent = stack.agent
    before = {r: stack.count(DROPPED, reason=r) for r in limits.REASONS}
    packets = {
        limits.TOO_LARGE: get_with_oid_body(b"\x2b" + huge_arc(60_000)),
        limits.OID_TOO_LONG: get_with_oid_body(b"\x2b" + huge_arc(8_000)),
        limits.TOO_MANY_BINDINGS: message(
            "get", [SYS_DESCR] * 300, community=COMMUNITY.encode()
        ).encode(),
    }
    fast: Any = agent.transport.fast
    for packet in packets.values():  # the fast path leaves them to the limits
        assert stack.call(fast, packet) is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        for packet in packets.values():
            sock.sendto(packet, (agent.host, agent.port))
        valid = message("get", [SYS_DESCR], community=COMMUNITY.encode(), request_id=77)
        sock.sendto(valid.encode(), (agent.host, agent.port))
        answer = sock.recv(65535)  # the first and only answer is the valid request's
        assert b"c12exporter" in answer and ber.integer_body(77) in answer
        with pytest.raises(TimeoutError):
            sock.recv(65535)
    for reason in packets:
        assert stack.count(DROPPED, reason=reason) == before[reason] + 1, reason


# --- the fast path against pysnmp ----------------------------------------------------------


def names_of(stack: Stack) -> list[tuple[int, ...]]:
    tree = stack.agent.tree
    mib = tree.mib
    root = mib.root
    columns = [c.oid for c in tree.columns]
    return [
        SYS_DESCR, (1, 3), (1, 3, 6, 1, 2, 1), root, (*root, 1), (*root, 99),
        *columns, *((*c, 1) for c in columns), *((*c, 1, 3) for c in columns),
        *((*c, 2, 12) for c in columns), (*columns[-1], 2**32 - 1), (2, 999), (0, 0),
    ]  # fmt: skip


def test_the_fast_path_answers_what_pysnmp_answers_or_leaves_it(stack: Stack) -> None:
    """A seeded stream of valid and bent SNMPv2c reads, each given to the fast path and to
    pysnmp's own path: where the fast path answers, pysnmp sends the same octets."""
    requests = Requests(names_of(stack), COMMUNITY.encode(), random.Random(20261130))
    packets = [requests.valid().encode() for _ in range(DIFFERENTIAL_PACKETS // 5)]
    packets += [requests.mutated() for _ in range(DIFFERENTIAL_PACKETS - len(packets))]
    packets = [p for p in packets if limits.violation(p) is None]
    results = both_paths(stack, packets)
    differ = [
        (packet.hex(), fast.hex(), (slow or b"").hex())
        for packet, (fast, slow) in zip(packets, results, strict=True)
        if fast is not None and fast != slow
    ]
    assert not differ, f"{len(differ)} differences, first: {differ[:3]}"
    fast_answers = sum(fast is not None for fast, _ in results)
    slow_answers = sum(slow is not None for _, slow in results)
    mutated_answers = sum(fast is not None for fast, _ in results[DIFFERENTIAL_PACKETS // 5 :])
    assert fast_answers >= DIFFERENTIAL_PACKETS // 5  # every valid request, at least
    assert mutated_answers > 0 and slow_answers < len(packets)
