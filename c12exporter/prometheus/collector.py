"""Prometheus collectors: metric families built fresh from the store at each scrape.

Readings come from background polls, not from the scrape itself (one poll
feeds Prometheus and SNMP alike). A unit whose last poll failed, or whose
reading is older than the staleness limit, shows ``c12_up 0`` and none of its
measurements. Names and labels are listed in ``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__, balance, supply
from ..forecast import TripForecast
from ..measurements import OF_SCOPE, Measurement, Quantity, Scope, metric_labels
from ..reading import Reading, SupervisionState
from ..store import Store, UnitState

UP_HELP = (
    "1 if the unit's last background poll succeeded and is fresher than the staleness "
    "limit, else 0 (then no measurements are served for it)"
)
SUPERVISION_POSITIONS = {
    SupervisionState.BELOW: -1.0,
    SupervisionState.OK: 0.0,
    SupervisionState.ABOVE: 1.0,
}
"""Supervision state -> ``c12_channel_supervision_position``; disabled: no series."""
SUPERVISION_POSITION_HELP = (
    "Channel current against its supervision band: -1 below, 0 inside, 1 above; "
    "absent while supervision is disabled"
)
TRIP_FORECAST_HELP = (
    "Expected seconds until the channel's RCBO trips if its present current stays, from "
    "the breaker curve and the load so far; absent while the channel is not overloaded"
)
BREAKER_HEAT_HELP = (
    "Heat of the channel's RCBO: how far its dashpot has moved towards an overcurrent trip, "
    "0 cold, 1 trips; kept through openings, relaxing towards what the present current "
    "holds (docs/metrics.md)"
)
POWER_UP_HELP = (
    "Unix time the unit was last powered up (reading time less its uptime): it moves only "
    "by the poll jitter, and jumps when the unit restarts and its energy counters reset"
)
VOLTAGE_UNBALANCE_HELP = (
    "Supply voltage unbalance as EN 50160 defines it (negative over positive sequence), by "
    "IEC 61000-4-30's formula on line-line voltages derived from the line-neutral ones "
    "taken 120 degrees apart; absent while a voltage is missing"
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

    def __init__(
        self,
        store: Store,
        select: Callable[[UnitState], bool] | None = None,
        forecast: TripForecast | None = None,
    ) -> None:
        self.store = store
        self.select = select
        self.forecast = forecast

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
                measured(f, unit, reading, ext, self.forecast)
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


def measured(
    f: _Families,
    unit: UnitState,
    r: Reading,
    ext: list[str],
    forecast: TripForecast | None = None,
) -> None:
    """Every series of a unit that has a fresh reading, after its health (the trip forecast
    only where a :class:`TripForecast` is kept: not for ``/probe`` of an address)."""
    _unit(f, unit, r, ext)
    _input(f, unit, r, ext)
    _phases(f, r, ext)
    _channels(f, r, ext)
    _balance(f, r, ext)
    trip_forecast(f, r, forecast, ext)


def _unit(f: _Families, unit: UnitState, r: Reading, ext: list[str]) -> None:
    info = f.gauge(
        "c12_unit_info",
        "Identity of the unit; always 1",
        ("pdu", "vendor", "model", "serial", "firmware", "layout", "aux_socket", "address",
         "name"),
    )  # fmt: skip
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
            r.stored_name,
            *ext,
        ],
        1,
    )
    _measurements(f, Scope.UNIT, [r.unit], r.values, ext)
    f.gauge(
        "c12_supervision_warning", "1 when any channel is outside its supervision band"
    ).add_metric([r.unit, *ext], float(r.supervision_warning))


def _input(f: _Families, unit: UnitState, r: Reading, ext: list[str]) -> None:
    """What the rules judge the input by: its rating, the unit's power-up, the supply."""
    key = [r.unit, *ext]
    f.gauge(
        "c12_input_rating_amperes",
        "Rating of the unit's input, for each phase and the neutral alike",
    ).add_metric(key, r.model.input_rating_a)
    f.gauge("c12_power_up_time_seconds", POWER_UP_HELP).add_metric(key, r.taken_at - r.uptime_s)
    f.gauge(
        "c12_supply_frequency_band_ratio",
        "Allowed frequency deviation from nominal for the unit's supply (config 'supply': "
        "grid or generator), as a ratio",
    ).add_metric(key, supply.frequency_band(unit.config.supply))
    unbalance = supply.reading_voltage_unbalance(r)
    if unbalance is not None:
        f.gauge("c12_voltage_unbalance_ratio", VOLTAGE_UNBALANCE_HELP).add_metric(key, unbalance)


