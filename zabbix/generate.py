"""Generate the Zabbix 6.0 templates for C12 units (``zabbix/*.yaml``).

Two templates, each with a unit template its discovered hosts link:

* ``StageSmarts C12B by SNMP`` (on a host with the exporter's SNMP agent as SNMP
  interface) discovers units from C12-PDU-MIB's ``c12UnitTable`` and creates one host per
  unit linked to ``StageSmarts C12B unit by SNMP``, which reads that unit's columns
  (by its ``c12UnitIndex``) and discovers its channels, however many its model has.
* ``StageSmarts C12B by HTTP`` (on a host for the exporter) reads ``/metrics`` and does
  the same from ``c12_up`` and ``c12_channel_info``, with ``StageSmarts C12B unit by
  HTTP``: one HTTP agent master item (history 0) per unit host and dependent items
  with "Prometheus pattern" preprocessing.

A unit is a host of its own so that its unit triggers (unreachable, e-stop, switch) are
ordinary triggers that its channel trigger prototypes can depend on: Zabbix allows no
dependency on a trigger prototype of another discovery rule.

Every threshold is a user macro whose default comes from :data:`alerts.generate.CONFIG`
(and so from :mod:`c12exporter.limits`), and every Prometheus alert of
``alerts/c12-alerts.yml`` has its trigger, at the severity :data:`zabbix.names.SEVERITIES`
maps its label to, with the alert's name in the ``alert`` tag, except those
:data:`ALERTS_WITHOUT_TRIGGER` names with the reason (the generator refuses to write
templates that miss one). The items come from the declarations: a measurement's and a
derived series' :class:`c12exporter.measurements.ZabbixHints` (on the measurement, and
:attr:`c12exporter.catalogue.Derived.zabbix`); every derived series SNMP carries is read
by both templates unless :data:`SERIES_WITHOUT_ITEM` says why not (checked the same
way). It also writes each template file's README and
``zabbix/README.md`` (:mod:`zabbix.readme`). Run::

    python -m zabbix.generate            # from the repository root: rewrite the files
    python -m zabbix.generate --check    # exit 1 if a committed file is stale

UUIDs are UUIDv4-shaped (version and variant bits forced) digests of the object's
template and name, so they stay the same from one generation to the next.
"""

from __future__ import annotations

import argparse
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alerts import generate as alerts
from c12exporter import catalogue as cat
from c12exporter import measurements as m
from zabbix import readme, traps
from zabbix.names import (
    HERE,
    HTTP,
    HTTP_FILE,
    HTTP_UNIT,
    INDEX_FILE,
    SEVERITIES,
    SNMP,
    SNMP_FILE,
    SNMP_UNIT,
    TEMPLATE_GROUP,
    TEMPLATE_GROUP_UUID,
    UNIT_GROUP,
)

MIB = HERE.parent / "c12exporter" / "snmp" / "mibs" / "C12-PDU-MIB.txt"

ALERTS_WITHOUT_TRIGGER: Mapping[str, str] = {
    "C12RcboTestOverdue": "it reads the exporter's history of RCBO tests "
    f"({cat.CHANNEL_RCBO_LAST_TEST}, only with `history:` configured), which "
    "neither template reads; C12-PDU-MIB has c12ChannelRcboLastTest but not the test period.",
}
"""The Prometheus alerts no trigger stands for, and why; every other alert has its
triggers in both templates (the generator refuses to write templates otherwise)."""

SERIES_WITHOUT_ITEM: Mapping[str, str] = {
    "channel_rcbo_last_test": "the RCBO test record is the exporter's history, read in its "
    "console and reports; the overdue rule has no trigger either (ALERTS_WITHOUT_TRIGGER).",
}
"""The derived series of a unit that SNMP carries (a column of C12-PDU-MIB) but neither
template reads, and why; every other one is read by both templates (the generator
refuses to write templates otherwise, so a series added to the catalogue and the MIB is
not forgotten here)."""

SNMP_READS_INSTEAD: Mapping[str, str] = {"power_up_time": "c12InputUptime"}
"""Series the SNMP template computes from another column than the one that carries it:
the power-up time is the time c12InputUptime arrives less its value (c12InputEnergyResetTime
is a DateAndTime, which Zabbix does not read as a time)."""

_NAMESPACE = uuid.UUID("0b6b3c1e-6f7a-4c35-9d2e-c12c12c12c12")


def stable_uuid(*names: str) -> str:
    """A UUIDv4-shaped, 32-hex-digit id derived from ``names`` (stable across runs)."""
    raw = bytearray(uuid.uuid5(_NAMESPACE, "\x1f".join(names)).bytes)
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return bytes(raw).hex()


# ---------------------------------------------------------------------------- the MIB


class MibError(ValueError):
    pass


class TemplateError(ValueError):
    """The templates would not stand for the Prometheus alerts as they must."""


@dataclass(frozen=True)
class Mib:
    oids: Mapping[str, str]
    enums: Mapping[str, Mapping[int, str]]

    def oid(self, name: str) -> str:
        try:
            return self.oids[name]
        except KeyError:
            raise MibError(f"{MIB}: no object {name!r}") from None


_DEF = re.compile(
    r"^(\w+)\s+(?:OBJECT-TYPE|OBJECT IDENTIFIER|MODULE-IDENTITY|NOTIFICATION-TYPE)\b"
    r"(?:(?!^\w+\s+(?:OBJECT-TYPE|MODULE-IDENTITY|NOTIFICATION-TYPE)\b).)*?"
    r"::=\s*\{\s*(\w+)\s+(\d+)\s*\}",
    re.DOTALL | re.MULTILINE,
)
_TC = re.compile(
    r"^(\w+)\s+::=\s+TEXTUAL-CONVENTION\b.*?SYNTAX\s+(\w+)(?:\s*\{([^}]*)\})?",
    re.DOTALL | re.MULTILINE,
)
_KNOWN_ROOTS = {"netSnmpPlaypen": "1.3.6.1.4.1.8072.9999.9999"}
TRUTH_VALUE = {1: "true", 2: "false"}  # SNMPv2-TC


def load_mib(path: Path = MIB) -> Mib:
    """OIDs by object name and the enumerations of the textual conventions."""
    text = re.sub(r"--[^\n]*", "", path.read_text(encoding="utf-8"))
    parents = {name: (parent, arc) for name, parent, arc in _DEF.findall(text)}
    oids: dict[str, str] = {}

    def resolve(name: str, seen: tuple[str, ...] = ()) -> str:
        if name in _KNOWN_ROOTS:
            return _KNOWN_ROOTS[name]
        if name in oids:
            return oids[name]
        if name not in parents or name in seen:
            raise MibError(f"{path}: cannot resolve the OID of {name!r}")
        parent, arc = parents[name]
        oids[name] = f"{resolve(parent, (*seen, name))}.{arc}"
        return oids[name]

    for name in parents:
        resolve(name)
    enums: dict[str, dict[int, str]] = {"TruthValue": dict(TRUTH_VALUE)}
    for name, syntax, body in _TC.findall(text):
        if syntax == "INTEGER" and body:
            enums[name] = {
                int(number): label
                for label, number in re.findall(r"([A-Za-z][\w-]*)\s*\(\s*(\d+)\s*\)", body)
            }
    return Mib(oids, enums)


# ------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Snmp:
    """How the SNMP template reads an item: a column, its instance and scale."""

    column: str
    instance: str = ""  # appended after the unit index: ".1" (L1), ".{#CHANNEL}"
    multiplier: float | None = None
    valuemap: str = ""  # a MIB textual convention
    script: str = ""  # JavaScript instead of a multiplier
    on_missing: str | None = None  # value when the instance is absent (noSuchInstance)


@dataclass(frozen=True)
class Http:
    """How the HTTP template reads an item from ``/metrics``."""

    metric: str
    labels: Mapping[str, str] = field(default_factory=dict)
    label: str = ""  # take this label's value instead of the sample value
    multiplier: float | None = None
    on_fail: str | None = None  # value when the series is absent
    valuemap: str = ""


@dataclass(frozen=True)
class Item:
    key: str
    name: str
    description: str
    component: str
    snmp: Snmp | None
    http: Http | None
    units: str = ""
    value_type: str = "FLOAT"
    calculated: str = ""  # formula: a calculated item on both templates
    history: str = "7d"


def _enum_of(measurement: str) -> tuple[str, ...]:
    return next(x.states for x in m.MEASUREMENTS if x.name == measurement)


def _metric_states(measurement: str) -> dict[str, int]:
    """A state measurement's value on /metrics per state (docs/metrics.md)."""
    decl = next(x for x in m.MEASUREMENTS if x.name == measurement)
    states = decl.metric.states if decl.metric and decl.metric.states else None
    if states:
        return {s: int(v) for s, v in states.items()}
    return {s: i for i, s in enumerate(decl.states)}


def http_valuemap(decl: m.Measurement) -> str:
    """The HTTP template's value map of a state measurement's metric."""
    words = decl.metric_name.removeprefix("c12_").removeprefix("channel_").replace("_", " ")
    return f"C12 {words}"


