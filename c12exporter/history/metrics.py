"""The RCBO test log on ``/metrics``: when each channel's RCBO last passed a test of a
test session (trips and hand switching do not count), and since when it is watched, for
the ``C12RcboTestOverdue`` alert."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from ..catalogue import declared
from .recorder import History


class HistoryCollector(Collector):
    def __init__(self, history: History) -> None:
        self.history = history
        self._rcbo: tuple[object, tuple[Metric, ...]] | None = None
        """The RCBO families and what they were built from: a scrape builds them again
        only when a test, a channel newly watched or the fleet changed (a sample per
        channel, 12,000 at 1,000 units, is most of a scrape's cost otherwise)."""

    def collect(self) -> Iterator[Metric]:
        """Units in the fleet only: a unit removed from the config raises no alerts."""
        # copies taken at once: scrapes are rendered off the event loop, which writes these
        fleet = frozenset(state.config.name for state in self.history.store)
        made_of = (fleet, dict(self.history.last_test), dict(self.history.watched_since))
        if self._rcbo is None or self._rcbo[0] != made_of:
            families = (
                ChannelTimes("channel_rcbo_last_test", fleet, made_of[1]),
                ChannelTimes("channel_rcbo_watched_since", fleet, made_of[2]),
            )
            self._rcbo = (made_of, families)
        yield from self._rcbo[1]
        period = _family(GaugeMetricFamily, "rcbo_test_period")
        period.add_metric([], self.history.rcbo_test_period_s)
        errors = _family(CounterMetricFamily, "history_write_errors")
        errors.add_metric([], self.history.write_errors)
        yield from (period, errors)


_F = TypeVar("_F", GaugeMetricFamily, CounterMetricFamily)


def _family(kind: type[_F], name: str) -> _F:
    """An empty family as the catalogue declares series ``name``."""
    series = declared(name)
    return kind(series.metric_name, series.metric_help, labels=list(series.label_names))


class ChannelTimes(Metric):
    """A gauge of one time per channel of the fleet's units (the RCBO test log), declared
    as series ``name`` in the catalogue.

    It keeps ``(unit, channel) -> time`` and makes its samples each time they are asked
    for, so that 12,000 series at 1,000 units are not kept as prometheus-client samples
    with a label dict each (about 4 MB) between scrapes. Its samples never change once it
    is made (``samples_fixed``): the exposition writes its text once and keeps that.
    """

    samples_fixed = True

    def __init__(self, name: str, fleet: frozenset[str], times: Mapping[tuple[str, int], float]):
        series = declared(name)
        super().__init__(series.metric_name, series.metric_help, "gauge")
        self._labels = series.label_names  # the unit's, the channel's
        self._fleet = fleet
        self._times = times

    @property
    def samples(self) -> list[Sample]:
        """By unit name, then channel; only the units in the fleet."""
        return [
            Sample(self.name, dict(zip(self._labels, (unit, str(channel)), strict=True)), at)
            for (unit, channel), at in sorted(self._times.items())
            if unit in self._fleet
        ]

    @samples.setter
    def samples(self, value: list[Sample]) -> None:
        if value:  # Metric.__init__ sets an empty list; samples come from the times only
            raise TypeError("ChannelTimes makes its samples from its times")
