"""The exposition rendered at scrape time: byte for byte generate_latest's, valid gzip,
never stale, each unit rendered at most once per reading and only when scraped."""

from __future__ import annotations

import dataclasses
import gzip
import time
import zlib
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from c12exporter.config import UnitConfig
from c12exporter.forecast import TripForecast
from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS
from c12exporter.prometheus.collector import ExporterCollector, FleetCollector
from c12exporter.prometheus.exposition import CachedExposition
from c12exporter.prometheus.gzip_segments import (
    KeptDeflates,
    crc32_combine,
    deflate,
    inflate,
    member,
)
from c12exporter.reading import Identity, Reading, SupervisionBand, build_reading
from c12exporter.simulator.server import Fleet, SimulatedUnit
from c12exporter.store import Store
from tests.servers import promtool
from tests.test_store import reading

UP = UnitConfig("stage-left", "127.0.0.1:1502", labels={"rack": "A3"})
DOWN = UnitConfig("stage-right", "127.0.0.1:1503")
STALE = UnitConfig("foh", "127.0.0.1:1504", labels={"room": 'hall "B"\\\n2'})
NEVER = UnitConfig("spare", "127.0.0.1:1505")


def collector_text(store: Store, *others: Collector, forecast: TripForecast | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store, forecast=forecast))
    for other in others:
        registry.register(other)
    return generate_latest(registry)


def fleet(now: float) -> Store:
    """Up, down (last poll failed), stale (good poll, too old) and never polled."""
    store = Store((UP, DOWN, STALE, NEVER), staleness_s=15)
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.02)
    store.record_failure(DOWN.name, "timeout", "no answer", 0.5)
    store.record_success(STALE.name, reading(now - 60, STALE.name), 0.03)
    return store


def test_byte_for_byte_the_collector_for_up_down_stale_and_labelled_units() -> None:
    now = time.time()
    store = fleet(now)
    own = ExporterCollector()
    cached = CachedExposition(store, [own])
    for _ in range(2):  # the first scrape through the collector, the second from the plans
        text = cached.render(now)
        assert text == collector_text(store, own)
        store.record_success(UP.name, reading(now, UP.name).with_values(temperature=41.5), 0.01)
    assert b'c12_up{pdu="stage-left",rack="A3",room=""} 1.0' in text
    assert b'c12_up{pdu="foh",rack="",room="hall \\"B\\"\\\\\\n2"} 0.0' in text  # stale
    assert not any(b'pdu="foh"' in line for line in text.splitlines() if b"voltage" in line)
    result = promtool("check", "metrics", stdin=text.decode())
    assert result.returncode == 0, result.stdout + result.stderr


def test_gzip_body_decompresses_to_the_text() -> None:
    now = time.time()
    cached = CachedExposition(fleet(now), [ExporterCollector()])
    body = cached.render_gzip(now)
    text = gzip.decompress(body)
    assert text == cached.render(now)
    assert b"c12_exporter_build_info" in text
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)  # checks CRC and length
    assert decompressor.decompress(body) == text and decompressor.eof


def test_segments_join_into_one_member_in_any_order_and_kept_ones_are_not_compressed_again() -> (
    None
):
    lines = [b'c12_x{pdu="u%d"} %d.0\n' % (i, i * 7919 % 1000) for i in range(20000)]
    texts = [b"", b"x\n", b"".join(lines[:12000]), b"".join(lines[12000:])]
    for order in ([], texts, texts[::-1], [texts[2], texts[2]]):
        body = member([deflate(text) for text in order])
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)  # checks CRC and length
        assert decompressor.decompress(body) == b"".join(order)
        assert decompressor.eof and not decompressor.unused_data
    kept = KeptDeflates()
    kept.deflated(texts)
    again = kept.deflated([texts[1], bytes(texts[2]), b"new\n"])  # an equal copy is kept
    assert kept.compressed == len(texts) + 1
    assert [inflate(d) for d in again] == [texts[1], texts[2], b"new\n"]


