"""Generate the Prometheus alert rules for C12 units (``alerts/c12-alerts.yml``).

Everything a site may want to tune is in :data:`CONFIG` below: the selector that
picks the exporter's series, the unit identity labels used for joins, the runbook
base URL, every threshold and every ``for`` duration. Change it, then run::

    python -m alerts.generate            # from the repository root: rewrite c12-alerts.yml
    python -m alerts.generate --check    # exit 1 if the committed file is stale

The default numbers come from :mod:`c12exporter.limits` (EN 50160, the manual, and
our own choices, each with its source); summaries and descriptions are formatted from
the numbers in use.

Conventions (monitoring mixins): alert names are CamelCase and start with
``C12``; every alert has a ``severity`` (``warning`` or ``critical``) and a
``scope`` label (``exporter``, ``unit``, ``channel``, ``voltage``, ``supply``,
``load``, ``meter``) that Alertmanager inhibitions select on; annotations are
``summary``, ``description`` (templated with the unit, channel and value) and
``runbook_url`` (an anchor in ``docs/runbook.md``).

Measurement alerts only see series that exist: the exporter serves no
measurements for a unit that is down, so they fall silent and only
``C12UnitDown`` speaks for that unit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from c12exporter import limits
from c12exporter.breaker import EN_60947_2_MAGNETIC_HYDRAULIC
from c12exporter.catalogue import (
    AUX_SOCKET_RATING,
    CHANNEL_BREAKER,
    CHANNEL_BREAKER_HEAT,
    CHANNEL_CURRENT,
    CHANNEL_INFO,
    CHANNEL_LOAD,
    CHANNEL_RATING,
    CHANNEL_RCBO_LAST_TEST,
    CHANNEL_RCBO_WATCHED_SINCE,
    CHANNEL_SUPERVISION_POSITION,
    CHANNEL_TRIP_FORECAST,
    CURRENT,
    EMERGENCY_STOP,
    FREQUENCY,
    INPUT_RATING,
    NEUTRAL,
    PHASE_UNBALANCE,
    POWER_UP_TIME,
    RCBO_TEST_PERIOD,
    SUPPLY_FREQUENCY_BAND,
    SWITCH_DISCONNECTOR,
    TEMPERATURE,
    UP,
    UPTIME,
    VOLTAGE,
    VOLTAGE_MISSING,
    VOLTAGE_THD,
    VOLTAGE_UNBALANCE,
)

FREQUENCY_BANDS: Mapping[str, float] = {
    name: band.value for name, band in limits.FREQUENCY_BANDS.items()
}
"""Allowed frequency deviation by kind of supply; each unit's band follows its ``supply``
in the exporter's config and is served as ``c12_supply_frequency_band_ratio``."""


