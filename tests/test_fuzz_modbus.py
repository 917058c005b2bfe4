"""A short run of the Modbus fuzzer (``bench/fuzz_modbus.py``): the transport must
neither crash, nor hang, nor accept a reading that the replies did not say."""

from __future__ import annotations

import asyncio
import random
import struct

import pytest

from bench.fuzz_modbus import (
    MUTATIONS,
    Connection,
    FuzzServer,
    Tally,
    _Ended,
    _judge,
    check_reply,
    fuzz,
)
from c12exporter.modbus.registermap import C12B_V1
from c12exporter.modbus.transport import BAD_REPLIES
from tests.hostile_modbus import HonestUnit, Request
from tests.test_modbus_replies import BAD_FRAMES

SHORT_RUN = 1500
UNIT = HonestUnit()
READ = Request(7, 1, 4, bytes((0, 0, 0, 10)))


def test_a_short_run_finds_no_crash_hang_or_wrong_number() -> None:
    BAD_REPLIES.period_s = float("inf")
    try:
        servers, tally = asyncio.run(fuzz(SHORT_RUN, seed=7, workers=4))
    finally:
        BAD_REPLIES.period_s = 60.0
    mutated = sum(s.mutated for s in servers)
    assert mutated >= SHORT_RUN
    assert set().union(*(s.by_mutation for s in servers)) == set(MUTATIONS)
    assert tally.readings > 0 and tally.reasons["protocol"] > 0
    assert not tally.crashes, tally.crash_samples
    assert tally.hangs == 0
    assert not tally.wrong


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_the_checker_refuses_what_the_transport_must_refuse(name: str) -> None:
    assert check_reply(READ, UNIT.reply(READ)).valid
    assert not check_reply(READ, BAD_FRAMES[name](READ)).valid


def test_a_reading_from_a_bad_reply_is_counted_as_a_wrong_number() -> None:
    server = FuzzServer(UNIT, random.Random(1))
    blocks = [
        (Request(i + 1, 1, int(b.table), struct.pack(">HH", b.start, b.count)), b)
        for i, b in enumerate(C12B_V1.blocks)
    ]
    server.current = Connection([(r, check_reply(r, UNIT.reply(r))) for r, _ in blocks])
    honest = {}
    for request, block in blocks:
        honest.update(block.decode(UNIT.registers(request.function, *request.span), unit="u"))

    async def reading(values: dict[str, object]) -> dict[str, object]:
        return values

    tally = Tally()
    asyncio.run(_judge(reading(honest), server, tally, len(blocks)))
    assert not tally.wrong and tally.readings == 1
    asyncio.run(_judge(reading(honest | {"frequency": -1.0}), server, tally, len(blocks)))
    assert tally.wrong == {"values differ from the replies": 1}
    request, _ = blocks[-1]
    server.current.replies[-1] = (request, check_reply(request, UNIT.reply(request)[:-1]))
    asyncio.run(_judge(reading(honest), server, tally, len(blocks)))
    assert tally.wrong["accepted a reading from invalid replies"] == 1

    async def crash() -> None:
        raise KeyError("surprise")

    with pytest.raises(_Ended):
        asyncio.run(_judge(crash(), server, tally, len(blocks)))
    assert tally.crashes == {"KeyError": 1}
