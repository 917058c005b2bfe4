"""The console as the crew meets it, at 200 units, in a real browser (Debian's chromium,
headless, through selenium) against the simulator and ``c12exporter serve`` over real
sockets: faults far down the fleet on the first screen of a laptop and of a phone with what
is wrong, no sideways scrolling, a DOM that grows with the page and not the fleet,
axe-core's accessibility rules, and an acknowledgement that survives a restart.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from axe_selenium_python import Axe
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.servers import (
    LOOPBACK,
    SimulatorControl,
    c12exporter_command,
    free_port,
    process,
    simulator,
    wait_until,
)
from tests.test_console_browser import answers, new_browser

pytestmark = pytest.mark.integration

UNITS = 200
ESTOP, BREAKER = "sim-190", "sim-199"
"""Units far down the list by name, where nobody would scroll to."""
PASSWORD = "front-of-house"
EDITOR = "chief"
LAPTOP = (1280, 800)
PHONE = (390, 844)


@dataclass
class Fleet:
    control: SimulatorControl
    url: str
    driver: WebDriver
    restart: Any  # () -> None: stop the exporter and start it again on the same port

    def view(self, size: tuple[int, int], path: str = "/") -> None:
        """Open ``path`` at ``size`` (a phone is emulated as one: touch, device pixels)."""
        width, height = size
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2 if width < 600 else 1,
             "mobile": width < 600},
        )  # fmt: skip
        self.driver.get(self.url + path)
        wait_until(lambda: self.js("return document.body.dataset.conn") == "live", 15, "live")

    def js(self, script: str, *args: object) -> Any:
        return self.driver.execute_script(script, *args)

    def on_first_screen(self, css: str) -> list[str]:
        """The texts of the elements matching ``css`` that are wholly on the first screen
        (and not hidden)."""
        return list(
            self.js(
                """return Array.from(document.querySelectorAll(arguments[0])).filter(e => {
                    const r = e.getBoundingClientRect();
                    return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight
                        && r.left >= 0 && r.right <= innerWidth;
                }).map(e => e.innerText);""",
                css,
            )
        )

    def no_sideways_scrolling(self) -> None:
        width, inner = self.js("return [document.scrollingElement.scrollWidth, innerWidth]")
        assert width <= inner, (width, inner)


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        control, units_file = stack.enter_context(simulator(tmp, UNITS))
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
        (tmp / "web.yml").write_text(f"basic_auth_users:\n  {EDITOR}: '{hashed}'\n")
        port = free_port()
        config = tmp / "c12exporter.yml"
        config.write_text(
            f"units_files: [{units_file.name}]\n"
            "poll: {interval: 2s, timeout: 1s}\n"
            f"state_dir: {tmp / 'state'}\n"
            f"web: {{config_file: {tmp / 'web.yml'}}}\n"
            "console: {writes_enabled: true}\n"
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

        def restart() -> None:
            running[-1].close()
            start()

        start()
        stack.callback(lambda: running[-1].close())
        driver = new_browser(str(tmp / "profile"))
        stack.callback(driver.quit)
        auth = base64.b64encode(f"{EDITOR}:{PASSWORD}".encode()).decode()
        driver.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {auth}"}}
        )
        control.act(ESTOP, "estop")
        control.act(BREAKER, "rcbo_test", channel=3)
        yield Fleet(control, url, driver, restart)


@pytest.mark.parametrize("size", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_faults_far_down_the_fleet_are_on_the_first_screen_with_what_is_wrong(
    fleet: Fleet, size: tuple[int, int]
) -> None:
    fleet.view(size)

    def seen() -> str:
        return "\n".join(fleet.on_first_screen("#problems li"))

    wait_until(lambda: "e-stop pressed" in seen() and "breaker 3 open" in seen(), 10,
               "both faults on the first screen")  # fmt: skip
    lines = seen().splitlines()
    assert any(ESTOP in line for line in lines) and any(BREAKER in line for line in lines)
    # the fleet itself: sorted worst first, so both units lead it with their words
    first = fleet.js(
        "return Array.from(document.querySelectorAll('#fleet-body tr[data-unit]'))"
        ".slice(0, 2).map(r => r.dataset.unit + ': ' + r.innerText)"
    )
    assert {row.split(":")[0] for row in first} == {ESTOP, BREAKER}, first
    assert any("e-stop pressed" in row for row in first)
    assert any("breaker 3 open" in row for row in first)
    assert fleet.js("return document.title").startswith("(")
    assert fleet.js("return document.getElementById('favicon').href").startswith("data:image/svg")
    fleet.no_sideways_scrolling()


def test_a_unit_is_its_own_screen_on_a_phone_with_back_and_a_dialog_that_fits(
    fleet: Fleet,
) -> None:
    fleet.view(PHONE, f"/?unit={BREAKER}")
    fleet.no_sideways_scrolling()
    assert [text.split()[-1] for text in fleet.on_first_screen("a.back")] == ["Fleet"]
    assert fleet.js("return getComputedStyle(document.getElementById('fleet')).display") == "none"
    # the channels start on the first or second screen, not 7,000 px down
    top = fleet.js("return document.getElementById('pane-d').getBoundingClientRect().top")
    assert top < 2 * PHONE[1], top
    fleet.driver.find_element(By.CSS_SELECTOR, '[data-edit="band"][data-channel="3"]').click()
    box = fleet.js("return document.getElementById('edit').getBoundingClientRect().toJSON()")
    assert box["left"] >= 0 and box["right"] <= PHONE[0] and box["bottom"] <= PHONE[1], box
    what = fleet.driver.find_element(By.ID, "edit-what").text
    assert "channel 3" in what and " of its 16 A rating" in what
    fleet.driver.find_element(By.ID, "edit-cancel").click()
    fleet.js("window.scrollTo(0, 0)")
    fleet.driver.find_element(By.CSS_SELECTOR, "a.back").click()
    wait_until(lambda: fleet.js("return document.body.dataset.view") == "fleet", 10, "back")
    fleet.no_sideways_scrolling()


def test_the_page_grows_with_the_screen_not_with_the_fleet(fleet: Fleet) -> None:
    fleet.view(LAPTOP)
    nodes = fleet.js("return document.getElementsByTagName('*').length")
    rows = fleet.js("return document.querySelectorAll('#fleet-body tr[data-unit]').length")
    assert rows == 40 and nodes < 2500, (rows, nodes)
    assert "1 to 40 of 200" in fleet.driver.find_element(By.CSS_SELECTOR, ".pager").text
    fleet.view(LAPTOP, "/?view=tiles")
    assert fleet.js("return document.querySelectorAll('.tiles li[data-unit]').length") == UNITS
    states = fleet.js(
        "return Array.from(document.querySelectorAll('.tiles li[data-unit]'))"
        ".slice(0, 2).map(t => t.dataset.state)"
    )
    assert states == ["alarm", "alarm"]
    # the status header says how the fleet is sorted
    fleet.view(LAPTOP)
    sort = fleet.driver.find_element(By.CSS_SELECTOR, "th.c-status").get_attribute("aria-sort")
    assert sort == "descending"


def test_only_new_problems_are_announced_not_the_clock(fleet: Fleet) -> None:
    fleet.view(LAPTOP)
    fleet.js("window.sameDocument = true")
    live = fleet.js(
        "return Array.from(document.querySelectorAll('[aria-live]:not([aria-live=\"off\"])'))"
        ".map(e => e.id)"
    )
    assert live == ["announce"]
    assert (
        fleet.js("return document.querySelectorAll('[aria-live=\"polite\"] [data-at]').length") == 0
    )
    assert fleet.driver.find_element(By.ID, "announce").get_attribute("textContent") == ""
    fleet.control.act("sim-150", "neutral_lose")
    try:
        script = "return document.getElementById('announce').textContent"
        wait_until(lambda: "sim-150" in str(fleet.js(script)), 10, "announced")
        assert "neutral lost" in fleet.js(script)
        # the fleet sorted again, live: the new alarm leads it, its row moved, not reloaded
        first = "return document.querySelector('#fleet-body tr[data-unit]').dataset.unit"
        wait_until(lambda: fleet.js(first) == "sim-150", 10, "sim-150 first in the fleet")
        assert (
            "neutral lost"
            in fleet.driver.find_element(
                By.CSS_SELECTOR, 'tr[data-unit="sim-150"] [data-k="status"]'
            ).text
        )
        assert fleet.js("return window.sameDocument") is True
    finally:
        fleet.control.act("sim-150", "neutral_restore")


@pytest.mark.parametrize(
    ("size", "path"),
    [(LAPTOP, "/"), (PHONE, "/"), (LAPTOP, f"/?unit={ESTOP}"), (PHONE, f"/?unit={BREAKER}")],
    ids=["laptop-fleet", "phone-fleet", "laptop-unit", "phone-unit"],
)
def test_axe_core_finds_no_serious_accessibility_violation(
    fleet: Fleet, size: tuple[int, int], path: str
) -> None:
    fleet.view(size, path)
    axe = Axe(fleet.driver)
    axe.inject()
    results = axe.run()
    serious = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    assert results["passes"], "axe ran its rules"


def test_an_acknowledgement_survives_a_restart(fleet: Fleet) -> None:
    fleet.view(LAPTOP)
    item = f'#problems li[data-id="{ESTOP}/estop"]'
    wait_until(lambda: fleet.driver.find_elements(By.CSS_SELECTOR, f"{item} button.ack"), 10,
               "an acknowledge button")  # fmt: skip
    assert fleet.js("return document.body.dataset.unacked") == "1"  # the flashing edge
    fleet.driver.find_element(By.CSS_SELECTOR, f"{item} button.ack").click()
    wait_until(lambda: fleet.js(f"return document.querySelector('{item}').dataset.acked") == "1",
               10, "acknowledged")  # fmt: skip
    assert f"acknowledged by {EDITOR}" in fleet.driver.find_element(By.CSS_SELECTOR, item).text
    fleet.restart()
    fleet.view(LAPTOP)
    wait_until(lambda: fleet.driver.find_elements(By.CSS_SELECTOR, item), 15, "the e-stop again")
    assert fleet.js(f"return document.querySelector('{item}').dataset.acked") == "1"
    assert f"acknowledged by {EDITOR}" in fleet.driver.find_element(By.CSS_SELECTOR, item).text
