"""Host names: checked, then resolved on a pool of their own within part of the poll
timeout, reported with reason ``resolve``. Lookups never leave the machine here: the
resolver is given a lookup function (the test's own), never the system's."""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

import pytest

from c12exporter.modbus.transport import ModbusTcpTransport
from c12exporter.model import UnitModel
from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.resolve import ResolveError, Resolver, name_problem
from c12exporter.settings import PollConfig, UnitConfig
from c12exporter.store import Store
from c12exporter.transport import TransportError, TransportFactory
from tests.hostile_modbus import HonestUnit, HostileServer, Request

PLUGINS = load_plugins(entry_points=False)
LONG_LABEL = "a" * 64


@pytest.fixture
def never_answers() -> Iterator[Resolver]:
    """A resolver whose lookups block until the test ends (a DNS server that never
    answers), and count how many were started."""
    release = threading.Event()

    def lookup(host: str, port: int) -> Sequence[str]:
        release.wait()
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    resolver = Resolver(lookup)
    yield resolver
    release.set()


def unknown(host: str, port: int) -> Sequence[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        (f"{LONG_LABEL}.example", "64 characters long (at most 63)"),
        ("a." * 127 + "example", "at most 253"),
        ("bad_host-.example", "not letters, digits and inner hyphens"),
        ("two..dots", "not letters, digits and inner hyphens"),
        ("pdu\n12", "not letters, digits and inner hyphens"),
    ],
)
def test_invalid_names_are_refused_before_any_lookup(host: str, problem: str) -> None:
    looked_up: list[str] = []

    def lookup(name: str, port: int) -> Sequence[str]:
        looked_up.append(name)
        return ["127.0.0.1"]

    with pytest.raises(ResolveError) as error:
        asyncio.run(Resolver(lookup).resolve(host, 502, 1.0))
    assert problem in str(error.value)
    assert "\n" not in str(error.value)
    assert looked_up == []


def test_valid_names_and_addresses() -> None:
    assert name_problem("pdu-12.stage.example.") is None
    assert name_problem("a" * 63) is None
    resolver = Resolver(lambda host, port: ["127.0.0.1"])
    assert asyncio.run(resolver.resolve("pdu-12.stage.example", 502, 1.0)) == ["127.0.0.1"]
    assert asyncio.run(resolver.resolve("::1", 502, 1.0)) == ["::1"]


def transport(address: str, resolver: Resolver, timeout: float = 0.4) -> ModbusTcpTransport:
    return ModbusTcpTransport(address, timeout, resolver=resolver)


def connect_error(address: str, resolver: Resolver, timeout: float = 0.4) -> TransportError:
    async def connect() -> None:
        unit = transport(address, resolver, timeout)
        try:
            await unit.connect()
        finally:
            await unit.close()

    with pytest.raises(TransportError) as error:
        asyncio.run(connect())
    return error.value


def test_a_64_character_label_is_reason_resolve_naming_the_host() -> None:
    error = connect_error(f"{LONG_LABEL}.example:502", Resolver(unknown))
    assert error.reason == "resolve"
    assert f"{LONG_LABEL}.example" in str(error) and "at most 63" in str(error)


def test_an_unknown_name_is_reason_resolve() -> None:
    error = connect_error("pdu-404.stage.example:502", Resolver(unknown))
    assert error.reason == "resolve"
    assert "'pdu-404.stage.example' does not resolve: Name or service not known" in str(error)


def test_a_name_that_never_resolves_fails_within_its_share_of_the_timeout(
    never_answers: Resolver,
) -> None:
    error = connect_error("pdu-slow.stage.example:502", never_answers, timeout=0.4)
    assert error.reason == "resolve"
    assert "'pdu-slow.stage.example' did not resolve within 0.2s" in str(error)


def test_a_resolved_name_is_read_at_its_address() -> None:
    async def test() -> None:
        async with HostileServer(HonestUnit().reply) as server:
            resolver = Resolver(lambda host, port: ["127.0.0.1"])
            unit = transport(f"pdu-7.stage.example:{server.port}", resolver, 2.0)
            try:
                identity = await unit.connect()
                assert identity.model
                assert await unit.read()
            finally:
                await unit.close()

    asyncio.run(test())


class Plugins:
    """The built-in plugins, with the Modbus transport resolving through ``resolver``."""

    def __init__(self, resolver: Resolver) -> None:
        factory = functools.partial(ModbusTcpTransport, resolver=resolver)
        self._transports: dict[str, TransportFactory] = {"modbus-tcp": factory}

    @property
    def transports(self) -> Mapping[str, TransportFactory]:
        return self._transports

    def model(self, name: str) -> UnitModel:
        return PLUGINS.model(name)


