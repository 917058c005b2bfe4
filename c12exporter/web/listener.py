"""Listening sockets that survive running out of file descriptors.

When the process has no descriptor left, ``accept()`` fails with EMFILE while the
connection stays queued, so the socket stays readable and asyncio retries (and logs a
traceback) without end. A :class:`Listener` keeps one descriptor in reserve: on EMFILE
it gives the reserve up, accepts the queued connection, answers it 503 (plain HTTP) or
just closes it (TLS), and takes the reserve back. One warning per minute says so. If
even that fails, accepting pauses for a second (asyncio's own back-off) and the
message asyncio would log with a traceback is reduced to the same rate-limited line.

A server started on an address this process already listens on (a reload that changes
only the web settings) takes a duplicate of the listening socket instead of binding
anew: the port is never free between the old server and the new one, so no other
process can take it, and neither SO_REUSEPORT nor a moment without a listener is needed.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PAUSE_S = 1.0
"""How long accepting pauses when not even the reserve descriptor helps."""
WARN_EVERY_S = 60.0


def refusal(reason: str) -> bytes:
    """A complete ``503`` answer, written straight to a socket we will not serve."""
    body = f"{reason}\n".encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


OUT_OF_DESCRIPTORS_REFUSAL = refusal("out of file descriptors, try again")


@dataclass
class RateLimitedWarning:
    """One log line per ``every`` seconds at most, saying how many were held back."""

    logger: logging.Logger = log
    every: float = WARN_EVERY_S
    _next: float = 0.0
    _held: int = field(default=0)

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        held, self._held, self._next = self._held, 0, now + self.every
        suffix = f" ({held} more since the last such message)" if held else ""
        self.logger.warning(message + suffix, *args)


_exhausted = RateLimitedWarning()


class Listener(socket.socket):
    """A listening TCP socket whose ``accept`` sheds connections instead of failing
    when descriptors run out (see the module's doc)."""

    def __init__(
        self, family: int, *, tls: bool, shed: Callable[[str], None], fileno: int | None = None
    ) -> None:
        super().__init__(family, socket.SOCK_STREAM, fileno=fileno)
        self.tls = tls
        self.shed = shed
        self.paused_until = 0.0
        self._reserve: int | None = _open_reserve()

    def accept(self) -> tuple[socket.socket, object]:
        if time.monotonic() < self.paused_until:
            raise BlockingIOError(errno.EAGAIN, "accepting paused")  # asyncio: stop this round
        try:
            return super().accept()
        except OSError as error:
            if error.errno not in OUT_OF_DESCRIPTORS:
                raise
            if self._shed():
                self.shed("out_of_descriptors")
                _exhausted.warn(
                    "out of file descriptors (%s): refusing new HTTP connections; "
                    "raise the open-file limit or lower web.max_connections",
                    errno.errorcode.get(error.errno or 0, error.errno),
                )
                raise ConnectionAbortedError(error.errno, "refused") from None
            self.paused_until = time.monotonic() + PAUSE_S
            _exhausted.warn(
                "out of file descriptors: not accepting HTTP connections for %.0f s", PAUSE_S
            )
            raise  # asyncio removes the socket from the loop and tries again in a second

    def _shed(self) -> bool:
        """Accept one queued connection with the reserve descriptor and refuse it."""
        if self._reserve is None:
            self._reserve = _open_reserve()
            if self._reserve is None:
                return False
        os.close(self._reserve)
        self._reserve = None
        try:
            conn, _ = super().accept()
        except OSError:
            self._reserve = _open_reserve()
            return False
        try:
            conn.setblocking(False)
            if not self.tls:
                conn.send(OUT_OF_DESCRIPTORS_REFUSAL)
        except OSError:
            pass
        finally:
            conn.close()
            self._reserve = _open_reserve()
        return True

    def close(self) -> None:
        if self._reserve is not None:
            os.close(self._reserve)
            self._reserve = None
        for key, held in list(_LISTENING.items()):
            if self in held:
                held.remove(self)
                if not held:
                    del _LISTENING[key]
        super().close()


_LISTENING: dict[tuple[int, object], list[Listener]] = {}
"""The open listeners of this process by family and bound address: a server started on
an address already listened on shares the socket (see the module's doc)."""


def _open_reserve() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


class _QuietAsyncioAccept(logging.Filter):
    """asyncio's "socket.accept() out of system resource" (with a traceback, on every
    retry) becomes the rate-limited warning above."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("socket.accept() out of system resource"):
            _exhausted.warn("out of file descriptors: not accepting HTTP connections for a while")
            return False
        return True


_QUIET = _QuietAsyncioAccept()


def listen(
    host: str, port: int, *, tls: bool, shed: Callable[[str], None], backlog: int = 128
) -> list[Listener]:
    """Listening sockets for ``host`` (all addresses when empty) and ``port``, as
    ``loop.create_server`` would bind them, or duplicates of this process's own listeners
    on the same address; ``shed("out_of_descriptors")`` is called for each connection
    refused for want of a descriptor."""
    logging.getLogger("asyncio").addFilter(_QUIET)  # a set: adding it twice is harmless
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[Listener] = []
    try:
        for family, _, _, _, address in dict.fromkeys(infos):
            held = _LISTENING.get((family, address)) if port else None
            if held:  # the same kernel socket, so the port is never free in between
                sock = Listener(family, tls=tls, shed=shed, fileno=os.dup(held[0].fileno()))
                sockets.append(sock)
                held.append(sock)
                sock.setblocking(False)
                continue
            sock = Listener(family, tls=tls, shed=shed)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
            if port:
                _LISTENING[(family, address)] = [sock]
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
