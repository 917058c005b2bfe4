"""The SNMPv3 fast path: net-snmp's walks read the same through it as through pysnmp, for
every authentication and privacy protocol the agent offers; on sealed requests, valid and
bent inside, it answers what pysnmp answers or leaves the message to it; and it leaves
every message it must not answer (discovery, wrong digest, outside the 150 s time window,
lower security levels, other contexts) to pysnmp."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from c12exporter.snmp import ber
from c12exporter.snmp.fastpath import FastPaths
from c12exporter.snmp.fastv3 import FastV3, UserKeys
from tests.snmp_harness import ENGINE_ID, Stack, both_paths, snmp_config, snmp_stack
from tests.snmp_packets import Requests, bent_scoped_pdu, open_sealed, scoped_pdu, seal

pytestmark = pytest.mark.integration

USERS = (
    {"name": "sha1", "auth_protocol": "SHA-1", "priv_protocol": "AES-128"},
    {"name": "sha224", "auth_protocol": "SHA-224", "priv_protocol": "AES-192"},
    {"name": "sha256", "auth_protocol": "SHA-256", "priv_protocol": "AES-128"},
    {"name": "sha384", "auth_protocol": "SHA-384", "priv_protocol": "AES-256"},
    {"name": "sha512", "auth_protocol": "SHA-512", "priv_protocol": "AES-256"},
)
ENGINE = bytes.fromhex(ENGINE_ID[2:])
NOT_IN_TIME_WINDOW = ber.oid_body((1, 3, 6, 1, 6, 3, 15, 1, 1, 2, 0))
WRONG_DIGESTS = ber.oid_body((1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0))
DIFFERENTIAL_REQUESTS = 600


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    users = [
        u | {"auth_key": f"{u['name']}-auth-key", "priv_key": f"{u['name']}-priv-key"}
        for u in USERS
    ]
    with snmp_stack(
        tmp_path_factory.mktemp("snmp"),
        units=2,
        snmp=snmp_config(users=users, writes_enabled=False),
    ) as s:
        yield s


def fast_v3(stack: Stack) -> FastV3:
    paths = stack.agent.transport.fast
    assert isinstance(paths, FastPaths)
    (found,) = [p for p in paths.paths if isinstance(p, FastV3)]
    return found


class Counting:
    """Wraps the agent's fast paths, counting the datagrams they answered."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.answered = 0

    def __call__(self, datagram: bytes) -> bytes | None:
        response = self.inner(datagram)
        self.answered += response is not None
        return response


