"""The fleet console without a browser: its config, edit checks, CSRF and access rules over
HTTP against the simulator, the breaker curve and phase balance."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from c12exporter.balance import reading_unbalance as phase_balance
from c12exporter.config import load_config
from c12exporter.console.handlers import EditRefused, check_name, parse_edit
from c12exporter.console.plugin import ConsoleExposer
from c12exporter.console.view import detail_cells, trips
from c12exporter.exporter import start_exporter
from c12exporter.forecast import TripForecast
from c12exporter.plugins import load_plugins
from c12exporter.reading import ChannelSettings, PhaseReading, Reading, UnitSettings
from c12exporter.settings import ConfigError, UnitConfig
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store
from tests.servers import LOOPBACK, free_port, simulated_reading

PLUGINS = load_plugins(entry_points=False)
PASSWORD = "secret"


# --- config ---------------------------------------------------------------------------------


def test_the_console_section_is_read_only_by_default_and_checked() -> None:
    exposer = ConsoleExposer()
    settings = exposer.parse_config({}, "c12.yml: console")
    assert not settings.writes_enabled and settings.editors is None
    with pytest.raises(ConfigError, match=r"console\.writes_enabled: 'yes' must be true or false"):
        exposer.parse_config({"writes_enabled": "yes"}, "c12.yml: console")
    with pytest.raises(ConfigError, match=r"console\.editors: must be a list"):
        exposer.parse_config({"editors": "alice"}, "c12.yml: console")
    with pytest.raises(ConfigError, match="unknown key"):
        exposer.parse_config({"writes": True}, "c12.yml: console")


# --- edits, checked before anything is written ------------------------------------------------


@pytest.fixture(scope="module")
def reading() -> Reading:
    return simulated_reading("C12B-13")


def refused(body: dict[str, Any], reading: Reading) -> str:
    with pytest.raises(EditRefused) as caught:
        parse_edit(body, reading)
    return str(caught.value)


def test_edits_are_checked_with_a_message_naming_the_field(reading: Reading) -> None:
    assert parse_edit({"field": "unit_name", "value": " Stage left "}, reading)[0] == (
        UnitSettings("Stage left")
    )
    change = parse_edit({"field": "band", "channel": 2, "min": "0,5", "max": "10"}, reading)[0]
    assert change == ChannelSettings(2, min_a=0.5, max_a=10.0)
    cleared = parse_edit({"field": "band", "channel": 2, "min": "", "max": ""}, reading)[0]
    assert cleared == ChannelSettings(2, min_a=None, max_a=None)
    assert "17 bytes" in refused({"field": "unit_name", "value": "x" * 17}, reading)
    assert "control characters" in refused(
        {"field": "channel_name", "channel": 1, "value": "a\tb"}, reading
    )
    assert "must be below maximum" in refused(
        {"field": "band", "channel": 1, "min": "4", "max": "4"}, reading
    )
    assert "above the channel's 16 A rating" in refused(
        {"field": "band", "channel": 1, "min": "", "max": "17"}, reading
    )
    assert "must be 0 A or more" in refused(
        {"field": "band", "channel": 1, "min": "-1", "max": ""}, reading
    )
    assert "not a number" in refused(
        {"field": "band", "channel": 1, "min": "a", "max": ""}, reading
    )
    assert "not a channel" in refused(
        {"field": "channel_name", "channel": 13, "value": "x"}, reading
    )
    assert "must be unit_name" in refused({"field": "colour"}, reading)
    assert "only spaces" in refused({"field": "unit_name", "value": "   "}, reading)
    assert parse_edit({"field": "unit_name", "value": ""}, reading)[0] == UnitSettings("")
    message = refused({"field": "band", "channel": 1, "min": "1.005", "max": ""}, reading)
    assert "steps of 0.01 A (e.g. 1.00 or 1.01)" in message
    assert "register" not in message and ".." not in message


def test_names_count_bytes_not_characters() -> None:
    assert check_name("ÜÜÜÜÜÜÜÜ", "name") == "ÜÜÜÜÜÜÜÜ"  # 8 characters, 16 bytes
    with pytest.raises(EditRefused, match="9 characters take 18 bytes"):
        check_name("ÜÜÜÜÜÜÜÜÜ", "name")


# --- breaker curve and balance ------------------------------------------------------------------


def test_the_trip_panel_shows_the_forecast_not_a_cold_curve(reading: Reading) -> None:
    """Channel 1 at 2 x In: 80 s from cold on the curve; 40 s later half of it is left."""
    curve = reading.model.breaker
    store = Store((UnitConfig("u", "127.0.0.1:1"),), staleness_s=1e9)
    forecast = TripForecast(store)
    state = store.get("u")
    assert state is not None

    def at(taken_at: float, current_a: float) -> Reading:
        channels = (
            reading.channels[0].with_values(channel_current=current_a),
            *reading.channels[1:],
        )
        return Reading(reading.unit, reading.identity, reading.model, taken_at, reading.values,
                       reading.phases, channels)  # fmt: skip

    first = at(1000.0, 32.0)
    store.record_success("u", first, 0.01)
    assert trips(forecast, first) == {1: pytest.approx(curve.trip_time_s(2.0))}
    cells = detail_cells(state, first, [], trips(forecast, first))
    assert cells.t["c.1.trip"] == "trips in 1:20"
    assert (cells.t["d.trip"], cells.t["d.trip.what"]) == ("1:20", "Channel 1 (LED wall 1)")
    later = at(1040.0, 32.0)
    store.record_success("u", later, 0.01)
    cells = detail_cells(state, later, [], trips(forecast, later))
    assert cells.t["c.1.trip"] == "trips in 0:40" and cells.t["d.trip"] == "0:40"
    assert cells.t["c.2.trip"] == ""
    assert trips(None, later) == {}


def test_phase_balance_is_the_nema_definition(reading: Reading) -> None:
    def with_currents(*amperes: float) -> Reading:
        phases = tuple(
            PhaseReading(p.phase, {**p.values, "current": a})
            for p, a in zip(reading.phases, amperes, strict=True)
        )
        return Reading(reading.unit, reading.identity, reading.model, 0.0, reading.values,
                       phases, reading.channels)  # fmt: skip

    assert phase_balance(with_currents(10.0, 10.0, 10.0)) == 0.0
    assert phase_balance(with_currents(12.0, 9.0, 9.0)) == pytest.approx(2.0 / 10.0)
    assert phase_balance(with_currents(0.2, 0.1, 0.0)) is None  # too little to tell


# --- over HTTP: access and CSRF -------------------------------------------------------------------


def request(url: str, user: str | None, body: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:  # fmt: skip
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    if user is not None:
        token = base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def token_of(page: str) -> str:
    return page.split('data-token="', 1)[1].split('"', 1)[0]


@pytest.mark.integration
def test_writes_need_an_editor_and_a_same_origin_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  ed: '{hashed}'\n  vi: '{hashed}'\n")
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"

    async def test() -> None:
        async with await Fleet.start(1, plugins=PLUGINS, models=("C12B-12",)) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                f"units: [{{name: u1, address: '{fleet.units[0].address}'}}]\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}', config_file: {tmp_path}/web.yml}}\n"
                "console: {writes_enabled: true, editors: [ed]}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            loop = asyncio.get_running_loop()
            try:
                status, page = await loop.run_in_executor(None, request, base + "/", "ed")
                assert status == 200 and "Signed in as ed" in page
                # plumbing is out of the crew's way: on the integrations page, not the header
                assert 'href="metrics"' not in page and "-/healthy" not in page
                status, plumbing = await loop.run_in_executor(
                    None, request, base + "/console/integrations", "ed"
                )
                assert status == 200
                assert 'href="../metrics"' in plumbing and 'href="../-/healthy"' in plumbing
                assert "c12_current_amperes" in plumbing and "c12LineCurrent" in plumbing
                good = {"Content-Type": "application/json", "X-C12-Console": "1"}
                body = {"field": "channel_name", "channel": 2, "value": "Sub L",
                        "token": token_of(page)}  # fmt: skip
                url = base + "/console/units/u1/settings"

                async def post(user: str, headers: dict[str, str], **extra: Any) -> tuple[int, str]:
                    return await loop.run_in_executor(
                        None, request, url, user, {**body, **extra}, headers
                    )

                status, text = await post("ed", {**good, "Origin": "http://evil.example"})
                assert status == 403 and "another origin" in text
                status, text = await post("ed", {**good, "Sec-Fetch-Site": "cross-site"})
                assert status == 403 and "cross-site" in text
                status, text = await post("ed", {"Content-Type": "application/json"})
                assert status == 403 and "X-C12-Console" in text
                status, text = await post("ed", good, token="0" * 32)
                assert status == 403 and "reload the page" in text
                status, viewer_page = await loop.run_in_executor(None, request, base + "/", "vi")
                assert "vi may look but not change (not one of the editors" in viewer_page
                assert "data-edit=" not in viewer_page
                status, text = await post("vi", good, token=token_of(viewer_page))
                assert status == 403 and "not one of the editors" in text
                assert fleet.units[0].physics.settings()["channel_name"][1] != "Sub L"
                with caplog.at_level(logging.INFO, logger="c12exporter.console.handlers"):
                    status, text = await post("ed", {**good, "Origin": base,
                                                      "Sec-Fetch-Site": "same-origin"})  # fmt: skip
                assert status == 200, text
                assert fleet.units[0].physics.settings()["channel_name"][1] == "Sub L"
                assert any(
                    "console edit by ed: unit u1, channel 2 name:" in r.getMessage()
                    and "'Sub L'" in r.getMessage()
                    for r in caplog.records
                )
            finally:
                await running.stop()

    asyncio.run(test())


@pytest.mark.integration
def test_without_writes_enabled_the_page_is_read_only_and_says_why(tmp_path: Path) -> None:
    port = free_port()

    async def test() -> None:
        async with await Fleet.start(1, plugins=PLUGINS) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                f"units: [{{name: u1, address: '{fleet.units[0].address}'}}]\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            loop = asyncio.get_running_loop()
            try:
                base = f"http://{LOOPBACK}:{port}"
                _, page = await loop.run_in_executor(None, request, base + "/", None)
                assert "View only: changing names and bands is switched off" in page
                assert "(console: writes_enabled: false in its config)" in page
                status, text = await loop.run_in_executor(
                    None, request, base + "/console/units/u1/settings", None,
                    {"field": "unit_name", "value": "x", "token": token_of(page)},
                    {"Content-Type": "application/json", "X-C12-Console": "1"},
                )  # fmt: skip
                assert status == 403 and "switched off" in text
                for asset in ("console.css", "console.js", "favicon.svg"):
                    status, _ = await loop.run_in_executor(
                        None, request, f"{base}/console/static/{asset}", None
                    )
                    assert status == 200
                await loop.run_in_executor(None, assets_are_cacheable, base)
            finally:
                await running.stop()

    asyncio.run(test())


def assets_are_cacheable(base: str) -> None:
    """The assets may be kept (a day, then checked by their ETag), unlike the live page."""
    with urllib.request.urlopen(f"{base}/console/static/console.js", timeout=10) as cached:
        assert "max-age" in cached.headers["Cache-Control"]
        assert "no-store" not in cached.headers["Cache-Control"]
        etag = cached.headers["ETag"]
    again = urllib.request.Request(
        f"{base}/console/static/console.js", headers={"If-None-Match": etag}
    )
    with pytest.raises(urllib.error.HTTPError) as not_modified:
        urllib.request.urlopen(again, timeout=10)
    with not_modified.value:
        assert not_modified.value.code == 304


def test_a_band_fixed_by_the_config_file_offers_no_edit(reading: Reading) -> None:
    from c12exporter.console.page import channels
    from c12exporter.reading import SupervisionBand
    from c12exporter.settings import UnitConfig
    from c12exporter.store import UnitState

    state = UnitState(
        UnitConfig("u", "127.0.0.1:1502", supervision={3: SupervisionBand(0.5, 12.0)}),
        reading=reading,
    )
    html = channels(detail_cells(state, reading, []), reading, "u", True, frozenset({3}))
    rows = {n: html.split(f'data-channel="{n}" data-s=')[1].split("</li>")[0] for n in (2, 3)}
    assert "(set in the config file)" in rows[3] and 'data-edit="band"' not in rows[3]
    assert "(set in the config file)" not in rows[2] and 'data-edit="band"' in rows[2]


def test_fleet_totals_leave_out_a_stopped_meter_instead_of_adding_zeros(reading: Reading) -> None:
    from c12exporter.console.view import row_cells, totals_cells
    from c12exporter.settings import UnitConfig
    from c12exporter.store import Store

    units = (UnitConfig("a", "127.0.0.1:1"), UnitConfig("b", "127.0.0.1:2"))
    store = Store(units, staleness_s=60.0)
    stopped = Reading(
        "b", reading.identity, reading.model, 0.0,
        {**reading.values, "neutral_current": None, "active_power": None},
        tuple(PhaseReading(p.phase, dict.fromkeys(p.values)) for p in reading.phases),
        reading.channels,
    )  # fmt: skip
    store.record_success("a", reading, 0.1)
    store.record_success("b", stopped, 0.1)
    totals = totals_cells(store, [], now=1.0).t
    assert totals["f.count"] == "2 units: 2 read, 2 without a problem"
    power = reading.values["active_power"]
    assert isinstance(power, float | int)
    # unit a's alone, and the stopped meter said
    assert totals["f.power"] == f"{power / 1000:.2f} kW (1 with the meter stopped, not counted)"
    row = row_cells(store.get("b"), stopped, []).t  # type: ignore[arg-type]
    assert row["L1"] == row["N"] == row["power"] == ""


@pytest.mark.integration
def test_an_anonymous_view_lets_anyone_look_but_not_change(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  ed: '{hashed}'\n")
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"

    async def test(anonymous: bool) -> None:
        async with await Fleet.start(1, plugins=PLUGINS) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                f"units: [{{name: u1, address: '{fleet.units[0].address}'}}]\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}', config_file: {tmp_path}/web.yml}}\n"
                f"console: {{writes_enabled: true, anonymous_view: {str(anonymous).lower()}}}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            loop = asyncio.get_running_loop()

            async def get(path: str, user: str | None = None) -> tuple[int, str]:
                return await loop.run_in_executor(None, request, base + path, user)

            try:
                status, page = await get("/")
                if not anonymous:
                    assert status == 401
                    return
                assert status == 200 and 'href="console/signin">Sign in' in page
                assert "View only: sign in" in page and "data-edit=" not in page
                assert (await get("/console/static/console.css"))[0] == 200
                assert (await get("/console/problems"))[0] == 200
                assert (await get("/metrics"))[0] == 401  # only the console is open
                assert (await get("/console/signin"))[0] == 401  # asks the browser
                status, page = await get("/", "ed")
                assert status == 200 and "Signed in as ed" in page and "Sign in<" not in page
                status, _text = await loop.run_in_executor(
                    None, request, base + "/console/units/u1/settings", None,
                    {"field": "unit_name", "value": "x", "token": token_of(page)},
                    {"Content-Type": "application/json", "X-C12-Console": "1"},
                )  # fmt: skip
                assert status == 401
            finally:
                await running.stop()

    asyncio.run(test(anonymous=True))
    asyncio.run(test(anonymous=False))
    with pytest.raises(ConfigError, match=r"console\.anonymous_view: 'yes' must be true or false"):
        ConsoleExposer().parse_config({"anonymous_view": "yes"}, "c12.yml: console")


def test_the_rows_and_bars_show_what_the_board_says(reading: Reading) -> None:
    """A neutral over the input's rating is the board's alarm, and so is its bar; every
    problem of the unit is in its row, worst first, in the board's words."""
    from c12exporter.console.view import row_cells, status
    from c12exporter.problems import Problem, Severity
    from c12exporter.store import UnitState

    state = UnitState(UnitConfig("u", "127.0.0.1:1"), reading=reading)
    problems = [
        Problem("u", "breaker.3", Severity.ALARM, "breaker 3 open", 10.0, channel=3),
        Problem("u", "input.N", Severity.ALARM, "neutral 64 A over the 63 A input", 20.0),
        Problem("u", "overload.5", Severity.WARNING, "channel 5 over rating", 30.0, channel=5),
    ]
    cells = row_cells(state, reading, problems)
    assert cells.s["N"] == "alarm" and cells.s["L1"] == cells.s["L2"] == "ok"
    assert cells.s["status"] == "alarm" and cells.t["sev"] == "Alarm"
    assert cells.t["status"] == (
        "breaker 3 open; neutral 64 A over the 63 A input; channel 5 over rating"
    )
    assert status([]) == ("OK", "ok")
    detail = detail_cells(state, reading, problems)
    assert detail.s["c.3.breaker"] == "alarm" and detail.s["c.5."] == "warn"
    assert detail.t["c.3.problem"] == "breaker 3 open" and detail.s["d.N"] == "alarm"


