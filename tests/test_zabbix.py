"""The Zabbix templates in a real Zabbix 6.0 server: import, discovery, values, triggers.

One Zabbix stack (PostgreSQL, zabbix_server, the frontend's API) for the module, with a
simulated fleet (physics frozen) and the exporter with its SNMP agent, whose
notifications go to Debian's snmptrapd, which hands each to ``c12exporter zabbix-trap``,
which writes the server's SNMP trap file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from c12exporter.snmp.mibfiles import write_mibs
from tests.servers import (
    LOOPBACK,
    SimulatorControl,
    exporter,
    free_port,
    http_get,
    process,
    require_tool,
    simulator,
    wait_until,
)
from tests.zabbix_server import ZabbixStack, zabbix_stack
from zabbix import generate

pytestmark = pytest.mark.integration

UNITS = ("sim-01", "sim-02", "sim-03")
FAST = {
    "{$C12.INTERVAL}": "2s",
    "{$C12.UNIT.DOWN.FOR}": "#1",
    "{$C12.CHANNEL.OVER.RATING.FOR}": "#1",
    "{$C12.CHANNEL.OUTSIDE.SUPERVISION.BAND.FOR}": "#1",
}
"""Template macros the tests shorten, so that a trigger fires on the next value (every
other ``...FOR}`` macro becomes ``#1`` too)."""

TOLERANCE = {
    "c12.phase.unbalance": 0.0011,
    "c12.voltage.unbalance": 0.00011,
    "c12.channel.heat[1]": 0.0011,
    "c12.input.frequency_band": 0.0001,
    "c12.unit.power_up": 90.0,
}
"""How far an item may be from /metrics, where not 0.051 (SNMP's tenths of a unit, the
values' own rounding): the unbalances travel in tenths and hundredths of a percent, the
heat in thousandths. The power-up time is the wall clock less the unit's uptime, which
the frozen simulator does not advance: it moves on with the clock while the test waits."""

IMPORT_RULES = {
    "groups": {"createMissing": True},
    "templates": {"createMissing": True, "updateExisting": True},
    "items": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "triggers": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "discoveryRules": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "valueMaps": {"createMissing": True, "updateExisting": True, "deleteMissing": True},
    "templateLinkage": {"createMissing": True},
}


V3_USER = {"name": "zabbix", "auth_protocol": "SHA-256", "auth_key": "zabbix auth phrase",
           "priv_protocol": "AES-128", "priv_key": "zabbix priv phrase"}  # fmt: skip
"""The exporter's SNMPv3 user Zabbix reads as in test_snmpv3_sha256_aes128."""


