"""Fuzzer: the Modbus transport against a hostile unit on loopback.

A server answers the transport's real requests (identification on connect, the register
blocks on each read) with mutated replies: bit flips, truncation, extension, wrong header
fields (transaction id, protocol id, length, unit id, function code, byte count), stale
replies, and valid-looking frames carrying other values. An independent checker here
says for each reply whether it is a well-formed answer to its request and what it
carries; the server closes the connection after any reply that is not, so nothing waits
for bytes that never come.

Counted per run:

* crashes: an exception other than the transport's own ``TransportError``;
* hangs: a connect or read that has not ended within ``HANG_S``;
* wrong numbers: a reading accepted although a reply it used was not a well-formed
  answer, or whose values differ from what the well-formed replies said;
* refused well-formed replies (by reason), for information.

Usage::

    python -m bench.fuzz_modbus --replies 1000000 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import struct
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from c12exporter.modbus.registermap import C12B_V1, MapError
from c12exporter.modbus.transport import BAD_REPLIES, ModbusTcpTransport
from c12exporter.transport import TransportError
from tests.hostile_modbus import LOOPBACK, MBAP, HonestUnit, Request, adu

TIMEOUT_S = 2.0
HANG_S = 3 * TIMEOUT_S
READS_PER_CONNECTION = 20
MUTATE_AFTER = 0.5
"""Chance that a reply after the read's first mutated one is mutated too."""
BLOCKS = {(int(b.table), b.start, b.count): b for b in C12B_V1.blocks}


@dataclass
class Checked:
    """What the independent checker makes of one reply."""

    valid: bool
    registers: list[int] | None = None
    objects: dict[int, bytes] | None = None
    exception: bool = False


def check_reply(request: Request, reply: bytes) -> Checked:
    """Is ``reply`` a well-formed Modbus TCP answer to ``request``, and what does it say?"""
    if len(reply) < MBAP.size + 1:
        return Checked(False)
    tid, protocol, length, unit = MBAP.unpack(reply[: MBAP.size])
    pdu = reply[MBAP.size :]
    if (tid, protocol, unit) != (request.tid, 0, request.unit) or length != len(pdu) + 1:
        return Checked(False)
    if pdu[0] == request.function | 0x80:
        return Checked(len(pdu) == 2, exception=len(pdu) == 2)
    if pdu[0] != request.function:
        return Checked(False)
    if request.function in (3, 4):
        _, count = request.span
        if len(pdu) != 2 + 2 * count or pdu[1] != 2 * count:
            return Checked(False)
        return Checked(True, registers=list(struct.unpack(f">{count}H", pdu[2:])))
    if request.function == 43:
        data = pdu[1:]
        if len(data) < 6 or data[0] != 14 or data[1] != request.data[1] or data[3] != 0:
            return Checked(False)  # more-follows is never asked for by this server
        objects: dict[int, bytes] = {}
        at = 6
        for _ in range(data[5]):
            if at + 2 > len(data) or at + 2 + data[at + 1] > len(data):
                return Checked(False)
            objects[data[at]] = data[at + 2 : at + 2 + data[at + 1]]
            at += 2 + data[at + 1]
        return Checked(at == len(data), objects=objects if at == len(data) else None)
    return Checked(False)


Mutation = Callable[[random.Random, Request, bytes, list[bytes]], bytes]


