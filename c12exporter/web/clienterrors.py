"""What the HTTP server logs about requests a client got wrong.

aiohttp answers a request it cannot parse (a control character in a header, a line too
long, a bad chunk) with ``400`` and logs it at error level with a traceback quoting the
bytes. That is the client's mistake, not the exporter's: it becomes one warning line,
at most one a minute (saying how many were held back), without the traceback or the
client's bytes. A failure of the exporter's own (an exception in a handler, a 500)
stays logged in full.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

from .listener import RateLimitedWarning

AIOHTTP_SERVER_LOG = logging.getLogger("aiohttp.server")
log = logging.getLogger(__name__)


class ClientErrorFilter(logging.Filter):
    """Turns aiohttp's log of a request it could not parse into a rate-limited line."""

    def __init__(self) -> None:
        super().__init__()
        self.warning = RateLimitedWarning(log)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        reason = str(error.message).partition("\n")[0].strip(" :") or "malformed"
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        self.warning.warn(
            "refused a request that is not valid HTTP from %s (%s %s)", peer, error.code, reason
        )
        return False


def quiet_client_errors() -> None:
    """Install the filter once on aiohttp's server logger."""
    if not any(isinstance(f, ClientErrorFilter) for f in AIOHTTP_SERVER_LOG.filters):
        AIOHTTP_SERVER_LOG.addFilter(ClientErrorFilter())
