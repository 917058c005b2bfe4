"""The READMEs of the Zabbix templates, written from the templates' exports.

``render`` writes a template file's README; ``render_index`` writes ``zabbix/README.md``,
every trigger of both templates with its severity, its Prometheus alert and the test that
proves it (:mod:`zabbix.proofs`). The generator hands both the exports it built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zabbix.names import SEVERITIES, TEMPLATES
from zabbix.proofs import PROOFS

SETUP_SNMP = """\
1. Enable the exporter's SNMP agent (docs/snmp.md), for example:

   ```yaml
   snmp:
     listen_address: ":1161"
     community: public                 # SNMPv2c
     users:                            # SNMPv3, authPriv (docs/snmp.md: users[])
       - {name: zabbix, auth_protocol: SHA-256, auth_key: "...", priv_protocol: AES-128,
          priv_key: "..."}
   ```

2. Import `zabbix/template_c12_snmp.yaml` (Data collection > Templates > Import, or the API's
   `configuration.import`). It holds two templates: `StageSmarts C12B by SNMP` and
   `StageSmarts C12B unit by SNMP`.
3. Create a host for the exporter's SNMP agent with an SNMP interface (its address and
   port) and link `StageSmarts C12B by SNMP`.
   * SNMPv2c: SNMP version `SNMPv2`, community `{$SNMP_COMMUNITY}` or the community itself.
   * SNMPv3: SNMP version `SNMPv3`, security name the agent's user, security level
     `authPriv`, authentication protocol `SHA256` and privacy protocol `AES128` (Zabbix 6.0
     offers both), with the user's pass phrases. `tests/test_zabbix.py` reads a unit this
     way in a real Zabbix 6.0 (values equal to /metrics, every channel discovered).
4. The unit discovery makes one host per unit (group `C12 units`) linked to
   `StageSmarts C12B unit by SNMP`; the discovered hosts inherit the SNMP interface. Each
   unit host discovers its channels.
"""

SETUP_HTTP = """\
1. Import `zabbix/template_c12_http.yaml` (Data collection > Templates > Import, or the API's
   `configuration.import`). It holds two templates: `StageSmarts C12B by HTTP` and
   `StageSmarts C12B unit by HTTP`.
2. Create a host for the exporter (no interface is needed), link `StageSmarts C12B by HTTP`
   and set `{$C12.EXPORTER.URL}` (e.g. `https://c12.example.net:10120`, without `/metrics`).
   With basic auth (docs/configuration.md, `--web.config.file`), set `{$C12.EXPORTER.USER}`
   on the host and `{$C12.EXPORTER.PASSWORD}` as a secret global macro (the unit hosts read
   it too). For TLS with a private CA, add the CA to the Zabbix server's trust store.
3. The unit discovery makes one host per unit (group `C12 units`) linked to
   `StageSmarts C12B unit by HTTP`, with the exporter's URL and user; each unit host reads
   `/metrics` once per `{$C12.INTERVAL}` into a master item (history 0) and discovers its
   channels from `c12_channel_info`.
"""

SEVERITY_NAMES = {
    "DISASTER": "Disaster",
    "HIGH": "High",
    "AVERAGE": "Average",
    "WARNING": "Warning",
    "INFO": "Information",
    "NOT_CLASSIFIED": "Not classified",
}
"""Zabbix's names of the severities of its export format."""

SEVERITY_TEXT = (
    "A trigger has the severity of its Prometheus alert: "
    + "; ".join(
        f"`{label}` is **{SEVERITY_NAMES[zabbix]}**" for label, zabbix in SEVERITIES.items()
    )
    + " (zabbix/names.py). `critical` means act now (dead outputs, overloads, a unit or the "
    "exporter unseen); Zabbix's Disaster is left for a whole site down. The fleet host's "
    "no-data trigger stands for `C12ExporterDown` (High); each unit host's own no-data "
    "trigger is a Warning that every other trigger of the unit depends on."
)