def walk(stack: Stack, user: str, repetitions: int) -> str:
    result = stack.snmp(
        "snmpbulkwalk", stack.v3(user), f"-Cr{repetitions}", "C12-PDU-MIB::c12MIB", timeout=5
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("user", [u["name"] for u in USERS])
def test_net_snmp_walks_read_the_same_through_both_paths(stack: Stack, user: str) -> None:
    transport: Any = stack.agent.transport
    fast = transport.fast
    counting = Counting(fast)
    transport.fast = counting
    try:
        through_fast = [walk(stack, user, r) for r in (10, 50)]
        transport.fast = None
        through_pysnmp = [walk(stack, user, r) for r in (10, 50)]
    finally:
        transport.fast = fast
    assert through_fast == through_pysnmp
    assert through_fast[0].count("\n") > 400, "the walk read the whole MIB"
    bulk_requests = sum(-(-through_fast[0].count("\n") // r) for r in (10, 50))
    assert counting.answered >= bulk_requests  # every GetBulk of the walks, at least


def sealed_requests(stack: Stack, keys: UserKeys, rng: random.Random) -> list[bytes]:
    """Valid reads, and reads bent inside the encryption, sealed right for this engine."""
    tree = stack.agent.tree
    columns = [c.oid for c in tree.columns]
    names = [(1, 3), tree.mib.root, *columns, *((*c, 1, 3) for c in columns)]
    requests = Requests(names, b"", rng)
    clock = fast_v3(stack).clock
    out = []
    for i in range(DIFFERENTIAL_REQUESTS):
        if i % 3:
            pdu = requests.valid().children[2]  # type: ignore[index]
            scoped = scoped_pdu(ENGINE, pdu).encode()
        else:
            scoped = bent_scoped_pdu(requests.mutated(), ENGINE)
            if scoped is None:
                continue
        out.append(seal(keys, ENGINE, clock.boots, clock.seconds(), scoped, msg_id=i))
    return out


def test_sealed_requests_get_what_pysnmp_answers_or_go_to_it(stack: Stack) -> None:
    rng = random.Random(20261130)
    path = fast_v3(stack)
    keys = path.users[b"sha512"]
    packets = sealed_requests(stack, keys, rng)
    results = both_paths(stack, packets)
    differ = []
    for packet, (fast, slow) in zip(packets, results, strict=True):
        if fast is None:
            continue
        assert slow is not None, f"pysnmp dropped what the fast path answered: {packet.hex()}"
        mine, theirs = open_sealed(keys, fast), open_sealed(keys, slow)
        if (mine.scoped, mine.msg_id, mine.flags) != (theirs.scoped, theirs.msg_id, theirs.flags):
            differ.append((packet.hex(), mine.scoped.hex(), theirs.scoped.hex()))
    assert not differ, f"{len(differ)} differences, first: {differ[:2]}"
    answered = sum(fast is not None for fast, _ in results)
    assert answered >= DIFFERENTIAL_REQUESTS * 2 // 3  # every valid request, at least
    assert answered < len(packets)  # and some bent ones are left to pysnmp


def test_what_it_must_not_answer_goes_to_pysnmp(stack: Stack) -> None:
    path = fast_v3(stack)
    keys = path.users[b"sha256"]
    other = path.users[b"sha384"]
    boots, now = path.clock.boots, path.clock.seconds()
    get = Requests([(1, 3)], b"").valid()
    pdu = scoped_pdu(ENGINE, get.children[2]).encode()  # type: ignore[index]
    assert path(seal(keys, ENGINE, boots, now, pdu)) is not None  # the control

    def forged_mac() -> bytes:
        data = bytearray(seal(keys, ENGINE, boots, now, pdu))
        data[-len(pdu) - 3] ^= 0x01  # inside the salt: the MAC no longer matches
        return bytes(data)

    impostor = UserKeys(
        keys.name, other.digest, other.mac_octets, other.auth_key, other.priv_key, keys.allowed
    )
    stranger = UserKeys(
        b"nobody", keys.digest, keys.mac_octets, keys.auth_key, keys.priv_key, keys.allowed
    )
    elsewhere = scoped_pdu(ENGINE, get.children[2], b"other").encode()  # type: ignore[index]
    declined = {
        "discovery (empty engine ID)": seal(keys, b"", 0, 0, pdu),
        "another engine": seal(keys, ENGINE[:-1] + b"\x00", boots, now, pdu),
        "previous boot": seal(keys, ENGINE, boots - 1, now, pdu),
        "200 s ahead": seal(keys, ENGINE, boots, now + 200, pdu),  # past 150 s, with margin
        "a day ahead": seal(keys, ENGINE, boots, now + 86400, pdu),
        "authNoPriv flags": seal(keys, ENGINE, boots, now, pdu, flags=b"\x05"),
        "noAuthNoPriv flags": seal(keys, ENGINE, boots, now, pdu, flags=b"\x04"),
        "another user's keys under this name": seal(impostor, ENGINE, boots, now, pdu),
        "unknown user": seal(stranger, ENGINE, boots, now, pdu),
        "forged MAC": forged_mac(),
        "another context": seal(keys, ENGINE, boots, now, elsewhere),
        "msgMaxSize below 484": seal(keys, ENGINE, boots, now, pdu, max_size=483),
    }
    for what, packet in declined.items():
        assert path(packet) is None, what
    results = dict(zip(declined, both_paths(stack, list(declined.values())), strict=True))
    late = results["200 s ahead"][1]
    assert late is not None and NOT_IN_TIME_WINDOW in late, "pysnmp reports notInTimeWindow"
    forged = results["forged MAC"][1]
    assert forged is not None and WRONG_DIGESTS in forged, "pysnmp reports wrongDigests"
