"""Every Prometheus series the exporter serves, by name: measured and derived.

The measured series are declared with their measurements (:mod:`.measurements`). The
rest are declared here, one :class:`Derived` each: what the exporter computes from a
reading or its config (ratings, identity, supervision, unbalance, the trip forecast),
the health of each unit's polls, and the exporter's own series (build, tasks, history,
web server, SNMP agent, discovery, config reloads). :data:`SERIES` is both together.

The generators (``alerts/generate.py``, ``dashboards/generate.py``), the check
(:mod:`.check`) and the collector (:mod:`.prometheus.collector`) take names from here:
the module-level constants below are each series' exposed name, computed from its
declaration (``CHANNEL_CURRENT == "c12_channel_current_amperes"``, a counter's with
``_total``: ``POLL_ERRORS == "c12_poll_errors_total"``), and the collector takes each
derived family's name, type, help and labels from :data:`BY_NAME`. The derived tables
of ``docs/metrics.md`` are written from the declarations (``c12exporter docs``). A
derived series also declares its items in both Zabbix templates (``zabbix``, written by
``zabbix/generate.py``), how the console shows it (``display``, with ``of``: its value
from a reading), and the MIB columns that carry it name it (:func:`mib_columns`).

To add a derived series: declare it in :data:`DERIVED`, add its constant below (a test
checks every declaration has one), serve it (the collector; a MIB column in
``snmp/columns.py`` filled by ``snmp/cells.py``), and run ``make generate``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Final

from . import balance, measurements, supply
from .measurements import (
    MEASUREMENTS,
    Display,
    Measurement,
    Metric,
    Quantity,
    Scope,
    ZabbixHints,
)
from .snmp.columns import COLUMNS, MibColumn

if TYPE_CHECKING:
    from .reading import Reading


class SelfScope(enum.Enum):
    """The exporter's own series: one per process, no ``pdu`` label."""

    EXPORTER = "exporter"


class Table(enum.Enum):
    """The table of ``docs/metrics.md`` a derived series is listed in."""

    HEALTH = "health"
    UNIT = "derived-unit"
    CHANNEL = "derived-channel"
    HISTORY = "history"
    EXPORTER = "exporter"


@dataclass(frozen=True)
class Derived:
    """A series the exporter computes rather than reads from a register.

    :param name: the declaration's id (its constant is the upper-cased id).
    :param scope: what one series is of: a unit, phase or channel (``pdu`` and the
        scope's label first), or :attr:`SelfScope.EXPORTER`.
    :param description: what it is, in a few words.
    :param unit: its SI unit (:data:`measurements.METRIC_SUFFIXES`).
    :param metric: name, type and ``# HELP`` on ``/metrics``; ``labels`` stays empty
        (constant labels; none so far).
    :param labels: the label names after ``pdu`` and the scope's label.
    :param note: its meaning in ``docs/metrics.md``.
    :param table: where ``docs/metrics.md`` lists it.
    :param of: its value from a reading, where it is a function of the reading alone.
    :param display: how the console shows it (a unit's series with ``of``, in the meter
        pane or another :class:`~measurements.Pane`).
    :param zabbix: its items in both Zabbix templates (an info series may have several,
        one per label), read from its MIB column and its metric.

    Fields after ``_`` are keyword-only, so more can be added with defaults without
    touching the declarations. The MIB columns that carry a series name it
    (:func:`mib_columns`).
    """

    name: str
    scope: Scope | SelfScope
    description: str
    unit: str
    metric: Metric
    labels: tuple[str, ...] = ()
    _: KW_ONLY
    note: str = ""
    table: Table = Table.UNIT
    of: Callable[[Reading], Quantity] | None = None
    display: Display | None = None
    zabbix: tuple[ZabbixHints, ...] = ()

    @property
    def label(self) -> str:
        return self.display.label if self.display else self.description

    def show(self, value: Quantity) -> str:
        """``value`` as people read it (:func:`measurements.show`)."""
        return measurements.show(value, self.unit, self.display)

    @property
    def metric_name(self) -> str:
        """The family name (a counter is served with ``_total`` after it)."""
        return self.metric.name

    @property
    def metric_help(self) -> str:
        return self.metric.help or self.description

    @property
    def label_names(self) -> tuple[str, ...]:
        """Every label of the series in the collector's order, ``pdu`` first."""
        if isinstance(self.scope, SelfScope):
            return self.labels
        scope_label = () if self.scope is Scope.UNIT else (self.scope.value,)
        return ("pdu", *scope_label, *self.labels)


Series = Measurement | Derived


