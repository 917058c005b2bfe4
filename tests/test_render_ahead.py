"""Units rendered just before a scrape on a schedule is due: the schedule seen from the
arrivals (one scraper, an HA pair, none), and an exporter reading the simulator over TCP,
scraped over HTTP on a schedule and off one."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.plugins import load_plugins
from c12exporter.prometheus.cadence import ScrapeCadence
from c12exporter.simulator.server import Fleet
from tests.servers import LOOPBACK, free_port, units_yaml

PLUGINS = load_plugins(entry_points=False)
UNITS = 4


def cadence(arrivals: Sequence[float]) -> ScrapeCadence:
    c = ScrapeCadence()
    for at in arrivals:
        c.scraped(at)
    return c


def next_at(c: ScrapeCadence) -> float | None:
    """When the next scrape is due, without the period."""
    found = c.next_scrape()
    return None if found is None else found[0]


def test_one_scraper_is_due_a_period_after_its_last_scrape() -> None:
    c = cadence([100.0, 115.0, 130.02, 144.98])
    assert c.period() == (1, pytest.approx(14.98, abs=0.05))
    assert next_at(c) == pytest.approx(159.96, abs=0.05)


def test_an_ha_pair_is_told_apart_and_the_other_server_is_due_next() -> None:
    # Two Prometheus servers, both every 15 s, 4 s apart.
    c = cadence([0.0, 4.0, 15.0, 19.0, 30.0, 34.0])
    assert c.period() == (2, 15.0)
    assert next_at(c) == 45.0


def test_no_schedule_no_time() -> None:
    assert next_at(cadence([])) is None
    assert next_at(cadence([10.0, 25.0])) is None  # one period: not yet a schedule
    assert next_at(cadence([0.0, 0.3, 1.7, 2.2, 4.2, 4.4])) is None  # by hand
    assert next_at(cadence([0.0, 15.0, 30.0, 41.0])) is None  # the pace changed
    assert next_at(cadence([0.0, 0.5, 1.0, 1.5])) is None  # too fast to be worth it


def test_a_changed_pace_is_followed_once_it_repeats() -> None:
    c = cadence([0.0, 15.0, 30.0, 40.0, 50.0])
    assert next_at(c) == 60.0


def get_gzip(port: int) -> bytes:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Encoding") == "gzip"
        return gzip.decompress(response.read())
    finally:
        conn.close()


def values(text: str, metric: str) -> dict[str, float]:
    """``labels -> value`` of ``metric``'s samples."""
    return {
        m[1]: float(m[2]) for m in re.finditer(rf"^{metric}\{{(.*)\}} (\S+)$", text, re.MULTILINE)
    }


def scraped(tmp_path: Path, gaps: Sequence[float]) -> str:
    """Scrapes, ``gaps`` apart, of an exporter polling the simulator every second; every
    body checked; the last one's text."""
    port = free_port()

    async def test() -> str:
        async with await Fleet.start(UNITS, plugins=PLUGINS) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                "poll: {interval: 1s, timeout: 1s}\n"
                + units_yaml(u.address for u in fleet.units)
                + f"state_dir: {tmp_path}/state\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            loop = asyncio.get_running_loop()
            try:
                await asyncio.sleep(1.5)  # a poll of every unit
                start, text = time.monotonic(), ""
                for at in [0.0, *(sum(gaps[: i + 1]) for i in range(len(gaps)))]:
                    await asyncio.sleep(max(0.0, start + at - time.monotonic()))
                    text = (await loop.run_in_executor(None, get_gzip, port)).decode()
                    up = values(text, "c12_up")
                    assert len(up) == UNITS and set(up.values()) == {1.0}, text
                return text
            finally:
                await running.stop()

    return asyncio.run(test())


@pytest.mark.integration
def test_units_are_rendered_ahead_of_scrapes_on_a_schedule_once_per_reading(
    tmp_path: Path,
) -> None:
    text = scraped(tmp_path, [1.2] * 6)
    renders = values(text, "c12_metrics_unit_renders_total")
    # Seen after the third scrape: the units were rendered ahead of the fourth on.
    assert renders.get('when="ahead"', 0) >= 2, renders
    # Every render was of a new poll (or a unit's first state): at most one per reading.
    polls = sum(values(text, "c12_polls_total").values())
    assert sum(renders.values()) <= polls + UNITS, (renders, polls)


@pytest.mark.integration
def test_scrapes_off_a_schedule_render_only_while_they_wait(tmp_path: Path) -> None:
    text = scraped(tmp_path, [0.3, 1.4, 0.5, 2.0, 0.2])
    renders = values(text, "c12_metrics_unit_renders_total")
    assert 'when="ahead"' not in renders and renders['when="scrape"'] >= UNITS, renders
