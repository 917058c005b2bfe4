"""What one poll keeps in memory: a reading's channels in slots with their bands shared,
its dicts of values sharing their keys, the history's state keys and the forecast's heat
shared or slotted, so a thousand units cost what docs/performance.md says. The values
are read from a simulated unit over Modbus on loopback, as a poll reads them."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import tracemalloc

import pytest

from c12exporter.forecast import _Heat
from c12exporter.history.events import states_of
from c12exporter.modbus.transport import ModbusTcpTransport
from c12exporter.model import UnitModel
from c12exporter.plugins import load_plugins
from c12exporter.reading import Identity, Reading, Values, build_reading
from c12exporter.simulator.server import Fleet

READINGS = 200
BYTES_PER_READING = 5 * 1024
"""A C12B reading with its channels measured at about 3.9 KiB (5.4 KiB with a table of
keys of its own in each dict of values, 11.5 KiB with a ``__dict__`` and a band of its own
per channel as well); the values' numbers are shared here."""


@pytest.fixture(scope="module")
def polled() -> tuple[Identity, UnitModel, Values]:
    plugins = load_plugins(entry_points=False)

    async def read() -> tuple[Identity, Values]:
        async with await Fleet.start(1, plugins=plugins, models=("C12B-13",)) as fleet:
            transport = ModbusTcpTransport(fleet.units[0].address, 2.0)
            identity = await transport.connect()
            values = await transport.read()
            await transport.close()
        return identity, values

    identity, values = asyncio.run(read())
    return identity, plugins.model(identity.model), values


def reading(polled: tuple[Identity, UnitModel, Values], unit: str, at: float) -> Reading:
    identity, model, values = polled
    fresh = {k: list(v) if isinstance(v, list) else v for k, v in values.items()}
    return build_reading(unit, identity, model, at, fresh)


def test_a_reading_and_its_channels_stay_small(
    polled: tuple[Identity, UnitModel, Values],
) -> None:
    reading(polled, "warm-up", 0.0)
    gc.collect()
    tracemalloc.start()
    try:
        kept = []
        for i in range(READINGS):
            r = reading(polled, f"u{i}", float(i))
            for channel in r.channels:  # as every listener of a poll asks
                assert channel.supervision_state is channel.supervision_state
            kept.append(r)
        gc.collect()
        size, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size / READINGS < BYTES_PER_READING, f"{size / READINGS:.0f} bytes per reading"


def test_channels_keep_their_fields_and_work_out_current_once(
    polled: tuple[Identity, UnitModel, Values],
) -> None:
    first, second = reading(polled, "a", 1.0), reading(polled, "b", 2.0)
    channel = first.channels[0]
    assert not hasattr(channel, "__weakref__")  # slots: no __dict__ of its own
    assert set(vars(channel)) == {f.name for f in dataclasses.fields(channel)}
    assert channel.current_a == float(channel.values["channel_current"])  # type: ignore[arg-type]
    assert channel == type(channel)(**vars(channel))
    doubled = channel.with_values(channel_current=channel.current_a * 2 + 1)
    assert doubled.current_a == channel.current_a * 2 + 1
    assert doubled.supervision_state == doubled.supervision.state(doubled.current_a)
    # the same limits on every poll: one band, shared
    assert all(
        a.supervision is b.supervision and a.supervision == b.supervision
        for a, b in zip(first.channels, second.channels, strict=True)
    )


def test_the_history_keys_its_states_with_tuples_the_fleet_shares(
    polled: tuple[Identity, UnitModel, Values],
) -> None:
    one = states_of(reading(polled, "a", 1.0))
    other = states_of(reading(polled, "b", 2.0))
    assert list(one) == list(other) and len(one) == 4 + 2 * 12
    assert all(a is b for a, b in zip(one, other, strict=True))


def test_the_forecast_keeps_a_breakers_heat_without_a_dict() -> None:
    heat = _Heat(1.0, 0.5, 2.0)
    assert not hasattr(heat, "__dict__")
    heat.progress = 0.75
    assert (heat.at, heat.progress, heat.multiple) == (1.0, 0.75, 2.0)
