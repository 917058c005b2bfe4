"""Bounds on HTTP connections, so idle or slow clients cannot starve scrapes or polls.

* ``header_timeout``: a new connection must deliver its first request's head within it;
* ``idle_timeout``: a kept-alive connection must deliver its next request within it
  (aiohttp's keep-alive timeout);
* ``max_connections``: at the cap, a new connection closes the oldest connection that
  is not in a request (idle, or still sending its head); if every connection is in a
  request, the new one is answered ``503`` and closed. A scraper that sends its request
  at once is therefore served however many idle connections are held open.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from ..settings import ConfigError, parse_duration
from .listener import RateLimitedWarning, listen, refusal

log = logging.getLogger(__name__)

LIMIT_KEYS = {"max_connections", "header_timeout", "idle_timeout"}
FD_RESERVE = 64
"""Descriptors kept apart from HTTP connections: files, the SNMP agent, the loop."""
MIN_CONNECTIONS = 8
TOO_MANY = refusal("too many connections, try again")


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int = 512
    header_timeout: float = 10.0
    idle_timeout: float = 75.0

    @classmethod
    def parse(cls, data: Mapping[str, Any], where: str) -> HttpLimits:
        limits = cls()
        count = data.get("max_connections", limits.max_connections)
        if isinstance(count, bool) or not isinstance(count, int) or count < MIN_CONNECTIONS:
            raise ConfigError(
                f"{where}.max_connections: {count!r} must be a whole number of at least "
                f"{MIN_CONNECTIONS}"
            )
        return cls(
            max_connections=count,
            header_timeout=parse_duration(
                data.get("header_timeout", limits.header_timeout), f"{where}.header_timeout"
            ),
            idle_timeout=parse_duration(
                data.get("idle_timeout", limits.idle_timeout), f"{where}.idle_timeout"
            ),
        )


def connection_cap(configured: int, units: int) -> int:
    """``configured``, or fewer when the open-file limit cannot hold that many besides
    one connection per unit and a reserve: running out of descriptors costs polls."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    budget = max(MIN_CONNECTIONS, soft - units - FD_RESERVE)
    if budget < configured:
        log.warning(
            "web.max_connections %d lowered to %d: the open-file limit is %d and %d units "
            "are polled; raise the limit (LimitNOFILE= in the systemd unit)",
            configured, budget, soft, units,
        )  # fmt: skip
        return budget
    return configured


def _uncounted(reason: str) -> None:
    return None


class ConnectionGuard:
    """The open connections of one web server, oldest first. ``closed(reason)`` is told
    of every connection closed or refused to protect the server: ``evicted`` (idle, at
    the cap), ``refused`` (at the cap, none idle), ``header_timeout``,
    ``out_of_descriptors``."""

    def __init__(
        self, limits: HttpLimits, cap: int, closed: Callable[[str], None] = _uncounted
    ) -> None:
        self.limits = limits
        self.cap = cap
        self.closed = closed
        self.open: dict[GuardedRequestHandler, None] = {}
        self._refusing = RateLimitedWarning(log)

    def admit(self, handler: GuardedRequestHandler) -> bool:
        if len(self.open) >= self.cap:
            idle = next((h for h in self.open if not h.in_request), None)
            if idle is None:
                self._refusing.warn(
                    "%d HTTP connections, all in a request: refusing new ones (503); "
                    "see web.max_connections",
                    len(self.open),
                )
                self.closed("refused")
                return False
            self.open.pop(idle)
            idle.force_close()
            self.closed("evicted")
        self.open[handler] = None
        return True


class GuardedRequestHandler(RequestHandler):
    __slots__ = ("_guard", "_head_timer")

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        self._head_timer: asyncio.TimerHandle | None = None

    @property
    def in_request(self) -> bool:
        """A request's head has arrived and it is not answered yet."""
        return bool(self._request_in_progress or self._messages)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._guard.admit(self):
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(TOO_MANY)
            transport.close()
            return
        super().connection_made(transport)
        self._head_timer = self._loop.call_later(
            self._guard.limits.header_timeout, self._head_too_slow
        )

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._head_timer is not None and self.in_request:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.in_request:
            self.force_close()
            self._guard.closed("header_timeout")

    def connection_lost(self, exc: BaseException | None) -> None:
        self._guard.open.pop(self, None)
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)


class GuardedSite(web.BaseSite):
    """One listening socket (:func:`listen`) serving connections under a guard."""

    __slots__ = ("_guard", "_sock")

    def __init__(
        self,
        runner: web.AppRunner,
        sock: Any,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._sock = sock
        self._guard = guard

    @property
    def name(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"{'https' if self._ssl_context else 'http'}://{host}:{port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        guard = self._guard

        def handler() -> GuardedRequestHandler:
            return GuardedRequestHandler(
                server, guard, loop=loop, keepalive_timeout=guard.limits.idle_timeout,
                access_log=None,
            )  # fmt: skip

        extra: dict[str, Any] = {}
        if self._ssl_context is not None:
            extra["ssl_handshake_timeout"] = guard.limits.header_timeout
        self._server = await loop.create_server(
            handler, sock=self._sock, ssl=self._ssl_context, **extra
        )


async def start_sites(
    runner: web.AppRunner,
    host: str,
    port: int,
    guard: ConnectionGuard,
    ssl_context: ssl.SSLContext | None,
) -> None:
    """Listen on ``host:port`` (every address it names) under ``guard``."""
    for sock in listen(host, port, tls=ssl_context is not None, shed=guard.closed):
        await GuardedSite(runner, sock, guard, ssl_context).start()
