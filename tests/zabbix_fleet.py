"""The Zabbix templates in a real Zabbix 6.0, fed by simulated units: the stack the Zabbix
tests share, and the record of which trigger each test saw fire and resolve.

:func:`zabbix_fleet` starts one Zabbix stack (tests/zabbix_server.py) with both templates
imported and two exporters, each with its SNMP agent, a fleet host of each template and
its own simulator:

* the main one reads ``UNITS`` of a frozen simulator (``--speed 0``: values hold still
  so items can be compared with /metrics) and sends notifications to Debian's snmptrapd,
  which hands each to ``c12exporter zabbix-trap``, which writes the server's trap file;
* the live one reads ``LIVE_UNIT`` of a simulator running in real time, whose uptime
  grows (the energy counter reset resolves only as time passes) and whose exporter a test
  may stop and continue (SIGSTOP/SIGCONT: the exporter down and no-data triggers).

Every wait on a trigger goes through :class:`Setup`, which notes the test that saw the
trigger at 1 and then at 0 (:attr:`Setup.proofs`), so the module's last test can hold
the templates' every trigger against what was proven.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from c12exporter.snmp.mibfiles import write_mibs
from tests.servers import (
    LOOPBACK,
    SimulatorControl,
    c12exporter_command,
    free_port,
    http_get,
    install_example_plugin,
    process,
    require_tool,
    simulator,
    wait_until,
)
from tests.zabbix_server import ZabbixStack, zabbix_stack
from zabbix import generate

UNITS = ("sim-01", "sim-02", "sim-03")
LIVE_UNIT = "live-01"
LIVE_MODEL = "C24B-12"
"""The live unit is a 24-channel C24B of the outside example plugin (``examples/c24b``),
aux socket on channel 24: the templates must discover any model's channels."""
CHANNELS = {LIVE_UNIT: 24}
"""Channels per unit host where not 12."""
LIVE_AGENT_IP = "127.0.0.2"
"""The live exporter's SNMP agent listens here: the server hands a trap to every host whose
SNMP interface has the trap's source address, and the live unit has the same index as the
main exporter's first unit, so on one address it would take sim-01's traps for its own."""
MAIN_WARMUP_S = 3600
"""The frozen units have been on this long: above ``{$C12.POWERUP.RECENT}``."""
LIVE_WARMUP_S = 7200
"""The live unit's uptime before a power loss: its power-up time then jumps by more than
``{$C12.POWERUP.JITTER}``."""

FAST = {
    "{$C12.INTERVAL}": "2s",
    "{$C12.NODATA.TIMEOUT}": "30s",
    "{$C12.EXPORTER.TIMEOUT}": "1s",
    "{$C12.POWERUP.RECENT}": "20",
    "{$C12.POWERUP.WINDOW}": "20s",
    "{$C12.POWERUP.JITTER}": "3600",
}
"""Template macros the tests change (every ``...FOR}`` macro becomes ``#1`` too, so a
trigger fires on the next value). The no-data period is Zabbix's shortest useful one
(nodata() is evaluated every 30 s at best). While the live exporter is stopped its two
HTTP items wait out their timeout on every interval: a short one (and the stack's spare
HTTP pollers) keeps the other hosts' reads on time. The power-up time of a frozen unit moves on
with the clock (its uptime stands still), so a move counts as a restart only beyond an
hour here, while the live unit's restart moves it by two."""

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

_CHANNEL_NAME = re.compile(r"^Channel \d+ \[[^\]]*\]: ")
CHANNEL_PROTOTYPE = "Channel {#CHANNEL} [{#CHANNEL.NAME}]: "


def template_trigger(description: str) -> str:
    """A host trigger's name as its template (or trigger prototype) spells it."""
    return _CHANNEL_NAME.sub(CHANNEL_PROTOTYPE, description)


def kind_of(host: str) -> str:
    """Which template a host's triggers come from: ``snmp`` or ``http``."""
    return "http" if host.endswith("-http") or host.startswith("c12-exporter") else "snmp"


@dataclass
class Proof:
    fired: str = ""  # the test that saw the trigger at 1
    resolved: str = ""  # the test that then saw it at 0


