"""The console's event timeline from the history database, over HTTP with the real
exporter against the simulator: JSON and the HTML fragment, filters, bounds, and clear
400s for query strings it cannot use."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from c12exporter.config import load_config
from c12exporter.console.timeline import MAX_LIMIT, BadQuery, Query, fragment, parse_query, what
from c12exporter.exporter import start_exporter
from c12exporter.plugins import load_plugins
from c12exporter.simulator import apply_action
from c12exporter.simulator.server import Fleet
from tests.servers import LOOPBACK, free_port, units_yaml
from tests.test_acks import fetch

PLUGINS = load_plugins(entry_points=False)


def checked(**query: str) -> Query:
    return parse_query(query, dict.fromkeys(query, 1), 1_000_000.0)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "since: 'yesterday' is neither a time"),
        ({"since": "1h", "until": "2h"}, "since: must not be later than until"),
        ({"limit": "0"}, "limit: '0' must be a whole number from 1 to 1000"),
        ({"limit": "1001"}, "limit: '1001' must be a whole number"),
        ({"limit": "-5"}, "limit: '-5' must be"),
        ({"limit": "1e3"}, "limit: '1e3' must be"),
        ({"format": "xml"}, "format: 'xml' must be json or html"),
        ({"unit": "u1\x00"}, "unit: control characters are not allowed"),
        ({"unit": "u" * 500}, "unit: longer than 200 characters"),
        ({"drop": "table"}, "unknown parameter 'drop'"),
    ],
)
def test_query_strings_it_cannot_use_are_named(query: dict[str, str], message: str) -> None:
    with pytest.raises(BadQuery, match=message.replace("(", r"\(")):
        checked(**query)


def test_a_repeated_parameter_is_refused() -> None:
    with pytest.raises(BadQuery, match="unit: given 2 times; give it once"):
        parse_query({"unit": "a"}, {"unit": 2}, 0.0)


def test_good_queries() -> None:
    assert checked() == Query(None, None, None, 100, "json")
    assert checked(unit="u1", since="2h", until="now", limit="5", format="html") == Query(
        "u1", 1_000_000.0 - 7200, 1_000_000.0, 5, "html"
    )
    assert (
        checked(since="1700000000.5").since == 1700000000.5
    )  # epoch seconds, as the page has them


def test_events_in_words_and_the_fragment_escapes_what_it_shows() -> None:
    def event(kind: str, state: str, channel: int | None = None, **more: Any) -> dict[str, Any]:
        return {"time": 100.0, "unit": "u1", "channel": channel, "kind": kind, "state": state,
                "previous": "x", "detail": "", **more}  # fmt: skip

    assert what(event("breaker", "open", 3)) == "breaker 3 open"
    assert what(event("emergency_stop", "pressed")) == "e-stop pressed"
    assert what(event("supervision", "below", 4)) == "channel 4 below its band"
    assert what(event("reachable", "down")) == "unreachable"
    assert what(event("neutral", "ok", previous=None)) == "neutral back (first recorded)"
    assert what(event("supply_check", "passed")) == "supply check passed"  # a kind added later
    hostile = event("reachable", "down", unit="<script>", detail="<img src=x onerror=alert(1)>")
    html = fragment([hostile], False, Query(None, None, None, 1, "html"))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and 'class="alarm"' in html
    assert "No events" in fragment([], False, Query(None, None, None, 1, "html"))


@pytest.mark.integration
def test_the_timeline_over_http(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"

    async def test() -> None:
        async with await Fleet.start(2, plugins=PLUGINS, models=("C12B-12",)) as fleet:
            config_file = tmp_path / "c12.yml"
            config_file.write_text(
                units_yaml(u.address for u in fleet.units) + "poll: {interval: 1s, timeout: 0.5s}\n"
                f"state_dir: {tmp_path}/state\n"
                f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
            )
            running = await start_exporter(load_config(config_file, PLUGINS), PLUGINS)
            try:

                async def timeline(**query: str) -> tuple[int, str]:
                    return await fetch(f"{base}/console/timeline?{urllib.parse.urlencode(query)}")

                async def events(**query: str) -> list[dict[str, Any]]:
                    status, text = await timeline(**query)
                    assert status == 200, text
                    return list(json.loads(text)["events"])

                deadline = time.monotonic() + 15
                while not await events(unit="u1"):  # the baselines of the first poll
                    assert time.monotonic() < deadline, "no events recorded"
                    await asyncio.sleep(0.2)
                started = time.time()
                await apply_action(fleet.units[0], {"action": "rcbo_test", "channel": 3})
                await apply_action(fleet.units[0], {"action": "estop"})
                while True:
                    recent = await events(unit="u1", since=str(started - 0.5))
                    said = [e["what"] for e in recent]
                    if "e-stop pressed" in said and "breaker 3 open" in said:
                        break
                    assert time.monotonic() < deadline, f"events not recorded: {said}"
                    await asyncio.sleep(0.2)
                assert all(e["unit"] == "u1" for e in recent)
                assert [e["time"] for e in recent] == sorted(
                    (e["time"] for e in recent), reverse=True
                )
                breaker = next(e for e in recent if e["what"] == "breaker 3 open")
                assert (breaker["channel"], breaker["kind"], breaker["previous"]) == (
                    3, "breaker", "closed"
                )  # fmt: skip
                assert all(e["unit"] == "u2" for e in await events(unit="u2"))
                assert await events(unit="u1", until=str(started - 3600)) == []

                status, text = await timeline(limit="1")
                assert status == 200 and len(json.loads(text)["events"]) == 1
                assert json.loads(text)["truncated"] is True

                status, page = await timeline(unit="u1", since=str(started - 0.5), format="html")
                assert status == 200 and page.startswith('<section class="timeline">')
                assert "e-stop pressed" in page and "breaker 3 open" in page

                for query, message in (
                    ("since=last%20tuesday", "since: 'last tuesday' is neither a time"),
                    (f"limit={MAX_LIMIT + 1}", "limit: '1001' must be a whole number"),
                    ("unit=a&unit=b", "unit: given 2 times"),
                    ("unit=%00", "control characters"),
                    ("%ff=1", "unknown parameter"),
                ):
                    status, text = await fetch(f"{base}/console/timeline?{query}")
                    assert status == 400 and message in json.loads(text)["message"], text
            finally:
                await running.stop()

    asyncio.run(test())