HTTP_VALUEMAPS: Mapping[str, Mapping[int, str]] = {
    "C12 up": {0: "down", 1: "up"},
    **{
        http_valuemap(decl): {int(v): state for state, v in decl.state_values.items()}
        for decl in m.MEASUREMENTS
        if decl.states and decl.zabbix is not None
    },
    "C12 supervision position": {-1: "below", 0: "inside", 1: "above", 2: "disabled"},
    "C12 flag": {0: "no", 1: "yes"},
}
"""Value maps of the HTTP template: the numbers /metrics serves."""

PHASE_ARC = {phase: str(n) for n, phase in enumerate(m.PHASES, start=1)}
CH = "{#CHANNEL}"
CHANNEL_LABEL = "Channel {#CHANNEL} [{#CHANNEL.NAME}]"
UNIT_SEL = {"pdu": "{$C12.UNIT}"}

AUX_JS = (
    "var rows = JSON.parse(value), aux = {};\n"
    "rows.forEach(function (row) {\n"
    f"  if (row.name == '{cat.AUX_SOCKET_INFO}') aux[row.labels.channel] = true;\n"
    "});\n"
    f"rows = rows.filter(function (row) {{ return row.name == '{cat.CHANNEL_INFO}'; }});\n"
    "rows.forEach(function (row) { row.labels.aux = aux[row.labels.channel] ? '1' : '0'; });\n"
    "return JSON.stringify(rows);"
)
"""The channels of the HTTP discovery, each marked ``aux`` 1 where the unit's aux socket
is (its ``c12_aux_socket_info`` series names the channel), whatever the model."""
POWER_UP_JS = "return Math.round(Date.now() / 1000 - value / 100);"
"""The power-up time from c12InputUptime (hundredths of a second) as it arrives."""


SCOPE_KEYS: Mapping[m.Scope, str] = {
    m.Scope.UNIT: "unit",
    m.Scope.PHASE: "line",
    m.Scope.CHANNEL: "channel",
}
"""The middle part of a measured item's default key."""
COMPONENT_OF_PANE: Mapping[m.Pane, str] = {m.Pane.STATUS: "safety", m.Pane.CHANNELS: "channel"}


def _instance(
    scope: m.Scope, key: str, name: str, phase: str
) -> tuple[str, str, dict[str, str], str]:
    """An item's key, name, metric labels and SNMP instance suffix for its scope: a
    phase's (``[L1]``, "L1: ...", ``.1``) or a discovered channel's."""
    if scope is m.Scope.PHASE:
        return (
            f"{key}[{phase}]",
            f"{phase}: {name}",
            {**UNIT_SEL, "phase": phase},
            f".{PHASE_ARC[phase]}",
        )
    if scope is m.Scope.CHANNEL:
        return f"{key}[{CH}]", f"{CHANNEL_LABEL}: {name}", {**UNIT_SEL, "channel": CH}, f".{CH}"
    return key, name, dict(UNIT_SEL), ""


def measured_item(decl: m.Measurement, instance: str = "") -> Item:
    """A measurement's item as its declaration says (:class:`measurements.ZabbixHints`):
    read from its MIB column and from its metric, scaled to the units Zabbix shows.
    ``instance`` is the phase of a phase-scope measurement."""
    hints, column = decl.zabbix, decl.column
    assert hints is not None and column is not None and decl.metric is not None
    units, si_per_unit = m.ZABBIX_UNITS.get(decl.unit, (decl.unit, 1.0))
    units = units if hints.units is None else hints.units
    key = hints.key or f"c12.{SCOPE_KEYS[decl.scope]}.{decl.name.removeprefix('channel_')}"
    key, name, labels, snmp_instance = _instance(
        decl.scope, key, hints.name or decl.label, instance
    )
    labels.update(decl.metric.labels)
    step = column.step / si_per_unit
    state = bool(decl.states)
    return Item(
        key,
        name,
        hints.description or f"{decl.description}.",
        hints.component or COMPONENT_OF_PANE.get(decl.pane, "load"),
        Snmp(
            column.name,
            snmp_instance,
            None if state or step == 1 else step,
            valuemap=column.syntax if state and column.syntax.isidentifier() else "",
        ),
        Http(
            decl.metric_name + ("_total" if decl.metric.counter else ""),
            labels,
            multiplier=None if si_per_unit == 1 else 1 / si_per_unit,
            valuemap=http_valuemap(decl) if state else "",
        ),
        units=units,
        value_type="UNSIGNED" if state or units == "uptime" else "FLOAT",
    )


def derived_item(series: cat.Derived, hints: m.ZabbixHints, instance: str = "") -> Item:
    """A derived series' item as its declaration says (:attr:`catalogue.Derived.zabbix`):
    read from its MIB column (scaled by the column's step; an enumeration mapped by the
    column's textual convention) and from its metric."""
    assert isinstance(series.scope, m.Scope)
    columns = {c.name: c for c in cat.mib_columns(series.name)}
    column = columns[hints.column] if hints.column else next(iter(columns.values()))
    units = m.ZABBIX_UNITS.get(series.unit, (series.unit, 1.0))[0]
    key, name, labels, snmp_instance = _instance(series.scope, hints.key, hints.name, instance)
    scaled = column.step != 1 and hints.not_set is None
    script = ""
    if hints.not_set is not None:
        script = f"return value == {hints.not_set} ? {hints.not_set} : value / {1 / column.step:g};"
    default_type = "CHAR" if hints.label else "UNSIGNED" if hints.value_map else "FLOAT"
    return Item(
        key,
        name,
        hints.description or f"{series.description}.",
        hints.component,
        Snmp(
            column.name,
            snmp_instance,
            column.step if scaled else None,
            valuemap=column.syntax if hints.value_map else "",
            script=script,
            on_missing=hints.absent_snmp,
        ),
        Http(
            cat.exposed(series),
            labels,
            label=hints.label,
            on_fail=hints.absent,
            valuemap=hints.value_map,
        ),
        units=units if hints.units is None else hints.units,
        value_type=hints.value_type or default_type,
    )


def derived_items(scope: m.Scope) -> list[Item]:
    """The items of every derived series of ``scope`` the catalogue gives Zabbix hints,
    in declaration order (a phase's for each phase)."""
    shown = [(d, h) for d in cat.DERIVED if d.scope is scope for h in d.zabbix]
    if scope is m.Scope.PHASE:
        return [derived_item(d, h, phase) for phase in m.PHASES for d, h in shown]
    return [derived_item(d, h) for d, h in shown]


def measured_items(scope: m.Scope) -> list[Item]:
    """The items of every measurement of ``scope`` the templates show, in declaration
    order (a phase's for each phase)."""
    shown = [decl for decl in m.OF_SCOPE[scope] if decl.zabbix is not None]
    if scope is m.Scope.PHASE:
        return [measured_item(decl, phase) for phase in m.PHASES for decl in shown]
    return [measured_item(decl) for decl in shown]


def unit_items() -> list[Item]:
    """Items of one unit (the unit templates): the measured and derived ones as their
    declarations say, the power-up time (computed from c12InputUptime over SNMP), and two
    calculated from the line items."""
    items = [
        *measured_items(m.Scope.UNIT),
        *measured_items(m.Scope.PHASE),
        *derived_items(m.Scope.UNIT),
        *derived_items(m.Scope.PHASE),
        Item(
            "c12.unit.power_up",
            "Power-up time",
            "When the unit was last powered up: the time less its uptime (HTTP: "
            f"{cat.POWER_UP_TIME}, the reading's time less its uptime; SNMP: the time "
            "the value arrives less c12InputUptime). It moves only by the poll jitter, and "
            "jumps when the unit restarts, even unseen.",
            "health",
            Snmp("c12InputUptime", script=POWER_UP_JS),
            Http(cat.POWER_UP_TIME, UNIT_SEL),
            units="unixtime",
        ),
    ]
    amps = [f"last(//c12.line.current[{p}])" for p in m.PHASES]
    items += [
        Item(
            "c12.current.average",
            "Average phase current",
            "Average of L1-L3 currents.",
            "load",
            None,
            None,
            units="A",
            calculated=f"avg({','.join(amps)})",
        ),
        Item(
            "c12.neutral.excess",
            "Neutral current above the largest phase current",
            "Neutral current minus the largest phase current (positive: N carries more).",
            "load",
            None,
            None,
            units="A",
            calculated=f"last(//c12.input.current[N])-max({','.join(amps)})",
        ),
    ]
    return items


def channel_items() -> list[Item]:
    """Item prototypes of the channel discovery: the measured and derived ones as their
    declarations say."""
    return [*measured_items(m.Scope.CHANNEL), *derived_items(m.Scope.CHANNEL)]


# ------------------------------------------------------------------------ thresholds


def _num(value: float) -> str:
    return f"{round(value, 6):g}"


