"""Resolving unit host names: checked first, looked up on a small pool of threads of its
own, within a timeout of its own.

The system resolver (``getaddrinfo``) blocks a thread and cannot be cancelled. Running it
on asyncio's default executor lets names that never resolve take every thread that
rendering and other work wait for; here they can only take this pool's few threads, and
a lookup that has not answered within its timeout fails with reason ``resolve`` while
the thread finishes on its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import re
import socket
from collections.abc import Callable, Sequence

LookUp = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP addresses``; blocking, run on the resolver's own threads."""

RESOLVE_THREADS = 4
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
    """Checks and resolves host names on ``threads`` threads of its own."""

    def __init__(self, lookup: LookUp = system_lookup, threads: int = RESOLVE_THREADS) -> None:
        self.lookup = lookup
        self.threads = threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def resolve(self, host: str, port: int, timeout_s: float) -> list[str]:
        """IP addresses of ``host`` (itself if it is one).

        :raises ResolveError: invalid name, unknown name, or no answer within ``timeout_s``.
        """
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        problem = name_problem(host)
        if problem is not None:
            raise ResolveError(f"{printable(host)!r} is not a valid host name: {problem}")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.threads, thread_name_prefix="c12-resolve"
            )
        future = self._pool.submit(self.lookup, host, port)
        try:
            async with asyncio.timeout(timeout_s):
                addresses = await asyncio.wrap_future(future)
        except TimeoutError:
            future.cancel()  # still queued: never runs; running: ends on its own
            raise ResolveError(
                f"{printable(host)!r} did not resolve within {timeout_s:g}s"
            ) from None
        except OSError as error:
            reason = error.strerror or str(error)
            raise ResolveError(f"{printable(host)!r} does not resolve: {reason}") from None
        if not addresses:
            raise ResolveError(f"{printable(host)!r} resolves to no address")
        return [str(a) for a in addresses]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


DEFAULT_RESOLVER = Resolver()
"""The resolver every transport and ``/probe`` use unless given another."""