def exposed(series: Series) -> str:
    """The name on ``/metrics`` and in PromQL: a counter's with ``_total``."""
    assert series.metric is not None, series.name
    return series.metric_name + ("_total" if series.metric.counter else "")


def label_names(series: Series) -> tuple[str, ...]:
    """The label names of a series, ``pdu`` first (none for the exporter's own)."""
    if isinstance(series, Derived):
        return series.label_names
    return measurements.metric_labels(series)


def _gauge(name: str, text: str) -> Metric:
    return Metric(name, help=text)


def _counter(name: str, text: str) -> Metric:
    return Metric(name, counter=True, help=text)


UNIT, PHASE, CHANNEL, EXPORTER = Scope.UNIT, Scope.PHASE, Scope.CHANNEL, SelfScope.EXPORTER
HEALTH, HISTORY = Table.HEALTH, Table.HISTORY
UNIT_TABLE, CHANNEL_TABLE, EXPORTER_TABLE = Table.UNIT, Table.CHANNEL, Table.EXPORTER

POLL_ERROR_REASONS = (
    "`resolve` (the host name is invalid, unknown, or did not resolve within half the "
    "poll timeout), `connect` (refused or lost), `timeout` (no answer), `protocol` (a reply "
    "that does not answer the request: transaction id, unit id, function code, length or "
    "byte count, or bytes that are not a reply), `short_frame` (a well-formed reply with "
    "fewer registers than asked for), `modbus_exception`, `out_of_range`, `bad_value`, "
    "`identity`, `model`, `internal` (a bug: see the log)"
)

