"""The fleet changes while running, and settings take one path to the unit.

In-process: a simulated fleet on loopback and an exporter started from Config values,
so a test can look at the poller's connections while the config changes under it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from c12exporter.exporter import RunningExporter, start_exporter
from c12exporter.plugins import load_plugins
from c12exporter.reading import ChannelSettings, SupervisionBand
from c12exporter.settings import Config, ConfigError, PollConfig, UnitConfig
from c12exporter.simulator.server import Fleet
from c12exporter.transport import WriteError

PLUGINS = load_plugins(entry_points=False)
SLOW_POLL = PollConfig(interval_s=60.0, timeout_s=2.0)
"""An interval far longer than any test: a unit read at all was read by the first poll."""


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


@asynccontextmanager
async def simulated(units: int) -> AsyncIterator[Fleet]:
    fleet = await Fleet.start(units, models=("C12B-12",), speed=0.0, plugins=PLUGINS)
    try:
        yield fleet
    finally:
        await fleet.stop()


def configs(fleet: Fleet) -> list[UnitConfig]:
    return [UnitConfig(name=u.name, address=u.address) for u in fleet.units]


@asynccontextmanager
async def exporter(
    config: Config, tmp: Path
) -> AsyncIterator[tuple[RunningExporter, list[Config]]]:
    """An exporter with no exposers; ``next_configs`` feeds its reloads (a ConfigError
    instance there is raised, as a broken file would)."""
    next_configs: list[Config] = []

    def load() -> Config:
        item = next_configs.pop(0)
        if isinstance(item, ConfigError):
            raise item
        return item

    running = await start_exporter(dataclasses.replace(config, state_dir=tmp), PLUGINS, load)
    try:
        yield running, next_configs
    finally:
        await running.stop()


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)
    assert check(), what


def gauge(running: RunningExporter, name: str, **labels: str) -> float | None:
    return running.context.telemetry.registry.get_sample_value(name, labels)


def test_every_unit_is_read_at_start_not_spread_over_the_interval(tmp_path: Path) -> None:
    async def test() -> None:
        async with simulated(6) as fleet:
            config = Config(units=tuple(configs(fleet)), poll=SLOW_POLL)
            async with exporter(config, tmp_path) as (running, _):
                store = running.store
                await until(
                    lambda: all(store.fresh_reading(u) is not None for u in store),
                    "every unit read well before its place in a 60 s interval",
                    timeout=5.0,
                )

    run(test)


def test_reload_keeps_unchanged_units_and_follows_the_rest(tmp_path: Path) -> None:
    async def test() -> None:
        async with simulated(4) as fleet:
            keep, remove, change, new = configs(fleet)
            config = Config(units=(keep, remove, change), poll=SLOW_POLL)
            async with exporter(config, tmp_path) as (running, next_configs):
                store, poller = running.store, running.poller
                await until(lambda: all(store.fresh_reading(u) for u in store), "first polls")
                kept_state = store.get(keep.name)
                assert kept_state is not None
                kept_reading = kept_state.reading
                kept_connection = poller.readers[keep.name]._connection
                assert kept_connection is not None

                changed = dataclasses.replace(change, labels={"rack": "B2"})
                next_configs.append(Config(units=(keep, changed, new), poll=SLOW_POLL))
                assert await running.reload() is None

                assert [u.config.name for u in store] == [keep.name, change.name, new.name]
                # Unchanged: same connection, same reading, counters go on, never down.
                assert poller.readers[keep.name]._connection is kept_connection
                assert store.get(keep.name) is kept_state
                assert kept_state.reading is kept_reading
                assert store.fresh_reading(kept_state) is not None
                assert kept_state.polls_total == 1
                # Changed and new units are read at once; removed ones are gone.
                await until(
                    lambda: all(store.fresh_reading(u) for u in store), "changed and new read"
                )
                changed_state = store.get(change.name)
                assert changed_state is not None
                assert changed_state.config.labels == {"rack": "B2"}
                assert changed_state.polls_total == 2  # counters survive the change
                assert remove.name not in poller.readers and store.get(remove.name) is None
                assert gauge(running, "c12_config_last_reload_successful") == 1
                assert gauge(running, "c12_config_reloads_total", result="success") == 1

                # A config that does not load changes nothing and says so.
                next_configs.append(ConfigError("c12.yml: units[0].address: missing"))
                error = await running.reload()
                assert error is not None and "units[0].address" in error
                assert [u.config.name for u in store] == [keep.name, change.name, new.name]
                assert gauge(running, "c12_config_last_reload_successful") == 0
                assert gauge(running, "c12_config_reloads_total", result="failure") == 1
                assert poller.readers[keep.name]._connection is kept_connection

    run(test)


def test_settings_are_written_on_the_polling_connection_and_read_back(tmp_path: Path) -> None:
    async def test() -> None:
        async with simulated(2) as fleet:
            free, fixed = configs(fleet)
            fixed = dataclasses.replace(fixed, supervision={3: SupervisionBand(0.5, 12.0)})
            config = Config(units=(free, fixed), poll=SLOW_POLL)
            async with exporter(config, tmp_path) as (running, _):
                store, poller = running.store, running.poller
                await until(lambda: all(store.fresh_reading(u) for u in store), "first polls")
                connection = poller.readers[free.name]._connection

                reading = await poller.write_settings(
                    free.name,
                    [
                        ChannelSettings(1, name="Moving lights"),
                        ChannelSettings.band(2, SupervisionBand(0.25, 10.5)),
                    ],
                )
                assert poller.readers[free.name]._connection is connection
                assert reading.channels[0].name == "Moving lights"
                assert reading.channels[1].supervision == SupervisionBand(0.25, 10.5)
                state = store.get(free.name)
                assert state is not None and state.reading is reading
                held = fleet.units[0].snapshot()["meter"]["settings"]
                assert held["channel_name"][0] == "Moving lights"
                assert held["supervision_min"][1] == 0.25

                # Only what is given is written: a maximum changed on the unit since the
                # last poll survives a write of the minimum.
                fleet.units[0].physics_now().set_supervision(2, 0.25, 12.0)
                reading = await poller.write_settings(free.name, [ChannelSettings(2, min_a=0.5)])
                assert reading.channels[1].supervision == SupervisionBand(0.5, 12.0)

                # Cleared band reads back as not set.
                reading = await poller.write_settings(
                    free.name, [ChannelSettings.band(2, SupervisionBand())]
                )
                assert reading.channels[1].supervision == SupervisionBand()

                held_before = fleet.units[0].snapshot()["meter"]["settings"]
                refused = [
                    (free.name, ChannelSettings(1, min_a=0.005), "0.01 A"),
                    (free.name, ChannelSettings(1, min_a=5, max_a=1), "above maximum"),
                    (free.name, ChannelSettings(1, max_a=99), "0..63 A"),
                    (free.name, ChannelSettings(1, name="x" * 17), "16 bytes"),
                    (free.name, ChannelSettings(13, name="x"), "no such channel"),
                    (fixed.name, ChannelSettings.band(3, SupervisionBand()), "config file"),
                    ("nowhere", ChannelSettings(1, name="x"), "not in the fleet"),
                ]
                for unit_name, change, says in refused:
                    before = store.get(free.name)
                    assert before is not None
                    with pytest.raises(WriteError) as error:
                        await poller.write_settings(unit_name, [change])
                    assert says in str(error.value), str(error.value)
                    assert before.reading is not None
                    assert before.reading.channels[0].name == "Moving lights"
                assert gauge(running, "c12_setting_writes_total", result="written") == 3
                assert gauge(running, "c12_setting_writes_total", result="invalid") == 6
                assert gauge(running, "c12_setting_writes_total", result="unknown_unit") == 1

                # Nothing refused reached the unit.
                assert fleet.units[0].snapshot()["meter"]["settings"] == held_before

    run(test)


def test_a_write_to_an_unreachable_unit_fails_with_its_reason(tmp_path: Path) -> None:
    async def test() -> None:
        async with simulated(1) as fleet:
            (unit,) = configs(fleet)
            config = Config(units=(unit,), poll=SLOW_POLL)
            async with exporter(config, tmp_path) as (running, _):
                await until(
                    lambda: all(running.store.fresh_reading(u) for u in running.store), "poll"
                )
                await fleet.units[0].power_loss()
                with pytest.raises(WriteError) as error:
                    await running.poller.write_settings(unit.name, [ChannelSettings(1, name="a")])
                assert error.value.reason in ("unreachable", "not_read_back")
                assert unit.name in str(error.value)

    run(test)


def test_stopping_survives_a_cancellation_lost_inside_a_poll() -> None:
    """A cancellation that lands as a Modbus reply arrives can be swallowed by the client
    library; stopping (and removing a unit on reload) must still end the unit's task."""
    from c12exporter.poller import _cancel

    async def test() -> None:
        swallowed = 0

        async def poll_loop() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(0.05)
                except asyncio.CancelledError:
                    if swallowed:  # the second request is honoured
                        raise
                    swallowed += 1  # the first is lost, as inside asyncio.wait_for

        task = asyncio.create_task(poll_loop())
        await asyncio.sleep(0.01)
        await asyncio.wait_for(_cancel([task]), 5)
        assert task.cancelled() and swallowed == 1

    run(test)


def test_reconnect_backoff_is_capped_by_the_poll_interval() -> None:
    """A unit that comes back is read again within two poll intervals, not after a minute."""
    import time

    from c12exporter.poller import Poller
    from c12exporter.store import Store

    async def test() -> None:
        unit = UnitConfig("gone", "127.0.0.1:9")
        for interval, cap in ((2.0, 4.0), (5.0, 10.0), (60.0, 60.0)):
            poll = PollConfig(interval_s=interval, timeout_s=1.0)
            reader = Poller((unit,), PLUGINS, Store((unit,), 60), poll).readers["gone"]
            for _ in range(12):  # 1 s, 2 s, 4 s, ... would pass a minute
                await reader._drop()
            assert reader._retry_at - time.monotonic() == pytest.approx(cap, abs=0.5)

    run(test)