@dataclass(frozen=True)
class Config:
    """Selector, thresholds and durations of the generated rules."""

    selector: str = 'job="c12"'
    """Label matchers added to every c12 metric (and to ``up``); empty for none."""
    unit_labels: tuple[str, ...] = ("job", "instance", "pdu")
    """Labels that identify one unit's series; used in ``on(...)`` joins."""
    runbook_url: str = "https://github.com/c12exporter/c12exporter/blob/main/docs/runbook.md"
    """Base of every ``runbook_url``; the anchor is the lowercased alert name."""

    nominal_voltage_v: float = limits.NOMINAL_VOLTAGE.value
    voltage_tolerance: float = limits.VOLTAGE_TOLERANCE.value
    voltage_unbalance_max: float = limits.VOLTAGE_UNBALANCE_MAX.value
    voltage_thd_max: float = limits.VOLTAGE_THD_MAX.value
    nominal_frequency_hz: float = limits.NOMINAL_FREQUENCY.value

    near_rating_ratio: float = limits.NEAR_RATING_RATIO.value
    over_rating_ratio: float = limits.OVER_RATING_RATIO.value
    trip_forecast_warning_s: float = limits.TRIP_FORECAST_WARNING.value
    trip_heat_warning: float = limits.TRIP_HEAT_WARNING.value
    trip_heat_clear: float = limits.TRIP_HEAT_CLEAR.value
    non_tripping_multiple: float = EN_60947_2_MAGNETIC_HYDRAULIC.non_tripping_multiple
    """Only for descriptions: the built-in models' RCBOs never trip at or below this."""
    input_near_rating_ratio: float = limits.INPUT_NEAR_RATING_RATIO.value
    input_over_rating_ratio: float = limits.INPUT_OVER_RATING_RATIO.value
    neutral_min_current_a: float = limits.NEUTRAL_MIN_CURRENT.value
    imbalance_max_ratio: float = limits.IMBALANCE_MAX_RATIO.value
    imbalance_min_average_a: float = limits.IMBALANCE_MIN_AVERAGE.value

    temperature_warning_c: float = limits.TEMPERATURE_WARNING.value
    temperature_limit_c: float = limits.TEMPERATURE_LIMIT.value
    temperature_minimum_c: float = limits.TEMPERATURE_MINIMUM.value

    recent_power_up_s: float = limits.RECENT_POWER_UP.value
    rcbo_test_period_s: float = limits.RCBO_TEST_PERIOD.value
    """Only for the description: the period in force is the exporter's (``history:
    rcbo_test_period``, default this), served as ``c12_rcbo_test_period_seconds``."""
    energy_reset_window: str = "30m"
    """How long C12EnergyCounterReset fires after a restart is first seen."""
    power_up_lookback: str = "1d"
    """How far back a restart is compared against: a restart while Prometheus saw nothing
    of the unit for longer than this is not noticed."""
    power_up_jitter_s: float = limits.POWER_UP_JITTER.value

    for_durations: Mapping[str, str] = field(
        default_factory=lambda: {
            "C12ExporterDown": "5m",
            "C12UnitDown": "5m",
            "C12EmergencyStopPressed": "0s",
            "C12NeutralLost": "0s",
            "C12SwitchDisconnectorOff": "1m",
            "C12TemperatureNearLimit": "5m",
            "C12TemperatureOverLimit": "1m",
            "C12TemperatureBelowMinimum": "5m",
            "C12EnergyCounterReset": "0s",
            "C12ChannelBreakerOpen": "1m",
            "C12ChannelOutsideSupervisionBand": "1m",
            "C12ChannelNearRating": "5m",
            "C12ChannelOverRating": "1m",
            "C12ChannelSeriousOverload": "0s",
            "C12ChannelTripForecast": "0s",
            "C12AuxSocketMayBeOverloaded": "5m",
            "C12RcboTestOverdue": "10m",
            "C12PhaseVoltageOutOfRange": "2m",
            "C12PhaseVoltageUnbalance": "10m",
            "C12VoltageTHDHigh": "5m",
            "C12FrequencyOutOfRange": "2m",
            "C12MeterPhaseSilent": "2m",
            "C12NeutralCurrentAbovePhases": "5m",
            "C12InputNearRating": "1m",
            "C12InputOverRating": "0s",
            "C12PhaseCurrentImbalance": "15m",
        }
    )
    """``for`` of each alert: how long the condition must hold before it fires."""


CONFIG = Config()

OUTPUT = Path(__file__).with_name("c12-alerts.yml")
HEADER = (
    "# Generated by alerts/generate.py from its CONFIG: edit that, not this file, then run\n"
    "#   python -m alerts.generate\n"
)

CHANNEL_REF = "channel {{ $labels.channel }}{{ with $labels.name }} ({{ . }}){{ end }}"
"""How a description names a channel: number, and its configured name when it has one."""


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    scope: str
    expr: str
    summary: str
    description: str


def _num(value: float) -> str:
    """A threshold as PromQL text, without float noise (230 * 0.9 -> ``207``)."""
    return f"{round(value, 6):g}"


def _pct(ratio: float) -> str:
    return f"{_num(ratio * 100)}%"