@dataclass
class Setup:
    zbx: ZabbixStack
    control: SimulatorControl
    live: SimulatorControl
    live_exporter: Any  # the live exporter's process (subprocess.Popen)
    live_sim_name: str  # the live unit's name in its simulator
    exporter_url: str
    snmp_port: int
    proofs: dict[tuple[str, str], Proof] = field(default_factory=dict)
    test: str = ""  # the running test, for the proofs
    _hostids: dict[str, str] = field(default_factory=dict)

    def api(self, method: str, params: Any) -> Any:
        return self.zbx.api.call(method, params)

    def hosts(self) -> dict[str, str]:
        return {h["host"]: h["hostid"] for h in self.api("host.get", {"output": ["host"]})}

    def hostid(self, host: str) -> str:
        """The host's id (kept: a host keeps its id, and a trap test polls every 0.2 s)."""
        if host not in self._hostids:
            self._hostids = self.hosts()
        return self._hostids[host]

    def items(self, host: str) -> dict[str, dict[str, Any]]:
        hostid = self.hostid(host)
        items = self.api("item.get", {"output": ["key_", "lastvalue", "lastclock", "error",
                                                 "itemid"], "hostids": [hostid]})  # fmt: skip
        return {i["key_"]: i for i in items}

    def poke(self, host: str, keys: tuple[str, ...] = ()) -> None:
        """Check now: the host's master item or SNMP items and its discovery."""
        hostid = self.hostid(host)
        ids = [r["itemid"] for r in self.api("discoveryrule.get", {
            "output": ["itemid", "type"], "hostids": [hostid]}) if r["type"] != "18"]  # fmt: skip
        items = self.api("item.get", {"output": ["itemid", "key_", "type"], "hostids": [hostid]})
        ids += [i["itemid"] for i in items if i["type"] in ("19", "20") and
                (not keys or i["key_"] in keys or i["type"] == "19")]  # fmt: skip
        self.zbx.check_now(ids)

    def discovery_errors(self, host: str) -> dict[str, str]:
        """Discovery rule key -> its error (empty when it works), on ``host``."""
        rules = self.api("discoveryrule.get", {
            "output": ["key_", "error", "state"], "hostids": [self.hostid(host)]})  # fmt: skip
        return {r["key_"]: r["error"] for r in rules}

    def triggers(self, host: str, **params: Any) -> list[dict[str, Any]]:
        """The host's triggers (description expanded, tags), as trigger.get gives them."""
        return list(self.api("trigger.get", {
            "output": ["description", "value", "priority"], "hostids": [self.hostid(host)],
            "selectTags": "extend", "expandDescription": True, **params}))  # fmt: skip

    def problems(self, host: str) -> dict[str, str]:
        """Trigger name -> alert tag, for triggers in PROBLEM state (dependencies applied:
        a trigger whose dependency is in problem is not listed)."""
        found = self.triggers(host, skipDependent=True, filter={"value": 1})
        return {t["description"]: _tag(t, "alert") for t in found}

    def note(self, host: str, description: str, value: int) -> int:
        """Note what a test saw of a trigger (for the proofs) and pass the value on."""
        proof = self.proofs.setdefault((kind_of(host), template_trigger(description)), Proof())
        if value == 1 and not proof.fired:
            proof.fired = self.test
        elif value == 0 and proof.fired and not proof.resolved:
            proof.resolved = self.test
        return value

    def named(self, host: str, name: str, triggers: list[dict[str, Any]] | None = None) -> int:
        """The value of the trigger called ``name`` on ``host`` (a channel's: its name up
        to `` [``, then from ``]: ``, e.g. ``Channel 2 ...: RCBO open``), from ``triggers``
        (the host's, when one call serves many names) or asked now."""
        triggers = self.triggers(host) if triggers is None else triggers
        start, _, end = name.partition(" ...")
        found = [t for t in triggers if t["description"] == name or (
            end and t["description"].startswith(start + " [") and
            t["description"].endswith(end))]  # fmt: skip
        assert len(found) == 1, (host, name, sorted(t["description"] for t in triggers))
        return self.note(host, found[0]["description"], int(found[0]["value"]))

    def trap_trigger(self, host: str, alert: str, name_end: str = "", channel: str = "") -> int:
        """The value of the trap trigger of ``alert`` on ``host`` (whose name ends with
        ``name_end``; of ``channel``)."""
        found = [t for t in self.triggers(host, tags=[
                    {"tag": "alert", "value": alert, "operator": 1},
                    {"tag": "source", "value": "snmptrap", "operator": 1}])
                 if t["description"].endswith(name_end) and
                 t["description"].startswith(f"Channel {channel} " if channel else "")]  # fmt: skip
        assert len(found) == 1, (host, alert, name_end, found)
        return self.note(host, found[0]["description"], int(found[0]["value"]))

    def wait(self, expected: Sequence[tuple[str, str]], value: int, timeout: float = 90) -> None:
        """Wait until every (host, trigger name) of ``expected`` is at ``value``, checking
        now on the hosts still short of it."""

        def reached() -> bool:
            triggers = {h: self.triggers(h) for h in {h for h, _ in expected}}
            wrong = [(h, n) for h, n in expected if self.named(h, n, triggers[h]) != value]
            for host in sorted({h for h, _ in wrong}):
                self.poke(host)
            assert not wrong, f"not {value}: {wrong}"
            return True

        wait_until(reached, timeout, f"{len(expected)} triggers = {value}", step=2)

    def set_loads(self, unit: str, amperes: dict[int, float], **params: Any) -> None:
        for channel, current in amperes.items():
            self.control.act(unit, "set_load", channel=channel, current_a=current, **params)

    def live_act(self, action: str, **params: Any) -> None:
        self.live.act(self.live_sim_name, action, **params)

    def freeze_live_exporter(self, frozen: bool) -> None:
        os.killpg(self.live_exporter.pid, signal.SIGSTOP if frozen else signal.SIGCONT)