def _words(camel: str) -> str:
    words = re.findall(r"C12|[A-Z]+(?=[A-Z][a-z]|$)|[A-Z][a-z]*|[0-9]+", camel)
    return ".".join(w.upper() for w in words)


def for_macro(alert: str) -> str:
    """``C12ChannelNearRating`` -> ``{$C12.CHANNEL.NEAR.RATING.FOR}``."""
    return "{$" + _words(alert) + ".FOR}"


@dataclass(frozen=True)
class Macro:
    macro: str
    value: str
    description: str


def threshold_macros(cfg: alerts.Config) -> list[Macro]:
    """Every threshold of the Prometheus rules, as a user macro with the same default."""
    v = cfg.nominal_voltage_v
    return [
        Macro(
            "{$C12.VOLTAGE.MIN}",
            _num(v * (1 - cfg.voltage_tolerance)),
            f"Lowest phase voltage, V ({_num(v)} V -{_num(cfg.voltage_tolerance * 100)} %).",
        ),
        Macro(
            "{$C12.VOLTAGE.MAX}",
            _num(v * (1 + cfg.voltage_tolerance)),
            f"Highest phase voltage, V ({_num(v)} V +{_num(cfg.voltage_tolerance * 100)} %).",
        ),
        Macro(
            "{$C12.VOLTAGE.UNBALANCE.MAX}",
            _num(cfg.voltage_unbalance_max),
            "Largest voltage unbalance (EN 50160: negative over positive sequence), as a ratio.",
        ),
        Macro(
            "{$C12.VOLTAGE.THD.MAX}",
            _num(cfg.voltage_thd_max),
            "Largest average voltage THD, as a ratio.",
        ),
        Macro(
            "{$C12.FREQUENCY.NOMINAL}",
            _num(cfg.nominal_frequency_hz),
            "Nominal supply frequency, Hz; each unit's band around it is its 'Frequency band' "
            "item (its supply: grid or generator).",
        ),
        Macro(
            "{$C12.INPUT.NEAR.RATIO}",
            _num(cfg.input_near_rating_ratio),
            "Phase or neutral current over the input rating above which it is near the rating.",
        ),
        Macro(
            "{$C12.INPUT.OVER.RATIO}",
            _num(cfg.input_over_rating_ratio),
            "Phase or neutral current over the input rating above which it is over the rating.",
        ),
        Macro(
            "{$C12.CHANNEL.HEAT.WARN}",
            _num(cfg.trip_heat_warning),
            "Breaker heat at which the trip trigger fires (also below the forecast's minutes).",
        ),
        Macro(
            "{$C12.CHANNEL.HEAT.CLEAR}",
            _num(cfg.trip_heat_clear),
            "Breaker heat below which the trip trigger resolves.",
        ),
        Macro(
            "{$C12.CHANNEL.NEAR.RATIO}",
            _num(cfg.near_rating_ratio),
            "Channel current over its RCBO rating above which it is near its rating.",
        ),
        Macro(
            "{$C12.CHANNEL.OVER.RATIO}",
            _num(cfg.over_rating_ratio),
            "Channel current over its RCBO rating above which it is over its rating.",
        ),
        Macro(
            "{$C12.CHANNEL.TRIP.FORECAST.MIN}",
            _num(cfg.trip_forecast_warning_s),
            "Trip forecast, s, below which the channel's RCBO is about to trip.",
        ),
        Macro(
            "{$C12.NEUTRAL.CURRENT.MIN}",
            _num(cfg.neutral_min_current_a),
            "Neutral current, A, below which the neutral comparison is noise.",
        ),
        Macro(
            "{$C12.IMBALANCE.MAX}",
            _num(cfg.imbalance_max_ratio),
            "Largest phase current unbalance (NEMA MG-1: largest deviation from the mean, "
            "over the mean).",
        ),
        Macro(
            "{$C12.IMBALANCE.AVERAGE.MIN}",
            _num(cfg.imbalance_min_average_a),
            "Average phase current, A, below which imbalance is not judged.",
        ),
        Macro(
            "{$C12.TEMP.WARN}",
            _num(cfg.temperature_warning_c),
            "Temperature, °C, above which the unit is near its limit.",
        ),
        Macro(
            "{$C12.TEMP.CRIT}",
            _num(cfg.temperature_limit_c),
            "Temperature, °C, above which the unit must not be used (the manual).",
        ),
        Macro(
            "{$C12.TEMP.MIN}",
            _num(cfg.temperature_minimum_c),
            "Temperature, °C, below which the unit must not be used (the manual).",
        ),
        Macro(
            "{$C12.POWERUP.RECENT}",
            _num(cfg.recent_power_up_s),
            "Uptime, s, below which the unit has just been powered up.",
        ),
        Macro(
            "{$C12.POWERUP.JITTER}",
            _num(cfg.power_up_jitter_s),
            "A move of the power-up time beyond this, s, is a restart.",
        ),
        Macro(
            "{$C12.POWERUP.WINDOW}",
            cfg.energy_reset_window,
            "How long a restart seen through the power-up time stays a problem.",
        ),
    ]


def duration_macros(cfg: alerts.Config) -> list[Macro]:
    return [
        Macro(
            for_macro(name),
            duration,
            f"How long the condition of {name} holds before the trigger fires.",
        )
        for name, duration in cfg.for_durations.items()
        if duration not in ("0", "0s", "0m")
        and name != "C12ExporterDown"
        and name not in ALERTS_WITHOUT_TRIGGER
    ]


# --------------------------------------------------------------------------- triggers


@dataclass(frozen=True)
class Trigger:
    alert: str  # the Prometheus alert it stands for ("" for none)
    name: str
    expression: str
    severity: str
    scope: str
    description: str
    depends_on: tuple[str, ...] = ()  # names of triggers of the same template or rule
    opdata: str = ""
    recovery: str = ""  # a recovery expression (hysteresis); "" resolves when not true
    manual_close: bool = False  # an operator may close it (a trap trigger whose end was lost)
    source: str = ""  # "snmptrap" for a trigger on SNMP trap items


class Dialect:
    """What differs between the SNMP and the HTTP template: state values."""

    def __init__(self, kind: str, mib: Mib) -> None:
        self.kind = kind
        self.mib = mib

    def state(self, item: str, state: str) -> int:
        if self.kind == "snmp":
            tc, label = {
                ("status", "down"): ("C12Reachability", "unreachable"),
                ("estop", "pressed"): ("C12EstopState", "pressed"),
                ("switch", "off"): ("C12SwitchState", "off"),
                ("neutral", "lost"): ("C12NeutralState", "lost"),
                ("breaker", "open"): ("C12BreakerState", "open"),
                ("breaker", "closed"): ("C12BreakerState", "closed"),
                ("load", "serious_overload"): ("C12LoadState", "seriousOverload"),
                ("voltage_missing", "yes"): ("TruthValue", "false"),
                ("supervision", "below"): ("C12SupervisionState", "below"),
                ("supervision", "above"): ("C12SupervisionState", "above"),
            }[(item, state)]
            return next(n for n, name in self.mib.enums[tc].items() if name == label)
        return {
            ("status", "down"): 0,
            ("estop", "pressed"): _metric_states("emergency_stop")["pressed"],
            ("switch", "off"): _metric_states("switch_disconnector")["off"],
            ("neutral", "lost"): _metric_states("neutral")["lost"],
            ("breaker", "open"): _metric_states("channel_breaker")["open"],
            ("breaker", "closed"): _metric_states("channel_breaker")["closed"],
            ("load", "serious_overload"): _metric_states("channel_load")["serious_overload"],
            ("voltage_missing", "yes"): 1,
            ("supervision", "below"): -1,
            ("supervision", "above"): 1,
        }[(item, state)]


NODATA = "No data from the exporter for this unit"
UNIT_DOWN = "Unit is not answering its polls"
ESTOP = "Emergency stop is pressed: all outputs are dead"
NEUTRAL = "Neutral lost: switch disconnector tripped"
SWITCH_OFF = "Switch disconnector is OFF: all outputs are dead"
TEMP_NEAR = "Temperature is near its limit"
TEMP_OVER = "Temperature is above its limit"
SERIOUS = "{#CHANNEL} [{#CHANNEL.NAME}]: Serious overload, RCBO about to trip"
OVER = "{#CHANNEL} [{#CHANNEL.NAME}]: Current above RCBO rating"
NEAR = "{#CHANNEL} [{#CHANNEL.NAME}]: Current near RCBO rating"
TRIP = "{#CHANNEL} [{#CHANNEL.NAME}]: RCBO expected to trip soon"
CHANNEL_PREFIX = "Channel "


def _held(ref: str, value: int, alert: str) -> str:
    """The item held ``value`` for the whole ``for`` of ``alert``."""
    period = for_macro(alert)
    return f"min({ref},{period})={value} and max({ref},{period})={value}"


