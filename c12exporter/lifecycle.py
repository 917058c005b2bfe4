"""Running until told to stop, reloading when told to."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable


class Signals:
    """SIGINT and SIGTERM ask to stop, SIGHUP to reload. Create it before starting
    anything, so a signal that arrives during start-up is not lost (or fatal)."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)

    async def stopped(self) -> None:
        """Return on SIGINT or SIGTERM (SIGHUP is ignored)."""
        await self._stop.wait()

    async def serve(self, reload: Callable[[], Awaitable[object]]) -> None:
        """Call ``reload`` on each SIGHUP; return on SIGINT or SIGTERM."""
        while not self._stop.is_set():
            stopping = asyncio.ensure_future(self._stop.wait())
            reloading = asyncio.ensure_future(self._reload.wait())
            await asyncio.wait((stopping, reloading), return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stopping, reloading):
                waiter.cancel()
            if self._reload.is_set() and not self._stop.is_set():
                self._reload.clear()
                await reload()