class _Promql:
    """Builds selectors and joins for one :class:`Config`."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.on_channel = ", ".join((*cfg.unit_labels, "channel"))
        self.on_unit = ", ".join(cfg.unit_labels)

    def m(self, metric: str, *matchers: str) -> str:
        """``metric{selector, matchers}``."""
        parts = [p for p in (self.cfg.selector, *matchers) if p]
        return f"{metric}{{{', '.join(parts)}}}" if parts else metric

    def with_channel_name(self, expr: str) -> str:
        """Adds the channel's configured ``name`` label from ``c12_channel_info``."""
        return f"(\n  {expr}\n)\n* on({self.on_channel}) group_left(name)\n  {self.m(CHANNEL_INFO)}"

    def phases(self, metric: str) -> str:
        return self.m(metric, 'phase=~"L1|L2|L3"')


def unit_alerts(cfg: Config, q: _Promql) -> list[Alert]:
    uptime = q.m(UPTIME)
    power_up = q.m(POWER_UP_TIME)
    window = cfg.energy_reset_window
    return [
        Alert(
            "C12ExporterDown",
            "critical",
            "exporter",
            f"{q.m('up')} == 0",
            "Prometheus cannot scrape the C12 exporter.",
            "Prometheus has failed to scrape {{ $labels.instance }} (job {{ $labels.job }}) "
            f"for {cfg.for_durations['C12ExporterDown']}: the C12 units behind it are not "
            "watched and none of their alerts can fire.",
        ),
        Alert(
            "C12UnitDown",
            "critical",
            "unit",
            f"{q.m(UP)} == 0",
            "A C12 unit is not answering its polls.",
            "{{ $labels.pdu }} has had no fresh successful poll for "
            f"{cfg.for_durations['C12UnitDown']}: it has lost power, its electronics fuse has "
            "blown, or the network path to it is broken. Its measurement alerts stay silent "
            "until it answers again.",
        ),
        Alert(
            "C12EmergencyStopPressed",
            "critical",
            "unit",
            f"{q.m(EMERGENCY_STOP)} == 1",
            "The emergency stop of a C12 unit is pressed: all its outputs are dead.",
            "The emergency stop of {{ $labels.pdu }} is pressed: the switch disconnector has "
            "tripped and all its outputs are dead.",
        ),
        Alert(
            "C12NeutralLost",
            "critical",
            "unit",
            f"{q.m(NEUTRAL)} == 1",
            "A C12 unit has lost the neutral at its input and tripped its switch disconnector.",
            "{{ $labels.pdu }} reports a lost neutral at its power input and has tripped its "
            "switch disconnector. Without a neutral the phase voltages float: a qualified "
            "electrician must inspect the supply wiring before the switch goes back ON.",
        ),
        Alert(
            "C12SwitchDisconnectorOff",
            "warning",
            "unit",
            f"{q.m(SWITCH_DISCONNECTOR)} == 0",
            "The switch disconnector of a C12 unit is OFF: all its outputs are dead.",
            "The switch disconnector of {{ $labels.pdu }} has been OFF for "
            f"{cfg.for_durations['C12SwitchDisconnectorOff']}: all its outputs are dead. The "
            "meter sits before the switch, so supply voltages are still read.",
        ),
        Alert(
            "C12TemperatureNearLimit",
            "warning",
            "unit",
            f"{q.m(TEMPERATURE)} > {_num(cfg.temperature_warning_c)}",
            f"A C12 unit is close to its {_num(cfg.temperature_limit_c)} °C ambient limit.",
            'The ambient at {{ $labels.pdu }} is {{ $value | printf "%.1f" }} °C, above '
            f"{_num(cfg.temperature_warning_c)} °C and close to the "
            f"{_num(cfg.temperature_limit_c)} °C limit.",
        ),
        Alert(
            "C12TemperatureOverLimit",
            "critical",
            "unit",
            f"{q.m(TEMPERATURE)} > {_num(cfg.temperature_limit_c)}",
            f"A C12 unit is above its {_num(cfg.temperature_limit_c)} °C ambient limit.",
            'The ambient at {{ $labels.pdu }} is {{ $value | printf "%.1f" }} °C, above '
            f"{_num(cfg.temperature_limit_c)} °C: the manual forbids using the unit there.",
        ),
        Alert(
            "C12TemperatureBelowMinimum",
            "warning",
            "unit",
            f"{q.m(TEMPERATURE)} < {_num(cfg.temperature_minimum_c)}",
            f"A C12 unit is below its {_num(cfg.temperature_minimum_c)} °C ambient minimum.",
            'The ambient at {{ $labels.pdu }} is {{ $value | printf "%.1f" }} °C, below '
            f"{_num(cfg.temperature_minimum_c)} °C: the manual's operating range is "
            f"{_num(cfg.temperature_minimum_c)}-{_num(cfg.temperature_limit_c)} °C.",
        ),
        Alert(
            "C12EnergyCounterReset",
            "warning",
            "unit",
            f"{uptime} < {_num(cfg.recent_power_up_s)}\n"
            + "".join(
                f"or\n{uptime}\n  and on({q.on_unit})\n"
                f"  max_over_time({power_up}[{window}])\n  - {before}\n"
                f"  > {_num(cfg.power_up_jitter_s)}\n"
                for before in (
                    f"min_over_time({power_up}[{window}])",
                    f"max_over_time({power_up}[{cfg.power_up_lookback}] offset {window})",
                )
            ).rstrip("\n"),
            "A C12 unit lost power and its energy counter restarted from zero.",
            "{{ $labels.pdu }} was powered up {{ $value | humanizeDuration }} ago: it lost "
            "power (or was just connected) and its kWh counter restarted from zero. Its "
            "uptime says so even when the counter has passed its old value again.",
        ),
    ]


