"""The SNMP trap items and triggers of ``StageSmarts C12B unit by SNMP``.

Every C12-PDU-MIB notification lands in an ``snmptrap[regexp]`` item of the unit host it
is about. The receiver (``c12exporter zabbix-trap``, called by snmptrapd) writes each
trap under the address of the exporter's SNMP agent, which is the SNMP interface every
discovered unit host inherits: the Zabbix server hands the trap to all of them, and the
regexp of each item keeps only its own unit's traps by the unit's index in the varbinds
(``c12UnitName.<index>``, ``c12ChannelName.<index>.<channel>``), the host's
``{$C12.UNIT.INDEX}``.

A notification and its opposite share an item (``c12EstopPressed|c12EstopReleased``), so
a trigger fires on the trap that starts a problem and resolves on the one that ends it,
without waiting for a poll: its expression asks whether the item's last trap names the
problem. A trap that is lost leaves such a trigger as it was; the polled triggers carry
the state regardless, and these may be closed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

TRAP_TAG = "snmptrap"
UNIT_INDEX = "{$C12.UNIT.INDEX}"
CHANNEL = "{#CHANNEL}"
CONDUCTORS = {"L1": "l1", "L2": "l2", "L3": "l3", "N": "neutral"}
"""The input's conductors and their C12Conductor labels (c12NotifConductor)."""


@dataclass(frozen=True)
class TrapItem:
    """An ``snmptrap[]`` item for some notifications of one unit (or of one channel)."""

    slug: str
    name: str
    notifications: tuple[str, ...]
    description: str
    channel: bool = False
    conductor: str = ""

    @property
    def key(self) -> str:
        names = "|".join(self.notifications)
        where = (
            f"c12ChannelName\\.{UNIT_INDEX}\\.{CHANNEL}"
            if self.channel
            else (f"c12UnitName\\.{UNIT_INDEX}")
        )
        regexp = f"\\b({names})\\b[\\s\\S]*\\b{where}\\s"
        if self.conductor:
            regexp += f"[\\s\\S]*\\bc12NotifConductor\\.0\\s+{CONDUCTORS[self.conductor]}\\b"
        return f'snmptrap["{regexp}"]'


@dataclass(frozen=True)
class TrapTrigger:
    """Fires while the last trap of ``item`` matches ``problem`` (a regexp)."""

    alert: str
    name: str
    item: TrapItem
    problem: str
    description: str


def _pair(slug: str, name: str, on: str, off: str, what: str, channel: bool = False) -> TrapItem:
    return TrapItem(slug, name, (on, off), f"{on} and {off}: {what}", channel)


ESTOP = _pair(
    "estop",
    "E-stop traps",
    "c12EstopPressed",
    "c12EstopReleased",
    "the emergency stop was pressed or released.",
)
SWITCH = _pair(
    "switch",
    "Switch disconnector traps",
    "c12SwitchOff",
    "c12SwitchOn",
    "the switch disconnector changed.",
)
NEUTRAL = _pair(
    "neutral",
    "Neutral traps",
    "c12NeutralLost",
    "c12NeutralRestored",
    "the loss-of-neutral sensor changed.",
)
REACHABILITY = _pair(
    "reachability",
    "Reachability traps",
    "c12UnitUnreachable",
    "c12UnitReachable",
    "the exporter lost or regained the unit.",
)
TEMPERATURE = _pair(
    "temperature",
    "Temperature traps",
    "c12TemperatureHigh",
    "c12TemperatureNormal",
    "the temperature crossed the agent's limit.",
)
INPUT = {
    conductor: TrapItem(
        f"input.{conductor}",
        f"{conductor}: input load traps",
        ("c12InputLoadChanged",),
        f"c12InputLoadChanged for {conductor}: it crossed 80 % or 100 % of the input rating.",
        conductor=conductor,
    )
    for conductor in CONDUCTORS
}
BREAKER = _pair(
    "breaker",
    "Channel {#CHANNEL} [{#CHANNEL.NAME}]: RCBO traps",
    "c12BreakerOpened",
    "c12BreakerClosed",
    "the channel's RCBO opened or closed.",
    channel=True,
)
LOAD = TrapItem(
    "load",
    "Channel {#CHANNEL} [{#CHANNEL.NAME}]: load state traps",
    ("c12ChannelLoadStateChanged",),
    "c12ChannelLoadStateChanged: the channel's load LED changed to or from an overload.",
    channel=True,
)
BAND = _pair(
    "band",
    "Channel {#CHANNEL} [{#CHANNEL.NAME}]: supervision band traps",
    "c12ChannelOutsideBand",
    "c12ChannelInsideBand",
    "the channel left or re-entered its supervision band.",
    channel=True,
)

UNIT_ITEMS = (REACHABILITY, ESTOP, SWITCH, NEUTRAL, TEMPERATURE, *INPUT.values())
CHANNEL_ITEMS = (BREAKER, LOAD, BAND)

UNIT_TRIGGERS = (
    TrapTrigger(
        "C12EmergencyStopPressed",
        "Emergency stop pressed (SNMP trap)",
        ESTOP,
        "c12EstopPressed",
        "A c12EstopPressed trap arrived and no c12EstopReleased after it: all outputs are dead.",
    ),
    TrapTrigger(
        "C12NeutralLost",
        "Neutral lost (SNMP trap)",
        NEUTRAL,
        "c12NeutralLost",
        "A c12NeutralLost trap arrived and no c12NeutralRestored after it.",
    ),
    TrapTrigger(
        "C12SwitchDisconnectorOff",
        "Switch disconnector is OFF (SNMP trap)",
        SWITCH,
        "c12SwitchOff",
        "A c12SwitchOff trap arrived and no c12SwitchOn after it: all outputs are dead.",
    ),
    *(
        TrapTrigger(
            "C12InputOverRating",
            f"{c}: Current above the input rating (SNMP trap)",
            item,
            "c12NotifInputLoad[.]0 +over",
            f"The last c12InputLoadChanged for {c} says it is over the input rating.",
        )
        for c, item in INPUT.items()
    ),
)
CHANNEL_TRIGGERS = (
    TrapTrigger(
        "C12ChannelBreakerOpen",
        "Channel {#CHANNEL} [{#CHANNEL.NAME}]: RCBO open (SNMP trap)",
        BREAKER,
        "c12BreakerOpened",
        "A c12BreakerOpened trap arrived and no c12BreakerClosed after it: the output is dead.",
    ),
)
"""Triggers of the alerts a trap reports at once; each has the severity of its alert."""


def item_body(item: TrapItem, uid: str) -> dict[str, object]:
    """The item (or item prototype) in the export format."""
    tags = [{"tag": "component", "value": TRAP_TAG}]
    if item.channel:
        tags.append({"tag": "channel", "value": CHANNEL})
    return {
        "uuid": uid,
        "name": item.name,
        "type": "SNMP_TRAP",
        "key": item.key,
        "delay": "0",
        "history": "7d",
        "trends": "0",
        "value_type": "LOG",
        "description": item.description,
        "tags": tags,
    }


def expression(trigger: TrapTrigger, template: str) -> str:
    return f'find(/{template}/{trigger.item.key},,"regexp","{trigger.problem}")=1'