def test_crc32_combine_is_zlibs() -> None:
    texts = [b"", b"a", b"c12_up 1.0\n" * 1000, bytes(range(256)) * 300, b"\0" * 70000]
    for a in texts:
        for b in texts:
            assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_follows_polls_and_turns_stale_units_down_without_an_event() -> None:
    now = time.time()
    store = Store((UP,), staleness_s=15)
    cached = CachedExposition(store)
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    assert b'c12_up{pdu="stage-left",rack="A3"} 1.0' in cached.render(now)
    later = cached.render(now + 16)  # no poll since: stale
    assert b'c12_up{pdu="stage-left",rack="A3"} 0.0' in later
    assert b"c12_channel_current_amperes" not in later
    store.record_success(UP.name, reading(now + 20, UP.name), 0.01)
    assert cached.render(now + 20) == collector_text(store)


def test_changed_reading_is_served_even_if_set_behind_the_stores_back() -> None:
    now = time.time()
    store = Store((DOWN,), staleness_s=15)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.01)
    cached = CachedExposition(store)
    cached.render(now)
    state = store.get(DOWN.name)
    assert state is not None
    state.reading = reading(now, DOWN.name).with_values(temperature=44.5)  # no event
    assert b'c12_temperature_celsius{pdu="stage-right"} 44.5' in cached.render(now)


def test_fleet_changes_and_label_union() -> None:
    now = time.time()
    store = Store((DOWN,), staleness_s=15)
    cached = CachedExposition(store)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.01)
    assert b'c12_up{pdu="stage-right"} 1.0' in cached.render(now)
    store.reconcile((DOWN, UP))  # a unit with a new label: every series gains "rack"
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    text = cached.render(now)
    assert b'c12_up{pdu="stage-right",rack=""} 1.0' in text
    assert text == collector_text(store)
    store.reconcile((UP,))
    text = cached.render(now)
    assert b'pdu="stage-right"' not in text
    assert text == collector_text(store)


def test_gzip_compresses_again_only_the_families_that_changed() -> None:
    now = time.time()
    store = Store((DOWN,), staleness_s=15)
    cached = CachedExposition(store)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.01)

    def scrape() -> int:
        """Families compressed by a gzip scrape (one unit: a block each), its text checked
        against the collector's; -1 for all of them."""
        compressed = cached.compressed
        text = gzip.decompress(cached.render_gzip(now))
        assert text == collector_text(store)
        compressed = cached.compressed - compressed
        lines = text.splitlines()
        with_lines = sum(  # families without lines have no text to compress
            1 for line, after in zip(lines, [*lines[1:], b"#"], strict=True)
            if line.startswith(b"# TYPE ") and not after.startswith(b"#")
        )  # fmt: skip
        return -1 if compressed == with_lines else compressed

    assert scrape() == -1
    assert scrape() == 0
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.01)  # the same values again
    assert scrape() == 1  # c12_polls_total
    store.record_success(DOWN.name, reading(now, DOWN.name).with_values(temperature=41.5), 0.01)
    compressed = cached.compressed
    cached.prepare(now)  # rendered and compressed ahead of the scrape
    assert cached.compressed == compressed + 2  # c12_polls_total and the temperature
    assert scrape() == 0
    store.reconcile((DOWN, UP))  # a unit more, and a label on every series
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    assert scrape() == -1
    store.reconcile((UP, DOWN))  # the same units in another order
    assert scrape() == -1
    store.reconcile((UP,))
    assert scrape() == -1


def test_a_unit_is_rendered_at_most_once_per_reading_and_only_when_scraped() -> None:
    units = [UnitConfig(f"u{i}", f"127.0.0.1:{1600 + i}") for i in range(4)]
    store = Store(tuple(units), staleness_s=15)
    cached = CachedExposition(store)
    now = time.time()
    for poll in range(3):  # polls, nobody scrapes: nothing rendered
        for unit in units:
            store.record_success(unit.name, reading(now + poll, unit.name), 0.01)
    assert cached.renders == 0
    cached.render(now + 2)
    assert cached.renders == 4  # each unit once, for its latest reading
    cached.render(now + 2)
    cached.render_gzip(now + 2)
    assert cached.renders == 4  # nothing new: nothing rendered
    store.record_success("u1", reading(now + 3, "u1"), 0.01)
    store.record_success("u2", reading(now + 3, "u2"), 0.01)
    store.record_success("u2", reading(now + 4, "u2"), 0.01)  # two polls, one scrape
    assert cached.renders == 4
    text = cached.render(now + 4)
    assert cached.renders == 6  # u1 and u2, once each
    assert cached.render(now + 4) == text and cached.renders == 6
    cached.render(now + 30)  # all stale now: each unit's down form, once
    assert cached.renders == 10
    cached.render(now + 31)
    assert cached.renders == 10