def _tag(trigger: dict[str, Any], name: str) -> str:
    return next((t["value"] for t in trigger["tags"] if t["tag"] == name), "")


BASE_LOAD_A = 2.0
"""Every channel's load between faults: 8 A a phase, balanced, no neutral current."""


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


@contextmanager
def exporter_process(
    tmp: Path, name: str, config: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, Any]]:
    """``c12exporter serve`` on a free port; yields its base URL and its process (which
    tests/servers.py's ``exporter`` keeps to itself), so that a test can stop it."""
    config_file = tmp / f"{name}.yml"
    config_file.write_text(config, encoding="utf-8")
    port = free_port()
    command = c12exporter_command(
        "serve", "--config.file", str(config_file), f"--web.listen-address={LOOPBACK}:{port}"
    )
    with process(command, tmp / f"{name}.log", env=env) as proc:
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: http_get(f"{url}/-/healthy"), 30, f"{name} ready")
        try:
            yield url, proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGCONT)  # a stopped process cannot take SIGTERM


def _exporter_config(units: list[dict[str, Any]], agent: str, receivers: list[Any]) -> str:
    snmp: dict[str, Any] = {"listen_address": agent, "community": "public", "users": [V3_USER]}
    if receivers:
        snmp["notifications"] = {"receivers": receivers}
    return yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"}, "snmp": snmp,
                           "units": units})  # fmt: skip


def _fleet_hosts(
    s: Setup, templates: dict[str, str], suffix: str, url: str, ip: str, port: int
) -> None:
    """The SNMP agent's host and the exporter's host, each with its fleet template."""
    group = s.api("hostgroup.get", {"filter": {"name": [generate.UNIT_GROUP]}})[0]
    s.api("host.create", {
        "host": f"c12-agent{suffix}", "groups": [{"groupid": group["groupid"]}],
        "templates": [{"templateid": templates[generate.SNMP]}],
        "interfaces": [{"type": 2, "main": 1, "useip": 1, "ip": ip, "dns": "",
                        "port": str(port), "details": {"version": 2, "community": "public"}}],
    })  # fmt: skip
    s.api("host.create", {
        "host": f"c12-exporter{suffix}", "groups": [{"groupid": group["groupid"]}],
        "templates": [{"templateid": templates[generate.HTTP]}],
        "macros": [{"macro": "{$C12.EXPORTER.URL}", "value": url}],
    })  # fmt: skip


def _import_templates(s: Setup) -> dict[str, str]:
    for path in (generate.SNMP_FILE, generate.HTTP_FILE):
        assert s.api("configuration.import", {"format": "yaml", "source": path.read_text(),
                                              "rules": IMPORT_RULES})  # fmt: skip
    s.zbx.analyze()
    templates = {t["host"]: t["templateid"] for t in s.api("template.get", {
        "output": ["host"], "search": {"host": "StageSmarts"}})}  # fmt: skip
    for name in (generate.SNMP_UNIT, generate.HTTP_UNIT, generate.SNMP, generate.HTTP):
        macros = s.api("usermacro.get", {"hostids": [templates[name]],
                                         "output": ["macro", "hostmacroid"]})  # fmt: skip
        for macro in macros:
            value = FAST.get(macro["macro"], "#1" if macro["macro"].endswith(".FOR}") else None)
            if value is not None:
                s.api("usermacro.update", {"hostmacroid": macro["hostmacroid"], "value": value})
    return templates


