"""Generate the C12 Grafana dashboards as code (``dashboards/c12-*.json``).

Built with grafana-foundation-sdk (the build for Grafana 11.6); run::

    python -m dashboards.generate            # from the repository root: rewrite the JSON
    python -m dashboards.generate --check    # exit 1 if a committed file is stale

Three dashboards, each with a ``datasource`` variable (any Prometheus) and a ``job``
variable (the scrape job of the exporter):

- ``c12-fleet``: every unit on one page, the web interface's overview pane for a
  whole warehouse: poll state, safety alarms, phase and neutral currents.
- ``c12-unit``: one unit (``pdu`` variable): supply, phases, energy, temperature,
  and its channels in one row per output connector, named from ``c12_channel_info``.
- ``c12-energy``: kWh per unit and per period from ``increase()`` on the energy
  counter, which stays correct when a unit's counter resets at power loss.

Panel thresholds (voltage band, 80 % of rating, 45 °C...) come from the alert
generator's ``CONFIG`` in ``alerts/generate.py`` (whose defaults are
:mod:`c12exporter.limits`), so dashboards and alerts agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    common,
    dashboard,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from alerts.generate import CONFIG, FREQUENCY_BANDS
from c12exporter import catalogue as metric

HERE = Path(__file__).resolve().parent


LIMITS = CONFIG
FREQUENCY_TOLERANCE: float = FREQUENCY_BANDS["grid"]
"""The band the frequency panels colour: the grid's. A unit on a generator is judged by
its own, wider band (``c12_supply_frequency_band_ratio``), which the alert uses."""

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
JOB = 'job=~"$job"'
UNIT = f'{JOB}, pdu="$pdu"'
ON_UNIT = "job, instance, pdu"
ON_CHANNEL = f"{ON_UNIT}, channel"
TAGS = ["c12", "power"]
JOULES_PER_KWH = 3_600_000  # also var-seconds per kvarh

LOAD_LEVELS: Mapping[int, tuple[str, str]] = {
    0: ("off", "text"),
    1: ("normal", "green"),
    2: ("slight overload", "orange"),
    3: ("serious overload", "red"),
}
"""``c12_channel_load_level`` value -> (text, colour)."""

SUPERVISION_POSITIONS: Mapping[int, tuple[str, str]] = {
    -1: ("below band", "orange"),
    0: ("ok", "green"),
    1: ("above band", "red"),
}
"""``c12_channel_supervision_position`` value -> (text, colour); no series: disabled."""

Color = str
Mapping01 = Mapping[int, tuple[str, Color]]
UP: Mapping01 = {0: ("DOWN", "red"), 1: ("up", "green")}
ESTOP: Mapping01 = {0: ("released", "green"), 1: ("PRESSED", "red")}
SWITCH: Mapping01 = {0: ("OFF", "red"), 1: ("ON", "green")}
NEUTRAL: Mapping01 = {0: ("present", "green"), 1: ("LOST", "red")}
SUPERVISION_WARNING: Mapping01 = {0: ("ok", "green"), 1: ("warning", "orange")}
BREAKER: Mapping01 = {0: ("open", "red"), 1: ("closed", "green")}

# --------------------------------------------------------------------------- helpers

P = TypeVar("P", timeseries.Panel, stat.Panel, table.Panel, statetimeline.Panel, bargauge.Panel)


def query(
    expr: str, legend: str = "", *, ref: str = "A", instant: bool = False, as_table: bool = False
) -> prometheus.Dataquery:
    """A Prometheus target on the dashboard's ``${datasource}``."""
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if as_table:
        q = q.format(PromQueryFormat.TABLE)
    return q


def panel(
    builder: P,
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 12,
    height: int = 8,
) -> P:
    """Title, description, unit, size and targets: what every panel here has."""
    builder = (
        builder.title(title)
        .description(description)
        .unit(unit)
        .datasource(DATASOURCE)
        .span(width)
        .height(height)
    )
    for target in targets:
        builder = builder.with_target(target)
    return builder


def steps(*pairs: tuple[float | None, Color]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=v, color=c) for v, c in pairs])
    )


