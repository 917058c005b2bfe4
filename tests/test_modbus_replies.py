"""A reply must answer its request: the Modbus transport against a unit on loopback that
answers with frames that do not (wrong transaction id, unit id, function code, byte
count, stray bytes); each one is reason ``protocol``, logged once per unit per minute
and never with a traceback."""

from __future__ import annotations

import asyncio
import logging
import queue
import struct
import threading
import time
from collections.abc import Callable

import pytest

from c12exporter.modbus.framelog import RateLimitedLog
from c12exporter.modbus.registermap import C12B_V1, MEASUREMENTS
from c12exporter.modbus.transport import BAD_REPLIES, ModbusTcpTransport
from c12exporter.transport import TransportError
from tests.hostile_modbus import HonestUnit, HostileServer, Request, adu

TIMEOUT_S = 2.0
UNIT = HonestUnit()


def registers_pdu(function: int, values: list[int], byte_count: int | None = None) -> bytes:
    count = 2 * len(values) if byte_count is None else byte_count
    return bytes((function, count)) + struct.pack(f">{len(values)}H", *values)


def honest_values(request: Request) -> list[int]:
    address, count = request.span
    return UNIT.registers(request.function, address, count)


BadFrame = Callable[[Request], bytes]
BAD_FRAMES: dict[str, BadFrame] = {
    "transaction id 0": lambda r: adu(0, r.unit, UNIT.pdu(r)),
    "the next transaction id": lambda r: adu(r.tid + 1, r.unit, UNIT.pdu(r)),
    "another unit id": lambda r: adu(r.tid, r.unit + 1, UNIT.pdu(r)),
    "protocol id 1": lambda r: adu(r.tid, r.unit, UNIT.pdu(r), protocol=1),
    "function 3 answering function 4": lambda r: adu(
        r.tid, r.unit, registers_pdu(3, honest_values(r))
    ),
    "function 23": lambda r: adu(r.tid, r.unit, registers_pdu(23, honest_values(r))),
    "odd byte count": lambda r: adu(
        r.tid, r.unit, registers_pdu(4, honest_values(r), 2 * r.span[1] - 1)
    ),
    "an extra byte counted": lambda r: adu(
        r.tid, r.unit, registers_pdu(4, honest_values(r), 2 * r.span[1] + 1) + b"\x00"
    ),
    "an extra byte after the frame": lambda r: UNIT.reply(r) + b"\x00",
    "a byte count for more registers": lambda r: adu(
        r.tid, r.unit, registers_pdu(4, [*honest_values(r), 0])
    ),
    "a length field one too long": lambda r: (
        adu(r.tid, r.unit, UNIT.pdu(r), length=len(UNIT.pdu(r)) + 2) + b"\x00"
    ),
    "an exception reply of 2 bytes": lambda r: adu(r.tid, r.unit, bytes((0x84, 2, 0))),
    "a zero length": lambda r: adu(r.tid, r.unit, b"", length=0),
}


def answering_reads_with(bad: BadFrame) -> Callable[[Request], bytes | None]:
    """Identification honestly, every register read with ``bad``."""
    return lambda request: bad(request) if request.function in (3, 4) else UNIT.reply(request)


async def read_once(address: str) -> TransportError | dict[str, object]:
    transport = ModbusTcpTransport(address, TIMEOUT_S)
    try:
        await transport.connect()
        return dict(await transport.read())
    except TransportError as error:
        return error
    finally:
        await transport.close()