def unit_triggers(t: str, d: Dialect) -> list[Trigger]:
    def r(key: str) -> str:
        return f"/{t}/{key}"

    down = d.state("status", "down")
    power_up = r("c12.unit.power_up")
    triggers = [
        Trigger(
            "",
            NODATA,
            f"nodata({r('c12.unit.status')},{{$C12.NODATA.TIMEOUT}})=1",
            "WARNING",
            "unit",
            "No value of the unit's status has arrived for {$C12.NODATA.TIMEOUT}: "
            "the exporter (or its SNMP agent) is not answering Zabbix.",
        ),
        Trigger(
            "C12UnitDown",
            UNIT_DOWN,
            _held(r("c12.unit.status"), down, "C12UnitDown"),
            "",
            "unit",
            "The exporter has had no fresh successful poll of {$C12.UNIT} "
            "for {$C12.UNIT.DOWN.FOR}: it lost power, its electronics fuse blew, or the "
            "network path to it is broken.",
            (NODATA,),
        ),
        Trigger(
            "C12EmergencyStopPressed",
            ESTOP,
            f"last({r('c12.unit.estop')})={d.state('estop', 'pressed')}",
            "",
            "unit",
            "The emergency stop of {$C12.UNIT} is pressed: the switch disconnector has "
            "tripped and all its outputs are dead.",
            (UNIT_DOWN,),
        ),
        Trigger(
            "C12NeutralLost",
            NEUTRAL,
            f"last({r('c12.unit.neutral')})={d.state('neutral', 'lost')}",
            "",
            "unit",
            "{$C12.UNIT} reports a lost neutral at its input and has tripped its switch "
            "disconnector: an electrician must inspect the supply before it goes back ON.",
            (UNIT_DOWN,),
        ),
        Trigger(
            "C12SwitchDisconnectorOff",
            SWITCH_OFF,
            _held(r("c12.unit.switch"), d.state("switch", "off"), "C12SwitchDisconnectorOff"),
            "",
            "unit",
            "The switch disconnector of {$C12.UNIT} is OFF: all its outputs are dead. The "
            "meter sits before the switch, so voltages are still read.",
            (UNIT_DOWN, ESTOP, NEUTRAL),
        ),
        Trigger(
            "C12TemperatureOverLimit",
            TEMP_OVER,
            f"min({r('c12.unit.temperature')},{for_macro('C12TemperatureOverLimit')})"
            ">{$C12.TEMP.CRIT}",
            "",
            "unit",
            "{$C12.UNIT} is above {$C12.TEMP.CRIT} °C: the manual forbids using it there.",
            (UNIT_DOWN,),
            "Temperature: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12TemperatureNearLimit",
            TEMP_NEAR,
            f"min({r('c12.unit.temperature')},{for_macro('C12TemperatureNearLimit')})"
            ">{$C12.TEMP.WARN}",
            "",
            "unit",
            "{$C12.UNIT} is above {$C12.TEMP.WARN} °C, close to its {$C12.TEMP.CRIT} °C limit.",
            (UNIT_DOWN, TEMP_OVER),
            "Temperature: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12TemperatureBelowMinimum",
            "Temperature is below its minimum",
            f"max({r('c12.unit.temperature')},{for_macro('C12TemperatureBelowMinimum')})"
            "<{$C12.TEMP.MIN}",
            "",
            "unit",
            "{$C12.UNIT} is below {$C12.TEMP.MIN} °C: the manual's ambient range starts there.",
            (UNIT_DOWN,),
            "Temperature: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12EnergyCounterReset",
            "Powered up recently: energy counter restarted",
            f"last({r('c12.unit.uptime')})<{{$C12.POWERUP.RECENT}} or "
            f"last({power_up})-min({power_up},{{$C12.POWERUP.WINDOW}})>{{$C12.POWERUP.JITTER}}"
            f" or last({power_up})-last({power_up},#2)>{{$C12.POWERUP.JITTER}}",
            "",
            "unit",
            "{$C12.UNIT} was powered up less than {$C12.POWERUP.RECENT} s ago, or its "
            "power-up time moved on (it restarted, also unseen while it was not read): it "
            "lost power (or was just connected) and its kWh counter restarted from zero.",
            (UNIT_DOWN,),
            "Uptime: {ITEM.LASTVALUE1}",
        ),
    ]
    for phase in m.PHASES:
        v = r(f"c12.line.voltage[{phase}]")
        period = for_macro("C12PhaseVoltageOutOfRange")
        thd_period = for_macro("C12VoltageTHDHigh")
        triggers += [
            Trigger(
                "C12PhaseVoltageOutOfRange",
                f"{phase}: Voltage out of range",
                f"max({v},{period})<{{$C12.VOLTAGE.MIN}} or min({v},{period})>{{$C12.VOLTAGE.MAX}}",
                "",
                "voltage",
                f"The voltage of {phase} is outside {{$C12.VOLTAGE.MIN}}-{{$C12.VOLTAGE.MAX}} V.",
                (UNIT_DOWN, NEUTRAL),
                "Voltage: {ITEM.LASTVALUE1}",
            ),
            Trigger(
                "C12VoltageTHDHigh",
                f"{phase}: Voltage THD high",
                f"min({r(f'c12.line.voltage_thd[{phase}]')},{thd_period})>{{$C12.VOLTAGE.THD.MAX}}",
                "",
                "voltage",
                f"The average voltage THD of {phase} is above {{$C12.VOLTAGE.THD.MAX}}.",
                (UNIT_DOWN, NEUTRAL),
                "THD: {ITEM.LASTVALUE1}",
            ),
            Trigger(
                "C12MeterPhaseSilent",
                f"{phase}: Meter reads no voltage (meter fuse?)",
                _held(
                    r(f"c12.line.voltage_missing[{phase}]"),
                    d.state("voltage_missing", "yes"),
                    "C12MeterPhaseSilent",
                ),
                "",
                "meter",
                f"The meter reports no voltage on {phase} while the unit "
                "answers: its 1 AT meter fuse has probably blown.",
                (UNIT_DOWN,),
            ),
        ]
    band = r("c12.input.frequency_band")
    rating = r("c12.input.rating")
    near_for = for_macro("C12InputNearRating")
    for conductor, key in (
        *((p, f"c12.line.current[{p}]") for p in m.PHASES),
        ("N", "c12.input.current[N]"),
    ):
        current = r(key)
        over_name = f"{conductor}: Current above the input rating"
        triggers += [
            Trigger(
                "C12InputOverRating",
                over_name,
                f"last({current})>{{$C12.INPUT.OVER.RATIO}}*last({rating})",
                "",
                "load",
                f"{conductor} carries more than the unit's input rating (plug, cable and "
                "switch disconnector; the neutral is rated as a phase): shed load now. With "
                "LED walls the neutral can exceed every phase.",
                (UNIT_DOWN,),
                "Current: {ITEM.LASTVALUE1}",
            ),
            Trigger(
                "C12InputNearRating",
                f"{conductor}: Current near the input rating",
                f"min({current},{near_for})>{{$C12.INPUT.NEAR.RATIO}}*last({rating})",
                "",
                "load",
                f"{conductor} is loaded close to the unit's input rating: little headroom.",
                (UNIT_DOWN, over_name),
                "Current: {ITEM.LASTVALUE1}",
            ),
        ]
    triggers += [
        Trigger(
            "C12PhaseVoltageUnbalance",
            "Phase voltages unbalanced",
            f"min({r('c12.voltage.unbalance')},{for_macro('C12PhaseVoltageUnbalance')})"
            ">{$C12.VOLTAGE.UNBALANCE.MAX}",
            "",
            "voltage",
            "The supply voltage unbalance (EN 50160: negative over positive sequence) is "
            "above {$C12.VOLTAGE.UNBALANCE.MAX}.",
            (UNIT_DOWN, NEUTRAL),
            "Unbalance: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12FrequencyOutOfRange",
            "Supply frequency out of range",
            f"max({r('c12.input.frequency')},{for_macro('C12FrequencyOutOfRange')})"
            f"<{{$C12.FREQUENCY.NOMINAL}}*(1-last({band})) or "
            f"min({r('c12.input.frequency')},{for_macro('C12FrequencyOutOfRange')})"
            f">{{$C12.FREQUENCY.NOMINAL}}*(1+last({band}))",
            "",
            "supply",
            "The supply frequency is outside {$C12.FREQUENCY.NOMINAL} Hz plus or minus the "
            "band of the unit's supply (its 'Frequency band' item: grid or generator).",
            (UNIT_DOWN,),
            "Frequency: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12NeutralCurrentAbovePhases",
            "Neutral carries more current than any phase",
            f"min({r('c12.neutral.excess')},{for_macro('C12NeutralCurrentAbovePhases')})>0"
            f" and min({r('c12.input.current[N]')},"
            f"{for_macro('C12NeutralCurrentAbovePhases')})>{{$C12.NEUTRAL.CURRENT.MIN}}",
            "",
            "load",
            "Triplen harmonics from LED walls and switch-mode supplies add up in the neutral.",
            (UNIT_DOWN,),
            "Excess: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12PhaseCurrentImbalance",
            "Phase currents imbalanced",
            f"min({r('c12.phase.unbalance')},{for_macro('C12PhaseCurrentImbalance')})"
            f">{{$C12.IMBALANCE.MAX}} and min({r('c12.current.average')},"
            f"{for_macro('C12PhaseCurrentImbalance')})>{{$C12.IMBALANCE.AVERAGE.MIN}}",
            "",
            "load",
            "The phase current unbalance (NEMA MG-1: the largest deviation from the mean, "
            "over the mean) is above {$C12.IMBALANCE.MAX}.",
            (UNIT_DOWN,),
            "Imbalance: {ITEM.LASTVALUE1}",
        ),
    ]
    return triggers


