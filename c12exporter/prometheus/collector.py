"""Prometheus collectors: metric families built fresh from the store at each scrape.

Readings come from background polls, not from the scrape itself (one poll
feeds Prometheus and SNMP alike). A unit whose last poll failed, or whose
reading is older than the staleness limit, shows ``c12_up 0`` and none of its
measurements. Names and labels are listed in ``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..reading import PhaseReading, Reading, SupervisionState
from ..registermap import LOAD_STATES
from ..store import Store, UnitState

SECONDS_PER_HOUR = 3600.0
UP_HELP = (
    "1 if the unit's last background poll succeeded and is fresher than the staleness "
    "limit, else 0 (then no measurements are served for it)"
)
LOAD_LEVELS = {name: level for level, name in LOAD_STATES.items()}
"""Load LED state -> the ordered level served as ``c12_channel_load_level`` (0..3)."""
SUPERVISION_POSITIONS = {
    SupervisionState.BELOW: -1.0,
    SupervisionState.OK: 0.0,
    SupervisionState.ABOVE: 1.0,
}
"""Supervision state -> ``c12_channel_supervision_position``; disabled: no series."""
LOAD_LEVEL_HELP = (
    "Channel load LED as an ordered level: 0 off, 1 normal, 2 slight overload "
    "(slow red flash), 3 serious overload (fast red flash)"
)
SUPERVISION_POSITION_HELP = (
    "Channel current against its supervision band: -1 below, 0 inside, 1 above; "
    "absent while supervision is disabled"
)


class _Families:
    """Metric families for one scrape; unit-level extra labels appended to every series."""

    def __init__(self, extra_label_names: Sequence[str]) -> None:
        self.extra = list(extra_label_names)
        self.families: dict[str, Metric] = {}

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ("pdu",)) -> GaugeMetricFamily:
        family = self.families.get(name)
        if family is None:
            family = GaugeMetricFamily(name, doc, labels=[*labels, *self.extra])
            self.families[name] = family
        assert isinstance(family, GaugeMetricFamily)
        return family

    def counter(self, name: str, doc: str, labels: Sequence[str] = ("pdu",)) -> CounterMetricFamily:
        family = self.families.get(name)
        if family is None:
            family = CounterMetricFamily(name, doc, labels=[*labels, *self.extra])
            self.families[name] = family
        assert isinstance(family, CounterMetricFamily)
        return family


class FleetCollector(Collector):
    """Every unit in the store, or only those ``select`` accepts (for ``/probe``).

    Sample: ``c12_channel_current_amperes{pdu="stage-left",channel="3"} 7.42``
    """

    def __init__(self, store: Store, select: Callable[[UnitState], bool] | None = None) -> None:
        self.store = store
        self.select = select

    def collect(self) -> Iterator[Metric]:
        units = [u for u in self.store if self.select is None or self.select(u)]
        extra = sorted({k for u in units for k in u.config.labels})
        f = _Families(extra)
        now = time.time()
        for unit in units:
            ext = [unit.config.labels.get(k, "") for k in extra]
            reading = self.store.fresh_reading(unit, now)
            _health(f, unit, reading is not None, ext)
            if reading is not None:
                _unit(f, unit, reading, ext)
                _phases(f, reading, ext)
                _channels(f, reading, ext)
        yield from f.families.values()


class ExporterCollector(Collector):
    """The exporter's own build information."""

    def collect(self) -> Iterable[Metric]:
        info = GaugeMetricFamily(
            "c12_exporter_build_info", "c12exporter version; always 1", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info


def _health(f: _Families, unit: UnitState, up: bool, ext: list[str]) -> None:
    pdu = unit.config.name
    f.gauge("c12_up", UP_HELP).add_metric([pdu, *ext], 1 if up else 0)
    if unit.last_duration_s is not None:
        f.gauge("c12_poll_duration_seconds", "Duration of the unit's last poll").add_metric(
            [pdu, *ext], unit.last_duration_s
        )
    f.counter("c12_polls", "Polls of the unit attempted").add_metric([pdu, *ext], unit.polls_total)
    errors = f.counter("c12_poll_errors", "Failed polls of the unit by reason", ("pdu", "reason"))
    for reason, count in sorted(unit.errors_total.items()):
        errors.add_metric([pdu, reason, *ext], count)
    if unit.last_success_at is not None:
        f.gauge(
            "c12_last_poll_success_timestamp_seconds",
            "Unix time of the unit's last successful poll",
        ).add_metric([pdu, *ext], unit.last_success_at)


def _unit(f: _Families, unit: UnitState, r: Reading, ext: list[str]) -> None:
    pdu = [r.unit]
    info = f.gauge(
        "c12_unit_info",
        "Identity of the unit; always 1",
        ("pdu", "vendor", "model", "serial", "firmware", "layout", "aux_socket", "address"),
    )
    info.add_metric(
        [
            r.unit,
            r.identity.vendor,
            r.model.name,
            r.identity.serial,
            r.identity.firmware,
            r.model.layout.description,
            r.model.aux_socket.name,
            unit.config.address,
            *ext,
        ],
        1,
    )
    scalars: list[tuple[str, str, float | None]] = [
        ("c12_uptime_seconds", "Seconds since the unit was last powered up", r.uptime_s),
        ("c12_emergency_stop_pressed", "1 while the emergency stop is pressed",
         float(r.estop_pressed)),
        ("c12_switch_disconnector_on", "1 while the switch disconnector is ON",
         float(r.switch_on)),
        ("c12_neutral_lost", "1 while the loss-of-neutral sensor reports a lost neutral",
         float(r.neutral_lost)),
        ("c12_temperature_celsius", "Unit temperature", r.temperature_c),
        ("c12_frequency_hertz", "Supply frequency", r.frequency_hz),
        ("c12_active_power_watts", "Total active power", r.active_power_w),
        ("c12_reactive_power_vars", "Total reactive power", r.reactive_power_var),
        ("c12_apparent_power_volt_amperes", "Total apparent power", r.apparent_power_va),
        ("c12_power_factor_ratio", "Average power factor", r.power_factor),
        ("c12_demand_active_power_watts", "Active power demand over the demand window",
         r.demand_active_w),
        ("c12_demand_apparent_power_volt_amperes",
         "Apparent power demand over the demand window", r.demand_apparent_va),
        ("c12_max_demand_active_power_watts", "Maximum active power demand since power-up",
         r.max_demand_active_w),
        ("c12_max_demand_apparent_power_volt_amperes",
         "Maximum apparent power demand since power-up", r.max_demand_apparent_va),
        ("c12_supervision_warning", "1 when any channel is outside its supervision band",
         float(r.supervision_warning)),
    ]  # fmt: skip
    for name, doc, value in scalars:
        if value is not None:
            f.gauge(name, doc).add_metric([*pdu, *ext], value)
    f.counter(
        "c12_active_energy_import_joules",
        "Import active energy since the unit was last powered up (resets on power loss)",
    ).add_metric([*pdu, *ext], r.active_energy_j)
    f.counter(
        "c12_reactive_energy_import_var_seconds",
        "Import reactive energy in var seconds (var h x 3600) since the unit was last "
        "powered up (resets on power loss)",
    ).add_metric([*pdu, *ext], r.reactive_energy_varh * SECONDS_PER_HOUR)


_PHASE_VALUES: tuple[tuple[str, str, Callable[[PhaseReading], float | None]], ...] = (
    ("c12_voltage_volts", "Line-neutral voltage", lambda p: p.voltage_v),
    ("c12_current_thd_ratio", "Average current THD since power-up", lambda p: p.current_thd_ratio),
    ("c12_voltage_thd_ratio", "Average voltage THD since power-up", lambda p: p.voltage_thd_ratio),
    ("c12_phase_active_power_watts", "Active power per phase", lambda p: p.active_power_w),
    ("c12_phase_reactive_power_vars", "Reactive power per phase", lambda p: p.reactive_power_var),
    ("c12_phase_apparent_power_volt_amperes", "Apparent power per phase",
     lambda p: p.apparent_power_va),
    ("c12_phase_power_factor_ratio", "True power factor per phase", lambda p: p.power_factor),
)  # fmt: skip


def _phases(f: _Families, r: Reading, ext: list[str]) -> None:
    labels = ("pdu", "phase")
    current = f.gauge("c12_current_amperes", "Line and neutral current", labels)
    max_current = f.gauge("c12_max_current_amperes", "Maximum current since power-up", labels)
    missing = f.gauge(
        "c12_voltage_missing",
        "1 while the meter reports no voltage for the phase (blown meter fuse)",
        labels,
    )
    for p in r.phases:
        key = [r.unit, p.phase, *ext]
        current.add_metric(key, p.current_a)
        max_current.add_metric(key, p.max_current_a)
        missing.add_metric(key, float(p.voltage_v is None))
        for name, doc, get in _PHASE_VALUES:
            value = get(p)
            if value is not None:
                f.gauge(name, doc, labels).add_metric(key, value)
    current.add_metric([r.unit, "N", *ext], r.neutral_current_a)
    max_current.add_metric([r.unit, "N", *ext], r.max_neutral_current_a)


def _channels(f: _Families, r: Reading, ext: list[str]) -> None:
    labels = ("pdu", "channel")
    info = f.gauge(
        "c12_channel_info",
        "Channel name, phase and connector; always 1",
        ("pdu", "channel", "name", "phase", "connector", "connector_type", "pins"),
    )
    current = f.gauge("c12_channel_current_amperes", "Channel output current", labels)
    rating = f.gauge("c12_channel_rating_amperes", "Channel RCBO rating", labels)
    closed = f.gauge(
        "c12_channel_breaker_closed", "1 while the channel's RCBO is closed, 0 when open", labels
    )
    load = f.gauge("c12_channel_load_level", LOAD_LEVEL_HELP, labels)
    band_min = f.gauge("c12_channel_supervision_min_amperes", "Supervision minimum", labels)
    band_max = f.gauge("c12_channel_supervision_max_amperes", "Supervision maximum", labels)
    supervision = f.gauge("c12_channel_supervision_position", SUPERVISION_POSITION_HELP, labels)
    for c in r.channels:
        key = [r.unit, str(c.number)]
        info.add_metric(
            [*key, c.name, c.phase, c.connector, c.connector_type, "/".join(c.pins), *ext], 1
        )
        current.add_metric([*key, *ext], c.current_a)
        rating.add_metric([*key, *ext], c.rating_a)
        closed.add_metric([*key, *ext], float(c.breaker_closed))
        load.add_metric([*key, *ext], float(LOAD_LEVELS[c.load_state]))
        if c.supervision.min_a is not None:
            band_min.add_metric([*key, *ext], c.supervision.min_a)
        if c.supervision.max_a is not None:
            band_max.add_metric([*key, *ext], c.supervision.max_a)
        position = SUPERVISION_POSITIONS.get(c.supervision_state)
        if position is not None:
            supervision.add_metric([*key, *ext], position)
    aux = r.aux_channel
    aux_socket = r.model.aux_socket
    key = [r.unit, str(aux.number)]
    f.gauge(
        "c12_aux_socket_info",
        "The domestic socket wired to channel 12; always 1",
        ("pdu", "channel", "socket", "standard"),
    ).add_metric([*key, aux_socket.name, aux_socket.standard, *ext], 1)
    f.gauge(
        "c12_aux_socket_rating_amperes",
        "The aux socket's own rating (it shares channel 12's RCBO)",
        labels,
    ).add_metric([*key, *ext], aux_socket.rating_a)
