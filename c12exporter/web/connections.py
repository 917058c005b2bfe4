"""Bounds on HTTP connections, so idle or slow clients cannot starve scrapes or polls.

* ``header_timeout``: a new connection must deliver its first request's head within it;
* ``idle_timeout``: a kept-alive connection must deliver its next request within it
  (aiohttp's keep-alive timeout);
* a request body: one announced larger than :data:`MAX_BODY_BYTES` is answered ``413``
  unread, one sent with a ``GET`` or ``HEAD`` ``400`` unread; a body must arrive whole
  within ``header_timeout`` of its head, or the connection is closed. A body the
  handler did not read is read and dropped after the answer until it ends or
  ``header_timeout`` is up (aiohttp's lingering close: the client gets the answer, and
  a client that reopens at once when closed is held, not served again and again); then
  the connection closes;
* ``max_connections``: at the cap, a new connection closes the oldest connection that
  is idle or still sending its head, else the oldest still sending a body; if every
  connection is in a request, the new one is answered ``503`` and closed. A scraper
  that sends its request at once is therefore served however many idle or slow
  connections are held open;
* event streams (the console's live updates) take at most :func:`stream_cap` of the
  connections, so streams alone never fill the cap and a scrape always finds a slot.

A handler that finds its connection closed under it (evicted, timed out, gone) ends
quietly: no traceback for what a client did.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from ..settings import ConfigError, parse_duration
from .listener import RateLimitedWarning, listen, refusal

log = logging.getLogger(__name__)

LIMIT_KEYS = {"max_connections", "header_timeout", "idle_timeout"}
FD_RESERVE = 64
"""Descriptors kept apart from HTTP connections: files, the SNMP agent, the loop."""
ACCEPT_BATCH = FD_RESERVE // 2
"""Connections asyncio accepts in one pass of the loop (its ``backlog``), before any
connection evicted for them is closed: kept inside the reserve, so a burst at the cap
does not run the process out of descriptors."""
MIN_CONNECTIONS = 8
TOO_MANY = refusal("too many connections, try again")
MAX_BODY_BYTES = 1024**2
"""The largest request body served: every body this server takes (a console edit, a
job) is a small JSON document; aiohttp's own read limit is the same."""


def stream_cap(cap: int) -> int:
    """How many of ``cap`` connections event streams may hold: a quarter (at least
    half of :data:`MIN_CONNECTIONS`) is always left for scrapes and pages."""
    return cap - max(MIN_CONNECTIONS // 2, cap // 4)


BODILESS = frozenset({"GET", "HEAD"})
"""Methods whose requests carry no body here: one sent with a body is refused unread
(a scrape with a body would otherwise cost a whole rendering per connection)."""


async def _no_body_here(request: web.BaseRequest) -> web.StreamResponse:
    response = web.Response(status=400, text=f"a {request.method} request takes no body\n")
    response.force_close()  # Connection: close, after the lingering close
    return response


async def _too_large(request: web.BaseRequest) -> web.StreamResponse:
    response = web.Response(
        status=413,
        text=f"request body over {MAX_BODY_BYTES} bytes refused\n",
    )
    response.force_close()  # Connection: close, after the lingering close
    return response


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
    of every connection closed or refused to protect the server: ``evicted`` (idle or
    sending a body, at the cap), ``refused`` (at the cap, none idle), ``header_timeout``,
    ``body_timeout``, ``body_too_large``, ``body_refused`` (a body on a ``GET``),
    ``stream_refused`` (at the event-stream cap), ``out_of_descriptors``."""

    def __init__(
        self, limits: HttpLimits, cap: int, closed: Callable[[str], None] = _uncounted
    ) -> None:
        self.limits = limits
        self.cap = cap
        self.closed = closed
        self.open: dict[GuardedRequestHandler, None] = {}
        self.streams: set[GuardedRequestHandler] = set()
        self._refusing = RateLimitedWarning(log)

    def admit(self, handler: GuardedRequestHandler) -> bool:
        if len(self.open) >= self.cap:
            idle = next((h for h in self.open if not h.in_request), None)
            if idle is None:
                idle = next((h for h in self.open if h.sending_body), None)
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

    def admit_stream(self, handler: GuardedRequestHandler) -> bool:
        """Whether ``handler`` may hold an event stream (below :func:`stream_cap`)."""
        if handler not in self.streams and len(self.streams) >= stream_cap(self.cap):
            self._refusing.warn(
                "%d event streams open: refusing new ones (503) to keep connections for "
                "scrapes; see web.max_connections",
                len(self.streams),
            )
            self.closed("stream_refused")
            return False
        self.streams.add(handler)
        return True


class GuardedRequestHandler(RequestHandler):
    __slots__ = ("_body", "_body_timer", "_guard", "_head_timer")

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, lingering_time=guard.limits.header_timeout, **kwargs)
        self._guard = guard
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None

    @property
    def guard(self) -> ConnectionGuard:
        return self._guard

    @property
    def in_request(self) -> bool:
        """A request's head has arrived and it is not answered yet."""
        return bool(self._request_in_progress or self._messages)

    @property
    def sending_body(self) -> bool:
        """The last request still has body to come (being handled, or after its answer)."""
        return self._body is not None and not self._body.is_eof()

    def force_close(self) -> None:
        # The body ends first, so a handler or the lingering close reading it stops at
        # once instead of raising (aiohttp logs that with a traceback).
        if self.sending_body:
            assert self._body is not None
            self._body.feed_eof()
        super().force_close()

    async def _handle_request(
        self,
        request: web.BaseRequest,
        start_time: float | None,
        request_handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
    ) -> tuple[web.StreamResponse, bool]:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._body = request.content
        length = request.content_length
        if length is not None and length > MAX_BODY_BYTES:
            self._guard.closed("body_too_large")
            request_handler = _too_large
        elif request.method in BODILESS and not request.content.is_eof():
            self._guard.closed("body_refused")
            request_handler = _no_body_here
        if not request.content.is_eof():
            self._body_timer = self._loop.call_later(
                self._guard.limits.header_timeout, self._body_too_slow
            )
        try:
            return await super()._handle_request(request, start_time, self._quiet(request_handler))
        finally:
            self._guard.streams.discard(self)
            if self._body_timer is not None and not self.sending_body:
                self._body_timer.cancel()
                self._body_timer = None

    def _quiet(
        self, handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
        """``handler``, ending without a traceback when its connection is closed under it
        (reading a body or preparing a stream): no one is left to answer."""

        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            try:
                return await handler(request)
            except (ConnectionError, RuntimeError):
                if self.transport is not None and not self.transport.is_closing():
                    raise
                # Sending this fails quietly (aiohttp takes it for a client gone away).
                return web.Response(status=400, text="connection closed during the request\n")

        return handle

    def _body_too_slow(self) -> None:
        self._body_timer = None
        if self.sending_body:
            self._guard.closed("body_timeout")
            self.force_close()

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
        self._guard.streams.discard(self)
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
            handler, sock=self._sock, ssl=self._ssl_context, backlog=ACCEPT_BATCH, **extra
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
