"""A 24-channel sibling model from outside the core: ``examples/c24b`` installed with pip
beside the package adds the C24B through its entry point; ``c12exporter simulate --models
C24B-12,C12B-12`` serves 24 and 12 channels over Modbus TCP, and every surface shows each
unit as it is: /metrics, the SNMP agent (snmpwalk), the console, ``advise``, ``check`` and
``discover``, and the problem board judges the aux socket on channel 24."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import c12exporter.snmp
from c12exporter.config import load_config
from c12exporter.console.handlers import EditRefused, parse_edit
from c12exporter.console.view import detail_cells
from c12exporter.discovery.scan import Outcome, identify
from c12exporter.modbus.registermap import C12B_V1
from c12exporter.model import ModelError
from c12exporter.plugins import DISABLE_ENTRY_POINTS_ENV, Plugins, load_plugins
from c12exporter.problems import problems_of
from c12exporter.reading import ChannelSettings, Reading, build_reading
from c12exporter.settings import ConfigError, UnitConfig
from c12exporter.simulator.server import Fleet
from c12exporter.store import UnitState
from tests.hostile_modbus import HonestUnit, HostileServer
from tests.servers import (
    LOOPBACK,
    REPO,
    SimulatorControl,
    c12exporter_command,
    exporter,
    free_port,
    http_get,
    require_tool,
    simulator,
    wait_until,
)
from tests.snmp_harness import parse, scaled, snmp_env

EXAMPLE = REPO / "examples" / "c24b"
MIB_DIR = Path(c12exporter.snmp.__file__).parent / "mibs"
"""C12-PDU-MIB and the modules it imports, as the package carries them."""
COMMUNITY = "c12-public"
OPERATOR = {"name": "operator", "auth_key": "operator-auth-key", "priv_key": "operator-priv-key",
            "access": "read-write"}  # fmt: skip
"""An SNMPv3 user who may Set (SHA-256 and AES-128, the defaults)."""
CONNECTORS_OF_SIX = {label: list(range(6 * i + 1, 6 * i + 7)) for i, label in enumerate("ABCD")}
"""A C24B's channels drawn by connector: four 19-pin Socapex-type connectors of six."""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed with pip (built offline, no dependencies) into a directory
    of its own: the package and its entry-point metadata, as a user's pip leaves them.
    Built from a copy, so the build leaves nothing in the checkout."""
    source = tmp_path_factory.mktemp("c24b-source") / "c24b"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp_path_factory.mktemp("c24b-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=120, cwd=target,
    )  # fmt: skip
    assert list(target.glob("c12exporter_c24b-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def plugins(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugins]:
    """The plugins as the exporter loads them, with the example on the path."""
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.delenv(DISABLE_ENTRY_POINTS_ENV, raising=False)
    yield load_plugins(entry_points=True)
    sys.modules.pop("c12exporter_c24b", None)


def test_the_installed_plugin_adds_the_c24b_family(plugins: Plugins) -> None:
    assert plugins.families["C24"].channel_count == 24
    model = plugins.model("C24B-12")
    assert (model.channel_count, model.aux_channel, model.input_rating_a) == (24, 24, 63.0)
    assert model.aux_socket.name == "French Type E"  # aux codes are the C12's
    assert plugins.model("C24B-11").aux_socket.name == "German Schuko"
    assert [c.label for c in model.layout.connectors] == ["A", "B", "C", "D"]
    assert {c.type for c in model.layout.connectors} == {"Socapex 19-pin"}
    assert model.layout.connector_of(24).channel_pins[24] == ("11", "12")
    assert model.channel_phases[21:] == ("L1", "L2", "L3")
    assert plugins.model("C12B-12").channel_count == 12  # the C12 family unchanged
    with pytest.raises(ModelError, match="'C24A-12' is a C24A: it has no network interface"):
        plugins.model("C24A-12")
    with pytest.raises(ModelError, match=r"not a C12 or C24 model name; expected C12B-LA or"):
        plugins.model("C36B-12")


def test_the_config_takes_a_c24b_units_phases_and_supervision(
    plugins: Plugins, tmp_path: Path
) -> None:
    rotation = ["L2", "L3", "L1"] * 8
    config = tmp_path / "c12.yml"
    config.write_text(
        "units:\n"
        f"  - {{name: a, address: 'h:1', model: C24B-12, phases: {rotation},\n"
        "     supervision: {24: {max: 10}}}\n"
        f"  - {{name: b, address: 'h:2', phases: {rotation}}}\n"  # model from the unit
    )
    a, b = load_config(config, plugins).units
    assert a.phases == b.phases == tuple(rotation)
    assert a.supervision[24].max_a == 10.0
    config.write_text(
        f"units:\n  - {{name: a, address: 'h:1', model: C24B-12, phases: {rotation[:12]}}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"\(a\)\.phases: must list the phase of each of the 24 channels"
    ):
        load_config(config, plugins)
    config.write_text("units:\n  - {name: a, address: 'h:1', phases: [L1, L2]}\n")
    with pytest.raises(ConfigError, match=r"must list the phase of each of the 12 or 24 channels"):
        load_config(config, plugins)
    config.write_text(
        "units:\n  - {name: a, address: 'h:1', model: C12B-12, supervision: {13: {max: 1}}}\n"
    )
    with pytest.raises(ConfigError, match=r"supervision\.13: not a channel number 1\.\.12"):
        load_config(config, plugins)


# --- one simulated fleet (a C24B-12 beside a C12B-12) and one exporter for the module -------


@dataclass(frozen=True)
class Stack:
    """``c12exporter simulate`` and ``c12exporter serve`` (with its SNMP agent and the
    console), both finding the plugin on their path as a user's would."""

    control: SimulatorControl
    c24b: dict[str, Any]
    """The C24B-12's entry of the simulator's units file (name, address)."""
    c12b: dict[str, Any]
    url: str
    snmp_port: int
    tmp: Path

    @property
    def units(self) -> list[dict[str, Any]]:
        return [self.c24b, self.c12b]

    @property
    def simulator_log(self) -> str:
        return (self.tmp / "simulator.log").read_text()


