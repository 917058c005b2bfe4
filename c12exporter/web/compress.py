"""gzip for the shared web server's text responses, and for event streams.

:func:`gzip_middleware` compresses every text response a handler returns whole (HTML,
JavaScript, CSS, JSON, plain text) when the client accepts gzip (``Accept-Encoding``,
q-values respected), and marks every such response ``Vary: Accept-Encoding`` whether
compressed or not. It leaves alone a response that already has a ``Content-Encoding``
(``/metrics`` makes its own gzip family by family), bodies
under :data:`MIN_BYTES` (gzip would make them larger), and streams a handler prepares
itself (the middleware only sees them when they are over).

:class:`EventStream` is a ``text/event-stream`` response that compresses what it writes
with one gzip stream per connection and a ``Z_SYNC_FLUSH`` after every write: each event
leaves complete and byte-aligned, so the browser decodes it at once, while later events
still refer back to earlier ones (the same keys and unit names again), which is where
the saving is. Its window is small (:data:`STREAM_WINDOW_BITS`) to keep the memory per
open stream low.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter

from ..prometheus.exposition import accepts_gzip
from .connections import GuardedRequestHandler

MIN_BYTES = 256
"""Bodies shorter than this go out as they are: gzip's header and trailer alone are 18
bytes, and a short text barely shrinks."""
TEXT_TYPES = ("application/json", "application/javascript", "image/svg+xml")
"""Compressible content types besides every ``text/*``."""
STREAM_LEVEL = 6
STREAM_WINDOW_BITS = 12
"""A 4 KiB window and memLevel 6: about 48 KiB of zlib state per open stream, not 256."""
STREAM_MEM_LEVEL = 6

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_text(content_type: str) -> bool:
    return content_type.startswith("text/") or content_type in TEXT_TYPES


def vary_on_encoding(response: web.StreamResponse) -> None:
    """Add ``Accept-Encoding`` to ``Vary`` once: caches must keep both forms apart."""
    vary = response.headers.get(hdrs.VARY, "")
    if "accept-encoding" not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"


@web.middleware
async def gzip_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if (
        not isinstance(response, web.Response)
        or response.prepared
        or not is_text(response.content_type)
    ):
        return response
    vary_on_encoding(response)
    body = response.body
    if (
        hdrs.CONTENT_ENCODING in response.headers
        or not isinstance(body, bytes)
        or len(body) < MIN_BYTES
        or not accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    ):
        return response
    response.enable_compression(web.ContentCoding.gzip)
    return response


class EventStream(web.StreamResponse):
    """A server-sent event stream, gzip with a flush per write when the client accepts it.

    Used as ``web.StreamResponse``: ``prepare`` it, ``write`` whole events. ``prepare``
    answers ``503`` when event streams hold their share of the connections
    (:func:`.connections.stream_cap`)."""

    _compressor: zlib._Compress | None = None

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if not self.prepared:
            protocol = request.protocol
            if isinstance(protocol, GuardedRequestHandler) and not protocol.guard.admit_stream(
                protocol
            ):
                raise web.HTTPServiceUnavailable(
                    text="too many event streams open, try again later\n",
                    headers={"Retry-After": "5"},
                )
            self.content_type = "text/event-stream"
            vary_on_encoding(self)
            if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
                self._compressor = zlib.compressobj(
                    STREAM_LEVEL, zlib.DEFLATED, 16 + STREAM_WINDOW_BITS, STREAM_MEM_LEVEL
                )
                self.headers[hdrs.CONTENT_ENCODING] = "gzip"
        return await super().prepare(request)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._compressor is not None:
            data = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        await super().write(data)

    async def write_eof(self, data: bytes = b"") -> None:
        compressor, self._compressor = self._compressor, None
        if compressor is not None:
            data = compressor.compress(data) + compressor.flush(zlib.Z_FINISH)
        await super().write_eof(data)
