"""A short run of ``bench/exposition.py``: in process against generate_latest (every body
checked byte for byte by the bench), what the exposition keeps, and over HTTP from an
exporter polling the simulator, scraped on a schedule (no timing asserted)."""

from __future__ import annotations

import re

import pytest

from tests.servers import load_bench

UNITS = 20


def test_a_short_run_prints_every_figure(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_bench("exposition")
    bench.in_process(UNITS, 2)
    bench.traced(UNITS)
    bench.over_http(UNITS, 2, 1.2)
    text = capsys.readouterr().out
    assert f"## `/metrics` for {UNITS} simulated units" in text
    assert "| gzip, every unit new |" in text and "| gzip body |" in text
    kept = re.search(r"Kept by the exposition between scrapes .*: ([\d.]+) MiB", text)
    assert kept is not None and float(kept[1]) > 0, text
    # Two gzip scrapes measured after the warm-up, each with every unit up (or the bench
    # stops).
    rows = re.findall(
        r"^\| (\d) \| (\d+) \| ([\d-]+) \| ([\d-]+) \| (\d+) ms \| ([\d.]+) MB \|",
        text,
        re.MULTILINE,
    )
    assert [row[0] for row in rows] == ["1", "2"], text
    assert "Gzip scrapes: median" in text
