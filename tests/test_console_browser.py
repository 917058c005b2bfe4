"""The fleet console in a real browser (Debian's chromium, headless, through selenium)
against the simulator and the exporter as users run them, over real sockets.

One browser session and one exporter serve the whole module; each test leaves the units
as it found them. Basic auth is sent on every request of the page (the page's own
fetches and event stream included) through the DevTools protocol.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from c12exporter.console.handlers import FLUSH_S
from tests.servers import (
    LOOPBACK,
    SimulatorControl,
    c12exporter_command,
    free_port,
    http_get,
    process,
    require_tool,
    simulator,
    wait_until,
)
from tests.snmp_harness import MIB_OPTIONS, snmp_env

pytestmark = pytest.mark.integration

UNITS = 4
POLL_S = 1.0
PASSWORD = "backstage"
EDITOR, VIEWER = "editor", "viewer"
COMMUNITY = "console-test"


@dataclass
class Stack:
    tmp: Path
    control: SimulatorControl
    url: str
    snmp_port: int
    driver: WebDriver
    stop: object  # () -> None: stop the exporter
    start: object  # () -> None: start it again on the same port

    def basic(self, user: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()

    def as_user(self, user: str) -> None:
        self.driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": self.basic(user)}}
        )

    def get(self, path: str) -> str:
        request = urllib.request.Request(self.url + path)
        request.add_header("Authorization", self.basic(EDITOR))
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(response.read().decode())

    def open(self, unit: str, user: str = EDITOR, query: str = "sort=name") -> None:
        self.as_user(user)
        self.driver.get(f"{self.url}/?{query}&unit={unit}")
        wait_until(lambda: self.text("#live").startswith("live"), 10, "the live stream")

    def text(self, css: str) -> str:
        try:
            return str(self.driver.find_element(By.CSS_SELECTOR, css).text)
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def content(self, css: str) -> str:
        """The text of an element, shown or not (e.g. inside a closed disclosure)."""
        try:
            element = self.driver.find_element(By.CSS_SELECTOR, css)
            return str(element.get_attribute("textContent"))
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def cell(self, unit: str, key: str) -> str:
        return self.text(f'tr[data-unit="{unit}"] [data-k="{key}"]')

    def state(self, unit: str) -> str:
        """The severity of the unit's row: ok, warn, down or alarm."""
        try:
            row = self.driver.find_element(By.CSS_SELECTOR, f'tr[data-unit="{unit}"]')
            return str(row.get_attribute("data-state"))
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def snmp_walk(self, column: str) -> dict[str, str]:
        """``{index: value}`` of a C12-PDU-MIB column, from net-snmp's snmpwalk."""
        result = subprocess.run(
            [require_tool("snmpwalk", "snmp"), *MIB_OPTIONS, "-OqeUt", "-v2c", "-c", COMMUNITY,
             f"{LOOPBACK}:{self.snmp_port}", f"C12-PDU-MIB::{column}"],
            capture_output=True, text=True, timeout=30, check=False, env=snmp_env(self.tmp),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        values = {}
        for line in result.stdout.splitlines():
            oid, _, value = line.partition(" ")
            values[oid.split(".", 1)[1]] = value.strip().strip('"')
        return values


def answers(url: str) -> bool:
    """The server answers HTTP (401 included: every route is behind basic auth)."""
    try:
        http_get(url)
    except urllib.error.HTTPError as error:
        return error.code == 401
    return True


def new_browser(profile: str) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = require_tool("chromium", "chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(flag)
    service = Service(executable_path=require_tool("chromedriver", "chromium-driver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.execute_cdp_cmd("Network.enable", {})
    return driver


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        control, units_file = stack.enter_context(simulator(tmp, UNITS, "--scenario", "concert"))
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (tmp / "web.yml").write_text(
            f"basic_auth_users:\n  {EDITOR}: '{hashed}'\n  {VIEWER}: '{hashed}'\n"
        )
        port, snmp_port = free_port(), free_port()
        config = tmp / "c12exporter.yml"
        config.write_text(
            f"units_files: [{units_file.name}]\n"
            f"poll: {{interval: {POLL_S}s, timeout: 1s}}\n"
            f"state_dir: {tmp / 'state'}\n"
            f"web: {{config_file: {tmp / 'web.yml'}}}\n"
            f"snmp: {{listen_address: '{LOOPBACK}:{snmp_port}', community: {COMMUNITY}}}\n"
            f"console: {{writes_enabled: true, editors: [{EDITOR}]}}\n"
        )
        command = c12exporter_command(
            "serve", "--config.file", str(config), f"--web.listen-address={LOOPBACK}:{port}"
        )
        url = f"http://{LOOPBACK}:{port}"
        running: list[ExitStack] = []

        def start() -> None:
            inner = ExitStack()
            inner.enter_context(process(command, tmp / f"exporter-{len(running)}.log"))
            running.append(inner)
            wait_until(lambda: answers(f"{url}/-/healthy"), 30, "exporter ready")

        def stop() -> None:
            running[-1].close()

        start()
        stack.callback(lambda: running[-1].close())
        # Chromium's helpers may still write the profile after quit() returns: a directory
        # of its own, removed after quit() as far as it can be.
        profile = stack.enter_context(tempfile.TemporaryDirectory(ignore_cleanup_errors=True))
        driver = new_browser(profile)
        stack.callback(driver.quit)
        yield Stack(tmp, control, url, snmp_port, driver, stop, start)


def sample(metrics: str, metric: str, **labels: str) -> dict[str, str]:
    """The labels (and ``value``) of the one sample of ``metric`` with ``labels``."""
    found = []
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{metric}\{{(.*)\}} (\S+)", line)
        if match:
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[1]))
            if all(got.get(k) == v for k, v in labels.items()):
                found.append({**got, "value": match[2]})
    assert len(found) == 1, (metric, labels, found)
    return found[0]


def settings_of(stack: Stack, unit: str) -> dict[str, object]:
    """The settings as the unit's registers hold them (the simulator's decoding)."""
    return dict(stack.control.unit(unit)["meter"]["settings"])


def edit(stack: Stack, selector: str, **fields: str) -> str:
    """Open an edit dialog with its button, fill it, save; the dialog's message or ''."""
    driver = stack.driver
    driver.find_element(By.CSS_SELECTOR, selector).click()
    for element_id, value in fields.items():
        box = driver.find_element(By.ID, element_id)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.ID, "edit-save").click()

    def settled() -> str | None:
        if not driver.find_element(By.ID, "edit").get_attribute("open"):
            return "closed"
        error = stack.text("#edit-error")
        return error if error and not error.startswith("Writing") else None

    outcome = wait_until(settled, 10, "the edit to finish")
    if outcome == "closed":
        return ""
    driver.find_element(By.ID, "edit-cancel").click()
    return str(outcome)


def test_the_page_lists_every_unit_and_lays_out_channels_by_connector(stack: Stack) -> None:
    stack.open("sim-01")
    rows = stack.driver.find_elements(By.CSS_SELECTOR, "#fleet-table tbody tr")
    assert [r.get_attribute("data-unit") for r in rows] == [
        f"sim-{n:02d}" for n in range(1, UNITS + 1)
    ]
    wait_until(lambda: all(stack.state(f"sim-{n:02d}") not in ("", "down")
                           for n in range(1, UNITS + 1)), 10, "every unit read")  # fmt: skip
    assert re.fullmatch(r"\d+\.\d A", stack.cell("sim-01", "L1"))
    assert re.fullmatch(r"\d+ s ago", stack.text('tr[data-unit="sim-01"] [data-a="age"]'))
    # sim-01 is a C12B-12: two Socapex connectors of six channels; sim-02 a C12B-51: 12 True1
    connectors = stack.driver.find_elements(By.CSS_SELECTOR, "#pane-d section.connector")
    assert [len(c.find_elements(By.CSS_SELECTOR, "li.ch")) for c in connectors] == [6, 6]
    # pane D comes right under the status, the meter behind a disclosure in plain words
    order = stack.driver.execute_script(
        "return Array.from(document.querySelectorAll('#unit > *')).map(e => e.id || e.className)"
    )
    assert order.index("pane-d") < order.index("meter")
    meter = stack.driver.find_element(By.ID, "meter")
    assert meter.tag_name == "details" and not meter.get_attribute("open")
    assert "Voltage" in meter.get_attribute("textContent")
    assert "c12_" not in meter.get_attribute("textContent")
    stack.open("sim-02")
    connectors = stack.driver.find_elements(By.CSS_SELECTOR, "#pane-d section.connector")
    assert len(connectors) == 12
    assert "Neutrik True1" in connectors[0].text
    assert stack.content('[data-k="d.model"]') == "C12B-51"


def test_an_emergency_stop_shows_within_one_poll_interval(stack: Stack) -> None:
    stack.open("sim-03")
    assert "e-stop" not in stack.cell("sim-03", "status")
    stack.control.act("sim-03", "estop")
    try:
        started = time.monotonic()
        wait_until(lambda: "e-stop pressed" in stack.cell("sim-03", "status"), 10,
                   "e-stop shown", step=0.05)  # fmt: skip
        elapsed = time.monotonic() - started
        assert stack.state("sim-03") == "alarm" and stack.cell("sim-03", "sev") == "Alarm"
        wait_until(lambda: "e-stop pressed" in stack.text("#unit-problems"), 5, "in the unit")
        assert "Twist the e-stop" in stack.text("#unit-problems .advice")
        assert "sim-03" in stack.text("#problems") and "e-stop pressed" in stack.text("#problems")
        assert stack.text('[data-k="d.emergency_stop"]') == "pressed"
    finally:
        stack.control.act("sim-03", "estop_release")
        stack.control.act("sim-03", "switch_on")
    # the next poll is at most one interval away; the page's batching and delivery add
    # FLUSH_S and a margin for a loaded machine
    assert elapsed <= POLL_S + FLUSH_S + 1.0, elapsed


def test_the_events_of_an_alarm_open_in_the_console_filtered_by_unit(stack: Stack) -> None:
    stack.open("sim-03")
    stack.control.act("sim-03", "estop")
    try:
        link = '#problems li[data-id="sim-03/estop"] a.log'
        wait_until(lambda: stack.driver.find_elements(By.CSS_SELECTOR, link), 10, "the alarm")
        stack.driver.find_element(By.CSS_SELECTOR, link).click()
        wait_until(lambda: "<table" in stack.content("#events-body") or "<table" in str(
            stack.driver.execute_script("return document.getElementById('events-body').innerHTML")
        ), 10, "the timeline")  # fmt: skip
        assert stack.driver.execute_script("return document.body.dataset.view") == "events"
        assert stack.driver.find_element(By.NAME, "of").get_attribute("value") == "sim-03"
        wait_until(lambda: "e-stop" in stack.text("#events-body").lower(), 10, "the e-stop event")
        others = [u for u in ("sim-01", "sim-02", "sim-04") if u in stack.text("#events-body")]
        assert others == []
    finally:
        stack.control.act("sim-03", "estop_release")
        stack.control.act("sim-03", "switch_on")


def test_a_killed_unit_shows_down_with_its_reason_and_no_numbers(stack: Stack) -> None:
    stack.open("sim-04")
    model = stack.content('[data-k="d.model"]')
    stack.control.act("sim-04", "network", mode="kill")
    try:
        wait_until(lambda: stack.state("sim-04") == "down", 10, "down")
        assert stack.cell("sim-04", "status").startswith("unreachable for")
        for key in ("L1", "L2", "L3", "N", "power"):
            assert stack.cell("sim-04", key) == "", key
        # it keeps its last-known identity; one line of reason, the raw error behind it
        assert stack.text('[data-k="d.status"]') == "Down"
        assert (
            stack.driver.find_element(By.CSS_SELECTOR, '[data-k="d.model"]').get_attribute(
                "textContent"
            )
            == model
        )
        raw = stack.driver.find_element(By.CSS_SELECTOR, '[data-k="d.reason"]')
        assert "connect" in str(raw.get_attribute("textContent"))
        assert stack.driver.find_elements(By.CSS_SELECTOR, '[data-k="c.1.current"]') == []
    finally:
        stack.control.act("sim-04", "network", mode="normal")
    wait_until(lambda: stack.state("sim-04") not in ("down", ""), 20, "up again")
    wait_until(lambda: stack.text('[data-k="c.1.current"]').endswith(" A"), 10, "values again")


def test_renames_and_a_band_set_in_the_page_reach_the_unit_metrics_and_snmp(
    stack: Stack,
) -> None:
    stack.open("sim-02")
    name = "FOH rack ü"
    assert edit(stack, '[data-edit="channel_name"][data-channel="3"]', **{
        "edit-name-input": name}) == ""  # fmt: skip
    assert edit(stack, '[data-edit="band"][data-channel="3"]',
                **{"edit-min": "0.5", "edit-max": "12.25"}) == ""  # fmt: skip
    assert edit(stack, '[data-edit="unit_name"]', **{"edit-name-input": "Stage left"}) == ""
    assert "now" in stack.text("#msg")
    held = settings_of(stack, "sim-02")
    assert held["channel_name"][2] == name  # type: ignore[index]
    assert held["supervision_min"][2] == 0.5  # type: ignore[index]
    assert held["supervision_max"][2] == 12.25  # type: ignore[index]
    assert held["unit_name"] == "Stage left"
    assert stack.text('[data-k="c.3.name"]') == name
    assert stack.text('[data-k="c.3.band"]') == "0.5 … 12.25 A"
    assert stack.cell("sim-02", "stored") == "Stage left"
    metrics = stack.get("/metrics")
    assert sample(metrics, "c12_channel_info", pdu="sim-02", channel="3")["name"] == name
    assert sample(metrics, "c12_channel_supervision_max_amperes", pdu="sim-02",
                  channel="3")["value"] == "12.25"  # fmt: skip
    assert sample(metrics, "c12_unit_info", pdu="sim-02")["name"] == "Stage left"
    index = next(i for i, v in stack.snmp_walk("c12UnitName").items() if v == "sim-02")
    assert stack.snmp_walk("c12UnitStoredName")[index] == "Stage left"
    assert stack.snmp_walk("c12ChannelName")[f"{index}.3"] == name
    assert stack.snmp_walk("c12ChannelSupervisionMax")[f"{index}.3"] == "12.250"  # DISPLAY-HINT d-3
    # back as it was
    assert edit(stack, '[data-edit="band"][data-channel="3"]',
                **{"edit-min": "", "edit-max": ""}) == ""  # fmt: skip
    assert settings_of(stack, "sim-02")["supervision_max"][2] is None  # type: ignore[index]


def test_a_band_violation_raises_the_warning_triangle(stack: Stack) -> None:
    stack.open("sim-01")
    loaded = next(
        n for n in range(1, 13)
        if float(stack.text(f'[data-k="c.{n}.current"]').split()[0]) > 1.0
    )  # fmt: skip
    words = f"channel {loaded} above its band"
    assert words not in stack.cell("sim-01", "status")
    assert edit(stack, f'[data-edit="band"][data-channel="{loaded}"]',
                **{"edit-min": "0", "edit-max": "0.5"}) == ""  # fmt: skip
    try:
        wait_until(lambda: words in stack.cell("sim-01", "status"), 5, "the band warning")
        band = stack.driver.find_element(By.CSS_SELECTOR, f'[data-k="c.{loaded}.band"]')
        wait_until(lambda: band.get_attribute("data-state") == "warn", 5, "the band marked")
        assert words in stack.text(f'[data-k="c.{loaded}.problem"]')
    finally:
        assert edit(stack, f'[data-edit="band"][data-channel="{loaded}"]',
                    **{"edit-min": "", "edit-max": ""}) == ""  # fmt: skip
    wait_until(lambda: words not in stack.cell("sim-01", "status"), 5, "the warning cleared")


def post_from_page(stack: Stack, unit: str, body: str) -> dict[str, object]:
    """A write as the page's own script sends it (same origin, header, token)."""
    return dict(stack.driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const body = JSON.parse(arguments[1]);
        body.token = document.body.dataset.token;
        fetch("console/units/" + arguments[0] + "/settings", {method: "POST",
          headers: {"Content-Type": "application/json", "X-C12-Console": "1"},
          body: JSON.stringify(body)})
        .then(r => r.json().then(j => done({status: r.status, ...j})));""",
        unit, body,
    ))  # fmt: skip


def test_a_read_only_user_cannot_edit(stack: Stack) -> None:
    stack.open("sim-02", user=VIEWER)
    try:
        assert "not one of the editors" in stack.text("#mode")
        assert stack.driver.find_elements(By.CSS_SELECTOR, "button[data-edit]") == []
        before = settings_of(stack, "sim-02")
        answer = post_from_page(
            stack, "sim-02", '{"field": "channel_name", "channel": 1, "value": "hijack"}'
        )
        assert answer["status"] == 403 and "not one of the editors" in str(answer["message"])
        assert settings_of(stack, "sim-02") == before
    finally:
        stack.as_user(EDITOR)


def test_a_refused_write_says_why_and_changes_nothing(stack: Stack) -> None:
    stack.open("sim-03")
    before = settings_of(stack, "sim-03")
    message = edit(stack, '[data-edit="band"][data-channel="4"]',
                   **{"edit-min": "5", "edit-max": "3"})  # fmt: skip
    assert "minimum 5 A must be below maximum 3 A" in message
    message = edit(stack, '[data-edit="band"][data-channel="4"]',
                   **{"edit-min": "1.005", "edit-max": "3"})  # fmt: skip
    assert "steps of 0.01 A (e.g. 1.00 or 1.01)" in message and "register" not in message
    message = edit(stack, '[data-edit="channel_name"][data-channel="4"]',
                   **{"edit-name-input": "   "})  # fmt: skip
    assert "only spaces" in message
    message = edit(stack, '[data-edit="channel_name"][data-channel="4"]',
                   **{"edit-name-input": "Überbühnenlicht"})  # fmt: skip
    assert "15 characters take 17 bytes" in message and "at most 16 bytes" in message
    # the dialog counts bytes as they are typed
    stack.driver.find_element(
        By.CSS_SELECTOR, '[data-edit="channel_name"][data-channel="4"]'
    ).click()
    box = stack.driver.find_element(By.ID, "edit-name-input")
    box.clear()
    box.send_keys("Überbühne")
    assert stack.text("#edit-bytes").startswith("11 of 16 bytes")
    box.send_keys("nlicht")
    assert stack.text("#edit-bytes").startswith("17 of 16 bytes: too long")
    stack.driver.find_element(By.ID, "edit-cancel").click()
    assert settings_of(stack, "sim-03") == before
    assert stack.text('[data-k="c.4.band"]') == "no band"


def test_a_job_is_started_and_stopped_in_the_jobs_pane(stack: Stack) -> None:
    stack.open("sim-02", VIEWER)
    assert stack.text("#jobs") and not stack.driver.find_elements(By.ID, "job-start")
    stack.open("sim-02")
    driver = stack.driver
    assert driver.find_elements(By.CSS_SELECTOR, '#job-start input[type="checkbox"]') == []
    driver.find_element(By.CSS_SELECTOR, '#job-start input[name="name"]').send_keys("Load-in")
    driver.find_element(By.CSS_SELECTOR, '#job-start input[name="units"]').send_keys("sim-02")
    driver.find_element(By.CSS_SELECTOR, '#job-start button[type="submit"]').click()
    wait_until(lambda: "running" in stack.text("#jobs-table"), 10, "the job running")
    assert "Load-in" in stack.text("#jobs-table") and "sim-02" in stack.text("#jobs-table")
    driver.find_element(By.CSS_SELECTOR, '[data-job-stop="Load-in"]').click()
    wait_until(lambda: "stopped" in stack.text("#jobs-table"), 10, "the job stopped")
    job = json.loads(stack.get("/history/jobs/Load-in"))
    assert [u["unit"] for u in job["units"]] == ["sim-02"] and job["stopped_at"] is not None
    driver.find_element(By.CSS_SELECTOR, '#job-start input[name="name"]').send_keys("Load-in")
    driver.find_element(By.CSS_SELECTOR, '#job-start button[type="submit"]').click()
    wait_until(lambda: "units: give at least one unit" in stack.text("#msg"), 10, "no units")
    driver.find_element(By.CSS_SELECTOR, '#job-start input[name="units"]').send_keys("nosuch*")
    driver.find_element(By.CSS_SELECTOR, '#job-start button[type="submit"]').click()
    wait_until(lambda: "'nosuch*' matches no unit" in stack.text("#msg"), 10, "no match")
    units = driver.find_element(By.CSS_SELECTOR, '#job-start input[name="units"]')
    units.clear()
    units.send_keys("sim-0*")  # a pattern picks the units
    driver.find_element(By.CSS_SELECTOR, '#job-start button[type="submit"]').click()
    wait_until(lambda: "a job of that name exists" in stack.text("#msg"), 10, "the name taken")


def test_the_page_recovers_by_itself_after_the_exporter_restarts(stack: Stack) -> None:
    stack.open("sim-01")
    stack.driver.execute_script("window.sameDocument = true;")
    stop, start = stack.stop, stack.start
    assert callable(stop) and callable(start)
    stopped = time.monotonic()
    stop()
    # the page says so within 2 s, greyed, with the time the connection was lost
    wait_until(lambda: stack.driver.execute_script("return document.body.dataset.conn") == "lost",
               2.0, "the page greyed", step=0.05)  # fmt: skip
    assert time.monotonic() - stopped <= 2.0
    assert stack.text("#lost").startswith("Connection lost at")
    assert stack.driver.execute_script(
        "return getComputedStyle(document.querySelector('main')).filter"
    ).startswith("grayscale")
    start()
    wait_until(lambda: stack.driver.execute_script("return document.body.dataset.conn") == "live",
               15, "the stream back")  # fmt: skip
    assert not stack.driver.find_element(By.ID, "lost").is_displayed()
    stack.control.act("sim-01", "neutral_lose")
    try:
        wait_until(lambda: "neutral lost" in stack.cell("sim-01", "status"), 10, "a new value")
    finally:
        stack.control.act("sim-01", "neutral_restore")
    assert stack.driver.execute_script("return window.sameDocument") is True
