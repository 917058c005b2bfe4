"""The SNMP agent through net-snmp's tools: walks over SNMPv2c and SNMPv3 return what the
store holds, wrong credentials get no data, Sets are written through to the unit only
where allowed, and malformed packets neither crash nor stall the agent."""

from __future__ import annotations

import cmath
import datetime
import math
import os
import random
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.model import AUX_CHANNEL
from c12exporter.reading import Reading
from c12exporter.simulator.server import Fleet
from c12exporter.snmp import ber
from c12exporter.snmp.agent import RunningAgent
from tests.servers import wait_until
from tests.snmp_harness import (
    COMMUNITY,
    FIXED_BAND_CHANNEL,
    PLUGINS,
    LoopThread,
    Stack,
    parse,
    scaled,
    snmp_config,
    snmp_stack,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with snmp_stack(tmp_path_factory.mktemp("snmp")) as running:
        yield running


def date_and_time(unix: float) -> str:
    """How net-snmp prints a DateAndTime (its DISPLAY-HINT: no zero padding)."""
    t = datetime.datetime.fromtimestamp(unix, tz=datetime.UTC)
    return (
        f"{t.year}-{t.month}-{t.day},{t.hour}:{t.minute}:{t.second}.{t.microsecond // 100000},+0:0"
    )


def num(value: object) -> float:
    assert isinstance(value, int | float), value
    return float(value)


def negative_sequence_ratio(volts: list[float]) -> float:
    """EN 50160's voltage unbalance of line-neutral magnitudes 120 degrees apart, from the
    symmetrical components."""
    a = cmath.exp(2j * math.pi / 3)
    v1, v2, v3 = volts[0], volts[1] * a * a, volts[2] * a
    return abs(v1 + a * a * v2 + a * v3) / abs(v1 + a * v2 + a * a * v3)


def expected(index: int, r: Reading, heat: Mapping[int, float]) -> dict[str, int | str]:
    """Every cell of one reachable unit, as docs/mib.md defines it (written out here
    independently of the agent's own table; ``heat`` is the exporter's breaker heat)."""
    v = r.values
    cells: dict[str, int | str] = {
        f"c12UnitSupply.{index}": 1,
        f"c12UnitFrequencyBand.{index}": 10,
        f"c12InputRating.{index}": 63000,
        f"c12UnitName.{index}": r.unit,
        f"c12UnitReachability.{index}": 1,
        f"c12UnitLastUpdate.{index}": date_and_time(r.taken_at),
        f"c12UnitModel.{index}": r.identity.model,
        f"c12UnitSerial.{index}": r.identity.serial,
        f"c12UnitFirmware.{index}": r.identity.firmware,
        f"c12UnitEstopState.{index}": 2 if r.estop_pressed else 1,
        f"c12UnitSwitchState.{index}": 2 if r.switch_on else 1,
        f"c12UnitNeutralState.{index}": 2 if r.neutral_lost else 1,
        f"c12UnitSupervisionWarning.{index}": 1 if r.supervision_warning else 2,
        f"c12InputNeutralCurrent.{index}": round(num(v["neutral_current"]) * 1000),
        f"c12InputMaxNeutralCurrent.{index}": round(num(v["max_neutral_current"]) * 1000),
        f"c12InputActivePower.{index}": round(num(v["active_power"])),
        f"c12InputReactivePower.{index}": round(num(v["reactive_power"])),
        f"c12InputApparentPower.{index}": round(num(v["apparent_power"])),
        f"c12InputActiveEnergy.{index}": round(num(v["active_energy_import"]) / 3600),
        f"c12InputReactiveEnergy.{index}": round(num(v["reactive_energy_import"]) / 3600),
        f"c12InputMeteredPhases.{index}": round(num(v["metered_phases"])),
        f"c12InputEnergyResetTime.{index}": date_and_time(r.taken_at - r.uptime_s),
        f"c12InputUptime.{index}": int(r.uptime_s * 100) % 2**32,
    }
    if r.temperature_c is not None:
        cells[f"c12UnitTemperature.{index}"] = round(r.temperature_c * 10)
    for column, name in (
        ("c12InputDemandActivePower", "demand_active_power"),
        ("c12InputDemandApparentPower", "demand_apparent_power"),
        ("c12InputMaxDemandActivePower", "max_demand_active_power"),
        ("c12InputMaxDemandApparentPower", "max_demand_apparent_power"),
    ):
        if v[name] is not None:  # absent until the first demand window completes
            cells[f"{column}.{index}"] = round(num(v[name]))
    if v["frequency"] is not None:
        cells[f"c12InputFrequency.{index}"] = round(num(v["frequency"]) * 100)
    volts = [p.voltage_v for p in r.phases]
    if all(volt is not None for volt in volts):
        unbalance = negative_sequence_ratio([num(volt) for volt in volts])
        cells[f"c12InputVoltageUnbalance.{index}"] = round(unbalance * 10000)
    if v["power_factor"] is not None:
        cells[f"c12InputPowerFactor.{index}"] = round(num(v["power_factor"]) * 1000)
    for line, p in enumerate(r.phases, start=1):
        key = f"{index}.{line}"
        cells |= {
            f"c12LineCurrent.{key}": round(num(p.current_a) * 1000),
            f"c12LineMaxCurrent.{key}": round(num(p.values["max_current"]) * 1000),
            f"c12LineCurrentThd.{key}": round(num(p.values["current_thd"]) * 1000),
            f"c12LineVoltageAvailable.{key}": 2 if p.voltage_v is None else 1,
        }
        optional = {
            "c12LineVoltage": (p.voltage_v, 10),
            "c12LineActivePower": (p.values["phase_active_power"], 1),
            "c12LineReactivePower": (p.values["phase_reactive_power"], 1),
            "c12LineApparentPower": (p.values["phase_apparent_power"], 1),
            "c12LinePowerFactor": (p.values["phase_power_factor"], 1000),
            "c12LineVoltageThd": (p.values["voltage_thd"], 1000),
        }
        for name, (value, scale) in optional.items():
            if value is not None:
                cells[f"{name}.{key}"] = round(num(value) * scale)
    states = {"disabled": 1, "ok": 2, "below": 3, "above": 4}
    loads = {"off": 1, "normal": 2, "slight_overload": 3, "serious_overload": 4}
    aux = r.model.aux_socket
    for c in r.channels:
        key = f"{index}.{c.number}"
        band = c.supervision
        is_aux = c.number == AUX_CHANNEL
        cells |= {
            f"c12ChannelName.{key}": c.name,
            f"c12ChannelConnector.{key}": c.connector,
            f"c12ChannelConnectorType.{key}": c.connector_type,
            f"c12ChannelPins.{key}": "/".join(c.pins),
            f"c12ChannelPhase.{key}": int(c.phase[1]),
            f"c12ChannelRating.{key}": round(c.rating_a * 1000),
            f"c12ChannelCurrent.{key}": round(c.current_a * 1000),
            f"c12ChannelBreakerState.{key}": 1 if c.breaker_closed else 2,
            f"c12ChannelLoadState.{key}": loads[c.load_state],
            f"c12ChannelSupervisionMin.{key}": -1
            if band.min_a is None
            else round(band.min_a * 1000),
            f"c12ChannelSupervisionMax.{key}": -1
            if band.max_a is None
            else round(band.max_a * 1000),
            f"c12ChannelSupervisionState.{key}": states[c.supervision_state.value],
            f"c12ChannelAuxSocket.{key}": 1 if is_aux else 2,
            f"c12ChannelAuxSocketName.{key}": aux.name if is_aux else "",
            f"c12ChannelAuxSocketStd.{key}": aux.standard if is_aux else "",
            f"c12ChannelAuxSocketRating.{key}": round(aux.rating_a * 1000) if is_aux else 0,
            f"c12ChannelBreakerHeat.{key}": round(heat[c.number] * 1000),
        }
    return cells


TEXT_COLUMNS = (
    "Name", "Model", "Serial", "Firmware", "LastUpdate", "ResetTime", "Connector", "Pins",
    "AuxSocketName", "AuxSocketStd", "Address",
)  # fmt: skip


def compare(stack: Stack, walked: dict[str, str]) -> None:
    """Every unit's cells, as walked, equal what the store holds (after scaling)."""
    for index, name in enumerate(stack.names, start=1):
        reading = stack.reading(name)
        forecast = stack.context.forecast
        assert forecast is not None
        for key, value in expected(index, reading, forecast.heat(reading)).items():
            assert key in walked, f"{key} missing from the walk"
            got: int | str = walked[key]
            if isinstance(value, int) and not any(t in key for t in TEXT_COLUMNS):
                got = scaled(walked[key])
            assert got == value, f"{key}: walked {walked[key]!r}, store holds {value!r}"


def walk(
    stack: Stack, tool: str, credentials: list[str], root: str = "C12-PDU-MIB::c12MIB"
) -> dict[str, str]:
    result = stack.snmp(tool, credentials, root)
    assert result.returncode == 0, result.stderr[-2000:]
    return parse(result.stdout)


def test_snmpwalk_v2c_returns_what_the_store_holds(stack: Stack) -> None:
    walked = walk(stack, "snmpwalk", stack.v2c())
    compare(stack, walked)
    assert scaled(walked["c12TemperatureLimit.0"]) == 450
    assert walked["c12UnitAddress.2"] == stack.fleet.units[1].address
    cells = sum(1 for k in walked if k.startswith("c12Channel"))
    assert cells == 17 * 12 * len(stack.names)


def test_snmpbulkwalk_v3_sha256_aes128_matches_the_v2c_walk(stack: Stack) -> None:
    answered = stack.count("c12_snmp_requests_total", outcome="answered")
    v2c = walk(stack, "snmpbulkwalk", stack.v2c())
    after_v2c = stack.count("c12_snmp_requests_total", outcome="answered")
    assert after_v2c > answered  # the fast path counts its answers too
    assert stack.v3("viewer")[stack.v3("viewer").index("-a") + 1] == "SHA-256"
    v3 = walk(stack, "snmpbulkwalk", stack.v3("viewer"))
    assert v3 == v2c  # SNMPv3 goes through pysnmp's responders, SNMPv2c the fast path
    compare(stack, v3)
    assert stack.count("c12_snmp_requests_total", outcome="answered") > after_v2c
    assert stack.count("c12_snmp_requests_total", outcome="discovery") >= 1


def test_snmpbulkwalk_v3_sha512_aes256(stack: Stack) -> None:
    credentials = stack.v3("operator")
    assert credentials[credentials.index("-x") + 1] == "AES-256"
    compare(stack, walk(stack, "snmpbulkwalk", [*credentials, "-Cr25"]))


def test_system_group_is_served(stack: Stack) -> None:
    walked = walk(stack, "snmpwalk", stack.v3("viewer"), "SNMPv2-MIB::system")
    assert walked["sysDescr.0"].startswith("c12exporter")
    assert walked["sysObjectID.0"] == "C12-PDU-MIB::c12MIB"
    assert int(walked["sysUpTime.0"]) >= 0 and walked["sysName.0"]


def test_get_distinguishes_missing_objects_and_instances(stack: Stack) -> None:
    result = stack.snmp(
        "snmpget", [*stack.v2c(), "-Ir"],  # -Ir: let an index outside the MIB's range through
        "C12-PDU-MIB::c12ChannelCurrent.1.3", "C12-PDU-MIB::c12ChannelCurrent.9.3",
        "C12-PDU-MIB::c12ChannelCurrent.1.13", "C12-PDU-MIB::c12Objects.99.1",
        "C12-PDU-MIB::c12NotifReason.0",
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert scaled(lines[0].split()[1]) == round(
        stack.reading(stack.names[0]).channels[2].current_a * 1000
    )
    assert "No Such Instance" in lines[1] and "No Such Instance" in lines[2]
    assert "No Such Object" in lines[3] and "No Such Object" in lines[4]  # not readable


def test_getnext_past_the_end_is_end_of_mib_view(stack: Stack) -> None:
    """The last column with instances here is the breaker heat (no channel is overloaded
    and no RCBO cycle is recorded)."""
    result = stack.snmp("snmpgetnext", stack.v2c(), "C12-PDU-MIB::c12ChannelBreakerHeat.3.12")
    assert "No more variables left in this MIB View" in result.stdout


def test_unreachable_unit_keeps_only_its_unit_row(stack: Stack) -> None:
    name = stack.names[2]
    stack.act(name, action="power_loss")
    try:
        walked = walk(stack, "snmpbulkwalk", stack.v2c())
        assert walked["c12UnitName.3"] == name and walked["c12UnitReachability.3"] == "2"
        assert walked["c12UnitModel.3"] == stack.fleet.units[2].model.name  # last good identity
        assert "c12UnitTemperature.3" not in walked and "c12UnitEstopState.3" not in walked
        assert not [k for k in walked if k.split(".")[1] == "3" and not k.startswith("c12Unit")]
        assert walked["c12UnitReachability.2"] == "1" and "c12ChannelCurrent.2.1" in walked
    finally:
        stack.act(name, action="power_restore")
    assert (
        walk(stack, "snmpwalk", stack.v2c(), "C12-PDU-MIB::c12InputTable")["c12InputUptime.3"]
        == "0"
    )


def test_values_not_available_have_no_instance(stack: Stack) -> None:
    name = stack.names[1]
    stack.act(name, action="fuse_blow", phase="L2")
    try:
        walked = walk(stack, "snmpbulkwalk", stack.v2c(), "C12-PDU-MIB::c12LineTable")
        assert "c12LineVoltage.2.2" not in walked and "c12LineVoltageThd.2.2" not in walked
        assert "c12LinePowerFactor.2.2" not in walked and "c12LineActivePower.2.2" not in walked
        assert walked["c12LineVoltageAvailable.2.2"] == "2" and "c12LineCurrent.2.2" in walked
        assert "c12LineVoltage.2.1" in walked and "c12LineVoltage.1.2" in walked
        got = stack.snmp("snmpget", stack.v2c(), "C12-PDU-MIB::c12LineVoltage.2.2")
        assert "No Such Instance" in got.stdout
    finally:
        stack.act(name, action="fuse_replace", phase="L2")


def test_trip_forecast_has_an_instance_only_while_the_channel_is_overloaded(stack: Stack) -> None:
    name = stack.names[1]
    stack.act(name, action="set_load", channel=5, current_a=32.0)  # 2 x In
    try:
        assert stack.context.forecast is not None
        seconds = stack.context.forecast.of(stack.reading(name))[5]
        assert 0 < seconds <= stack.reading(name).model.breaker.trip_time_s(2.0)
        got = stack.snmp(
            "snmpget", stack.v2c(),
            "C12-PDU-MIB::c12ChannelTripForecast.2.5", "C12-PDU-MIB::c12ChannelTripForecast.2.6",
        )  # fmt: skip
        assert parse(got.stdout)["c12ChannelTripForecast.2.5"] == str(math.ceil(seconds))
        assert "c12ChannelTripForecast.2.6 No Such Instance" in got.stdout
        walked = walk(stack, "snmpbulkwalk", stack.v2c(), "C12-PDU-MIB::c12ChannelTripForecast")
        assert [key for key in walked if key.startswith("c12ChannelTripForecast.2.")] == [
            "c12ChannelTripForecast.2.5"
        ]
    finally:
        stack.act(name, action="set_load", channel=5, current_a=0.0)


def test_phase_unbalance_is_served_in_tenths_of_a_percent(stack: Stack) -> None:
    name = stack.names[1]
    loads = {1: 7.0, 4: 2.0, 7: 1.0, 2: 6.0}  # L1 10 A, L2 6 A, L3 0 A: 100 %
    for channel in range(1, 13):
        stack.act(name, action="set_load", channel=channel, current_a=loads.get(channel, 0.0))
    try:
        lines = [p.current_a or 0.0 for p in stack.reading(name).phases]
        mean = sum(lines) / 3
        expected = round(max(abs(a - mean) for a in lines) / mean * 1000)
        assert abs(expected - 1000) <= 20  # the meter's rounding of the line currents
        unbalance = "C12-PDU-MIB::c12InputPhaseUnbalance.2"
        got = parse(stack.snmp("snmpget", stack.v2c(), unbalance).stdout)
        assert got["c12InputPhaseUnbalance.2"] == str(expected)
        for channel in range(1, 13):
            stack.act(name, action="set_load", channel=channel, current_a=0.0)
        got = stack.snmp("snmpget", stack.v2c(), unbalance)
        assert "c12InputPhaseUnbalance.2 No Such Instance" in got.stdout  # under 1 A: not judged
    finally:
        for channel in range(1, 13):
            stack.act(name, action="set_load", channel=channel, current_a=2.0)


def test_an_rcbo_cycle_is_served_as_its_time(stack: Stack) -> None:
    name = stack.names[1]
    column = "C12-PDU-MIB::c12ChannelRcboLastCycle"
    before = stack.snmp("snmpget", stack.v2c(), f"{column}.2.4")
    assert "c12ChannelRcboLastCycle.2.4 No Such Instance" in before.stdout
    stack.act(name, action="rcbo_test", channel=4)  # the T button: open
    stack.act(name, action="rcbo_reset", channel=4)  # and closed again
    assert stack.context.history is not None
    at = stack.context.history.last_cycle[(name, 4)]
    got = parse(stack.snmp("snmpget", stack.v2c(), f"{column}.2.4").stdout)
    stamp = datetime.datetime.fromtimestamp(at, datetime.UTC)
    # net-snmp prints DateAndTime as 2026-11-30,1:22:33.4,+0:0
    assert got["c12ChannelRcboLastCycle.2.4"].startswith(
        f"{stamp.year}-{stamp.month}-{stamp.day},{stamp.hour}:{stamp.minute}:{stamp.second}."
    ), got
    # a press and a reset outside a test session is no test
    test = stack.snmp("snmpget", stack.v2c(), "C12-PDU-MIB::c12ChannelRcboLastTest.2.4")
    assert "c12ChannelRcboLastTest.2.4 No Such Instance" in test.stdout, test.stdout


# --- credentials ---------------------------------------------------------------------------


def no_data(result: object) -> None:
    stdout = getattr(result, "stdout", "")
    stderr = getattr(result, "stderr", "")
    assert getattr(result, "returncode", 0) != 0 and "sysDescr" not in stdout, stdout
    assert (
        "Timeout" in stderr
        or "Authentication failure" in stderr
        or "Decryption" in stderr
        or ("Unknown user" in stderr or "security level" in stderr)
    ), stderr[-500:]


DROPPED = "c12_snmp_requests_dropped_total"


def test_wrong_community_gets_no_answer(stack: Stack) -> None:
    before = stack.count(DROPPED, reason="bad_community")
    result = stack.snmp(
        "snmpget", stack.v2c("not-the-community"), "SNMPv2-MIB::sysDescr.0", timeout=1
    )
    no_data(result)
    assert "Timeout" in result.stderr
    assert stack.count(DROPPED, reason="bad_community") == before + 1


def test_snmpv1_gets_no_answer(stack: Stack) -> None:
    before = stack.count(DROPPED, reason="bad_version")
    result = stack.snmp("snmpget", ["-v1", "-c", "c12-public"], "SNMPv2-MIB::sysDescr.0", timeout=1)
    no_data(result)
    assert "Timeout" in result.stderr
    assert stack.count(DROPPED, reason="bad_version") == before + 1


@pytest.mark.parametrize(
    ("override", "counted"),
    [
        ({"A": "wrong-auth-key"}, (DROPPED, "reason", "wrong_digest")),
        ({"X": "wrong-priv-key"}, (DROPPED, "reason", "decryption_error")),
        ({"u": "nobody"}, (DROPPED, "reason", "unknown_user")),
        ({"l": "authNoPriv"}, (DROPPED, "reason", "unsupported_security_level")),
    ],
    ids=["auth-key", "priv-key", "user", "authNoPriv"],
)
def test_wrong_snmpv3_credentials_get_no_data(
    stack: Stack, override: dict[str, str], counted: tuple[str, str, str]
) -> None:
    metric, label, value = counted
    before = stack.count(metric, **{label: value})
    no_data(
        stack.snmp("snmpget", stack.v3("viewer", **override), "SNMPv2-MIB::sysDescr.0", timeout=1)
    )
    assert stack.count(metric, **{label: value}) > before


# --- Set -----------------------------------------------------------------------------------


def unit_channel(stack: Stack, unit: int, channel: int) -> dict[str, object]:
    """The channel as the simulated unit holds it (not as the agent serves it)."""
    settings = stack.fleet.units[unit - 1].snapshot()["meter"]["settings"]
    return {
        "name": settings["channel_name"][channel - 1],
        "min": settings["supervision_min"][channel - 1],
        "max": settings["supervision_max"][channel - 1],
    }


WRITES = "c12_snmp_writes_total"


def test_set_writes_name_and_band_through_to_the_unit(stack: Stack) -> None:
    written = stack.count(WRITES, outcome="written")
    name, low, high = (
        "C12-PDU-MIB::c12ChannelName.2.3",
        "C12-PDU-MIB::c12ChannelSupervisionMin.2.3",
        "C12-PDU-MIB::c12ChannelSupervisionMax.2.3",
    )
    result = stack.snmp(
        "snmpset",
        stack.v3("operator"),
        name,
        "s",
        "Bühne links",
        low,
        "i",
        "500",
        high,
        "i",
        "12340",
    )
    assert result.returncode == 0, result.stderr[-1000:]
    assert unit_channel(stack, 2, 3) == {"name": "Bühne links", "min": 0.5, "max": 12.34}
    got = parse(stack.snmp("snmpget", stack.v2c(), name, low, high).stdout)
    assert got["c12ChannelName.2.3"] == "Bühne links"
    assert (
        scaled(got["c12ChannelSupervisionMin.2.3"]) == 500
        and scaled(got["c12ChannelSupervisionMax.2.3"]) == 12340
    )
    cleared = stack.snmp("snmpset", stack.v3("operator"), low, "i", "-1", high, "i", "-1")
    assert cleared.returncode == 0, cleared.stderr[-1000:]
    assert unit_channel(stack, 2, 3) == {"name": "Bühne links", "min": None, "max": None}
    assert stack.count(WRITES, outcome="written") == written + 2
    got = parse(stack.snmp("snmpget", stack.v2c(), low, high).stdout)
    assert (
        scaled(got["c12ChannelSupervisionMin.2.3"])
        == -1
        == scaled(got["c12ChannelSupervisionMax.2.3"])
    )


@pytest.mark.parametrize(
    ("who", "error"),
    [("v2c", "noAccess"), ("viewer", "noAccess")],
)
def test_set_is_refused_to_read_only_principals(stack: Stack, who: str, error: str) -> None:
    credentials = stack.v2c() if who == "v2c" else stack.v3(who)
    before = unit_channel(stack, 1, 1)
    refused = stack.count(WRITES, outcome=error)
    result = stack.snmp("snmpset", credentials, "C12-PDU-MIB::c12ChannelName.1.1", "s", "nope")
    assert result.returncode != 0 and error in result.stderr, result.stderr[-500:]
    assert unit_channel(stack, 1, 1) == before
    assert stack.count(WRITES, outcome=error) == refused + 1


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            (f"C12-PDU-MIB::c12ChannelSupervisionMax.1.{FIXED_BAND_CHANNEL}", "i", "5000"),
            "inconsistentValue",
        ),
        (
            (
                "C12-PDU-MIB::c12ChannelSupervisionMin.1.2",
                "i",
                "9000",
                "C12-PDU-MIB::c12ChannelSupervisionMax.1.2",
                "i",
                "8000",
            ),
            "inconsistentValue",
        ),
        (("C12-PDU-MIB::c12ChannelCurrent.1.1", "i", "1000"), "notWritable"),
        (("C12-PDU-MIB::c12UnitName.1", "s", "x"), "notWritable"),
        (("C12-PDU-MIB::c12ChannelName.1.1", "i", "5"), "wrongType"),
        (("C12-PDU-MIB::c12ChannelName.1.1", "s", "seventeen-bytes!!"), "wrongLength"),
        (("C12-PDU-MIB::c12ChannelSupervisionMax.1.1", "i", "12345"), "wrongValue"),
        (("C12-PDU-MIB::c12ChannelSupervisionMax.1.1", "i", "63010"), "wrongValue"),
        (("C12-PDU-MIB::c12ChannelName.9.1", "s", "x"), "noCreation"),
    ],
    ids=[
        "fixed-band",
        "min-above-max",
        "read-only",
        "unit-name",
        "type",
        "length",
        "step",
        "range",
        "no-row",
    ],
)
def test_set_checks_everything_before_writing(
    stack: Stack, args: tuple[str, ...], error: str
) -> None:
    before = (
        unit_channel(stack, 1, 1),
        unit_channel(stack, 1, 2),
        unit_channel(stack, 1, FIXED_BAND_CHANNEL),
    )
    refused = stack.count(WRITES, outcome=error)
    result = stack.snmp("snmpset", [*stack.v3("operator"), "-Ir"], *args)  # -Ir: no client checks
    assert result.returncode != 0 and error in result.stderr, result.stderr[-500:]
    assert stack.count(WRITES, outcome=error) == refused + 1
    assert (
        unit_channel(stack, 1, 1),
        unit_channel(stack, 1, 2),
        unit_channel(stack, 1, FIXED_BAND_CHANNEL),
    ) == before


