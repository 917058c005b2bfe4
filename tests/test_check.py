"""``c12exporter check`` against the simulator: exit codes, status line and perfdata for
each state, through the exporter and directly over Modbus."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import LOOPBACK, SimulatorControl, c12exporter_command, exporter, simulator

pytestmark = pytest.mark.integration

Fleet = tuple[SimulatorControl, str, dict[str, str]]
"""The simulator's control, the exporter's URL, unit addresses by name."""

PERF = re.compile(r"^'([^']+)'=(-?[\d.]+)([A-Za-z%]*);([\d.]*);([\d.]*);([\d.]*);([\d.]*)$")


def run_check(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = subprocess.run(
        c12exporter_command("check", *args), capture_output=True, text=True, timeout=60,
        check=False, env=env,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert len(lines) == 1, (result.stdout, result.stderr)
    return result.returncode, lines[0]


def perfdata(line: str) -> dict[str, tuple[float, str, str, str, str, str]]:
    assert " | " in line, line
    out = {}
    for item in line.split(" | ", 1)[1].split():
        match = PERF.match(item)
        assert match, f"bad perfdata {item!r} in {line!r}"
        label, value, uom, *rest = match.groups()
        out[label] = (float(value), uom, *rest)
    return out


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("check")
    with simulator(tmp, 3, "--speed", "0") as (control, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        config = yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"}, "units": units})
        with exporter(tmp, config) as url:
            yield control, url, {u["name"]: u["address"] for u in units}


def wait_state(
    args: tuple[str, ...], code: int, settled: Callable[[str], bool] = lambda line: True
) -> str:
    """The status line once the check exits with ``code`` and the line is ``settled`` (the
    exporter polls every 1 s, so loads set one channel at a time show up over several polls)."""
    import time

    deadline = time.monotonic() + 20
    while True:
        rc, line = run_check(*args)
        if (rc == code and settled(line)) or time.monotonic() > deadline:
            assert rc == code, line
            return line
        time.sleep(0.5)


def test_ok_unit_has_perfdata_with_units_and_thresholds(fleet: Fleet) -> None:
    _, url, _ = fleet
    line = wait_state(("--exporter", url, "--unit", "sim-02"), 0)
    assert line.startswith("C12 OK - unit sim-02:"), line
    perf = perfdata(line)
    assert perf["temperature"][1:4] == ("C", "40", "45")
    assert perf["L1"][1:] == ("A", "50.4", "63", "0", "63")
    assert perf["N"][1] == "A"
    assert {f"ch{n}" for n in range(1, 13)} <= set(perf)
    assert perf["ch1"][1:] == ("A", "12.8", "16", "0", "16")


def test_direct_address_reads_the_same_unit(fleet: Fleet) -> None:
    _, url, addresses = fleet
    rc, line = run_check("--address", addresses["sim-03"])
    assert rc == 0, line
    via_exporter = perfdata(wait_state(("--exporter", url, "--unit", "sim-03"), 0))
    direct = perfdata(line)
    # The physics are frozen: one reading equals the other, channel by channel.
    assert {k: v[0] for k, v in direct.items()} == {k: v[0] for k, v in via_exporter.items()}


def test_unknown_unit_and_dead_exporter_are_unknown(fleet: Fleet) -> None:
    _, url, _ = fleet
    rc, line = run_check("--exporter", url, "--unit", "no-such-unit")
    assert (rc, line) == (3, f"C12 UNKNOWN - the exporter at {url} has no unit 'no-such-unit'")
    rc, line = run_check("--exporter", f"http://{LOOPBACK}:1")
    assert rc == 3 and line.startswith("C12 UNKNOWN - "), line
    rc, line = run_check("--exporter", url, "--user", "nagios", "--password-file", "/nonexistent")
    assert rc == 3 and "--password-file /nonexistent" in line, line
    rc, line = run_check("--exporter", url, "--channel-warning", "2")
    assert rc == 3 and "--channel-warning 2.0 is above --channel-critical 1.0" in line, line
    rc, line = run_check("--no-such-option")
    assert rc == 3 and line.startswith("C12 UNKNOWN - "), line


def test_faults_give_warning_and_critical(fleet: Fleet) -> None:
    control, url, addresses = fleet
    unit = ("--exporter", url, "--unit", "sim-02")
    wait_state(unit, 0)
    # A band violation alone is a WARNING.
    control.act("sim-02", "set_supervision", channel=4, min_a=0.0, max_a=1.0)
    line = wait_state(unit, 1)
    assert "channel 4" in line and "above its supervision band (WARNING)" in line, line
    control.act("sim-02", "set_supervision", channel=4, min_a=None, max_a=None)
    wait_state(unit, 0)
    # 17 A on a 16 A RCBO: over its rating, CRITICAL, and its perfdata says so.
    control.act("sim-02", "set_load", channel=5, current_a=17.0)
    line = wait_state(unit, 2)
    assert "channel 5" in line and "17 A over its rating (CRITICAL)" in line, line
    assert perfdata(line)["ch5"][:4] == (17.0, "A", "12.8", "16")
    control.act("sim-02", "set_load", channel=5, current_a=2.0)
    wait_state(unit, 0)
    # The e-stop: CRITICAL through the exporter, the fleet, and directly.
    control.act("sim-02", "estop")
    line = wait_state(unit, 2)
    assert "emergency stop pressed (CRITICAL)" in line, line
    rc, fleet_line = run_check("--exporter", url)
    assert rc == 2 and "sim-02: emergency stop pressed" in fleet_line, fleet_line
    assert perfdata(fleet_line)["units_up"][0] == 3
    rc, direct = run_check("--address", addresses["sim-02"])
    assert rc == 2 and "emergency stop pressed" in direct, direct
    control.act("sim-02", "estop_release")
    control.act("sim-02", "switch_on")
    wait_state(unit, 0)
    # A dead unit: CRITICAL, through the exporter and directly.
    control.act("sim-02", "network", mode="kill")
    line = wait_state(unit, 2)
    assert "unreachable" in line, line
    rc, direct = run_check("--address", addresses["sim-02"], "--timeout", "2")
    assert rc == 2 and "unreachable" in direct, direct
    control.act("sim-02", "network", mode="normal")
    wait_state(unit, 0)


def test_no_password_on_the_command_line(tmp_path: Path) -> None:
    rc, line = run_check("--exporter", f"http://{LOOPBACK}:1", "--password", "x")
    assert rc == 3 and "never on the command line" in line, line
    rc, line = run_check("--exporter", f"http://{LOOPBACK}:1", "--user", "nagios")
    assert rc == 3 and "give --password-file or $C12_CHECK_PASSWORD" in line, line


def test_a_stopped_meter_gives_no_line_currents_rather_than_zeros() -> None:
    import dataclasses
    import time

    from c12exporter.check import unit_from_reading
    from tests.test_store import reading

    metered = reading(time.time(), "rack")
    stopped = dataclasses.replace(
        metered.with_values(neutral_current=None),
        phases=tuple(
            dataclasses.replace(p, values={**p.values, "current": None}) for p in metered.phases
        ),
    )
    assert set(unit_from_reading("rack", metered).currents_a) == {"L1", "L2", "L3", "N"}
    assert unit_from_reading("rack", stopped).currents_a == {}


def test_the_neutral_is_judged_against_the_input_rating(fleet: Fleet) -> None:
    """The first unit of the concert is an LED-wall unit: its neutral carries more than
    80 % of the 63 A input. Twelve 12.5 A LED-wall channels: about 50 A on each phase
    (under the 50.4 A warning) and 85 A on the neutral, over the 63 A it is rated for."""
    control, url, _ = fleet
    unit = ("--exporter", url, "--unit", "sim-01")
    line = wait_state(unit, 1)
    assert line.startswith("C12 WARNING - unit sim-01: N ") and "> 50.4 (WARNING)" in line, line
    for channel in range(1, 13):
        control.act("sim-01", "set_load", channel=channel, current_a=12.5, third_harmonic=0.69)
    line = wait_state(unit, 2, lambda line: perfdata(line)["L1"][0] >= 49.9)
    perf = perfdata(line)
    assert perf["L1"][0] == pytest.approx(50.0, abs=0.1)
    assert perf["N"][0] == pytest.approx(85.0, abs=1.0)
    assert perf["N"][1:] == ("A", "50.4", "63", "0", "63")
    assert "N 85" in line and "> 63 (CRITICAL)" in line, line
    assert "L1" not in line.split(" | ")[0], line
    rc, line = run_check(*unit, "--neutral-warning", "80", "--neutral-critical", "90")
    assert rc == 1 and "> 80 (WARNING)" in line, line
    rc, line = run_check(*unit, "--neutral-warning", "91", "--neutral-critical", "90")
    assert rc == 3 and "--neutral-warning 91.0 is above --neutral-critical 90.0" in line, line


def rename(control: SimulatorControl, unit: str, channel: int, name: str) -> None:
    """The simulator's ``set_name`` (``act`` takes ``name`` for the unit)."""
    body = json.dumps({"action": "set_name", "channel": channel, "name": name}).encode()
    request = urllib.request.Request(
        f"{control.url}/units/{unit}/faults", data=body, method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=5):
        pass


