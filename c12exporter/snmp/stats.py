"""What the agent counts about itself, on the exporter's :class:`Telemetry`.

* ``c12_snmp_requests_total{outcome}``: responses sent: ``answered`` (error-status
  noError), ``no_access`` (noAccess, authorizationError: no data), ``error`` (any other
  error-status: tooBig, genErr, a refused Set), ``discovery`` (the Report that answers
  an SNMPv3 engine discovery).
* ``c12_snmp_requests_dropped_total{reason}``: datagrams that got no data, by pysnmp's
  own counters (RFC 3412, 3414, 3418) and the agent's guard, read after each datagram.
* ``c12_snmp_notifications_sent_total{notification}``, ``..._failed_total{notification,
  reason}``.
* ``c12_snmp_writes_total{outcome}``: Set requests: ``written``, or the error-status
  that refused or failed them.
* ``c12_snmp_cells_dropped_total{column}``: computed cells outside their MIB SYNTAX.
* ``c12_snmp_values_truncated_total{column}``: texts longer than their column's SIZE,
  served cut to fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..catalogue import declared
from ..telemetry import Telemetry

DROP_COUNTERS: Sequence[tuple[str, str, str]] = (
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "undecodable"),
    ("__SNMPv2-MIB", "snmpInBadVersions", "bad_version"),
    ("__SNMPv2-MIB", "snmpInBadCommunityNames", "bad_community"),
    ("__SNMPv2-MIB", "snmpSilentDrops", "silent_drop"),
    ("__SNMP-MPD-MIB", "snmpUnknownSecurityModels", "invalid_message"),
    ("__SNMP-MPD-MIB", "snmpInvalidMsgs", "invalid_message"),
    ("__SNMP-MPD-MIB", "snmpUnknownPDUHandlers", "unsupported_pdu"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "unsupported_security_level"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "not_in_time_window"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown_user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "wrong_digest"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "decryption_error"),
)
"""pysnmp's counters of messages it drops or answers with a Report, and our reason."""
DISCOVERY_COUNTER = ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs")
"""An SNMPv3 manager's first message asks for the engine ID: a normal answer."""
UNDECODABLE = "undecodable"


class SnmpStats:
    """The agent's counters on ``telemetry`` (shared by every agent the process runs)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.requests = telemetry.counter_of(declared("snmp_requests"))
        self.dropped = telemetry.counter_of(declared("snmp_requests_dropped"))
        self.notifications_sent = telemetry.counter_of(declared("snmp_notifications_sent"))
        self.notifications_failed = telemetry.counter_of(declared("snmp_notifications_failed"))
        self.writes = telemetry.counter_of(declared("snmp_writes"))
        self.cells_dropped = telemetry.counter_of(declared("snmp_cells_dropped"))
        self.values_truncated = telemetry.counter_of(declared("snmp_values_truncated"))
        self._answered = self.requests.labels("answered")

    def answered(self) -> None:
        self._answered.inc()

    def drop(self, reason: str) -> None:
        self.dropped.labels(reason).inc()


class EngineCounters:
    """Reads pysnmp's drop counters after each datagram and counts what moved."""

    def __init__(self, engine: Any, stats: SnmpStats) -> None:
        builder = engine.get_mib_builder()
        self.stats = stats
        self._watched = [
            (builder.import_symbols(module, name)[0], reason)
            for module, name, reason in DROP_COUNTERS
        ]
        self._discovery = builder.import_symbols(*DISCOVERY_COUNTER)[0]
        self._last = self._values()

    def _values(self) -> list[int]:
        return [int(instance.syntax) for instance, _ in self._watched] + [
            int(self._discovery.syntax)
        ]

    def update(self) -> None:
        values = self._values()
        last = self._last
        if values == last:
            return
        for k, (_, reason) in enumerate(self._watched):
            if values[k] > last[k]:
                self.stats.dropped.labels(reason).inc(values[k] - last[k])
        if values[-1] > last[-1]:
            self.stats.requests.labels("discovery").inc(values[-1] - last[-1])
        self._last = values