# ------------------------------------------------------------ readings of every shape


def simulated(unit: SimulatedUnit, taken_at: float, **settings: object) -> Reading:
    """``unit``'s registers decoded as a poll decodes them, some settings overridden."""
    physics = unit.physics
    values = {
        **MEASUREMENTS.decode(MEASUREMENTS.encode(physics.measurements())),
        **SETTINGS.decode(SETTINGS.encode({**physics.settings(), **settings})),
    }
    identity = Identity("StageSmarts", unit.model.name, unit.firmware, unit.serial)
    return build_reading(unit.name, identity, unit.model, taken_at, values)


def test_plans_follow_readings_of_every_shape_byte_for_byte() -> None:
    """Simulated units over two minutes of their scenario: values move, a band is set and
    cleared, a meter fuse blows (voltage missing), polls fail; every scrape equals the
    collector's text, and plans, not the collector, render the units most of the time."""
    sim = Fleet.build(6, seed=3)
    configs = tuple(
        UnitConfig(u.name, f"127.0.0.1:{1700 + i}", labels={"rack": f"R{i % 2}"})
        for i, u in enumerate(sim.units)
    )
    store = Store(configs, staleness_s=1e9)
    forecast = TripForecast(store)
    cached = CachedExposition(store, forecast=forecast)
    band = {"supervision_min": [0.5] + [None] * 11, "supervision_max": [2.0] * 12}
    start = time.time()
    for step in range(24):
        for i, unit in enumerate(sim.units):
            unit.physics.advance(unit.physics.time_s + 5)
            if i == 1 and step == 8:
                unit.physics.fuse_ok[2] = False  # L3's meter fuse: its voltage goes missing
            if i == 1 and step == 16:
                unit.physics.fuse_ok[2] = True
            if i == 2 and step % 7 == 3:
                store.record_failure(unit.name, "timeout", "no answer", 2.0)
                continue
            settings = band if (i == 3 and 6 <= step < 14) else {}
            store.record_success(unit.name, simulated(unit, start + step * 5, **settings), 0.02)
        renders = cached.renders
        text = cached.render(start + step * 5)
        assert cached.renders - renders == len(sim.units)  # every unit has a new state
        assert text == collector_text(store, forecast=forecast), f"step {step}"
    assert cached.planned > 0.8 * 24 * len(sim.units)
    result = promtool("check", "metrics", stdin=text.decode())
    assert result.returncode == 0, result.stdout + result.stderr


def test_units_of_one_shape_share_one_template_whatever_their_names_and_labels() -> None:
    now = time.time()
    configs = [
        UnitConfig("stage-left", "127.0.0.1:1502", labels={"rack": "A3"}),
        UnitConfig('foh "main"', "127.0.0.1:1503", labels={"rack": "50% \\ B"}),
    ]
    store = Store(configs, staleness_s=15)
    cached = CachedExposition(store)
    for config in configs:
        store.record_success(config.name, reading(now, config.name), 0.01)
    cached.render(now)
    for config in configs:
        store.record_success(config.name, reading(now + 1, config.name), 0.01)
    assert cached.render(now + 1) == collector_text(store)
    plans = [cached._units[config.name].plan for config in configs]
    assert plans[0] is not None and plans[1] is not None and plans[0] is not plans[1]
    assert plans[0].layouts[0].template is plans[1].layouts[0].template
    assert b"stage-left" not in plans[0].layouts[0].template
    channels = [plan.key[6] for plan in plans]  # what each plan keeps of the channels
    assert channels[0] == channels[1] and channels[0] is not channels[1]
    assert all(a is b for a, b in zip(*channels, strict=True))  # each channel's kept once


