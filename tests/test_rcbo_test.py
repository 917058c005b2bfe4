"""RCBO test sessions against the simulator over loopback: the command prompts channel by
channel while the test presses T buttons through the simulator's control interface; the
record, its CSV and printable HTML; trips and hand switching are never tests; garbage is
refused with a clear message."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from c12exporter.history import rcbo_session
from c12exporter.reading import Reading
from tests.history_stack import Stack, no_tracebacks, stack, until
from tests.servers import simulated_reading

FAILING = 7
"""The channel whose T button "does nothing" in the session test: it is never pressed."""
TIMEOUT_S = 5.0


class Cells(HTMLParser):
    """The text of every table row of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def prompted(s: Stack) -> int | None:
    session = s.history.sessions.get(s.sim.name)
    return None if session is None else session.channel


async def press_when_prompted(s: Stack, channel: int) -> None:
    """Wait for the prompt of ``channel`` (the channel armed: seen closed and live), press
    its T button, wait for the session to take it, and switch the breaker back on."""
    await until(
        lambda: prompted(s) == channel and s.history.sessions[s.sim.name].armed,
        f"the prompt of channel {channel}",
    )
    await s.act("rcbo_test", channel=channel)
    await until(lambda: prompted(s) != channel, f"channel {channel} decided")
    await s.act("rcbo_reset", channel=channel)


@pytest.mark.integration
def test_a_session_of_twelve_channels_with_one_failing_yields_its_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with stack(tmp_path, speed=0.0) as s:
            name = s.sim.name
            await until(lambda: s.running.store.get(name).reading, "a first reading")  # type: ignore[union-attr]
            command = asyncio.ensure_future(
                s.cli("rcbo-test", name, "--tester", "A. Smith", "--timeout", str(TIMEOUT_S),
                      "--url", s.url, "--user", "ops")
            )  # fmt: skip
            for channel in range(1, 13):
                if channel == FAILING:
                    await until(lambda: prompted(s) == FAILING, "the failing channel's prompt")
                    await until(lambda: prompted(s) != FAILING, "its time limit", TIMEOUT_S + 5)
                else:
                    await press_when_prompted(s, channel)
            code, out, err = await asyncio.wait_for(command, 15)
            assert code == 1, err  # not every channel passed
            # the command shows the prompts it sees (it asks twice a second; this tester is
            # quicker than that) and every result
            assert "channel 1: press T on channel 1" in out
            assert f"channel {FAILING}: press T on channel {FAILING}" in out
            assert f"channel {FAILING}: FAIL (did not open within 5 s)" in out
            assert out.count(": PASS (opened at") == 11
            session_id = int(out.split("RCBO test session ", 1)[1].split(" ", 1)[0])

            status, kind, page = await s.request("GET", f"/history/rcbo-tests/{session_id}/record")
            assert (status, kind) == (200, "text/html")
            status, kind, text = await s.request(
                "GET", f"/history/rcbo-tests?session={session_id}&format=csv"
            )
            assert (status, kind) == (200, "text/csv")
            status, kind, listing = await s.request(
                "GET", f"/history/rcbo-tests?unit={name}&format=html"
            )
            assert (status, kind) == (200, "text/html") and "12 records" in listing
            assert listing.count('<td class="pass">pass</td>') == 11
            status, _, metrics = await s.request("GET", "/metrics")
            serial = s.sim.serial
        no_tracebacks(caplog)

        rows = list(csv.DictReader(io.StringIO(text)))
        assert [int(r["channel"]) for r in rows] == list(range(1, 13))
        assert {r["unit"] for r in rows} == {name} and {r["serial"] for r in rows} == {serial}
        assert {r["tester"] for r in rows} == {"A. Smith"}
        results = {int(r["channel"]): r["result"] for r in rows}
        assert results == {c: "fail" if c == FAILING else "pass" for c in range(1, 13)}

        parser = Cells()
        parser.feed(page)
        facts = {row[0]: row[1] for row in parser.rows if len(row) == 2}
        assert facts["unit"] == name and facts["serial number"] == serial
        assert facts["tester"] == "A. Smith" and facts["session"] == str(session_id)
        table = [row for row in parser.rows if len(row) == 4 and row[0].isdigit()]
        assert [(int(r[0]), r[1]) for r in table] == sorted(results.items())
        assert "11 passed, 1 failed, 0 not tested" in page
        assert "stop using that output" in page and "<script" not in page

        # only passed tests reach the overdue alert's metric and the due list
        tested = [line for line in metrics.splitlines()
                  if line.startswith("c12_channel_rcbo_last_test_timestamp_seconds{")]  # fmt: skip
        assert len(tested) == 11 and not any(f'channel="{FAILING}"' in t for t in tested)
        code, out, err = await s.cli("rcbo-log", "--db", str(s.db), "--due", "--format", "json")
        assert code == 0, err
        due = {row["channel"]: row for row in json.loads(out)}
        assert due[FAILING]["last_test_at"] is None and due[FAILING]["last_result"] == "fail"
        assert due[1]["last_test_at"] is not None and due[1]["last_result"] == "pass"
        code, out, err = await s.cli("rcbo-record", str(session_id), "--db", str(s.db))
        assert code == 0 and "11 passed, 1 failed" in out, err
        code, out, err = await s.cli("rcbo-log", "--db", str(s.db), "--tests", "--format", "csv")
        assert code == 0 and out.count(",pass,A. Smith,") == 11, err

    asyncio.run(test())