def test_names_that_never_resolve_leave_the_default_executor_free(
    never_answers: Resolver,
) -> None:
    """Eight units whose names never resolve: polls fail with reason resolve, naming
    unit and host, and work on asyncio's default executor (rendering /metrics) still
    runs at once."""
    units = tuple(UnitConfig(f"pdu-{i}", f"pdu-{i}.stage.example:502") for i in range(8))
    poll = PollConfig(interval_s=1.0, timeout_s=0.4)

    async def test() -> None:
        store = Store(units, poll.staleness_limit_s)
        poller = Poller(units, Plugins(never_answers), store, poll)
        poller.start()
        try:
            for _ in range(3):  # three rounds of polls share each name's one lookup
                await asyncio.gather(*(poller.probe_unit(u.name) for u in units))
            assert never_answers.running == len(units)  # one thread per name, not per try
            loop = asyncio.get_running_loop()
            assert await asyncio.wait_for(loop.run_in_executor(None, lambda: 42), 5.0) == 42
        finally:
            await poller.stop()
        for unit in units:
            state = store.get(unit.name)
            assert state is not None and state.last_error is not None
            assert state.last_error.reason == "resolve", state.last_error
            assert f"unit {unit.name}: " in state.last_error.message
            assert f"'{unit.name}.stage.example'" in state.last_error.message

    asyncio.run(test())


class Lookups:
    """A lookup function: ``localhost`` answers 127.0.0.1 at once, names in ``hanging``
    block until the test ends (a DNS server that never answers), and every other name is
    unknown. Counts the lookups of each name."""

    def __init__(self, hanging: set[str]) -> None:
        self.hanging = hanging
        self.count: dict[str, int] = {}
        self.release = threading.Event()

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.count[host] = self.count.get(host, 0) + 1
        if host == "localhost":
            return ["127.0.0.1"]
        if host in self.hanging:
            self.release.wait()
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def lookups() -> Iterator[Lookups]:
    hanging = {f"pdu-{i}.stage.example" for i in range(8)}
    lookups = Lookups(hanging)
    yield lookups
    lookups.release.set()


