"""Notifications: snmptrapd receives and decodes by name each one as the simulated units
change state (SNMPv2c trap, SNMPv3 trap, SNMPv3 inform); the decisions behind them."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from c12exporter.measurements import Quantity
from c12exporter.modbus.registermap import MEASUREMENTS
from c12exporter.reading import Identity, Reading, SupervisionBand, build_reading
from c12exporter.settings import UnitConfig
from c12exporter.simulator.server import Fleet, SimulatedUnit, decode_holding
from c12exporter.snmp.notifications import StateTracker
from c12exporter.snmp.unitindex import UnitIndexes
from c12exporter.store import Store
from tests.servers import free_port, process, require_tool, wait_until
from tests.snmp_harness import (
    ENGINE_ID,
    MIB_OPTIONS,
    PLUGINS,
    USERS,
    Stack,
    snmp_config,
    snmp_env,
    snmp_stack,
)

pytestmark = pytest.mark.integration

TRAP_COMMUNITY = "c12-traps"
RECEIVERS = ("v2c-trap", "v3-trap", "v3-inform")


class TrapLog:
    """What one snmptrapd logged: each notification's variable bindings by name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def notifications(self) -> list[dict[str, str]]:
        found = []
        text = self.path.read_text(encoding="utf-8", errors="replace") if self.path.exists() else ""
        for line in text.splitlines():
            if "snmpTrapOID.0" not in line:
                continue
            bindings = {}
            for binding in line.split("\t"):
                name, _, value = binding.partition(" = ")
                bindings[name.split("::")[-1].strip()] = value.strip()
            found.append(bindings)
        return found

    def named(self, notification: str, key: str | None = None) -> list[dict[str, str]]:
        """``notification``s received (only those carrying ``key``, if given)."""
        return [
            n
            for n in self.notifications()
            if n["snmpTrapOID.0"].endswith(f"::{notification}") and (key is None or key in n)
        ]


@contextmanager
def snmptrapd(tmp: Path, name: str) -> Iterator[tuple[int, TrapLog]]:
    """snmptrapd on a free loopback port, logging what it receives, MIBs loaded by name."""
    port = free_port()
    operator, viewer = USERS[1], USERS[0]
    conf = tmp / f"{name}.conf"
    conf.write_text(
        "disableAuthorization yes\n"
        f"authCommunity log {TRAP_COMMUNITY}\n"
        # SNMPv3 traps are sent by the agent's engine, informs to snmptrapd's own.
        f"createUser -e {ENGINE_ID} {operator['name']} SHA-512 {operator['auth_key']} "
        f"AES-256 {operator['priv_key']}\n"
        f"createUser {viewer['name']} SHA-256 {viewer['auth_key']} AES {viewer['priv_key']}\n",
        encoding="utf-8",
    )
    binary = require_tool("snmptrapd", "snmptrapd")
    log = tmp / f"{name}.log"
    command = [
        binary, "-f", "-Lf", str(log), "-n", "-C", "-c", str(conf), *MIB_OPTIONS,
        f"udp:127.0.0.1:{port}",
    ]  # fmt: skip
    state = tmp / name
    state.mkdir()
    with process(command, tmp / f"{name}.out", env=snmp_env(state)) as proc:
        wait_until(lambda: log.exists() and "NET-SNMP version" in log.read_text(), 10, name)
        assert proc.poll() is None
        yield port, TrapLog(log)


@dataclasses.dataclass
class Receivers:
    stack: Stack
    logs: dict[str, TrapLog]

    def count(self, notification: str, key: str | None = None) -> int:
        """How many the SNMPv2c receiver has, once what was queued has been delivered."""
        sender = self.stack.agent.sender
        assert sender is not None
        wait_until(lambda: self.stack.call(lambda: sender.pending) == 0, 5, "notifications sent")
        time.sleep(0.3)
        return len(self.logs["v2c-trap"].named(notification, key))

    def wait(
        self,
        notification: str,
        key: str | None = None,
        count: int = 1,
        receivers: tuple[str, ...] = ("v2c-trap",),
    ) -> dict[str, str]:
        """The newest ``notification`` carrying ``key`` once every receiver has ``count``."""
        for receiver in receivers:
            wait_until(
                lambda r=receiver: len(self.logs[r].named(notification, key)) >= count,  # type: ignore[misc]
                10,
                f"{notification} {key or ''} #{count} at {receiver}",
            )
        return self.logs[receivers[0]].named(notification, key)[-1]