def test_set_is_refused_when_writes_are_disabled(tmp_path: Path) -> None:
    with snmp_stack(tmp_path, units=1, snmp=snmp_config(writes_enabled=False)) as disabled:
        result = disabled.snmp(
            "snmpset", disabled.v3("operator"), "C12-PDU-MIB::c12ChannelName.1.1", "s", "x"
        )
        assert result.returncode != 0 and "noAccess" in result.stderr, result.stderr[-500:]
        assert unit_channel(disabled, 1, 1)["name"] != "x"


# --- robustness ----------------------------------------------------------------------------


PDU_TAGS = {
    "get": 0xA0, "next": 0xA1, "response": 0xA2, "set": 0xA3, "v1trap": 0xA4, "bulk": 0xA5,
    "inform": 0xA6, "trap": 0xA7, "report": 0xA8,
}  # fmt: skip
"""RFC 3416 PDU tags."""


def request(
    pdu: str,
    names: tuple[tuple[int, ...], ...],
    fields: tuple[int, int] = (0, 0),
    community: bytes = COMMUNITY.encode(),
    version: int = 1,
) -> bytes:
    """An SNMPv2c message, BER-encoded by hand so that it can be wrong on purpose.

    :param fields: error-status and error-index, or non-repeaters and max-repetitions.
    """
    varbinds = [ber.varbind(ber.oid_body(n), b"\x05\x00") for n in names]
    body = b"".join(ber.tlv(ber.INTEGER, ber.integer_body(v)) for v in (4711, *fields))
    message = (
        ber.tlv(ber.INTEGER, ber.integer_body(version))
        + ber.tlv(ber.OCTET_STRING, community)
        + ber.tlv(PDU_TAGS[pdu], body + ber.sequence(varbinds))
    )
    return ber.tlv(ber.SEQUENCE, message)


