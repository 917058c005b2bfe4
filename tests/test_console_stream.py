"""The console's live stream at fleet scale, without a browser: what a client is sent grows
with what is on its screen (one page of the fleet, the banner), not with the fleet; the
fleet is ordered worst first, so a fault far down the list is on the first page with its
words; a flush with nothing new sends nothing.

The readings are one simulated unit read over Modbus on loopback, copied under many names.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest

from c12exporter.console.handlers import VALUES_EVERY_S, Client, Hub
from c12exporter.console.page import PAGE_ROWS, FleetParams
from c12exporter.problems import ProblemBoard
from c12exporter.reading import PhaseReading, Reading
from c12exporter.settings import UnitConfig
from c12exporter.store import Store
from tests.servers import simulated_reading


@pytest.fixture(scope="module")
def reading() -> Reading:
    return simulated_reading("C12B-12")


def name(i: int) -> str:
    return f"u{i:04d}"


def fleet(reading: Reading, units: int, *, scale: float = 1.0) -> tuple[Store, ProblemBoard]:
    configs = tuple(
        UnitConfig(name(i), f"127.0.0.1:{20000 + i}", labels={"rack": f"R{i % 8}"})
        for i in range(units)
    )
    store = Store(configs, staleness_s=3600)
    board = ProblemBoard(store)
    record(store, reading, range(units), scale)
    return store, board


def record(store: Store, reading: Reading, units: range, scale: float = 1.0) -> None:
    now = time.time()
    for i in units:
        channels = tuple(
            c.with_values(channel_current=c.current_a * scale) for c in reading.channels
        )
        phases = tuple(
            PhaseReading(p.phase, {**p.values, "current": (p.current_a or 0.0) * scale})
            for p in reading.phases
        )
        copy = dataclasses.replace(
            reading, unit=name(i), taken_at=now, channels=channels, phases=phases
        )
        store.record_success(name(i), copy, 0.01)


def faulty(reading: Reading, unit: str, fault: str) -> Reading:
    copy = dataclasses.replace(reading, unit=unit, taken_at=time.time())
    if fault == "estop":
        return copy.with_values(emergency_stop="pressed", switch_disconnector="off")
    channels = tuple(
        c.with_values(channel_breaker="open", channel_current=0.0) if c.number == 3 else c
        for c in copy.channels
    )
    return dataclasses.replace(copy, channels=channels)


def snapshot(store: Store, board: ProblemBoard, client: Client) -> dict[str, object]:
    text = Hub(store, board).snapshot(client, "token")
    return dict(json.loads(text.split("data: ", 1)[1]))


def test_faults_far_down_the_fleet_are_first_on_the_first_page_with_their_words(
    reading: Reading,
) -> None:
    store, board = fleet(reading, 300)
    store.record_success(name(290), faulty(reading, name(290), "estop"), 0.01)
    store.record_success(name(299), faulty(reading, name(299), "breaker"), 0.01)
    data = snapshot(store, board, Client(""))
    html = str(data["fleet"])
    rows = html.split('<tr data-unit="')[1:]
    assert len(rows) == PAGE_ROWS
    top = {row.split('"', 1)[0]: row for row in rows[:2]}
    assert set(top) == {name(290), name(299)}
    assert "e-stop pressed" in top[name(290)] and 'data-state="alarm"' in top[name(290)]
    assert "breaker 3 open" in top[name(299)]
    banner = data["problems"]
    assert isinstance(banner, dict)
    # the same severity: the newest first
    assert list(banner["order"])[:2] == [f"{name(299)}/breaker.3", f"{name(290)}/estop"]


def test_a_new_problem_goes_out_at_once_and_a_changed_text_as_text(reading: Reading) -> None:
    async def events() -> list[dict[str, object]]:
        store, board = fleet(reading, 50)
        hub = Hub(store, board)
        client = Client("")
        client.queue = asyncio.Queue()
        hub.clients.add(client)
        hub.snapshot(client, "token")
        store.record_success(name(7), faulty(reading, name(7), "estop"), 0.01)
        hub.flush(time.time())  # within the second: a new problem is not held back
        got = []
        while not client.queue.empty():
            got.append(json.loads((client.queue.get_nowait() or "").split("data: ", 1)[1]))
        return got

    got = asyncio.run(events())
    assert len(got) == 1
    problems = got[0]["problems"]
    assert isinstance(problems, dict)
    assert list(problems["set"]) == [f"{name(7)}/estop"]
    assert "e-stop pressed" in problems["set"][f"{name(7)}/estop"]


def test_a_flush_with_no_new_problem_and_no_client_due_builds_nothing(reading: Reading) -> None:
    """The polls of a large fleet wake the stream every FLUSH_S; the fleet's frame is built
    only when the board changed or a client's values are due."""

    async def flushes() -> tuple[int, int, int]:
        store, board = fleet(reading, 200)
        hub = Hub(store, board)
        client = Client("")
        client.queue = asyncio.Queue()
        hub.clients.add(client)
        hub.snapshot(client, "token")
        hub.flush(client.sent_at)  # the hub's first frame
        built = hub.updates
        record(store, reading, range(200))  # polled again: the same problems
        hub.flush(client.sent_at + VALUES_EVERY_S / 2)
        quiet = hub.updates - built
        store.record_success(name(7), faulty(reading, name(7), "estop"), 0.01)
        hub.flush(client.sent_at + VALUES_EVERY_S / 2)  # a new alarm: at once
        alarm = hub.updates - built
        return quiet, alarm, client.queue.qsize()

    assert asyncio.run(flushes()) == (0, 1, 1)


