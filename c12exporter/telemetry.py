"""The exporter's metrics about itself: requests answered, notifications sent, reloads.

Every part of the exporter (the SNMP agent, the write path, the reloader) counts what it
does on one :class:`Telemetry`, which the Prometheus exposer serves beside the units'
readings, as node_exporter and snmp_exporter report on themselves. Metrics are created
on first use and kept for the life of the process, so an exposer restarted by a reload
keeps counting where it left off.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge

from .catalogue import Derived, declared


class Telemetry:
    """Get-or-create counters and gauges on a private registry.

    Sample: ``c12_snmp_requests_total{outcome="answered"} 1234``
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._counters: dict[str, Counter] = {}
        self._gauges: dict[str, Gauge] = {}

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """The counter ``name`` (without ``_total``), created on first call."""
        counter = self._counters.get(name)
        if counter is None:
            counter = Counter(name, documentation, labels, registry=self.registry)
            self._counters[name] = counter
        return counter

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        """The gauge ``name``, created on first call."""
        gauge = self._gauges.get(name)
        if gauge is None:
            gauge = Gauge(name, documentation, labels, registry=self.registry)
            self._gauges[name] = gauge
        return gauge

    def counter_of(self, series: Derived) -> Counter:
        """The counter a catalogue declaration describes: its name, help and labels."""
        return self.counter(series.metric_name, series.metric_help, series.label_names)

    def gauge_of(self, series: Derived) -> Gauge:
        """The gauge a catalogue declaration describes: its name, help and labels."""
        return self.gauge(series.metric_name, series.metric_help, series.label_names)

    def count_tasks(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve ``c12_exporter_asyncio_tasks``: the tasks alive on ``loop``, counted at
        each scrape (a count that keeps growing is a leak)."""
        self.gauge_of(declared("exporter_asyncio_tasks")).set_function(
            lambda: len(asyncio.all_tasks(loop))
        )