def test_a_unit_down_since_before_a_restart_keeps_the_identity_the_board_kept(
    reading: Reading,
) -> None:
    from c12exporter.console.view import row_cells
    from c12exporter.store import UnitState

    state = UnitState(UnitConfig("u", "127.0.0.1:1"))  # never read since the start
    cells = detail_cells(state, None, [], identity=reading.identity)
    assert cells.t["d.model"] == reading.identity.model
    assert cells.t["d.serial"] == reading.identity.serial and cells.s["d.up"] == "down"
    row = row_cells(state, None, [], identity=reading.identity)
    assert row.t["model"] == reading.identity.model and row.t["L1"] == ""


def test_the_meter_shows_the_derived_values_the_catalogue_declares(reading: Reading) -> None:
    """Every unit series the catalogue gives a reading function and a display is in the
    meter pane under its label, formatted by its declaration."""
    from c12exporter import catalogue
    from c12exporter.console.page import meter
    from c12exporter.store import UnitState

    cells = detail_cells(UnitState(UnitConfig("u", "127.0.0.1:1"), reading=reading), reading, [])
    html = meter(cells, reading)
    shown = {d.name for d in catalogue.DERIVED if d.of is not None and d.display is not None}
    assert {"phase_unbalance", "voltage_unbalance", "input_rating"} <= shown
    for name in shown:
        series = catalogue.DERIVED_BY_NAME[name]
        assert series.of is not None
        assert cells.t[f"m.{name}"] == series.show(series.of(reading))
        value = f'<span data-k="m.{name}">{cells.t[f"m.{name}"]}</span>'
        assert f"<dt>{series.label}</dt><dd>{value}</dd>" in html, name
    assert cells.t["m.input_rating"] == "63.0 A"