def channel_alerts(cfg: Config, q: _Promql) -> list[Alert]:
    current = q.m(CHANNEL_CURRENT)
    ratio = f"{current} / {q.m(CHANNEL_RATING)}"
    breaker_closed = f"{q.m(CHANNEL_BREAKER)} == 1"
    position = q.m(CHANNEL_SUPERVISION_POSITION)

    def current_where(condition: str) -> str:
        return f"{current} and on({q.on_channel}) {condition}"

    supervision_out = "\n  or\n  ".join(
        f"label_replace(\n    {current_where(f'{position} {op} 0')},\n"
        f'    "state", "{side}", "", ""\n  )'
        for op, side in (("<", "below"), (">", "above"))
    )
    serious = current_where(f"{q.m(CHANNEL_LOAD)} == 3")
    exporter_labels = ", ".join(label for label in cfg.unit_labels if label != "pdu")
    heat = q.m(CHANNEL_BREAKER_HEAT)
    forecast = q.m(CHANNEL_TRIP_FORECAST)
    forecast_query = (
        f'{{{{ with printf "{CHANNEL_TRIP_FORECAST}{{pdu=%q,channel=%q}}" '
        "$labels.pdu $labels.channel | query }}: at its present current it trips in "
        "{{ . | first | value | humanizeDuration }}{{ end }}"
    )
    aux_rating = q.m(AUX_SOCKET_RATING)
    rating_query = (
        f'{{{{ with printf "{AUX_SOCKET_RATING}{{pdu=%q,channel=%q}}" '
        "$labels.pdu $labels.channel | query }}{{ . | first | value }}{{ end }}"
    )
    return [
        Alert(
            "C12ChannelBreakerOpen",
            "warning",
            "channel",
            q.with_channel_name(f"{q.m(CHANNEL_BREAKER)} == 0"),
            "An RCBO of a C12 unit is open: that output is dead.",
            "The RCBO of {{ $labels.pdu }} " + CHANNEL_REF + " is open: the output is dead. "
            "It tripped on overcurrent or earth leakage, was tested with its T button, or "
            "was switched off by hand.",
        ),
        Alert(
            "C12ChannelOutsideSupervisionBand",
            "warning",
            "channel",
            q.with_channel_name(supervision_out),
            "A C12 channel draws a current outside its supervision band.",
            "{{ $labels.pdu }} " + CHANNEL_REF + ' draws {{ $value | printf "%.2f" }} A, '
            "{{ $labels.state }} the supervision band set for it.",
        ),
        Alert(
            "C12ChannelNearRating",
            "warning",
            "channel",
            q.with_channel_name(f"{ratio} > {_num(cfg.near_rating_ratio)}\n  and {breaker_closed}"),
            "A C12 channel is loaded close to its RCBO rating.",
            "{{ $labels.pdu }} " + CHANNEL_REF + " has drawn {{ $value | humanizePercentage }} "
            f"of its RCBO rating for {cfg.for_durations['C12ChannelNearRating']} "
            f"(warning above {_pct(cfg.near_rating_ratio)}): little headroom is left.",
        ),
        Alert(
            "C12ChannelOverRating",
            "critical",
            "channel",
            q.with_channel_name(f"{ratio} > {_num(cfg.over_rating_ratio)}\n  and {breaker_closed}"),
            "A C12 channel is loaded above its RCBO rating.",
            "{{ $labels.pdu }} " + CHANNEL_REF + " draws {{ $value | humanizePercentage }} of "
            f"its RCBO rating. Up to {_pct(cfg.non_tripping_multiple)} its breaker never trips; "
            "above that it trips after a delay that shrinks as the overload grows (the "
            "channel's trip forecast says when).",
        ),
        Alert(
            "C12ChannelSeriousOverload",
            "critical",
            "channel",
            q.with_channel_name(serious),
            "A C12 channel is in serious overload: its RCBO is about to trip.",
            "{{ $labels.pdu }} " + CHANNEL_REF + ' draws {{ $value | printf "%.1f" }} A and '
            "its load LED flashes red fast (serious overload): its RCBO is about to trip.",
        ),
        Alert(
            "C12ChannelTripForecast",
            "critical",
            "channel",
            q.with_channel_name(
                f"(\n    {heat} >= {_num(cfg.trip_heat_warning)}\n"
                f"    or {heat}\n      and on({q.on_channel}) {forecast} < "
                f"{_num(cfg.trip_forecast_warning_s)}\n"
                f"    or {heat} >= {_num(cfg.trip_heat_clear)}\n"
                f"      and on({q.on_channel}) "
                f'ALERTS{{alertname="C12ChannelTripForecast", alertstate="firing"}}\n'
                f"  )\n  and on({q.on_channel}) {breaker_closed}"
            ),
            "A C12 channel's RCBO is close to an overcurrent trip.",
            "The RCBO of {{ $labels.pdu }} " + CHANNEL_REF + " has taken "
            "{{ $value | humanizePercentage }} of the heat that trips it"
            + forecast_query
            + ". It fires with a trip due within "
            f"{_num(cfg.trip_forecast_warning_s / 60)} minutes or at "
            f"{_pct(cfg.trip_heat_warning)} heat and holds until the heat is under "
            f"{_pct(cfg.trip_heat_clear)}: shed or move load now.",
        ),
        Alert(
            "C12AuxSocketMayBeOverloaded",
            "warning",
            "channel",
            q.with_channel_name(
                f"{current}\n    > on({q.on_channel}) {aux_rating}\n"
                f"  and on({q.on_channel}) {aux_rating}\n"
                f"    < on({q.on_channel}) {q.m(CHANNEL_RATING)}"
            ),
            "The channel of a C12 unit's aux socket draws more than the socket is rated for.",
            "{{ $labels.pdu }} " + CHANNEL_REF + ' draws {{ $value | printf "%.1f" }} A, more '
            f"than the {rating_query} A its aux socket is rated for. The unit measures the "
            "main connector and the aux socket of that channel together, so the socket may or "
            "may not be overloaded: check what is plugged into it.",
        ),
        Alert(
            "C12RcboTestOverdue",
            "warning",
            "channel",
            q.with_channel_name(
                f"time() - (\n    {q.m(CHANNEL_RCBO_LAST_TEST)}\n"
                f"    or {q.m(CHANNEL_RCBO_WATCHED_SINCE)}\n  )\n"
                f"  > on({exporter_labels}) group_left()\n"
                f"  {q.m(RCBO_TEST_PERIOD)}"
            ),
            "An RCBO of a C12 unit has not been tested for longer than the test period.",
            "The RCBO of {{ $labels.pdu }} " + CHANNEL_REF + " has not passed a test "
            "for {{ $value | humanizeDuration }} (never, since its history started, if it "
            "has no test): run a test session (c12exporter rcbo-test UNIT --tester NAME); "
            "the manual asks for a test with its T button at least "
            f"monthly (the exporter's history: rcbo_test_period, default "
            f"{_num(cfg.rcbo_test_period_s / 86400)} days).",
        ),
    ]