@dataclass
class Setup:
    zbx: ZabbixStack
    control: SimulatorControl
    exporter_url: str
    snmp_port: int

    def api(self, method: str, params: Any) -> Any:
        return self.zbx.api.call(method, params)

    def hosts(self) -> dict[str, str]:
        return {h["host"]: h["hostid"] for h in self.api("host.get", {"output": ["host"]})}

    def items(self, host: str) -> dict[str, dict[str, Any]]:
        hostid = self.hosts()[host]
        items = self.api("item.get", {"output": ["key_", "lastvalue", "lastclock", "error",
                                                 "itemid"], "hostids": [hostid]})  # fmt: skip
        return {i["key_"]: i for i in items}

    def poke(self, host: str, keys: tuple[str, ...] = ()) -> None:
        """Check now: the unit host's master item or SNMP items and its discovery."""
        hostid = self.hosts()[host]
        ids = [r["itemid"] for r in self.api("discoveryrule.get", {
            "output": ["itemid", "type"], "hostids": [hostid]}) if r["type"] != "18"]  # fmt: skip
        items = self.api("item.get", {"output": ["itemid", "key_", "type"], "hostids": [hostid]})
        ids += [i["itemid"] for i in items if i["type"] in ("19", "20") and
                (not keys or i["key_"] in keys or i["type"] == "19")]  # fmt: skip
        self.zbx.check_now(ids)

    def discovery_errors(self, host: str) -> dict[str, str]:
        """Discovery rule key -> its error (empty when it works), on ``host``."""
        rules = self.api("discoveryrule.get", {
            "output": ["key_", "error", "state"], "hostids": [self.hosts()[host]]})  # fmt: skip
        return {r["key_"]: r["error"] for r in rules}

    def problems(self, host: str) -> dict[str, str]:
        """Trigger name -> alert tag, for triggers in PROBLEM state (dependencies applied:
        a trigger whose dependency is in problem is not listed)."""
        hostid = self.hosts()[host]
        triggers = self.api("trigger.get", {
            "output": ["description", "value"], "hostids": [hostid], "selectTags": "extend",
            "only_true": False, "skipDependent": True, "expandDescription": True,
            "filter": {"value": 1}})  # fmt: skip
        return {t["description"]: next((x["value"] for x in t["tags"] if x["tag"] == "alert"),
                                       "") for t in triggers}  # fmt: skip

    def trigger_value(self, host: str, alert: str, channel: str = "") -> int:
        hostid = self.hosts()[host]
        triggers = self.api("trigger.get", {
            "output": ["description", "value"], "hostids": [hostid], "selectTags": "extend",
            "expandDescription": True, "tags": [{"tag": "alert", "value": alert,
                                                  "operator": 1}]})  # fmt: skip
        if channel:
            triggers = [t for t in triggers if t["description"].startswith(f"Channel {channel} ")]
        assert triggers, f"{host}: no trigger for {alert} {channel}"
        return max(int(t["value"]) for t in triggers)

    def named(self, host: str, name: str) -> int:
        """The value of the trigger called ``name`` on ``host`` (a channel's: its name up
        to ``]: ``, then from there, e.g. ``Channel 2 ...: RCBO open``)."""
        triggers = self.api("trigger.get", {
            "output": ["description", "value"], "hostids": [self.hosts()[host]],
            "expandDescription": True})  # fmt: skip
        start, _, end = name.partition(" ...")
        found = [t for t in triggers if t["description"] == name or (
            end and t["description"].startswith(start + " [") and
            t["description"].endswith(end))]  # fmt: skip
        assert len(found) == 1, (host, name, sorted(t["description"] for t in triggers))
        return int(found[0]["value"])

    def trap_trigger(self, host: str, alert: str, name_end: str = "", channel: str = "") -> int:
        """The value of the trap trigger of ``alert`` on ``host`` (whose name ends with
        ``name_end``, e.g. ``N: Current above the input rating (SNMP trap)``; of
        ``channel``)."""
        triggers = self.api("trigger.get", {
            "output": ["description", "value"], "hostids": [self.hosts()[host]],
            "expandDescription": True, "tags": [
                {"tag": "alert", "value": alert, "operator": 1},
                {"tag": "source", "value": "snmptrap", "operator": 1}]})  # fmt: skip
        found = [t for t in triggers if t["description"].endswith(name_end) and
                 t["description"].startswith(f"Channel {channel} " if channel else "")]  # fmt: skip
        assert len(found) == 1, (host, alert, name_end, triggers)
        return int(found[0]["value"])