def test_malformed_and_unsupported_packets_neither_crash_nor_stall(stack: Stack) -> None:
    rng = random.Random(1234)
    sys_descr = (*stack.agent.tree.mib.oid("sysDescr", "SNMPv2-MIB"), 0)
    get = request("get", (sys_descr,))
    unsupported = [  # first, so that a full socket buffer cannot lose them
        *(
            request(pdu, (sys_descr,))
            for pdu in ("response", "v1trap", "trap", "inform", "report", "set")
        ),
        request("get", (sys_descr,), version=0),  # SNMPv1
        request("get", (sys_descr,), version=3),  # not an SNMPv3 message
        request("get", (sys_descr,), community=b"c12-traps"),  # to pysnmp, then dropped
    ]
    garbage: list[bytes] = unsupported + [rng.randbytes(rng.randint(0, 300)) for _ in range(300)]
    garbage += [get[:cut] for cut in range(len(get))]  # truncated BER
    garbage += [
        bytes(b ^ (1 << rng.randrange(8)) if rng.random() < 0.05 else b for b in get)
        for _ in range(200)
    ]
    garbage += [
        b"\x30\x84\xff\xff\xff\xff" + os.urandom(64),  # absurd length
        b"\x30" * 2000,  # deep nesting
        b"\x30\x82\xff\xdc" + b"\x00" * 65500,  # oversized datagram
        request("bulk", ((1, 3),) * 40, (-5, 2**31 - 1)),
        request("bulk", (sys_descr,), (10**6, -1)),
        request("bulk", (sys_descr,) * 3000, (0, 2**31 - 1)),
        request("next", ((0, 0), (2, 999999999, 2**32), (1, 3, 6, 2**64))),
        request("get", ((1, 3, *range(200)),)),
    ]
    dropped = {
        reason: stack.count(DROPPED, reason=reason)
        for reason in ("undecodable", "bad_version", "bad_community", "unsupported_pdu")
    }
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in garbage:
            sock.sendto(packet, (stack.agent.host, stack.agent.port))
        sock.settimeout(0.2)
        answered = 0
        try:
            while True:
                sock.recv(65535)
                answered += 1
        except TimeoutError:
            pass
    started = time.monotonic()
    result = stack.snmp("snmpget", stack.v2c(), "SNMPv2-MIB::sysDescr.0", timeout=2)
    assert result.returncode == 0 and "c12exporter" in result.stdout, result.stderr[-500:]
    assert time.monotonic() - started < 2
    assert answered < len(garbage)
    bulk = stack.snmp("snmpbulkget", stack.v2c(), "-Cn0", "-Cr100000", "C12-PDU-MIB::c12MIB")
    assert bulk.returncode == 0 and len(bulk.stdout.splitlines()) > 500  # as many as fit
    for reason, before in dropped.items():
        assert stack.count(DROPPED, reason=reason) > before, reason