UNIT_GUARDS = (UNIT_DOWN, ESTOP, SWITCH_OFF)
"""The unit triggers every channel trigger depends on (Alertmanager's inhibitions)."""


def channel_triggers(t: str, d: Dialect) -> list[Trigger]:
    def r(key: str) -> str:
        return f"/{t}/{key}[{CH}]"

    closed = d.state("breaker", "closed")
    cur, rating = r("c12.channel.current"), r("c12.channel.rating")
    sup = r("c12.channel.supervision")
    band_for = for_macro("C12ChannelOutsideSupervisionBand")
    if d.kind == "snmp":
        outside = f"min({sup},{band_for})>={d.state('supervision', 'below')}"  # below(3), above(4)
    else:
        outside = (
            f"max({sup},{band_for})<0 or (min({sup},{band_for})>0 and max({sup},{band_for})<2)"
        )
    prefix = CHANNEL_PREFIX
    return [
        Trigger(
            "C12ChannelSeriousOverload",
            prefix + SERIOUS,
            f"last({r('c12.channel.load')})={d.state('load', 'serious_overload')}",
            "",
            "channel",
            "The load LED flashes red fast (serious overload): the RCBO is about to trip.",
            UNIT_GUARDS,
            "Current: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12ChannelTripForecast",
            prefix + TRIP,
            f"((last({r('c12.channel.trip_forecast')})>=0 and "
            f"last({r('c12.channel.trip_forecast')})<{{$C12.CHANNEL.TRIP.FORECAST.MIN}}) or "
            f"last({r('c12.channel.heat')})>={{$C12.CHANNEL.HEAT.WARN}}) and "
            f"last({r('c12.channel.breaker')})={closed}",
            "",
            "channel",
            "The RCBO is close to an overcurrent trip: at its present current it is expected "
            "to trip within {$C12.CHANNEL.TRIP.FORECAST.MIN} s, or its heat has reached "
            "{$C12.CHANNEL.HEAT.WARN}. It resolves once the heat is below "
            "{$C12.CHANNEL.HEAT.CLEAR} (or the breaker is open), so a load swinging in and out "
            "of an overload keeps one problem.",
            UNIT_GUARDS,
            "Forecast: {ITEM.LASTVALUE1}",
            recovery=f"last({r('c12.channel.heat')})<{{$C12.CHANNEL.HEAT.CLEAR}} or "
            f"last({r('c12.channel.breaker')})<>{closed}",
        ),
        Trigger(
            "C12ChannelOverRating",
            prefix + OVER,
            f"min({cur},{for_macro('C12ChannelOverRating')})>{{$C12.CHANNEL.OVER.RATIO}}"
            f"*last({rating}) and last({r('c12.channel.breaker')})={closed}",
            "",
            "channel",
            "Up to 1.05 times its rating the RCBO never trips; above that it trips after a "
            "delay that shrinks as the overload grows (the trip forecast says when).",
            (*UNIT_GUARDS, prefix + SERIOUS),
            "Current: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12ChannelNearRating",
            prefix + NEAR,
            f"min({cur},{for_macro('C12ChannelNearRating')})>{{$C12.CHANNEL.NEAR.RATIO}}"
            f"*last({rating}) and last({r('c12.channel.breaker')})={closed}",
            "",
            "channel",
            "Little headroom is left on this channel.",
            (*UNIT_GUARDS, prefix + SERIOUS, prefix + OVER),
            "Current: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12ChannelBreakerOpen",
            prefix + "{#CHANNEL} [{#CHANNEL.NAME}]: RCBO open",
            _held(r("c12.channel.breaker"), d.state("breaker", "open"), "C12ChannelBreakerOpen"),
            "",
            "channel",
            "The RCBO tripped on overcurrent or earth leakage, was tested with its T "
            "button, or was switched off: the output is dead.",
            UNIT_GUARDS,
        ),
        Trigger(
            "C12ChannelOutsideSupervisionBand",
            prefix + "{#CHANNEL} [{#CHANNEL.NAME}]: Current outside supervision band",
            outside,
            "",
            "channel",
            "The channel draws a current outside the supervision band set for it.",
            UNIT_GUARDS,
            "Supervision: {ITEM.LASTVALUE1}",
        ),
        Trigger(
            "C12AuxSocketMayBeOverloaded",
            prefix + "{#CHANNEL} [{#CHANNEL.NAME}]: Aux socket may be overloaded",
            f"min({cur},{for_macro('C12AuxSocketMayBeOverloaded')})"
            f">last({r('c12.channel.aux_rating')}) and last({r('c12.channel.aux_rating')})"
            f">0 and last({r('c12.channel.aux_rating')})<last({rating})",
            "",
            "channel",
            "The channel draws more than its aux socket is rated for. The unit measures "
            "the main connector and the aux socket together: check what is plugged in.",
            UNIT_GUARDS,
            "Current: {ITEM.LASTVALUE1}",
        ),
    ]


# -------------------------------------------------------------------- rendering


def _severity(trigger: Trigger, rules: Mapping[str, Mapping[str, Any]]) -> str:
    if trigger.severity:
        return trigger.severity
    return SEVERITIES[rules[trigger.alert]["labels"]["severity"]]


def _prometheus_rules(cfg: alerts.Config) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in alerts.rule_groups(cfg)["groups"] for r in g["rules"]}


def _tags(**tags: str) -> list[dict[str, str]]:
    return [{"tag": k, "value": v} for k, v in tags.items() if v]


def _valuemap_ref(name: str) -> dict[str, str]:
    return {"name": name}


def _snmp_item(item: Item, mib: Mib, index: str) -> dict[str, Any]:
    assert item.snmp is not None
    out: dict[str, Any] = {
        "type": "SNMP_AGENT",
        "snmp_oid": f"{mib.oid(item.snmp.column)}.{index}{item.snmp.instance}",
    }
    steps: list[dict[str, Any]] = []
    if item.snmp.on_missing is not None:
        steps.append(
            {
                "type": "CHECK_NOT_SUPPORTED",
                "parameters": [""],
                "error_handler": "CUSTOM_VALUE",
                "error_handler_params": item.snmp.on_missing,
            }
        )
    if item.snmp.multiplier is not None:
        steps.append({"type": "MULTIPLIER", "parameters": [_num(item.snmp.multiplier)]})
    if item.snmp.script:
        steps.append({"type": "JAVASCRIPT", "parameters": [item.snmp.script]})
    if item.units == "uptime":
        steps.append({"type": "JAVASCRIPT", "parameters": ["return Math.floor(value);"]})
    return {**out, "_steps": steps, "_valuemap": item.snmp.valuemap}


def _pattern(http: Http) -> str:
    labels = ",".join(f'{k}="{v}"' for k, v in http.labels.items())
    return f"{http.metric}{{{labels}}}"


def _http_item(item: Item, master: str) -> dict[str, Any]:
    assert item.http is not None
    h = item.http
    step: dict[str, Any] = {
        "type": "PROMETHEUS_PATTERN",
        "parameters": [_pattern(h), "label" if h.label else "value", h.label],
    }
    if h.on_fail is not None:
        step["error_handler"] = "CUSTOM_VALUE"
        step["error_handler_params"] = h.on_fail
    steps = [step]
    if h.multiplier is not None:
        steps.append({"type": "MULTIPLIER", "parameters": [repr(h.multiplier)]})
    if item.units == "uptime":
        steps.append({"type": "JAVASCRIPT", "parameters": ["return Math.floor(value);"]})
    return {
        "type": "DEPENDENT",
        "delay": "0",
        "_steps": steps,
        "_valuemap": h.valuemap,
        "master_item": {"key": master},
    }