@contextmanager
def snmptrapd(tmp: Path, trap_file: Path) -> Iterator[int]:
    """Debian's snmptrapd on a free loopback port, loading C12-PDU-MIB as written by
    ``c12exporter mib``, handing every notification to ``c12exporter zabbix-trap``."""
    mibs = tmp / "mibs"
    write_mibs(mibs)
    handler = Path(sys.executable).parent / "c12exporter"
    conf = tmp / "snmptrapd.conf"
    conf.write_text(
        "authCommunity log,execute traps\n"
        f"traphandle default {handler} zabbix-trap --file {trap_file}\n",
        encoding="utf-8",
    )
    port = free_port()
    command = [require_tool("snmptrapd", "snmptrapd"), "-f", "-Lo", "-n", "-C", "-c", str(conf),
               "-M", str(mibs), "-m", "C12-PDU-MIB", f"udp:{LOOPBACK}:{port}"]  # fmt: skip
    log = tmp / "snmptrapd.log"
    with process(command, log):
        wait_until(lambda: "NET-SNMP version" in log.read_text(), 15, "snmptrapd started")
        yield port


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("zabbix")
    with (
        zabbix_stack(tmp) as zbx,
        snmptrapd(tmp, zbx.trap_file) as trap_port,
        simulator(tmp, len(UNITS), "--speed", "0") as (control, uf),
    ):
        units = yaml.safe_load(uf.read_text())["units"]
        snmp_port = free_port()
        receiver = {"address": f"{LOOPBACK}:{trap_port}", "version": "v2c", "community": "traps"}
        config = yaml.safe_dump({
            "poll": {"interval": "1s", "timeout": "500ms"},
            "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": "public",
                     "users": [V3_USER], "notifications": {"receivers": [receiver]}},
            "units": units,
        })  # fmt: skip
        with exporter(tmp, config) as url:
            s = Setup(zbx, control, url, snmp_port)
            for path in (generate.SNMP_FILE, generate.HTTP_FILE):
                assert s.api(
                    "configuration.import",
                    {"format": "yaml", "source": path.read_text(), "rules": IMPORT_RULES},
                )
            zbx.analyze()
            templates = {t["host"]: t["templateid"] for t in s.api("template.get", {
                "output": ["host"], "search": {"host": "StageSmarts"}})}  # fmt: skip
            for name in (generate.SNMP_UNIT, generate.HTTP_UNIT, generate.SNMP,
                         generate.HTTP):  # fmt: skip
                macros = s.api(
                    "usermacro.get",
                    {"hostids": [templates[name]], "output": ["macro", "hostmacroid"]},
                )
                for macro in macros:
                    value = FAST.get(macro["macro"], "#1" if macro["macro"].endswith(".FOR}")
                                     else None)  # fmt: skip
                    if value is not None:
                        s.api("usermacro.update", {"hostmacroid": macro["hostmacroid"],
                                                   "value": value})  # fmt: skip
            group = s.api("hostgroup.get", {"filter": {"name": [generate.UNIT_GROUP]}})[0]
            s.api("host.create", {
                "host": "c12-agent", "groups": [{"groupid": group["groupid"]}],
                "templates": [{"templateid": templates[generate.SNMP]}],
                "interfaces": [{"type": 2, "main": 1, "useip": 1, "ip": LOOPBACK, "dns": "",
                                "port": str(snmp_port),
                                "details": {"version": 2, "community": "public"}}],
            })  # fmt: skip
            s.api("host.create", {
                "host": "c12-exporter", "groups": [{"groupid": group["groupid"]}],
                "templates": [{"templateid": templates[generate.HTTP]}],
                "macros": [{"macro": "{$C12.EXPORTER.URL}", "value": url}],
            })  # fmt: skip
            wanted = {f"c12-{u}" for u in UNITS} | {f"c12-{u}-http" for u in UNITS}

            def discovered() -> bool:
                zbx.reload_config()
                s.poke("c12-agent")
                s.poke("c12-exporter")
                return wanted <= set(s.hosts())

            wait_until(discovered, 90, "unit hosts discovered", step=3)

            def channels() -> bool:
                zbx.reload_config()
                missing = {}
                for host in sorted(wanted):
                    n = sum(k.startswith("c12.channel.current[") for k in s.items(host))
                    if n != 12:
                        missing[host] = f"{n} channels; discovery: {s.discovery_errors(host)}"
                        s.poke(host)
                if missing:
                    raise AssertionError(missing)  # wait_until reports the last one on timeout
                return True

            wait_until(channels, 90, "12 channels discovered on every unit host", step=3)
            yield s


