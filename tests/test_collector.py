"""The Prometheus collector: names, labels and what a down unit shows."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, generate_latest

from c12exporter.config import UnitConfig
from c12exporter.prometheus.collector import FleetCollector
from c12exporter.store import Store
from tests.servers import promtool
from tests.test_store import reading

RACKED = UnitConfig("stage-left", "127.0.0.1:1502", labels={"rack": "A3"})
PLAIN = UnitConfig("stage-right", "127.0.0.1:1503")


def exposition(store: Store) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))
    return generate_latest(registry).decode()


def test_extra_labels_on_every_series_of_their_unit_only() -> None:
    store = Store((RACKED, PLAIN), staleness_s=15)
    now = time.time()
    for unit in (RACKED, PLAIN):
        store.record_success(unit.name, reading(now, unit.name), 0.01)
    text = exposition(store)
    assert 'c12_channel_current_amperes{channel="3",pdu="stage-left",rack="A3"}' in text
    assert 'c12_channel_current_amperes{channel="3",pdu="stage-right",rack=""}' in text
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_down_unit_shows_health_and_no_measurements() -> None:
    store = Store((PLAIN,), staleness_s=15)
    store.record_success(PLAIN.name, reading(time.time(), PLAIN.name), 0.01)
    store.record_failure(PLAIN.name, "timeout", "no answer", 0.5)
    text = exposition(store)
    assert 'c12_up{pdu="stage-right"} 0.0' in text
    assert 'c12_poll_errors_total{pdu="stage-right",reason="timeout"} 1.0' in text
    assert 'c12_polls_total{pdu="stage-right"} 2.0' in text
    measurements = [line for line in text.splitlines()
                    if line.startswith("c12_") and not line.startswith(
                        ("c12_up", "c12_poll", "c12_last_poll"))]  # fmt: skip
    assert measurements == []


def test_load_level_and_supervision_position_are_one_series_per_channel() -> None:
    store = Store((PLAIN,), staleness_s=15)
    store.record_success(PLAIN.name, reading(time.time(), PLAIN.name), 0.01)
    text = exposition(store)
    for metric, allowed in (
        ("c12_channel_load_level", {0.0, 1.0, 2.0, 3.0}),
        ("c12_channel_supervision_position", {-1.0, 0.0, 1.0}),
    ):
        for channel in range(1, 13):
            values = [
                float(line.rsplit(" ", 1)[1])
                for line in text.splitlines()
                if line.startswith(metric + "{") and f'channel="{channel}"' in line
            ]
            if metric == "c12_channel_supervision_position" and not values:
                continue  # supervision disabled on this channel: no series
            assert len(values) == 1 and values[0] in allowed, (metric, channel, values)
    assert "c12_channel_load_state" not in text
    assert "c12_channel_supervision_state" not in text