@pytest.fixture(scope="module")
def stack(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("c24b-stack")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join([str(installed), str(REPO)]))
        env.delenv(DISABLE_ENTRY_POINTS_ENV, raising=False)
        # idle-bench: a quiet fleet (no LED-wall neutral near its rating), physics frozen
        options = ("--models", "C24B-12,C12B-12", "--scenario", "idle-bench", "--speed", "0")
        with simulator(tmp, 2, *options) as (control, units_file):
            units = yaml.safe_load(units_file.read_text())["units"]
            model_of = {u["name"]: u["model"] for u in control.units()}
            c24b, c12b = (next(u for u in units if model_of[u["name"]] == m) for m in
                          ("C24B-12", "C12B-12"))  # fmt: skip
            snmp_port = free_port()
            snmp = {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": COMMUNITY,
                    "users": [OPERATOR], "writes_enabled": True}  # fmt: skip
            config = (
                units_file.read_text()
                + "poll: {interval: 2s, timeout: 2s}\n"
                + yaml.safe_dump({"snmp": snmp})
            )
            with exporter(tmp, config) as url:

                def both_up() -> bool:
                    text = http_get(f"{url}/metrics")
                    return all(f'c12_up{{pdu="{u["name"]}"}} 1.0' in text for u in units)

                wait_until(both_up, 30, "the exporter's first polls of both units")
                yield Stack(control, c24b, c12b, url, snmp_port, tmp)


SLOW = ("--timeout", "10")
"""A unit's answers may take seconds on a busy machine: what is checked is what they say."""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """A ``c12exporter`` command as a user runs it (the plugin on its path: see ``stack``)."""
    return subprocess.run(
        c12exporter_command(*args), capture_output=True, text=True, timeout=60, check=False
    )


