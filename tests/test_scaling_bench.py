"""A small scaling run (``bench/scaling.py``): two fleet sizes polled from simulators in
processes of their own, the SNMP agent walked, one of them under tracemalloc; every
figure printed and sane.
No timing is asserted."""

from __future__ import annotations

from pathlib import Path

from tests.servers import load_bench

SIZES = (10, 20)
INTERVAL_S = 1.0
INTERVALS = 3.0


def test_two_fleet_sizes_are_measured_and_printed(tmp_path: Path) -> None:
    scaling = load_bench("scaling")
    snapshot = tmp_path / "traced.bin"
    points = [
        scaling.measure(
            tmp_path, units, INTERVAL_S, INTERVALS, scrape_every_s=1.0, timeout_s=1.0,
            per_simulator=12,  # 20 units: two simulators, the names kept apart
            snapshot=snapshot if units == SIZES[0] else None,
        )
        for units in SIZES
    ]  # fmt: skip
    for point, units in zip(points, SIZES, strict=True):
        assert point.units == units
        assert point.up_after_s is not None, point
        assert 20 < point.rss_mib <= point.peak_rss_mib < 2048, point
        assert abs(point.due - units * point.window_s / INTERVAL_S) <= units, point
        assert point.polls >= units and point.failed * 2 < point.polls, point
        assert point.cpu_s > 0 and 0 < point.cpu_ms_per_poll < 1000, point
        assert point.stale < units, point
        assert len(point.scrape_s) >= 2 and all(s > 0 for s in point.scrape_s), point
        assert point.scrape_mib > 0, point
        assert point.walked == units, point  # the SNMP agent answered for every unit
    text = scaling.report(points, "python bench/scaling.py --units 10,20")
    for units in SIZES:
        assert f"\n| {units} | 1 s | " in text, text
    assert "MiB per 1,000 units" in text and "least squares" in text, text
    traced = scaling.traced_table(snapshot)
    assert "| c12exporter/" in traced and "| imports (code objects, modules) |" in traced
    assert "| aiohttp |" in traced and "| all (" in traced, traced


def test_simulators_share_the_units_evenly() -> None:
    scaling = load_bench("scaling")
    assert scaling.simulator_shares(10_000, 5_000) == [5_000, 5_000]
    assert scaling.simulator_shares(10_001, 5_000) == [3_334, 3_334, 3_333]
    assert scaling.simulator_shares(20, 12) == [10, 10]
    assert scaling.simulator_shares(1, 5_000) == [1]


def test_stale_units_are_those_not_up_or_not_polled_lately() -> None:
    scaling = load_bench("scaling")
    text = "\n".join([
        'c12_up{pdu="a"} 1.0', 'c12_polls_total{pdu="a"} 7.0',
        'c12_last_poll_success_timestamp_seconds{pdu="a"} 995.0',
        'c12_up{pdu="b"} 1.0', 'c12_polls_total{pdu="b"} 5.0',
        'c12_last_poll_success_timestamp_seconds{pdu="b"} 900.0',
        'c12_up{pdu="c"} 0.0', 'c12_polls_total{pdu="c"} 4.0',
        'c12_poll_errors_total{pdu="c",reason="timeout"} 4.0',
    ])  # fmt: skip
    seen = scaling.read_exposition(text, now=1000.0, stale_after_s=10.0)
    assert (seen.polls, seen.failed, seen.units, seen.stale) == (16, 4, 3, 2)