class Builder:
    """Builds one template of one kind (``snmp`` or ``http``)."""

    def __init__(self, kind: str, cfg: alerts.Config, mib: Mib) -> None:
        self.kind = kind
        self.cfg = cfg
        self.mib = mib
        self.d = Dialect(kind, mib)
        self.rules = _prometheus_rules(cfg)
        self.unit_template = SNMP_UNIT if kind == "snmp" else HTTP_UNIT
        self.fleet_template = SNMP if kind == "snmp" else HTTP

    def uid(self, *names: str) -> str:
        return stable_uuid(*names)

    # items
    def item(self, item: Item, template: str, prototype: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"uuid": self.uid(template, "item", item.key), "name": item.name}
        if item.calculated:
            body.update({"type": "CALCULATED", "key": item.key, "delay": "{$C12.INTERVAL}",
                         "params": item.calculated})  # fmt: skip
            extra: dict[str, Any] = {"_steps": [], "_valuemap": ""}
        elif self.kind == "snmp":
            extra = _snmp_item(item, self.mib, "{$C12.UNIT.INDEX}")
            body.update({"type": extra.pop("type"), "snmp_oid": extra.pop("snmp_oid"),
                         "key": item.key, "delay": "{$C12.INTERVAL}"})  # fmt: skip
        else:
            extra = _http_item(item, "c12.unit.metrics")
            body.update({"type": "DEPENDENT", "key": item.key, "delay": "0"})
            body["master_item"] = extra.pop("master_item")
            extra.pop("type"), extra.pop("delay")
        body["history"] = item.history
        if item.value_type != "UNSIGNED":  # the export format's default
            body["value_type"] = item.value_type
        if item.value_type == "CHAR":
            body["trends"] = "0"
        if item.units and item.units != "uptime":
            body["units"] = item.units
        elif item.units == "uptime":
            body["units"] = "uptime"
        body["description"] = item.description
        if extra["_valuemap"]:
            body["valuemap"] = _valuemap_ref(extra["_valuemap"])
        if extra["_steps"]:
            body["preprocessing"] = extra["_steps"]
        if self.kind == "http" and not item.calculated:
            body["master_item"] = body.pop("master_item")
        tags = {"component": item.component}
        if prototype:
            tags["channel"] = CH
        body["tags"] = _tags(**tags)
        return body

    # triggers
    def trigger(self, trig: Trigger, template: str, deps_expr: Mapping[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "uuid": self.uid(template, "trigger", trig.name),
            "expression": trig.expression,
            "name": trig.name,
        }
        if trig.opdata:
            body["opdata"] = trig.opdata
        if trig.recovery:
            body["recovery_mode"] = "RECOVERY_EXPRESSION"
            body["recovery_expression"] = trig.recovery
        body["priority"] = _severity(trig, self.rules)
        description = trig.description
        if trig.alert:
            rule = self.rules[trig.alert]
            description += f" (Prometheus alert {trig.alert}: {rule['annotations']['summary']})"
            body["url"] = rule["annotations"]["runbook_url"]
        body["description"] = description
        body["manual_close"] = "YES" if trig.manual_close else "NO"
        if trig.depends_on:
            body["dependencies"] = [
                {"name": dep, "expression": deps_expr[dep]} for dep in trig.depends_on
            ]
        component = "channel" if trig.scope == "channel" else "unit"
        body["tags"] = _tags(
            alert=trig.alert, scope=trig.scope, component=component, source=trig.source
        )
        return body

    def trap_trigger(self, trap: traps.TrapTrigger, template: str) -> Trigger:
        """A trigger on SNMP trap items: fires on the trap, resolves on its opposite."""
        return Trigger(
            trap.alert,
            trap.name,
            traps.expression(trap, template),
            "",
            "channel" if trap.item.channel else "unit",
            trap.description,
            UNIT_GUARDS if trap.item.channel else (),
            "Last trap: {ITEM.LASTVALUE1}",
            manual_close=True,
            source=traps.TRAP_TAG,
        )

    # templates
    def unit_template_body(self) -> dict[str, Any]:
        t = self.unit_template
        items: list[dict[str, Any]] = []
        if self.kind == "http":
            items.append({
                "uuid": self.uid(t, "item", "c12.unit.metrics"),
                "name": "Exporter metrics",
                "type": "HTTP_AGENT",
                "key": "c12.unit.metrics",
                "delay": "{$C12.INTERVAL}",
                "history": "0",
                "trends": "0",
                "value_type": "TEXT",
                "authtype": "BASIC",
                "username": "{$C12.EXPORTER.USER}",
                "password": "{$C12.EXPORTER.PASSWORD}",
                "description": "The exporter's /metrics, read once per interval; every item "
                "of the unit is a dependent item of this one. Kept with history 0.",
                "timeout": "{$C12.EXPORTER.TIMEOUT}",
                "url": "{$C12.EXPORTER.URL}/metrics",
                "tags": _tags(component="raw"),
            })  # fmt: skip
        items += [self.item(i, t) for i in unit_items()]
        triggers = unit_triggers(t, self.d)
        if self.kind == "snmp":
            items += [traps.item_body(x, self.uid(t, "item", x.key)) for x in traps.UNIT_ITEMS]
            triggers += [self.trap_trigger(x, t) for x in traps.UNIT_TRIGGERS]
        exprs = {tr.name: tr.expression for tr in triggers}
        # Triggers whose expression has more than one item go to the top-level list, as
        # Zabbix exports them; those of one item stay with it, also in the top-level list
        # here: the import accepts both and one place is simpler to read.
        trig_bodies = [self.trigger(tr, t, exprs) for tr in triggers]
        discovery = self.channel_discovery(t, exprs)
        macros = [
            *self.unit_macros(),
            *[self._macro(x) for x in threshold_macros(self.cfg)],
            *[self._macro(x) for x in duration_macros(self.cfg)],
        ]
        return {
            "uuid": self.uid(t),
            "template": t,
            "name": t,
            "description": self._description(unit=True),
            "groups": [{"name": TEMPLATE_GROUP}],
            "items": items,
            "discovery_rules": [discovery],
            "tags": _tags(class_="power", target="stagesmarts-c12b"),
            "macros": sorted(macros, key=lambda x: x["macro"]),
            "valuemaps": self.valuemaps(t),
            "_triggers": trig_bodies,
        }

    def _macro(self, macro: Macro) -> dict[str, str]:
        return {"macro": macro.macro, "value": macro.value, "description": macro.description}

    def unit_macros(self) -> list[dict[str, str]]:
        common = [
            Macro("{$C12.INTERVAL}", "1m", "How often the unit's items are read."),
            Macro(
                "{$C12.NODATA.TIMEOUT}",
                self.cfg.for_durations["C12ExporterDown"],
                "No value of the unit's status for this long fires the no-data trigger.",
            ),
            Macro(
                "{$C12.UNIT}",
                "",
                "The unit's name in the exporter's config (set by the "
                "discovery on each unit host).",
            ),
            Macro(
                "{$C12.CHANNEL.LLD.INTERVAL}",
                "1h",
                "How often the channels are discovered (names change rarely).",
            ),
        ]
        if self.kind == "snmp":
            common.append(
                Macro(
                    "{$C12.UNIT.INDEX}",
                    "",
                    "The unit's c12UnitIndex (set by the discovery on each unit host).",
                )
            )
        else:
            common += [
                Macro(
                    "{$C12.EXPORTER.URL}",
                    "http://127.0.0.1:10120",
                    "Base URL of the exporter (set by the discovery from the fleet host's macro).",
                ),
                Macro(
                    "{$C12.EXPORTER.USER}",
                    "",
                    "Basic auth user, if the exporter asks "
                    "for one (set by the discovery from the fleet host's macro).",
                ),
                Macro(
                    "{$C12.EXPORTER.PASSWORD}",
                    "",
                    "Basic auth password: set it on this "
                    "template or as a global macro (secret text).",
                ),
                Macro("{$C12.EXPORTER.TIMEOUT}", "10s", "HTTP timeout of /metrics."),
            ]
        return [self._macro(x) for x in common]

    def channel_discovery(self, t: str, unit_exprs: Mapping[str, str]) -> dict[str, Any]:
        protos = [self.item(i, t, prototype=True) for i in channel_items()]
        ctriggers = channel_triggers(t, self.d)
        if self.kind == "snmp":
            protos += [traps.item_body(x, self.uid(t, "item", x.key)) for x in traps.CHANNEL_ITEMS]
            ctriggers += [self.trap_trigger(x, t) for x in traps.CHANNEL_TRIGGERS]
        exprs = {**unit_exprs, **{tr.name: tr.expression for tr in ctriggers}}
        rule: dict[str, Any] = {
            "uuid": self.uid(t, "discovery", "channels"),
            "name": "Channel discovery",
        }
        paths = [
            {"lld_macro": "{#CHANNEL.NAME}", "path": "$['{#CHANNEL.NAME}']"},
            {"lld_macro": "{#CHANNEL.PHASE}", "path": "$['{#CHANNEL.PHASE}']"},
            {"lld_macro": "{#CHANNEL.CONNECTOR}", "path": "$['{#CHANNEL.CONNECTOR}']"},
            {"lld_macro": "{#CHANNEL.AUX}", "path": "$['{#CHANNEL.AUX}']"},
        ]
        if self.kind == "snmp":
            idx = "{$C12.UNIT.INDEX}"
            oid = ",".join(
                f"{macro},{self.mib.oid(col)}.{idx}"
                for macro, col in (
                    ("{#CHANNEL.NAME}", "c12ChannelName"),
                    ("{#CHANNEL.CONNECTOR}", "c12ChannelConnector"),
                    ("{#CHANNEL.PHASE}", "c12ChannelPhase"),
                    ("{#CHANNEL.AUX}", "c12ChannelAuxSocket"),
                )
            )
            phases = {str(n): name.upper() for n, name in self.mib.enums["C12PhaseName"].items()}
            rule.update({
                "type": "SNMP_AGENT",
                "snmp_oid": f"discovery[{oid}]",
                "key": "c12.channel.discovery",
                "delay": "{$C12.CHANNEL.LLD.INTERVAL}",
                "lifetime": "7d",
                "description": "The unit's channels, however many its model has, from "
                "c12ChannelTable (rows exist while the unit is reachable): number, name, "
                "phase, connector and whether it feeds the aux socket (1).",
                "item_prototypes": protos,
                "trigger_prototypes": [self.trigger(tr, t, exprs) for tr in ctriggers],
                "lld_macro_paths": [
                    {"lld_macro": "{#CHANNEL}", "path": "$['{#SNMPINDEX}']"}, *paths
                ],
                "preprocessing": [{
                    "type": "JAVASCRIPT",
                    "parameters": [
                        f"var phases = {_js_object(phases)};\n"
                        "var rows = JSON.parse(value);\n"
                        "rows.forEach(function (row) {\n"
                        "  row['{#CHANNEL.PHASE}'] = phases[row['{#CHANNEL.PHASE}']] "
                        "|| row['{#CHANNEL.PHASE}'];\n"
                        "});\n"
                        "return JSON.stringify(rows);"
                    ],
                }],
            })  # fmt: skip
        else:
            rule.update({
                "type": "DEPENDENT",
                "key": "c12.channel.discovery",
                "delay": "0",
                "lifetime": "7d",
                "description": f"The unit's channels, however many its model has, from "
                f"{cat.CHANNEL_INFO} (present while the unit is up): number, name, phase, "
                f"connector and whether it feeds the aux socket ({cat.AUX_SOCKET_INFO}: 1).",
                "item_prototypes": protos,
                "trigger_prototypes": [self.trigger(tr, t, exprs) for tr in ctriggers],
                "master_item": {"key": "c12.unit.metrics"},
                "lld_macro_paths": [
                    {"lld_macro": "{#CHANNEL}", "path": "$.labels.channel"},
                    {"lld_macro": "{#CHANNEL.NAME}", "path": "$.labels.name"},
                    {"lld_macro": "{#CHANNEL.PHASE}", "path": "$.labels.phase"},
                    {"lld_macro": "{#CHANNEL.CONNECTOR}", "path": "$.labels.connector"},
                    {"lld_macro": "{#CHANNEL.AUX}", "path": "$.labels.aux"},
                ],
                "preprocessing": [
                    {"type": "PROMETHEUS_TO_JSON",
                     "parameters": [f'{{__name__=~"^({cat.CHANNEL_INFO}|{cat.AUX_SOCKET_INFO})$",'
                                    'pdu="{$C12.UNIT}"}']},
                    {"type": "JAVASCRIPT", "parameters": [AUX_JS]},
                    {"type": "DISCARD_UNCHANGED_HEARTBEAT",
                     "parameters": ["{$C12.CHANNEL.LLD.INTERVAL}"]},
                ],
            })  # fmt: skip
        rule["overrides"] = [{
            "name": "Aux socket only on its channel",
            "step": "1",
            "filter": {"conditions": [{
                "macro": "{#CHANNEL.AUX}", "value": "^1$",
                "operator": "NOT_MATCHES_REGEX", "formulaid": "A",
            }]},
            "operations": [
                {"operationobject": "ITEM_PROTOTYPE", "operator": "LIKE",
                 "value": "Aux socket", "discover": "NO_DISCOVER"},
                {"operationobject": "TRIGGER_PROTOTYPE", "operator": "LIKE",
                 "value": "Aux socket", "discover": "NO_DISCOVER"},
            ],
        }]  # fmt: skip
        return rule

    def valuemaps(self, t: str) -> list[dict[str, Any]]:
        if self.kind == "snmp":
            wanted = sorted(
                {
                    i.snmp.valuemap
                    for i in (*unit_items(), *channel_items())
                    if i.snmp and i.snmp.valuemap
                }
            )
            maps = {name: self.mib.enums[name] for name in wanted}
        else:
            maps = {k: dict(v) for k, v in HTTP_VALUEMAPS.items()}
        return [
            {
                "uuid": self.uid(t, "valuemap", name),
                "name": name,
                "mappings": [{"value": str(k), "newvalue": v} for k, v in sorted(mp.items())],
            }
            for name, mp in sorted(maps.items())
        ]

    def _description(self, unit: bool) -> str:
        kind = "SNMP (C12-PDU-MIB)" if self.kind == "snmp" else "HTTP (/metrics)"
        what = (
            "One C12B unit, on a host made by the fleet template's unit discovery."
            if unit
            else "A c12exporter's fleet: discovers its units and makes one host per unit."
        )
        return (
            f"StageSmarts C12B power distribution units through c12exporter, by {kind}. "
            f"{what} See zabbix/README_{self.kind}.md. Generated by zabbix/generate.py."
        )

    def fleet_template_body(self) -> dict[str, Any]:
        t = self.fleet_template
        items: list[dict[str, Any]] = []
        triggers: list[dict[str, Any]] = []
        exporter_down = self.rules["C12ExporterDown"]
        if self.kind == "snmp":
            key = "c12.agent.temperature_limit"
            items.append({
                "uuid": self.uid(t, "item", key),
                "name": "Temperature limit",
                "type": "SNMP_AGENT",
                "snmp_oid": f"{self.mib.oid('c12TemperatureLimit')}.0",
                "key": key,
                "delay": "{$C12.INTERVAL}",
                "history": "7d",
                "units": "°C",
                "description": "c12TemperatureLimit: always served, so it tells whether the "
                "agent answers.",
                "preprocessing": [{"type": "MULTIPLIER", "parameters": ["0.1"]}],
                "tags": _tags(component="health"),
            })  # fmt: skip
            units_discovery: dict[str, Any] = {
                "uuid": self.uid(t, "discovery", "units"),
                "name": "Unit discovery",
                "type": "SNMP_AGENT",
                "snmp_oid": "discovery[{#UNIT},"
                f"{self.mib.oid('c12UnitName')},{{#UNIT.ADDRESS}},{self.mib.oid('c12UnitAddress')}]",
                "key": "c12.unit.discovery",
                "delay": "{$C12.LLD.INTERVAL}",
                "lifetime": "{$C12.LLD.LIFETIME}",
                "description": "Every unit of the exporter's config from c12UnitTable (rows "
                "exist whether or not the unit answers).",
            }
        else:
            key = "c12.exporter.build"
            items += [
                {
                    "uuid": self.uid(t, "item", "c12.metrics"),
                    "name": "Exporter metrics",
                    "type": "HTTP_AGENT",
                    "key": "c12.metrics",
                    "delay": "{$C12.INTERVAL}",
                    "history": "0",
                    "trends": "0",
                    "value_type": "TEXT",
                    "authtype": "BASIC",
                    "username": "{$C12.EXPORTER.USER}",
                    "password": "{$C12.EXPORTER.PASSWORD}",
                    "description": "The exporter's /metrics, kept with history 0.",
                    "timeout": "{$C12.EXPORTER.TIMEOUT}",
                    "url": "{$C12.EXPORTER.URL}/metrics",
                    "tags": _tags(component="raw"),
                },
                {
                    "uuid": self.uid(t, "item", key),
                    "name": "Exporter version",
                    "type": "DEPENDENT",
                    "key": key,
                    "delay": "0",
                    "history": "7d",
                    "trends": "0",
                    "value_type": "CHAR",
                    "description": f"{cat.EXPORTER_BUILD_INFO}'s version label.",
                    "preprocessing": [{"type": "PROMETHEUS_PATTERN",
                                       "parameters": [cat.EXPORTER_BUILD_INFO, "label",
                                                      "version"]}],
                    "master_item": {"key": "c12.metrics"},
                    "tags": _tags(component="health"),
                },
            ]  # fmt: skip
            units_discovery = {
                "uuid": self.uid(t, "discovery", "units"),
                "name": "Unit discovery",
                "type": "DEPENDENT",
                "key": "c12.unit.discovery",
                "delay": "0",
                "lifetime": "{$C12.LLD.LIFETIME}",
                "description": f"Every unit of the exporter's config from {cat.UP} (present "
                "whether or not the unit answers).",
                "master_item": {"key": "c12.metrics"},
                "lld_macro_paths": [
                    {"lld_macro": "{#UNIT}", "path": "$.labels.pdu"},
                    {"lld_macro": "{#EXPORTER.URL}", "path": "$.url"},
                    {"lld_macro": "{#EXPORTER.USER}", "path": "$.user"},
                ],
                "preprocessing": [
                    {"type": "PROMETHEUS_TO_JSON", "parameters": [cat.UP]},
                    {"type": "JAVASCRIPT", "parameters": [
                        "var rows = JSON.parse(value);\n"
                        "rows.forEach(function (row) {\n"
                        "  row.url = '{$C12.EXPORTER.URL}';\n"
                        "  row.user = '{$C12.EXPORTER.USER}';\n"
                        "});\n"
                        "return JSON.stringify(rows);"
                    ]},
                    {"type": "DISCARD_UNCHANGED_HEARTBEAT", "parameters": ["{$C12.LLD.INTERVAL}"]},
                ],
            }  # fmt: skip
        expr = f"nodata(/{t}/{key},{{$C12.NODATA.TIMEOUT}})=1"
        triggers.append({
            "uuid": self.uid(t, "trigger", "nodata"),
            "expression": expr,
            "name": "No data from the exporter" + (" SNMP agent" if self.kind == "snmp" else ""),
            "priority": SEVERITIES[exporter_down["labels"]["severity"]],
            "description": "Zabbix has had no answer from the exporter for "
            "{$C12.NODATA.TIMEOUT}: the units behind it are not watched. (Prometheus alert "
            f"C12ExporterDown: {exporter_down['annotations']['summary']})",
            "url": exporter_down["annotations"]["runbook_url"],
            "manual_close": "NO",
            "tags": _tags(alert="C12ExporterDown", scope="exporter", component="exporter"),
        })  # fmt: skip
        host_macros = [{"macro": "{$C12.UNIT}", "value": "{#UNIT}"}]
        if self.kind == "snmp":
            host_macros.append({"macro": "{$C12.UNIT.INDEX}", "value": "{#SNMPINDEX}"})
        else:
            host_macros += [
                {"macro": "{$C12.EXPORTER.URL}", "value": "{#EXPORTER.URL}"},
                {"macro": "{$C12.EXPORTER.USER}", "value": "{#EXPORTER.USER}"},
            ]
        suffix = "" if self.kind == "snmp" else "-http"
        units_discovery["host_prototypes"] = [{
            "uuid": self.uid(t, "host_prototype", "unit"),
            "host": f"c12-{{#UNIT}}{suffix}",
            "name": "{#UNIT}" + ("" if self.kind == "snmp" else " (HTTP)"),
            "group_links": [{"group": {"name": UNIT_GROUP}}],
            "templates": [{"name": self.unit_template}],
            "macros": host_macros,
            "tags": _tags(component="pdu", unit="{#UNIT}"),
        }]  # fmt: skip
        macros = [
            Macro("{$C12.INTERVAL}", "1m", "How often the fleet is read."),
            Macro("{$C12.LLD.INTERVAL}", "1h", "How often units are discovered."),
            Macro(
                "{$C12.LLD.LIFETIME}",
                "7d",
                "How long a unit gone from the exporter's config keeps its host.",
            ),
            Macro(
                "{$C12.NODATA.TIMEOUT}",
                exporter_down.get("for", "5m"),
                "No answer for this long fires the no-data trigger (C12ExporterDown).",
            ),
        ]
        if self.kind == "http":
            macros += [
                Macro(
                    "{$C12.EXPORTER.URL}",
                    "http://127.0.0.1:10120",
                    "Base URL of the exporter, without /metrics; passed on to the unit hosts.",
                ),
                Macro(
                    "{$C12.EXPORTER.USER}",
                    "",
                    "Basic auth user, if the exporter asks for one; passed on to the unit hosts.",
                ),
                Macro(
                    "{$C12.EXPORTER.PASSWORD}",
                    "",
                    "Basic auth password (secret text); "
                    "set it as a global macro so the unit hosts have it too.",
                ),
                Macro("{$C12.EXPORTER.TIMEOUT}", "10s", "HTTP timeout of /metrics."),
            ]
        return {
            "uuid": self.uid(t),
            "template": t,
            "name": t,
            "description": self._description(unit=False),
            "groups": [{"name": TEMPLATE_GROUP}],
            "items": items,
            "discovery_rules": [units_discovery],
            "tags": _tags(class_="power", target="stagesmarts-c12b"),
            "macros": sorted((self._macro(x) for x in macros), key=lambda x: x["macro"]),
            "_triggers": triggers,
        }

    def export(self) -> dict[str, Any]:
        templates = [self.unit_template_body(), self.fleet_template_body()]
        triggers = [tr for body in templates for tr in body.pop("_triggers")]
        self._check_alerts([*triggers, *(
            p for body in templates for rule in body["discovery_rules"]
            for p in rule.get("trigger_prototypes", []))])  # fmt: skip
        self._check_series(yaml.safe_dump(templates))
        for body in templates:
            body["tags"] = [
                {"tag": x["tag"].rstrip("_"), "value": x["value"]} for x in body["tags"]
            ]
        return {
            "zabbix_export": {
                "version": "6.0",
                "groups": [
                    {"uuid": TEMPLATE_GROUP_UUID, "name": TEMPLATE_GROUP},
                    {"uuid": self.uid("group", UNIT_GROUP), "name": UNIT_GROUP},
                ],
                "templates": sorted(templates, key=lambda x: str(x["template"])),
                "triggers": triggers,
            }
        }

    def _check_series(self, text: str) -> None:
        """Every derived series of a unit that has a MIB column is read by the template
        (by its metric over HTTP, by one of its columns over SNMP), unless
        SERIES_WITHOUT_ITEM says why not."""
        unread = []
        for series in cat.DERIVED:
            columns = (
                () if isinstance(series.scope, cat.SelfScope) else cat.mib_columns(series.name)
            )
            if not columns or series.name in SERIES_WITHOUT_ITEM:
                continue
            if self.kind == "http":
                read = re.search(rf"\b{series.metric_name}\b", text) is not None
            else:
                names = [c.name for c in columns]
                names += (
                    [SNMP_READS_INSTEAD[series.name]] if series.name in SNMP_READS_INSTEAD else []
                )
                read = any(f"{self.mib.oid(name)}." in text for name in names)
            if not read:
                unread.append(series.name)
        if unread:
            raise TemplateError(
                f"{self.fleet_template}: nothing reads the series {sorted(unread)} (add an item "
                "or a discovery that reads it, or say why not in SERIES_WITHOUT_ITEM)"
            )

    def _check_alerts(self, triggers: Sequence[Mapping[str, Any]]) -> None:
        """Every alert has a trigger unless ALERTS_WITHOUT_TRIGGER says why not."""
        tagged = {
            t["value"] for trigger in triggers for t in trigger["tags"] if t["tag"] == "alert"
        }
        missing = set(self.rules) - tagged - set(ALERTS_WITHOUT_TRIGGER)
        unknown = tagged - set(self.rules)
        if missing or unknown:
            raise TemplateError(
                f"{self.fleet_template}: no trigger for the alerts {sorted(missing)} (add one, "
                f"or say why not in ALERTS_WITHOUT_TRIGGER); triggers name unknown alerts "
                f"{sorted(unknown)}"
            )


def _js_object(mapping: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in sorted(mapping.items())) + "}"


# ------------------------------------------------------------------------- output


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = (
    "# Generated by zabbix/generate.py (thresholds from alerts/generate.py's CONFIG and\n"
    "# c12exporter/limits.py): edit those, not this file, then run python -m zabbix.generate\n"
)


def build(kind: str, cfg: alerts.Config = alerts.CONFIG, mib_path: Path = MIB) -> dict[str, Any]:
    """The export of the template file of ``kind`` (``snmp`` or ``http``)."""
    return Builder(kind, cfg, load_mib(mib_path)).export()


def render(kind: str, cfg: alerts.Config = alerts.CONFIG, mib_path: Path = MIB) -> str:
    return _dump(build(kind, cfg, mib_path))


def _dump(body: Mapping[str, Any]) -> str:
    return HEADER + yaml.dump(
        body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16, indent=2
    )


OUTPUTS: Mapping[str, Path] = {"snmp": SNMP_FILE, "http": HTTP_FILE}


def outputs(directory: Path | None = None) -> dict[Path, str]:
    """Every generated file and its text."""
    texts: dict[Path, str] = {}
    exports: dict[str, dict[str, Any]] = {}
    for kind, path in OUTPUTS.items():
        target = path if directory is None else directory / path.name
        body = build(kind)
        exports[kind] = body["zabbix_export"]
        texts[target] = _dump(body)
        texts[target.with_name(f"README_{kind}.md")] = readme.render(kind, exports[kind])
    index = INDEX_FILE if directory is None else directory / INDEX_FILE.name
    texts[index] = readme.render_index(exports, ALERTS_WITHOUT_TRIGGER)
    return texts


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="write here (default: zabbix/)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a file differs from the generated one"
    )
    args = parser.parse_args(argv)
    try:
        texts = outputs(args.dir)
    except (MibError, TemplateError) as error:
        print(f"zabbix.generate: {error}", file=sys.stderr)
        return 2
    stale = []
    for path, text in texts.items():
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            if args.check:
                stale.append(path)
            else:
                path.write_text(text, encoding="utf-8")
                out(f"wrote {path}")
    if stale:
        for path in stale:
            print(f"{path} is stale: run python -m zabbix.generate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
