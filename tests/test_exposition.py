"""The cached exposition: the same content as FleetCollector, valid gzip, never stale."""

from __future__ import annotations

import gzip
import time
import zlib

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from c12exporter.config import UnitConfig
from c12exporter.prometheus.collector import ExporterCollector, FleetCollector
from c12exporter.prometheus.exposition import CachedExposition, deflate_piece, gzip_from_pieces
from c12exporter.store import Store
from tests.servers import promtool
from tests.test_store import reading

UP = UnitConfig("stage-left", "127.0.0.1:1502", labels={"rack": "A3"})
DOWN = UnitConfig("stage-right", "127.0.0.1:1503")
STALE = UnitConfig("foh", "127.0.0.1:1504", labels={"room": "hall"})
NEVER = UnitConfig("spare", "127.0.0.1:1505")

Sample = tuple[str, tuple[tuple[str, str], ...], float]


def samples(text: str) -> set[Sample]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def headers(text: str) -> set[tuple[str, str, str]]:
    return {
        (f.name, f.type, f.documentation) for f in text_string_to_metric_families(text) if f.samples
    }


def collector_text(store: Store) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))
    return generate_latest(registry).decode()


def fleet(now: float) -> Store:
    """Up, down (last poll failed), stale (good poll, too old) and never polled."""
    store = Store((UP, DOWN, STALE, NEVER), staleness_s=15)
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.02)
    store.record_failure(DOWN.name, "timeout", "no answer", 0.5)
    store.record_success(STALE.name, reading(now - 60, STALE.name), 0.03)
    return store


def test_same_samples_as_the_collector_for_up_down_stale_and_labelled_units() -> None:
    now = time.time()
    store = fleet(now)
    cached = CachedExposition(store)
    text = cached.render(now).decode()
    assert samples(text) == samples(collector_text(store))
    assert headers(text) == headers(collector_text(store))
    assert 'c12_up{pdu="stage-left",rack="A3",room=""} 1.0' in text
    assert 'c12_up{pdu="foh",rack="",room="hall"} 0.0' in text  # stale: down form
    assert not any('pdu="foh"' in line for line in text.splitlines() if "voltage" in line)
    result = promtool("check", "metrics", stdin=text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_family_is_one_group() -> None:
    now = time.time()
    text = CachedExposition(fleet(now)).render(now).decode()
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    seen: list[str] = []
    for line in text.splitlines():
        if not line.startswith("#"):
            family = line.split("{")[0].split(" ")[0]
            if not seen or seen[-1] != family:
                assert family not in seen, f"{family} is split"
                seen.append(family)


def test_gzip_body_decompresses_to_the_text() -> None:
    now = time.time()
    cached = CachedExposition(fleet(now), [ExporterCollector()])
    body = cached.render_gzip(now)
    text = gzip.decompress(body)
    assert text == cached.render(now)
    assert b"c12_exporter_build_info" in text
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)  # checks CRC and length
    assert decompressor.decompress(body) == text and decompressor.eof


def test_pieces_concatenate_into_one_gzip_member() -> None:
    parts = [b"", b"a" * 5000, b"# HELP x y\n", bytes(range(256)) * 3, b"z\n"]
    body = gzip_from_pieces((p, deflate_piece(p)) for p in parts)
    assert gzip.decompress(body) == b"".join(parts)
    assert gzip.decompress(gzip_from_pieces([])) == b""


def test_follows_polls_and_turns_stale_units_down_without_an_event() -> None:
    now = time.time()
    store = Store((UP,), staleness_s=15)
    cached = CachedExposition(store)
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    assert 'c12_up{pdu="stage-left",rack="A3"} 1.0' in cached.render(now).decode()
    later = cached.render(now + 16).decode()  # no poll since: stale
    assert 'c12_up{pdu="stage-left",rack="A3"} 0.0' in later
    assert "c12_channel_current_amperes" not in later
    store.record_success(UP.name, reading(now + 20, UP.name), 0.01)
    assert samples(cached.render(now + 20).decode()) == samples(collector_text(store))


def test_changed_reading_is_served_even_if_the_event_was_missed() -> None:
    now = time.time()
    store = Store((DOWN,), staleness_s=15)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.01)
    cached = CachedExposition(store)  # subscribed after the first poll
    state = store.get(DOWN.name)
    assert state is not None
    hot = reading(now, DOWN.name).with_values(temperature=44.5)
    state.reading = hot  # behind the store's back: no event
    assert 'c12_temperature_celsius{pdu="stage-right"} 44.5' in cached.render(now).decode()


def test_fleet_changes_and_label_union() -> None:
    now = time.time()
    store = Store((DOWN,), staleness_s=15)
    cached = CachedExposition(store)
    store.record_success(DOWN.name, reading(now, DOWN.name), 0.01)
    assert 'c12_up{pdu="stage-right"} 1.0' in cached.render(now).decode()
    store.reconcile((DOWN, UP))  # a unit with a new label: every series gains "rack"
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    text = cached.render(now).decode()
    assert 'c12_up{pdu="stage-right",rack=""} 1.0' in text
    assert samples(text) == samples(collector_text(store))
    store.reconcile((UP,))
    text = cached.render(now).decode()
    assert 'pdu="stage-right"' not in text
    assert samples(text) == samples(collector_text(store))


def test_close_stops_following_the_store() -> None:
    store = Store((UP,), staleness_s=15)
    cached = CachedExposition(store)
    cached.close()
    store.record_success(UP.name, reading(time.time(), UP.name), 0.01)  # no listener left
    assert 'c12_up{pdu="stage-left",rack="A3"} 1.0' in cached.render().decode()


def test_polls_render_only_while_someone_scrapes() -> None:
    now = time.time()
    store = Store((UP,), staleness_s=15)
    cached = CachedExposition(store)
    store.record_success(UP.name, reading(now, UP.name), 0.01)
    assert not cached._units  # nobody scraped yet: nothing rendered at the poll
    first = cached.render(now).decode()
    assert 'c12_up{pdu="stage-left",rack="A3"} 1.0' in first  # rendered by the scrape
    store.record_success(UP.name, reading(now + 1, UP.name).with_values(temperature=41.5), 0.01)
    assert UP.name in cached._units  # being scraped: the poll renders its pieces
    assert (
        'c12_temperature_celsius{pdu="stage-left",rack="A3"} 41.5'
        in cached.render(now + 1).decode()
    )
