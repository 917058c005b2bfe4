"""Resolving unit host names: checked first, looked up on threads of their own, answers
kept, and names that fail backed off, so names that never resolve cannot starve the
names that do.

The system resolver (``getaddrinfo``) blocks a thread and cannot be cancelled. Here:

* a name has at most one lookup under way: callers of the same name share it, so a name
  that hangs holds one thread, however often it is asked for;
* an answer is kept: a name that resolved once is answered at once from what it last
  resolved to (looked up again in the background once that is older than
  :data:`FRESH_S`), so a unit that loses its connection reconnects at once even while
  every lookup of other names hangs; only an answer that the name does not exist drops it;
* a name whose lookup failed (an error, or no answer within the caller's timeout) is not
  looked up again before its backoff (1 s, 2 s, 4 s, ... up to :data:`BACKOFF_MAX_S`);
  until then it fails at once with its last reason;
* at most :data:`RESOLVE_THREADS` lookups run at once (daemon threads, so one that never
  answers holds up neither other work nor the exporter's exit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

LookUp = Callable[[str, int], Sequence[str]]
"""``(host, port) -> IP addresses``; blocking, run on the resolver's own threads."""

RESOLVE_THREADS = 32
"""Lookups under way at once, over all names (each name has at most one)."""
FRESH_S = 60.0
"""An answer younger than this is used without asking again."""
MAX_NAMES = 4096
"""Names remembered at most (answers, backoffs)."""
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$")
_NO_SUCH_NAME = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
"""Answers that say the name does not exist (not that the resolver failed)."""


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


@dataclass
class _Name:
    """What the resolver knows of one host name."""

    addresses: list[str] = field(default_factory=list)
    resolved_at: float = 0.0
    lookup: concurrent.futures.Future[list[str]] | None = None
    """The lookup under way, shared by every caller of the name."""
    failures: int = 0
    retry_at: float = 0.0
    reason: str = ""
    """Why the last lookup failed."""


class Resolver:
    """Checks and resolves host names; see the module's docstring for the rules."""

    def __init__(self, lookup: LookUp = system_lookup, threads: int = RESOLVE_THREADS) -> None:
        self.lookup = lookup
        self.threads = threads
        self._running = 0
        self._names: dict[str, _Name] = {}
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        """Lookups under way (including those whose caller has given up)."""
        return self._running

    async def resolve(self, host: str, port: int, timeout_s: float) -> list[str]:
        """IP addresses of ``host`` (itself if it is one).

        :raises ResolveError: invalid name, unknown name, a name in its backoff after a
            failure, or no answer within ``timeout_s``.
        """
        literal = ip_literal(host)
        if literal is not None:
            return [literal]
        problem = name_problem(host)
        if problem is not None:
            raise ResolveError(f"{printable(host)!r} is not a valid host name: {problem}")
        shown = repr(printable(host))
        key = host.lower().rstrip(".")
        now = time.monotonic()
        with self._lock:
            name = self._names.get(key) or self._remember(key)
            if name.addresses:
                stale = now - name.resolved_at >= FRESH_S
                if stale and name.lookup is None and now >= name.retry_at:
                    self._start(key, name, port, now)  # in the background; stale till then
                return list(name.addresses)
            lookup = name.lookup
            if lookup is None:
                if now < name.retry_at:
                    raise ResolveError(
                        f"{shown} {name.reason} (next lookup in {name.retry_at - now:.0f}s)"
                    )
                lookup = self._start(key, name, port, now)
            if lookup is None:
                raise ResolveError(f"{shown} {name.reason}")
        try:
            addresses = await _wait(lookup, timeout_s)
        except TimeoutError:
            with self._lock:
                self._failed(name, f"did not resolve within {timeout_s:g}s", time.monotonic())
            raise ResolveError(f"{shown} did not resolve within {timeout_s:g}s") from None
        except OSError as error:
            raise ResolveError(f"{shown} does not resolve: {error.strerror or error}") from None
        if not addresses:
            raise ResolveError(f"{shown} resolves to no address")
        return addresses

    def _remember(self, key: str) -> _Name:
        """A new entry for ``key`` (the lock is held); past :data:`MAX_NAMES` (``/probe``
        targets come from requests) the oldest entries with no lookup under way go."""
        if len(self._names) >= MAX_NAMES:
            idle = [k for k, n in self._names.items() if n.lookup is None]
            for old in idle[: len(self._names) - MAX_NAMES + 1]:
                del self._names[old]
        name = self._names[key] = _Name()
        return name

    def _start(
        self, key: str, name: _Name, port: int, now: float
    ) -> concurrent.futures.Future[list[str]] | None:
        """Start a lookup of ``key`` on a thread of its own (the lock is held); None if
        every thread is taken (the name backs off)."""
        if self._running >= self.threads:
            self._failed(name, f"was not looked up: all {self.threads} resolver threads busy", now)
            return None
        self._running += 1
        lookup: concurrent.futures.Future[list[str]] = concurrent.futures.Future()
        lookup.set_running_or_notify_cancel()  # a caller that gives up cannot cancel it
        name.lookup = lookup
        threading.Thread(
            target=self._look_up, args=(key, name, lookup, port), daemon=True,
            name=f"c12-resolve {printable(key)[:32]}",
        ).start()  # fmt: skip
        return lookup

    def _look_up(
        self, host: str, name: _Name, lookup: concurrent.futures.Future[list[str]], port: int
    ) -> None:
        try:
            addresses = [str(a) for a in self.lookup(host, port)]
        except Exception as error:  # handed to the callers
            with self._lock:
                self._running -= 1
                name.lookup = None
                reason = getattr(error, "strerror", None) or str(error)
                self._failed(name, f"does not resolve: {reason}", time.monotonic())
                if getattr(error, "errno", None) in _NO_SUCH_NAME:
                    name.addresses = []  # the name is gone: its old answer no longer holds
            lookup.set_exception(error)
            return
        with self._lock:
            self._running -= 1
            name.lookup = None
            if addresses:
                name.addresses, name.resolved_at = addresses, time.monotonic()
                name.failures, name.retry_at, name.reason = 0, 0.0, ""
            else:
                self._failed(name, "resolves to no address", time.monotonic())
        lookup.set_result(addresses)

    @staticmethod
    def _failed(name: _Name, reason: str, now: float) -> None:
        """Back ``name`` off: 1 s, 2 s, 4 s, ... after each failure in a row."""
        if now < name.retry_at:
            return  # one failure, seen by several callers
        name.failures += 1
        name.reason = reason
        name.retry_at = now + min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (name.failures - 1))


async def _wait(lookup: concurrent.futures.Future[list[str]], timeout_s: float) -> list[str]:
    """The lookup's answer, within ``timeout_s``; the lookup goes on if the wait ends."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[list[str]] = loop.create_future()

    def done(finished: concurrent.futures.Future[list[str]]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
            loop.call_soon_threadsafe(_settle, answer, finished)

    lookup.add_done_callback(done)
    async with asyncio.timeout(timeout_s):
        return await answer


def _settle(
    answer: asyncio.Future[list[str]], lookup: concurrent.futures.Future[list[str]]
) -> None:
    if answer.done():  # the caller gave up
        return
    error = lookup.exception()
    if error is not None:
        answer.set_exception(error)
    else:
        answer.set_result(lookup.result())


DEFAULT_RESOLVER = Resolver()
"""The resolver every transport and ``/probe`` use unless given another."""