def test_simulate_c24b_serves_24_channels_read_by_the_transport(
    stack: Stack, plugins: Plugins
) -> None:
    c24b, c12b = stack.c24b, stack.c12b
    assert "2 simulated units (idle-bench" in stack.simulator_log
    stack.control.act(c24b["name"], "set_load", channel=24, current_a=7.5)
    stack.control.act(c24b["name"], "set_supervision", channel=20, max_a=10.0)

    async def read(address: str, channel: int) -> tuple[list[object], Reading]:
        transport = plugins.transports["modbus-tcp"](address, 2.0)
        try:
            identity = await transport.connect()
            await transport.write([ChannelSettings(channel, name="far end")])
            values = await transport.read()
        finally:
            await transport.close()
        reading = build_reading("u", identity, plugins.model(identity.model), 0.0, values)
        return [
            values["channel_current"],
            values["channel_name"],
            values["supervision_max"],
        ], reading

    (currents, names, highs), reading = asyncio.run(read(c24b["address"], 23))
    assert isinstance(currents, list) and len(currents) == 24
    assert currents[23] == pytest.approx(7.5, abs=0.01)
    assert isinstance(names, list) and len(names) == 24 and names[22] == "far end"
    assert isinstance(highs, list) and highs[18:21] == [None, 10.0, None]
    assert len(reading.channels) == 24
    assert reading.aux_channel.number == 24
    assert reading.aux_channel.connector == "D"
    wait_until(
        lambda: (
            stack.control.unit(c24b["name"])["meter"]["settings"]["channel_name"][22] == "far end"
        ),
        5,
        "the write on channel 23 reaches the simulated unit",
    )

    (currents, names, _), reading = asyncio.run(read(c12b["address"], 12))
    assert isinstance(currents, list) and len(currents) == 12  # the C12B beside it
    assert isinstance(names, list) and names[11] == "far end"
    assert reading.aux_channel.number == 12

    # `c12exporter serve` finds the plugin the same way and polls both units
    def channel_series() -> dict[str, int]:
        lines = [
            x for x in http_get(f"{stack.url}/metrics").splitlines()
            if x.startswith("c12_channel_current_")
        ]  # fmt: skip
        return {u["name"]: sum(f'pdu="{u["name"]}"' in x for x in lines) for u in stack.units}

    expected = {c24b["name"]: 24, c12b["name"]: 12}
    wait_until(lambda: channel_series() == expected, 30, "both units' channels on /metrics")
    aux = [x for x in http_get(f"{stack.url}/metrics").splitlines() if "c12_aux_socket_info{" in x]
    assert {(u["pdu"], u["channel"]) for u in map(_labels, aux)} == {
        (c24b["name"], "24"),
        (c12b["name"], "12"),
    }


def _labels(line: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))


# --- SNMP: snmpwalk with the MIB loaded by name ------------------------------------------------


def net_snmp(stack: Stack, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A net-snmp tool against the exporter's agent, C12-PDU-MIB loaded by name from the
    package's mibs directory."""
    command = [require_tool(tool, "snmp"), "-M", f"+{MIB_DIR}", "-m", "+C12-PDU-MIB",
               "-OqeUtb", "-r", "1", "-t", "2", *args]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=30, check=False, env=snmp_env(stack.tmp)
    )


def snmpwalk(stack: Stack, column: str) -> dict[str, str]:
    """One column of C12-PDU-MIB as net-snmp walks it: {``name.unit.channel``: value}."""
    target = f"udp:{LOOPBACK}:{stack.snmp_port}"
    result = net_snmp(stack, "snmpwalk", "-v2c", "-c", COMMUNITY, target, f"C12-PDU-MIB::{column}")
    assert result.returncode == 0, result.stderr[-2000:]
    return parse(result.stdout)


def snmp_unit_index(stack: Stack, unit: dict[str, Any]) -> str:
    """The unit's c12UnitIndex, found by its name as an NMS would."""
    names = snmpwalk(stack, "c12UnitName")
    return next(key.split(".", 1)[1] for key, name in names.items() if name == unit["name"])


