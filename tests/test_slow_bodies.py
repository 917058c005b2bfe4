"""Request bodies under abuse: bodies announced huge, bodies sent a byte a second,
bodies of connections evicted at the cap, and event streams by the hundred. Polls and
scrapes go on, and nothing a client does puts a traceback in the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from c12exporter.web.compress import EventStream
from c12exporter.web.connections import (
    MAX_BODY_BYTES,
    ConnectionGuard,
    HttpLimits,
    start_sites,
    stream_cap,
)
from tests.servers import LOOPBACK, free_port, http_get, simulator, wait_until
from tests.test_http_abuse import closed_by_server, low_open_file_limit, polls

pytestmark = pytest.mark.integration

HEADS = [
    # a body announced far over the cap: refused at once
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
    b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n",
    # a scrape with a body under the cap, a byte a second: refused unread
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n",
    # a chunked body of no announced size, a byte a second
    b"POST /console/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\nX-Requested-With: c12-console\r\n\r\n",
]
SLOW = 240  # connections: more than the open-file limit leaves for HTTP


def closed_counts(url: str) -> dict[str, float]:
    return {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in http_get(f"{url}/metrics").splitlines()
        if line.startswith("c12_http_connections_closed_total{")
    }


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An exporter polling two units every 250 ms, started with 200 (hard 256) files."""
    from tests.servers import c12exporter_command, process

    tmp = tmp_path_factory.mktemp("bodies")
    with simulator(tmp, 2, "--speed", "0") as (_, units_file):
        port = free_port()
        config = tmp / "c12.yml"
        config.write_text(yaml.safe_dump({
            "poll": {"interval": "250ms", "timeout": "200ms"},
            "web": {"listen_address": f"{LOOPBACK}:{port}",
                    "header_timeout": "2s", "idle_timeout": "2s"},
            "units_files": [str(units_file)],
        }))  # fmt: skip
        log = tmp / "exporter.log"
        command = c12exporter_command("serve", "--config.file", str(config))
        with process(command, log, preexec_fn=low_open_file_limit) as proc:
            url = f"http://{LOOPBACK}:{port}"
            wait_until(lambda: polls(url) > 0, 30, "first polls")
            yield url, log
            assert proc.poll() is None, log.read_text()


def drip(sockets: list[socket.socket], stop: threading.Event) -> None:
    """A byte a second on every connection still open."""
    while not stop.wait(1.0):
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.send(b"1")


def test_slow_and_huge_bodies_starve_nothing_and_log_nothing(limited: tuple[str, Path]) -> None:
    url, log = limited
    port = int(url.rsplit(":", 1)[1])
    stop = threading.Event()
    with ExitStack() as stack:
        held = []
        for i in range(SLOW):
            sock = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=5))
            with contextlib.suppress(OSError):
                sock.sendall(HEADS[i % len(HEADS)])
            held.append(sock)
        dripping = threading.Thread(target=drip, args=(held, stop))
        dripping.start()
        try:
            before, started = polls(url), time.monotonic()
            scrapes = [http_get(f"{url}/metrics") for _ in range(20)]
            assert all("c12_up{" in body for body in scrapes)
            wait_until(lambda: polls(url) >= before + 20, 30, "polls going on")
            # Every slow body is refused, answered or timed out within the header timeout.
            open_ = set(range(SLOW))

            def all_closed() -> bool:
                open_.difference_update([i for i in open_ if closed_by_server(held[i])])
                return not open_

            try:
                wait_until(all_closed, 30, "slow bodies closed")
            except AssertionError:
                raise AssertionError(sorted(open_)) from None
            assert time.monotonic() - started < 15
        finally:
            stop.set()
            dripping.join()
    closed = closed_counts(url)
    assert closed.get("body_too_large", 0) >= SLOW // 2 * 0.9, closed
    assert closed.get("body_refused", 0) >= SLOW // 4 * 0.9, closed  # GET with a body
    text = log.read_text()
    for sign in ("Traceback", "Unhandled exception", "Error handling request"):
        assert sign not in text, text[-3000:]
    assert "reloaded" not in text  # a reload with a body announced too large is not served


