"""Devices that lie to discovery, on loopback: strings that would drive a terminal, a
serial claimed by a second address, a serial that changes on each connection, and
devices that would grow the fleet without end."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from c12exporter import cli
from c12exporter.discovery.service import Discovery
from c12exporter.modbus.registermap import C12B_V1
from c12exporter.plugins import load_plugins
from c12exporter.settings import DiscoveryConfig
from c12exporter.telemetry import Telemetry
from tests.hostile_modbus import HonestUnit, HostileServer, Request
from tests.servers import free_port

PLUGINS = load_plugins(entry_points=False)
IDS = C12B_V1.identification
HOSTS = ("127.0.9.1", "127.0.9.2", "127.0.9.3")
FORGED = "\x1b]0;owned\x07\x1b[2J\nscanned 9 addresses: 0 units found"


class Device:
    """A C12B on ``host`` whose identification the test sets (``serial`` may be a
    function, asked on each connection); ``silent``: it hangs up."""

    def __init__(self, serial: str | Callable[[], str], **objects: str) -> None:
        self.unit = HonestUnit()
        self.serial = serial
        self.objects = objects
        self.silent = False

    def answer(self, request: Request) -> bytes | None:
        if self.silent:
            return None
        serial = self.serial() if callable(self.serial) else self.serial
        self.unit.objects = {**self.unit.objects, IDS.serial_number: serial}
        for key, text in self.objects.items():
            self.unit.objects[getattr(IDS, key)] = text
        return self.unit.reply(request)


class OnHost(HostileServer):
    """A :class:`HostileServer` on another loopback address."""

    def __init__(self, answer: Callable[[Request], bytes | None], host: str, port: int) -> None:
        super().__init__(answer, port)
        self.host = host

    async def __aenter__(self) -> OnHost:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        return self


@contextlib.contextmanager
def serving(devices: dict[str, Device], port: int) -> Iterator[None]:
    """``devices`` by host, all on ``port``, on a loop of their own in a thread (the
    command under test runs its own loop)."""
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for host, device in devices.items():
                await stack.enter_async_context(OnHost(device.answer, host, port))
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
    thread.start()
    assert ready.wait(10)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def test_discover_escapes_what_devices_say(tmp_path: Path) -> None:
    port = free_port()
    devices = {
        HOSTS[0]: Device(f"S1{FORGED}", vendor=f"V{FORGED}", revision=f"1.0{FORGED}"),
        HOSTS[1]: Device("S2", model_name=f"PM{FORGED}", product_code=f"PM{FORGED}"),
    }
    out = io.StringIO()
    with (
        serving(devices, port),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        code = cli.main(["discover", f"{HOSTS[0]}-2", "--port", str(port), "--timeout", "2"])
    text = out.getvalue()
    assert code == 0, text
    assert "\x1b" not in text and "\x07" not in text
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("scanned")] == [lines[-1]], text
    assert lines[-1].startswith("scanned 2 addresses: 1 unit found"), text
    assert "serial S1\\x1b]0;owned\\x07\\x1b[2J\\nscanned 9" in text
    assert "PM\\x1b]0;owned" in text  # the skipped device's words, escaped too


def run(discovery: Discovery) -> None:
    asyncio.run(discovery.scan_once())


def discovery(tmp_path: Path, port: int, hosts: str) -> Discovery:
    config = DiscoveryConfig(networks=(hosts,), port=port, timeout_s=2.0, rate=0)
    return Discovery(config, PLUGINS, tmp_path, Telemetry())


def test_a_second_address_claiming_a_live_units_serial_does_not_take_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    real, copy = Device("C12B00042"), Device("C12B00042")
    caplog.set_level(logging.INFO)
    with serving({HOSTS[0]: real}, port):
        found = discovery(tmp_path, port, f"{HOSTS[0]}-2")
        run(found)
    assert [(u.name, u.address) for u in found.units()] == [("pdu-01", f"{HOSTS[0]}:{port}")]
    with serving({HOSTS[0]: real, HOSTS[1]: copy}, port):
        run(found)
        assert [(u.name, u.address) for u in found.units()] == [("pdu-01", f"{HOSTS[0]}:{port}")]
        assert f"{HOSTS[1]}:{port}: serial conflict: serial 'C12B00042'" in caplog.text
        real.silent = True  # the unit's own address goes silent: now it has moved
        run(found)
    assert [(u.name, u.address) for u in found.units()] == [("pdu-01", f"{HOSTS[1]}:{port}")]
    assert "moved from" in caplog.text


def test_a_serial_that_changes_on_each_connection_is_reported_not_added(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    counter = iter(range(1_000_000))
    rolling = Device(lambda: f"ROLL{next(counter):06d}")
    caplog.set_level(logging.INFO)
    found = discovery(tmp_path, port, HOSTS[0])
    with serving({HOSTS[0]: rolling}, port):
        for _ in range(5):
            run(found)
    assert found.units() == [] and found.known == {}
    assert "changing serial: answered serial 'ROLL" in caplog.text


def test_discovery_adds_no_more_units_than_the_addresses_it_scans(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two devices that take a new serial between scans (steady within one): the fleet
    stays at two units, and the refusal is logged."""
    port = free_port()
    scan = [0]
    devices = {h: Device(lambda h=h: f"{h}-{scan[0]}") for h in HOSTS[:2]}  # type: ignore[misc]
    caplog.set_level(logging.WARNING)
    found = discovery(tmp_path, port, f"{HOSTS[0]}-2")
    with serving(devices, port):
        for scan[0] in range(5):
            run(found)
    assert len(found.units()) == 2
    assert "new serials not added: 2 units are in the fleet already" in caplog.text


def test_advise_escapes_names_from_the_unit() -> None:
    import dataclasses

    from c12exporter import balance
    from c12exporter.advise import as_text
    from tests.servers import simulated_reading

    reading = simulated_reading("C12B-12")
    hostile = [dataclasses.replace(c, name=f"ch{FORGED}") for c in reading.channels]
    reading = dataclasses.replace(reading, channels=tuple(hostile))
    moves = [balance.Move(hostile[0], hostile[1], 5.0, 0.2, 0.1, {"L1": 1.0, "L2": 1.0, "L3": 1.0})]
    text = as_text(reading, moves)
    assert "\x1b" not in text and "\x07" not in text
    assert "(ch\\x1b]0;owned\\x07\\x1b[2J\\nscanned 9" in text