@pytest.fixture(scope="module")
def receivers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receivers]:
    tmp = tmp_path_factory.mktemp("traps")
    with ExitStack() as stack:
        ports, logs = {}, {}
        for name in RECEIVERS:
            ports[name], logs[name] = stack.enter_context(snmptrapd(tmp, name))
        config = snmp_config(
            notifications={
                "temperature_limit_c": 45,
                "receivers": [
                    {"address": f"127.0.0.1:{ports['v2c-trap']}", "community": TRAP_COMMUNITY},
                    {
                        "address": f"127.0.0.1:{ports['v3-trap']}",
                        "version": "v3",
                        "user": USERS[1]["name"],
                    },
                    {
                        "address": f"127.0.0.1:{ports['v3-inform']}",
                        "version": "v3",
                        "user": USERS[0]["name"],
                        "type": "inform",
                    },
                ],
            }
        )
        running = stack.enter_context(snmp_stack(tmp, units=3, snmp=config))
        yield Receivers(running, logs)


def test_first_readings_are_a_baseline(receivers: Receivers) -> None:
    time.sleep(0.3)
    assert all(not log.notifications() for log in receivers.logs.values())
    assert (
        receivers.stack.count("c12_snmp_notifications_sent_total", notification="c12EstopPressed")
        == 0
    )


def test_estop_reaches_every_receiver_by_name(receivers: Receivers) -> None:
    stack = receivers.stack
    stack.act(stack.names[1], action="estop")
    pressed = receivers.wait("c12EstopPressed", "c12UnitEstopState.2", receivers=RECEIVERS)
    sent = "c12_snmp_notifications_sent_total"
    assert stack.count(sent, notification="c12EstopPressed") == 1  # to all three receivers
    assert pressed["c12UnitName.2"] == "STRING: sim-02"
    assert pressed["c12NotifPrevEstopState.0"] == "INTEGER: released(1)"
    assert pressed["c12UnitEstopState.2"] == "INTEGER: pressed(2)"
    assert int(pressed["sysUpTime.0"].split("(")[1].split(")")[0]) > 0
    off = receivers.wait("c12SwitchOff", "c12UnitSwitchState.2")  # the e-stop trips the switch
    assert (
        off["c12NotifPrevSwitchState.0"] == "INTEGER: on(2)"
        and off["c12UnitSwitchState.2"] == "INTEGER: off(1)"
    )
    stack.act(stack.names[1], action="estop_release")
    released = receivers.wait("c12EstopReleased", "c12UnitEstopState.2", receivers=RECEIVERS)
    assert released["c12NotifPrevEstopState.0"] == "INTEGER: pressed(2)"
    stack.act(stack.names[1], action="switch_on")
    assert (
        receivers.wait("c12SwitchOn", "c12UnitSwitchState.2")["c12UnitSwitchState.2"]
        == "INTEGER: on(2)"
    )


def test_rcbo_trip_and_reset(receivers: Receivers) -> None:
    stack = receivers.stack
    stack.act(stack.names[2], action="rcbo_test", channel=4)
    opened = receivers.wait("c12BreakerOpened", "c12ChannelBreakerState.3.4")
    channel = stack.reading(stack.names[2]).channels[3]
    assert opened["c12UnitName.3"] == "STRING: sim-03"
    assert opened["c12ChannelName.3.4"] == f"STRING: {channel.name}".rstrip()
    assert opened["c12NotifPrevBreakerState.0"] == "INTEGER: closed(1)"
    assert opened["c12ChannelBreakerState.3.4"] == "INTEGER: open(2)"
    stack.act(stack.names[2], action="rcbo_reset", channel=4)
    closed = receivers.wait("c12BreakerClosed", "c12ChannelBreakerState.3.4")
    assert closed["c12NotifPrevBreakerState.0"] == "INTEGER: open(2)"


