"""The history database: state changes with a baseline rule, the RCBO test log and its
metric, energy per job across a power loss, and the commands; against the simulator
over loopback sockets, with the exporter restarted in between."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import sqlite3
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from c12exporter import cli, limits
from c12exporter.config import load_config
from c12exporter.exporter import RunningExporter, start_exporter
from c12exporter.history import db as history_db
from c12exporter.history import jobs as jobs_db
from c12exporter.history.config import parse_history
from c12exporter.history.db import HistoryError
from c12exporter.history.events import changes
from c12exporter.history.jobs import UnitTotals
from c12exporter.history.query import parse_time
from c12exporter.history.recorder import CACHE_KIB, History
from c12exporter.plugins import load_plugins
from c12exporter.settings import ConfigError, HistoryConfig
from c12exporter.simulator.physics import Load
from c12exporter.simulator.server import Fleet
from c12exporter.store import Change
from tests.servers import LOOPBACK, free_port, simulated_reading

PLUGINS = load_plugins(entry_points=False)
PASSWORD = "secret"
WH = 3600.0


# --- pure parts -------------------------------------------------------------------------------


def test_a_state_is_a_baseline_the_first_time_and_a_change_after() -> None:
    first = changes("u", 1.0, {}, {(0, "neutral"): "ok", (3, "breaker"): "closed"})
    assert [(e.kind, e.state, e.previous) for e in first] == [
        ("neutral", "ok", None),
        ("breaker", "closed", None),
    ]
    assert first[1].channel == 3 and first[0].channel is None
    known = {(0, "neutral"): "ok", (3, "breaker"): "closed"}
    assert changes("u", 2.0, known, dict(known)) == []
    later = changes("u", 3.0, known, {(0, "neutral"): "ok", (3, "breaker"): "open"})
    assert [(e.channel, e.state, e.previous, e.at) for e in later] == [(3, "open", "closed", 3.0)]


def test_job_energy_counts_the_new_value_after_the_counter_restarts(
    reading_factory: Callable[..., Any],
) -> None:
    totals = UnitTotals("u")
    for counter_wh, demand in ((100, 500.0), (130, 900.0), (150, 700.0), (20, 100.0), (45, 50.0)):
        totals.add(reading_factory(counter_wh * WH, demand))
    # 100 -> 150: 50 Wh; the meter restarted at 0 and read 20: +20; then +25.
    assert totals.energy_j == pytest.approx(95 * WH)
    assert totals.counter_resets == 1
    assert totals.peak_demand_w == 900.0
    assert totals.readings == 5


def test_times_are_iso_or_ages_and_bad_ones_name_the_option() -> None:
    now = 1_800_000_000.0
    assert parse_time("2h", "--since", now) == now - 7200
    assert parse_time("7d", "--since", now) == now - 7 * 86400
    assert parse_time("2026-05-12T18:00:00+00:00", "--since", now) == 1778608800.0
    with pytest.raises(HistoryError, match=r"--until: 'yesterday' is neither a time"):
        parse_time("yesterday", "--until", now)


def test_the_history_section_is_checked(tmp_path: Path) -> None:
    default = parse_history(None, "c.yml: history", tmp_path)
    assert default == HistoryConfig()
    assert default.rcbo_test_period_s == limits.RCBO_TEST_PERIOD.value == 31 * 86400
    chosen = parse_history({"path": "h.db", "rcbo_test_period": "28d"}, "c.yml: history", tmp_path)
    assert chosen == HistoryConfig(tmp_path / "h.db", 28 * 86400.0)
    with pytest.raises(ConfigError, match=r"history\.rcbo_test_period: 'monthly' is not"):
        parse_history({"rcbo_test_period": "monthly"}, "c.yml: history", tmp_path)
    with pytest.raises(ConfigError, match=r"history: unknown key 'file'"):
        parse_history({"file": "x"}, "c.yml: history", tmp_path)


def test_a_database_of_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    history_db.connect(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {history_db.SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer than this c12exporter's"):
        history_db.connect(path)
    with pytest.raises(HistoryError, match="no history database at"):
        history_db.connect(tmp_path / "missing.sqlite3", create=False)


def test_the_console_lists_running_jobs_and_the_last_stopped_ones(tmp_path: Path) -> None:
    conn = history_db.connect(tmp_path / "h.sqlite3")
    for i in range(8):
        job = jobs_db.insert_job(conn, f"j{i}", ["u"], at=float(i))
        if i not in (3, 7):
            jobs_db.mark_stopped(conn, job, at=100.0 + i)
    shown = jobs_db.load_jobs(conn, stopped_limit=2)
    assert [(j.name, j.running) for j in shown] == [
        ("j3", True), ("j5", False), ("j6", False), ("j7", True)
    ]  # fmt: skip
    assert len(jobs_db.load_jobs(conn)) == 8
    with pytest.raises(HistoryError, match="a job of that name exists") as refused:
        jobs_db.insert_job(conn, "j1", ["u"])
    assert (refused.value.field, refused.value.status) == ("name", 409)
    assert len(jobs_db.load_jobs(conn)) == 8  # nothing written
    for bad in ("", " ", "a/b", "x" * 65, "tab\there"):
        with pytest.raises(HistoryError, match=r"job name .*: give 1 to 64 printable"):
            jobs_db.check_name(bad)
    assert jobs_db.check_name(" Hamlet 12 May ") == "Hamlet 12 May"
    conn.close()


@pytest.fixture(scope="module")
def reading_factory() -> Callable[..., Any]:
    reading = simulated_reading("C12B-12")

    def make(counter_j: float, demand_w: float) -> Any:
        return reading.with_values(active_energy_import=counter_j, demand_active_power=demand_w)

    return make


def test_a_reading_the_history_cannot_use_is_counted_and_the_poll_goes_on(
    tmp_path: Path, reading_factory: Callable[..., Any]
) -> None:
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    good = reading_factory(1000 * WH, 10.0)
    broken = dataclasses.replace(
        good, values={k: v for k, v in good.values.items() if k != "emergency_stop"}
    )
    store = Store((UnitConfig("u", "127.0.0.1:9"),), staleness_s=3600)
    seen: list[object] = []

    async def test() -> None:
        history = await History.open(tmp_path / "h.sqlite3", store, 86400.0)
        store.subscribe(lambda change: seen.append(change.after))
        try:
            store.record_success("u", broken, 0.01)
            assert history.write_errors == 1 and seen == [broken]  # the next listener ran
            store.record_success("u", good, 0.01)
            await history.flush()
            assert history.states["u"][(0, "emergency_stop")] == "released"
        finally:
            await history.close()

    asyncio.run(test())


def test_a_database_that_refuses_writes_is_counted_and_refuses_jobs(
    tmp_path: Path, reading_factory: Callable[..., Any]
) -> None:
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    reading = reading_factory(1000 * WH, 10.0)
    opened = dataclasses.replace(
        reading,
        channels=(reading.channels[0].with_values(channel_breaker="open"), *reading.channels[1:]),
    )
    store = Store((UnitConfig("u", "127.0.0.1:9"),), staleness_s=3600)
    path = tmp_path / "h.sqlite3"

    async def test() -> None:
        history = await History.open(path, store, 86400.0)
        try:
            store.record_success("u", reading, 0.01)
            await history.flush()
            with sqlite3.connect(path) as other:  # the file is damaged behind its back
                other.executescript("DROP TABLE job_units; DROP TABLE jobs; DROP TABLE events;")
            with pytest.raises(HistoryError, match="the history database refused it") as refused:
                await history.start_job("Gala", ["u"])
            assert refused.value.status == 503 and history.jobs == {}
            store.record_success("u", opened, 0.01)
            await history.flush()
            assert history.write_errors == 1
        finally:
            await history.close()

    asyncio.run(test())


def test_a_running_job_goes_on_after_a_restart(
    tmp_path: Path, reading_factory: Callable[..., Any]
) -> None:
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    path = tmp_path / "h.sqlite3"

    def store() -> Store:
        return Store((UnitConfig("u", "127.0.0.1:9"),), staleness_s=3600)

    async def test() -> None:
        first = store()
        history = await History.open(path, first, 86400.0)
        await history.start_job("Tour", ["u"])
        for wh in (100, 150):
            first.record_success("u", reading_factory(wh * WH, 10.0), 0.01)
        await history.close()
        # drawn while the exporter was stopped: counted at the next reading
        second = store()
        history = await History.open(path, second, 86400.0)
        assert list(history.jobs) == ["Tour"]
        second.record_success("u", reading_factory(170 * WH, 10.0), 0.01)
        await history.flush()
        job = await history.job("Tour")
        await history.close()
        assert job.running and job.units["u"].energy_j == pytest.approx(70 * WH)
        assert job.units["u"].readings == 3

    asyncio.run(test())


# --- against the simulator --------------------------------------------------------------------


async def until(check: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


def write_config(tmp: Path, fleet: Fleet, port: int, web_config: Path | None = None) -> Path:
    units = ", ".join(f"{{name: {u.name}, address: '{u.address}'}}" for u in fleet.units)
    auth = f", config_file: {web_config}" if web_config else ""
    config = tmp / "c12.yml"
    config.write_text(
        f"units: [{units}]\n"
        "poll: {interval: 500ms, timeout: 500ms}\n"
        f"web: {{listen_address: '{LOOPBACK}:{port}'{auth}}}\n"
        "history: {rcbo_test_period: 28d}\n"
    )
    return config


def history_of(running: RunningExporter) -> History:
    history = running.context.history
    assert history is not None
    return history


def has(history: History, unit: str, channel: int | None, kind: str, state: str) -> bool:
    key = (channel or 0, kind)
    return history.states.get(unit, {}).get(key) == state


@pytest.mark.integration
def test_state_changes_and_rcbo_cycles_outlast_a_restart(tmp_path: Path) -> None:
    port = free_port()

    async def test() -> None:
        async with await Fleet.start(1, plugins=PLUGINS, models=("C12B-12",)) as fleet:
            sim = fleet.units[0]
            name = sim.name
            config = write_config(tmp_path, fleet, port)
            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            try:
                history = history_of(running)
                await until(lambda: has(history, name, 3, "breaker", "closed"), "a baseline")
                sim.physics_now().press_test_button(3)  # the manual's monthly T-button test
                await until(lambda: has(history, name, 3, "breaker", "open"), "RCBO 3 open")
                sim.physics_now().reset_rcbo(3)
                await until(lambda: (name, 3) in history.last_cycle, "RCBO 3 cycled")
                sim.physics_now().set_load(5, Load(current_a=6.0))
                sim.physics.set_supervision(5, 1.0, 4.0)
                await until(lambda: has(history, name, 5, "supervision", "above"), "band")
                sim.physics_now().press_estop()
                await until(lambda: has(history, name, None, "emergency_stop", "pressed"), "e-stop")
                await history.flush()
                loop = asyncio.get_running_loop()
                body = await loop.run_in_executor(None, fetch, f"http://{LOOPBACK}:{port}/metrics")
                status, answer = await loop.run_in_executor(
                    None, post, f"http://{LOOPBACK}:{port}/history/jobs", None,
                    {"action": "start", "name": "X", "units": [name]},
                    {"Content-Type": "application/json", "X-C12-History": "1"},
                )  # fmt: skip
                assert status == 403 and "needs basic auth" in answer["message"]
                assert history.jobs == {}
            finally:
                await running.stop()
            cycle = history.last_cycle[(name, 3)]
            # a T press outside a test session is a cycle, not a test: the overdue alert's
            # metric has no sample for it (tests/test_rcbo_test.py has the ones that count)
            assert _lines(body, "c12_channel_rcbo_last_test_timestamp_seconds{") == ""
            assert "c12_rcbo_test_period_seconds 2.4192e+06" in body

            db = tmp_path / "c12exporter-state" / "history.sqlite3"
            with sqlite3.connect(db) as conn:
                baselines = conn.execute(
                    "SELECT count(*) FROM events WHERE previous IS NULL"
                ).fetchone()[0]
            # 1 reachable + 3 unit states + 12 breakers + 12 supervision bands
            assert baselines == 28

            sim.physics_now().release_estop()  # while nobody watches
            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            try:
                history = history_of(running)
                assert history.last_cycle[(name, 3)] == cycle  # remembered
                await until(
                    lambda: has(history, name, None, "emergency_stop", "released"), "release"
                )
                await history.flush()
            finally:
                await running.stop()
            with sqlite3.connect(db) as conn:
                again = conn.execute(
                    "SELECT count(*) FROM events WHERE previous IS NULL"
                ).fetchone()[0]
            assert again == baselines  # a restart records no new baseline

        loop = asyncio.get_running_loop()
        code, out, err = await loop.run_in_executor(
            None, run_cli, "events", "--config", str(config), "--unit", name,
            "--changes-only", "--format", "json",
        )  # fmt: skip
        assert code == 0, err
        events = [(e["channel"], e["kind"], e["previous"], e["state"]) for e in json.loads(out)]
        assert (3, "breaker", "closed", "open") in events
        assert (3, "breaker", "open", "closed") in events
        assert (None, "emergency_stop", "released", "pressed") in events
        assert (None, "emergency_stop", "pressed", "released") in events
        assert (None, "switch_disconnector", "on", "off") in events  # the e-stop trips it
        supervision = {(e[0], e[3]) for e in events if e[1] == "supervision"}
        assert (5, "above") in supervision  # 6 A against a band of 1-4 A

        code, out, err = await loop.run_in_executor(
            None, run_cli, "rcbo-log", "--config", str(config), "--due", "--format", "json"
        )
        assert code == 0, err
        due = {row["channel"]: row for row in json.loads(out)}
        assert set(due) == set(range(1, 13))
        assert due[3]["last_test_at"] is None  # cycled, never tested
        assert due[3]["due_at"] == pytest.approx(due[3]["watched_since"] + 28 * 86400)
        assert due[4]["last_test_at"] is None and due[4]["overdue"] is False

        code, out, err = await loop.run_in_executor(
            None, run_cli, "rcbo-log", "--db", str(db), "--since", "1h"
        )
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] == "time,unit,channel,event,cause,opened_at,open_s,tester"
        # closed with the outputs live and no current behind it: switched off (or leakage)
        assert sum(f",{name},3,rcbo_cycle,off," in line for line in lines) == 1
        assert any(f",{name},,emergency_stop pressed," in line for line in lines)

        code, out, err = await loop.run_in_executor(
            None, run_cli, "events", "--db", str(db), "--since", "tomorrow"
        )
        assert code == 2 and "--since: 'tomorrow' is neither a time" in err

    asyncio.run(test())


def _lines(body: str, prefix: str) -> str:
    return "\n".join(line for line in body.splitlines() if line.startswith(prefix))


def fetch(url: str, user: str | None = None) -> str:
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.integration
def test_a_jobs_energy_spans_a_power_loss(tmp_path: Path) -> None:
    """Energy before the loss plus energy after, within 3 Wh.

    The physics is frozen whenever a reading is taken that the expectation uses (the
    first after the start, the last before the loss, the last before the stop), so the
    exporter and the simulator see the same energy; the only difference left is the
    register's resolution: the meter reports whole Wh, so each of the three counter values
    the job is computed from may be up to 1 Wh off the simulator's true energy.
    """
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  ops: '{hashed}'\n")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"

    async def test() -> None:
        loop = asyncio.get_running_loop()
        fleet = await Fleet.start(2, plugins=PLUGINS, models=("C12B-12",), speed=0.0)
        async with fleet:
            sim = fleet.units[0]
            for channel in (1, 2, 3):
                sim.physics_now().set_load(channel, Load(current_a=10.0))
            config = write_config(tmp_path, fleet, port, web_config)
            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            history = history_of(running)
            store = running.store

            async def seen_frozen() -> float:
                """The true energy now; returns once the job has counted a reading of the
                frozen unit: the second successful poll recorded after the freeze (the first
                may have read its registers before it)."""
                true_j = float(sim.physics_now().measurements()["active_energy_import"] or 0)
                state = store.get(sim.name)
                assert state is not None
                successes = []

                def count(change: Change) -> None:
                    if change.unit is state and change.after is not None:
                        successes.append(change.after)

                store.subscribe(count)
                try:
                    await until(lambda: len(successes) >= 2, "two readings of the frozen unit")
                finally:
                    store.unsubscribe(count)
                return true_j

            async def run_physics(seconds: float) -> None:
                fleet.clock.set_speed(300.0)
                await asyncio.sleep(seconds)
                fleet.clock.set_speed(0.0)

            try:
                both = f"{sim.name},{fleet.units[1].name}"
                code, out, err = await loop.run_in_executor(
                    None, job_cli, "start", "Hamlet", "--units", both, "--url", url,
                    "--user", "ops",
                )  # fmt: skip
                assert code == 0 and "job Hamlet started" in out, err
                code, _, err = await loop.run_in_executor(
                    None, job_cli, "start", "Hamlet", "--units", sim.name, "--url", url,
                    "--user", "ops",
                )  # fmt: skip
                assert code == 1 and "a job of that name exists" in err
                code, _, err = await loop.run_in_executor(
                    None, job_cli, "start", "Lear", "--units", "nowhere", "--url", url,
                    "--user", "ops",
                )  # fmt: skip
                assert code == 1 and "units: nowhere not in the fleet" in err
                code, _, err = await loop.run_in_executor(
                    None, run_cli, "job", "start", "Lear", "--units", sim.name, "--url", url
                )
                assert code == 1 and "give --user and $C12_PASSWORD" in err
                assert set(history.jobs) == {"Hamlet"}  # the refused ones changed nothing

                start_j = await seen_frozen()
                await run_physics(1.5)
                before_loss_j = await seen_frozen()
                await sim.power_loss()
                await until(lambda: has(history, sim.name, None, "reachable", "down"), "down")
                await sim.power_restore()
                await run_physics(1.5)
                after_j = await seen_frozen()
                code, out, err = await loop.run_in_executor(
                    None, job_cli, "stop", "Hamlet", "--url", url, "--user", "ops"
                )
                assert code == 0, err
                await history.flush()
            finally:
                await running.stop()

        expected_j = (before_loss_j - start_j) + after_j
        assert before_loss_j - start_j > 100 * WH and after_j > 100 * WH  # both halves count
        db = tmp_path / "c12exporter-state" / "history.sqlite3"
        code, out, err = await loop.run_in_executor(
            None, run_cli, "job", "report", "Hamlet", "--db", str(db), "--format", "json"
        )
        assert code == 0, err
        report = json.loads(out)
        units = {u["unit"]: u for u in report["units"]}
        measured = units[sim.name]
        assert measured["counter_resets"] == 1
        assert measured["energy_kwh"] * 3.6e6 == pytest.approx(expected_j, abs=3 * WH)
        assert measured["max_current_a"]["L1"] >= 10.0
        assert report["stopped_at"] is not None
        assert report["total"]["energy_kwh"] == pytest.approx(
            sum(u["energy_kwh"] for u in report["units"])
        )
        code, out, err = await loop.run_in_executor(
            None, run_cli, "events", "--db", str(db), "--unit", sim.name, "--changes-only",
            "--format", "csv",
        )  # fmt: skip
        assert code == 0, err
        rows = [line.split(",") for line in out.splitlines()[1:]]
        down = [r for r in rows if r[3:6] == ["reachable", "down", "up"]]
        assert down and all(r[6] for r in down)  # with the poll error's reason
        assert any(r[3:6] == ["reachable", "up", "down"] for r in rows)
        code, out, err = await loop.run_in_executor(None, run_cli, "job", "list", "--db", str(db))
        assert code == 0 and out.splitlines()[1].startswith("Hamlet ")
        code, out, err = await loop.run_in_executor(
            None, run_cli, "job", "report", "Hamlet", "--db", str(db), "--format", "csv"
        )
        assert code == 0 and out.splitlines()[0].startswith("unit,energy_kwh,counter_resets")
        assert out.splitlines()[-1].startswith("TOTAL,")

    asyncio.run(test())


def job_cli(*argv: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("C12_PASSWORD", PASSWORD)
        return run_cli("job", *argv)


def post(
    url: str, user: str | None, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    if user:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(json.loads(error.read()))


@pytest.mark.integration
def test_console_jobs_need_an_editor_and_pass_the_csrf_checks(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    web_config = tmp_path / "web.yml"
    web_config.write_text(f"basic_auth_users:\n  ed: '{hashed}'\n  vi: '{hashed}'\n")
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"

    async def test() -> None:
        loop = asyncio.get_running_loop()
        async with await Fleet.start(1, plugins=PLUGINS, models=("C12B-12",)) as fleet:
            name = fleet.units[0].name
            config = write_config(tmp_path, fleet, port, web_config)
            with config.open("a") as out:
                out.write("console: {writes_enabled: true, editors: [ed]}\n")
            running = await start_exporter(
                load_config(config, PLUGINS), PLUGINS, lambda: load_config(config, PLUGINS)
            )
            history = history_of(running)
            try:
                page = await loop.run_in_executor(None, fetch, base + "/", "ed")
                assert 'id="jobs"' in page and 'id="job-start"' in page
                token = page.split('data-token="', 1)[1].split('"', 1)[0]
                viewer_page = await loop.run_in_executor(None, fetch, base + "/", "vi")
                assert 'id="jobs"' in viewer_page and 'id="job-start"' not in viewer_page
                viewer_token = viewer_page.split('data-token="', 1)[1].split('"', 1)[0]
                good = {"Content-Type": "application/json", "X-C12-Console": "1"}
                start = {"action": "start", "name": "Gala", "units": [name], "token": token}
                url = base + "/console/jobs"

                async def send(user: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
                    return await loop.run_in_executor(None, post, url, user, body, headers)

                status, answer = await send("ed", start, {"Content-Type": "application/json"})
                assert status == 403 and "X-C12-Console" in answer["message"]
                status, answer = await send("ed", start, {**good, "Origin": "http://evil.example"})
                assert status == 403 and "another origin" in answer["message"]
                status, answer = await send("ed", {**start, "token": "0" * 32}, good)
                assert status == 403 and answer["field"] == "token"
                status, answer = await send("vi", {**start, "token": viewer_token}, good)
                assert status == 403 and "not one of the editors" in answer["message"]
                status, answer = await send("ed", {**start, "units": ["nowhere"]}, good)
                assert status == 400 and answer["field"] == "units"
                assert history.jobs == {}  # every refusal changed nothing
                status, answer = await send("ed", start, good)
                assert (status, answer["message"]) == (200, "job Gala started")
                assert list(history.jobs) == ["Gala"]
                page = await loop.run_in_executor(None, fetch, base + "/", "ed")
                assert 'data-job-stop="Gala"' in page
                status, answer = await send("ed", {"action": "stop", "name": "Gala",
                                                   "token": token}, good)  # fmt: skip
                assert (status, answer["message"]) == (200, "job Gala stopped")
                assert history.jobs == {}
                status, answer = await send("ed", {"action": "stop", "name": "Gala",
                                                   "token": token}, good)  # fmt: skip
                assert status == 409 and "is not running" in answer["message"]
                # the API for the command line: its own header, basic auth
                api = base + "/history/jobs"
                status, answer = await loop.run_in_executor(
                    None, post, api, "ed", {"action": "start", "name": "X", "units": [name]},
                    {"Content-Type": "application/json"},
                )  # fmt: skip
                assert status == 403 and "X-C12-History" in answer["message"]
                assert history.jobs == {}
                # a reload takes a new test period at once
                config.write_text(config.read_text().replace("28d", "14d"))
                assert await running.reload() is None
                assert history.rcbo_test_period_s == 14 * 86400
            finally:
                await running.stop()

    asyncio.run(test())


def test_the_simulators_clock_changes_speed_without_a_jump() -> None:
    """The job test freezes the physics this way around every reading it compares."""
    from c12exporter.simulator.server import FleetClock

    clock = FleetClock(speed=1000.0)
    time.sleep(0.01)
    clock.set_speed(0.0)
    frozen = clock.now()
    assert frozen >= 10.0  # 10 ms at 1000x
    time.sleep(0.01)
    assert clock.now() == frozen
    clock.set_speed(1000.0)
    assert clock.now() >= frozen  # goes on from there, never back
    with pytest.raises(ValueError, match="must not be negative"):
        clock.set_speed(-1.0)


def test_a_stopped_meter_adds_nothing_to_a_job_and_its_restart_counts_as_a_reset(
    reading_factory: Callable[..., Any],
) -> None:
    totals = UnitTotals("u")
    totals.add(reading_factory(100 * WH, 500.0))
    stopped = reading_factory(0.0, 500.0).with_values(active_energy_import=None)
    totals.add(stopped)  # the L1 meter fuse blew: no counter, not a counter at 0
    assert totals.energy_j == 0.0 and totals.counter_resets == 0
    totals.add(reading_factory(5 * WH, 500.0))  # fuse replaced: the meter restarted at 0
    assert totals.energy_j == pytest.approx(5 * WH)
    assert totals.counter_resets == 1


# --- a restart seen in the unit's own clock ------------------------------------------------


def test_a_restart_shows_in_the_uptime_even_when_the_counter_passed_its_old_value(
    reading_factory: Callable[..., Any],
) -> None:
    def reading(at: float, uptime_s: float, counter_wh: float) -> Any:
        made = reading_factory(counter_wh * WH, 10.0).with_values(uptime=uptime_s)
        return dataclasses.replace(made, taken_at=at)

    steady = UnitTotals("u")
    for at, uptime, wh in ((0.0, 1000, 100), (10.0, 1006, 110), (20.0, 1020, 120)):
        steady.add(reading(at, uptime, wh))  # 1006: 4 s short of the wall time, jitter
    assert (steady.energy_j, steady.counter_resets) == (pytest.approx(20 * WH), 0)

    # not read for an hour: the unit was up 2000 s of it, so it restarted in between and
    # its counter (150 Wh) is all since then, though it is above the last one seen (120)
    steady.add(reading(3620.0, 2000, 150))
    assert (steady.energy_j, steady.counter_resets) == (pytest.approx(170 * WH), 1)

    went_back = UnitTotals("u")
    went_back.add(reading(0.0, 500, 100))
    went_back.add(reading(1.0, 30, 130))  # seconds apart, but the clock went back
    assert (went_back.energy_j, went_back.counter_resets) == (pytest.approx(130 * WH), 1)

    assert jobs_db.restarted(None, None, 5, 0.0) is False  # a first reading restarts nothing


async def frozen_energy(sim: Any, store: Any) -> float:
    """The simulator's true energy counter now, once the exporter has recorded two
    readings of the frozen unit (the first may have read its registers before the freeze)."""
    true_j = float(sim.physics_now().measurements()["active_energy_import"] or 0)
    state = store.get(sim.name)
    assert state is not None
    successes: list[object] = []

    def count(change: Change) -> None:
        if change.unit is state and change.after is not None:
            successes.append(change.after)

    store.subscribe(count)
    try:
        await until(lambda: len(successes) >= 2, "two readings of the frozen unit")
    finally:
        store.unsubscribe(count)
    return true_j


@pytest.mark.integration
def test_a_job_counts_a_power_loss_the_exporter_did_not_see(tmp_path: Path) -> None:
    """The exporter is stopped, the unit loses power, comes back and draws more than its
    counter showed before: only its uptime tells the restart. The job's energy is within
    1 % of what the simulator's meter counted in the two power-ups."""
    port = free_port()

    async def test() -> None:
        async with await Fleet.start(1, plugins=PLUGINS, models=("C12B-12",), speed=0.0) as fleet:
            sim = fleet.units[0]
            for channel in range(1, 13):
                sim.physics_now().set_load(channel, Load(current_a=3.0))
            config = write_config(tmp_path, fleet, port)

            async def run_physics(seconds: float) -> None:
                fleet.clock.set_speed(300.0)
                await asyncio.sleep(seconds)
                fleet.clock.set_speed(0.0)

            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            try:
                history = history_of(running)
                await history.start_job("Tour", [sim.name])
                start_j = await frozen_energy(sim, running.store)
                await run_physics(1.5)
                before_j = await frozen_energy(sim, running.store)
                uptime_before = sim.physics_now().uptime_s
            finally:
                await running.stop()
            await sim.power_loss()  # nobody watches
            await sim.power_restore()
            for channel in range(1, 13):
                sim.physics_now().set_load(channel, Load(current_a=12.0))
            await run_physics(1.0)
            assert sim.physics_now().uptime_s < uptime_before  # shorter, but
            after_j = float(sim.physics_now().measurements()["active_energy_import"] or 0)
            assert after_j > before_j  # the counter is past its old value
            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            try:
                history = history_of(running)
                assert await frozen_energy(sim, running.store) == after_j
                await history.stop_job("Tour")
                job = await history.job("Tour")
            finally:
                await running.stop()

        expected_j = (before_j - start_j) + after_j
        totals = job.units[sim.name]
        assert totals.counter_resets == 1
        assert totals.energy_j == pytest.approx(expected_j, rel=0.01)
        # what the counter difference alone gave: the energy of the loss's far side lost
        assert abs((after_j - start_j) - expected_j) > 0.05 * expected_j

    asyncio.run(test())