def test_templates_are_uuid4_and_stable() -> None:
    import re

    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        text = path.read_text()
        uuids = re.findall(r"uuid: ([0-9a-f]+)", text)
        assert uuids and len(uuids) == len(set(uuids)), path
        for u in uuids:
            assert re.fullmatch(r"[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}", u), (path, u)
    assert generate.main(["--check"]) == 0, "zabbix/ is stale: run python -m zabbix.generate"


def test_every_prometheus_alert_has_a_trigger_at_its_severity() -> None:
    from alerts import generate as alerts

    rules = {r["alert"]: r for g in alerts.rule_groups()["groups"] for r in g["rules"]}
    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        export = yaml.safe_load(path.read_text())["zabbix_export"]
        found: dict[str, set[str]] = {}
        triggers = list(export["triggers"])
        for template in export["templates"]:
            for rule in template.get("discovery_rules", []):
                triggers += rule.get("trigger_prototypes", [])
        for trigger in triggers:
            tags = {t["tag"]: t.get("value", "") for t in trigger["tags"]}
            if tags.get("alert"):
                found.setdefault(tags["alert"], set()).add(trigger["priority"])
        assert set(found) == set(rules) - alerts.EXPORTER_HISTORY_ALERTS, path
        for alert, priorities in found.items():
            assert priorities == {generate.SEVERITIES[rules[alert]["labels"]["severity"]]}


def test_discovery_finds_every_unit_and_its_12_channels(setup: Setup) -> None:
    hosts = setup.hosts()
    for unit in UNITS:
        for host in (f"c12-{unit}", f"c12-{unit}-http"):
            assert host in hosts
            keys = setup.items(host)
            assert {f"c12.channel.current[{n}]" for n in range(1, 13)} <= set(keys)
            assert "c12.channel.aux_rating[12]" in keys and "c12.channel.aux_rating[1]" not in keys


def _metric(page: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in page.splitlines():
        if line.startswith(f"{name}{{{want}}} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name}{{{want}}} not on /metrics")


def test_item_values_equal_metrics(setup: Setup) -> None:
    page = http_get(f"{setup.exporter_url}/metrics")  # frozen physics: one value per series
    unbalanced: list[str] = []
    for unit in UNITS:
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
        }
        if f'c12_phase_unbalance_ratio{{pdu="{unit}"}}' in page:  # absent under 1 A mean
            expected["c12.phase.unbalance"] = _metric(page, "c12_phase_unbalance_ratio", pdu=unit)
            unbalanced.append(unit)
        for n in (1, 7, 12):
            expected[f"c12.channel.current[{n}]"] = _metric(
                page, "c12_channel_current_amperes", pdu=unit, channel=str(n)
            )
        # No overload: no forecast series and no SNMP instance; both templates read -1.
        assert f'c12_channel_trip_forecast_seconds{{channel="1",pdu="{unit}"}}' not in page
        expected["c12.channel.trip_forecast[1]"] = -1.0
        for host in (f"c12-{unit}", f"c12-{unit}-http"):

            def values_match(host: str = host, expected: dict[str, float] = expected) -> bool:
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
    assert unbalanced, "no unit with a phase unbalance to compare"


def _until(setup: Setup, host: str, alert: str, value: int, channel: str = "") -> None:
    def reached() -> bool:
        if setup.trigger_value(host, alert, channel) == value:
            return True
        setup.poke(host)
        return False

    wait_until(reached, 45, f"{host}: {alert} {channel} = {value}", step=2)