def test_supervision_band_left_and_regained(receivers: Receivers) -> None:
    stack = receivers.stack
    name, key = stack.names[2], "c12ChannelSupervisionState.3.2"
    stack.act(name, action="set_supervision", channel=2, min_a=None, max_a=None)
    stack.act(name, action="set_load", channel=2, current_a=5.0)
    before = (
        receivers.count("c12ChannelOutsideBand", key),
        receivers.count("c12ChannelInsideBand", key),
    )
    stack.act(name, action="set_supervision", channel=2, min_a=0.5, max_a=1.0)
    outside = receivers.wait("c12ChannelOutsideBand", key, before[0] + 1)
    assert outside[key] == "INTEGER: above(4)"
    assert outside["c12NotifPrevSupervisionState.0"] == "INTEGER: disabled(1)"
    assert outside["c12ChannelCurrent.3.2"] == "INTEGER: 5.000 A"
    assert outside["c12ChannelSupervisionMin.3.2"] == "INTEGER: .500 A"
    assert outside["c12ChannelSupervisionMax.3.2"] == "INTEGER: 1.000 A"
    stack.act(name, action="set_supervision", channel=2, min_a=None, max_a=None)
    inside = receivers.wait("c12ChannelInsideBand", key, before[1] + 1)
    assert inside[key] == "INTEGER: disabled(1)"
    assert inside["c12NotifPrevSupervisionState.0"] == "INTEGER: above(4)"
    assert inside["c12ChannelSupervisionMin.3.2"] == "INTEGER: -.001 A"


def test_overload_is_notified(receivers: Receivers) -> None:
    stack = receivers.stack
    stack.act(stack.names[2], action="set_load", channel=6, current_a=5.0)
    stack.act(stack.names[2], action="set_load", channel=6, current_a=20.0)
    changed = receivers.wait("c12ChannelLoadStateChanged", "c12ChannelLoadState.3.6")
    assert changed["c12NotifPrevLoadState.0"] == "INTEGER: normal(2)"
    assert changed["c12ChannelLoadState.3.6"] == "INTEGER: slightOverload(3)"
    assert changed["c12ChannelRating.3.6"] == "INTEGER: 16.000 A"


def test_the_neutral_over_the_input_rating_is_notified(receivers: Receivers) -> None:
    """Twelve 12.5 A LED-wall channels, set one by one (each a poll): each line ends at
    about 50 A (79 % of 63 A: normal), the neutral at 85 A. c12InputLoadChanged names the
    neutral only, its current and the rating, level by level up to over; back to a light
    load it falls to normal."""
    stack = receivers.stack
    name = stack.names[1]
    key = "c12NotifConductor.0"
    before = receivers.count("c12InputLoadChanged", key)
    for channel in range(1, 13):
        stack.act(name, action="set_load", channel=channel, current_a=12.5, third_harmonic=0.69)
    assert stack.reading(name).values["neutral_current"] == pytest.approx(85.0, abs=1.0)
    receivers.count("c12InputLoadChanged", key)  # everything queued has been delivered
    rising = receivers.logs["v2c-trap"].named("c12InputLoadChanged", key)[before:]
    assert {n[key] for n in rising} == {"INTEGER: neutral(4)"}  # the lines stay normal
    levels = [n["c12NotifInputLoad.0"].removeprefix("INTEGER: ") for n in rising]
    assert levels in (["over(3)"], ["high(2)", "over(3)"]), levels
    over = rising[-1]
    assert over["c12UnitName.2"] == "STRING: sim-02"
    assert over["c12NotifInputRating.0"] == "INTEGER: 63.000 A"
    assert float(over["c12NotifConductorCurrent.0"].split()[1]) > 63.0
    for channel in range(1, 13):
        stack.act(name, action="set_load", channel=channel, current_a=1.0)
    normal = receivers.wait("c12InputLoadChanged", key, before + len(rising) + 1)
    assert (
        normal["c12NotifInputLoad.0"] == "INTEGER: normal(1)"
        or receivers.wait("c12InputLoadChanged", key, before + len(rising) + 2)[
            "c12NotifInputLoad.0"
        ]
        == "INTEGER: normal(1)"
    )


