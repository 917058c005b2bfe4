"""Acknowledging problems over HTTP with the real exporter against the simulator: who may,
the CSRF checks of the console's edits, and acknowledgements kept across a restart of the
exporter while a problem that clears and returns is a new, unacknowledged occurrence."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import signal
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from c12exporter.config import load_config
from c12exporter.console.acks import FILE_NAME, AckStoreError, SqliteProblemLog
from c12exporter.console.board import build_board
from c12exporter.exporter import RunningExporter, start_exporter
from c12exporter.plugins import load_plugins
from c12exporter.problems import Occurrence, Problem, Severity
from c12exporter.settings import UnitConfig
from c12exporter.simulator import apply_action
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store
from tests.servers import (
    LOOPBACK,
    c12exporter_command,
    free_port,
    process,
    simulator,
    units_yaml,
    wait_until,
)

PLUGINS = load_plugins(entry_points=False)
PASSWORD = "secret"
CSRF = {"Content-Type": "application/json", "X-C12-Console": "1"}


def call(
    url: str, user: str | None = None, body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:  # fmt: skip
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if user is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(
            f"{user}:{PASSWORD}".encode()).decode())  # fmt: skip
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


async def fetch(url: str, *args: Any) -> tuple[int, str]:
    return await asyncio.get_running_loop().run_in_executor(None, call, url, *args)


async def problems(base: str, user: str = "ed") -> dict[tuple[str, str], dict[str, Any]]:
    status, text = await fetch(base + "/console/problems", user)
    assert status == 200, text
    return {(p["unit"], p["key"]): p for p in json.loads(text)["problems"]}


async def until_problems(base: str, check: Any, what: str) -> dict[tuple[str, str], Any]:
    deadline = time.monotonic() + 15
    while True:
        found = await problems(base)
        if check(found):
            return found
        assert time.monotonic() < deadline, f"{what}: {found}"
        await asyncio.sleep(0.2)


def token_of(page: str) -> str:
    return page.split('data-token="', 1)[1].split('"', 1)[0]


@pytest.mark.integration
def test_acknowledgements_need_an_editor_and_outlive_a_restart(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  ed: '{hashed}'\n  vi: '{hashed}'\n")
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"

    async def test() -> None:
        async with await Fleet.start(2, plugins=PLUGINS, models=("C12B-12",)) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                units_yaml(u.address for u in fleet.units) + "poll: {interval: 1s, timeout: 0.5s}\n"
                f"state_dir: {tmp_path}/state\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}', config_file: {tmp_path}/web.yml}}\n"
                "console: {writes_enabled: true, editors: [ed]}\n"
            )

            async def start() -> RunningExporter:
                return await start_exporter(load_config(config_file, PLUGINS), PLUGINS)

            running = await start()
            try:
                await apply_action(fleet.units[0], {"action": "estop"})
                found = await until_problems(
                    base, lambda f: ("u1", "estop") in f, "the e-stop on the board"
                )
                estop = found[("u1", "estop")]
                assert (estop["severity"], estop["text"]) == ("alarm", "e-stop pressed")
                assert estop["advice"].startswith("Twist the e-stop button")
                assert estop["acked_by"] is None
                assert ("u1", "switch") not in found  # the e-stop explains the switch

                _, page = await fetch(base + "/", "ed")
                body = {"unit": "u1", "key": "estop", "token": token_of(page)}
                url = base + "/console/problems/ack"
                status, text = await fetch(
                    url, "ed", body, {**CSRF, "Origin": "http://evil.example"}
                )
                assert status == 403 and "another origin" in text
                status, text = await fetch(url, "ed", body, {"Content-Type": "application/json"})
                assert status == 403 and "X-C12-Console" in text
                status, text = await fetch(url, "ed", {**body, "token": "0" * 32}, CSRF)
                assert status == 403 and "reload the page" in text
                _, viewer_page = await fetch(base + "/", "vi")
                status, text = await fetch(
                    url, "vi", {**body, "token": token_of(viewer_page)}, CSRF
                )
                assert status == 403 and "not one of the editors" in text
                status, text = await fetch(url, "ed", {**body, "key": "neutral"}, CSRF)
                assert status == 409 and "no active problem 'neutral'" in text
                status, text = await fetch(url, "ed", {**body, "key": 3}, CSRF)
                assert status == 400 and "key:" in text
                assert (await problems(base))[("u1", "estop")]["acked_by"] is None

                status, text = await fetch(url, "ed", body, CSRF)
                assert status == 200, text
                acked = json.loads(text)["problem"]
                assert acked["acked_by"] == "ed" and acked["acked_at"] >= estop["since"]
                assert (await problems(base))[("u1", "estop")]["acked_by"] == "ed"
            finally:
                await running.stop()

            # a restart: the e-stop is still pressed, so it is the same acknowledged problem
            running = await start()
            try:
                found = await until_problems(
                    base, lambda f: ("u1", "estop") in f, "the e-stop after the restart"
                )
                kept = found[("u1", "estop")]
                assert (kept["since"], kept["acked_by"], kept["acked_at"]) == (
                    estop["since"], "ed", acked["acked_at"]
                )  # fmt: skip

                # released and pressed again: a new occurrence, not acknowledged
                await apply_action(fleet.units[0], {"action": "estop_release"})
                await until_problems(
                    base, lambda f: ("u1", "estop") not in f and ("u1", "switch") in f,
                    "the e-stop released, the switch still off",
                )  # fmt: skip
                await apply_action(fleet.units[0], {"action": "estop"})
                found = await until_problems(
                    base, lambda f: ("u1", "estop") in f, "the e-stop pressed again"
                )
                again = found[("u1", "estop")]
                assert again["acked_by"] is None and again["since"] > kept["since"]

                # a unit that stops answering is down, with the poll error as detail
                await fleet.units[1].stop()
                found = await until_problems(base, lambda f: ("u2", "down") in f, "u2 down")
                down = found[("u2", "down")]
                assert down["severity"] == "down" and down["text"].startswith("unreachable for")
                assert down["detail"]
                status, text = await fetch(base + "/console/problems?unit=u2", "ed")
                assert status == 200 and [p["key"] for p in json.loads(text)["problems"]] == [
                    "down"
                ]
                assert json.loads(text)["units"]["u2"]["model"] == "C12B-12"
                status, text = await fetch(base + "/console/problems?unit=nope", "ed")
                assert status == 404 and "no unit 'nope'" in text
            finally:
                await running.stop()

        with sqlite3.connect(tmp_path / "state" / FILE_NAME) as conn:
            (who, text), *_ = conn.execute("SELECT who, text FROM acknowledgements").fetchall()
        assert (who, text) == ("ed", "e-stop pressed")

    asyncio.run(test())


def test_a_newer_or_unusable_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(AckStoreError, match=rf"{FILE_NAME}: schema version 99 is newer"):
        SqliteProblemLog(path)
    (tmp_path / "dir.sqlite3").mkdir()
    with pytest.raises(AckStoreError, match=r"dir\.sqlite3: cannot open"):
        SqliteProblemLog(tmp_path / "dir.sqlite3")
    damaged = tmp_path / "damaged" / FILE_NAME
    damaged.parent.mkdir()
    damaged.write_bytes(b"not a database, " * 512)
    with pytest.raises(AckStoreError, match=rf"damaged/{FILE_NAME}: cannot use"):
        SqliteProblemLog(damaged)


def test_a_damaged_file_leaves_the_board_working_in_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not a database, " * 512)
    store = Store((UnitConfig("u", "127.0.0.1:1"),), 15.0)
    with caplog.at_level(logging.ERROR, logger="c12exporter.console.board"):
        board, problem_log = build_board(store, None, tmp_path)
    assert problem_log is None and board.active(0.0) == []
    assert any(
        f"{FILE_NAME}: cannot use" in r.getMessage() and "in memory only" in r.getMessage()
        for r in caplog.records
    )


def test_the_log_keeps_open_occurrences_and_forgets_ended_ones(tmp_path: Path) -> None:
    log = SqliteProblemLog.in_dir(tmp_path)
    problem = Problem("u", "breaker.3", Severity.ALARM, "breaker 3 open", 10.0, 3)
    log.save("u", "breaker.3", Occurrence(10.0), problem)
    log.save("u", "estop", Occurrence(11.0, "ed", 12.0, Severity.ALARM), problem)
    log.close()
    log = SqliteProblemLog.in_dir(tmp_path)
    occurrences, _ = log.load()
    assert occurrences == {
        "u": {"breaker.3": Occurrence(10.0), "estop": Occurrence(11.0, "ed", 12.0, Severity.ALARM)}
    }
    log.end("u", ["breaker.3"])
    assert log.load()[0] == {"u": {"estop": Occurrence(11.0, "ed", 12.0, Severity.ALARM)}}
    log.forget_unit("u")
    assert log.load()[0] == {}
    assert [a["who"] for a in log.acknowledgements()] == ["ed"]
    log.close()


@pytest.mark.integration
def test_an_acknowledgement_survives_the_exporter_process_being_killed(tmp_path: Path) -> None:
    """``c12exporter serve`` and ``simulate`` as processes: acknowledged, SIGKILL (no clean
    shutdown), started again: still acknowledged, with the same since."""
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  ed: '{hashed}'\n")
    with simulator(tmp_path, 1) as (control, units_file):
        (unit,) = control.units()
        config_file = tmp_path / "c12.yml"
        config_file.write_text(
            f"units_files: [{units_file}]\n"
            "poll: {interval: 1s, timeout: 0.5s}\n"
            f"state_dir: {tmp_path}/state\n"
            f"web: {{config_file: {tmp_path}/web.yml}}\n"
            "console: {writes_enabled: true}\n"
        )
        port = free_port()
        base = f"http://{LOOPBACK}:{port}"
        command = c12exporter_command(
            "serve", "--config.file", str(config_file), f"--web.listen-address={LOOPBACK}:{port}"
        )
        name = unit["name"]
        control.act(name, "estop")

        def estop() -> dict[str, Any] | None:
            status, text = call(base + "/console/problems", "ed")
            found = {p["key"]: p for p in json.loads(text)["problems"]} if status == 200 else {}
            return found.get("estop")

        with process(command, tmp_path / "exporter-1.log") as first:
            wait_until(lambda: call(f"{base}/-/healthy", "ed")[0] == 200, 30, "exporter ready")
            before = wait_until(estop, 15, "the e-stop on the board")
            _, page = call(base + "/", "ed")
            status, text = call(
                base + "/console/problems/ack", "ed",
                {"unit": name, "key": "estop", "token": token_of(page)}, CSRF,
            )  # fmt: skip
            assert status == 200, text
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        with process(command, tmp_path / "exporter-2.log"):
            wait_until(lambda: call(f"{base}/-/healthy", "ed")[0] == 200, 30, "exporter again")
            after = wait_until(estop, 15, "the e-stop after the restart")
            assert (after["since"], after["acked_by"]) == (before["since"], "ed")