def test_snmpwalk_shows_each_units_channels_and_its_aux_socket_row(stack: Stack) -> None:
    c24b, c12b = snmp_unit_index(stack, stack.c24b), snmp_unit_index(stack, stack.c12b)

    def rows(column: str, unit: str) -> dict[int, str]:
        walked = snmpwalk(stack, column)
        prefix = f"{column}.{unit}."
        return {int(k.removeprefix(prefix)): v for k, v in walked.items() if k.startswith(prefix)}

    assert sorted(rows("c12ChannelCurrent", c24b)) == list(range(1, 25))
    assert sorted(rows("c12ChannelCurrent", c12b)) == list(range(1, 13))
    aux_c24b, aux_c12b = rows("c12ChannelAuxSocket", c24b), rows("c12ChannelAuxSocket", c12b)
    assert [n for n, v in aux_c24b.items() if v == "1"] == [24]  # TruthValue true(1)
    assert set(aux_c24b.values()) == {"1", "2"} and len(aux_c24b) == 24
    assert [n for n, v in aux_c12b.items() if v == "1"] == [12]
    socket_names = rows("c12ChannelAuxSocketName", c24b)
    assert {n: v for n, v in socket_names.items() if v} == {24: "French Type E"}
    ratings = {n: scaled(v) for n, v in rows("c12ChannelAuxSocketRating", c24b).items()}
    assert {n: v for n, v in ratings.items() if v} == {24: 16000}  # mA
    assert rows("c12ChannelConnector", c24b)[24] == "D"


def test_snmpset_writes_a_name_and_a_band_on_channel_24(stack: Stack) -> None:
    unit = snmp_unit_index(stack, stack.c24b)
    operator = ["-v3", "-l", "authPriv", "-u", OPERATOR["name"], "-a", "SHA-256", "-A",
                OPERATOR["auth_key"], "-x", "AES", "-X", OPERATOR["priv_key"],
                f"udp:{LOOPBACK}:{stack.snmp_port}"]  # fmt: skip
    done = net_snmp(stack, "snmpset", *operator,
                    f"C12-PDU-MIB::c12ChannelName.{unit}.24", "s", "stage right",
                    f"C12-PDU-MIB::c12ChannelSupervisionMax.{unit}.24", "i", "12500")  # fmt: skip
    assert done.returncode == 0, done.stderr[-1000:]

    def stored() -> tuple[str, float | None]:
        settings = stack.control.unit(stack.c24b["name"])["meter"]["settings"]
        return settings["channel_name"][23], settings["supervision_max"][23]

    wait_until(lambda: stored() == ("stage right", 12.5), 15, "the Set reaches channel 24")
    done = net_snmp(stack, "snmpset", "-Ir", *operator,  # -Ir: no client-side index check
                    f"C12-PDU-MIB::c12ChannelName.{unit}.25", "s", "no such channel")  # fmt: skip
    assert done.returncode != 0 and "noCreation" in done.stderr, done.stderr


# --- the console -------------------------------------------------------------------------------


def connectors(page: str) -> dict[str, list[int]]:
    """The unit page's channel pane: each connector's label and the channels drawn in it."""
    blocks = re.findall(
        r'<section class="connector" aria-labelledby="con-([^"]+)">(.*?)</section>', page, re.S
    )
    return {
        label: [int(n) for n in re.findall(r'<li class="ch" data-channel="(\d+)"', body)]
        for label, body in blocks
    }


def aux_tiles(page: str) -> list[int]:
    """The channels whose tile carries the aux socket's tag."""
    tiles = re.findall(r'<li class="ch" data-channel="(\d+)"(.*?)</li>', page, re.S)
    return [int(n) for n, body in tiles if 'class="aux"' in body]


def test_the_console_draws_24_channels_as_four_connectors_of_six(stack: Stack) -> None:
    page = http_get(f"{stack.url}/?unit={stack.c24b['name']}")
    assert connectors(page) == CONNECTORS_OF_SIX
    assert aux_tiles(page) == [24]
    assert "+ French Type E socket" in page
    assert "French Type E (CEE 7/5, 16 A) on channel 24" in page
    assert "4 x 19-pin Socapex-type, 6 channels per connector" in page

    page = http_get(f"{stack.url}/?unit={stack.c12b['name']}")  # the C12B beside it
    drawn = connectors(page)
    assert sorted(n for channels in drawn.values() for n in channels) == list(range(1, 13))
    assert aux_tiles(page) == [12]
    assert "on channel 12" in page and "on channel 24" not in page


