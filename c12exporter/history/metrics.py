"""The RCBO test log on ``/metrics``: when each channel's RCBO last passed a test of a
test session (trips and hand switching do not count), and since when it is watched, for
the ``C12RcboTestOverdue`` alert."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .recorder import History


class HistoryCollector(Collector):
    def __init__(self, history: History) -> None:
        self.history = history

    def collect(self) -> Iterator[Metric]:
        """Units in the fleet only: a unit removed from the config raises no alerts."""
        fleet = {state.config.name for state in self.history.store}
        last = GaugeMetricFamily(
            "c12_channel_rcbo_last_test_timestamp_seconds",
            "Unix time the channel's RCBO last passed a T-button test in a test session "
            "(an overcurrent trip or a hand switch-off is not a test); absent if never",
            labels=["pdu", "channel"],
        )
        for (unit, channel), at in sorted(dict(self.history.last_test).items()):
            if unit in fleet:
                last.add_metric([unit, str(channel)], at)
        since = GaugeMetricFamily(
            "c12_channel_rcbo_watched_since_timestamp_seconds",
            "Unix time the history first recorded the channel's RCBO (the test log's start)",
            labels=["pdu", "channel"],
        )
        for (unit, channel), at in sorted(dict(self.history.watched_since).items()):
            if unit in fleet:
                since.add_metric([unit, str(channel)], at)
        period = GaugeMetricFamily(
            "c12_rcbo_test_period_seconds",
            "Every RCBO should be tested at least this often (history: rcbo_test_period)",
        )
        period.add_metric([], self.history.rcbo_test_period_s)
        errors = CounterMetricFamily(
            "c12_history_write_errors",
            "Batches of history rows the database refused, or polls the history could not "
            "record (each logged with the reason)",
        )
        errors.add_metric([], self.history.write_errors)
        yield from (last, since, period, errors)