def value_map(states: Mapping[int, tuple[str, Color]]) -> list[models.ValueMapping]:
    return [
        models.ValueMap(
            options={
                str(value): models.ValueMappingResult(text=text, color=color, index=i)
                for i, (value, (text, color)) in enumerate(sorted(states.items()))
            }
        )
    ]


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prometheus.Dataquery],
    *,
    width: int = 12,
    limits: dashboard.ThresholdsConfig | None = None,
) -> timeseries.Panel:
    p = panel(timeseries.Panel(), title, description, unit, targets, width=width)
    p = p.legend(
        common.VizLegendOptions()
        .display_mode(common_models.LegendDisplayMode.TABLE)
        .placement(common_models.LegendPlacement.RIGHT)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    if limits is not None:
        p = p.thresholds(limits).thresholds_style(
            common.GraphThresholdsStyleConfig().mode(common_models.GraphThresholdsStyleMode.DASHED)
        )
    return p


def state_stat(
    title: str, description: str, expr: str, states: Mapping01, *, width: int = 3
) -> stat.Panel:
    return (
        panel(stat.Panel(), title, description, "none", [query(expr)], width=width, height=4)
        .mappings(value_map(states))
        .color_mode(common_models.BigValueColorMode.BACKGROUND)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    )


def number_stat(
    title: str,
    description: str,
    unit: str,
    expr: str,
    *,
    width: int = 3,
    height: int = 4,
    limits: dashboard.ThresholdsConfig | None = None,
    instant: bool = False,
) -> stat.Panel:
    p = (
        panel(stat.Panel(), title, description, unit, [query(expr, instant=instant)], width=width)
        .height(height)
        .graph_mode(common_models.BigValueGraphMode.AREA)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
    )
    if limits is not None:
        p = p.thresholds(limits).color_mode(common_models.BigValueColorMode.VALUE)
    return p


def state_timeline(
    title: str, description: str, expr: str, legend: str, states: Mapping01
) -> statetimeline.Panel:
    return (
        panel(statetimeline.Panel(), title, description, "none", [query(expr, legend)])
        .mappings(value_map(states))
        .color_scheme(dashboard.FieldColor().mode(models.FieldColorModeId.THRESHOLDS))
        .show_value(common_models.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.8)
    )


def table_panel(
    title: str,
    description: str,
    columns: Sequence[tuple[str, str, str]],
    *,
    keys: Sequence[str],
    width: int = 24,
    height: int = 8,
) -> table.Panel:
    """One instant table query per column, merged on ``keys``, columns renamed.

    :param columns: (header, unit, expr) per value column; expr must keep only ``keys``.
    """
    refs = [chr(ord("A") + i) for i in range(len(columns))]
    targets = [
        query(expr, ref=ref, instant=True, as_table=True)
        for ref, (_, _, expr) in zip(refs, columns, strict=True)
    ]
    # Grafana names the value column "Value" for one query and "Value #<refId>" for several.
    value_names = ["Value"] if len(columns) == 1 else [f"Value #{ref}" for ref in refs]
    rename = {value: header for value, (header, _, _) in zip(value_names, columns, strict=True)}
    order = {name: i for i, name in enumerate([*keys, *rename])}  # keyed by original names
    p = panel(table.Panel(), title, description, "none", targets, width=width, height=height)
    p = p.with_transformation(models.DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(
        models.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True},
                "renameByName": rename,
                "indexByName": order,
            },
        )
    )
    for header, unit, _ in columns:
        if unit != "none":
            p = p.override_by_name(header, [models.DynamicConfigValue(id_val="unit", value=unit)])
    return p


def colour_column(p: table.Panel, header: str, states: Mapping01) -> table.Panel:
    """Show a 0/1/2/3-coded column as coloured text."""
    return p.override_by_name(
        header,
        [
            models.DynamicConfigValue(id_val="mappings", value=value_map(states)),
            models.DynamicConfigValue(
                id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}
            ),
        ],
    )


def links() -> list[dashboard.DashboardLink]:
    return [
        dashboard.DashboardLink("C12 dashboards")
        .type(models.DashboardLinkType.DASHBOARDS)
        .tags(["c12"])
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    ]


def base(uid: str, title: str, description: str) -> dashboard.Dashboard:
    """A dashboard with the ``datasource`` and ``job`` variables every C12 board has."""
    d = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard.DatasourceVariable("datasource")
            .label("Data source")
            .description("The Prometheus that scrapes the c12exporter")
            .type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("job")
            .label("Job")
            .description("Scrape job(s) of the c12exporter")
            .datasource(DATASOURCE)
            .query(f"label_values({metric.UP}, job)")
            .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(models.VariableSort.ALPHABETICAL_ASC)
            .include_all(True)
            .all_value(".+")
            .current(models.VariableOption(selected=True, text="All", value="$__all"))
        )
    )
    for link in links():
        d = d.link(link)
    return d