DEPENDENCY_TEXT = """\
The Alertmanager inhibitions (alerts/alertmanager.yml) are trigger dependencies here:

* every trigger of a unit depends on *Unit is not answering its polls*, which depends on
  the unit's no-data trigger;
* every channel trigger depends on *Unit is not answering its polls*, *Emergency stop is
  pressed* and *Switch disconnector is OFF*;
* *Switch disconnector is OFF* depends on the e-stop and on *Neutral lost*; the voltage
  triggers depend on *Neutral lost*;
* the rating ladder of a channel (serious overload > over rating > near rating) and the
  temperature ladder (over > near) report only the worst step.

A unit is a host of its own because Zabbix 6.0 allows a trigger prototype to depend only on
ordinary triggers or on prototypes of its own discovery rule: the unit's triggers are
ordinary triggers on the unit host, so its channel trigger prototypes can depend on them."""

TRAPS_TEXT = """\
## Notifications (SNMP traps)

The exporter's SNMP agent sends C12-PDU-MIB notifications (docs/snmp.md). Zabbix reads
traps from a file that a receiver called by snmptrapd writes (`StartSNMPTrapper=1`,
`SNMPTrapperFile=`); Debian's zabbix-server-pgsql ships no receiver (neither
`zabbix_trap_receiver.pl` nor `zabbix_trap_handler.sh`), and the Perl one needs snmptrapd's
embedded Perl. `c12exporter zabbix-trap` is the receiver: snmptrapd runs it for every
notification (`traphandle`), and it appends the record in the layout of Zabbix's Perl
receiver (`<time> ZBXTRAP <address>`, PDU info, varbinds), under an exclusive lock, with
`--max-size BYTES` renaming a full file to `PATH.1` (the server follows the rename).

1. In `zabbix_server.conf` (or the proxy's), then restart the server:

   ```
   StartSNMPTrapper=1
   SNMPTrapperFile=/var/lib/zabbix/snmptraps.log
   ```

2. The MIB files for snmptrapd: `c12exporter mib --output /usr/local/share/c12/mibs`.
3. `/etc/snmp/snmptrapd.conf` (Debian's `snmptrapd`; the community is the one the
   exporter's receiver entry sends, and snmptrapd's user must be able to write the file):

   ```
   authCommunity log,execute traps
   traphandle default /usr/local/bin/c12exporter zabbix-trap --file /var/lib/zabbix/snmptraps.log
   ```

   (add `--max-size 100000000` to rotate the file at 100 MB)

   and run it with the MIB loaded, so the records name the notifications and varbinds
   (the items below match names, not OIDs), e.g. in `/etc/default/snmptrapd`:
   `SNMPTRAPDOPTS='-Lsd -M +/usr/local/share/c12/mibs -m +C12-PDU-MIB udp:162'`.
   For SNMPv3 traps add the exporter's user with its engine ID (docs/snmp.md).
4. Point the exporter at snmptrapd: `snmp.notifications.receivers: [{address:
   "zabbix.example.net:162", version: v2c, community: traps}]`.

The server hands a trap to every host whose SNMP interface has the trap's source address.
The unit hosts inherit the SNMP agent's interface, so each receives every trap of the
exporter; the regexp of each trap item keeps only its own unit's traps by the unit's index
(`c12UnitName.{$C12.UNIT.INDEX}`, `c12ChannelName.{$C12.UNIT.INDEX}.{#CHANNEL}`). Every
exporter numbers its units from 1, so give each exporter's agent an address of its own:
two behind one address would each take the other's traps for their own units'. A
notification and its opposite share an item, so each trap trigger fires on the trap that
starts the problem and resolves on the one that ends it, without waiting for a poll
(`find(...,"regexp",...)` on the last trap). Trap triggers carry the tag `source:
snmptrap`, the alert's severity and `alert` tag, and may be closed by hand (a lost trap);
the polled triggers carry every state whatever happens to traps.

How fast: the exporter notices a change at its next poll; snmptrapd runs the receiver once
per notification, one after the other (a new process, 0.2 to 0.5 s each on a busy
machine), so a burst, such as a switch-off whose twelve supervised channels all leave
their bands, holds the notifications behind it for seconds; the server's SNMP trapper
processes a record when the next one arrives or, for the last of the file, on its second
idle pass (1 to 2 s). `tests/test_zabbix.py` sends the notifications through Debian's
snmptrapd and this receiver into a real Zabbix 6.0: every trap trigger (e-stop, switch,
neutral, an RCBO, each phase and the neutral over the input rating) fires and resolves on
the right unit host only, within 5 s of the fault when another record follows its own
(the e-stop's), within 7 s when its record is the file's last (3 to 6 s measured on a
busy 2-core machine)."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(kind: str, export: Mapping[str, Any]) -> str:
    """The README of the template file of ``kind`` (its ``zabbix_export``)."""
    title, unit = TEMPLATES[kind]
    templates = {t["template"]: t for t in export["templates"]}
    lines = [
        f"# {title}",
        "",
        "<!-- Generated by zabbix/generate.py: edit that, then run python -m zabbix.generate -->",
        "",
        "## Overview",
        "",
        "For Zabbix 6.0 and later. StageSmarts C12B power distribution units, read through "
        "c12exporter "
        + (
            "over SNMP: its agent serves C12-PDU-MIB (c12exporter/snmp/mibs/C12-PDU-MIB.txt)."
            if kind == "snmp"
            else "over HTTP: its `/metrics` page (docs/metrics.md)."
        )
        + f" `{title}` goes on the exporter's host and discovers the units; each unit "
        f"becomes a host linked to `{unit}`, which discovers the unit's channels (macros "
        "`{#CHANNEL}`, `{#CHANNEL.NAME}`, `{#CHANNEL.PHASE}`, `{#CHANNEL.CONNECTOR}`; the "
        "unit's name is `{$C12.UNIT}`).",
        "",
        "Every Prometheus alert of alerts/c12-alerts.yml has a trigger here (except those "
        "zabbix/README.md lists, with the reason), with the alert's "
        "name in its `alert` tag, and every threshold is a macro whose default is the "
        "Prometheus rules' (alerts/generate.py's CONFIG, from c12exporter/limits.py).",
        "",
        "## Setup",
        "",
        SETUP_SNMP if kind == "snmp" else SETUP_HTTP,
        "## Severities",
        "",
        SEVERITY_TEXT,
        "",
        "## Dependencies",
        "",
        DEPENDENCY_TEXT,
        "",
    ]
    for name in (title, unit):
        t = templates[name]
        lines += [
            f"## Macros of {name}",
            "",
            "|Name|Description|Default|",
            "|----|-----------|-------|",
        ]
        lines += [
            f"|{m['macro']}|{_cell(m.get('description', ''))}|`{m.get('value', '')}`|"
            for m in t.get("macros", [])
        ]
        lines += [
            "",
            f"## Items of {name}",
            "",
            "|Name|Description|Type|Key|",
            "|----|-----------|----|---|",
        ]
        for item in t.get("items", []):
            lines.append(
                f"|{item['name']}|{_cell(item.get('description', ''))}|{item['type']}|"
                f"{item['key']}|"
            )
        for rule in t.get("discovery_rules", []):
            lines += ["", f"### Discovery: {rule['name']}", "", _cell(rule["description"]), ""]
            if rule.get("item_prototypes"):
                lines += ["|Item prototype|Description|Type|Key|", "|----|----|----|----|"]
                lines += [
                    f"|{p['name']}|{_cell(p.get('description', ''))}|{p['type']}|{p['key']}|"
                    for p in rule["item_prototypes"]
                ]
            if rule.get("trigger_prototypes"):
                lines += ["", "|Trigger prototype|Severity|Prometheus alert|Expression|",
                          "|----|----|----|----|"]  # fmt: skip
                lines += [_trigger_row(x) for x in rule["trigger_prototypes"]]
            for host in rule.get("host_prototypes", []):
                lines += [f"Host prototype `{host['host']}` ({host['name']}), linked to "
                          f"`{host['templates'][0]['name']}`."]  # fmt: skip
        prefix = f"/{name}/"
        own = [x for x in export["triggers"] if prefix in x["expression"]]
        if own:
            lines += ["", f"## Triggers of {name}", ""]
            lines += ["|Name|Severity|Prometheus alert|Expression|", "|----|----|----|----|"]
            lines += [_trigger_row(x) for x in own]
        lines.append("")
    if kind == "snmp":
        lines += [TRAPS_TEXT, ""]
    else:
        lines += ["## Notifications (SNMP traps)", "", "Traps arrive through the SNMP "
                  "template: see README_snmp.md.", ""]  # fmt: skip
    return "\n".join(lines)


def _trigger_row(trigger: dict[str, Any]) -> str:
    tags = {t["tag"]: t.get("value", "") for t in trigger.get("tags", [])}
    return (
        f"|{_cell(trigger['name'])}|{trigger['priority']}|{tags.get('alert', '')}|"
        f"`{_cell(trigger['expression'])}`|"
    )


INDEX_INTRO = """\
# Zabbix templates: every trigger, its severity, its alert and the test that proves it

