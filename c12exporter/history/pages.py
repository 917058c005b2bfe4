"""Printable HTML pages of the history: a job's show report and an RCBO test session's
record. Plain HTML with inline CSS and inline SVG charts: no script, nothing fetched, so a
page saved to a file or printed to PDF is complete.
"""

from __future__ import annotations

import html
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..measurements import PHASES
from . import jobs, rcbo, samples, supply
from .query import event_rows
from .report import JOB_COLUMNS, TIME_KEYS, cell, iso, job_rows

PHASE_COLOURS = {"L1": "#8b4513", "L2": "#111111", "L3": "#888888"}
"""The phase colours of IEC 60445 (brown, black, grey)."""
STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#111;max-width:60em}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #999} h3{font-size:1em;margin:1em 0 .3em}
table{border-collapse:collapse;margin:.4em 0;font-size:.85em}
th,td{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top;
white-space:nowrap} td.w{white-space:normal}
td.n{text-align:right} .pass{color:#060} .fail,.unsafe{color:#b00;font-weight:bold}
.not_tested{color:#a60} .safe{color:#060;font-weight:bold} .meta{color:#444}
svg{display:block;margin:.3em 0} svg text{font:11px sans-serif} .sign{margin-top:3em}
@media print{body{margin:0} h2{break-after:avoid} svg,table{break-inside:avoid}}
"""


def e(value: object) -> str:
    return html.escape(str(value), quote=True)


def utc(seconds: object) -> str:
    """A time as the pages show it: ``2026-05-12 18:00:00`` (each page says it is UTC)."""
    return iso(seconds).replace("T", " ").removesuffix("+00:00")


def page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    if not rows:
        return '<p class="meta">none</p>'
    head = "".join(f"<th>{e(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c)
            kind = ' class="n"' if isinstance(value, int | float) and c not in ("channel",) else ""
            if c in ("result", "verdict") and isinstance(value, str):
                kind = f' class="{e(value if c == "result" else _verdict_class(value))}"'
            elif c in WRAPPED:
                kind = ' class="w"'
            text = utc(value) if c in TIME_KEYS else cell(c, value)
            cells.append(f"<td{kind}>{e(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


WRAPPED = frozenset({"detail", "reasons"})
"""Columns of free text, wrapped; the others stay on one line."""


def _verdict_class(verdict: str) -> str:
    return "safe" if verdict == supply.SAFE else "unsafe"


# --- charts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    points: Sequence[tuple[float, float | None]]
    dashed: bool = False


WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 210, 58, 10, 24, 26
SHORT_SPAN_S = 600.0
"""Below this span the time axis shows seconds too."""


def _nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` ticks."""
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(f * power for f in (1.0, 2.0, 2.5, 5.0, 10.0) if raw <= f * power * 1.000001)


def chart(title: str, unit: str, series: Sequence[Series], start: float, end: float) -> str:
    """A line chart of ``series`` over ``start``..``end`` (unix s), y from 0; a gap where a
    value is missing. Returns an ``<svg>`` element with a title for screen readers."""
    values = [v for s in series for _, v in s.points if v is not None]
    top = max(values, default=0.0)
    step = _nice_step(top or 1.0)
    y_max = step * (int(top / step) + 1)
    end = max(end, start + 60.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - start) / (end - start) * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / y_max * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{e(title)}">',
        f"<title>{e(title)}</title>",
        f'<text x="{LEFT}" y="14" font-weight="bold">{e(title)} ({e(unit)})</text>',
    ]
    tick = 0.0
    while tick <= y_max + 1e-9:
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#ddd"/><text x="{LEFT - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{tick:g}</text>"
        )
        tick += step
    clock = "%H:%M" if end - start >= SHORT_SPAN_S else "%H:%M:%S"
    for i in range(6):
        t = start + (end - start) * i / 5
        label = time.strftime(clock, time.gmtime(t))
        anchor = "start" if i == 0 else "end" if i == 5 else "middle"
        parts.append(f'<text x="{x(t):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{label}</text>')
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>'
    )
    legend_x = LEFT + 260
    for s in series:
        dash = ' stroke-dasharray="5,3"' if s.dashed else ""
        for run in _runs(s.points):
            coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in run)
            if len(run) == 1:
                t, v = run[0]
                parts.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="1.5" fill="{s.colour}"/>')
            else:
                parts.append(
                    f'<polyline fill="none" stroke="{s.colour}" stroke-width="1.5"{dash} '
                    f'points="{coords}"/>'
                )
        parts.append(
            f'<line x1="{legend_x}" x2="{legend_x + 18}" y1="10" y2="10" stroke="{s.colour}" '
            f'stroke-width="2"{dash}/><text x="{legend_x + 22}" y="14">{e(s.label)}</text>'
        )
        legend_x += 30 + 7 * len(s.label)
    parts.append("</svg>")
    return "".join(parts)


