"""Reading the history back: time arguments, and events in a window."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import time

from .db import HistoryError

_RELATIVE = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>s|m|h|d|w)$")
_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
EVENT_COLUMNS = ("time", "unit", "channel", "kind", "state", "previous", "detail")


def parse_time(text: str, what: str, now: float | None = None) -> float:
    """``2h`` (that long ago), ``now``, or an ISO 8601 time (local time when it has no
    offset) -> unix seconds."""
    text = text.strip()
    now = time.time() if now is None else now
    if text == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        return now - float(match.group("value")) * _SECONDS[match.group("unit")]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise HistoryError(
            f"{what}: {text!r} is neither a time like 2026-05-12T18:00 (ISO 8601) nor an "
            "age like 30m, 2h, 7d",
            what.lstrip("-"),
        ) from None
    return parsed.timestamp()  # naive: local time


def window(
    column: str, unit: str | None, since: float | None, until: float | None
) -> tuple[str, tuple[object, ...]]:
    """A ``WHERE`` clause (or ``""``) and its parameters for a unit and a time range."""
    clauses, params = [], []
    for clause, value in (("unit = ?", unit), (f"{column} >= ?", since), (f"{column} <= ?", until)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


def event_rows(
    conn: sqlite3.Connection,
    unit: str | None = None,
    since: float | None = None,
    until: float | None = None,
    *,
    changes_only: bool = False,
) -> list[dict[str, object]]:
    """Events in time order; ``previous`` is ``None`` for a baseline."""
    where, params = window("at", unit, since, until)
    if changes_only:
        where += (" AND" if where else "WHERE") + " previous IS NOT NULL"
    rows = conn.execute(
        f"SELECT at, unit, channel, kind, state, previous, detail FROM events {where} "
        "ORDER BY at, id",
        params,
    )
    return [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows]