DERIVED: tuple[Derived, ...] = (
    # --- health of each unit's polls, and the exporter's build --------------------------
    Derived(
        "up", UNIT, "Whether the unit's last poll succeeded and is fresh", "",
        _gauge("c12_up",
               "1 if the unit's last background poll succeeded and is fresher than the "
               "staleness limit, else 0 (then no measurements are served for it)"),
        note="1 if the last poll succeeded and is fresh, else 0", table=HEALTH,
        zabbix=(
            ZabbixHints(
                "c12.unit.status", "Unit status", "health",
                value_map="C12 up",
                description=(
                    "Whether the exporter holds a fresh reading of the unit (SNMP: "
                    "c12UnitReachability, reachable(1)/unreachable(2); HTTP: c12_up, 1/0)."
                ),
            ),
        ),
    ),
    Derived(
        "poll_duration", UNIT, "Duration of the last poll", "s",
        _gauge("c12_poll_duration_seconds", "Duration of the unit's last poll"),
        note="duration of the last poll", table=HEALTH,
    ),
    Derived(
        "polls", UNIT, "Polls attempted", "",
        _counter("c12_polls", "Polls of the unit attempted"),
        note="polls attempted", table=HEALTH,
    ),
    Derived(
        "poll_errors", UNIT, "Failed polls by reason", "",
        _counter("c12_poll_errors", "Failed polls of the unit by reason"), ("reason",),
        note=f"failed polls by reason: {POLL_ERROR_REASONS}", table=HEALTH,
    ),
    Derived(
        "last_poll_success", UNIT, "Time of the last good poll", "s",
        _gauge("c12_last_poll_success_timestamp_seconds",
               "Unix time of the unit's last successful poll"),
        note="unix time of the last good poll (absent before the first)", table=HEALTH,
    ),
    Derived(
        "exporter_build_info", EXPORTER, "The exporter's version", "",
        _gauge("c12_exporter_build_info", "c12exporter version; always 1"), ("version",),
        note="always 1", table=HEALTH,
    ),
    Derived(
        "exporter_asyncio_tasks", EXPORTER, "asyncio tasks alive in the exporter", "",
        _gauge("c12_exporter_asyncio_tasks", "asyncio tasks alive in the exporter"),
        note="asyncio tasks alive in the exporter (one per unit polled, plus the servers'); "
        "growing without end is a leak", table=HEALTH,
    ),
    # --- derived from a unit's reading and config ----------------------------------------
    Derived(
        "unit_info", UNIT, "Identity of the unit", "",
        _gauge("c12_unit_info", "Identity of the unit; always 1"),
        ("vendor", "model", "serial", "firmware", "layout", "aux_socket", "address", "name"),
        note="identity of the unit; `name` is the name stored in the unit itself (empty when "
        "unset)",
        zabbix=(
            ZabbixHints(
                "c12.unit.model", "Model", "inventory",
                label="model",
                description="Model name from the device identification.",
            ),
            ZabbixHints(
                "c12.unit.serial", "Serial number", "inventory",
                column="c12UnitSerial",
                label="serial",
                description="Serial number of the unit.",
            ),
            ZabbixHints(
                "c12.unit.firmware", "Firmware version", "inventory",
                column="c12UnitFirmware",
                label="firmware",
                description="Firmware version of the unit.",
            ),
        ),
    ),
    Derived(
        "supervision_warning", UNIT, "A channel is outside its supervision band", "",
        _gauge("c12_supervision_warning", "1 when any channel is outside its supervision band"),
        note="1 when any channel is outside its supervision band (the web interface's warning "
        "triangle)",
        zabbix=(
            ZabbixHints(
                "c12.unit.supervision_warning", "Supervision warning", "channels",
                value_map="C12 flag",
                description=(
                    "A channel is outside its supervision band (the web interface's warning "
                    "triangle)."
                ),
            ),
        ),
    ),
    Derived(
        "input_rating", UNIT, "Rating of the unit's input", "A",
        _gauge("c12_input_rating_amperes",
               "Rating of the unit's input, for each phase and the neutral alike"),
        note="the rating of the unit's input (the model's: 63 A on a C12), for each phase and "
        "the neutral alike: the rules and the check compare `c12_current_amperes` (phases "
        "and `N`) with it",
        of=lambda r: r.model.input_rating_a, display=Display("Input rating, each line and N"),
        zabbix=(
            ZabbixHints(
                "c12.input.rating", "Input rating", "load",
                description="The rating of the unit's input, for each phase and the neutral alike.",
            ),
        ),
    ),
    Derived(
        "power_up_time", UNIT, "Time the unit was last powered up", "s",
        _gauge("c12_power_up_time_seconds",
               "Unix time the unit was last powered up (reading time less its uptime): it "
               "moves only by the poll jitter, and jumps when the unit restarts and its energy "
               "counters reset"),
        note="unix time the unit was last powered up: the reading's time less its uptime. It "
        "moves only by the poll jitter (the uptime register counts whole seconds) and jumps "
        "forward when the unit restarts, also when nobody read it while it was off; "
        "`C12EnergyCounterReset` fires on the jump",
    ),
    Derived(
        "supply_frequency_band", UNIT, "Allowed frequency deviation of the unit's supply",
        "ratio",
        _gauge("c12_supply_frequency_band_ratio",
               "Allowed frequency deviation from nominal for the unit's supply (config "
               "'supply': grid or generator), as a ratio"),
        note="the allowed frequency deviation from 50 Hz for the unit's `supply` (config): "
        "0.01 on the grid (EN 50160), 0.02 on a generator",
        zabbix=(
            ZabbixHints(
                "c12.input.frequency_band", "Frequency band", "supply",
                description=(
                    "The allowed deviation of the frequency from nominal for the unit's supply "
                    "(config 'supply': 0.01 on the grid, 0.02 on a generator), as a ratio."
                ),
            ),
        ),
    ),
    Derived(
        "voltage_unbalance", UNIT, "Supply voltage unbalance", "ratio",
        _gauge("c12_voltage_unbalance_ratio",
               "Supply voltage unbalance as EN 50160 defines it (negative over positive "
               "sequence), by IEC 61000-4-30's formula on line-line voltages derived from the "
               "line-neutral ones taken 120 degrees apart; absent while a voltage is missing"),
        note="supply voltage unbalance as EN 50160 defines it (see [Supply quality "
        "definitions](#supply-quality-definitions)); absent while a line voltage is missing",
        of=supply.reading_voltage_unbalance,
        display=Display("Voltage unbalance (EN 50160)", unit="%", digits=1),
        zabbix=(
            ZabbixHints(
                "c12.voltage.unbalance", "Voltage unbalance", "supply",
                description=(
                    "Supply voltage unbalance as EN 50160 defines it (negative over positive "
                    "sequence), from line-line voltages derived taking the phases 120 degrees "
                    "apart, as a ratio. Not supported while a phase voltage is missing."
                ),
            ),
        ),
    ),
    Derived(
        "voltage_missing", PHASE, "The meter reports no voltage for the phase", "",
        _gauge("c12_voltage_missing",
               "1 while the meter reports no voltage for the phase (blown meter fuse)"),
        note="1 while the meter reports no voltage for that phase (blown meter fuse)",
        zabbix=(
            ZabbixHints(
                "c12.line.voltage_missing", "Voltage missing", "meter",
                value_map="C12 flag",
                description=(
                    "The meter reads no voltage on the phase (its meter fuse has blown). SNMP "
                    "c12LineVoltageAvailable true(1)/false(2); HTTP c12_voltage_missing 0/1."
                ),
            ),
        ),
    ),
    Derived(
        "phase_unbalance", UNIT, "Line current unbalance", "ratio",
        _gauge("c12_phase_unbalance_ratio",
               "Line current unbalance as NEMA MG-1 defines it: the largest deviation from "
               "the mean of the three line currents, over that mean (0 = balanced); absent "
               f"while the mean is under {balance.MEAN_CURRENT_MIN_A:g} A"),
        note="line current unbalance as NEMA MG-1 defines it: the largest deviation from the "
        "mean of the three line currents, over that mean (`0` balanced, `0.1` 10 %); absent "
        f"while the mean is under {balance.MEAN_CURRENT_MIN_A:g} A (docs/console.md, "
        '"Phase balance")',
        of=balance.reading_unbalance, display=Display("Phase balance", unit="%", digits=0),
        zabbix=(
            ZabbixHints(
                "c12.phase.unbalance", "Phase current unbalance", "load",
                description=(
                    "Line current unbalance as NEMA MG-1 defines it: the largest deviation of a "
                    "line current from the mean of the three, over that mean, as a ratio (0 "
                    "balanced). Not supported while the mean is under 1 A or a line is not "
                    "measured. `c12exporter advise UNIT` names the move of one load that reduces "
                    "it most."
                ),
            ),
        ),
    ),
    Derived(
        "phase_unbalance_best_move", UNIT, "The unbalance after the best single move",
        "ratio",
        _gauge("c12_phase_unbalance_best_move_ratio",
               "The unbalance after the single move that reduces it most: the load of "
               "channel (on phase) replugged into the free to_channel (on to_phase); absent "
               "when no move reduces it"),
        ("channel", "phase", "to_channel", "to_phase"),
        note="the unbalance after the single move that reduces it most: the load of "
        "`channel` (on `phase`) replugged into the free `to_channel` (on `to_phase`); absent "
        "when no move reduces it. `c12exporter advise` shows it with the ranking",
    ),
    Derived(
        "channel_info", CHANNEL, "Channel name, phase and connector", "",
        _gauge("c12_channel_info", "Channel name, phase and connector; always 1"),
        ("name", "phase", "connector", "connector_type", "pins"),
        note="what the channel is and where it goes", table=CHANNEL_TABLE,
    ),
    Derived(
        "channel_rating", CHANNEL, "Channel RCBO rating", "A",
        _gauge("c12_channel_rating_amperes", "Channel RCBO rating"),
        note="the channel's RCBO rating (the model's: 16 A on a C12)", table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.rating", "RCBO rating", "channel",
                description="The channel's RCBO rating.",
            ),
        ),
    ),
    Derived(
        "channel_supervision_min", CHANNEL, "Supervision minimum", "A",
        _gauge("c12_channel_supervision_min_amperes", "Supervision minimum"),
        note="supervision minimum (absent when not set)", table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.supervision.min", "Supervision minimum", "channel",
                absent="-1",
                not_set=-1,
                description="Supervision minimum; -1 when not set.",
            ),
        ),
    ),
    Derived(
        "channel_supervision_max", CHANNEL, "Supervision maximum", "A",
        _gauge("c12_channel_supervision_max_amperes", "Supervision maximum"),
        note="supervision maximum (absent when not set)", table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.supervision.max", "Supervision maximum", "channel",
                absent="-1",
                not_set=-1,
                description="Supervision maximum; -1 when not set.",
            ),
        ),
    ),
    Derived(
        "channel_supervision_position", CHANNEL, "Channel current against its band", "",
        _gauge("c12_channel_supervision_position",
               "Channel current against its supervision band: -1 below, 0 inside, 1 above; "
               "absent while supervision is disabled"),
        note="current against the supervision band: `-1` below, `0` inside, `1` above; absent "
        "while supervision is disabled (neither minimum nor maximum set)",
        table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.supervision", "Supervision", "channel",
                absent="2",
                value_map="C12 supervision position",
                value_type="FLOAT",
                description=(
                    "Current against the supervision band (SNMP c12ChannelSupervisionState; HTTP "
                    "c12_channel_supervision_position, 2 = no band set)."
                ),
            ),
        ),
    ),
    Derived(
        "aux_socket_info", CHANNEL, "The domestic socket of the unit", "",
        _gauge("c12_aux_socket_info",
               "The domestic socket wired to the channel in the channel label; always 1"),
        ("socket", "standard"),
        note="the domestic socket, on the channel in the `channel` label (the model's aux "
        "channel: 12 on a C12)", table=CHANNEL_TABLE,
    ),
    Derived(
        "aux_socket_rating", CHANNEL, "The aux socket's own rating", "A",
        _gauge("c12_aux_socket_rating_amperes",
               "The aux socket's own rating (it shares the RCBO of the channel in the "
               "channel label)"),
        note="the aux socket's own rating (it shares the RCBO of the channel in the "
        "`channel` label)", table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.aux_rating", "Aux socket rating", "channel",
                absent="0",
                description="Rating of the domestic socket on this channel (0: none).",
            ),
        ),
    ),
    Derived(
        "channel_trip_forecast", CHANNEL, "Expected time until the channel's RCBO trips", "s",
        _gauge("c12_channel_trip_forecast_seconds",
               "Expected seconds until the channel's RCBO trips if its present current "
               "stays, from the breaker curve and the load so far; absent while the channel "
               "is not overloaded"),
        note="expected seconds until the channel's RCBO trips if its present current stays "
        "(see [Breaker heat and trip forecast](#breaker-heat-and-trip-forecast)); absent "
        "while the channel is not overloaded", table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.trip_forecast", "Trip forecast", "channel",
                absent="-1",
                absent_snmp="-1",
                description=(
                    "Expected seconds until the channel's RCBO trips at its present current, from"
                    " the breaker curve and the load so far; -1 while the channel is not "
                    "overloaded."
                ),
            ),
        ),
    ),
    Derived(
        "channel_breaker_heat", CHANNEL, "Heat of the channel's RCBO", "ratio",
        _gauge("c12_channel_breaker_heat_ratio",
               "Heat of the channel's RCBO: how far its dashpot has moved towards an "
               "overcurrent trip, 0 cold, 1 trips; kept through openings, relaxing towards "
               "what the present current holds (docs/metrics.md)"),
        note="the heat of the channel's RCBO: how far its dashpot has moved towards an "
        "overcurrent trip, `0` cold, `1` trips; present for every channel (also with the "
        "breaker open) while the unit is up (not on `/probe`)", table=CHANNEL_TABLE,
        zabbix=(
            ZabbixHints(
                "c12.channel.heat", "Breaker heat", "channel",
                description=(
                    "How far the channel's RCBO has gone towards an overcurrent trip (its "
                    "dashpot), 0 cold, 1 trips; kept through openings, relaxing towards what the "
                    "present current holds."
                ),
            ),
        ),
    ),
    # --- the RCBO test log, from the history database -------------------------------------
    Derived(
        "channel_rcbo_last_test", CHANNEL, "Time the channel's RCBO last passed a test", "s",
        _gauge("c12_channel_rcbo_last_test_timestamp_seconds",
               "Unix time the channel's RCBO last passed a T-button test in a test session "
               "(an overcurrent trip or a hand switch-off is not a test); absent if never"),
        note="unix time the channel's RCBO last passed a T-button test in a test session (an "
        "overcurrent trip or a hand switch-off is not a test); absent if never", table=HISTORY,
    ),
    Derived(
        "channel_rcbo_watched_since", CHANNEL, "Time the history first saw the RCBO", "s",
        _gauge("c12_channel_rcbo_watched_since_timestamp_seconds",
               "Unix time the history first recorded the channel's RCBO (the test log's "
               "start)"),
        note="unix time the history first recorded the channel's RCBO", table=HISTORY,
    ),
    Derived(
        "rcbo_test_period", EXPORTER, "How often every RCBO should be tested", "s",
        _gauge("c12_rcbo_test_period_seconds",
               "Every RCBO should be tested at least this often (history: rcbo_test_period)"),
        note="`history.rcbo_test_period`: every RCBO should be tested at least this often "
        "(default 31 days)", table=HISTORY,
    ),
    Derived(
        "history_write_errors", EXPORTER, "History writes that failed", "",
        _counter("c12_history_write_errors",
                 "Batches of history rows the database refused, or polls the history could "
                 "not record (each logged with the reason)"),
        note="batches of history rows the database refused (disk full, file removed), or "
        "polls the history could not record; each is logged with its reason", table=HISTORY,
    ),
    # --- the exporter's servers, config and discovery -------------------------------------
    Derived(
        "setting_writes", EXPORTER, "Channel settings writes by result", "",
        _counter("c12_setting_writes",
                 "Channel settings writes to units, from any exposer, by result (written, "
                 "invalid, unknown_unit, unreachable, failed, not_read_back)"),
        ("result",),
        note="channel settings written to units (console, SNMP Set), by result: `written`, "
        "`invalid`, `unknown_unit`, `unreachable`, `failed`, `not_read_back`",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "http_connections_closed", EXPORTER, "HTTP connections closed to protect the server",
        "",
        _counter("c12_http_connections_closed",
                 "HTTP connections closed or refused to protect the server, by reason "
                 "(evicted, refused, header_timeout, body_timeout, body_too_large, "
                 "body_refused, stream_refused, out_of_descriptors)"),
        ("reason",),
        note="HTTP connections closed or refused to protect the server, by reason "
        "(docs/configuration.md)", table=EXPORTER_TABLE,
    ),
    Derived(
        "metrics_unit_renders", EXPORTER, "Units rendered for /metrics, by when", "",
        _counter("c12_metrics_unit_renders",
                 "Units rendered for /metrics, by when: ahead (just before a scrape on a "
                 "schedule was due) or scrape (while a scrape waited)"),
        ("when",),
        note="units rendered for `/metrics`: `ahead` (just before a scrape on a schedule was "
        "due, docs/performance.md) or `scrape` (while a scrape waited); a unit is rendered "
        "at most once per reading", table=EXPORTER_TABLE,
    ),
    Derived(
        "config_reloads", EXPORTER, "Config reload attempts by result", "",
        _counter("c12_config_reloads", "Attempts to reload the config file, by result"),
        ("result",),
        note="attempts to reload the config file, `success` or `failure` (absent before the "
        "first)", table=EXPORTER_TABLE,
    ),
    Derived(
        "config_last_reload_successful", EXPORTER, "Whether the last config load succeeded",
        "",
        _gauge("c12_config_last_reload_successful",
               "1 if the last attempt to load the config file succeeded, else 0"),
        note="1 if the last attempt to load the config file succeeded, else 0",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "config_last_reload_success", EXPORTER, "Time of the last good config load", "s",
        _gauge("c12_config_last_reload_success_timestamp_seconds",
               "Unix time of the last successful load of the config file"),
        note="unix time of the last successful load of the config file",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_requests", EXPORTER, "SNMP responses sent by outcome", "",
        _counter("c12_snmp_requests", "SNMP responses sent, by outcome"), ("outcome",),
        note="SNMP responses sent, by outcome (docs/snmp.md)", table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_requests_dropped", EXPORTER, "SNMP datagrams that got no data", "",
        _counter("c12_snmp_requests_dropped",
                 "SNMP datagrams that got no data: undecodable, wrong version, community or "
                 "user, no access, ..."),
        ("reason",),
        note="SNMP datagrams that got no data, by reason", table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_notifications_sent", EXPORTER, "SNMP notifications sent", "",
        _counter("c12_snmp_notifications_sent", "SNMP notifications sent"), ("notification",),
        note="SNMP notifications sent", table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_notifications_failed", EXPORTER, "SNMP notifications not sent", "",
        _counter("c12_snmp_notifications_failed",
                 "SNMP notifications not sent or not acknowledged"),
        ("notification", "reason"),
        note="SNMP notifications not sent or not acknowledged", table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_writes", EXPORTER, "SNMP Set requests by outcome", "",
        _counter("c12_snmp_writes",
                 "SNMP Set requests: written, or the error-status that refused them"),
        ("outcome",),
        note="SNMP Set requests: written, or the error-status that refused them",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_cells_dropped", EXPORTER, "Cells left out of SNMP", "",
        _counter("c12_snmp_cells_dropped",
                 "Cells left out of SNMP because the value is outside the column's MIB "
                 "SYNTAX"),
        ("column",),
        note="cells left out of SNMP because the value is outside the column's MIB SYNTAX",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "snmp_values_truncated", EXPORTER, "SNMP texts cut to their column's size", "",
        _counter("c12_snmp_values_truncated",
                 "Texts longer than their MIB column's SIZE, served cut to fit (on a UTF-8 "
                 "character boundary)"),
        ("column",),
        note="texts longer than their MIB column's SIZE, served cut to fit",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "discovery_scans", EXPORTER, "Discovery scans completed", "",
        _counter("c12_discovery_scans", "Discovery scans completed while serving"),
        note="discovery scans completed while serving", table=EXPORTER_TABLE,
    ),
    Derived(
        "discovery_units", EXPORTER, "Units discovery knows, by state", "",
        _gauge("c12_discovery_units",
               "Units discovery knows, by state: seen (in the fleet), gone (unseen for "
               "gone_after, still in the fleet), forgotten (unseen for forget_after)"),
        ("state",),
        note="units discovery knows, by state: `seen` (in the fleet), `gone` (unseen for "
        "`gone_after`, still in the fleet), `forgotten` (unseen for `forget_after`)",
        table=EXPORTER_TABLE,
    ),
    Derived(
        "discovery_last_scan", EXPORTER, "Time of the last scan's end", "s",
        _gauge("c12_discovery_last_scan_timestamp_seconds", "Unix time of the last scan's end"),
        note="unix time of the last discovery scan's end", table=EXPORTER_TABLE,
    ),
    Derived(
        "discovery_last_scan_duration", EXPORTER, "How long the last scan took", "s",
        _gauge("c12_discovery_last_scan_duration_seconds", "How long the last scan took"),
        note="how long the last discovery scan took", table=EXPORTER_TABLE,
    ),
)  # fmt: skip
"""Every derived and self series, in the order the collector serves them."""

