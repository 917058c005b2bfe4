"""What the HTTP server answers and logs about requests a client got wrong.

aiohttp answers a request it cannot parse (a control character in a header, a line too
long, a bad chunk) with ``400`` and logs it at error level with a traceback quoting the
bytes. A body that does not decode as its ``Content-Encoding`` says fails only when a
handler reads it: without help that is a ``500`` and a traceback. Both are the client's
mistake, not the exporter's: they are answered ``400`` and logged as one warning line,
at most one a minute (saying how many were held back), without the traceback or the
client's bytes. A failure of the exporter's own (an exception in a handler) stays a
``500``, logged in full.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from .listener import RateLimitedWarning

AIOHTTP_SERVER_LOG = logging.getLogger("aiohttp.server")
log = logging.getLogger(__name__)
_refused = RateLimitedWarning(log)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _client_error(error: BaseException | None) -> HttpProcessingError | None:
    """The parser's complaint behind ``error``, if the client's request caused it."""
    if isinstance(error, RequestPayloadError):  # a body that could not be read
        error = error.__cause__
    return error if isinstance(error, HttpProcessingError) else None


def _warn(peer: object, error: HttpProcessingError) -> None:
    reason = str(error.message).partition("\n")[0].strip(" :") or "malformed"
    _refused.warn("refused a request that is not valid HTTP from %s (%s %s)", peer, error.code,
                  reason)  # fmt: skip


class ClientErrorFilter(logging.Filter):
    """Turns aiohttp's log of a request it could not parse into the rate-limited line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = _client_error(record.exc_info[1] if record.exc_info else None)
        if error is None:
            return True
        _warn(record.args[0] if isinstance(record.args, tuple) and record.args else "?", error)
        return False


@web.middleware
async def client_error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body the handler could not read (bad ``Content-Encoding``, bad chunks): ``400``."""
    try:
        return await handler(request)
    except (RequestPayloadError, HttpProcessingError) as raised:
        error = _client_error(raised)
        if error is None:
            raise
        _warn(request.remote, error)
        raise web.HTTPBadRequest(text="400 the request body cannot be read\n") from None


def quiet_client_errors() -> None:
    """Install the filter once on aiohttp's server logger."""
    if not any(isinstance(f, ClientErrorFilter) for f in AIOHTTP_SERVER_LOG.filters):
        AIOHTTP_SERVER_LOG.addFilter(ClientErrorFilter())