@pytest.mark.integration
def test_a_hand_switch_and_an_overcurrent_trip_are_not_tests(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with stack(tmp_path, speed=10.0) as s:
            name = s.sim.name
            history = s.history

            def breaker(channel: int) -> str | None:
                return history.states.get(name, {}).get((channel, "breaker"))

            async def cycle_by_hand(channel: int) -> None:
                await s.act("rcbo_off", channel=channel)
                await until(lambda: breaker(channel) == "open", f"channel {channel} open")
                await s.act("rcbo_reset", channel=channel)
                await until(lambda: breaker(channel) == "closed", f"channel {channel} closed")

            await until(lambda: breaker(3) == "closed", "a first reading")
            await cycle_by_hand(3)  # outside any session
            status, answer = await s.post(
                "/history/rcbo-tests",
                {"action": "start", "unit": name, "tester": "B", "timeout_s": 5,
                 "channels": [1, 2]},
            )  # fmt: skip
            assert status == 200, answer
            session = answer["session"]["session"]
            await until(lambda: prompted(s) == 1, "the prompt of channel 1")
            await cycle_by_hand(5)  # during the session, not the prompted channel
            # channel 1 prompted: an overload (3 x 16 A trips after 20 s of physics, 2 s here)
            await s.act("set_load", channel=1, current_a=48.0)
            await until(lambda: breaker(1) == "open", "the overload trip", 15)
            await s.act("set_load", channel=1, current_a=0.0)
            status, _, text = await s.request("GET", f"/history/rcbo-tests/{session}")
            note = json.loads(text)["prompt"]
            assert note["channel"] == 1 and "opened on overcurrent" in note["message"]
            await until(lambda: prompted(s) == 2, "channel 1's time limit", 10)
            await press_when_prompted(s, 2)  # the session itself works
            await until(lambda: name not in history.sessions, "the end of the session")
            await s.act("rcbo_reset", channel=1)
            await until(lambda: breaker(1) == "closed", "channel 1 closed again")
            await history.flush()
            _, _, metrics = await s.request("GET", "/metrics")
        no_tracebacks(caplog)

        tested = [set(line.split("{", 1)[1].split("}")[0].split(","))
                  for line in metrics.splitlines()
                  if line.startswith("c12_channel_rcbo_last_test_timestamp_seconds{")]  # fmt: skip
        assert tested == [{f'pdu="{name}"', 'channel="2"'}]
        code, out, err = await s.cli("rcbo-log", "--db", str(s.db), "--format", "json")
        assert code == 0, err
        log = json.loads(out)
        causes = {(r["channel"], r["cause"]) for r in log if r["event"] == "rcbo_cycle"}
        assert causes == {(3, "off"), (5, "off"), (1, "overcurrent"), (2, "test")}
        tests = {(r["channel"], r["event"]) for r in log if r["event"].startswith("rcbo_test")}
        assert tests == {(1, "rcbo_test not_tested"), (2, "rcbo_test pass")}
        code, out, err = await s.cli("rcbo-log", "--db", str(s.db), "--due", "--format", "json")
        due = {row["channel"]: row["last_test_at"] for row in json.loads(out)}
        assert [c for c, at in due.items() if at is not None] == [2]

    asyncio.run(test())


@pytest.mark.integration
def test_garbage_to_the_session_routes_and_command_is_refused_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with stack(tmp_path, speed=0.0) as s:
            name = s.sim.name
            await until(lambda: s.running.store.get(name).reading, "a first reading")  # type: ignore[union-attr]
            start = {"action": "start", "unit": name, "tester": "C"}
            refusals = [
                ({**start, "tester": "x" * 65}, 400, "tester"),
                ({**start, "tester": "bell\x07"}, 400, "tester"),
                ({**start, "tester": 5}, 400, "tester"),
                ({**start, "unit": "nowhere"}, 404, "unit"),
                ({**start, "unit": "u" * 5000}, 400, "unit"),
                ({**start, "timeout_s": "soon"}, 400, "timeout_s"),
                ({**start, "timeout_s": 1e9}, 400, "timeout_s"),
                ({**start, "channels": [0, 13]}, 400, "channels"),
                ({**start, "channels": [1, 1]}, 400, "channels"),
                ({**start, "action": "explode"}, 400, "action"),
                ({"action": "stop", "unit": name}, 409, "unit"),
                ([1, 2], 400, "body"),
            ]
            for body, status, field in refusals:
                got, answer = await s.post("/history/rcbo-tests", body)
                assert (got, answer["field"]) == (status, field), (body, answer)
                assert answer["message"] and answer["ok"] is False
            assert s.history.sessions == {}  # nothing started
            got, _, text = await s.request(
                "POST", "/history/rcbo-tests", start, {"Content-Type": "application/json"}
            )
            assert got == 403 and "X-C12-History" in text
            got, _, text = await s.request(
                "POST", "/history/rcbo-tests", None,
                {"Content-Type": "application/json", "X-C12-History": "1"}, raw=b"{not json",
            )  # fmt: skip
            assert got == 400 and "not JSON" in text
            got, _, _ = await s.request("POST", "/history/rcbo-tests", start, user=None)
            assert got == 401
            for path, status in (
                ("/history/rcbo-tests/abc", 404),
                ("/history/rcbo-tests/999999", 404),
                ("/history/rcbo-tests/999999/record", 404),
                ("/history/rcbo-tests?format=xml", 400),
                ("/history/rcbo-tests?since=yesterday", 400),
                ("/history/rcbo-tests?unit=%07%08", 400),
                ("/history/rcbo-tests?session=1;DROP", 400),
                ("/history/rcbo-tests?unit=" + "x" * 300, 400),
            ):
                got, _, _ = await s.request("GET", path)
                assert got == status, path
            got, _, _ = await s.request("PUT", "/history/rcbo-tests", {})
            assert got == 405
            code, _, err = await s.cli("rcbo-test", "nowhere", "--tester", "C", "--url", s.url,
                                       "--user", "ops")  # fmt: skip
            assert code == 2 and "'nowhere' is not in the fleet" in err
            code, _, err = await s.cli("rcbo-test", name, "--tester", "C", "--channels", "1,x",
                                       "--url", s.url, "--user", "ops")  # fmt: skip
            assert code == 2 and "--channels: '1,x' is not a list" in err
            code, _, err = await s.cli("rcbo-test", name, "--tester", "\x1b[2J", "--url", s.url,
                                       "--user", "ops")  # fmt: skip
            assert code == 2 and "tester: give 1 to 64 printable" in err
            code, _, err = await s.cli("rcbo-test", name, "--tester", "C", "--timeout", "1",
                                       "--url", s.url, "--user", "ops")  # fmt: skip
            assert code == 2 and "5 to 3600" in err
            code, _, err = await s.cli("rcbo-log", "--db", str(s.db), "--session", "-1")
            assert code == 2 and "not a session number" in err
            code, _, err = await s.cli("rcbo-record", "12x", "--db", str(s.db))
            assert code == 2 and "not a session number" in err
            code, _, err = await s.cli("rcbo-record", "42", "--db", str(s.db))
            assert code == 2 and "no RCBO test session 42" in err
            code, _, err = await s.cli("rcbo-test", name, "--tester", "C", "--url",
                                       "http://127.0.0.1:9", "--user", "ops")  # fmt: skip
            assert code == 2 and "cannot reach the exporter" in err
        no_tracebacks(caplog)

    asyncio.run(test())


@pytest.mark.integration
def test_a_t_press_on_a_breaker_still_hot_from_an_overload_is_not_a_test(tmp_path: Path) -> None:
    """5 x 16 A for 3 of the 5 s it takes to trip, then 10 A: the current is within the
    rating, but the trip forecast's heat is about 0.6, so the opening is an overload's."""

    async def test() -> None:
        async with stack(tmp_path, speed=1.0) as s:
            name = s.sim.name
            history = s.history
            await until(lambda: history.last_reading.get(name), "a first reading")
            status, answer = await s.post(
                "/history/rcbo-tests",
                {"action": "start", "unit": name, "tester": "D", "timeout_s": 30, "channels": [4]},
            )
            assert status == 200, answer
            await until(lambda: history.sessions[name].armed, "channel 4 armed")
            await s.act("set_load", channel=4, current_a=80.0)
            await asyncio.sleep(3.0)
            await s.act("set_load", channel=4, current_a=10.0)
            await until(lambda: history.last_reading[name].channels[3].current_a < 16, "10 A")
            heat = history.hot[name][4]
            assert 0.5 <= heat < 1.0
            await s.act("rcbo_test", channel=4)
            await until(lambda: "overcurrent" in history.sessions[name].prompt(), "the note")
            prompt = history.sessions[name].prompt()
            note = re.search(r"\(([\d.]+) A of 16 A, heat ([\d.]+)\)", prompt)
            assert note is not None and float(note[1]) < 16 and float(note[2]) >= 0.5
            status, answer = await s.post("/history/rcbo-tests", {"action": "stop", "unit": name})
            assert status == 200 and answer["session"]["results"][0]["result"] == "not_tested"
            await history.flush()
            assert history.last_test == {}

    asyncio.run(test())


def test_a_prompted_channel_that_opens_with_a_hot_breaker_is_not_a_test() -> None:
    """Heat alone (a breaker near its trip after an overload, the current now below its
    rating) makes an opening an overload trip, not a test."""
    reading = simulated_reading("C12B-12")
    open_4 = _with_breaker(reading, 4, "open")
    session = rcbo_session.Session(1, "u", "SS1", "T", 0.0, 60.0, (4,))
    closed = {4: rcbo_session.Closed(10.0, 16.0, 0.8)}.get
    assert session.step(reading, 1.0, closed) == []  # armed
    assert session.step(open_4, 2.0, closed) == []
    assert "opened on overcurrent" in session.prompt()
    assert session.step(open_4, 61.0, closed)[0].result == rcbo_session.NOT_TESTED
    cool = rcbo_session.Session(2, "u", "SS1", "T", 0.0, 60.0, (4,))
    cool.step(reading, 1.0, {4: rcbo_session.Closed(10.0, 16.0, 0.1)}.get)
    passed = cool.step(open_4, 2.0, {4: rcbo_session.Closed(10.0, 16.0, 0.1)}.get)
    assert [r.result for r in passed] == [rcbo_session.PASS] and cool.ended_at == 2.0


def _with_breaker(reading: Reading, channel: int, state: str) -> Reading:
    channels = list(reading.channels)
    channels[channel - 1] = channels[channel - 1].with_values(channel_breaker=state)
    return dataclasses.replace(reading, channels=tuple(channels))