def stream_events(url: str, deadline: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """The console's server-sent events (name, data) until ``deadline`` (monotonic)."""
    with urllib.request.urlopen(url, timeout=max(1.0, deadline - time.monotonic())) as response:
        event = ""
        while time.monotonic() < deadline:
            line = response.readline().decode()
            if not line:
                return
            if line.startswith("event: "):
                event = line.removeprefix("event: ").strip()
            elif line.startswith("data: "):
                yield event, json.loads(line.removeprefix("data: "))


def test_the_console_stream_updates_channel_24_live(stack: Stack) -> None:
    """The unit view over the live stream: its first event draws the 24 channels, and a
    new load on channel 24 reaches that channel's tile at a later poll."""
    name = stack.c24b["name"]
    deadline = time.monotonic() + 30
    with contextlib.closing(
        stream_events(f"{stack.url}/console/events?unit={name}", deadline)
    ) as events:
        kind, first = next(events)
        assert kind == "snapshot" and connectors(str(first["unit"])) == CONNECTORS_OF_SIX
        stack.control.act(name, "set_load", channel=24, current_a=5.5)
        for kind, data in events:
            detail = data.get("detail", {}) if kind == "update" else {}
            if detail.get("t:c.24.current") == "5.50 A":
                assert detail["w:c.24.current"] == pytest.approx(100 * 5.5 / 16, abs=0.1)
                break
        else:
            raise AssertionError("channel 24's new current never reached the console's stream")


# --- the command line: advise, check, discover ------------------------------------------------


def test_advise_names_channels_up_to_24(stack: Stack, plugins: Plugins) -> None:
    """Loads set so that the one free channel is the aux channel 24 (on L3, the lightest
    line) and the largest load on the heaviest line is channel 22: the best move is 22 to 24."""
    name = stack.c24b["name"]
    per_phase = {"L1": 2.0, "L2": 1.0, "L3": 0.2}  # 0.2 A: not free, too small to move
    phases = plugins.model("C24B-12").channel_phases
    loads = {n: per_phase[phase] for n, phase in enumerate(phases, 1)}
    loads[22], loads[24] = 3.0, 0.0
    assert (phases[21], phases[23]) == ("L1", "L3")
    for channel, current in loads.items():
        stack.control.act(name, "set_load", channel=channel, current_a=current)
    done = run_cli("advise", stack.c24b["address"], "--format", "json", "--top", "2", *SLOW)
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)
    assert advice["line_currents_a"] == pytest.approx({"L1": 17.0, "L2": 8.0, "L3": 1.4}, abs=0.1)
    best, second = advice["moves"]
    assert (best["channel"], best["phase"], best["to_channel"], best["to_phase"]) == (
        22, "L1", 24, "L3",
    )  # fmt: skip
    assert best["current_a"] == pytest.approx(3.0, abs=0.01)
    assert (second["channel"], second["to_channel"]) == (1, 24)
    done = run_cli("advise", stack.c24b["address"], "--top", "1", *SLOW)
    assert done.returncode == 0, done.stderr
    assert re.search(  # channel 24 may carry a name another test gave it
        r"^1\. move the 3\.0 A load of channel 22 on L1 to channel 24( \(.*\))? on L3: ",
        done.stdout,
        re.M,
    ), done.stdout


def perfdata_channels(line: str) -> list[int]:
    return [int(n) for n in re.findall(r"'ch(\d+)'=", line.split(" | ", 1)[1])]