def _discover(s: Setup, fleet_hosts: set[str], wanted: set[str]) -> None:
    def discovered() -> bool:
        s.zbx.reload_config()
        for host in fleet_hosts:
            s.poke(host)
        return wanted <= set(s.hosts())

    wait_until(discovered, 90, "unit hosts discovered", step=3)

    def channels() -> bool:
        s.zbx.reload_config()
        missing = {}
        for host in sorted(wanted):
            n = sum(k.startswith("c12.channel.current[") for k in s.items(host))
            unit = host.removeprefix("c12-").removesuffix("-http")
            if n != CHANNELS.get(unit, 12):
                missing[host] = f"{n} channels; discovery: {s.discovery_errors(host)}"
                s.poke(host)
        if missing:
            raise AssertionError(missing)  # wait_until reports the last one on timeout
        return True

    wait_until(channels, 90, "every channel discovered on every unit host", step=3)


@contextmanager
def zabbix_fleet(tmp: Path) -> Iterator[Setup]:
    """Zabbix with both templates, the main and the live exporter, their fleet hosts, and
    every unit host discovered with all its channels, every channel at ``BASE_LOAD_A``.
    The live exporter and its simulator have the C24B example plugin installed."""
    with ExitStack() as stack:
        zbx = stack.enter_context(zabbix_stack(tmp))
        trap_port = stack.enter_context(snmptrapd(tmp, zbx.trap_file))
        main_tmp, live_tmp = tmp / "main", tmp / "live"
        main_tmp.mkdir()
        live_tmp.mkdir()
        control, units_file = stack.enter_context(simulator(
            main_tmp, len(UNITS), "--speed", "0", "--warmup", str(MAIN_WARMUP_S)))  # fmt: skip
        plugin_env = install_example_plugin(live_tmp)
        live, live_units_file = stack.enter_context(simulator(
            live_tmp, 1, "--warmup", str(LIVE_WARMUP_S), "--models", LIVE_MODEL,
            env=plugin_env))  # fmt: skip
        units = yaml.safe_load(units_file.read_text())["units"]
        live_units = yaml.safe_load(live_units_file.read_text())["units"]
        live_units[0]["name"] = LIVE_UNIT
        snmp_port, live_snmp_port = free_port(), free_port()
        receiver = {"address": f"{LOOPBACK}:{trap_port}", "version": "v2c", "community": "traps"}
        url, _ = stack.enter_context(exporter_process(main_tmp, "exporter", _exporter_config(
            units, f"{LOOPBACK}:{snmp_port}", [receiver])))  # fmt: skip
        live_url, live_proc = stack.enter_context(exporter_process(live_tmp, "exporter",
            _exporter_config(live_units, f"{LIVE_AGENT_IP}:{live_snmp_port}", []),
            env=plugin_env))  # fmt: skip
        s = Setup(zbx, control, live, live_proc, live.units()[0]["name"], url, snmp_port)
        for unit in UNITS:
            s.set_loads(unit, dict.fromkeys(range(1, 13), BASE_LOAD_A))
            # The scenario's supervision bands would turn every switch-off into a burst of
            # twelve notifications, which snmptrapd hands to the receiver one at a time:
            # the trap test times one notification, not the queue behind a burst.
            for channel in range(1, 13):
                control.act(unit, "set_supervision", channel=channel, min_a=None, max_a=None)
        for channel in range(1, CHANNELS[LIVE_UNIT] + 1):
            s.live_act("set_load", channel=channel, current_a=BASE_LOAD_A)
        templates = _import_templates(s)
        _fleet_hosts(s, templates, "", url, LOOPBACK, snmp_port)
        _fleet_hosts(s, templates, "-live", live_url, LIVE_AGENT_IP, live_snmp_port)
        wanted = {f"c12-{u}{k}" for u in (*UNITS, LIVE_UNIT) for k in ("", "-http")}
        fleet = {"c12-agent", "c12-exporter", "c12-agent-live", "c12-exporter-live"}
        _discover(s, fleet, wanted)
        yield s


def unit_hosts(unit: str) -> tuple[str, str]:
    """The unit's host of the SNMP template and of the HTTP template."""
    return f"c12-{unit}", f"c12-{unit}-http"


def on_both(units: Sequence[str], names: Sequence[str]) -> list[tuple[str, str]]:
    """(host, trigger name) for every trigger name on both hosts of every unit."""
    return [(h, n) for u in units for h in unit_hosts(u) for n in names]


def elapsed(since: float) -> float:
    return time.monotonic() - since