def test_event_streams_leave_slots_for_scrapes(limited: tuple[str, Path]) -> None:
    """With no basic auth anyone may open the console's event stream; streams take at
    most their share of the connections, the rest get 503 and /metrics is served."""
    url, log = limited
    port = int(url.rsplit(":", 1)[1])
    text = log.read_text()
    cap = int(text.split("web.max_connections 512 lowered to ")[1].split(":")[0])
    with ExitStack() as stack:
        answers = []
        for _ in range(cap):
            sock = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=5))
            sock.sendall(b"GET /console/events HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append(sock.recv(64))
        assert sum(a.startswith(b"HTTP/1.1 200") for a in answers) == stream_cap(cap)
        assert all(a.startswith((b"HTTP/1.1 200", b"HTTP/1.1 503")) for a in answers)
        for _ in range(10):
            assert "c12_up{" in http_get(f"{url}/metrics")
    assert closed_counts(url).get("stream_refused", 0) >= cap - stream_cap(cap)
    assert "Traceback" not in log.read_text()


def test_a_body_read_on_an_evicted_or_timed_out_connection_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At the cap, a connection still sending its body makes way for a new request; the
    handler reading that body ends without a traceback, as does one whose body is too
    slow; a body announced over the cap gets 413 before anything is read."""

    async def run() -> tuple[bytes, bytes, bytes, bytes]:
        async def read(request: web.Request) -> web.Response:
            return web.Response(text=f"{len(await request.read())} bytes\n")

        async def fast(request: web.Request) -> web.Response:
            return web.Response(text="fast\n")

        app = web.Application()
        app.router.add_post("/read", read)
        app.router.add_get("/fast", fast)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        guard = ConnectionGuard(HttpLimits(max_connections=8, header_timeout=1.0), 8)
        await start_sites(runner, LOOPBACK, port, guard, None)
        streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        try:
            for _ in range(8):
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
                writer.write(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nab")
                streams.append((reader, writer))
            await asyncio.sleep(0.2)
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(b"GET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            streams.append((reader, writer))
            served = await asyncio.wait_for(reader.read(), 10)
            evicted = await asyncio.wait_for(streams[0][0].read(), 10)
            timed_out = await asyncio.wait_for(streams[-1][0].read(), 10)  # after 1 s
            big = f"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: {MAX_BODY_BYTES + 1}\r\n\r\n"
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(big.encode())
            streams.append((reader, writer))
            too_large = await asyncio.wait_for(reader.read(), 10)
            return served, evicted, timed_out, too_large
        finally:
            for _, w in streams:
                w.close()
                with contextlib.suppress(OSError):
                    await w.wait_closed()
            await runner.cleanup()

    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        served, evicted, timed_out, too_large = asyncio.run(run())
    assert served.startswith(b"HTTP/1.1 200 OK") and served.endswith(b"fast\n")
    assert evicted == b"" and timed_out == b""
    assert too_large.startswith(b"HTTP/1.1 413 ")
    errors = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_event_streams_beyond_their_cap_get_503() -> None:
    async def run() -> list[bytes]:
        async def events(request: web.Request) -> web.StreamResponse:
            response = EventStream()
            await response.prepare(request)
            await response.write(b"data: hello\n\n")
            await asyncio.sleep(30)
            return response

        app = web.Application()
        app.router.add_get("/events", events)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        port = free_port()
        guard = ConnectionGuard(HttpLimits(max_connections=8), 8)
        await start_sites(runner, LOOPBACK, port, guard, None)
        answers: list[bytes] = []
        writers: list[asyncio.StreamWriter] = []
        try:
            for _ in range(8):
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
                writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
                answers.append(await asyncio.wait_for(reader.read(64), 10))
                writers.append(writer)
            return answers
        finally:
            for writer in writers:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await runner.cleanup()

    answers = asyncio.run(run())
    assert stream_cap(8) == 4
    assert [a[:12] for a in answers] == [b"HTTP/1.1 200"] * 4 + [b"HTTP/1.1 503"] * 4


def test_a_stream_whose_connection_closed_before_prepare_ends_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An event stream's connection closed (by the client, or evicted) before the
    handler prepares its response: no traceback, no 500 logged."""

    async def run() -> None:
        prepared = asyncio.Event()

        async def events(request: web.Request) -> web.StreamResponse:
            response = EventStream()
            await asyncio.sleep(0.3)  # the handler's work before its first byte
            try:
                await response.prepare(request)
            finally:
                prepared.set()
            return response

        app = web.Application()
        app.router.add_get("/events", events)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await start_sites(runner, LOOPBACK, port, ConnectionGuard(HttpLimits(), 8), None)
        try:
            _, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            await asyncio.sleep(0.1)
            writer.close()
            await writer.wait_closed()
            await asyncio.wait_for(prepared.wait(), 10)
            await asyncio.sleep(0.1)
        finally:
            await runner.cleanup()

    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        asyncio.run(run())
    errors = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
