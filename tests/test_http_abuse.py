"""The HTTP side under abuse: many idle or slow connections at a low open-file limit,
and no descriptor left at all. Polls go on, scrapes are answered, the log stays short."""

from __future__ import annotations

import contextlib
import resource
import socket
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from tests.servers import (
    LOOPBACK,
    c12exporter_command,
    free_port,
    http_get,
    process,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration

SOFT_LIMIT, HARD_LIMIT = 200, 256
HELD = 600  # connections held open: more than the open-file limit allows


def low_open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (SOFT_LIMIT, HARD_LIMIT))


def polls(url: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in http_get(f"{url}/metrics").splitlines()
        if line.startswith("c12_polls_total{")
    )


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An exporter polling two units every 250 ms, started with 200 (hard 256) files."""
    tmp = tmp_path_factory.mktemp("abuse")
    with simulator(tmp, 2, "--speed", "0") as (_, units_file):
        port = free_port()
        config = tmp / "c12.yml"
        config.write_text(yaml.safe_dump({
            "poll": {"interval": "250ms", "timeout": "200ms"},
            "web": {"listen_address": f"{LOOPBACK}:{port}",
                    "header_timeout": "1s", "idle_timeout": "2s"},
            "units_files": [str(units_file)],
        }))  # fmt: skip
        log = tmp / "exporter.log"
        command = c12exporter_command("serve", "--config.file", str(config))
        with process(command, log, preexec_fn=low_open_file_limit) as proc:
            url = f"http://{LOOPBACK}:{port}"
            wait_until(lambda: polls(url) > 0, 30, "first polls")
            yield url, log
            assert proc.poll() is None, log.read_text()


def hold_connections(stack: ExitStack, port: int, count: int) -> list[socket.socket]:
    """Half idle (connected, silent), half slow (a request head never finished)."""
    held = []
    for i in range(count):
        sock = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=5))
        if i % 2:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        held.append(sock)
    return held


def closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(0)
    try:
        return sock.recv(4096) == b""  # an evicted connection gets no answer, only EOF
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_idle_and_slow_connections_starve_nothing(limited: tuple[str, Path]) -> None:
    url, log = limited
    port = int(url.rsplit(":", 1)[1])
    text = log.read_text()
    assert f"open-file limit raised from {SOFT_LIMIT} to {HARD_LIMIT}" in text
    assert "web.max_connections 512 lowered to" in text
    with ExitStack() as stack:
        held = hold_connections(stack, port, HELD)
        before = polls(url)
        scrapes = [http_get(f"{url}/metrics") for _ in range(20)]
        assert all("c12_up{" in body for body in scrapes)
        wait_until(lambda: polls(url) >= before + 20, 30, "polls going on")
        # The cap closed most held connections; the timeouts close the rest.
        wait_until(lambda: sum(map(closed_by_server, held)) == HELD, 30, "held ones closed")
    closed = {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in http_get(f"{url}/metrics").splitlines()
        if line.startswith("c12_http_connections_closed_total{")
    }
    # Mostly evicted at the cap or timed out; a few may meet the open-file limit first.
    reasons = ("evicted", "header_timeout", "out_of_descriptors")
    assert sum(closed.get(r, 0) for r in reasons) >= HELD, closed
    text = log.read_text()
    assert "Traceback" not in text
    assert len(text.splitlines()) < 20, text


def test_header_and_idle_timeouts_close_connections(limited: tuple[str, Path]) -> None:
    url, _ = limited
    port = int(url.rsplit(":", 1)[1])
    with ExitStack() as stack:
        silent = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=5))
        slow = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=5))
        slow.sendall(b"GET /-/healthy HTTP/1.1\r\n")
        kept = stack.enter_context(socket.create_connection((LOOPBACK, port), timeout=5))
        kept.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in kept.recv(4096)
        for sock in (silent, slow, kept):
            wait_until(lambda s=sock: closed_by_server(s), 30, "connection closed by server")


SHEDDING_SERVER = textwrap.dedent(
    """
    import asyncio, logging, os, resource, sys
    from aiohttp import web
    from c12exporter.web.connections import ConnectionGuard, HttpLimits, start_sites

    async def main(port, release):
        logging.basicConfig(level=logging.INFO, stream=sys.stdout)
        app = web.Application()
        app.router.add_get("/", lambda request: web.Response(text="served\\n"))
        runner = web.AppRunner(app)
        await runner.setup()
        await start_sites(runner, "127.0.0.1", port, ConnectionGuard(HttpLimits(), 512), None)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        fillers = []
        try:
            while True:
                fillers.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        print("full", flush=True)
        while not os.path.exists(release):
            await asyncio.sleep(0.05)
        for fd in fillers:
            os.close(fd)
        print("released", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
    """
)


def test_out_of_descriptors_refuses_with_503_and_one_line(tmp_path: Path) -> None:
    port = free_port()
    release = tmp_path / "release"
    log = tmp_path / "server.log"
    command = [sys.executable, "-c", SHEDDING_SERVER, str(port), str(release)]
    with process(command, log) as proc:
        wait_until(lambda: "full" in log.read_text(), 30, "descriptors used up")
        answers = []
        for _ in range(30):
            # Refused at once, before any request: a request not read yet would turn the
            # close into a reset that can overtake the answer.
            with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
                answers.append(sock.makefile("rb").read())
        assert all(a.startswith(b"HTTP/1.1 503 ") for a in answers), answers[:3]
        assert all(a.endswith(b"out of file descriptors, try again\n") for a in answers)
        release.touch()
        wait_until(lambda: "released" in log.read_text(), 30, "descriptors released")
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=10) as response:
            assert response.read() == b"served\n"
        assert proc.poll() is None
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("out of file descriptors") == 1, text


def test_at_the_cap_with_every_connection_in_a_request_a_new_one_gets_503() -> None:
    """Idle connections make way for new ones; connections in a request do not."""
    import asyncio

    from aiohttp import web

    from c12exporter.web.connections import ConnectionGuard, HttpLimits, start_sites

    async def run() -> tuple[bytes, bytes, bytes]:
        release = asyncio.Event()

        async def slow(request: web.Request) -> web.Response:
            await release.wait()
            return web.Response(text="slow\n")

        async def fast(request: web.Request) -> web.Response:
            return web.Response(text="fast\n")

        app = web.Application()
        app.router.add_get("/slow", slow)
        app.router.add_get("/fast", fast)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        guard = ConnectionGuard(HttpLimits(max_connections=8), 8)
        await start_sites(runner, LOOPBACK, port, guard, None)
        try:

            async def send(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
                reader, writer = await asyncio.open_connection(LOOPBACK, port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                return reader, writer

            idle = [await asyncio.open_connection(LOOPBACK, port) for _ in range(8)]
            # at the cap, but idle: each new request closes one of them and is served
            busy = [await send("/slow") for _ in range(8)]
            evicted = await asyncio.wait_for(idle[0][0].read(), 10)
            refused_reader, refused_writer = await send("/fast")
            refused = await asyncio.wait_for(refused_reader.read(), 10)
            release.set()
            answered = await asyncio.wait_for(busy[0][0].readuntil(b"slow\n"), 10)
            for _, writer in [*idle, *busy, (refused_reader, refused_writer)]:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            return evicted, refused, answered
        finally:
            await runner.cleanup()

    evicted, refused, answered = asyncio.run(run())
    assert evicted == b""  # closed without an answer
    assert refused.startswith(b"HTTP/1.1 503 ") and refused.endswith(
        b"too many connections, try again\n"
    )
    assert answered.startswith(b"HTTP/1.1 200 OK")
