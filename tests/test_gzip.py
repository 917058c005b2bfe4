"""gzip on the shared web server's text responses, over HTTP with real clients (curl and
a raw HTTP/1.1 client) against the exporter reading the simulator; and the event stream's
gzip, each event decodable as soon as it arrives."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import re
import socket
import subprocess
import zlib
from pathlib import Path

import pytest
from aiohttp import web

from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.plugins import load_plugins
from c12exporter.simulator.server import Fleet
from c12exporter.web.compress import MIN_BYTES, EventStream, gzip_middleware
from tests.servers import LOOPBACK, free_port, require_tool, units_yaml

PLUGINS = load_plugins(entry_points=False)


def get(port: int, path: str, accept: str | None) -> tuple[int, dict[str, str], bytes]:
    """One request; the body as sent on the wire (not decoded)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        headers = {} if accept is None else {"Accept-Encoding": accept}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def curl(url: str) -> tuple[str, str]:
    """``curl --compressed``: the headers and the decoded body, as a user sees them."""
    result = subprocess.run(
        [require_tool("curl", "curl"), "-sS", "--compressed", "-D", "-", "-o", "-", url],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    head, _, body = result.stdout.partition("\n\n")  # text mode: CRLF read as LF
    return head.lower(), body


@pytest.mark.integration
def test_text_responses_are_gzipped_when_the_client_accepts_it(tmp_path: Path) -> None:
    port = free_port()

    async def test() -> None:
        async with await Fleet.start(6, plugins=PLUGINS) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                units_yaml(u.address for u in fleet.units) + f"state_dir: {tmp_path}/state\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            try:
                await asyncio.sleep(1.5)  # a poll of every unit
                await asyncio.get_running_loop().run_in_executor(None, check, port)
            finally:
                await running.stop()

    asyncio.run(test())


def check(port: int) -> None:
    _, _, page = get(port, "/", None)
    assets = re.findall(r'(?:src|href)="(/?console/[^"?]+\.(?:js|css))', page.decode())
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    paths = ["/", *("/" + a.lstrip("/") for a in assets), "/sd", "/console/timeline?limit=50",
             "/probe?target=u1"]  # fmt: skip
    for path in paths:
        status, plain_headers, plain = get(port, path, None)
        assert status == 200, path
        assert "content-encoding" not in plain_headers, path
        assert "Accept-Encoding" in plain_headers["vary"], path
        assert len(plain) >= MIN_BYTES, path
        status, headers, wire = get(port, path, "br;q=1.0, gzip;q=0.8, *;q=0.1")
        assert status == 200 and headers["content-encoding"] == "gzip", path
        assert headers["vary"].count("Accept-Encoding") == 1, path
        body = gzip.decompress(wire)
        assert len(wire) < len(body), path
        if path.startswith(("/console/static", "/sd")):  # the rest are live: not the same bytes
            assert body == plain, path
        _, refused_headers, _ = get(port, path, "gzip;q=0, identity")
        assert "content-encoding" not in refused_headers, path

    # /metrics makes its own gzip: compressed once, Vary once
    status, headers, wire = get(port, "/metrics", "gzip")
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(wire).startswith(b"# HELP")
    _, plain_headers, plain = get(port, "/metrics", None)
    assert "content-encoding" not in plain_headers and plain.startswith(b"# HELP")

    # short answers go as they are
    _, headers, wire = get(port, "/-/healthy", "gzip")
    assert "content-encoding" not in headers and wire == b"OK\n"

    # a real client asks for gzip and decodes it
    head, body = curl(f"http://{LOOPBACK}:{port}/sd")
    assert "content-encoding: gzip" in head and body.startswith("[")

    # the console's event stream: gzip, and its first event decodes while the stream is open
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(
            b"GET /console/events?unit=u1 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
        )
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head_bytes, _, chunked = received.partition(b"\r\n\r\n")
        head = head_bytes.decode().lower()
        assert "content-encoding: gzip" in head and "text/event-stream" in head
        decoder, decoded = zlib.decompressobj(16 + zlib.MAX_WBITS), b""
        while b"\n\n" not in decoded:
            while b"\r\n" not in chunked:
                chunked += sock.recv(65536)
            size_line, _, rest = chunked.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            decoded += decoder.decompress(rest[:size])
            chunked = rest[size + 2 :]
        assert b"data: " in decoded.split(b"\n\n", 1)[0]


# --- the event stream ----------------------------------------------------------------------


async def stream_app(port: int, events: asyncio.Queue[str | None]) -> web.AppRunner:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = EventStream(headers={"Cache-Control": "no-store"})
        await response.prepare(request)
        while (event := await events.get()) is not None:
            await response.write(event.encode())
        return response

    app = web.Application(middlewares=[gzip_middleware])
    app.router.add_get("/events", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, port).start()
    return runner


def test_each_event_of_a_gzip_stream_is_decodable_when_it_arrives() -> None:
    port = free_port()

    async def test() -> None:
        events: asyncio.Queue[str | None] = asyncio.Queue()
        runner = await stream_app(port, events)
        try:
            reader, writer = await asyncio.open_connection(LOOPBACK, port)
            writer.write(
                b"GET /events HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate\r\n\r\n"
            )
            head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
            assert "content-encoding: gzip" in head and "text/event-stream" in head
            assert "vary: accept-encoding" in head and "transfer-encoding: chunked" in head
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            sizes = []
            for n in range(20):
                event = f'event: update\ndata: {{"rows": {{"u{n}": {{"t": {"x" * 300!r}}}}}}}\n\n'
                await events.put(event)
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)  # one chunk
                chunk = await reader.readexactly(size + 2)
                sizes.append(size)
                # everything written so far decodes now, before the next event is sent
                assert decoder.decompress(chunk[:-2]).decode() == event
            assert sum(sizes[1:]) < 20 * 100  # later events refer back to earlier ones
            await events.put(None)  # the stream ends: the gzip trailer, then the last chunk
            rest = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
            size = int(rest.split(b"\r\n", 1)[0], 16)
            trailer = rest.split(b"\r\n", 1)[1][:size]
            assert decoder.decompress(trailer) == b"" and decoder.eof  # a complete gzip member
            writer.close()
        finally:
            await runner.cleanup()

    asyncio.run(test())


def test_a_stream_to_a_client_without_gzip_is_plain() -> None:
    port = free_port()

    async def test() -> None:
        events: asyncio.Queue[str | None] = asyncio.Queue()
        runner = await stream_app(port, events)
        try:
            with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
                sock.sendall(
                    b"GET /events HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n\r\n"
                )
                await events.put("event: update\ndata: {}\n\n")
                await events.put(None)
                data = b""
                while not data.endswith(b"0\r\n\r\n"):
                    data += await asyncio.get_running_loop().run_in_executor(None, sock.recv, 65536)
            assert b"content-encoding" not in data.lower()
            assert b"event: update\ndata: {}\n\n" in data
        finally:
            await runner.cleanup()

    asyncio.run(test())
