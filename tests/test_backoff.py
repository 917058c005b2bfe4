"""Reconnect backoff scales with the poll interval: a unit that comes back is read again
within about two intervals, however long it was away."""

from __future__ import annotations

import asyncio
import time

from c12exporter.plugins import load_plugins
from c12exporter.poller import BACKOFF_INTERVALS, Poller
from c12exporter.settings import PollConfig, UnitConfig
from c12exporter.store import Store
from tests.hostile_modbus import HonestUnit, HostileServer
from tests.servers import LOOPBACK, free_port

PLUGINS = load_plugins(entry_points=False)
POLL = PollConfig(interval_s=0.2, timeout_s=0.1)
FAILURES = 8
"""Enough failures that a backoff doubling without a cap would be 2**7 = 128 s."""
BACK_WITHIN_S = 20.0
"""Generous (busy machines), yet far below an uncapped backoff."""


def test_a_restarted_unit_is_read_again_within_about_two_intervals() -> None:
    port = free_port()
    unit = UnitConfig("returning", f"{LOOPBACK}:{port}")

    async def test() -> None:
        store = Store((unit,), POLL.staleness_limit_s)
        poller = Poller((unit,), PLUGINS, store, POLL)
        reader = poller.readers[unit.name]
        assert reader.max_backoff_s == BACKOFF_INTERVALS * POLL.interval_s
        poller.start()
        try:
            while reader._failures < FAILURES:  # nothing listens: connection refused
                await asyncio.sleep(POLL.interval_s)
            assert reader._retry_at - time.monotonic() <= BACKOFF_INTERVALS * POLL.interval_s
            state = store.get(unit.name)
            assert state is not None and state.last_error is not None
            assert state.last_error.reason == "connect"
            async with HostileServer(HonestUnit().reply, port):
                async with asyncio.timeout(BACK_WITHIN_S):
                    while store.fresh_reading(state) is None:
                        await asyncio.sleep(0.05)
        finally:
            await poller.stop()

    asyncio.run(test())
