"""A simulated unit, its control interface and an exporter with basic auth and a history,
all on loopback, for the tests of the history's sessions, checks and reports."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from c12exporter import cli
from c12exporter.config import load_config
from c12exporter.exporter import RunningExporter, start_exporter
from c12exporter.history.recorder import History
from c12exporter.plugins import load_plugins
from c12exporter.simulator.control import ControlClient, ControlServer
from c12exporter.simulator.server import Fleet, SimulatedUnit
from tests.servers import LOOPBACK, free_port

PLUGINS = load_plugins(entry_points=False)
USER, PASSWORD = "ops", "secret"


@dataclass
class Stack:
    fleet: Fleet
    sim: SimulatedUnit
    control: ControlClient
    running: RunningExporter
    config: Path
    url: str

    @property
    def history(self) -> History:
        history = self.running.context.history
        assert history is not None
        return history

    @property
    def db(self) -> Path:
        return self.config.parent / "c12exporter-state" / "history.sqlite3"

    async def act(self, action: str, **params: Any) -> None:
        await self.control.act(self.sim.name, action, **params)

    async def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        user: str | None = USER,
        raw: bytes | None = None,
    ) -> tuple[int, str, str]:
        """``method path`` on the exporter: (status, content type, body text)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, http, method, self.url + path, body, headers, user, raw
        )

    async def post(self, path: str, body: object) -> tuple[int, dict[str, Any]]:
        status, _, text = await self.request(
            "POST", path, body, {"Content-Type": "application/json", "X-C12-History": "1"}
        )
        return status, dict(json.loads(text))

    async def cli(self, *argv: str) -> tuple[int, str, str]:
        return await asyncio.get_running_loop().run_in_executor(None, run_cli, *argv)


def http(
    method: str,
    url: str,
    body: object,
    headers: dict[str, str] | None,
    user: str | None,
    raw: bytes | None,
) -> tuple[int, str, str]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    if user:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers.get_content_type(), error.read().decode()


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        patch.setenv("C12_PASSWORD", PASSWORD)
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:  # argparse refuses a malformed argument this way
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


async def until(check: Callable[[], object], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return result


@contextlib.asynccontextmanager
async def stack(tmp: Path, speed: float = 1.0, supply: str = "grid") -> AsyncIterator[Stack]:
    """One C12B-12 unit polled every 200 ms, the web server with basic auth."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web_config = tmp / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  {USER}: '{hashed}'\n")
    port = free_port()
    async with await Fleet.start(1, plugins=PLUGINS, models=("C12B-12",), speed=speed) as fleet:
        sim = fleet.units[0]
        config = tmp / "c12.yml"
        config.write_text(
            f"units: [{{name: {sim.name}, address: '{sim.address}', supply: {supply}}}]\n"
            "poll: {interval: 200ms, timeout: 200ms}\n"
            f"web: {{listen_address: '{LOOPBACK}:{port}', config_file: {web_config}}}\n"
        )
        async with ControlServer(fleet, port=0) as server, ControlClient(server.url) as control:
            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            try:
                yield Stack(fleet, sim, control, running, config, f"http://{LOOPBACK}:{port}")
            finally:
                await running.stop()


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was logged with a traceback, and no error."""
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]
