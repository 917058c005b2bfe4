"""Host names: checked, then resolved on a pool of their own within part of the poll
timeout, reported with reason ``resolve``. Lookups never leave the machine here: the
resolver is given a lookup function (the test's own), never the system's."""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence

import pytest

from c12exporter.modbus.transport import ModbusTcpTransport
from c12exporter.model import UnitModel
from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.resolve import ResolveError, Resolver, name_problem
from c12exporter.settings import PollConfig, UnitConfig
from c12exporter.store import Store
from c12exporter.transport import TransportError, TransportFactory
from tests.hostile_modbus import HonestUnit, HostileServer

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
            for _ in range(3):  # three rounds of lookups pile up on the resolver's threads
                await asyncio.gather(*(poller.probe_unit(u.name) for u in units))
            assert never_answers.running == never_answers.threads  # no more threads than that
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