SERIES: tuple[Series, ...] = (*MEASUREMENTS, *DERIVED)
"""Every series: the measured ones in register order, then the derived ones."""

BY_NAME: Mapping[str, Series] = {s.name: s for s in SERIES}
DERIVED_BY_NAME: Mapping[str, Derived] = {s.name: s for s in DERIVED}


def declared(name: str) -> Derived:
    """The derived series declared as ``name`` (its id, not its metric name)."""
    try:
        return DERIVED_BY_NAME[name]
    except KeyError:
        raise KeyError(
            f"no derived series {name!r} is declared in c12exporter/catalogue.py"
        ) from None


def mib_columns(name: str) -> tuple[MibColumn, ...]:
    """The C12-PDU-MIB columns that carry series ``name`` to SNMP: a measurement's
    column, or the columns that name a derived series (:attr:`MibColumn.series`); none
    for a series SNMP does not carry."""
    from .snmp import mibgen  # the MIB writer, run as a command of its own: not at import

    series = BY_NAME[name]
    if isinstance(series, Measurement):
        if series.column is None:
            return ()
        return (mibgen.measured_column(series, mibgen.table_of(series)),)
    return tuple(c for c in COLUMNS if c.series == name)


def check(derived: tuple[Derived, ...] = DERIVED) -> None:
    """Raise ``ValueError`` if a declaration contradicts another: an id or a metric name
    used twice (measured ones included), a name without the ``c12_`` prefix, an unknown
    unit, or constant labels (the derived series have none)."""
    ids = {m.name for m in MEASUREMENTS}
    names = {m.metric_name for m in MEASUREMENTS if m.metric is not None}
    for s in derived:
        if s.name in ids:
            raise ValueError(f"series {s.name!r} is declared twice")
        ids.add(s.name)
        if not s.metric.name.startswith("c12_"):
            raise ValueError(f"{s.name}: metric {s.metric.name!r} does not start with c12_")
        if s.metric.name in names:
            raise ValueError(f"{s.name}: metric {s.metric.name} is declared twice")
        names.add(s.metric.name)
        if s.unit not in measurements.METRIC_SUFFIXES:
            raise ValueError(f"{s.name}: unit {s.unit!r} is not an SI unit the exporter uses")
        if s.metric.labels:
            raise ValueError(f"{s.name}: a derived series has label names, not constant labels")


