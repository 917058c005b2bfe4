"""A short run of ``bench/whole_exporter.py``: the whole exporter (history, console stream,
SNMP walks, gzip scrapes) and the bare pymodbus loop both poll the simulated fleet, and
the bench reports CPU per unit-poll of each and the stream's bytes (no timing asserted)."""

from __future__ import annotations

from pathlib import Path

from tests.servers import load_bench, require_tool

UNITS = 20


def test_a_short_run_measures_both_loops_and_the_stream(tmp_path: Path) -> None:
    require_tool("snmpbulkwalk", "snmp")
    bench = load_bench("whole_exporter")
    figures = bench.run(
        tmp_path, UNITS, window_s=3.0, interval=1.0, scrape_every_s=1.5, walk_every_s=2.0
    )
    # every unit read about once a second by each, over about three seconds
    assert UNITS * 2 <= figures.exporter_polls <= UNITS * 5, figures
    assert UNITS * 2 <= figures.bare_polls <= UNITS * 5, figures
    assert figures.exporter_failed == 0 and not figures.failures, figures
    assert figures.exporter_cpu_s > 0 and figures.bare_cpu_s > 0, figures
    assert figures.exporter_ms > 0 and figures.bare_ms > 0 and figures.ratio > 0, figures
    assert figures.stream_bytes > 0 and figures.stream_events > 0, figures
    assert figures.load.walks >= 1 and not figures.load.walk_errors, figures.load
    assert figures.load.scrapes >= 3, figures.load
    text = bench.report(figures, "python bench/whole_exporter.py --units 20")
    assert "| ratio exporter / bare loop |" in text
    assert f"{figures.exporter_ms:.3f} ms" in text and f"{figures.bare_ms:.3f} ms" in text