def supply_alerts(cfg: Config, q: _Promql) -> list[Alert]:
    v_low = cfg.nominal_voltage_v * (1 - cfg.voltage_tolerance)
    v_high = cfg.nominal_voltage_v * (1 + cfg.voltage_tolerance)
    volts = q.m(VOLTAGE)
    f_nominal = _num(cfg.nominal_frequency_hz)
    bands = ", ".join(f"±{_pct(band)} {name}" for name, band in FREQUENCY_BANDS.items())
    return [
        Alert(
            "C12PhaseVoltageOutOfRange",
            "warning",
            "voltage",
            f"{volts} < {_num(v_low)}\nor\n{volts} > {_num(v_high)}",
            "A supply phase voltage of a C12 unit is outside "
            f"{_num(cfg.nominal_voltage_v)} V ±{_pct(cfg.voltage_tolerance)}.",
            '{{ $labels.phase }} of {{ $labels.pdu }} is at {{ $value | printf "%.1f" }} V, '
            f"outside {_num(v_low)}-{_num(v_high)} V ({_num(cfg.nominal_voltage_v)} V "
            f"±{_pct(cfg.voltage_tolerance)}).",
        ),
        Alert(
            "C12PhaseVoltageUnbalance",
            "warning",
            "voltage",
            f"{q.m(VOLTAGE_UNBALANCE)} > {_num(cfg.voltage_unbalance_max)}",
            "The supply voltages of a C12 unit are unbalanced.",
            "The supply voltage unbalance at {{ $labels.pdu }} (negative over positive "
            "sequence, EN 50160's measure) is {{ $value | humanizePercentage }}, above "
            f"{_pct(cfg.voltage_unbalance_max)}.",
        ),
        Alert(
            "C12VoltageTHDHigh",
            "warning",
            "voltage",
            f"{q.m(VOLTAGE_THD)} > {_num(cfg.voltage_thd_max)}",
            "The supply voltage of a C12 unit is distorted "
            f"(THD above {_pct(cfg.voltage_thd_max)}).",
            "The average voltage THD on {{ $labels.phase }} of {{ $labels.pdu }} since "
            "power-up is {{ $value | humanizePercentage }}, above "
            f"{_pct(cfg.voltage_thd_max)}.",
        ),
        Alert(
            "C12FrequencyOutOfRange",
            "warning",
            "supply",
            f"abs({q.m(FREQUENCY)} - {f_nominal}) / {f_nominal}\n"
            f"  > on({q.on_unit}) {q.m(SUPPLY_FREQUENCY_BAND)}",
            "The supply frequency of a C12 unit is outside the band of its supply.",
            "The supply frequency at {{ $labels.pdu }} deviates "
            "{{ $value | humanizePercentage }} from "
            f"{f_nominal} Hz, outside the band of its supply (config 'supply': {bands}).",
        ),
        Alert(
            "C12MeterPhaseSilent",
            "warning",
            "meter",
            f"{q.m(VOLTAGE_MISSING)} == 1",
            "The meter of a C12 unit reads no voltage on one phase (meter fuse blown?).",
            "The meter of {{ $labels.pdu }} reports no voltage on {{ $labels.phase }} while "
            "the unit answers: that phase's 1 AT meter fuse has probably blown. The L1 fuse "
            "also feeds the meter: blown, it stops the meter and every phase reads silent.",
        ),
    ]


