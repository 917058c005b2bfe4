"""Which test proves which trigger of the templates in a real Zabbix, as data.

Keys are trigger names as the templates spell them (a channel's trigger prototype with
``{#CHANNEL}``), values the test in ``tests/test_zabbix.py`` that sees the trigger fire
and then resolve, with the round of the test it happens in. ``zabbix/README.md`` is
written from this table, and that test module's last test fails unless every trigger of
both templates is here and was seen at 1 and then at 0 where the table says.
"""

from __future__ import annotations

from collections.abc import Mapping

ROUNDS = "test_polled_triggers_fire_and_resolve_in_rounds"
TRAPS = "test_traps_fire_their_triggers_in_seconds_on_the_right_unit"
LOADS = f"{ROUNDS}, round 1 (loads, a restart)"
SUPPLY = f"{ROUNDS}, round 2 (supply and channels)"
SAFETY = f"{ROUNDS}, round 3 (safety chain, meter)"
UNREACHABLE = f"{ROUNDS}, round 4 (neutral, unit unreachable)"
EXPORTER_STOPPED = f"{ROUNDS}, round 5 (exporter stopped)"

CHANNEL = "Channel {#CHANNEL} [{#CHANNEL.NAME}]: "

PROOFS: Mapping[str, str] = {
    "No data from the exporter for this unit": EXPORTER_STOPPED,
    "No data from the exporter SNMP agent": EXPORTER_STOPPED,
    "No data from the exporter": EXPORTER_STOPPED,
    "Unit is not answering its polls": UNREACHABLE,
    "Emergency stop is pressed: all outputs are dead": SAFETY,
    "Neutral lost: switch disconnector tripped": UNREACHABLE,
    "Switch disconnector is OFF: all outputs are dead": SAFETY,
    "Temperature is above its limit": SUPPLY,
    "Temperature is near its limit": SAFETY,
    "Temperature is below its minimum": SAFETY,
    "Powered up recently: energy counter restarted": LOADS,
    **{f"{p}: Voltage out of range": SUPPLY for p in ("L1", "L2", "L3")},
    **{f"{p}: Voltage THD high": LOADS for p in ("L1", "L2", "L3")},
    **{f"{p}: Meter reads no voltage (meter fuse?)": SAFETY for p in ("L1", "L2", "L3")},
    **{f"{p}: Current above the input rating": LOADS for p in ("L1", "L2", "L3")},
    "N: Current above the input rating": SUPPLY,
    **{f"{c}: Current near the input rating": LOADS for c in ("L1", "L2", "L3", "N")},
    "Phase voltages unbalanced": SUPPLY,
    "Supply frequency out of range": SUPPLY,
    "Neutral carries more current than any phase": SUPPLY,
    "Phase currents imbalanced": LOADS,
    CHANNEL + "Serious overload, RCBO about to trip": LOADS,
    CHANNEL + "RCBO expected to trip soon": LOADS,
    CHANNEL + "Current above RCBO rating": SUPPLY,
    CHANNEL + "Current near RCBO rating": SUPPLY,
    CHANNEL + "RCBO open": SUPPLY,
    CHANNEL + "Current outside supervision band": SUPPLY,
    CHANNEL + "Aux socket may be overloaded": LOADS,
    "Emergency stop pressed (SNMP trap)": TRAPS,
    "Neutral lost (SNMP trap)": TRAPS,
    "Switch disconnector is OFF (SNMP trap)": TRAPS,
    **{f"{c}: Current above the input rating (SNMP trap)": TRAPS for c in ("L1", "L2", "L3", "N")},
    CHANNEL + "RCBO open (SNMP trap)": TRAPS,
}
"""Trigger name -> the test (and round) that sees it fire and resolve on both templates'
hosts (the trap triggers: on the SNMP template's)."""