<!-- Generated by zabbix/generate.py from the templates and zabbix/proofs.py: edit those,
then run python -m zabbix.generate -->

The templates and their READMEs are generated by `zabbix/generate.py`
([README_snmp.md](README_snmp.md), [README_http.md](README_http.md)). `tests/test_zabbix.py`
runs a real Zabbix 6.0.14 (PostgreSQL, `zabbix_server`, the frontend's API) on loopback with
both templates imported and two exporters, each with its SNMP agent, a fleet host of each
template and its simulated units: the main one (three frozen units) also sends its
notifications through Debian's snmptrapd and `c12exporter zabbix-trap`; the live one (one
unit in real time, its agent on 127.0.0.2) is stopped with SIGSTOP for the no-data
triggers, and its unit is powered off and on for the energy counter reset and given a
distorting supply for the THD triggers (a THD average since power-up moves only while
time passes). Every duration macro (`...FOR}`) is `#1` there,
so a trigger fires on the next value; the interval, the no-data period and the power-up
window are shortened through their macros too.

The rounds of `test_polled_triggers_fire_and_resolve_in_rounds` put many faults on
different units at once, wait until every trigger they should fire is a problem on the
unit hosts of both templates, repair them all and wait until every one has resolved. The
module's last test, `test_every_trigger_fired_and_resolved_where_the_table_says`, fails
unless every trigger of both templates was seen at 1 and then at 0 in the test named here.
"Both" means the SNMP and the HTTP template."""

INDEX_SEVERITY = """\
## Severities and alerts

