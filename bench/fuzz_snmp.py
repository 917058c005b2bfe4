"""Fuzzer: malformed SNMPv1, SNMPv2c and SNMPv3 datagrams, interleaved with valid requests.

Not a test (a short run is, in ``tests/test_snmp_fuzz.py``): it prints what it counted,
for docs/performance.md. Run from the repository root:

    .venv/bin/python -m bench.fuzz_snmp --packets 100000

The agent serves a store of simulated readings (as ``bench/snmp_walk.py`` sets it up) on
loopback. The fuzzer sends, in rounds, a few malformed datagrams (mutations of valid
requests: bit flips, cuts, length lies, wrong tags, non-minimal encodings, values in
read requests, extra or missing SEQUENCE levels, wrong versions, communities, engine IDs,
users, flags and digests, huge OIDs, too many bindings; authPriv messages sealed with a
user's keys carrying a bent PDU, or cut or with flipped bits), then one valid request: an
SNMPv2c Get or GetNext (read off the wire) or an SNMPv3 authPriv Get (pysmp's client).
It counts:

* **crashes**: exceptions the event loop's handler saw, and log records of the agent
  carrying a traceback;
* **unanswered**: valid requests without an answer within the timeout;
* **wrong**: answers whose bindings differ from what the agent's table holds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.snmp_walk import agent_for, fleet_readings
from c12exporter.snmp import ber
from c12exporter.snmp.agent import AUTH, PRIV, RunningAgent
from c12exporter.snmp.fastpath import FastPaths
from c12exporter.snmp.fastv3 import FastV3
from c12exporter.snmp.mibtree import Hit
from tests.snmp_packets import (
    Requests,
    bent,
    bent_scoped_pdu,
    bit_flips,
    huge_oid_request,
    message,
    scoped_pdu,
    seal,
    truncated,
    v3_message,
)

ROUND = 20
"""Malformed datagrams per valid request."""
V3_EVERY = 5
"""Every so many valid requests is an SNMPv3 authPriv Get."""
TIMEOUT_S = 2.0
SYS_DESCR = (1, 3, 6, 1, 2, 1, 1, 1, 0)
SYS_UP_TIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
"""Changes between two reads: not compared."""


@dataclass
class Tally:
    malformed: dict[str, int] = field(default_factory=lambda: {"v1": 0, "v2c": 0, "v3": 0})
    valid: int = 0
    unanswered: int = 0
    wrong: int = 0
    crashes: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.problems) < 10:
            self.problems.append(problem)


class Tracebacks(logging.Handler):
    """Counts log records that carry an exception (the agent's or pysnmp's)."""

    def __init__(self, tally: Tally) -> None:
        super().__init__(logging.DEBUG)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or "Traceback" in record.getMessage():
            self.tally.crashes += 1
            self.tally.note(f"logged: {record.getMessage()[:200]}")


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.answers.put_nowait(data)


def bindings_of(response: bytes) -> tuple[int, list[tuple[ber.Oid, bytes]]] | None:
    """(request-id, [(name, value TLV)]) of an SNMPv2c response, or ``None``."""
    try:
        _, start, _ = ber.read(response, 0)
        _, _, after = ber.read(response, start)  # version
        _, _, after = ber.read(response, after)  # community
        tag, position, _ = ber.read(response, after)
        if tag != 0xA2:
            return None
        _, start, position = ber.read(response, position)
        request_id = ber.read_integer(response, start, position)
        for _ in range(2):
            position = ber.read(response, position)[2]
        _, position, end = ber.read(response, position)
        out = []
        while position < end:
            _, start, binding_end = ber.read(response, position)
            _, start, value_at = ber.read(response, start)
            out.append((ber.read_oid(response, start, value_at), response[value_at:binding_end]))
            position = binding_end
        return request_id, out
    except ber.BerError:
        return None


def expected(agent: RunningAgent, pdu: str, name: ber.Oid) -> tuple[ber.Oid, bytes]:
    """The binding the table holds for a Get or GetNext of ``name``."""
    tree, now = agent.tree, time.time()
    hit = (
        tree.get(name, lambda column: True, now)
        if pdu == "get"
        else tree.next(name, lambda column: True, now)
    )
    if not isinstance(hit, Hit):
        tag = hit if isinstance(hit, int) else ber.END_OF_MIB_VIEW
        return name, bytes((tag, 0))
    _, start, _ = ber.read(hit.encoded, 0)
    _, _, value_at = ber.read(hit.encoded, start)
    return hit.oid, hit.encoded[value_at:]


class Fuzzer:
    def __init__(self, agent: RunningAgent, seed: int, tally: Tally) -> None:
        self.agent = agent
        self.rng = random.Random(seed)
        self.tally = tally
        community = agent.settings.community
        assert community is not None
        self.community = community.encode()
        tree = agent.tree
        self.names: list[ber.Oid] = [SYS_DESCR, tree.mib.root]
        for column in tree.columns:
            prefix = column.oid
            self.names += [prefix, (*prefix, 1), (*prefix, 1, 3), (*prefix, 2, 12)]
        self.requests = Requests(self.names, self.community, self.rng)
        self.request_id = 0
        self.v3_engine: Any = None
        paths = agent.transport.fast
        assert isinstance(paths, FastPaths)
        (self.v3_path,) = [p for p in paths.paths if isinstance(p, FastV3)]

    def malformed(self) -> tuple[str, bytes]:
        rng = self.rng
        kind = rng.random()
        if kind < 0.2:
            root = message("get", [rng.choice(self.names)], community=self.community, version=0)
            return "v1", bent(rng, root)
        if kind < 0.4:
            engine_id, user = self.agent.engine_id, self.agent.settings.users[0].name.encode()
            return "v3", bent(rng, v3_message(rng, engine_id, user))
        if kind < 0.5:
            return "v3", self.sealed()
        if kind < 0.55:
            return "v2c", huge_oid_request(rng, self.community)
        if kind < 0.6:
            names = [rng.choice(self.names)] * rng.choice((129, 500))
            return "v2c", message("get", names, community=self.community).encode()
        if kind < 0.65:
            community = rng.choice((b"", b"wrong", self.community + b"x", self.community[:-1]))
            return "v2c", message("get", [rng.choice(self.names)], community=community).encode()
        return "v2c", self.requests.mutated()

    def sealed(self) -> bytes:
        """An authPriv message sealed with a user's keys for this engine and its time:
        with a bent PDU inside, or a valid one and then flipped bits or a cut."""
        rng, path, engine_id = self.rng, self.v3_path, self.agent.engine_id
        keys = path.users[self.agent.settings.users[0].name.encode()]
        boots, now = path.clock.boots, path.clock.seconds()
        msg_id = rng.randrange(2**31)
        if rng.random() < 0.5:
            inside = bent_scoped_pdu(self.requests.mutated(), engine_id)
            if inside is not None:
                return seal(keys, engine_id, boots, now, inside, msg_id=msg_id)
        valid = scoped_pdu(engine_id, self.requests.valid().children[2]).encode()  # type: ignore[index]
        sealed = seal(keys, engine_id, boots, now, valid, msg_id=msg_id)
        return rng.choice((bit_flips, truncated))(rng, sealed)

    async def valid_v2c(self, transport: Any, receiver: Receiver) -> None:
        rng = self.rng
        pdu = rng.choice(("get", "next"))
        names = [n for n in rng.sample(self.names, rng.randint(1, 4)) if n != SYS_UP_TIME]
        self.request_id = (self.request_id + 1) % 2**31
        request = message(pdu, names, community=self.community, request_id=self.request_id)
        transport.sendto(request.encode())
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            try:
                answer = await asyncio.wait_for(receiver.answers.get(), max(remaining, 0.001))
            except TimeoutError:
                self.tally.unanswered += 1
                self.tally.note(f"unanswered v2c {pdu} {names}")
                return
            decoded = bindings_of(answer)
            if decoded is None or decoded[0] != self.request_id:
                continue  # an answer to a malformed request that got one
            want = [expected(self.agent, pdu, name) for name in names]
            got = [b for b in decoded[1] if b[0] != SYS_UP_TIME]
            want = [b for b in want if b[0] != SYS_UP_TIME]
            if got != want:
                self.tally.wrong += 1
                self.tally.note(f"wrong v2c {pdu} {names}: {got} != {want}")
            return

    async def valid_v3(self) -> None:
        from pyasn1.codec.ber import encoder  # type: ignore[import-untyped]
        from pysnmp.hlapi.v3arch import asyncio as hlapi  # type: ignore[import-untyped]

        with warnings.catch_warnings():
            # pysnmp's client resolves names with pysmi names pysmi deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            if self.v3_engine is None:
                self.v3_engine = hlapi.SnmpEngine()
            names = [n for n in self.rng.sample(self.names, 2) if n != SYS_UP_TIME]
            target = await hlapi.UdpTransportTarget.create(
                (self.agent.client_host, self.agent.port), timeout=TIMEOUT_S, retries=0
            )
            account = self.agent.settings.users[0]
            user = hlapi.UsmUserData(
                account.name, account.auth_key, account.priv_key,
                authProtocol=AUTH[account.auth_protocol], privProtocol=PRIV[account.priv_protocol],
            )  # fmt: skip
            error, status, _, var_binds = await hlapi.get_cmd(
                self.v3_engine, user, target, hlapi.ContextData(),
                *(hlapi.ObjectType(hlapi.ObjectIdentity(n)) for n in names),
            )  # fmt: skip
        if error or status:
            self.tally.unanswered += 1
            self.tally.note(f"v3 get {names}: {error or status}")
            return
        got = [(tuple(name), encoder.encode(value)) for name, value in var_binds]
        want = [expected(self.agent, "get", name) for name in names]
        if got != want:
            self.tally.wrong += 1
            self.tally.note(f"wrong v3 get {names}: {got} != {want}")

    async def run(self, packets: int) -> None:
        loop = asyncio.get_running_loop()
        transport, receiver = await loop.create_datagram_endpoint(
            Receiver, remote_addr=(self.agent.client_host, self.agent.port)
        )
        try:
            sent = 0
            while sent < packets:
                for _ in range(min(ROUND, packets - sent)):
                    version, datagram = self.malformed()
                    transport.sendto(datagram)
                    self.tally.malformed[version] += 1
                    sent += 1
                    await asyncio.sleep(0)
                self.tally.valid += 1
                if self.tally.valid % V3_EVERY == 0:
                    await self.valid_v3()
                else:
                    await self.valid_v2c(transport, receiver)
                while not receiver.answers.empty():
                    receiver.answers.get_nowait()
        finally:
            transport.close()
            if self.v3_engine is not None:
                self.v3_engine.close_dispatcher()


async def fuzz(agent: RunningAgent, packets: int, seed: int) -> Tally:
    """Send ``packets`` malformed datagrams (and valid requests between them) to ``agent``,
    on the running loop; count what went wrong."""
    tally = Tally()
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()

    def on_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        tally.crashes += 1
        tally.note(f"event loop: {context.get('message')} {context.get('exception')!r}")

    handler = Tracebacks(tally)
    watched = [logging.getLogger(name) for name in ("c12exporter", "pysnmp", "asyncio")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
    loop.set_exception_handler(on_exception)
    try:
        await Fuzzer(agent, seed, tally).run(packets)
    finally:
        loop.set_exception_handler(previous)
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    return tally


async def main(args: argparse.Namespace) -> None:
    samples = await fleet_readings()
    with tempfile.TemporaryDirectory() as state_dir:
        agent, _ = await agent_for(args.units, samples, Path(state_dir))
        try:
            started = time.monotonic()
            tally = await fuzz(agent, args.packets, args.seed)
            seconds = time.monotonic() - started
            dropped = agent.tree.stats.telemetry.registry
        finally:
            await agent.stop()
    total = sum(tally.malformed.values())
    print(f"Python {sys.version.split()[0]}; {args.units} units; seed {args.seed}; {seconds:.0f} s")
    versions = ", ".join(f"{k} {v}" for k, v in tally.malformed.items())
    print(f"malformed datagrams: {total} ({versions})")
    print(f"valid requests: {tally.valid} (every {V3_EVERY}th SNMPv3 authPriv)")
    print(f"crashes: {tally.crashes}; unanswered valid requests: {tally.unanswered}; "
          f"wrong answers: {tally.wrong}")  # fmt: skip
    for metric in dropped.collect():
        if metric.name == "c12_snmp_requests_dropped":
            counts = {
                s.labels["reason"]: int(s.value)
                for s in metric.samples
                if s.name.endswith("_total")
            }
            print("dropped by reason:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for problem in tally.problems:
        print("  ", problem)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main(parser.parse_args()))