check()


def _name(series_id: str) -> str:
    return exposed(BY_NAME[series_id])


# --- names as served (exposed names: a counter's ends in _total) -----------------------------
# measured (c12exporter/measurements.py)
EMERGENCY_STOP: Final = _name("emergency_stop")
SWITCH_DISCONNECTOR: Final = _name("switch_disconnector")
NEUTRAL: Final = _name("neutral")
TEMPERATURE: Final = _name("temperature")
UPTIME: Final = _name("uptime")
VOLTAGE: Final = _name("voltage")
CURRENT: Final = _name("current")
"""The phases' current and, with ``phase="N"``, the neutral's (:data:`NEUTRAL_CURRENT`)."""
NEUTRAL_CURRENT: Final = _name("neutral_current")
MAX_CURRENT: Final = _name("max_current")
MAX_NEUTRAL_CURRENT: Final = _name("max_neutral_current")
CURRENT_THD: Final = _name("current_thd")
VOLTAGE_THD: Final = _name("voltage_thd")
FREQUENCY: Final = _name("frequency")
PHASE_ACTIVE_POWER: Final = _name("phase_active_power")
ACTIVE_POWER: Final = _name("active_power")
PHASE_REACTIVE_POWER: Final = _name("phase_reactive_power")
REACTIVE_POWER: Final = _name("reactive_power")
PHASE_APPARENT_POWER: Final = _name("phase_apparent_power")
APPARENT_POWER: Final = _name("apparent_power")
PHASE_POWER_FACTOR: Final = _name("phase_power_factor")
POWER_FACTOR: Final = _name("power_factor")
DEMAND_ACTIVE_POWER: Final = _name("demand_active_power")
DEMAND_APPARENT_POWER: Final = _name("demand_apparent_power")
MAX_DEMAND_ACTIVE_POWER: Final = _name("max_demand_active_power")
MAX_DEMAND_APPARENT_POWER: Final = _name("max_demand_apparent_power")
ACTIVE_ENERGY_IMPORT: Final = _name("active_energy_import")
REACTIVE_ENERGY_IMPORT: Final = _name("reactive_energy_import")
CHANNEL_CURRENT: Final = _name("channel_current")
CHANNEL_BREAKER: Final = _name("channel_breaker")
CHANNEL_LOAD: Final = _name("channel_load")
METERED_PHASES: Final = _name("metered_phases")
# derived (DERIVED above)
UP: Final = _name("up")
POLL_DURATION: Final = _name("poll_duration")
POLLS: Final = _name("polls")
POLL_ERRORS: Final = _name("poll_errors")
LAST_POLL_SUCCESS: Final = _name("last_poll_success")
EXPORTER_BUILD_INFO: Final = _name("exporter_build_info")
EXPORTER_ASYNCIO_TASKS: Final = _name("exporter_asyncio_tasks")
UNIT_INFO: Final = _name("unit_info")
SUPERVISION_WARNING: Final = _name("supervision_warning")
INPUT_RATING: Final = _name("input_rating")
POWER_UP_TIME: Final = _name("power_up_time")
SUPPLY_FREQUENCY_BAND: Final = _name("supply_frequency_band")
VOLTAGE_UNBALANCE: Final = _name("voltage_unbalance")
VOLTAGE_MISSING: Final = _name("voltage_missing")
PHASE_UNBALANCE: Final = _name("phase_unbalance")
PHASE_UNBALANCE_BEST_MOVE: Final = _name("phase_unbalance_best_move")
CHANNEL_INFO: Final = _name("channel_info")
CHANNEL_RATING: Final = _name("channel_rating")
CHANNEL_SUPERVISION_MIN: Final = _name("channel_supervision_min")
CHANNEL_SUPERVISION_MAX: Final = _name("channel_supervision_max")
CHANNEL_SUPERVISION_POSITION: Final = _name("channel_supervision_position")
AUX_SOCKET_INFO: Final = _name("aux_socket_info")
AUX_SOCKET_RATING: Final = _name("aux_socket_rating")
CHANNEL_TRIP_FORECAST: Final = _name("channel_trip_forecast")
CHANNEL_BREAKER_HEAT: Final = _name("channel_breaker_heat")
CHANNEL_RCBO_LAST_TEST: Final = _name("channel_rcbo_last_test")
CHANNEL_RCBO_WATCHED_SINCE: Final = _name("channel_rcbo_watched_since")
RCBO_TEST_PERIOD: Final = _name("rcbo_test_period")
HISTORY_WRITE_ERRORS: Final = _name("history_write_errors")
SETTING_WRITES: Final = _name("setting_writes")
HTTP_CONNECTIONS_CLOSED: Final = _name("http_connections_closed")
METRICS_UNIT_RENDERS: Final = _name("metrics_unit_renders")
CONFIG_RELOADS: Final = _name("config_reloads")
CONFIG_LAST_RELOAD_SUCCESSFUL: Final = _name("config_last_reload_successful")
CONFIG_LAST_RELOAD_SUCCESS: Final = _name("config_last_reload_success")
SNMP_REQUESTS: Final = _name("snmp_requests")
SNMP_REQUESTS_DROPPED: Final = _name("snmp_requests_dropped")
SNMP_NOTIFICATIONS_SENT: Final = _name("snmp_notifications_sent")
SNMP_NOTIFICATIONS_FAILED: Final = _name("snmp_notifications_failed")
SNMP_WRITES: Final = _name("snmp_writes")
SNMP_CELLS_DROPPED: Final = _name("snmp_cells_dropped")
SNMP_VALUES_TRUNCATED: Final = _name("snmp_values_truncated")
DISCOVERY_SCANS: Final = _name("discovery_scans")
DISCOVERY_UNITS: Final = _name("discovery_units")
DISCOVERY_LAST_SCAN: Final = _name("discovery_last_scan")
DISCOVERY_LAST_SCAN_DURATION: Final = _name("discovery_last_scan_duration")