{severity_text}

`test_every_prometheus_alert_has_a_trigger_at_its_severity` reads `alerts/c12-alerts.yml`
and both templates: every alert has its triggers in both (the alert's name in their
`alert` tag) at the severity above, except the alerts listed below, and no trigger names
an alert that does not exist.

{without}"""


def all_triggers(export: Mapping[str, Any]) -> list[dict[str, Any]]:
    triggers = list(export["triggers"])
    for template in export["templates"]:
        for rule in template.get("discovery_rules", []):
            triggers += rule.get("trigger_prototypes", [])
    return triggers


def render_index(
    exports: Mapping[str, Mapping[str, Any]], without_trigger: Mapping[str, str]
) -> str:
    """``zabbix/README.md``: every trigger of the templates of ``exports`` (kind ->
    ``zabbix_export``) and the test that proves it; ``without_trigger``: the alerts that
    have none, and why."""
    rows: dict[str, dict[str, Any]] = {}
    for kind, export in exports.items():
        for trigger in all_triggers(export):
            tags = {t["tag"]: t.get("value", "") for t in trigger.get("tags", [])}
            row = rows.setdefault(trigger["name"], {
                "severity": trigger["priority"], "alert": tags.get("alert", ""),
                "kinds": []})  # fmt: skip
            row["kinds"].append(kind)
    lines = [INDEX_INTRO, "", "| trigger | severity | Prometheus alert | templates | proven by |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, row in rows.items():
        kinds = "both" if len(row["kinds"]) == len(exports) else ", ".join(
            k.upper() for k in row["kinds"])  # fmt: skip
        proof = f"`{PROOFS[name]}`" if name in PROOFS else "**not proven**"
        lines.append(
            f"| {_cell(name)} | {SEVERITY_NAMES[row['severity']]} | {row['alert'] or '-'} "
            f"| {kinds} | {proof} |"
        )
    without = "\n".join(f"* `{alert}`: {why}" for alert, why in sorted(without_trigger.items()))
    lines += ["", INDEX_SEVERITY.format(severity_text=SEVERITY_TEXT, without=without), ""]
    return "\n".join(lines)