def load_alerts(cfg: Config, q: _Promql) -> list[Alert]:
    neutral = q.m(CURRENT, 'phase="N"')
    lines = q.phases(CURRENT)
    avg = f"avg without(phase) ({lines})"
    of_input = f"{q.m(CURRENT)}\n  / ignoring(phase) group_left\n  {q.m(INPUT_RATING)}"
    amps = (
        f'{{{{ with printf "{CURRENT}{{pdu=%q,phase=%q}}" $labels.pdu $labels.phase '
        '| query }}{{ . | first | value | printf "%.1f" }} A, {{ end }}'
    )
    return [
        Alert(
            "C12InputOverRating",
            "critical",
            "load",
            f"{of_input}\n> {_num(cfg.input_over_rating_ratio)}",
            "A phase or the neutral of a C12 unit carries more than the input's rating.",
            "{{ $labels.phase }} of {{ $labels.pdu }} carries " + amps + "{{ $value | "
            "humanizePercentage }} of the unit's input rating (plug, cable and switch "
            "disconnector; the neutral is rated as a phase): shed load now. With LED walls "
            "the neutral can exceed every phase.",
        ),
        Alert(
            "C12InputNearRating",
            "warning",
            "load",
            f"{of_input}\n> {_num(cfg.input_near_rating_ratio)}",
            "A phase or the neutral of a C12 unit is loaded close to the input's rating.",
            "{{ $labels.phase }} of {{ $labels.pdu }} has carried " + amps + "{{ $value | "
            "humanizePercentage }} of the unit's input rating for "
            f"{cfg.for_durations['C12InputNearRating']} (warning above "
            f"{_pct(cfg.input_near_rating_ratio)}): little headroom is left.",
        ),
        Alert(
            "C12NeutralCurrentAbovePhases",
            "warning",
            "load",
            f"{neutral}\n  > ignoring(phase) group_left max without(phase) ({lines})\n"
            f"and\n{neutral} > {_num(cfg.neutral_min_current_a)}",
            "The neutral of a C12 unit carries more current than any phase.",
            'The neutral of {{ $labels.pdu }} carries {{ $value | printf "%.1f" }} A, more '
            "than any phase: triplen harmonics from LED walls and switch-mode supplies add "
            "up in the neutral.",
        ),
        Alert(
            "C12PhaseCurrentImbalance",
            "warning",
            "load",
            f"{q.m(PHASE_UNBALANCE)} > {_num(cfg.imbalance_max_ratio)}\n"
            f"and on({q.on_unit})\n{avg} > {_num(cfg.imbalance_min_average_a)}",
            "The phase currents of a C12 unit are badly unbalanced.",
            "The phase current unbalance of {{ $labels.pdu }} (NEMA MG-1: the largest "
            f"deviation from the mean, over the mean; {PHASE_UNBALANCE}) is "
            "{{ $value | humanizePercentage }}, above "
            f"{_pct(cfg.imbalance_max_ratio)}.",
        ),
    ]