def test_a_hostile_channel_name_cannot_forge_perfdata_or_lines(fleet: Fleet) -> None:
    """A channel named with ``|`` and a newline: the status line stays one line, its
    perfdata starts at the check's own `` | ``, and the name shows escaped."""
    control, url, addresses = fleet
    unit = ("--exporter", url, "--unit", "sim-02")
    rename(control, "sim-02", 6, "x|y\nC12 OK - all")
    control.act("sim-02", "set_load", channel=6, current_a=17.0)
    try:
        for args in (unit, ("--address", addresses["sim-02"]), ("--exporter", url)):
            line = wait_state(args, 2)  # run_check asserts a single line of output
            assert line.count("|") == 1, line
            assert "channel 6 (x\u00a6y\\nC12 OK - all) 17 A over its rating" in line, line
            perfdata(line)  # every item after the bar is well-formed perfdata
    finally:
        control.act("sim-02", "set_load", channel=6, current_a=2.0)
        rename(control, "sim-02", 6, "")


def test_check_text_is_escaped_like_a_plugin_line() -> None:
    from c12exporter.check import Thresholds, Unit, check_unit

    t = Thresholds(40, 45, 50, 63, 0.8, 1.0)
    state, line = check_unit(Unit("pdu\x1b]0;owned\x07|x\r\nC12 OK", up=False, error="e|f"), t)
    assert state == 2
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "|" not in line
    assert (
        line == "C12 CRITICAL - unit pdu\\x1b]0;owned\\x07\u00a6x\\r\\nC12 OK: "
        "unreachable: e\u00a6f (CRITICAL)"
    )