def test_hanging_names_do_not_starve_a_unit_that_reconnects(lookups: Lookups) -> None:
    """Eight units whose names hang and one at ``localhost:PORT`` on a real unit on
    loopback. The unit loses its connection (it hangs up on every request), comes back,
    and is read again within one backoff: its name is answered from what it resolved
    to, never waiting for a thread; each hanging name holds one thread, not one per poll."""
    hanging = tuple(UnitConfig(f"pdu-{i}", f"pdu-{i}.stage.example:502") for i in range(8))
    poll = PollConfig(interval_s=0.5, timeout_s=0.4)
    resolver = Resolver(lookups)

    async def up(store: Store, name: str) -> bool:
        state = store.get(name)
        return state is not None and store.fresh_reading(state) is not None

    async def until(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
        started = time.monotonic()
        while not await check():
            assert time.monotonic() - started < timeout, "timed out"
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    honest = HonestUnit()
    outage = threading.Event()

    def answer(request: Request) -> bytes | None:
        return None if outage.is_set() else honest.reply(request)  # None: hang up

    async def test() -> None:
        async with HostileServer(answer) as server:
            good = UnitConfig("dock", f"localhost:{server.port}")
            units = (*hanging, good)
            store = Store(units, poll.staleness_limit_s)
            poller = Poller(units, Plugins(resolver), store, poll)
            poller.start()
            try:
                await until(lambda: up(store, "dock"), 10.0)
                await asyncio.sleep(1.0)  # the hanging names take every thread they may
                assert resolver.running == len(hanging)  # one thread each, however often asked
                outage.set()  # the unit hangs up on every request: connection lost
                await until(lambda: _failed(store, "dock"), 10.0)
                lost = store.get("dock")
                assert lost is not None and lost.last_error is not None
                assert lost.last_error.reason != "resolve", lost.last_error
                await asyncio.sleep(2 * poll.interval_s)  # reconnects that fail, backing off
                outage.clear()
                took = await until(lambda: _fresh_after_failure(store, "dock"), 10.0)
                backoff = poller_max_backoff(poll)
                assert took <= backoff + poll.interval_s + poll.timeout_s + 0.5, took
                dock = store.get("dock")
                assert dock is not None and dock.last_error is None
                reasons = {store.get(u.name).last_error.reason for u in hanging}  # type: ignore[union-attr]
                assert reasons == {"resolve"}
                assert lookups.count["localhost"] == 1  # answered from what it resolved to
                assert server.accepted >= 2  # it did connect again
                assert all(n <= 1 for n in lookups.count.values())
            finally:
                await poller.stop()

    asyncio.run(test())


async def _failed(store: Store, name: str) -> bool:
    state = store.get(name)
    return state is not None and state.last_error is not None


async def _fresh_after_failure(store: Store, name: str) -> bool:
    state = store.get(name)
    return state is not None and state.last_error is None and store.fresh_reading(state) is not None


def poller_max_backoff(poll: PollConfig) -> float:
    from c12exporter.poller import _max_backoff

    return _max_backoff(poll)


def test_a_failing_name_is_looked_up_once_per_backoff(lookups: Lookups) -> None:
    resolver = Resolver(lookups)

    async def test() -> None:
        for _ in range(5):
            with pytest.raises(ResolveError) as error:
                await resolver.resolve("pdu-404.stage.example", 502, 0.5)
        assert "'pdu-404.stage.example' does not resolve: Name or service not known" in str(
            error.value
        )
        assert "next lookup in 1s" in str(error.value)
        assert lookups.count["pdu-404.stage.example"] == 1
        await asyncio.sleep(1.05)  # the first backoff is over: looked up again, then 2 s
        with pytest.raises(ResolveError, match="does not resolve"):
            await resolver.resolve("pdu-404.stage.example", 502, 0.5)
        with pytest.raises(ResolveError, match="next lookup in 2s"):
            await resolver.resolve("pdu-404.stage.example", 502, 0.5)
        assert lookups.count["pdu-404.stage.example"] == 2

    asyncio.run(test())


def test_a_hanging_name_holds_one_thread_and_the_cap_holds(lookups: Lookups) -> None:
    """Two threads: two hanging names take them; a third name fails at once saying why,
    while a name resolved before is still answered."""
    resolver = Resolver(lookups, threads=2)

    async def test() -> None:
        assert await resolver.resolve("localhost", 502, 0.5) == ["127.0.0.1"]
        for _ in range(3):
            for host in ("pdu-0.stage.example", "pdu-1.stage.example"):
                with pytest.raises(ResolveError, match=r"did not resolve within 0\.1s"):
                    await resolver.resolve(host, 502, 0.1)
        assert resolver.running == 2
        assert lookups.count["pdu-0.stage.example"] == 1
        with pytest.raises(ResolveError, match="all 2 resolver threads busy"):
            await resolver.resolve("pdu-2.stage.example", 502, 0.1)
        assert await resolver.resolve("localhost", 502, 0.5) == ["127.0.0.1"]

    asyncio.run(test())


def test_an_old_answer_is_used_while_its_refresh_hangs(
    lookups: Lookups, monkeypatch: pytest.MonkeyPatch
) -> None:
    import c12exporter.resolve as resolve

    monkeypatch.setattr(resolve, "FRESH_S", 0.0)  # every answer is old at once
    resolver = Resolver(lookups)

    async def test() -> None:
        assert await resolver.resolve("localhost", 502, 0.5) == ["127.0.0.1"]
        lookups.hanging.add("localhost")  # the DNS server stops answering
        lookups.count.clear()

        def hangs(host: str, port: int) -> Sequence[str]:
            lookups.count[host] = lookups.count.get(host, 0) + 1
            lookups.release.wait()
            return ["127.0.0.2"]

        resolver.lookup = hangs
        for _ in range(5):
            assert await resolver.resolve("localhost", 502, 0.1) == ["127.0.0.1"]
        assert lookups.count == {"localhost": 1}  # one refresh under way, not five
        lookups.release.set()
        for _ in range(100):
            if resolver.running == 0:
                break
            await asyncio.sleep(0.01)
        assert await resolver.resolve("localhost", 502, 0.1) == ["127.0.0.2"]

    asyncio.run(test())


def test_the_names_remembered_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """``/probe`` targets come from requests: a stream of new names keeps at most
    ``MAX_NAMES`` entries, dropping the oldest."""
    import c12exporter.resolve as resolve

    monkeypatch.setattr(resolve, "MAX_NAMES", 3)
    resolver = Resolver(lambda host, port: ["127.0.0.1"])

    async def test() -> None:
        for i in range(10):
            assert await resolver.resolve(f"pdu-{i}.stage.example", 502, 0.5) == ["127.0.0.1"]

    asyncio.run(test())
    assert list(resolver._names) == [f"pdu-{i}.stage.example" for i in (7, 8, 9)]