def test_neutral_lost_and_restored(receivers: Receivers) -> None:
    stack = receivers.stack
    stack.act(stack.names[0], action="neutral_lose")
    lost = receivers.wait("c12NeutralLost", "c12UnitNeutralState.1")
    assert lost["c12UnitNeutralState.1"] == "INTEGER: lost(2)"
    stack.act(stack.names[0], action="neutral_restore")
    restored = receivers.wait("c12NeutralRestored", "c12UnitNeutralState.1")
    assert restored["c12NotifPrevNeutralState.0"] == "INTEGER: lost(2)"


def test_unit_unreachable_and_back(receivers: Receivers) -> None:
    stack = receivers.stack
    stack.act(stack.names[0], action="power_loss")
    lost = receivers.wait("c12UnitUnreachable", "c12UnitName.1", receivers=RECEIVERS)
    assert lost["c12UnitName.1"] == "STRING: sim-01"
    assert lost["c12UnitAddress.1"] == f"STRING: {stack.fleet.units[0].address}"
    assert lost["c12NotifPrevReachability.0"] == "INTEGER: reachable(1)"
    assert lost["c12UnitReachability.1"] == "INTEGER: unreachable(2)"
    assert lost["c12NotifReason.0"].startswith("STRING: connect")
    stack.act(stack.names[0], action="power_restore")
    back = receivers.wait("c12UnitReachable", "c12UnitName.1")
    assert back["c12UnitReachability.1"] == "INTEGER: reachable(1)"
    assert back["c12NotifPrevReachability.0"] == "INTEGER: unreachable(2)"


def test_temperature_above_the_limit_and_back(receivers: Receivers) -> None:
    stack = receivers.stack
    unit = stack.fleet.units[1]
    stack.call(lambda: unit.physics_now().set_ambient(60.0, soaked=True))
    stack.poll(unit.name)
    high = receivers.wait("c12TemperatureHigh", "c12UnitTemperature.2")
    assert high["c12TemperatureLimit.0"] == "INTEGER: 45.0 degrees Celsius"
    temperature = stack.reading(unit.name).temperature_c
    assert temperature is not None and temperature > 45
    assert high["c12UnitTemperature.2"] == f"INTEGER: {temperature:.1f} degrees Celsius"
    assert float(high["c12NotifPrevTemperature.0"].split()[1]) <= 45
    stack.call(lambda: unit.physics_now().set_ambient(20.0, soaked=True))
    stack.poll(unit.name)
    normal = receivers.wait("c12TemperatureNormal", "c12UnitTemperature.2")
    assert float(normal["c12NotifPrevTemperature.0"].split()[1]) > 45


# --- decisions, without the network --------------------------------------------------------


def reading_of(unit: SimulatedUnit, at: float, **changes: Quantity) -> Reading:
    identity = Identity("StageSmarts", unit.model.name, unit.firmware, unit.serial)
    measurements = MEASUREMENTS.decode(unit.measurement_registers(), unit.name)
    settings = decode_holding(unit.settings_registers(), unit.name)
    reading = build_reading(unit.name, identity, unit.model, at, {**measurements, **settings})
    return reading.with_values(**changes)