def test_an_honest_unit_is_read_exactly() -> None:
    async def test() -> None:
        async with HostileServer(UNIT.reply) as server:
            values = await read_once(server.address)
        assert isinstance(values, dict), values
        expected = MEASUREMENTS.decode(UNIT.input, unit="honest")
        assert {k: values[k] for k in expected} == expected

    asyncio.run(test())


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_a_reply_that_does_not_answer_the_request_is_a_protocol_error(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> TransportError | dict[str, object]:
        async with HostileServer(answering_reads_with(BAD_FRAMES[name])) as server:
            return await read_once(server.address)

    caplog.set_level(logging.WARNING)
    result = asyncio.run(test())
    assert isinstance(result, TransportError), f"{name}: accepted as {result}"
    assert result.reason == "protocol", (name, result)
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_a_bad_identification_reply_is_a_protocol_error() -> None:
    def answer(request: Request) -> bytes:
        reply = UNIT.reply(request)
        return reply[:-1] if request.function == 43 else reply  # one object byte short

    async def test() -> None:
        async with HostileServer(answer) as server:
            with pytest.raises(TransportError) as error:
                await ModbusTcpTransport(server.address, TIMEOUT_S).connect()
        assert error.value.reason == "protocol"

    asyncio.run(test())


def test_a_reply_with_fewer_registers_is_a_short_frame() -> None:
    async def test() -> TransportError | dict[str, object]:
        bad = answering_reads_with(
            lambda r: adu(r.tid, r.unit, registers_pdu(4, honest_values(r)[:-1]))
        )
        async with HostileServer(bad) as server:
            return await read_once(server.address)

    result = asyncio.run(test())
    assert isinstance(result, TransportError) and result.reason == "short_frame", result


def test_bad_replies_are_logged_once_per_unit_per_minute_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = answering_reads_with(BAD_FRAMES["transaction id 0"])

    async def test() -> list[str]:
        async with HostileServer(bad) as server:
            reasons = [getattr(await read_once(server.address), "reason", "") for _ in range(30)]
            return reasons

    caplog.set_level(logging.DEBUG)
    BAD_REPLIES._last.clear()
    reasons = asyncio.run(test())
    assert reasons == ["protocol"] * 30
    lines = [r for r in caplog.records if r.name == "c12exporter.modbus.transport"]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert "transaction id 0" in lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_rate_limited_log_counts_what_it_left_out(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("test.framelog"), 60.0, clock=lambda: now[0])
    caplog.set_level(logging.WARNING)
    logged = [limited.warning("10.0.0.1:502", f"bad reply {i}") for i in range(5)]
    assert logged == [True, False, False, False, False]
    assert limited.warning("10.0.0.2:502", "another unit")  # its own minute
    now[0] = 61.0
    assert limited.warning("10.0.0.1:502", "bad reply 5\nforged line")
    messages = [r.getMessage() for r in caplog.records]
    assert messages[-1] == (
        "10.0.0.1:502: bad reply 5\\nforged line (4 more bad replies since the last line, "
        "not logged)"
    )
    assert all("\n" not in m for m in messages)


def test_the_map_read_is_all_blocks() -> None:
    # The hostile frames above answer register reads of both tables.
    assert {b.table.value for b in C12B_V1.blocks} == {3, 4}


def test_a_whole_reply_that_comes_as_the_wait_times_out_is_a_timeout() -> None:
    """On a busy machine a reply can arrive in the same turn of the event loop as its
    timeout: a late answer, not bytes that are no reply."""
    ready: queue.Queue[str] = queue.Queue()
    stop = threading.Event()

    def late(request: Request) -> bytes:
        if request.function in (3, 4):
            time.sleep(0.05)  # the reader's loop is held by then
        return UNIT.reply(request)

    async def serve() -> None:  # in a thread of its own: it answers while our loop is held
        async with HostileServer(late) as server:
            ready.put(server.address)
            while not stop.is_set():
                await asyncio.sleep(0.02)

    async def read_with_the_loop_held() -> TransportError | dict[str, object]:
        transport = ModbusTcpTransport(ready.get(timeout=10), 0.2)
        try:
            await transport.connect()
            # Held from 10 ms to 510 ms: the reply comes at 50 ms, the timeout at 200 ms, and
            # the loop's next turn handles both.
            asyncio.get_running_loop().call_later(0.01, time.sleep, 0.5)
            return dict(await transport.read())
        except TransportError as error:
            return error
        finally:
            await transport.close()

    server = threading.Thread(target=asyncio.run, args=(serve(),))
    server.start()
    try:
        result = asyncio.run(read_with_the_loop_held())
    finally:
        stop.set()
        server.join()
    assert isinstance(result, TransportError) and result.reason == "timeout", result


def test_a_name_that_is_not_utf8_shows_replaced_and_the_unit_stays_up() -> None:
    """Channel 4's name holds bytes that are not UTF-8 (0xFF 0xFE): the unit is read whole
    through the poller, up, and that name shows U+FFFD where the bad bytes were."""
    from c12exporter.modbus.registermap import C12B_V1 as MAP
    from c12exporter.plugins import load_plugins
    from c12exporter.poller import Poller
    from c12exporter.settings import PollConfig, UnitConfig
    from c12exporter.store import Store

    unit = HonestUnit()
    settings = MAP.block("settings")
    at = settings.item_address("channel_name", 3) - settings.start
    unit.holding[at : at + 2] = [0xFFFE, ord("A") << 8 | ord("m")]

    async def test() -> None:
        async with HostileServer(unit.reply) as server:
            config = UnitConfig("odd-names", server.address)
            poll = PollConfig(timeout_s=TIMEOUT_S)
            store = Store((config,), poll.staleness_limit_s)
            poller = Poller((config,), load_plugins(entry_points=False), store, poll)
            try:
                await poller.poll_unit(config.name)
            finally:
                await poller.stop()
        state = store.get(config.name)
        assert state is not None and state.last_error is None, state and state.last_error
        reading = store.fresh_reading(state)
        assert reading is not None
        assert reading.channels[3].name.startswith("\ufffd\ufffdAm"), reading.channels[3].name
        assert len(reading.channels) == 12 and reading.channels[0].current_a >= 0

    asyncio.run(test())