def pdu_variable(*, multi: bool) -> dashboard.QueryVariable:
    v = (
        dashboard.QueryVariable("pdu")
        .label("Unit")
        .description("The C12 unit (pdu label: its configured name)")
        .datasource(DATASOURCE)
        .query(f"label_values({metric.UP}{{{JOB}}}, pdu)")
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        v = v.multi(True).include_all(True).all_value(".+")
        v = v.current(models.VariableOption(selected=True, text="All", value="$__all"))
    return v


def _number_panels(d: models.Dashboard) -> models.Dashboard:
    """Stable panel ids in layout order (rows included)."""
    for i, p in enumerate(d.panels or [], start=1):
        p.id_val = i
    return d


# --------------------------------------------------------------------------- fleet


def fleet_table() -> table.Panel:
    def by_pdu(expr: str) -> str:
        return f"max by(pdu) ({expr})"

    def current(phase: str) -> str:
        return by_pdu(f'{metric.CURRENT}{{{JOB}, phase="{phase}"}}')

    columns = [
        ("Poll", "none", by_pdu(f"{metric.UP}{{{JOB}}}")),
        ("E-stop", "none", by_pdu(f"{metric.EMERGENCY_STOP}{{{JOB}}}")),
        ("Switch", "none", by_pdu(f"{metric.SWITCH_DISCONNECTOR}{{{JOB}}}")),
        ("Neutral", "none", by_pdu(f"{metric.NEUTRAL}{{{JOB}}}")),
        ("Supervision", "none", by_pdu(f"{metric.SUPERVISION_WARNING}{{{JOB}}}")),
        ("L1", "amp", current("L1")),
        ("L2", "amp", current("L2")),
        ("L3", "amp", current("L3")),
        ("N", "amp", current("N")),
        ("Power", "watt", by_pdu(f"{metric.ACTIVE_POWER}{{{JOB}}}")),
        ("Temperature", "celsius", by_pdu(f"{metric.TEMPERATURE}{{{JOB}}}")),
    ]
    p = table_panel(
        "Units",
        "Every C12 unit: poll state, safety alarms (emergency stop, switch disconnector, "
        "loss of neutral, a channel outside its supervision band: the web interface's "
        "warning triangle) and L1/L2/L3/N currents. A unit that does not answer shows DOWN "
        "and no measurements.",
        columns,
        keys=["pdu"],
        height=12,
    )
    for header, states in (
        ("Poll", UP),
        ("E-stop", ESTOP),
        ("Switch", SWITCH),
        ("Neutral", NEUTRAL),
        ("Supervision", SUPERVISION_WARNING),
    ):
        p = colour_column(p, header, states)
    p = p.override_by_name(
        "pdu",
        [
            models.DynamicConfigValue(id_val="displayName", value="Unit"),
            models.DynamicConfigValue(
                id_val="links",
                value=[
                    {
                        "title": "Open unit ${__value.text}",
                        "url": "/d/c12-unit?var-datasource=${datasource}&var-job=${job}"
                        "&var-pdu=${__value.text}&${__url_time_range}",
                    }
                ],
            ),
        ],
    )
    return p.sort_by([common.TableSortByFieldState().display_name("Unit")])


def outside_band(selector: str) -> str:
    """Channels outside their supervision band, valued 1, labelled ``state`` below/above."""
    position = f"{metric.CHANNEL_SUPERVISION_POSITION}{{{selector}}}"
    return (
        f'abs(\n    label_replace({position} < 0, "state", "below", "", "")\n'
        f'    or label_replace({position} > 0, "state", "above", "", "")\n  )'
    )


def fleet() -> models.Dashboard:
    any_count = "count({expr}) or vector(0)"
    outside = outside_band(JOB)
    d = base(
        "c12-fleet",
        "C12 fleet",
        "Every StageSmarts C12B unit the exporter polls: health, safety chain, currents.",
    )
    d = (
        d.with_panel(
            number_stat(
                "Units up",
                "Units whose last poll succeeded and is fresh.",
                "none",
                f"sum({metric.UP}{{{JOB}}})",
                width=4,
            )
        )
        .with_panel(
            number_stat(
                "Units down",
                "Units that do not answer (power lost, electronics fuse, network).",
                "none",
                any_count.format(expr=f"{metric.UP}{{{JOB}}} == 0"),
                width=4,
                limits=steps((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            number_stat(
                "Safety trips",
                "Units whose switch disconnector was tripped by the emergency stop or the "
                "loss-of-neutral sensor.",
                "none",
                any_count.format(
                    expr=f"{metric.EMERGENCY_STOP}{{{JOB}}} == 1 or {metric.NEUTRAL}{{{JOB}}} == 1"
                ),
                width=4,
                limits=steps((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            number_stat(
                "Switched off",
                "Units whose switch disconnector is OFF (all outputs dead).",
                "none",
                any_count.format(expr=f"{metric.SWITCH_DISCONNECTOR}{{{JOB}}} == 0"),
                width=4,
                limits=steps((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            number_stat(
                "Channels outside band",
                "Channels whose current is outside their supervision band.",
                "none",
                any_count.format(expr=f"{metric.CHANNEL_SUPERVISION_POSITION}{{{JOB}}} != 0"),
                width=4,
                limits=steps((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            number_stat(
                "Fleet power",
                "Total active power of all units that answer.",
                "watt",
                f"sum({metric.ACTIVE_POWER}{{{JOB}}})",
                width=4,
            )
        )
        .with_panel(fleet_table())
        .with_panel(
            table_panel(
                "Channels outside their supervision band",
                "Every channel, on any unit, whose current is below or above the supervision "
                "band set for it, with its configured name and present current.",
                [
                    (
                        "Current",
                        "amp",
                        f"max by(pdu, channel, name, state) (\n  {outside}\n"
                        f"  * on({ON_CHANNEL}) group_left(name) {metric.CHANNEL_INFO}{{{JOB}}}\n"
                        f"  * on({ON_CHANNEL}) group_left {metric.CHANNEL_CURRENT}{{{JOB}}}\n)",
                    )
                ],
                keys=["pdu", "channel", "name", "state"],
                height=6,
            )
        )
        .with_row(dashboard.Row("Trends"))
        .with_panel(
            timeseries_panel(
                "Phase and neutral currents",
                "L1, L2, L3 and N current of every unit. N above the phases means triplen "
                "harmonics (LED walls, switch-mode supplies).",
                "amp",
                [query(f"{metric.CURRENT}{{{JOB}}}", "{{pdu}} {{phase}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Active power",
                "Total active power of every unit.",
                "watt",
                [query(f"{metric.ACTIVE_POWER}{{{JOB}}}", "{{pdu}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Temperature",
                "Ambient (inlet air) temperature at each unit; the manual's limit is "
                f"{LIMITS.temperature_limit_c:g} °C ambient.",
                "celsius",
                [query(f"{metric.TEMPERATURE}{{{JOB}}}", "{{pdu}}")],
                limits=steps(
                    (None, "green"),
                    (LIMITS.temperature_warning_c, "orange"),
                    (LIMITS.temperature_limit_c, "red"),
                ),
            )
        )
        .with_panel(
            state_timeline(
                "Poll state",
                "Whether each unit answered its polls over time.",
                f"{metric.UP}{{{JOB}}}",
                "{{pdu}}",
                UP,
            )
        )
        .with_row(dashboard.Row("Exporter"))
        .with_panel(
            timeseries_panel(
                "Poll duration",
                "Duration of each unit's last poll over Modbus TCP.",
                "s",
                [query(f"{metric.POLL_DURATION}{{{JOB}}}", "{{pdu}}")],
            )
        )
        .with_panel(
            timeseries_panel(
                "Poll errors",
                "Failed polls per second by unit and reason (connect, timeout, protocol...).",
                "cps",
                [
                    query(
                        f"sum by(pdu, reason) "
                        f"(rate({metric.POLL_ERRORS}{{{JOB}}}[$__rate_interval]))",
                        "{{pdu}} {{reason}}",
                    )
                ],
            )
        )
    )
    return _number_panels(d.build())


# --------------------------------------------------------------------------- unit


def channel_expr(expr: str) -> str:
    """Per-channel ``expr`` of the selected unit and connector, labelled with name and phase."""
    info = f'{metric.CHANNEL_INFO}{{{UNIT}, connector=~"$connector"}}'
    return (
        f"max by(channel, name, phase) (\n  ({expr})\n"
        f"  * on({ON_CHANNEL}) group_left(name, phase) {info}\n)"
    )


def channel_rows(d: dashboard.Dashboard) -> dashboard.Dashboard:
    current = f"{metric.CHANNEL_CURRENT}{{{UNIT}}}"
    rating = f"{metric.CHANNEL_RATING}{{{UNIT}}}"
    load_level = f"{metric.CHANNEL_LOAD}{{{UNIT}}}"
    supervision_position = f"{metric.CHANNEL_SUPERVISION_POSITION}{{{UNIT}}}"
    legend = "{{channel}} {{name}}"
    rating_steps = steps(
        (None, "green"), (LIMITS.near_rating_ratio, "orange"), (LIMITS.over_rating_ratio, "red")
    )
    status = table_panel(
        "Channels",
        "Each channel of this connector: current against its RCBO rating and its supervision "
        "band (min/max, empty when not set), breaker, load LED, supervision state, the "
        "breaker's heat (0 cold, 1 trips) and the expected time until the breaker trips "
        "while the channel is overloaded.",
        [
            ("Current", "amp", channel_expr(current)),
            ("Rating", "amp", channel_expr(rating)),
            ("Load", "percentunit", channel_expr(f"{current} / {rating}")),
            ("Band min", "amp", channel_expr(f"{metric.CHANNEL_SUPERVISION_MIN}{{{UNIT}}}")),
            ("Band max", "amp", channel_expr(f"{metric.CHANNEL_SUPERVISION_MAX}{{{UNIT}}}")),
            ("RCBO", "none", channel_expr(f"{metric.CHANNEL_BREAKER}{{{UNIT}}}")),
            ("Load LED", "none", channel_expr(load_level)),
            ("Supervision", "none", channel_expr(supervision_position)),
            ("Heat", "percentunit", channel_expr(f"{metric.CHANNEL_BREAKER_HEAT}{{{UNIT}}}")),
            ("Trips in", "s", channel_expr(f"{metric.CHANNEL_TRIP_FORECAST}{{{UNIT}}}")),
        ],
        keys=["channel", "name", "phase"],
        height=8,
    )
    status = colour_column(status, "RCBO", BREAKER)
    status = colour_column(status, "Load LED", LOAD_LEVELS)
    status = colour_column(status, "Supervision", SUPERVISION_POSITIONS)
    status = status.override_by_name(
        "Load",
        [
            models.DynamicConfigValue(
                id_val="custom.cellOptions", value={"type": "gauge", "mode": "basic"}
            ),
            models.DynamicConfigValue(id_val="min", value=0),
            models.DynamicConfigValue(id_val="max", value=1.5),
            models.DynamicConfigValue(id_val="thresholds", value=rating_steps.build()),
        ],
    )
    status = status.with_transformation(
        models.DataTransformerConfig(
            id_val="convertFieldType",
            options={"conversions": [{"targetField": "channel", "destinationType": "number"}]},
        )
    ).sort_by([common.TableSortByFieldState().display_name("channel")])

    return (
        d.with_row(dashboard.Row("Connector $connector").repeat("connector"))
        .with_panel(status.span(24))
        .with_panel(
            timeseries_panel(
                "Channel load (share of RCBO rating)",
                "Channel current divided by its RCBO rating. Warning at "
                f"{LIMITS.near_rating_ratio:.0%}; above 100 % the breaker trips after a delay.",
                "percentunit",
                [query(channel_expr(f"{current} / {rating}"), legend)],
                limits=rating_steps,
            )
        )
        .with_panel(
            timeseries_panel(
                "Channel current",
                "Output current of each channel of this connector.",
                "amp",
                [query(channel_expr(current), legend)],
            )
        )
        .with_panel(
            state_timeline(
                "RCBO",
                "Breaker of each channel: closed, or open (tripped, tested or switched off).",
                channel_expr(f"{metric.CHANNEL_BREAKER}{{{UNIT}}}"),
                legend,
                BREAKER,
            )
        )
        .with_panel(
            state_timeline(
                "Load LED",
                "The load LED above each breaker: off, normal (green), slight overload (slow "
                "red flash), serious overload (fast red flash).",
                channel_expr(load_level),
                legend,
                LOAD_LEVELS,
            )
        )
        .with_panel(
            state_timeline(
                "Supervision",
                "Channel current against its supervision band: below, ok, above; no line "
                "while supervision is disabled.",
                channel_expr(supervision_position),
                legend,
                SUPERVISION_POSITIONS,
            ).span(24)
        )
    )


def unit() -> models.Dashboard:
    v_low = LIMITS.nominal_voltage_v * (1 - LIMITS.voltage_tolerance)
    v_high = LIMITS.nominal_voltage_v * (1 + LIMITS.voltage_tolerance)
    f_low = LIMITS.nominal_frequency_hz * (1 - FREQUENCY_TOLERANCE)
    f_high = LIMITS.nominal_frequency_hz * (1 + FREQUENCY_TOLERANCE)
    phase_legend = "{{phase}}"
    d = base(
        "c12-unit",
        "C12 unit",
        "One StageSmarts C12B unit: safety chain, supply quality, phases, energy, "
        "temperature and its channels by output connector.",
    )
    d = d.with_variable(pdu_variable(multi=False)).with_variable(
        dashboard.QueryVariable("connector")
        .label("Connector")
        .description("Output connectors of the unit (one row each)")
        .datasource(DATASOURCE)
        .query(f"label_values({metric.CHANNEL_INFO}{{{UNIT}}}, connector)")
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .current(models.VariableOption(selected=True, text="All", value="$__all"))
    )
    d = (
        d.with_panel(
            state_stat("Poll", "Whether the unit answers its polls.", f"{metric.UP}{{{UNIT}}}", UP)
        )
        .with_panel(
            state_stat(
                "Emergency stop",
                "Pressed: the switch disconnector tripped and all outputs are dead.",
                f"{metric.EMERGENCY_STOP}{{{UNIT}}}",
                ESTOP,
            )
        )
        .with_panel(
            state_stat(
                "Switch disconnector",
                "OFF: all outputs dead (voltages are still metered: the meter is before it).",
                f"{metric.SWITCH_DISCONNECTOR}{{{UNIT}}}",
                SWITCH,
            )
        )
        .with_panel(
            state_stat(
                "Neutral",
                "LOST: the loss-of-neutral sensor tripped the switch disconnector.",
                f"{metric.NEUTRAL}{{{UNIT}}}",
                NEUTRAL,
            )
        )
        .with_panel(
            state_stat(
                "Supervision",
                "Warning when any channel is outside its supervision band.",
                f"{metric.SUPERVISION_WARNING}{{{UNIT}}}",
                SUPERVISION_WARNING,
            )
        )
        .with_panel(
            number_stat(
                "Temperature",
                "Ambient temperature at the unit; do not use above "
                f"{LIMITS.temperature_limit_c:g} °C.",
                "celsius",
                f"{metric.TEMPERATURE}{{{UNIT}}}",
                limits=steps(
                    (None, "green"),
                    (LIMITS.temperature_warning_c, "orange"),
                    (LIMITS.temperature_limit_c, "red"),
                ),
            )
        )
        .with_panel(
            number_stat(
                "Frequency",
                f"Supply frequency; coloured by the grid band {f_low:g}-{f_high:g} Hz (a unit on "
                "a generator is judged by its own, wider band).",
                "hertz",
                f"{metric.FREQUENCY}{{{UNIT}}}",
                limits=steps((None, "red"), (f_low, "green"), (f_high, "red")),
            )
        )
        .with_panel(
            number_stat(
                "Uptime",
                "Time since the unit was last powered up (its kWh counter restarted then).",
                "s",
                f"{metric.UPTIME}{{{UNIT}}}",
            )
        )
        .with_panel(
            panel(
                table.Panel(),
                "Identity",
                "Model, serial, firmware, output layout, aux socket and address of the unit.",
                "none",
                [query(f"{metric.UNIT_INFO}{{{UNIT}}}", instant=True, as_table=True)],
                width=24,
                height=3,
            ).with_transformation(
                models.DataTransformerConfig(
                    id_val="organize",
                    options={
                        "excludeByName": {
                            name: True for name in ("Time", "Value", "__name__", "job", "instance")
                        },
                    },
                )
            )
        )
        .with_row(dashboard.Row("Supply and phases"))
        .with_panel(
            timeseries_panel(
                "Voltage",
                f"Line-neutral voltage per phase; band {v_low:g}-{v_high:g} V. Metered before "
                "the switch disconnector. A phase with a blown meter fuse has no line.",
                "volt",
                [query(f"{metric.VOLTAGE}{{{UNIT}}}", phase_legend)],
                limits=steps((None, "red"), (v_low, "green"), (v_high, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Current",
                "Line and neutral current against the input's rating (each phase and the "
                "neutral alike). N above the phases: triplen harmonics.",
                "amp",
                [
                    query(f"{metric.CURRENT}{{{UNIT}}}", phase_legend),
                    query(f"{metric.MAX_CURRENT}{{{UNIT}}}", "max {{phase}}", ref="B"),
                    query(f"{metric.INPUT_RATING}{{{UNIT}}}", "input rating", ref="C"),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Phase unbalance",
                "Line current unbalance (NEMA: largest deviation from the mean, over the mean), "
                "and what it would be after the best single move of a load to a free channel on "
                "another phase (the legend names it; `c12exporter advise` lists the moves).",
                "percentunit",
                [
                    query(f"{metric.PHASE_UNBALANCE}{{{UNIT}}}", "unbalance"),
                    query(
                        f"{metric.PHASE_UNBALANCE_BEST_MOVE}{{{UNIT}}}",
                        "after moving channel {{channel}} ({{phase}}) to {{to_channel}} "
                        "({{to_phase}})",
                        ref="B",
                    ),
                ],
            ).min(0)
        )
        .with_panel(
            timeseries_panel(
                "Frequency",
                f"Supply frequency; coloured by the grid band {f_low:g}-{f_high:g} Hz (a unit on "
                "a generator is judged by its own, wider band).",
                "hertz",
                [query(f"{metric.FREQUENCY}{{{UNIT}}}", "frequency")],
                limits=steps((None, "red"), (f_low, "green"), (f_high, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "THD",
                "Average voltage and current THD per phase since power-up; voltage limit "
                f"{LIMITS.voltage_thd_max:.0%}.",
                "percentunit",
                [
                    query(f"{metric.VOLTAGE_THD}{{{UNIT}}}", "voltage {{phase}}"),
                    query(f"{metric.CURRENT_THD}{{{UNIT}}}", "current {{phase}}", ref="B"),
                ],
                limits=steps((None, "green"), (LIMITS.voltage_thd_max, "red")),
            )
        )
        .with_panel(
            timeseries_panel(
                "Power factor",
                "True power factor per phase and the unit's average.",
                "none",
                [
                    query(f"{metric.PHASE_POWER_FACTOR}{{{UNIT}}}", phase_legend),
                    query(f"{metric.POWER_FACTOR}{{{UNIT}}}", "average", ref="B"),
                ],
            )
            .min(0)
            .max(1)
        )
        .with_panel(
            timeseries_panel(
                "Active power",
                "Active power per phase and in total, demand over the last complete 15 min "
                "window and maximum demand since power-up (both absent until a first window "
                "completes).",
                "watt",
                [
                    query(f"{metric.PHASE_ACTIVE_POWER}{{{UNIT}}}", phase_legend),
                    query(f"{metric.ACTIVE_POWER}{{{UNIT}}}", "total", ref="B"),
                    query(f"{metric.DEMAND_ACTIVE_POWER}{{{UNIT}}}", "demand", ref="C"),
                    query(f"{metric.MAX_DEMAND_ACTIVE_POWER}{{{UNIT}}}", "max demand", ref="D"),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                "Apparent and reactive power",
                "Total apparent power (VA) and reactive power (var).",
                "voltamp",
                [
                    query(f"{metric.APPARENT_POWER}{{{UNIT}}}", "apparent"),
                    query(f"{metric.REACTIVE_POWER}{{{UNIT}}}", "reactive", ref="B"),
                ],
            ).override_by_name(
                "reactive", [models.DynamicConfigValue(id_val="unit", value="voltampreact")]
            )
        )
        .with_panel(
            timeseries_panel(
                "Temperature",
                "Ambient temperature at the unit; do not use above "
                f"{LIMITS.temperature_limit_c:g} °C.",
                "celsius",
                [query(f"{metric.TEMPERATURE}{{{UNIT}}}", "temperature")],
                limits=steps(
                    (None, "green"),
                    (LIMITS.temperature_warning_c, "orange"),
                    (LIMITS.temperature_limit_c, "red"),
                ),
            )
        )
        .with_panel(
            timeseries_panel(
                "Energy",
                "Energy imported in each interval (increase of the counter, correct across "
                "the resets at power loss).",
                "kwatth",
                [
                    query(
                        f"increase({metric.ACTIVE_ENERGY_IMPORT}{{{UNIT}}}"
                        f"[$__interval]) / {JOULES_PER_KWH}",
                        "kWh per interval",
                    )
                ],
            )
        )
        .with_panel(
            number_stat(
                "Energy in range",
                "Active energy imported over the dashboard's time range (kWh), across counter "
                "resets.",
                "kwatth",
                f"increase({metric.ACTIVE_ENERGY_IMPORT}{{{UNIT}}}[$__range]) / {JOULES_PER_KWH}",
                width=12,
                height=8,
                instant=True,
            )
        )
    )
    d = channel_rows(d)
    return _number_panels(d.build())


# --------------------------------------------------------------------------- energy


def energy() -> models.Dashboard:
    selected = f'{JOB}, pdu=~"$pdu"'
    energy_total = f"{metric.ACTIVE_ENERGY_IMPORT}{{{selected}}}"

    def kwh(window: str) -> str:
        return f"sum by(pdu) (increase({energy_total}[{window}])) / {JOULES_PER_KWH}"

    d = base(
        "c12-energy",
        "C12 energy",
        "Energy per unit and per period, for billing a job. Uses increase() on the energy "
        "counter, which stays correct when a unit's kWh counter resets at power loss.",
    )
    d = d.with_variable(pdu_variable(multi=True)).with_variable(
        dashboard.IntervalVariable("period")
        .label("Period")
        .description("Length of one bar in the energy-per-period panel")
        .values("1h,6h,12h,1d,7d")
        .current(models.VariableOption(selected=True, text="1h", value="1h"))
    )
    d = (
        d.with_panel(
            number_stat(
                "Energy in range",
                "Active energy imported by the selected units over the time range.",
                "kwatth",
                f"sum(increase({energy_total}[$__range])) / {JOULES_PER_KWH}",
                width=6,
                instant=True,
            )
        )
        .with_panel(
            panel(
                bargauge.Panel(),
                "Energy in range per unit",
                "Active energy imported by each unit over the time range.",
                "kwatth",
                [query(kwh("$__range"), "{{pdu}}", instant=True)],
                width=18,
                height=4,
            )
            .orientation(common_models.VizOrientation.HORIZONTAL)
            .display_mode(common_models.BarGaugeDisplayMode.BASIC)
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
        )
        .with_panel(
            panel(
                timeseries.Panel(),
                "Energy per period",
                "Active energy imported by each unit in each period ($period per bar).",
                "kwatth",
                [query(kwh("$period"), "{{pdu}}")],
                width=24,
            )
            .interval("$period")
            .max_data_points(10000)
            .draw_style(common_models.GraphDrawStyle.BARS)
            .fill_opacity(80)
            .stacking(common.StackingConfig().mode(common_models.StackingMode.NORMAL))
        )
        .with_panel(
            table_panel(
                "Per unit over the range",
                "Per unit over the time range: active and reactive energy, peak demand and "
                "mean active power.",
                [
                    ("Active energy", "kwatth", kwh("$__range")),
                    (
                        "Reactive energy",
                        "suffix: kvarh",  # Grafana has no reactive energy unit
                        f"sum by(pdu) (increase({metric.REACTIVE_ENERGY_IMPORT}"
                        f"{{{selected}}}[$__range])) / {JOULES_PER_KWH}",
                    ),
                    (
                        "Peak demand",
                        "watt",
                        "max by(pdu) (max_over_time("
                        f"{metric.DEMAND_ACTIVE_POWER}{{{selected}}}[$__range]))",
                    ),
                    (
                        "Mean power",
                        "watt",
                        f"sum by(pdu) "
                        f"(avg_over_time({metric.ACTIVE_POWER}{{{selected}}}[$__range]))",
                    ),
                ],
                keys=["pdu"],
            ).sort_by([common.TableSortByFieldState().display_name("Active energy").desc(True)])
        )
        .with_panel(
            timeseries_panel(
                "Active power",
                "Active power of each selected unit.",
                "watt",
                [query(f"{metric.ACTIVE_POWER}{{{selected}}}", "{{pdu}}")],
                width=24,
            )
        )
    )
    return _number_panels(d.build())


# --------------------------------------------------------------------------- output

DASHBOARDS: Mapping[str, Callable[[], models.Dashboard]] = {
    "c12-fleet.json": fleet,
    "c12-unit.json": unit,
    "c12-energy.json": energy,
}


def render(build: Callable[[], models.Dashboard]) -> str:
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def render_all() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: render(build) for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the C12 Grafana dashboards.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render_all().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}: run python -m dashboards.generate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