def check_ok(*args: str) -> str:
    """``c12exporter check``'s line once it says OK (exit 0): on a busy machine one of the
    exporter's polls may time out, and the unit shows down until the next."""

    def ok() -> str:
        done = run_cli("check", *args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    return str(wait_until(ok, 30, f"`c12exporter check {' '.join(args)}` to say OK", step=1.0))


def test_check_is_ok_with_24_channels_in_its_perfdata(stack: Stack) -> None:
    name = stack.c24b["name"]
    line = check_ok("--exporter", stack.url, "--unit", name)
    assert line.startswith(f"C12 OK - unit {name}: e-stop released, switch on, "
                           "24 channels OK, L1/L2/L3 "), line  # fmt: skip
    assert perfdata_channels(line) == list(range(1, 25))

    line = check_ok("--address", stack.c24b["address"])  # directly over Modbus
    assert "24 channels OK" in line
    assert perfdata_channels(line) == list(range(1, 25))

    line = check_ok("--exporter", stack.url, "--unit", stack.c12b["name"])
    assert "12 channels OK" in line
    assert perfdata_channels(line) == list(range(1, 13))


def test_discover_finds_the_c24b_and_skips_a_c24a_as_without_network_interface(
    stack: Stack, plugins: Plugins
) -> None:
    host, port = stack.c24b["address"].rsplit(":", 1)
    done = run_cli("discover", host, "--port", port, *SLOW)
    assert done.returncode == 0, done.stderr
    assert f"{stack.c24b['address']}: C24B-12, serial " in done.stdout
    assert "scanned 1 address: 1 unit found" in done.stdout

    c24a = HonestUnit()  # answers Read Device Identification as a C24A would
    ids = C12B_V1.identification
    c24a.objects |= {ids.model_name: "C24A-12", ids.product_code: "C24A-12"}

    async def ask(resolver: Plugins) -> tuple[Outcome, str]:
        async with HostileServer(c24a.reply) as server:
            finding = await identify(resolver, server.address, 2.0)
        return finding.outcome, finding.reason

    outcome, reason = asyncio.run(ask(plugins))
    assert outcome is Outcome.UNNETWORKED
    assert "'C24A-12' is a C24A: it has no network interface" in reason
    # without the plugin nothing names a C24A: it is just another device
    outcome, reason = asyncio.run(ask(load_plugins(entry_points=False)))
    assert outcome is Outcome.OTHER and "not a C12 model name" in reason


# --- the problem board and the console's view of one reading ----------------------------------


def c24b_reading(plugins: Plugins, model: str) -> Reading:
    """One reading of a simulated ``model`` read over Modbus on loopback, as a poll would."""

    async def read() -> Reading:
        async with await Fleet.start(
            1, plugins=plugins, models=(model,), scenario_name="idle-bench", speed=0.0
        ) as fleet:
            transport = plugins.transports["modbus-tcp"](fleet.units[0].address, 2.0)
            try:
                identity = await transport.connect()
                values = await transport.read()
            finally:
                await transport.close()
        return build_reading("u", identity, plugins.model(identity.model), 0.0, values)

    return asyncio.run(read())


def test_channel_24_is_judged_by_its_aux_socket_and_channel_12_by_its_rcbo(
    plugins: Plugins,
) -> None:
    reading = c24b_reading(plugins, "C24B-13")  # UK 13 A socket on channel 24
    assert reading.model.aux_socket.rating_a == 13.0 and len(reading.channels) == 24

    def with_currents(**by_channel: float) -> Reading:
        channels = tuple(
            c.with_values(channel_current=by_channel.get(f"ch{c.number}", 0.0))
            for c in reading.channels
        )
        return dataclasses.replace(reading, channels=channels)

    unit = UnitState(UnitConfig("u", "127.0.0.1:1"))
    loaded = with_currents(ch12=13.5, ch24=13.5)
    problems = {p.key: p for p in problems_of(unit, loaded, {}, 1000.0)}
    assert problems["overload.24"].text == "channel 24 over rating: 13.5 A of 13 A (UK 13 A socket)"
    assert problems["near.12"].text == "channel 12 near rating: 13.5 A of 16 A"
    assert "overload.12" not in problems

    cells = detail_cells(unit, loaded, list(problems.values()))
    assert cells.t["d.aux"] == "UK 13 A (BS 1363, 13 A) on channel 24"
    assert cells.w["c.24.current"] == 100.0  # against the socket's 13 A
    assert cells.w["c.12.current"] == pytest.approx(84.4, abs=0.1)  # against the 16 A RCBO

    with pytest.raises(EditRefused, match=r"channel: 25 is not a channel \(1\.\.24\)"):
        parse_edit({"field": "channel_name", "channel": 25, "value": "x"}, reading)
    _, what, _, after = parse_edit(
        {"field": "channel_name", "channel": 24, "value": "far end"}, reading
    )
    assert "24" in what and after == "far end"
