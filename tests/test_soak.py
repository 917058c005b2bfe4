"""A short soak (``bench/soak.py``): the exporter under scrapes and SNMP walks keeps
polling, and its open files do not keep growing."""

from __future__ import annotations

from pathlib import Path

from tests.servers import load_bench, require_tool

UNITS = 20
DURATION_S = 12.0
FD_MARGIN = 20
"""Open files may come and go with scrapes and walks in flight; a leak of one per poll
(20 units every 5 s) would be 40 over the run."""


def test_a_short_soak_polls_and_keeps_its_files(tmp_path: Path) -> None:
    require_tool("snmpbulkwalk", "snmp")
    soak = load_bench("soak")
    result = soak.run_soak(
        tmp_path, UNITS, DURATION_S, sample_every_s=3.0, scrape_every_s=2.0, walk_every_s=4.0
    )
    samples = result.samples
    assert len(samples) >= 3, samples
    last = samples[-1]
    assert last.polls - last.failed >= UNITS and last.failed * 2 < last.polls, last
    assert samples[-1].tasks > 0, samples[-1]
    assert not result.load.scrape_errors and not result.load.walk_errors, result.load
    assert result.load.walks >= 1 and result.load.walk_varbinds > 0, result.load
    connected = next(s for s in samples if s.polls >= UNITS)  # every unit's connection open
    assert connected is not samples[-1], samples
    assert samples[-1].fds <= connected.fds + FD_MARGIN, samples
    assert samples[-1].threads <= connected.threads + FD_MARGIN, samples
    text = soak.table(samples)
    assert "| fds |" in text and "| rss mib |" in text


def test_rss_slope_is_taken_over_the_second_half() -> None:
    soak = load_bench("soak")

    def at(seconds: float, rss: float) -> object:
        return soak.Sample(seconds, rss, 10, 3, 5, 0, 0)

    # flat for the first half, then 1 MiB more every 360 s: 10 MiB/h
    samples = [at(0, 50), at(1800, 80), at(3600, 80), at(3960, 81), at(4320, 82), at(7200, 90)]
    assert abs(soak.rss_slope_mib_per_h(samples) - 10.0) < 1e-9
    assert soak.rss_slope_mib_per_h(samples[:1]) is None
