"""After the first round (every unit at once), units are polled in the fleet's order,
spread over the interval: the units read in any short while are neighbours in
``/metrics``."""

from __future__ import annotations

import asyncio

from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.settings import PollConfig, UnitConfig
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store

PLUGINS = load_plugins(entry_points=False)
UNITS = 6
POLL = PollConfig(interval_s=1.8, timeout_s=1.0)
"""Units 0.3 s apart: far more than a poll of a unit on loopback takes."""


def test_units_are_polled_in_the_fleets_order_after_the_first_round() -> None:
    async def test() -> list[str]:
        fleet = await Fleet.start(UNITS, models=("C12B-12",), speed=0.0, plugins=PLUGINS)
        try:
            # the fleet's order is not the simulator's nor the names' order
            units = [UnitConfig(f"u{i}", u.address) for i, u in enumerate(fleet.units)][::-1]
            store = Store(tuple(units), staleness_s=15)
            polled: list[str] = []
            record = store.record_success

            def noted(name: str, *args: object) -> None:
                polled.append(name)
                record(name, *args)  # type: ignore[arg-type]

            store.record_success = noted  # type: ignore[method-assign]
            poller = Poller(tuple(units), PLUGINS, store, POLL)
            poller.start()
            try:
                await asyncio.sleep(POLL.interval_s * 2.5)
            finally:
                await poller.stop()
            return polled
        finally:
            await fleet.stop()

    polled = asyncio.run(test())
    order = [f"u{i}" for i in range(UNITS)][::-1]
    assert sorted(polled[:UNITS]) == sorted(order)  # the first round, all at once
    later = polled[UNITS:]
    assert len(later) >= UNITS + 2, polled  # a round and more
    start = order.index(later[0])
    assert later == [order[(start + i) % UNITS] for i in range(len(later))], polled