def test_what_a_client_is_sent_grows_with_its_page_not_with_the_fleet(reading: Reading) -> None:
    sizes = {}
    for units in (100, 1000):
        store, board = fleet(reading, units)
        sizes[units] = len(json.dumps(snapshot(store, board, Client(""))))
    assert sizes[1000] < 1.2 * sizes[100], sizes

    async def updates() -> list[dict[str, object]]:
        store, board = fleet(reading, 1000)
        hub = Hub(store, board)
        client = Client("", FleetParams(sort="name"))
        client.queue = asyncio.Queue()
        hub.clients.add(client)
        hub.snapshot(client, "token")
        record(store, reading, range(1000), scale=1.1)  # every unit polled, new currents
        hub.flush(time.time())  # values wait for the next second
        hub.flush(time.time() + VALUES_EVERY_S)
        hub.flush(time.time() + 2 * VALUES_EVERY_S)  # nothing new since
        events = []
        while not client.queue.empty():
            event = client.queue.get_nowait() or ""
            events.append(json.loads(event.split("data: ", 1)[1]))
        return events

    events = asyncio.run(updates())
    assert len(events) == 1, "a flush with nothing new sends nothing"
    rows = events[0]["rows"]
    assert isinstance(rows, dict)
    assert sorted(rows) == [name(i) for i in range(PAGE_ROWS)]
    # only what changed: the currents and the reading time, not names or states
    changed = {key.split(":")[1] for row in rows.values() for key in row}
    assert {"L1", "age"} <= changed and "stored" not in changed and "model" not in changed


def test_the_fleet_groups_by_a_label_and_shows_tiles(reading: Reading) -> None:
    store, board = fleet(reading, 24)
    store.record_success(name(13), faulty(reading, name(13), "estop"), 0.01)
    html = str(snapshot(store, board, Client("", FleetParams(group="rack")))["fleet"])
    headings = [h.split("<", 1)[0] for h in html.split('<th scope="colgroup" colspan="8">')[1:]]
    assert headings == [f"rack: R{i}" for i in range(8)]
    # within its rack, the unit with the e-stop leads
    rack = html.split("rack: R5")[1].split('<tr class="group">')[0]
    assert rack.index(f'data-unit="{name(13)}"') < rack.index(f'data-unit="{name(5)}"')
    tiles = str(snapshot(store, board, Client("", FleetParams(tiles=True)))["fleet"])
    assert tiles.count('<li data-unit="') == 24
    assert tiles.index(f'data-unit="{name(13)}" data-state="alarm"') < tiles.index(
        f'data-unit="{name(0)}"'
    )