def test_a_unit_whose_reading_changes_shape_gets_a_new_plan() -> None:
    now = time.time()
    store = Store((UP,), staleness_s=15)
    cached = CachedExposition(store)
    first = reading(now, UP.name)
    store.record_success(UP.name, first, 0.01)
    cached.render(now)
    cached.render(now)
    channels = list(first.channels)
    channels[4] = dataclasses.replace(channels[4], name="Hazer", supervision=SupervisionBand(1.0))
    renamed = dataclasses.replace(first, channels=tuple(channels), taken_at=now + 1)
    store.record_success(UP.name, renamed, 0.01)
    text = cached.render(now + 1)
    assert b'c12_channel_info{channel="5",connector=' in text and b'name="Hazer"' in text
    assert (
        b'c12_channel_supervision_min_amperes{channel="5",pdu="stage-left",rack="A3"} 1.0' in text
    )
    assert text == collector_text(store)


def test_a_number_that_grows_past_a_million_is_written_as_go_writes_it() -> None:
    now = time.time()
    store = Store((UP,), staleness_s=15)
    cached = CachedExposition(store)
    small = reading(now, UP.name).with_values(
        active_energy_import=999_000.0, uptime=999_000.0, temperature=-0.0
    )
    store.record_success(UP.name, small, 0.01)
    cached.render(now)
    large = small.with_values(active_energy_import=1_234_567.0, uptime=1_000_001.0)
    store.record_success(UP.name, large, 0.01)
    planned = cached.planned
    text = cached.render(now)
    assert cached.planned == planned + 1  # through the plan, its numbers sorted again
    assert b'c12_active_energy_import_joules_total{pdu="stage-left",rack="A3"} 1.234567e+06' in text
    assert b'c12_uptime_seconds{pdu="stage-left",rack="A3"} 1.000001e+06' in text
    assert text == collector_text(store)

    def templates() -> list[bytes]:
        plan = cached._units[UP.name].plan
        assert plan is not None
        return [layout.template for layout in plan.layouts]

    # A restart (uptime small again) while another number passes a million: the layout is
    # sorted again for that one, and uptime stays written as a large number, so that the
    # next long run does not sort it again.
    store.record_success(UP.name, large.with_values(uptime=5.0, active_power=1.5e6), 0.01)
    assert cached.render(now) == collector_text(store)
    before = templates()
    store.record_success(UP.name, large.with_values(uptime=2e6, active_power=1.5e6), 0.01)
    assert cached.render(now) == collector_text(store)
    assert all(a is b for a, b in zip(templates(), before, strict=True))
    store.record_success(UP.name, small.with_values(temperature=float("nan")), 0.01)
    text = cached.render(now)
    assert b'c12_temperature_celsius{pdu="stage-left",rack="A3"} NaN' in text
    assert text == collector_text(store)


def test_labels_with_a_percent_sign_or_a_nul_are_written_as_the_collector_writes_them() -> None:
    # A plan's template takes "%" as a slot and NUL between families: a "%" in a label is
    # escaped in the template, a NUL makes the unit go through the collector.
    percent = UnitConfig("stage-left", "127.0.0.1:1502", labels={"rack": "50% %r %b %%"})
    nul = UnitConfig("stage-right", "127.0.0.1:1503", labels={"rack": "A\x003"})
    now = time.time()
    store = Store((percent, nul), staleness_s=15)
    cached = CachedExposition(store)
    for step in range(3):
        for config in (percent, nul):
            store.record_success(config.name, reading(now + step, config.name), 0.01)
        text = cached.render(now + step)
        assert text == collector_text(store), f"step {step}"
    assert b'rack="50% %r %b %%"} ' in text and b'rack="A\x003"} ' in text
    assert cached.planned == 2  # the "%" unit's second and third readings, not the NUL one's


def overloaded(r: Reading, amps: float) -> Reading:
    """``r`` with its first channel drawing ``amps`` (its breaker closed)."""
    first = r.channels[0].with_values(channel_current=amps, channel_breaker="closed")
    return dataclasses.replace(r, channels=(first, *r.channels[1:]))


