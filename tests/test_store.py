"""The store serves a reading only while it is fresh, and tells listeners what changed."""

from __future__ import annotations

import dataclasses
import time

from c12exporter.config import UnitConfig
from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
from c12exporter.plugins import load_plugins
from c12exporter.reading import Identity, Reading, build_reading
from c12exporter.store import Change, Store
from tests.test_registermap import sample_measurements

UNIT = UnitConfig("stage-left", "127.0.0.1:1502")


def reading(taken_at: float, unit: str = UNIT.name) -> Reading:
    measurements = MEASUREMENTS.decode(MEASUREMENTS.encode(sample_measurements()))
    settings = SETTINGS.decode(SETTINGS.encode({
        "supervision_min": [None] * 12, "supervision_max": [None] * 12, "channel_name": [""] * 12,
    }))  # fmt: skip
    return build_reading(
        unit,
        Identity("StageSmarts", "C12B-12", "1.0", "SN1"),
        load_plugins(entry_points=False).model("C12B-12"),
        taken_at,
        {**measurements, **settings},
    )


def test_fresh_reading_is_served() -> None:
    store = Store((UNIT,), staleness_s=15)
    now = time.time()
    store.record_success(UNIT.name, reading(now), 0.01)
    state = store.get(UNIT.name)
    assert state is not None
    assert store.fresh_reading(state, now + 14) is not None


def test_stale_reading_is_not_served() -> None:
    store = Store((UNIT,), staleness_s=15)
    now = time.time()
    store.record_success(UNIT.name, reading(now), 0.01)
    state = store.get(UNIT.name)
    assert state is not None
    assert store.fresh_reading(state, now + 16) is None


def test_a_failed_poll_hides_the_last_reading_at_once() -> None:
    store = Store((UNIT,), staleness_s=15)
    store.record_success(UNIT.name, reading(time.time()), 0.01)
    store.record_failure(UNIT.name, "timeout", "no answer", 0.5)
    state = store.get(UNIT.name)
    assert state is not None
    assert store.fresh_reading(state) is None
    assert state.errors_total == {"timeout": 1}
    assert state.polls_total == 2


def test_listeners_see_before_and_after() -> None:
    store = Store((UNIT,), staleness_s=15)
    changes: list[Change] = []
    store.subscribe(changes.append)
    first = reading(time.time())
    store.record_success(UNIT.name, first, 0.01)
    second = dataclasses.replace(
        first.with_values(emergency_stop="pressed"), taken_at=first.taken_at + 1
    )
    store.record_success(UNIT.name, second, 0.01)
    store.record_failure(UNIT.name, "connect", "refused", 0.01)
    assert [(c.before, c.after) for c in changes] == [(None, first), (first, second),
                                                      (second, None)]  # fmt: skip