# --- the exporter ------------------------------------------------------------------------


def test_exporter_starts_the_agent_from_its_config(tmp_path: Path) -> None:
    loop = LoopThread()
    fleet = loop.run(Fleet.start(2, speed=0.0, warmup_s=600, plugins=PLUGINS))
    try:
        path = tmp_path / "c12.yml"
        path.write_text(
            "poll: {interval: 1s, timeout: 500ms}\n"
            "web: {listen_address: '127.0.0.1:0'}\n"
            "snmp:\n  listen_address: '[::1]:0'\n  community: c12-public\n"
            "units:\n"
            + "".join(f"  - {{name: {u.name}, address: '{u.address}'}}\n" for u in fleet.units),
            encoding="utf-8",
        )
        exporter = loop.run(start_exporter(load_config(path, PLUGINS), PLUGINS))
        try:
            agent = exporter.exposers["snmp"]
            assert isinstance(agent, RunningAgent)
            assert agent.endpoints == [f"snmp://[::1]:{agent.port}"]
            assert agent.target == f"udp6:[::1]:{agent.port}"
            command = shlex.split(agent.walk_command(secrets=True))
            assert command[0] == "snmpbulkwalk" and command[-1] == "C12-PDU-MIB::c12ChannelTable"
            assert "<community>" in agent.walk_command()

            def walked() -> str:
                result = subprocess.run(
                    command, capture_output=True, text=True, timeout=30, check=False
                )
                return result.stdout if "c12ChannelCurrent.2.12" in result.stdout else ""

            output = wait_until(walked, 15, "the exporter's first polls of both units")
            assert "c12ChannelName.1.1" in output
        finally:
            loop.run(exporter.stop())
    finally:
        loop.run(fleet.stop())
        loop.close()