def _flip(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    data = bytearray(reply)
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    return reply[: rng.randrange(len(reply))]


def _extend(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    return reply + rng.randbytes(rng.randint(1, 8))


def _header(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    tid, protocol, length, unit = MBAP.unpack(reply[: MBAP.size])
    which = rng.randrange(4)
    if which == 0:
        tid = rng.choice([0, (tid + 1) & 0xFFFF, (tid - 1) & 0xFFFF, rng.randrange(65536)])
    elif which == 1:
        protocol = rng.randrange(1, 65536)
    elif which == 2:
        length = rng.choice([0, 1, length - 1, length + 1, rng.randrange(65536)])
    else:
        unit = rng.choice([0, 2, 255, rng.randrange(256)])
    return MBAP.pack(tid, protocol, length, unit) + reply[MBAP.size :]


def _function(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    pdu = bytearray(reply[MBAP.size :])
    pdu[0] = rng.choice([3, 4, 16, 23, 43, 0x83, 0x84, rng.randrange(256)])
    return adu(request.tid, request.unit, bytes(pdu))


def _byte_count(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    pdu = bytearray(reply[MBAP.size :])
    if len(pdu) < 2:
        return reply
    pdu[1] = rng.choice([(pdu[1] + 1) & 0xFF, (pdu[1] - 1) & 0xFF, rng.randrange(256)])
    if rng.random() < 0.5:
        pdu += b"\x00"  # the extra byte the count claims
    return adu(request.tid, request.unit, bytes(pdu))


def _values(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    """A well-formed answer carrying other register values."""
    if request.function not in (3, 4):
        return _flip(rng, request, reply, sent)
    pdu = bytearray(reply[MBAP.size :])
    for _ in range(rng.randint(1, 4)):
        at = 2 + 2 * rng.randrange((len(pdu) - 2) // 2)
        pdu[at : at + 2] = rng.randbytes(2)
    return adu(request.tid, request.unit, bytes(pdu))


def _stale(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    """An earlier reply of this connection (another transaction id), or another block's."""
    return rng.choice(sent) if sent else _header(rng, request, reply, sent)


def _exception(rng: random.Random, request: Request, reply: bytes, sent: list[bytes]) -> bytes:
    return adu(request.tid, request.unit, bytes((request.function | 0x80, rng.randrange(256))))


MUTATIONS: dict[str, Mutation] = {
    "bit flips": _flip,
    "truncation": _truncate,
    "extension": _extend,
    "header field": _header,
    "function code": _function,
    "byte count": _byte_count,
    "other values": _values,
    "stale reply": _stale,
    "exception": _exception,
}


@dataclass
class Connection:
    """What the server sent on one connection, reply by reply."""

    replies: list[tuple[Request, Checked]] = field(default_factory=list)


class FuzzServer:
    """Answers with one mutated reply per read (at a random block) and on connect."""

    def __init__(self, unit: HonestUnit, rng: random.Random) -> None:
        self.unit = unit
        self.rng = rng
        self.mutated = 0
        self.by_mutation: Counter[str] = Counter()
        self.current = Connection()
        self._target = 0
        self._index = 0

    def new_read(self, with_identity: bool) -> None:
        """The next read (after a connect if ``with_identity``) gets at least one mutated
        reply, at a random place; each later reply of the read is mutated at random too."""
        blocks = len(C12B_V1.blocks)
        self._index = 0 if with_identity else 1
        self._target = self.rng.randrange(self._index, blocks + 1)

    def _mutate_now(self) -> bool:
        return self._index == self._target or (
            self._index > self._target and self.rng.random() < MUTATE_AFTER
        )

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.current = connection = Connection()
        sent: list[bytes] = []
        try:
            while True:
                header = await reader.readexactly(MBAP.size)
                tid, _, length, unit = MBAP.unpack(header)
                pdu = await reader.readexactly(length - 1)
                request = Request(tid, unit, pdu[0], pdu[1:])
                honest = self.unit.reply(request)
                reply = honest
                if self._mutate_now():
                    name = self.rng.choice(list(MUTATIONS))
                    reply = MUTATIONS[name](self.rng, request, honest, sent)
                    if reply != honest:
                        self.mutated += 1
                        self.by_mutation[name] += 1
                self._index += 1
                checked = check_reply(request, reply)
                connection.replies.append((request, checked))
                sent.append(honest)
                writer.write(reply)
                await writer.drain()
                if not checked.valid:
                    break  # the connection is out of step: close it
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@dataclass
class Tally:
    crashes: Counter[str] = field(default_factory=Counter)
    crash_samples: list[str] = field(default_factory=list)
    hangs: int = 0
    wrong: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    refused_well_formed: Counter[str] = field(default_factory=Counter)
    readings: int = 0


def expected_values(connection: Connection, reads: int) -> tuple[str, dict[str, object] | None]:
    """What the last read's replies say: ("values", values), ("invalid", None) when one
    of them was not a well-formed answer, or ("error", None) when a well-formed one is
    an exception or cannot be decoded."""
    replies = connection.replies[-reads:]
    if len(replies) != reads:
        return "invalid", None
    values: dict[str, object] = {}
    for request, checked in replies:
        if not checked.valid:
            return "invalid", None
        if checked.exception or checked.registers is None:
            return "error", None
        decoded = _decode(request.function, *request.span, registers=tuple(checked.registers))
        if decoded is None:
            return "error", None
        values.update(decoded)
    return "values", values


@functools.lru_cache(maxsize=4096)
def _decode(
    function: int, address: int, count: int, registers: tuple[int, ...]
) -> dict[str, object] | None:
    """The values a block's registers say (None if they cannot be decoded); the honest
    replies repeat, so this is remembered."""
    try:
        return dict(BLOCKS[(function, address, count)].decode(list(registers), unit="fuzz"))
    except MapError:
        return None


async def fuzz(
    replies: int, seed: int, workers: int = 4, report_every: int = 0
) -> tuple[list[FuzzServer], Tally]:
    """``workers`` sessions at once, each against a hostile server of its own, until
    ``replies`` mutated replies have been sent in all."""
    unit = HonestUnit(seed)
    servers = [FuzzServer(unit, random.Random(f"{seed}/{i}")) for i in range(workers)]
    tally = Tally()
    started = time.monotonic()
    progress = {"next": report_every}

    def sent() -> int:
        return sum(s.mutated for s in servers)

    async def worker(server: FuzzServer) -> None:
        listener = await asyncio.start_server(server.serve, LOOPBACK, 0)
        port = listener.sockets[0].getsockname()[1]
        try:
            while sent() < replies:
                await _session(server, port, tally)
                if report_every and sent() >= progress["next"]:
                    progress["next"] += report_every
                    rate = sent() / (time.monotonic() - started)
                    print(f"{sent()} mutated replies, {rate:.0f}/s, crashes "
                          f"{sum(tally.crashes.values())}, hangs {tally.hangs}, wrong "
                          f"{sum(tally.wrong.values())}", file=sys.stderr, flush=True)  # fmt: skip
        finally:
            listener.close()
            await listener.wait_closed()

    await asyncio.gather(*(worker(s) for s in servers))
    return servers, tally


async def _session(server: FuzzServer, port: int, tally: Tally) -> None:
    """One connection: connect, then reads until one fails."""
    transport = ModbusTcpTransport(f"{LOOPBACK}:{port}", TIMEOUT_S)
    blocks = len(C12B_V1.blocks)
    try:
        server.new_read(with_identity=True)
        await _judge(transport.connect(), server, tally, None)
        for _ in range(READS_PER_CONNECTION):
            await _judge(transport.read(), server, tally, blocks)
            server.new_read(with_identity=False)
    except _Ended:
        pass
    finally:
        await transport.close()


class _Ended(Exception):
    """The session cannot go on (a failure was counted)."""


async def _judge(operation: object, server: FuzzServer, tally: Tally, reads: int | None) -> None:
    """Run a connect (``reads`` None) or a read and count what happened; raise
    :class:`_Ended` if it failed."""
    assert asyncio.iscoroutine(operation)
    try:
        async with asyncio.timeout(HANG_S):
            result = await operation
    except TimeoutError:
        tally.hangs += 1
        raise _Ended() from None
    except TransportError as error:
        tally.reasons[error.reason] += 1
        if reads is not None:
            kind, _ = expected_values(server.current, reads)
            if kind == "values" and error.reason not in ("bad_value", "out_of_range"):
                tally.refused_well_formed[error.reason] += 1
        raise _Ended() from None
    except Exception as error:  # what the fuzzer is looking for
        tally.crashes[type(error).__name__] += 1
        if len(tally.crash_samples) < 5:
            tally.crash_samples.append("".join(traceback.format_exception(error)))
        raise _Ended() from None
    if reads is None:
        _check_identity(server, tally, result)
        return
    tally.readings += 1
    kind, values = expected_values(server.current, reads)
    if kind != "values":
        tally.wrong[f"accepted a reading from {kind} replies"] += 1
    elif any(result.get(name) != value for name, value in (values or {}).items()):
        tally.wrong["values differ from the replies"] += 1


def _check_identity(server: FuzzServer, tally: Tally, identity: object) -> None:
    request, checked = server.current.replies[-1]
    if request.function != 43 or not checked.valid or checked.objects is None:
        tally.wrong["accepted an identification that is not a well-formed answer"] += 1
        return
    ids = C12B_V1.identification
    serial = checked.objects.get(ids.serial_number, b"").decode("utf-8", "replace")
    if getattr(identity, "serial", None) != serial.strip("\x00 "):
        tally.wrong["identity differs from the reply"] += 1


def summary(servers: list[FuzzServer], tally: Tally, seconds: float) -> str:
    mutated = sum(s.mutated for s in servers)
    by_mutation: Counter[str] = sum((s.by_mutation for s in servers), Counter())
    lines = [
        f"mutated replies: {mutated} in {seconds:.0f}s ({mutated / max(seconds, 1e-9):.0f}/s)",
        "by mutation: " + ", ".join(f"{k} {v}" for k, v in sorted(by_mutation.items())),
        f"readings accepted: {tally.readings}",
        "transport errors by reason: "
        + ", ".join(f"{k} {v}" for k, v in sorted(tally.reasons.items())),
        f"crashes: {sum(tally.crashes.values())} {dict(tally.crashes)}",
        f"hangs: {tally.hangs}",
        f"wrong numbers: {sum(tally.wrong.values())} {dict(tally.wrong)}",
        f"well-formed replies refused: {dict(tally.refused_well_formed)}",
    ]
    return "\n".join(lines + tally.crash_samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replies", type=int, default=1_000_000, help="mutated replies to send")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="sessions at once")
    parser.add_argument("--report-every", type=int, default=50_000)
    args = parser.parse_args()
    BAD_REPLIES.period_s = float("inf")  # one line per run: the log is not under test here
    started = time.monotonic()
    servers, tally = asyncio.run(fuzz(args.replies, args.seed, args.workers, args.report_every))
    print(summary(servers, tally, time.monotonic() - started))
    failed = sum(tally.crashes.values()) + tally.hangs + sum(tally.wrong.values())
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