@pytest.mark.parametrize(
    ("estop", "switch", "neutral"),
    [("released", "on", "ok"), ("pressed", "off", "lost"), ("released", "off", "ok")],
)
def test_metrics_and_a_reading_give_the_same_verdict(estop: str, switch: str, neutral: str) -> None:
    """What /metrics serves (the collector's state values) reads back into the same
    states, ratings and supervision as the reading itself: the check and the collector
    share the catalogue's tables."""
    import time

    from prometheus_client import CollectorRegistry, generate_latest

    from c12exporter.check import Thresholds, check_unit, parse_units, unit_from_reading
    from c12exporter.config import UnitConfig
    from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
    from c12exporter.plugins import load_plugins
    from c12exporter.prometheus.collector import FleetCollector
    from c12exporter.reading import Identity, build_reading
    from c12exporter.store import Store
    from tests.test_registermap import sample_measurements

    values = {**sample_measurements(), "emergency_stop": estop,
              "switch_disconnector": switch, "neutral": neutral}  # fmt: skip
    settings = {
        "supervision_min": [5.0, None, None, 1.0] + [None] * 8,  # channel 1 below its band
        "supervision_max": [None, 0.5, 20.0, None] + [None] * 8,  # channel 2 above its band
        "channel_name": ["left", "", "wall"] + [""] * 9,
    }
    now = time.time()
    reading = build_reading(
        "u",
        Identity("StageSmarts", "C12B-24", "1.0", "SN1"),
        load_plugins(entry_points=False).model("C12B-24"),
        now,
        {**MEASUREMENTS.decode(MEASUREMENTS.encode(values)),
         **SETTINGS.decode(SETTINGS.encode(settings))},
    )  # fmt: skip
    store = Store((UnitConfig("u", "127.0.0.1:1502"),), staleness_s=15)
    store.record_success("u", reading, 0.01)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))
    served = parse_units(generate_latest(registry).decode())["u"]
    thresholds = Thresholds(40.0, 45.0, 50.4, 63.0, 0.8, 1.0)
    expected = check_unit(unit_from_reading("u", reading), thresholds)
    assert check_unit(served, thresholds) == expected
    assert "channel 3 (wall) serious overload" in expected[1]
    assert "channel 1 (left) 0 A below its supervision band" in expected[1]
    assert "channel 12 RCBO open" in expected[1] or switch == "off"
    assert ("emergency stop pressed" in expected[1]) == (estop == "pressed")


