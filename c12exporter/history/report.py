"""Rows of the history as a table for people, CSV for spreadsheets, or JSON.

Times are unix seconds in JSON, ISO 8601 in UTC in the table and CSV; energy in kWh,
power in W, current in A.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping, Sequence

from ..measurements import PHASES

FORMATS = ("table", "csv", "json")
TIME_KEYS = frozenset({"time", "opened_at", "started_at", "stopped_at", "first_reading_at",
                       "last_reading_at", "last_test_at", "watched_since", "due_at",
                       "ended_at"})  # fmt: skip


def iso(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return ""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


def cell(key: str, value: object) -> str:
    if value is None:
        return ""
    if key in TIME_KEYS:
        return iso(value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if "kwh" not in key else f"{value:.3f}"
    return str(value)


def render(rows: Sequence[Mapping[str, object]], columns: Sequence[str], fmt: str) -> str:
    """``rows`` (each with ``columns``) in ``fmt``."""
    if fmt == "json":
        return json.dumps([{c: row.get(c) for c in columns} for row in rows], indent=2) + "\n"
    text = [[cell(c, row.get(c)) for c in columns] for row in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(text)
        return out.getvalue()
    widths = [max([len(c), *(len(r[i]) for r in text)]) for i, c in enumerate(columns)]
    lines = [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in [list(columns), *text]
    ]
    return "\n".join(lines) + "\n"


JOB_COLUMNS = ("unit", "energy_kwh", "counter_resets", "peak_demand_w",
               *(f"max_current_{p}_a" for p in PHASES), "readings", "first_reading_at",
               "last_reading_at")  # fmt: skip


def job_rows(report: Mapping[str, object]) -> list[dict[str, object]]:
    """A job report's units and its total as rows of :data:`JOB_COLUMNS`."""
    rows: list[dict[str, object]] = []
    units = report["units"]
    assert isinstance(units, list)
    for unit in units:
        currents = unit["max_current_a"]
        rows.append({**unit, **{f"max_current_{p}_a": currents.get(p) for p in PHASES}})
    total = report["total"]
    assert isinstance(total, dict)
    rows.append(
        {
            "unit": "TOTAL",
            "energy_kwh": total["energy_kwh"],
            "counter_resets": total["counter_resets"],
            "peak_demand_w": total["peak_demand_sum_w"],
            **{f"max_current_{p}_a": total["max_current_a"].get(p) for p in PHASES},
            "readings": total["readings"],
        }
    )
    return rows


def job_text(report: Mapping[str, object], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2) + "\n"
    rows = job_rows(report)
    if fmt == "csv":
        return render(rows, JOB_COLUMNS, "csv")
    state = (
        f"stopped {iso(report['stopped_at'])}" if report["stopped_at"] is not None else "running"
    )
    head = f"job {report['job']}: started {iso(report['started_at'])}, {state}\n"
    return head + render(rows, JOB_COLUMNS, "table")
