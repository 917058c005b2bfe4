"""The Zabbix templates in a real Zabbix 6.0 server: import, discovery, values, and every
trigger of both templates fired and resolved by faults put on simulated units.

The stack (tests/zabbix_fleet.py): Zabbix with both templates, a main exporter reading
three frozen simulated units and sending its notifications through Debian's snmptrapd
and ``c12exporter zabbix-trap``, and a live exporter reading one unit in real time.
``zabbix/proofs.py`` says which test proves which trigger; the last test holds the
templates' every trigger against what the tests saw.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from c12exporter import catalogue
from c12exporter.measurements import PHASES, Metric, Scope
from c12exporter.snmp.columns import MibColumn
from tests.servers import LOOPBACK, http_get, wait_until
from tests.zabbix_fleet import (
    BASE_LOAD_A,
    CHANNELS,
    LIVE_UNIT,
    UNITS,
    V3_USER,
    Setup,
    on_both,
    unit_hosts,
    zabbix_fleet,
)
from zabbix import generate, proofs, readme

pytestmark = pytest.mark.integration

TOLERANCE = {
    "c12.phase.unbalance": 0.0011,
    "c12.voltage.unbalance": 0.00011,
    "c12.channel.heat[1]": 0.005,
    "c12.input.frequency_band": 0.0001,
    "c12.unit.power_up": 90.0,
}
"""How far an item may be from /metrics, where not 0.051 (SNMP's tenths of a unit, the
values' own rounding): the unbalances travel in tenths and hundredths of a percent. The
heat travels in thousandths and relaxes (120 s time constant) from the simulator's
scenario towards the tests' base load, a few thousandths while an item waits for its
next poll. The power-up time is the wall clock less the unit's uptime, which
the frozen simulator does not advance: it moves on with the clock while the test waits."""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with zabbix_fleet(tmp_path_factory.mktemp("zabbix")) as s:
        yield s


@pytest.fixture(autouse=True)
def _named_test(request: pytest.FixtureRequest) -> None:
    """Proofs are noted under the running test's name (a round renames it)."""
    if "setup" in request.fixturenames:
        request.getfixturevalue("setup").test = request.node.name


def test_templates_are_uuid4_and_stable() -> None:
    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        text = path.read_text()
        uuids = re.findall(r"uuid: ([0-9a-f]+)", text)
        assert uuids and len(uuids) == len(set(uuids)), path
        for u in uuids:
            assert re.fullmatch(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", u), (path, u)
    assert generate.main(["--check"]) == 0, "zabbix/ is stale: run python -m zabbix.generate"


def test_every_prometheus_alert_has_a_trigger_at_its_severity() -> None:
    """Each alert of alerts/c12-alerts.yml has its triggers in both templates (the alert's
    name in their ``alert`` tag) at the severity zabbix/names.py maps its label to, unless
    generate.ALERTS_WITHOUT_TRIGGER says why not; no trigger names an unknown alert."""
    rules = {r["alert"]: r for g in yaml.safe_load(
        (Path(__file__).parent.parent / "alerts" / "c12-alerts.yml").read_text())["groups"]
        for r in g["rules"]}  # fmt: skip
    assert set(generate.ALERTS_WITHOUT_TRIGGER) <= set(rules)
    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        export = yaml.safe_load(path.read_text())["zabbix_export"]
        found: dict[str, set[str]] = {}
        for trigger in readme.all_triggers(export):
            tags = {t["tag"]: t.get("value", "") for t in trigger["tags"]}
            if tags.get("alert"):
                found.setdefault(tags["alert"], set()).add(trigger["priority"])
        missing = set(rules) - set(found) - set(generate.ALERTS_WITHOUT_TRIGGER)
        assert not missing, f"{path.name}: no trigger for {sorted(missing)}"
        assert not set(found) - set(rules), f"{path.name}: unknown alerts"
        for alert, priorities in found.items():
            severity = rules[alert]["labels"]["severity"]
            assert priorities == {generate.SEVERITIES[severity]}, (path.name, alert, priorities)


def test_discovery_finds_every_unit_and_all_its_channels(setup: Setup) -> None:
    """The C12Bs' 12 channels with the aux socket on 12; the live unit, a C24B of the
    outside example plugin, its 24 with the aux socket on 24 only."""
    hosts = setup.hosts()
    for unit in (*UNITS, LIVE_UNIT):
        count = CHANNELS.get(unit, 12)
        for host in (f"c12-{unit}", f"c12-{unit}-http"):
            assert host in hosts
            keys = setup.items(host)
            current = {k for k in keys if k.startswith("c12.channel.current[")}
            assert current == {f"c12.channel.current[{n}]" for n in range(1, count + 1)}, host
            aux = {k for k in keys if k.startswith("c12.channel.aux_rating[")}
            assert aux == {f"c12.channel.aux_rating[{count}]"}, (host, aux)


def _metric(page: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in page.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not on /metrics")


def _expected(page: str, unit: str) -> dict[str, float]:
    """Item key -> the value /metrics serves for ``unit``."""
    expected = {
        "c12.unit.temperature": _metric(page, "c12_temperature_celsius", pdu=unit),
        "c12.line.current[L1]": _metric(page, "c12_current_amperes", pdu=unit, phase="L1"),
        "c12.line.voltage[L2]": _metric(page, "c12_voltage_volts", pdu=unit, phase="L2"),
        "c12.input.power.active": _metric(page, "c12_active_power_watts", pdu=unit),
        "c12.input.rating": _metric(page, "c12_input_rating_amperes", pdu=unit),
        "c12.input.frequency_band": _metric(page, "c12_supply_frequency_band_ratio", pdu=unit),
        "c12.voltage.unbalance": _metric(page, "c12_voltage_unbalance_ratio", pdu=unit),
        "c12.channel.heat[1]": _metric(
            page, "c12_channel_breaker_heat_ratio", pdu=unit, channel="1"
        ),
        "c12.unit.power_up": _metric(page, "c12_power_up_time_seconds", pdu=unit),
        "c12.phase.unbalance": _metric(page, "c12_phase_unbalance_ratio", pdu=unit),
    }
    for n in (1, 7, 12):
        expected[f"c12.channel.current[{n}]"] = _metric(
            page, "c12_channel_current_amperes", pdu=unit, channel=str(n)
        )
    # No overload: no forecast series and no SNMP instance; both templates read -1.
    assert f'c12_channel_trip_forecast_seconds{{channel="1",pdu="{unit}"}}' not in page
    expected["c12.channel.trip_forecast[1]"] = -1.0
    return expected


def test_item_values_equal_metrics(setup: Setup) -> None:
    """Both templates' items of every unit hold what /metrics serves (read again on each
    try: the frozen physics hold still, the breaker heat does not)."""
    for unit in UNITS:
        for host in unit_hosts(unit):

            def values_match(host: str = host, unit: str = unit) -> bool:
                expected = _expected(http_get(f"{setup.exporter_url}/metrics"), unit)
                items = setup.items(host)
                got = {k: items[k]["lastvalue"] for k in expected}
                bad = {
                    k: (v, expected[k])
                    for k, v in got.items()
                    if abs(float(v or "nan") - expected[k]) > TOLERANCE.get(k, 0.051)
                }
                if bad:
                    setup.poke(host)
                assert not bad, bad
                return True

            wait_until(values_match, 45, f"{host}: items equal /metrics", step=2)


PHASE_CHANNELS = {phase: tuple(range(n, 13, 3)) for n, phase in enumerate(PHASES, start=1)}
"""The simulated units' wiring: channel 1 on L1, 2 on L2, 3 on L3, 4 on L1 ..."""
OVER_A, NEAR_A, LOW_A = 15.9, 13.5, 1.0
"""A phase's four channels at 15.9 A: 63.6 A, over the 63 A input; at 13.5 A: 54 A, above
80 % of it (50.4 A); at 1 A: 4 A. Two phases so and the third light put about 55 A on the
neutral (near its rating too) and unbalance the phases by about 90 %."""
LOAD_PLANS = {"sim-01": ("L1", "L2", "L3"), "sim-02": ("L2", "L3", "L1"),
              "sim-03": ("L3", "L1", "L2")}  # fmt: skip
"""Round 1: per unit, the phase over the input rating, the one near it, the light one."""
SERIOUS_A = 25.6
"""1.6 x In: the load LED flashes fast (above 1.45 x In) and the curve trips in about 280 s,
so the forecast is under 300 s at once while the heat, 1/280 a second, stays under the
0.2 the trip trigger resolves below for the whole round."""
LED_WALL = {"current_a": 12.5, "third_harmonic": 0.69}
"""Twelve LED-wall channels: about 85 A on the neutral, 50 A on each phase."""


def _base(setup: Setup, unit: str) -> None:
    setup.set_loads(unit, dict.fromkeys(range(1, 13), BASE_LOAD_A))


def _channel(n: int, name: str) -> str:
    return f"Channel {n} ...: {name}"


def test_polled_triggers_fire_and_resolve_in_rounds(setup: Setup) -> None:
    """Five rounds; in each, faults on every unit at once, every trigger they fire seen at
    1 on both templates' unit hosts, then all repaired and every one seen at 0."""
    s = setup

    s.test = proofs.LOADS
    for unit, (over, near, low) in LOAD_PLANS.items():
        for phase, current in ((over, OVER_A), (near, NEAR_A), (low, LOW_A)):
            s.set_loads(unit, dict.fromkeys(PHASE_CHANNELS[phase], current))
    s.set_loads("sim-02", {1: SERIOUS_A})  # takes sim-02's neutral away from near
    s.live_act("power_loss")
    s.live_act("power_restore")  # uptime from 0, the power-up time two hours on
    # A distorting supply on the live unit: its THD averages restart at power-up, so they
    # follow at once (a frozen unit's hour of average would not move).
    for phase in PHASES:
        s.live_act("supply", phase=phase, voltage_thd=0.12)
    loads = [
        (h, n)
        for unit, (over, near, _) in LOAD_PLANS.items()
        for h in unit_hosts(unit)
        for n in (
            f"{over}: Current above the input rating",
            f"{near}: Current near the input rating",
            "Phase currents imbalanced",
        )
    ]
    loads += on_both(("sim-01", "sim-03"), ["N: Current near the input rating"])
    loads += on_both(
        ["sim-02"],
        [
            _channel(1, "Serious overload, RCBO about to trip"),
            _channel(1, "RCBO expected to trip soon"),
        ],
    )
    loads += on_both(["sim-03"], [_channel(12, "Aux socket may be overloaded")])
    loads += on_both([LIVE_UNIT], ["Powered up recently: energy counter restarted",
                                   *(f"{p}: Voltage THD high" for p in PHASES)])  # fmt: skip
    try:
        s.wait(loads, 1)
    finally:
        for unit in UNITS:
            _base(s, unit)
        for phase in PHASES:
            s.live_act("supply", phase=phase, voltage_thd=0.02)
    # The trip trigger: its heat is under 0.2; the restart: 20 s passed; the THD: its
    # average since power-up back under 8 %.
    s.wait(loads, 0)

    s.test = proofs.SUPPLY
    _supply_and_channels(s)
    _safety_chain_and_meter(s)

    s.test = proofs.UNREACHABLE
    s.control.act("sim-01", "neutral_lose")
    s.control.act("sim-03", "network", mode="kill")  # its channel 2 is over its rating
    down = on_both(["sim-01"], ["Neutral lost: switch disconnector tripped"])
    down += on_both(["sim-03"], ["Unit is not answering its polls"])
    try:
        s.wait(down, 1)
        for host in unit_hosts("sim-03"):
            problems = s.problems(host)
            # The channel trigger depends on the unit's: it is not shown as a problem.
            assert not any(a.startswith("C12Channel") for a in problems.values()), problems
    finally:
        s.control.act("sim-01", "neutral_restore")
        s.control.act("sim-01", "switch_on")
        s.control.act("sim-03", "network", mode="normal")
        _base(s, "sim-03")
    s.wait([*down, *on_both(["sim-03"], [_channel(2, "Current above RCBO rating")])], 0)

    # Alone: while the live exporter is stopped, the server's pollers wait out its
    # timeouts, and the other hosts' reads fall behind.
    s.test = proofs.EXPORTER_STOPPED
    stopped = on_both([LIVE_UNIT], ["No data from the exporter for this unit"])
    stopped += [("c12-agent-live", "No data from the exporter SNMP agent"),
                ("c12-exporter-live", "No data from the exporter")]  # fmt: skip
    s.freeze_live_exporter(True)
    try:
        s.wait(stopped, 1, timeout=120)  # nodata() is evaluated every 30 s at best
    finally:
        s.freeze_live_exporter(False)
    s.wait(stopped, 0)


def _supply_and_channels(s: Setup) -> None:
    """Round 2: sim-01's voltages and frequency out of their limits, an RCBO open, a
    channel near its rating, too hot; sim-02's channels over the rating, outside the band,
    the trip trigger held by the heat; sim-03 an LED wall."""
    for phase, volts in zip(PHASES, (190.0, 260.0, 190.0), strict=True):
        s.control.act("sim-01", "supply", phase=phase, voltage_v=volts)
    s.control.act("sim-01", "frequency", frequency_hz=52.0)
    s.control.act("sim-01", "ambient", celsius=60.0, soaked=True)
    s.control.act("sim-01", "rcbo_off", channel=2)
    s.set_loads("sim-01", {5: 14.0})
    s.set_loads("sim-02", {5: 17.0, 6: 32.0})
    s.control.act("sim-02", "set_supervision", channel=3, min_a=0.0, max_a=0.5)
    s.set_loads("sim-03", dict.fromkeys(range(1, 13), LED_WALL["current_a"]),
                third_harmonic=LED_WALL["third_harmonic"])  # fmt: skip
    names = [f"{p}: Voltage out of range" for p in PHASES]
    names += ["Phase voltages unbalanced", "Supply frequency out of range",
              "Temperature is above its limit", _channel(2, "RCBO open"),
              _channel(5, "Current near RCBO rating")]  # fmt: skip
    supply = on_both(["sim-01"], names)
    supply += on_both(["sim-02"], [_channel(5, "Current above RCBO rating"),
                                   _channel(3, "Current outside supervision band"),
                                   _channel(6, "RCBO expected to trip soon")])  # fmt: skip
    supply += on_both(["sim-03"], ["N: Current above the input rating",
                                   "Neutral carries more current than any phase"])  # fmt: skip
    try:
        s.wait(supply, 1)
        _trip_trigger_held_by_heat(s)
    finally:
        for phase in PHASES:
            s.control.act("sim-01", "supply", phase=phase, voltage_v=230.0)
        s.control.act("sim-01", "frequency", frequency_hz=50.0)
        s.control.act("sim-01", "ambient", celsius=24.0, soaked=True)
        s.control.act("sim-01", "rcbo_reset", channel=2)
        s.control.act("sim-02", "set_supervision", channel=3, min_a=None, max_a=None)
        # The heat holds the trip trigger for minutes; an open RCBO resolves it at once.
        s.control.act("sim-02", "rcbo_off", channel=6)
        for unit in UNITS:
            _base(s, unit)
    s.wait(supply, 0)
    s.control.act("sim-02", "rcbo_reset", channel=6)


def _trip_trigger_held_by_heat(s: Setup) -> None:
    """2 x In on sim-02's channel 6 fired the trip trigger; at 0.8 x In the forecast is
    gone but the breaker's heat holds the problem (the recovery expression wants it under
    0.2)."""
    for host in unit_hosts("sim-02"):

        def hot(host: str = host) -> bool:
            s.poke(host)
            return float(s.items(host)["c12.channel.heat[6]"]["lastvalue"] or 0) >= 0.35

        wait_until(hot, 60, f"{host}: channel 6 at 35 % heat", step=2)
    s.set_loads("sim-02", {6: 12.8})
    for host in unit_hosts("sim-02"):

        def no_forecast(host: str = host) -> bool:
            s.poke(host)
            return float(s.items(host)["c12.channel.trip_forecast[6]"]["lastvalue"]) == -1

        wait_until(no_forecast, 45, f"{host}: no forecast at 0.8 x In", step=2)
        assert float(s.items(host)["c12.channel.heat[6]"]["lastvalue"]) >= 0.2
        assert s.named(host, _channel(6, "RCBO expected to trip soon")) == 1


def _safety_chain_and_meter(s: Setup) -> None:
    """Round 3: sim-01's L1 meter fuse (the meter stops: every phase silent), warm, its
    switch off; sim-02's e-stop; sim-03 too cold, a channel over its rating (kept for
    round 4)."""
    s.test = proofs.SAFETY
    s.control.act("sim-01", "fuse_blow", phase="L1")
    s.control.act("sim-01", "ambient", celsius=42.0, soaked=True)
    s.control.act("sim-01", "switch_off")
    s.control.act("sim-02", "estop")
    s.control.act("sim-03", "ambient", celsius=-20.0, soaked=True)
    s.set_loads("sim-03", {2: 17.0})
    safety = on_both(
        ["sim-01"],
        [
            *(f"{p}: Meter reads no voltage (meter fuse?)" for p in PHASES),
            "Temperature is near its limit",
            "Switch disconnector is OFF: all outputs are dead",
        ],
    )
    safety += on_both(["sim-02"], ["Emergency stop is pressed: all outputs are dead"])
    safety += on_both(["sim-03"], ["Temperature is below its minimum"])
    over = on_both(["sim-03"], [_channel(2, "Current above RCBO rating")])
    try:
        s.wait([*safety, *over], 1)
    finally:
        s.control.act("sim-01", "fuse_replace", phase="L1")
        s.control.act("sim-01", "ambient", celsius=24.0, soaked=True)
        s.control.act("sim-01", "switch_on")
        s.control.act("sim-02", "estop_release")
        s.control.act("sim-02", "switch_on")
        s.control.act("sim-03", "ambient", celsius=24.0, soaked=True)
    s.wait(safety, 0)


TRAP_DEADLINE = 5.0
"""Seconds from a fault to its trap trigger, no poll, no "check now", when another record
follows the fault's in the trap file (the e-stop: c12SwitchOff follows c12EstopPressed).
The exporter polls every second; snmptrapd runs ``c12exporter zabbix-trap`` once per
notification, one after the other (0.2 to 1 s each on this shared machine); the server's
SNMP trapper reads the file every second and processes a record when the next arrives."""
LONE_TRAP_DEADLINE = 7.0
"""The same for the file's last record (a release, a neutral, an RCBO, a load change): the
trapper keeps it until its second idle pass (src/zabbix_server/snmptrapper: the first
pass sets ``force``, the next parses), 1 to 2 s more. Measured here under a load of 9 on
2 cores: 3.1 to 6.2 s (the e-stop 4.1 to 4.3 s)."""


def _trap_fires(setup: Setup, host: str, alert: str, value: int, name_end: str = "",
                channel: str = "", within: float = LONE_TRAP_DEADLINE) -> None:  # fmt: skip
    """Wait for the trap trigger to reach ``value``; fail past ``within`` seconds."""
    wait_until(lambda: setup.trap_trigger(host, alert, name_end, channel) == value,
               within, f"{host}: trap trigger {alert} {name_end} = {value}",
               step=0.2)  # fmt: skip


def _quiet_traps(setup: Setup, quiet_s: float = 1.5) -> None:
    """Wait until the trap file has not grown for ``quiet_s``: the notifications of earlier
    faults (a unit back on the network: c12UnitReachable and what changed while it was
    away) are through snmptrapd, whose receiver runs once per notification, so a timed
    fault does not queue behind them."""
    last = {"size": -1, "since": time.monotonic()}

    def quiet() -> bool:
        size = setup.zbx.trap_file.stat().st_size
        if size != last["size"]:
            last.update(size=size, since=time.monotonic())
        return time.monotonic() - last["since"] >= quiet_s

    wait_until(quiet, 30, "no new trap for a while", step=0.2)


def test_traps_fire_their_triggers_in_seconds_on_the_right_unit(setup: Setup) -> None:
    """Faults seen through snmptrapd, c12exporter zabbix-trap and the server's SNMP
    trapper, each on its own unit's host alone (every unit host shares the agent's
    address): within 5 s of the fault, or 7 s for the last record of the file."""
    host, other = "c12-sim-01", "c12-sim-03"
    assert setup.trap_trigger(host, "C12EmergencyStopPressed") == 0
    _quiet_traps(setup)
    setup.control.act("sim-01", "estop")
    try:
        _trap_fires(setup, host, "C12EmergencyStopPressed", 1, within=TRAP_DEADLINE)
        _trap_fires(setup, host, "C12SwitchDisconnectorOff", 1, within=TRAP_DEADLINE)
        assert setup.trap_trigger(other, "C12EmergencyStopPressed") == 0
        estop = next(i for k, i in setup.items(host).items() if "c12EstopPressed|" in k)
        assert "c12EstopPressed" in estop["lastvalue"] and "sim-01" in estop["lastvalue"]
    finally:
        setup.control.act("sim-01", "estop_release")
    _trap_fires(setup, host, "C12EmergencyStopPressed", 0)
    setup.control.act("sim-01", "switch_on")
    _trap_fires(setup, host, "C12SwitchDisconnectorOff", 0)

    setup.control.act("sim-01", "neutral_lose")
    try:
        _trap_fires(setup, host, "C12NeutralLost", 1)
    finally:
        setup.control.act("sim-01", "neutral_restore")
    _trap_fires(setup, host, "C12NeutralLost", 0)
    setup.control.act("sim-01", "switch_on")

    setup.control.act("sim-01", "rcbo_off", channel=4)
    try:
        _trap_fires(setup, host, "C12ChannelBreakerOpen", 1, "(SNMP trap)", channel="4")
        assert setup.trap_trigger(host, "C12ChannelBreakerOpen", "(SNMP trap)", "5") == 0
    finally:
        setup.control.act("sim-01", "rcbo_reset", channel=4)
    _trap_fires(setup, host, "C12ChannelBreakerOpen", 0, "(SNMP trap)", channel="4")

    # Each unit's phase over the input rating: L1 on sim-01, L2 on sim-02, L3 on sim-03.
    _quiet_traps(setup)
    over = {unit: f"{phase}: Current above the input rating (SNMP trap)"
            for unit, (phase, _, _) in LOAD_PLANS.items()}  # fmt: skip
    for unit, (phase, _, _) in LOAD_PLANS.items():
        setup.set_loads(unit, dict.fromkeys(PHASE_CHANNELS[phase], OVER_A))
    try:
        for unit, name in over.items():
            _trap_fires(setup, f"c12-{unit}", "C12InputOverRating", 1, name)
        assert setup.trap_trigger("c12-sim-02", "C12InputOverRating", over["sim-01"]) == 0
    finally:
        for unit in UNITS:
            _base(setup, unit)
    for unit, name in over.items():
        _trap_fires(setup, f"c12-{unit}", "C12InputOverRating", 0, name)

    # Twelve LED-wall channels: about 85 A on the neutral, over the 63 A input.
    n_over = "N: Current above the input rating (SNMP trap)"
    _quiet_traps(setup)
    setup.set_loads("sim-01", dict.fromkeys(range(1, 13), LED_WALL["current_a"]),
                    third_harmonic=LED_WALL["third_harmonic"])  # fmt: skip
    try:
        _trap_fires(setup, host, "C12InputOverRating", 1, n_over)
        assert setup.trap_trigger(host, "C12InputOverRating", "L1: " + n_over[3:]) == 0
    finally:
        _base(setup, "sim-01")
    _trap_fires(setup, host, "C12InputOverRating", 0, n_over)


def test_generated_files_are_in_the_repository() -> None:
    for path in generate.outputs():
        assert Path(path).exists(), path


def test_a_series_added_to_the_catalogue_and_the_mib_is_not_forgotten_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A derived series with a MIB column that no item reads stops the generator."""
    cycle = catalogue.Derived(
        "channel_rcbo_last_cycle", Scope.CHANNEL, "When the RCBO last closed after opening", "s",
        Metric("c12_channel_rcbo_last_cycle_timestamp_seconds", help="Last RCBO cycle"),
    )  # fmt: skip
    column = MibColumn("c12ChannelEntry", 19, "c12ChannelRcboLastCycle", "DateAndTime",
                       description="When the RCBO last closed.", series=cycle.name)  # fmt: skip
    monkeypatch.setattr(catalogue, "DERIVED", (*catalogue.DERIVED, cycle))
    monkeypatch.setattr(catalogue, "BY_NAME", {**catalogue.BY_NAME, cycle.name: cycle})
    monkeypatch.setattr(catalogue, "COLUMNS", (*catalogue.COLUMNS, column))
    for kind in ("snmp", "http"):
        with pytest.raises(generate.TemplateError, match="'channel_rcbo_last_cycle'"):
            generate.build(kind)


def test_every_macro_a_trigger_uses_is_defined() -> None:
    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        export = yaml.safe_load(path.read_text())["zabbix_export"]
        defined = {m["macro"] for t in export["templates"] for m in t.get("macros", [])}
        used = set(re.findall(r"\{\$[A-Z0-9.]+\}", path.read_text()))
        assert used <= defined, (path, sorted(used - defined))


def test_snmpv3_sha256_aes128_reads_the_unit_template(setup: Setup) -> None:
    """A host reading sim-01 over SNMPv3 authPriv (SHA-256, AES-128) with the unit template:
    its items get the values of /metrics and it discovers the 12 channels."""
    index = next(m["value"] for m in setup.api("usermacro.get", {
        "hostids": [setup.hosts()["c12-sim-01"]], "output": ["macro", "value"]})
        if m["macro"] == "{$C12.UNIT.INDEX}")  # fmt: skip
    template = setup.api("template.get", {"output": ["templateid"],
                                          "filter": {"host": [generate.SNMP_UNIT]}})[0]  # fmt: skip
    group = setup.api("hostgroup.get", {"filter": {"name": [generate.UNIT_GROUP]}})[0]
    host = "c12-v3-sim-01"
    setup.api("host.create", {
        "host": host, "groups": [{"groupid": group["groupid"]}],
        "templates": [{"templateid": template["templateid"]}],
        "macros": [{"macro": "{$C12.UNIT}", "value": "sim-01"},
                   {"macro": "{$C12.UNIT.INDEX}", "value": index}],
        "interfaces": [{"type": 2, "main": 1, "useip": 1, "ip": LOOPBACK, "dns": "",
                        "port": str(setup.snmp_port), "details": {
                            "version": 3, "bulk": 1, "securityname": V3_USER["name"],
                            "securitylevel": 2, "authprotocol": 3,  # authPriv, SHA256
                            "authpassphrase": V3_USER["auth_key"],
                            "privprotocol": 1, "privpassphrase": V3_USER["priv_key"],  # AES128
                            "contextname": ""}}],
    })  # fmt: skip
    page = http_get(f"{setup.exporter_url}/metrics")
    expected = {
        "c12.unit.temperature": _metric(page, "c12_temperature_celsius", pdu="sim-01"),
        "c12.line.voltage[L2]": _metric(page, "c12_voltage_volts", pdu="sim-01", phase="L2"),
        "c12.input.rating": _metric(page, "c12_input_rating_amperes", pdu="sim-01"),
    }

    def read_over_v3() -> bool:
        setup.zbx.reload_config()
        items = setup.items(host)
        channels = [k for k in items if k.startswith("c12.channel.current[")]
        got = {k: items[k]["lastvalue"] for k in expected}
        bad = {k: (v, items[k]["error"]) for k, v in got.items()
               if abs(float(v or "nan") - expected[k]) > 0.051}  # fmt: skip
        if bad or len(channels) != 12:
            setup.poke(host)
            raise AssertionError(bad or f"{len(channels)} channels; {setup.discovery_errors(host)}")
        return True

    wait_until(read_over_v3, 60, f"{host}: items over SNMPv3", step=3)
    current = setup.items(host)["c12.channel.current[3]"]
    assert current["lastvalue"] != "" and not current["error"], current


def test_every_trigger_fired_and_resolved_where_the_table_says(
    setup: Setup, request: pytest.FixtureRequest
) -> None:
    """Every trigger and trigger prototype of both templates was seen at 1 and then at 0,
    on its template's hosts, in the test (and round) zabbix/proofs.py names for it."""
    here = {item.name for item in request.session.items if item.module is request.module}
    everything = {n for n, v in vars(request.module).items() if n.startswith("test_")}
    if here != everything:
        pytest.skip("holds what the whole module's tests saw: run the whole module")
    wrong: list[str] = []
    names: set[str] = set()
    for kind, path in generate.OUTPUTS.items():
        export = yaml.safe_load(path.read_text())["zabbix_export"]
        for trigger in readme.all_triggers(export):
            name = trigger["name"]
            names.add(name)
            want = proofs.PROOFS.get(name, "(not in zabbix/proofs.py)")
            proof = setup.proofs.get((kind, name))
            seen = (proof.fired, proof.resolved) if proof else ("never", "never")
            if seen != (want, want):
                wrong.append(f"{kind}: {name!r}: fired in {seen[0]!r}, resolved in "
                             f"{seen[1]!r}; zabbix/proofs.py: {want!r}")  # fmt: skip
    assert not wrong, "\n".join(wrong)
    assert set(proofs.PROOFS) == names, sorted(set(proofs.PROOFS) ^ names)
