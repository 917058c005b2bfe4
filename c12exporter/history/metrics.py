"""The RCBO test log on ``/metrics``: when each channel's RCBO last passed a test of a
test session (trips and hand switching do not count), and since when it is watched, for
the ``C12RcboTestOverdue`` alert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
            self._rcbo = (made_of, _rcbo_families(*made_of))
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


def _rcbo_families(
    fleet: frozenset[str],
    last_test: dict[tuple[str, int], float],
    watched_since: dict[tuple[str, int], float],
) -> tuple[Metric, ...]:
    last = _family(GaugeMetricFamily, "channel_rcbo_last_test")
    for (unit, channel), at in sorted(last_test.items()):
        if unit in fleet:
            last.add_metric([unit, str(channel)], at)
    since = _family(GaugeMetricFamily, "channel_rcbo_watched_since")
    for (unit, channel), at in sorted(watched_since.items()):
        if unit in fleet:
            since.add_metric([unit, str(channel)], at)
    return (last, since)
