"""Prometheus collectors: metric families built fresh from the store at each scrape.

Readings come from background polls, not from the scrape itself (one poll
feeds Prometheus and SNMP alike). A unit whose last poll failed, or whose
reading is older than the staleness limit, shows ``c12_up 0`` and none of its
measurements. Every family's name, type, help and labels come from its declaration:
:mod:`..measurements` for what the unit measures, :mod:`..catalogue` for the rest; both
are listed in ``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .. import __version__, balance, supply
from ..catalogue import Derived, declared
from ..forecast import TripForecast
from ..measurements import OF_SCOPE, Measurement, Quantity, Scope, metric_labels
from ..reading import Reading, SupervisionState
from ..store import Store, UnitState

SUPERVISION_POSITIONS = {
    SupervisionState.BELOW: -1.0,
    SupervisionState.OK: 0.0,
    SupervisionState.ABOVE: 1.0,
}
"""Supervision state -> the channel's supervision position; disabled: no series."""


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

    def of(self, series: Derived) -> GaugeMetricFamily | CounterMetricFamily:
        """The family of a declared series (:mod:`..catalogue`)."""
        family = self.counter if series.metric.counter else self.gauge
        return family(series.metric_name, series.metric_help, series.label_names)


UP = declared("up")
POLL_DURATION = declared("poll_duration")
POLLS = declared("polls")
POLL_ERRORS = declared("poll_errors")
LAST_POLL_SUCCESS = declared("last_poll_success")
BUILD_INFO = declared("exporter_build_info")
UNIT_INFO = declared("unit_info")
SUPERVISION_WARNING = declared("supervision_warning")
INPUT_RATING = declared("input_rating")
POWER_UP_TIME = declared("power_up_time")
FREQUENCY_BAND = declared("supply_frequency_band")
VOLTAGE_UNBALANCE = declared("voltage_unbalance")
VOLTAGE_MISSING = declared("voltage_missing")
CHANNEL_INFO = declared("channel_info")
CHANNEL_RATING = declared("channel_rating")
SUPERVISION_MIN = declared("channel_supervision_min")
SUPERVISION_MAX = declared("channel_supervision_max")
SUPERVISION_POSITION = declared("channel_supervision_position")
AUX_SOCKET_INFO = declared("aux_socket_info")
AUX_SOCKET_RATING = declared("aux_socket_rating")
PHASE_UNBALANCE = declared("phase_unbalance")
BEST_MOVE = declared("phase_unbalance_best_move")
TRIP_FORECAST = declared("channel_trip_forecast")
BREAKER_HEAT = declared("channel_breaker_heat")


class FleetCollector(Collector):
    """Every unit in the store, or only those ``select`` accepts (for ``/probe``).

    Sample: ``<channel current>{pdu="stage-left",channel="3"} 7.42``
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
            BUILD_INFO.metric_name, BUILD_INFO.metric_help, labels=list(BUILD_INFO.label_names)
        )
        info.add_metric([__version__], 1)
        yield info


def _health(f: _Families, unit: UnitState, up: bool, ext: list[str]) -> None:
    pdu = unit.config.name
    f.of(UP).add_metric([pdu, *ext], 1 if up else 0)
    if unit.last_duration_s is not None:
        f.of(POLL_DURATION).add_metric([pdu, *ext], unit.last_duration_s)
    f.of(POLLS).add_metric([pdu, *ext], unit.polls_total)
    errors = f.of(POLL_ERRORS)
    for reason, count in sorted(unit.errors_total.items()):
        errors.add_metric([pdu, reason, *ext], count)
    if unit.last_success_at is not None:
        f.of(LAST_POLL_SUCCESS).add_metric([pdu, *ext], unit.last_success_at)


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
    f.of(UNIT_INFO).add_metric(
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
    f.of(SUPERVISION_WARNING).add_metric([r.unit, *ext], float(r.supervision_warning))


def _input(f: _Families, unit: UnitState, r: Reading, ext: list[str]) -> None:
    """What the rules judge the input by: its rating, the unit's power-up, the supply."""
    key = [r.unit, *ext]
    f.of(INPUT_RATING).add_metric(key, r.model.input_rating_a)
    f.of(POWER_UP_TIME).add_metric(key, r.taken_at - r.uptime_s)
    f.of(FREQUENCY_BAND).add_metric(key, supply.frequency_band(unit.config.supply))
    unbalance = supply.reading_voltage_unbalance(r)
    if unbalance is not None:
        f.of(VOLTAGE_UNBALANCE).add_metric(key, unbalance)


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
    missing = f.of(VOLTAGE_MISSING)
    for p in r.phases:
        _measurements(f, Scope.PHASE, [r.unit, p.phase], p.values, ext)
        missing.add_metric([r.unit, p.phase, *ext], float(p.voltage_v is None))


def _channels(f: _Families, r: Reading, ext: list[str]) -> None:
    info = f.of(CHANNEL_INFO)
    rating = f.of(CHANNEL_RATING)
    band_min = f.of(SUPERVISION_MIN)
    band_max = f.of(SUPERVISION_MAX)
    supervision = f.of(SUPERVISION_POSITION)
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
    f.of(AUX_SOCKET_INFO).add_metric([*key, aux_socket.name, aux_socket.standard, *ext], 1)
    f.of(AUX_SOCKET_RATING).add_metric([*key, *ext], aux_socket.rating_a)


def _balance(f: _Families, r: Reading, ext: list[str]) -> None:
    """The phase unbalance and the one move that evens it most (see balance.py)."""
    now = balance.reading_unbalance(r)
    if now is None:
        return
    f.of(PHASE_UNBALANCE).add_metric([r.unit, *ext], now)
    move = balance.best_move(r)
    if move is None:
        return
    f.of(BEST_MOVE).add_metric(
        [r.unit, str(move.channel.number), move.phase, str(move.to_channel.number),
         move.to_phase, *ext],
        move.unbalance_after,
    )  # fmt: skip


def trip_forecast(f: _Families, r: Reading, forecast: TripForecast | None, ext: list[str]) -> None:
    """The trip forecast of the overloaded channels and the breaker heat of every channel
    (none without a forecast: ``/probe`` of an address)."""
    seconds = {} if forecast is None else forecast.of(r)
    family = f.of(TRIP_FORECAST)
    for channel, value in sorted(seconds.items()):
        family.add_metric([r.unit, str(channel), *ext], value)
    heat = {} if forecast is None else forecast.heat(r)
    family = f.of(BREAKER_HEAT)
    for channel, value in sorted(heat.items()):
        family.add_metric([r.unit, str(channel), *ext], value)