def test_faults_fire_and_resolve_their_triggers(setup: Setup) -> None:
    hosts = ("c12-sim-02", "c12-sim-02-http")
    setup.control.act("sim-02", "estop")
    for host in hosts:
        _until(setup, host, "C12EmergencyStopPressed", 1)
    setup.control.act("sim-02", "estop_release")
    setup.control.act("sim-02", "switch_on")
    for host in hosts:
        _until(setup, host, "C12EmergencyStopPressed", 0)

    setup.control.act("sim-02", "set_load", channel=5, current_a=17.0)
    for host in hosts:
        _until(setup, host, "C12ChannelOverRating", 1, channel="5")
    setup.control.act("sim-02", "set_load", channel=5, current_a=2.0)
    for host in hosts:
        _until(setup, host, "C12ChannelOverRating", 0, channel="5")

    # Twelve 12.5 A LED-wall channels: 85 A on the 63 A neutral, each phase about 50 A.
    for channel in range(1, 13):
        setup.control.act("sim-02", "set_load", channel=channel, current_a=12.5,
                          third_harmonic=0.69)  # fmt: skip
    for host in hosts:
        _until(setup, host, "C12InputOverRating", 1)
        problems = setup.problems(host)
        assert "N: Current above the input rating" in problems, problems
        assert not any(name.startswith("L1: Current above") for name in problems), problems
    for channel in range(1, 13):
        setup.control.act("sim-02", "set_load", channel=channel, current_a=1.0)
    for host in hosts:
        _until(setup, host, "C12InputOverRating", 0)

    # 2 x In on channel 6 fires the trip trigger; at 0.8 x In the forecast is gone but
    # the breaker's heat holds the problem (the recovery expression wants it under 0.2).
    setup.control.act("sim-02", "set_load", channel=6, current_a=32.0)
    for host in hosts:
        _until(setup, host, "C12ChannelTripForecast", 1, channel="6")

        def hot(host: str = host) -> bool:
            setup.poke(host)
            return float(setup.items(host)["c12.channel.heat[6]"]["lastvalue"] or 0) >= 0.35

        wait_until(hot, 60, f"{host}: channel 6 at 35 % heat", step=2)
    setup.control.act("sim-02", "set_load", channel=6, current_a=12.8)
    for host in hosts:

        def no_forecast(host: str = host) -> bool:
            setup.poke(host)
            return float(setup.items(host)["c12.channel.trip_forecast[6]"]["lastvalue"]) == -1

        wait_until(no_forecast, 45, f"{host}: no forecast at 0.8 x In", step=2)
        assert float(setup.items(host)["c12.channel.heat[6]"]["lastvalue"]) >= 0.2
        assert setup.trigger_value(host, "C12ChannelTripForecast", "6") == 1

    setup.control.act("sim-02", "set_supervision", channel=3, min_a=0.0, max_a=0.5)
    for host in hosts:
        _until(setup, host, "C12ChannelOutsideSupervisionBand", 1, channel="3")
    setup.control.act("sim-02", "set_supervision", channel=3, min_a=None, max_a=None)
    for host in hosts:
        _until(setup, host, "C12ChannelOutsideSupervisionBand", 0, channel="3")


def test_killed_unit_fires_unreachable_and_its_channel_triggers_stay_suppressed(
    setup: Setup,
) -> None:
    hosts = ("c12-sim-03", "c12-sim-03-http")
    # A channel in problem first: 17 A on channel 2.
    setup.control.act("sim-03", "set_load", channel=2, current_a=17.0)
    for host in hosts:
        _until(setup, host, "C12ChannelOverRating", 1, channel="2")
        assert any(a == "C12ChannelOverRating" for a in setup.problems(host).values())
    setup.control.act("sim-03", "network", mode="kill")
    try:
        for host in hosts:
            _until(setup, host, "C12UnitDown", 1)
            problems = setup.problems(host)
            assert "C12UnitDown" in problems.values(), problems
            # The channel trigger depends on the unit's: it is not shown as a problem.
            assert not any(a.startswith("C12Channel") for a in problems.values()), problems
    finally:
        setup.control.act("sim-03", "network", mode="normal")
        setup.control.act("sim-03", "set_load", channel=2, current_a=2.0)
    for host in hosts:
        _until(setup, host, "C12UnitDown", 0)