def _runs(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    runs: list[list[tuple[float, float]]] = [[]]
    for t, v in points:
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((t, v))
    return [run for run in runs if run]


# --- the show report ----------------------------------------------------------------------

EVENT_COLUMNS = ("time", "unit", "channel", "kind", "state", "previous", "detail")
UNIT_COLUMNS = tuple(c for c in JOB_COLUMNS if not c.endswith("_reading_at"))
"""The totals per unit on the page (the CSV has the first and last reading's times too)."""
SUPPLY_COLUMNS = ("time", "unit", "serial", "verdict", "reasons", "jobs", "checked_by")


def show_report(conn: sqlite3.Connection, name: str, now: float | None = None) -> str:
    """A job's printable report: totals, charts per unit, events, tests, supply checks."""
    job = jobs.load_job(conn, name)
    report = job.report()
    start = job.started_at
    end = job.stopped_at if job.stopped_at is not None else (now or time.time())
    state = f"stopped {utc(job.stopped_at)}" if job.stopped_at is not None else "running"
    units = list(job.units)
    events = [
        row for unit in units for row in event_rows(conn, unit, start, end, changes_only=True)
    ]
    events.sort(key=lambda row: float(row["time"]))  # type: ignore[arg-type]
    tests = [r for u in units for r in rcbo.test_rows(conn, u, start, end)]
    tests.sort(key=lambda row: float(row["time"]))  # type: ignore[arg-type]
    checks = [c.row() for u in units for c in supply.load_checks(conn, u, start, end)]
    checks.sort(key=lambda row: float(row["time"]))  # type: ignore[arg-type]
    rows = samples.sample_rows(conn, job.id)
    total = report["total"]
    assert isinstance(total, dict)
    body = [
        f"<h1>Show report: {e(job.name)}</h1>",
        f'<p class="meta">Started {e(utc(start))}, {e(state)}. Units: {e(", ".join(units))}. '
        f"Printed {e(utc(now or time.time()))}. Times in UTC.</p>",
        f"<p><b>Energy {total['energy_kwh']:.3f} kWh</b>; peak demand "
        f"{e(cell('w', total['peak_demand_sum_w']) or 'none yet')} W (sum of the units' "
        "15-minute peaks); maximum current "
        + ", ".join(f"{p} {e(cell('a', total['max_current_a'].get(p)) or '-')} A" for p in PHASES)
        + f"; {total['counter_resets']} meter restarts.</p>",
        "<h2>Per unit</h2>",
        table(job_rows(report), UNIT_COLUMNS),
        "<h2>Over time</h2>",
        '<p class="meta">Mean active power and the meter\'s 15-minute demand, and the '
        "highest current of each phase, per " + e(_width_text(rows)) + ".</p>",
    ]
    for unit in units:
        mine = [r for r in rows if r["unit"] == unit]
        body.append(f"<h3>{e(unit)}</h3>")
        if not mine:
            body.append('<p class="meta">no readings yet</p>')
            continue
        body.append(chart(f"{unit}: power", "W", [
            Series("active power", "#1f5fa8", _points(mine, "active_power_w")),
            Series("demand (15 min)", "#c0392b", _points(mine, "demand_w"), dashed=True),
        ], start, end))  # fmt: skip
        body.append(chart(f"{unit}: phase currents", "A", [
            Series(p, PHASE_COLOURS[p], _points(mine, f"current_{p.lower()}_a")) for p in PHASES
        ], start, end))  # fmt: skip
    body += [
        f"<h2>Events and alarms ({len(events)})</h2>",
        table(events, EVENT_COLUMNS),
        f"<h2>RCBO tests ({len(tests)})</h2>",
        table(tests, rcbo.TEST_COLUMNS),
        f"<h2>Supply checks ({len(checks)})</h2>",
        table(checks, SUPPLY_COLUMNS),
    ]
    return page(f"Show report: {job.name}", "\n".join(body))


def _points(rows: Sequence[Mapping[str, object]], key: str) -> list[tuple[float, float | None]]:
    """The buckets' values at their middles; a gap (``None``) where buckets are missing
    (the unit could not be read), so the line is not drawn across it."""
    points: list[tuple[float, float | None]] = []
    last_end: float | None = None
    for row in rows:
        at, width, value = row["time"], row["width_s"], row.get(key)
        assert isinstance(at, int | float) and isinstance(width, int | float)
        if last_end is not None and at > last_end:
            points.append((last_end, None))
        points.append((at + width / 2, float(value) if isinstance(value, int | float) else None))
        last_end = at + width
    return points


def _width_text(rows: Sequence[Mapping[str, object]]) -> str:
    widths = {int(w) for r in rows if isinstance(w := r["width_s"], int | float)}
    width = max(widths, default=samples.BUCKET_S)
    if width % 60:
        return "second" if width == 1 else f"{width} seconds"
    return "minute" if width == 60 else f"{width // 60} minutes"


# --- the RCBO test record -----------------------------------------------------------------

RECORD_COLUMNS = ("channel", "result", "time", "detail")


def session_record(state: Mapping[str, object]) -> str:
    """A session's printable record (``state`` as :meth:`History.session_state` gives)."""
    results = state["results"]
    assert isinstance(results, list)
    counts = {r: sum(x["result"] == r for x in results) for r in ("pass", "fail", "not_tested")}
    ended = state.get("ended_at")
    title = f"RCBO test record: {state['unit']} (serial {state['serial']})"
    body = [
        f"<h1>{e(title)}</h1>",
        "<table>"
        + "".join(
            f'<tr><th>{e(k)}</th><td class="w">{e(v)}</td></tr>'
            for k, v in (
                ("unit", state["unit"]),
                ("serial number", state["serial"]),
                ("tester", state["tester"]),
                ("session", state["session"]),
                ("started (UTC)", utc(state["started_at"])),
                ("ended (UTC)", utc(ended) if ended is not None else "running"),
                ("jobs", state.get("jobs") or "-"),
                ("time limit per channel", f"{state['timeout_s']:g} s"),
                (
                    "method",
                    "T button pressed with power applied; the breaker must open at "
                    "once with no overcurrent behind it (manual: monthly; BS 7909)",
                ),
            )
        )
        + "</table>",
        f"<h2>Results: {counts['pass']} passed, {counts['fail']} failed, "
        f"{counts['not_tested']} not tested</h2>",
        '<p class="meta">Times in UTC.</p>',
        table(results, RECORD_COLUMNS),
    ]
    if counts["fail"]:
        body.append(
            '<p class="fail">A failed RCBO: stop using that output and have the unit inspected '
            "by StageSmarts or an authorised service agent (the manual).</p>"
        )
    body.append('<p class="sign">Tester\'s signature: ______________________ &nbsp; '
                "Date: ____________</p>")  # fmt: skip
    return page(title, "\n".join(body))


# --- lists ----------------------------------------------------------------------------------


def listing(title: str, rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """A list of records as a page (the tests, the supply checks)."""
    note = f'<p class="meta">{len(rows)} records. Times in UTC.</p>'
    return page(title, f"<h1>{e(title)}</h1>\n{note}\n{table(rows, columns)}")