# --- a disk that is full ----------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts a tmpfs of a given size (a disk that fills); unmounted at the end."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       check=True)  # fmt: skip
        mounted.append(where)
        return where

    try:
        yield mount
    finally:
        for where in mounted:
            subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    """64 KiB: too small for a new history database."""
    return tmpfs("64k")


def fill(disk: Path) -> Path:
    """Fill ``disk`` to its last byte; returns the filler file (delete it to free space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 512)
    return filler


def test_a_full_disk_reports_sqlites_own_error_with_the_file_and_what_to_do(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from c12exporter.history.recorder import HistoryUnwritable
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    path = small_disk / "history.sqlite3"
    store = Store((UnitConfig("u", "127.0.0.1:9"),), staleness_s=3600)
    with pytest.raises(HistoryUnwritable) as refused:
        asyncio.run(History.open(path, store, 86400.0))
    message = str(refused.value)
    assert "no transaction is active" not in message
    assert f"history: {path}: " in message and "database or disk is full" in message
    assert "free space there, or set history.path" in message
    caplog.set_level("ERROR")
    assert asyncio.run(History.open_or_none(path, store, 86400.0)) is None
    assert "serving without history" in caplog.text and "disk is full" in caplog.text


@pytest.mark.integration
def test_the_exporter_serves_without_history_on_a_full_disk(
    tmp_path: Path, small_disk: Path
) -> None:
    port = free_port()

    async def test() -> None:
        async with await Fleet.start(1, plugins=PLUGINS) as fleet:
            config = write_config(tmp_path, fleet, port)
            text = config.read_text().replace(
                "history: {", f"history: {{path: '{small_disk / 'history.sqlite3'}', "
            )
            config.write_text(text)
            running = await start_exporter(load_config(config, PLUGINS), PLUGINS)
            try:
                assert running.context.history is None
                url = f"http://{LOOPBACK}:{port}/metrics"
                loop = asyncio.get_running_loop()
                await until(lambda: running.context.store.fresh_reading(
                    running.context.store.get(fleet.units[0].name)) is not None, "a reading")  # type: ignore[arg-type]  # fmt: skip
                body = await loop.run_in_executor(None, fetch, url)
                assert f'c12_up{{pdu="{fleet.units[0].name}"}} 1.0' in body
            finally:
                await running.stop()

    asyncio.run(test())


def test_a_disk_that_fills_while_serving_logs_the_cause_and_writes_again_once_freed(
    tmpfs: Callable[[str], Path],
    reading_factory: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    reading = reading_factory(1000 * WH, 10.0)
    store = Store((UnitConfig("u", "127.0.0.1:9"),), staleness_s=3600)
    caplog.set_level("WARNING")

    def breaker(state: str) -> Any:
        channels = [c.with_values(channel_breaker=state) for c in reading.channels]
        return dataclasses.replace(reading, channels=tuple(channels))

    disk = tmpfs("1m")

    async def test() -> None:
        history = await History.open(disk / "history.sqlite3", store, 86400.0)
        try:
            store.record_success("u", reading, 0.01)
            await history.flush()
            assert history.write_errors == 0
            filler = fill(disk)
            for state in ("open", "closed", "open", "closed"):  # the WAL grows until full
                store.record_success("u", breaker(state), 0.01)
                await history.flush()
            assert history.write_errors >= 1
            with pytest.raises(HistoryError) as refused:  # a job's insert, on the full disk
                await history.start_job("Gala", ["u"])
            assert refused.value.status == 503 and "disk is full" in str(refused.value)
            assert "no transaction is active" not in str(refused.value)
            filler.unlink()
            store.record_success("u", breaker("open"), 0.01)
            await history.flush()
            errors = history.write_errors
            store.record_success("u", breaker("closed"), 0.01)
            await history.flush()
            assert history.write_errors == errors  # written again
        finally:
            await history.close()

    asyncio.run(test())
    failures = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(failures) == 1, failures  # once a minute, not once a poll
    assert "database or disk is full" in failures[0] and "free space" in failures[0]
    assert "no transaction is active" not in caplog.text
    assert "written again, after" in caplog.text


def test_the_rcbo_log_of_1000_units_is_kept_deflated_and_as_times_not_as_samples(
    tmp_path: Path,
) -> None:
    import gc
    import gzip
    import tracemalloc

    from prometheus_client import CollectorRegistry, generate_latest

    from c12exporter.history.metrics import HistoryCollector
    from c12exporter.prometheus.exposition import CachedExposition
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    async def scrapes() -> None:
        units = [UnitConfig(f"sim-{i:04d}", f"127.0.0.1:{2000 + i}") for i in range(1000)]
        store = Store(tuple(units), 15.0)
        history = await History.open(tmp_path / "h.sqlite3", store, 86400.0)
        try:
            history.watched_since.update(
                {(u.name, c): 1.7e9 + i for i, u in enumerate(units) for c in range(1, 13)}
            )
            registry = CollectorRegistry(auto_describe=False)
            registry.register(HistoryCollector(history))
            cached = CachedExposition(store, [registry])
            gc.collect()
            tracemalloc.start()
            try:
                before = tracemalloc.get_traced_memory()[0]
                bodies = [gzip.decompress(cached.render_gzip()) for _ in range(2)]
                gc.collect()
                held = tracemalloc.get_traced_memory()[0] - before - sum(map(len, bodies))
            finally:
                tracemalloc.stop()
            # 12,000 series: the times and the compressed family (1.0 MB); with their
            # text kept as well, 2.3 MB; kept as prometheus-client samples with a label
            # dict each, 6.4 MB
            assert held < 1.6e6, held
            text = generate_latest(registry)  # samples made when asked for
            assert bodies[0] == bodies[1] and bodies[0].endswith(text)
            line = b'c12_channel_rcbo_watched_since_timestamp_seconds{channel="12",pdu="sim-0999"}'
            assert text.count(b"\nc12_channel_rcbo_watched_since_timestamp_seconds{") == 12000
            assert line + b" 1.700000999e+09\n" in text
        finally:
            await history.close()

    asyncio.run(scrapes())


def test_the_rcbo_metrics_are_built_again_only_when_a_test_a_channel_or_the_fleet_changes(
    tmp_path: Path,
) -> None:
    from prometheus_client import generate_latest

    from c12exporter.history.metrics import HistoryCollector
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    async def scrapes() -> None:
        store = Store((UnitConfig("a", "127.0.0.1:1"), UnitConfig("b", "127.0.0.1:2")), 15.0)
        history = await History.open(tmp_path / "h.sqlite3", store, 86400.0)
        try:
            collector = HistoryCollector(history)
            history.watched_since.update({("a", 1): 100.0, ("b", 2): 200.0})
            first = list(collector.collect())
            again = list(collector.collect())  # nothing changed: the same families
            assert all(a is b for a, b in zip(first[:2], again[:2], strict=True))
            history.last_test[("a", 1)] = 300.0
            body = generate_latest(collector).decode()
            assert 'c12_channel_rcbo_last_test_timestamp_seconds{channel="1",pdu="a"} 300.0' in body
            history.last_test[("a", 1)] = 400.0  # a later pass: the same keys, a new time
            body = generate_latest(collector).decode()
            assert 'c12_channel_rcbo_last_test_timestamp_seconds{channel="1",pdu="a"} 400.0' in body
            store.reconcile((UnitConfig("a", "127.0.0.1:1"),))  # "b" leaves the fleet
            body = generate_latest(collector).decode()
            assert 'pdu="b"' not in body and 'pdu="a"' in body
        finally:
            await history.close()

    asyncio.run(scrapes())


def test_the_exporters_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """SQLite's default page cache (2,000 KiB) would fill within the hour of appending."""
    from c12exporter.store import Store

    async def cache_size() -> int:
        history = await History.open(tmp_path / "h.sqlite3", Store((), 15.0), 86400.0)
        try:
            conn = history._conn
            assert conn is not None
            return int(conn.execute("PRAGMA cache_size").fetchone()[0])
        finally:
            await history.close()

    assert asyncio.run(cache_size()) == -CACHE_KIB