@dataclasses.dataclass
class Offline:
    """A simulated unit's readings through a store and a tracker, no network."""

    unit: SimulatedUnit
    store: Store
    tracker: StateTracker
    events: list[str] = dataclasses.field(default_factory=list)

    def record(self, reading: Reading | None) -> list[str]:
        """Record a poll result; the notifications it causes."""
        self.events.clear()
        if reading is None:
            self.store.record_failure(self.unit.name, "timeout", "no answer", 1.0)
        else:
            self.store.record_success(reading.unit, reading, 0.01)
        return list(self.events)


@pytest.fixture
def offline() -> Offline:
    unit = Fleet.build(1, plugins=PLUGINS, speed=0.0, warmup_s=600).units[0]
    store = Store((UnitConfig(unit.name, unit.address),), staleness_s=10)
    tracker = StateTracker(store, 45.0, UnitIndexes(None))
    result = Offline(unit, store, tracker)
    store.subscribe(
        lambda change: result.events.extend(e.notification for e in tracker.on_change(change))
    )
    return result


def test_tracker_notifies_changes_not_levels(offline: Offline) -> None:
    now = time.time()
    first = reading_of(offline.unit, now, emergency_stop="pressed", temperature=60.0)
    assert offline.record(first) == []  # a baseline, e-stop pressed or not
    channels = list(first.channels)
    channels[0] = channels[0].with_values(channel_load="off")  # normal -> off: not notified
    channels[1] = dataclasses.replace(channels[1], supervision=SupervisionBand(None, 0.1))
    second = dataclasses.replace(
        first.with_values(emergency_stop="released"), taken_at=now + 1, channels=tuple(channels)
    )
    assert offline.record(second) == ["c12EstopReleased", "c12ChannelOutsideBand"]
    assert offline.record(dataclasses.replace(second, taken_at=now + 2)) == []
    assert offline.record(None) == ["c12UnitUnreachable"]
    assert offline.record(None) == []
    third = dataclasses.replace(second.with_values(temperature=30.0), taken_at=now + 3)
    assert offline.record(third) == ["c12UnitReachable", "c12TemperatureNormal"]


def test_tracker_notices_a_reading_going_stale(offline: Offline) -> None:
    now = time.time()
    offline.record(reading_of(offline.unit, now))
    assert offline.tracker.on_tick(now + 5) == []
    stale = offline.tracker.on_tick(now + 11)
    assert [e.notification for e in stale] == ["c12UnitUnreachable"]
    assert stale[0].previous["c12NotifReason"] == "stale"
    assert offline.tracker.on_tick(now + 12) == []


def test_unacknowledged_informs_are_counted(tmp_path: Path) -> None:
    """An inform to a port nobody listens on: sent, then failed once the retries ran out."""
    silent = free_port()
    config = snmp_config(
        notifications={
            "receivers": [
                {
                    "address": f"127.0.0.1:{silent}",
                    "version": "v3",
                    "user": USERS[0]["name"],
                    "type": "inform",
                }
            ]
        }
    )
    with snmp_stack(tmp_path, units=1, snmp=config) as stack:
        stack.act(stack.names[0], action="estop")
        failed = "c12_snmp_notifications_failed_total"
        wait_until(
            lambda: stack.count(failed, notification="c12EstopPressed", reason="unacknowledged"),
            20,
            "the inform's retries to run out",
        )
        assert stack.count("c12_snmp_notifications_sent_total", notification="c12EstopPressed") == 1


def test_input_levels_have_a_margin_below_each_threshold(offline: Offline) -> None:
    """A conductor enters high above 80 % and over above 100 % of the 63 A rating, and
    leaves each only 2 % of the rating below it: no stream of notifications from a
    current that hovers at a threshold."""
    now = time.time()
    first = reading_of(offline.unit, now, neutral_current=40.0)
    assert offline.record(first) == []
    events = []
    for i, amps in enumerate((51.0, 50.0, 48.0, 64.0, 62.5, 61.0), start=1):
        reading = dataclasses.replace(first.with_values(neutral_current=amps), taken_at=now + i)
        events.append(offline.record(reading))
    changed = ["c12InputLoadChanged"]
    assert events == [changed, [], changed, changed, [], changed]