def test_trip_forecasts_and_poll_errors_are_written_by_the_plan_as_the_collector_writes_them() -> (
    None
):
    sim = Fleet.build(3, seed=5)
    configs = tuple(UnitConfig(u.name, f"127.0.0.1:{1800 + i}") for i, u in enumerate(sim.units))
    store = Store(configs, staleness_s=1e9)
    forecast = TripForecast(store)
    cached = CachedExposition(store, forecast=forecast)
    start = time.time()
    for step in range(8):
        for i, unit in enumerate(sim.units):
            unit.physics.advance(unit.physics.time_s + 5)
            r = simulated(unit, start + step * 5)
            rating = r.channels[0].rating_a
            if i != 1:  # overloaded by more and more, then by another channel too
                r = overloaded(r, rating * (1.5 + step / 10))
            if i == 2 and step >= 4:
                second = r.channels[1].with_values(channel_current=rating * 2.5)
                r = dataclasses.replace(r, channels=(r.channels[0], second, *r.channels[2:]))
            if step in (2, 5) and i == 0:
                store.record_failure(unit.name, "timeout", "no answer", 2.0)
            store.record_success(unit.name, r, 0.02)
        planned = cached.planned
        text = cached.render(start + step * 5)
        assert text == collector_text(store, forecast=forecast), f"step {step}"
        if step:
            assert cached.planned - planned == len(sim.units)
    assert text.count(b"c12_channel_trip_forecast_seconds{") == 3
    assert b'c12_poll_errors_total{pdu="' + sim.units[0].name.encode() in text


class PollDuringScrape(TripForecast):
    """A trip forecast under which a poll lands while the scrape renders (the first time
    the heat of ``unit``'s reading is asked for, a newer reading is recorded)."""

    def __init__(self, store: Store, unit: str, newer: Reading) -> None:
        super().__init__(store)
        self.unit, self.newer = unit, newer

    def heat(self, reading: Reading) -> dict[int, float]:
        newer, self.newer = self.newer, None
        if newer is not None and reading.unit == self.unit:
            self.store.record_success(self.unit, newer, 0.02)
        return dict(super().heat(reading))


def test_a_reading_replaced_during_the_scrape_is_rendered_from_the_newer_one() -> None:
    sim = Fleet.build(2, seed=7)
    configs = tuple(UnitConfig(u.name, f"127.0.0.1:{1900 + i}") for i, u in enumerate(sim.units))
    store = Store(configs, staleness_s=1e9)
    start = time.time()
    first = [simulated(u, start) for u in sim.units]
    for u in sim.units:
        u.physics.advance(u.physics.time_s + 5)
    newer = simulated(sim.units[0], start + 5)
    forecast = PollDuringScrape(store, sim.units[0].name, newer)
    cached = CachedExposition(store, forecast=forecast)
    for r in first:
        store.record_success(r.unit, r, 0.02)
    text = cached.render(start + 5)
    assert forecast.newer is None  # the poll landed during the scrape
    assert text == collector_text(store, forecast=forecast)
    assert text.count(b"c12_channel_breaker_heat_ratio{") == 24  # none lost to the old one


class KeptFamily(Collector):
    """Yields the same metric object at every scrape until it is replaced, as the
    history's RCBO test log does."""

    def __init__(self) -> None:
        self.metric = GaugeMetricFamily(
            "c12_test_kept", "A family kept between scrapes", labels=["pdu"]
        )
        self.metric.add_metric(["a"], 1.0)

    def collect(self) -> Iterator[Metric]:
        yield self.metric


def test_own_metrics_yielded_again_keep_their_text_and_every_change_is_served() -> None:
    now = time.time()
    store = fleet(now)
    kept, own = KeptFamily(), ExporterCollector()
    cached = CachedExposition(store, [kept, own])
    assert cached.render(now) == collector_text(store, kept, own)
    text = cached._own._kept[id(kept.metric)][2]
    assert cached.render(now) == collector_text(store, kept, own)
    assert cached._own._kept[id(kept.metric)][2] is text  # not written again
    kept.metric.add_metric(["b"], 2.0)  # the same object, one sample more
    assert b'c12_test_kept{pdu="b"} 2.0' in cached.render(now)
    kept.metric = GaugeMetricFamily(
        "c12_test_kept", "A family kept between scrapes", labels=["pdu"]
    )
    kept.metric.add_metric(["a"], 3.0)
    body = cached.render_gzip(now)
    assert gzip.decompress(body) == collector_text(store, kept, own)
    assert b'c12_test_kept{pdu="a"} 3.0' in gzip.decompress(body)