def _measurements(
    f: _Families, scope: Scope, key: list[str], values: Mapping[str, Quantity], ext: list[str]
) -> None:
    """One sample per declared measurement of ``scope`` that has a metric and a value."""
    for m in OF_SCOPE[scope]:
        value = values[m.name]
        if value is None or m.metric is None:
            continue
        family = f.counter if m.metric.counter else f.gauge
        family(m.metric_name, m.metric_help, metric_labels(m)).add_metric(
            [*key, *m.metric.labels.values(), *ext], _sample(m, value)
        )


def _sample(m: Measurement, value: float | str) -> float:
    """A number as it is; a state by the metric's ``states``, else its position."""
    if isinstance(value, str):
        states = m.metric.states if m.metric else None
        return float(states[value] if states else m.states.index(value))
    return float(value)


def _phases(f: _Families, r: Reading, ext: list[str]) -> None:
    missing = f.gauge(
        "c12_voltage_missing",
        "1 while the meter reports no voltage for the phase (blown meter fuse)",
        ("pdu", "phase"),
    )
    for p in r.phases:
        _measurements(f, Scope.PHASE, [r.unit, p.phase], p.values, ext)
        missing.add_metric([r.unit, p.phase, *ext], float(p.voltage_v is None))


def _channels(f: _Families, r: Reading, ext: list[str]) -> None:
    labels = ("pdu", "channel")
    info = f.gauge(
        "c12_channel_info",
        "Channel name, phase and connector; always 1",
        ("pdu", "channel", "name", "phase", "connector", "connector_type", "pins"),
    )
    rating = f.gauge("c12_channel_rating_amperes", "Channel RCBO rating", labels)
    band_min = f.gauge("c12_channel_supervision_min_amperes", "Supervision minimum", labels)
    band_max = f.gauge("c12_channel_supervision_max_amperes", "Supervision maximum", labels)
    supervision = f.gauge("c12_channel_supervision_position", SUPERVISION_POSITION_HELP, labels)
    for c in r.channels:
        key = [r.unit, str(c.number)]
        info.add_metric(
            [*key, c.name, c.phase, c.connector, c.connector_type, "/".join(c.pins), *ext], 1
        )
        _measurements(f, Scope.CHANNEL, key, c.values, ext)
        rating.add_metric([*key, *ext], c.rating_a)
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


def _balance(f: _Families, r: Reading, ext: list[str]) -> None:
    """The phase unbalance and the one move that evens it most (see balance.py)."""
    now = balance.reading_unbalance(r)
    if now is None:
        return
    f.gauge(
        "c12_phase_unbalance_ratio",
        "Line current unbalance as NEMA MG-1 defines it: the largest deviation from the mean "
        "of the three line currents, over that mean (0 = balanced); absent while the mean is "
        f"under {balance.MEAN_CURRENT_MIN_A:g} A",
    ).add_metric([r.unit, *ext], now)
    move = balance.best_move(r)
    if move is None:
        return
    f.gauge(
        "c12_phase_unbalance_best_move_ratio",
        "The unbalance after the single move that reduces it most: the load of channel "
        "(on phase) replugged into the free to_channel (on to_phase); absent when no move "
        "reduces it",
        ("pdu", "channel", "phase", "to_channel", "to_phase"),
    ).add_metric(
        [r.unit, str(move.channel.number), move.phase, str(move.to_channel.number),
         move.to_phase, *ext],
        move.unbalance_after,
    )  # fmt: skip


def trip_forecast(f: _Families, r: Reading, forecast: TripForecast | None, ext: list[str]) -> None:
    """``c12_channel_trip_forecast_seconds`` of the overloaded channels and
    ``c12_channel_breaker_heat_ratio`` of every channel (none without a forecast:
    ``/probe`` of an address)."""
    seconds = {} if forecast is None else forecast.of(r)
    family = f.gauge("c12_channel_trip_forecast_seconds", TRIP_FORECAST_HELP, ("pdu", "channel"))
    for channel, value in sorted(seconds.items()):
        family.add_metric([r.unit, str(channel), *ext], value)
    heat = {} if forecast is None else forecast.heat(r)
    family = f.gauge("c12_channel_breaker_heat_ratio", BREAKER_HEAT_HELP, ("pdu", "channel"))
    for channel, value in sorted(heat.items()):
        family.add_metric([r.unit, str(channel), *ext], value)
