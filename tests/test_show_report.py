"""The show report: a simulated job with a power loss and an e-stop, its printable page
rendered in Debian's headless chromium (through selenium), its charts drawn from the
job's samples, and the same job as CSV and JSON."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from c12exporter.history import samples
from c12exporter.simulator.physics import Load
from tests.history_stack import PASSWORD, USER, no_tracebacks, stack, until
from tests.servers import require_tool


def new_browser(profile: Path) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = require_tool("chromium", "chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1000,1400"):  # fmt: skip
        options.add_argument(flag)
    service = Service(executable_path=require_tool("chromedriver", "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )
    return driver


def render(url: str, profile: Path) -> dict[str, Any]:
    """Open the page in chromium; what it drew, and its PDF print."""
    driver = new_browser(profile)
    try:
        driver.get(url)
        charts = driver.find_elements(By.CSS_SELECTOR, "svg")
        seen: dict[str, Any] = {
            "title": driver.title,
            "charts": [
                {
                    "label": chart.get_attribute("aria-label"),
                    "width": chart.size["width"],
                    "height": chart.size["height"],
                    "lines": len(chart.find_elements(By.CSS_SELECTOR, "polyline")),
                }
                for chart in charts
            ],
            "headings": [h.text for h in driver.find_elements(By.CSS_SELECTOR, "h2")],
            "text": driver.find_element(By.TAG_NAME, "body").text,
            "scripts": len(driver.find_elements(By.TAG_NAME, "script")),
            "screenshot": driver.get_screenshot_as_png(),
        }
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": False})
        seen["pdf"] = base64.b64decode(pdf["data"])
        return seen
    finally:
        driver.quit()


@pytest.mark.integration
def test_a_show_report_with_a_power_loss_and_an_estop_renders_in_chromium(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with stack(tmp_path, speed=60.0) as s:
            name = s.sim.name
            history = s.history
            history.sample_s = 1  # a bucket a second: 60 s of physics at this speed
            for channel in range(1, 7):
                s.sim.physics_now().set_load(channel, Load(current_a=8.0 + channel))
            await until(lambda: s.running.store.get(name).reading, "a first reading")  # type: ignore[union-attr]
            status, answer = await s.post(
                "/history/jobs", {"action": "start", "name": "Hamlet <1>", "units": [name]}
            )
            assert status == 200, answer
            await asyncio.sleep(3)
            await s.act("power_loss")
            await until(
                lambda: history.states[name].get((0, "reachable")) == "down", "the unit down"
            )
            # down for over two buckets, so at least one whole bucket has no reading
            await asyncio.sleep(2.5)
            await s.act("power_restore")
            await until(lambda: history.states[name].get((0, "reachable")) == "up", "it is back")
            await asyncio.sleep(3)
            await s.act("estop")
            await until(
                lambda: history.states[name].get((0, "emergency_stop")) == "pressed", "e-stop"
            )
            await asyncio.sleep(1.5)
            status, answer = await s.post("/history/jobs", {"action": "stop", "name": "Hamlet <1>"})
            assert status == 200, answer
            path = "/history/jobs/Hamlet%20%3C1%3E/report"
            status, kind, page = await s.request("GET", path)
            assert (status, kind) == (200, "text/html")
            seen = await asyncio.get_running_loop().run_in_executor(
                None, render, s.url + path, tmp_path / "chromium"
            )
            _, kind, as_csv = await s.request("GET", path + "?format=csv")
            assert kind == "text/csv"
            _, kind, as_json = await s.request("GET", path + "?format=json")
            assert kind == "application/json"
            status, _, _ = await s.request("GET", path + "?format=pdf")
            assert status == 400
            for garbage in ("nothing%07", "x" * 3000, "%FF%FE", "..%2F..%2Fetc"):
                status, _, _ = await s.request("GET", f"/history/jobs/{garbage}/report")
                assert status in (400, 404, 414), garbage
            status, _, _ = await s.request("POST", path, {})
            assert status == 405
        no_tracebacks(caplog)

        assert "&lt;1&gt;" in page and "<1>" not in page.split("<body>", 1)[1]  # escaped
        assert seen["title"] == "Show report: Hamlet <1>" and seen["scripts"] == 0
        charts = {c["label"]: c for c in seen["charts"]}
        assert set(charts) == {f"{name}: power", f"{name}: phase currents"}
        for chart in charts.values():
            assert chart["width"] == 760 and chart["height"] == 210
            # drawn as lines, broken where the unit could not be read
            assert chart["lines"] >= 2
        assert seen["headings"][:2] == ["Per unit", "Over time"]
        assert "Events and alarms" in seen["text"] and "RCBO tests (0)" in seen["text"]
        text = seen["text"]
        assert "reachable down" in text and "reachable up down" in text
        assert "emergency_stop pressed released" in text
        assert "switch_disconnector off on" in text
        assert seen["screenshot"][:8] == b"\x89PNG\r\n\x1a\n"
        assert seen["pdf"][:5] == b"%PDF-" and len(seen["pdf"]) > 10_000

        report = json.loads(as_json)
        assert report["units"][0]["counter_resets"] == 1  # the power loss
        rows = list(csv.DictReader(io.StringIO(as_csv)))
        assert rows[-1]["unit"] == "TOTAL"
        assert float(rows[0]["energy_kwh"]) == pytest.approx(report["total"]["energy_kwh"], 1e-3)

        with sqlite3.connect(s.db) as conn:
            stored = conn.execute(
                "SELECT count(*), min(width_s), max(current_l1_a) FROM job_samples"
            ).fetchone()
        assert stored[0] >= 6 and stored[1] == 1
        assert stored[2] >= 9.0  # channel 1 (9 A) is on L1, with channel 4 (12 A)

        code, out, err = await s.cli("job", "report", "Hamlet <1>", "--db", str(s.db),
                                     "--format", "html")  # fmt: skip
        assert code == 0 and out.count("<svg") == 2, err
        code, out, err = await s.cli("job", "report", "\x1b[31mnone", "--db", str(s.db),
                                     "--format", "html")  # fmt: skip
        assert code == 2 and "no job named '\\x1b[31mnone'" in err and out == ""
        code, _, err = await s.cli("job", "report", "x", "--db", str(s.db), "--format", "pdf")
        assert code == 2 and "invalid choice: 'pdf'" in err

    asyncio.run(test())


def test_a_long_job_keeps_a_bounded_number_of_samples(tmp_path: Path) -> None:
    """Buckets are merged in pairs when a unit's part of a job reaches the limit: a job
    of four days keeps at most a day of minutes per unit."""
    from c12exporter.history import db as history_db
    from tests.servers import simulated_reading

    conn = history_db.connect(tmp_path / "h.sqlite3")
    conn.execute("INSERT INTO jobs (id, name, started_at) VALUES (1, 'Tour', 0)")
    sampler = samples.Sampler(1, "u")
    reading = simulated_reading("C12B-12")
    start = 1_800_000_000 // 3600 * 3600
    minutes = 4 * samples.SAMPLES_MAX
    for minute in range(minutes):
        at = start + minute * 60 + 5
        current = float(minute % 100)
        phases = tuple(
            p.__class__(p.phase, {**p.values, "current": current}) for p in reading.phases
        )
        taken = reading.with_values(active_power=1000.0 + minute)
        taken = taken.__class__(**{**taken.__dict__, "taken_at": at, "phases": phases})
        for sql, params in sampler.add(taken):
            conn.execute(sql, params)
    for sql, params in sampler.flush():
        conn.execute(sql, params)
    count, widths, peak = conn.execute(
        "SELECT count(*), group_concat(DISTINCT width_s), max(current_l1_a) FROM job_samples"
    ).fetchone()
    # 1,440 minute rows became 720 of 2 minutes, which grew to 1,440 again and became 720
    # of 4 minutes, and at the end 720 of 8 minutes: between half the limit and the limit
    assert (count, widths) == (samples.SAMPLES_MAX // 2, "480")
    assert peak == 99.0  # maxima survive the merges
    rows = samples.sample_rows(conn, 1)
    mean = sum(float(r["active_power_w"]) for r in rows) / len(rows)  # type: ignore[arg-type]
    assert mean == pytest.approx(1000.0 + (minutes - 1) / 2, rel=1e-3)
    conn.close()