def test_phase_and_neutral_limits_default_to_the_units_own_input_rating() -> None:
    """A model with a 10 A input: the default limits are 80 % and 100 % of 10 A, whether
    the check reads the rating from /metrics (``c12_input_rating_amperes``) or from the
    reading's model; limits given on the command line still win."""
    import dataclasses

    from c12exporter.check import Thresholds, check_unit
    from c12exporter.plugins import load_plugins
    from tests.test_registermap import sample_measurements

    model = load_plugins(entry_points=False).model("C12B-24")
    small = dataclasses.replace(model, input_rating_a=10.0)
    values = {**sample_measurements(), "emergency_stop": "released",
              "switch_disconnector": "on", "neutral": "ok"}  # fmt: skip
    served, read = _served_and_read(small, values)
    assert served.input_rating_a == 10.0

    defaults = Thresholds(40.0, 45.0, None, None, 0.8, 1.0)
    state, line = check_unit(served, defaults)
    assert (state, line) == check_unit(read, defaults)
    assert state == 2 and "L1 12.34 A > 10 (CRITICAL)" in line, line
    assert "'L1'=12.34A;8;10;0;10" in line and "'N'=7.25A;8;10;0;10" in line, line

    given = Thresholds(40.0, 45.0, 50.4, 63.0, 0.8, 1.0, neutral_warn_a=7.0, neutral_crit_a=9.0)
    status = check_unit(served, given)[1].split(" | ")[0]
    assert "N 7.25 A > 7 (WARNING)" in status and "L1" not in status, status


def test_the_aux_channel_is_judged_by_its_sockets_own_rating() -> None:
    """A C12B-13's channel 12 feeds a UK 13 A socket: 13.5 A is over that rating (as the
    problem board and the alerts say), from /metrics and from the reading alike, while
    13.5 A on channel 11 is only near its 16 A RCBO's."""
    from c12exporter.check import Thresholds, check_unit
    from c12exporter.plugins import load_plugins
    from tests.test_registermap import sample_measurements

    values = {**sample_measurements(), "emergency_stop": "released",
              "switch_disconnector": "on", "neutral": "ok",
              "channel_current": [1.0] * 10 + [13.5, 13.5],
              "channel_load": ["normal"] * 12, "channel_breaker": ["closed"] * 12}  # fmt: skip
    served, read = _served_and_read(load_plugins(entry_points=False).model("C12B-13"), values)

    thresholds = Thresholds(40.0, 45.0, 100.0, 120.0, 0.8, 1.0)
    state, line = check_unit(served, thresholds)
    assert (state, line) == check_unit(read, thresholds)
    assert state == 2 and "channel 12 13.5 A over its rating" in line, line
    assert "channel 11 13.5 A near its rating" in line, line
    assert "'ch12'=13.5A;10.4;13;0;13" in line, line


def _served_and_read(model: Any, values: dict[str, Any]) -> tuple[Any, Any]:
    """A unit of ``model`` with these measurement values (no supervision, no names): what
    the check reads of it from /metrics (the collector's output) and straight from the
    reading."""
    import time

    from prometheus_client import CollectorRegistry, generate_latest

    from c12exporter.check import parse_units, unit_from_reading
    from c12exporter.config import UnitConfig
    from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
    from c12exporter.prometheus.collector import FleetCollector
    from c12exporter.reading import Identity, build_reading
    from c12exporter.store import Store

    registers = {**MEASUREMENTS.decode(MEASUREMENTS.encode(values)),
                 **SETTINGS.decode(SETTINGS.encode({"supervision_min": [None] * 12,
                                                     "supervision_max": [None] * 12,
                                                     "channel_name": [""] * 12}))}  # fmt: skip
    identity = Identity("StageSmarts", model.name, "1.0", "SN1")
    reading = build_reading("u", identity, model, time.time(), registers)
    store = Store((UnitConfig("u", "127.0.0.1:1502"),), staleness_s=15)
    store.record_success("u", reading, 0.01)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))
    return parse_units(generate_latest(registry).decode())["u"], unit_from_reading("u", reading)