def test_generated_files_are_in_the_repository() -> None:
    for path in generate.outputs():
        assert Path(path).exists(), path


def test_every_macro_a_trigger_uses_is_defined() -> None:
    import re

    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        export = yaml.safe_load(path.read_text())["zabbix_export"]
        defined = {m["macro"] for t in export["templates"] for m in t.get("macros", [])}
        used = set(re.findall(r"\{\$[A-Z0-9.]+\}", path.read_text()))
        assert used <= defined, (path, sorted(used - defined))


ESTOP_DEADLINE = 5.0
"""Seconds from pressing the e-stop to its trap trigger: no poll, no "check now". (The
exporter polls every second; c12EstopPressed is followed at once by c12SwitchOff, whose
record makes the server's SNMP trapper process the e-stop's.)"""
TRAP_DEADLINE = 10.0
"""Seconds from any other fault to its trap trigger. The trapper holds the last record of
the file for two of its one-second idle passes before processing it, so a lone trap
(a release, an RCBO) takes 2 to 5 s here."""


def _trap_fires(setup: Setup, host: str, alert: str, value: int, name_end: str = "",
                channel: str = "", within: float = TRAP_DEADLINE) -> None:  # fmt: skip
    """Wait for the trap trigger to reach ``value``; fail past ``within`` seconds."""
    wait_until(lambda: setup.trap_trigger(host, alert, name_end, channel) == value,
               within, f"{host}: trap trigger {alert} {name_end} = {value}",
               step=0.2)  # fmt: skip


def test_traps_fire_their_triggers_within_5_s_on_the_right_unit(setup: Setup) -> None:
    """sim-01's faults, each seen through snmptrapd, c12exporter zabbix-trap and the server's
    SNMP trapper, on sim-01's host alone (every unit host shares the agent's address)."""
    host, other = "c12-sim-01", "c12-sim-03"
    assert setup.trap_trigger(host, "C12EmergencyStopPressed") == 0
    setup.control.act("sim-01", "estop")
    try:
        _trap_fires(setup, host, "C12EmergencyStopPressed", 1, within=ESTOP_DEADLINE)
        _trap_fires(setup, host, "C12SwitchDisconnectorOff", 1)
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
        setup.control.act("sim-01", "switch_on")
    _trap_fires(setup, host, "C12NeutralLost", 0)

    setup.control.act("sim-01", "rcbo_off", channel=4)
    try:
        _trap_fires(setup, host, "C12ChannelBreakerOpen", 1, "(SNMP trap)", channel="4")
        assert setup.trap_trigger(host, "C12ChannelBreakerOpen", "(SNMP trap)", "5") == 0
    finally:
        setup.control.act("sim-01", "rcbo_reset", channel=4)
    _trap_fires(setup, host, "C12ChannelBreakerOpen", 0, "(SNMP trap)", channel="4")

    # Twelve 12.5 A LED-wall channels: about 85 A on the neutral, over the 63 A input.
    n_over = "N: Current above the input rating (SNMP trap)"
    for channel in range(1, 13):
        setup.control.act("sim-01", "set_load", channel=channel, current_a=12.5,
                          third_harmonic=0.69)  # fmt: skip
    try:
        _trap_fires(setup, host, "C12InputOverRating", 1, n_over)
        assert setup.trap_trigger(host, "C12InputOverRating", "L1: " + n_over[3:]) == 0
    finally:
        for channel in range(1, 13):
            setup.control.act("sim-01", "set_load", channel=channel, current_a=1.0)
    _trap_fires(setup, host, "C12InputOverRating", 0, n_over)


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