GROUPS = (
    ("c12-unit", unit_alerts),
    ("c12-channel", channel_alerts),
    ("c12-supply", supply_alerts),
    ("c12-load", load_alerts),
)


def _rule(cfg: Config, alert: Alert) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
    duration = cfg.for_durations[alert.name]
    if duration not in ("0", "0s", "0m"):
        rule["for"] = duration
    rule["labels"] = {"severity": alert.severity, "scope": alert.scope}
    rule["annotations"] = {
        "summary": alert.summary,
        "description": alert.description,
        "runbook_url": f"{cfg.runbook_url}#{alert.name.lower()}",
    }
    return rule


def rule_groups(cfg: Config = CONFIG) -> dict[str, Any]:
    """The rules file as data: ``{"groups": [...]}``."""
    q = _Promql(cfg)
    groups: list[dict[str, Any]] = [
        {"name": name, "rules": [_rule(cfg, a) for a in make(cfg, q)]} for name, make in GROUPS
    ]
    names = [r["alert"] for g in groups for r in g["rules"]]
    missing = sorted(set(names) - set(cfg.for_durations))
    unused = sorted(set(cfg.for_durations) - set(names))
    if missing or unused:
        raise ValueError(f"Config.for_durations: missing {missing}, unknown {unused}")
    return {"groups": groups}


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line PromQL, plain style elsewhere."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(cfg: Config = CONFIG) -> str:
    """The text of ``c12-alerts.yml`` for ``cfg``."""
    body = yaml.dump(
        rule_groups(cfg),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 16,
        indent=2,
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="file to write")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from the generated rules"
    )
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m alerts.generate", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
