"""Resolving unit host names: checked first, looked up on a few threads of their own,
within a timeout of their own.

The system resolver (``getaddrinfo``) blocks a thread and cannot be cancelled. Running it
on asyncio's default executor lets names that never resolve take every thread that
rendering and other work wait for; here they can only take the resolver's few threads,
and a lookup that has not answered within its timeout fails with reason ``resolve``
while its thread finishes on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import threading
from collections.abc import Callable, Sequence

LookUp = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP addresses``; blocking, run on the resolver's own threads."""

RESOLVE_THREADS = 4
SLOT_WAIT_S = 0.01
"""How often a lookup waiting for a free thread looks again."""
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$")


class ResolveError(Exception):
    """A host name is invalid, unknown, or did not resolve in time."""


def printable(text: str) -> str:
    """``text`` with control characters escaped, safe to put in a log line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def ip_literal(host: str) -> str | None:
    """``host`` as an IP address in canonical form, or None if it is a name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def name_problem(host: str) -> str | None:
    """What makes ``host`` an invalid DNS name, or None if it is a valid one."""
    if not host:
        return "the host is empty"
    name = host[:-1] if host.endswith(".") else host
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    for label in name.split("."):
        if len(label) > MAX_LABEL_LENGTH:
            return (
                f"label {printable(label[:16])!r}... is {len(label)} characters long "
                f"(at most {MAX_LABEL_LENGTH})"
            )
        if not _LABEL.match(label):
            return f"label {printable(label)!r} is not letters, digits and inner hyphens"
    return None


def system_lookup(host: str, port: int) -> list[str]:
    """The system resolver's TCP addresses for ``host``, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Resolver:
    """Checks and resolves host names, at most ``threads`` lookups at a time, each on a
    daemon thread of its own (a lookup that never answers neither holds up others' work
    nor the exporter's exit)."""

    def __init__(self, lookup: LookUp = system_lookup, threads: int = RESOLVE_THREADS) -> None:
        self.lookup = lookup
        self.threads = threads
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        """Lookups under way (including those whose caller has given up)."""
        return self._running

    async def resolve(self, host: str, port: int, timeout_s: float) -> list[str]:
        """IP addresses of ``host`` (itself if it is one).

        :raises ResolveError: invalid name, unknown name, or no answer within ``timeout_s``
            (waiting for a free thread included).
        """
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        problem = name_problem(host)
        if problem is not None:
            raise ResolveError(f"{printable(host)!r} is not a valid host name: {problem}")
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                while not self._take_thread():
                    await asyncio.sleep(SLOT_WAIT_S)
                answer: asyncio.Future[Sequence[str]] = loop.create_future()
                threading.Thread(
                    target=self._look_up, args=(loop, answer, host, port), daemon=True,
                    name=f"c12-resolve {printable(host)[:32]}",
                ).start()  # fmt: skip
                addresses = await answer
        except TimeoutError:
            busy = " (all resolver threads busy)" if self._running >= self.threads else ""
            raise ResolveError(
                f"{printable(host)!r} did not resolve within {timeout_s:g}s{busy}"
            ) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise ResolveError(f"{printable(host)!r} does not resolve: {reason}") from None
        if not addresses:
            raise ResolveError(f"{printable(host)!r} resolves to no address")
        return [str(a) for a in addresses]

    def _take_thread(self) -> bool:
        with self._lock:
            if self._running >= self.threads:
                return False
            self._running += 1
            return True

    def _look_up(
        self,
        loop: asyncio.AbstractEventLoop,
        answer: asyncio.Future[Sequence[str]],
        host: str,
        port: int,
    ) -> None:
        try:
            result: Sequence[str] | BaseException = self.lookup(host, port)
        except Exception as error:  # handed to the caller
            result = error
        finally:
            with self._lock:
                self._running -= 1
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(_settle, answer, result)


def _settle(answer: asyncio.Future[Sequence[str]], result: Sequence[str] | BaseException) -> None:
    if answer.done():  # the caller gave up
        return
    if isinstance(result, BaseException):
        answer.set_exception(result)
    else:
        answer.set_result(result)


DEFAULT_RESOLVER = Resolver()
"""The resolver every transport and ``/probe`` use unless given another."""