OTHER_FAULTS = (
    (("supply", {"phase": "L1", "voltage_v": 190.0}), ("L1: Voltage out of range",)),
    (("supply", {"phase": "L2", "voltage_thd": 0.12}), ("L2: Voltage THD high",)),
    (("frequency", {"frequency_hz": 52.0}), ("Supply frequency out of range",)),
    (("fuse_blow", {"phase": "L3"}), ("L3: Meter reads no voltage (meter fuse?)",)),
    (("rcbo_off", {"channel": 2}), ("Channel 2 ...: RCBO open",)),
    (("set_load", {"channel": 5, "current_a": 14.0}), ("Channel 5 ...: Current near RCBO rating",)),
    (("ambient", {"celsius": 60.0, "soaked": True}), ("Temperature is above its limit",)),
)  # fmt: skip
"""Faults put on sim-01 at once (independent of each other), and the triggers each fires."""
REPAIRS = (
    ("supply", {"phase": "L1", "voltage_v": 230.0}),
    ("supply", {"phase": "L2", "voltage_thd": 0.02}),
    ("frequency", {"frequency_hz": 50.0}),
    ("fuse_replace", {"phase": "L3"}),
    ("rcbo_reset", {"channel": 2}),
    ("set_load", {"channel": 5, "current_a": 2.0}),
    ("ambient", {"celsius": 24.0, "soaked": True}),
)


def _all_named(setup: Setup, hosts: tuple[str, ...], names: list[str], value: int) -> None:
    def reached() -> bool:
        wrong = {(h, n) for h in hosts for n in names if setup.named(h, n) != value}
        if wrong:
            for host in hosts:
                setup.poke(host)
            raise AssertionError(f"not {value}: {sorted(wrong)}")
        return True

    wait_until(reached, 90, f"{names} = {value}", step=3)


def test_voltage_frequency_meter_breaker_rating_and_temperature_triggers(setup: Setup) -> None:
    """Seven faults at once on sim-01: each fault's triggers fire on both templates' unit
    hosts, and all resolve once the faults are repaired; then the voltage unbalance, the
    temperature ladder's other steps, the switch disconnector and the neutral one by one."""
    hosts = ("c12-sim-01", "c12-sim-01-http")
    names = [name for _, fired in OTHER_FAULTS for name in fired]
    try:
        for (action, params), _ in OTHER_FAULTS:
            setup.control.act("sim-01", action, **params)
        _all_named(setup, hosts, names, 1)
    finally:
        for action, params in REPAIRS:
            setup.control.act("sim-01", action, **params)
    _all_named(setup, hosts, names, 0)

    # The unbalance is judged only while the meter reads all three phases (no fuse blown).
    setup.control.act("sim-01", "supply", phase="L1", voltage_v=215.0)
    _all_named(setup, hosts, ["Phase voltages unbalanced"], 1)
    setup.control.act("sim-01", "supply", phase="L1", voltage_v=230.0)
    _all_named(setup, hosts, ["Phase voltages unbalanced"], 0)

    setup.control.act("sim-01", "ambient", celsius=42.0, soaked=True)
    _all_named(setup, hosts, ["Temperature is near its limit"], 1)
    setup.control.act("sim-01", "ambient", celsius=-20.0, soaked=True)
    _all_named(setup, hosts, ["Temperature is below its minimum"], 1)
    setup.control.act("sim-01", "ambient", celsius=24.0, soaked=True)
    _all_named(
        setup, hosts, ["Temperature is near its limit", "Temperature is below its minimum"], 0
    )

    switch_off = "Switch disconnector is OFF: all outputs are dead"
    setup.control.act("sim-01", "switch_off")
    _all_named(setup, hosts, [switch_off], 1)
    setup.control.act("sim-01", "switch_on")
    _all_named(setup, hosts, [switch_off], 0)
    setup.control.act("sim-01", "neutral_lose")
    try:
        _all_named(setup, hosts, ["Neutral lost: switch disconnector tripped"], 1)
    finally:
        setup.control.act("sim-01", "neutral_restore")
        setup.control.act("sim-01", "switch_on")
    _all_named(setup, hosts, ["Neutral lost: switch disconnector tripped", switch_off], 0)
