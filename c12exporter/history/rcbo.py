"""The RCBO test log: the tests of test sessions (:mod:`.rcbo_session`), every
open-then-closed cycle of a channel's breaker with why it opened, and the unit's e-stop,
switch disconnector and neutral events beside them.

The manual asks for a monthly test of every RCBO with its T button. Only a passed test of
a session counts as one (when a test is due, on ``/metrics`` and in ``--due``): a trip on
overcurrent or a hand switch-off is a cycle, logged with its cause, never a test.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from .db import HistoryError
from .events import BREAKER, UNIT_KINDS, Event
from .query import window
from .rcbo_session import PASS, UNKNOWN

LOG_COLUMNS = ("time", "unit", "channel", "event", "cause", "opened_at", "open_s", "tester")
DUE_COLUMNS = ("unit", "channel", "last_test_at", "last_result", "watched_since", "due_at",
               "overdue")  # fmt: skip
TEST_COLUMNS = ("time", "session", "unit", "serial", "channel", "result", "tester", "detail")


@dataclass(frozen=True)
class Cycle:
    unit: str
    channel: int
    opened_at: float
    closed_at: float
    cause: str


def cycle_of(event: Event, opened_at: float | None, cause: str) -> Cycle | None:
    """The cycle an event ends: a breaker seen closed after it was recorded open at
    ``opened_at`` (the time of that record; the unit may have opened earlier while not
    polled) for ``cause`` (:data:`.rcbo_session.TEST`, ``OVERCURRENT``, ``OFF``)."""
    if (
        event.kind != BREAKER
        or event.channel is None
        or event.previous != "open"
        or event.state != "closed"
        or opened_at is None
    ):
        return None
    return Cycle(event.unit, event.channel, opened_at, event.at, cause)


def last_cycles(conn: sqlite3.Connection) -> dict[tuple[str, int], float]:
    """``(unit, channel)`` -> time the last cycle ended, whatever opened it."""
    rows = conn.execute("SELECT unit, channel, max(closed_at) FROM rcbo_cycles GROUP BY 1, 2")
    return {(unit, channel): at for unit, channel, at in rows}


def last_tests(conn: sqlite3.Connection) -> dict[tuple[str, int], float]:
    """``(unit, channel)`` -> time of its last passed test."""
    rows = conn.execute(
        "SELECT unit, channel, max(at) FROM rcbo_tests WHERE result = ? GROUP BY 1, 2", (PASS,)
    )
    return {(unit, channel): at for unit, channel, at in rows}


def open_causes(conn: sqlite3.Connection) -> dict[tuple[str, int], str]:
    """``(unit, channel)`` -> why each breaker recorded open now opened (the detail of its
    last ``breaker open`` event), so a cycle that ends after a restart keeps its cause."""
    rows = conn.execute(
        "SELECT s.unit, s.channel, (SELECT detail FROM events e WHERE e.unit = s.unit AND "
        "e.channel = s.channel AND e.kind = s.kind AND e.state = 'open' ORDER BY at DESC, id "
        "DESC LIMIT 1) FROM states s WHERE s.kind = ? AND s.state = 'open'",
        (BREAKER,),
    )
    return {(u, ch): (detail or UNKNOWN).split(" ", 1)[0] for u, ch, detail in rows}


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
        f"SELECT closed_at, unit, channel, opened_at, cause FROM rcbo_cycles {where}", params
    ).fetchall()
    where, params = window("at", unit, since, until)
    tests = conn.execute(
        f"SELECT at, unit, channel, result, tester FROM rcbo_tests {where}", params
    ).fetchall()
    where, params = window("at", unit, since, until)
    kinds = ", ".join("?" for _ in UNIT_KINDS)
    others = conn.execute(
        f"SELECT at, unit, kind, state FROM events {where} "
        f"{'AND' if where else 'WHERE'} kind IN ({kinds}) AND previous IS NOT NULL",
        (*params, *UNIT_KINDS),
    ).fetchall()
    rows: list[dict[str, object]] = [
        {"time": closed, "unit": u, "channel": ch, "event": "rcbo_cycle", "cause": cause,
         "opened_at": opened, "open_s": round(closed - opened, 3)}
        for closed, u, ch, opened, cause in cycles
    ]  # fmt: skip
    rows += [
        {"time": at, "unit": u, "channel": ch, "event": f"rcbo_test {result}", "tester": tester}
        for at, u, ch, result, tester in tests
    ]
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
    """Every channel ever recorded: its last passed test, the result of its last test, and
    when its next test is due (a period after the last passed test, or after the log
    started for a channel never passed)."""
    passed = last_tests(conn)
    results = dict(
        ((u, ch), result)
        for u, ch, result in conn.execute(
            "SELECT unit, channel, result FROM rcbo_tests ORDER BY at, id"
        )
    )
    rows: list[dict[str, object]] = []
    for (u, channel), since in sorted(watched_since(conn).items()):
        if unit is not None and u != unit:
            continue
        tested = passed.get((u, channel))
        due = (tested if tested is not None else since) + period_s
        rows.append({"unit": u, "channel": channel, "last_test_at": tested,
                     "last_result": results.get((u, channel)), "watched_since": since,
                     "due_at": due, "overdue": due < now})  # fmt: skip
    return rows


def test_rows(
    conn: sqlite3.Connection,
    unit: str | None = None,
    since: float | None = None,
    until: float | None = None,
    session: int | None = None,
) -> list[dict[str, object]]:
    """The tests of sessions in time order, as rows of :data:`TEST_COLUMNS`."""
    where, params = window("at", unit, since, until)
    if session is not None:
        where += (" AND" if where else "WHERE") + " session = ?"
        params += (session,)
    rows = conn.execute(
        f"SELECT at, session, unit, serial, channel, result, tester, detail FROM rcbo_tests "
        f"{where} ORDER BY at, id",
        params,
    )
    return [dict(zip(TEST_COLUMNS, row, strict=True)) for row in rows]


SESSION_COLUMNS = ("session", "unit", "serial", "tester", "started_at", "ended_at",
                   "timeout_s", "jobs")  # fmt: skip


def session_row(conn: sqlite3.Connection, session: int) -> dict[str, object]:
    """One session as written; :class:`HistoryError` (404) if there is none."""
    row = conn.execute(
        "SELECT id, unit, serial, tester, started_at, ended_at, timeout_s, jobs "
        "FROM rcbo_sessions WHERE id = ?",
        (session,),
    ).fetchone()
    if row is None:
        raise HistoryError(
            f"no RCBO test session {session}; see 'c12exporter rcbo-log'", "session", 404
        )
    return dict(zip(SESSION_COLUMNS, row, strict=True))
