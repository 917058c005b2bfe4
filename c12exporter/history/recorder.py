"""The history component: listens to the store, keeps the last recorded states, RCBO
cycles and running jobs in memory, and writes each poll's rows in one transaction on a
thread of its own, so the event loop never waits for the disk.

Baseline rule: a state is written when it differs from the last one recorded for that
unit, channel and kind, whether recorded in this run or before a restart (the ``states``
table). The first time a state is ever seen it is written once with no ``previous`` (a
baseline, not a change); after a restart only what changed while nobody watched is
written, as a change at the first reading that shows it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..settings import ConfigError
from ..store import Change, Store
from . import jobs as jobs_db
from . import rcbo
from .db import HistoryError, connect
from .events import BREAKER, REACHABLE, UNIT_CHANNEL, Event, Key, changes, states_of

log = logging.getLogger(__name__)
T = TypeVar("T")
Write = tuple[str, tuple[object, ...]]

INSERT_EVENT = (
    "INSERT INTO events (at, unit, channel, kind, state, previous, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
UPSERT_STATE = (
    "INSERT INTO states (unit, channel, kind, state, since) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (unit, channel, kind) DO UPDATE SET state = excluded.state, "
    "since = excluded.since"
)
INSERT_CYCLE = "INSERT INTO rcbo_cycles (unit, channel, opened_at, closed_at) VALUES (?, ?, ?, ?)"


class History:
    """Created by the exporter (:meth:`open`), reachable as ``ExposerContext.history``."""

    def __init__(self, path: Path, store: Store, rcbo_test_period_s: float) -> None:
        self.path = path
        self.store = store
        self.rcbo_test_period_s = rcbo_test_period_s
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history")
        self._conn: sqlite3.Connection | None = None
        self.states: dict[str, dict[Key, str]] = {}
        """unit -> (channel, kind) -> the last recorded state."""
        self.since: dict[str, dict[Key, float]] = {}
        """unit -> (channel, kind) -> when that state was recorded."""
        self.last_cycle: dict[tuple[str, int], float] = {}
        self.watched_since: dict[tuple[str, int], float] = {}
        self.jobs: dict[str, jobs_db.Job] = {}
        """Running jobs by name."""
        self.write_errors = 0
        self._pending: list[Write] = []

    @classmethod
    async def open(cls, path: Path, store: Store, rcbo_test_period_s: float) -> History:
        """Open the database (off the loop), load what is remembered, and subscribe."""
        history = cls(path, store, rcbo_test_period_s)
        try:
            await history._run(history._load)
        except (HistoryError, OSError) as error:
            history._writer.shutdown(wait=True)
            raise ConfigError(f"history: {error}") from None
        except BaseException:
            history._writer.shutdown(wait=True)
            raise
        store.subscribe(history.on_change)
        return history

    def _load(self) -> None:
        conn = self._conn = connect(self.path)
        for unit, channel, kind, state, since in conn.execute("SELECT * FROM states"):
            self.states.setdefault(unit, {})[(channel, kind)] = state
            self.since.setdefault(unit, {})[(channel, kind)] = since
        self.last_cycle = rcbo.last_cycles(conn)
        self.watched_since = rcbo.watched_since(conn)
        self.jobs = {job.name: job for job in jobs_db.load_jobs(conn, running_only=True)}

    async def close(self) -> None:
        """Stop listening, write what is queued, close the file."""
        with contextlib.suppress(ValueError):
            self.store.unsubscribe(self.on_change)
        self._submit()
        await self._run(self._close)
        self._writer.shutdown(wait=True)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, work)

    async def _ask(self, work: Callable[[], T]) -> T:
        """Run a request on the writer; a database error refuses it (503)."""
        try:
            return await self._run(work)
        except sqlite3.Error as error:
            raise HistoryError(f"the history database refused it: {error}", "", 503) from None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise HistoryError("the history database is closed", "", 503)
        return self._conn

    # --- every poll -----------------------------------------------------------------------

    def on_change(self, change: Change) -> None:
        """One poll: find its events, cycles and job updates here, write them on the writer.
        A reading this cannot use is logged and skipped: the other listeners still run."""
        try:
            self._on_change(change)
        except Exception:
            self.write_errors += 1
            log.exception("history: poll of %s not recorded", change.unit.config.name)

    def _on_change(self, change: Change) -> None:
        unit = change.unit.config.name
        if change.after is None:
            error = change.unit.last_error
            at = error.at if error else time.time()
            seen = {(UNIT_CHANNEL, REACHABLE): "down"}
            details = {(UNIT_CHANNEL, REACHABLE): error.reason if error else ""}
        else:
            at = change.after.taken_at
            seen = states_of(change.after)
            details = {}
        known = self.states.setdefault(unit, {})
        writes: list[Write] = []
        for event in changes(unit, at, known, seen, details):
            writes += self._record(event, known, self.since.setdefault(unit, {}))
        if change.after is not None:
            for job in self.jobs.values():
                totals = job.units.get(unit)
                if totals is not None:
                    totals.add(change.after)
                    writes.append((jobs_db.UPDATE_UNIT, totals.row(job.id)))
        if writes:
            self._queue(writes)

    def _queue(self, writes: list[Write]) -> None:
        """Gather the rows of the polls recorded in this turn of the event loop into one
        transaction (a poll round's polls often end together)."""
        if not self._pending:
            try:
                asyncio.get_running_loop().call_soon(self._submit)
            except RuntimeError:  # no loop: called directly
                self._pending += writes
                self._submit()
                return
        self._pending += writes

    def _submit(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self._writer.submit(self._write, pending)

    def _record(self, event: Event, known: dict[Key, str], since: dict[Key, float]) -> list[Write]:
        channel, kind = event.key
        opened = since.get(event.key)
        writes: list[Write] = [
            (INSERT_EVENT, (event.at, event.unit, event.channel, event.kind, event.state,
                            event.previous, event.detail)),
            (UPSERT_STATE, (event.unit, channel, kind, event.state, event.at)),
        ]  # fmt: skip
        known[event.key] = event.state
        since[event.key] = event.at
        if kind == BREAKER:
            self.watched_since.setdefault((event.unit, channel), event.at)
            cycle = rcbo.cycle_of(event, opened)
            if cycle is not None:
                self.last_cycle[(cycle.unit, cycle.channel)] = cycle.closed_at
                writes.append((INSERT_CYCLE, (cycle.unit, cycle.channel, cycle.opened_at,
                                              cycle.closed_at)))  # fmt: skip
        return writes

    def _write(self, writes: Sequence[Write]) -> None:
        try:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in writes:
                    conn.execute(sql, params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, HistoryError) as error:
            self.write_errors += 1
            log.error("history: %d rows not written to %s: %s", len(writes), self.path, error)

    async def flush(self) -> None:
        """Wait until everything queued so far is written."""
        self._submit()
        await self._run(lambda: None)

    # --- jobs -----------------------------------------------------------------------------

    async def start_job(self, name: str, units: Sequence[str]) -> jobs_db.Job:
        """Start counting ``units`` under ``name``; refused (nothing changes) when the name
        is taken or a unit is not in the fleet."""
        name = jobs_db.check_name(name)
        chosen = jobs_db.check_units(units, (u.config.name for u in self.store))
        job = await self._ask(lambda: jobs_db.insert_job(self.conn, name, chosen))
        self.jobs[job.name] = job
        log.info("history: job %r started on %s", job.name, ", ".join(chosen))
        return job

    async def stop_job(self, name: str) -> jobs_db.Job:
        job = self.jobs.get(name.strip())
        if job is None:
            raise HistoryError(
                f"job {name.strip()!r} is not running; see 'c12exporter job list'", "name", 409
            )
        job.stopped_at = await self._ask(lambda: jobs_db.mark_stopped(self.conn, job))
        del self.jobs[job.name]
        log.info("history: job %r stopped", job.name)
        return job

    async def job(self, name: str) -> jobs_db.Job:
        """A job's totals as written (running ones up to the last poll written)."""
        return await self._ask(lambda: jobs_db.load_job(self.conn, name.strip()))

    async def all_jobs(self, stopped_limit: int | None = None) -> list[jobs_db.Job]:
        """Every job, or the running ones and the last ``stopped_limit`` stopped ones."""
        return await self._ask(lambda: jobs_db.load_jobs(self.conn, stopped_limit=stopped_limit))
