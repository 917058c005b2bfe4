"""The RCBO test log: every open-then-closed cycle of a channel's breaker, and the unit's
e-stop, switch disconnector and neutral events beside them.

The manual asks for a monthly test of every RCBO with its T button: pressing it trips the
breaker, switching it back on closes it. The reading cannot tell a test from a trip or a
hand switched off, so every cycle counts; the log shows how long each one stayed open.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .events import BREAKER, UNIT_KINDS, Event
from .query import window

LOG_COLUMNS = ("time", "unit", "channel", "event", "opened_at", "open_s")
DUE_COLUMNS = ("unit", "channel", "last_cycle_at", "watched_since", "due_at", "overdue")


@dataclass(frozen=True)
class Cycle:
    unit: str
    channel: int
    opened_at: float
    closed_at: float


def cycle_of(event: Event, opened_at: float | None) -> Cycle | None:
    """The cycle an event ends: a breaker seen closed after it was recorded open at
    ``opened_at`` (the time of that record; the unit may have opened earlier while not
    polled)."""
    if (
        event.kind != BREAKER
        or event.channel is None
        or event.previous != "open"
        or event.state != "closed"
        or opened_at is None
    ):
        return None
    return Cycle(event.unit, event.channel, opened_at, event.at)


def last_cycles(conn: sqlite3.Connection) -> dict[tuple[str, int], float]:
    """``(unit, channel)`` -> time the last cycle ended."""
    rows = conn.execute("SELECT unit, channel, max(closed_at) FROM rcbo_cycles GROUP BY 1, 2")
    return {(unit, channel): at for unit, channel, at in rows}


def watched_since(conn: sqlite3.Connection) -> dict[tuple[str, int], float]:
    """``(unit, channel)`` -> when its breaker was first recorded (the log's start)."""
    rows = conn.execute(
        "SELECT unit, channel, min(at) FROM events WHERE kind = ? GROUP BY 1, 2", (BREAKER,)
    )
    return {(unit, channel): at for unit, channel, at in rows}


def log_rows(
    conn: sqlite3.Connection, unit: str | None, since: float | None, until: float | None
) -> list[dict[str, object]]:
    """The log in time order: one row per cycle (at its end) and per e-stop, switch or
    neutral change (baselines left out: they are not events of the unit)."""
    where, params = window("closed_at", unit, since, until)
    cycles = conn.execute(
        f"SELECT closed_at, unit, channel, opened_at FROM rcbo_cycles {where}", params
    ).fetchall()
    where, params = window("at", unit, since, until)
    kinds = ", ".join("?" for _ in UNIT_KINDS)
    others = conn.execute(
        f"SELECT at, unit, kind, state FROM events {where} "
        f"{'AND' if where else 'WHERE'} kind IN ({kinds}) AND previous IS NOT NULL",
        (*params, *UNIT_KINDS),
    ).fetchall()
    rows: list[dict[str, object]] = [
        {"time": closed, "unit": u, "channel": ch, "event": "rcbo_cycle",
         "opened_at": opened, "open_s": round(closed - opened, 3)}
        for closed, u, ch, opened in cycles
    ]  # fmt: skip
    rows += [
        {"time": at, "unit": u, "channel": None, "event": f"{kind} {state}",
         "opened_at": None, "open_s": None}
        for at, u, kind, state in others
    ]  # fmt: skip
    rows.sort(key=lambda row: (float(row["time"]), str(row["unit"])))  # type: ignore[arg-type]
    return rows


def due_rows(
    conn: sqlite3.Connection, unit: str | None, period_s: float, now: float
) -> list[dict[str, object]]:
    """Every channel ever recorded: its last cycle, and when its next test is due (a
    period after the last cycle, or after the log started for a channel never cycled)."""
    last = last_cycles(conn)
    rows: list[dict[str, object]] = []
    for (u, channel), since in sorted(watched_since(conn).items()):
        if unit is not None and u != unit:
            continue
        cycled = last.get((u, channel))
        due = (cycled if cycled is not None else since) + period_s
        rows.append({"unit": u, "channel": channel, "last_cycle_at": cycled,
                     "watched_since": since, "due_at": due, "overdue": due < now})  # fmt: skip
    return rows
