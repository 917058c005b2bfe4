"""The history component: listens to the store, keeps the last recorded states, RCBO
tests, running test sessions and running jobs in memory, and writes each poll's rows in
one transaction on a thread of its own, so the event loop never waits for the disk.

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
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..reading import Reading
from ..settings import ConfigError
from ..store import Change, Store
from . import jobs as jobs_db
from . import rcbo, samples, supply
from . import rcbo_session as sessions
from .db import HistoryError, HistoryWriteError, connect, problem, rollback
from .events import BREAKER, UP, Event, Key, changes, key, states_of

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
INSERT_CYCLE = (
    "INSERT INTO rcbo_cycles (unit, channel, opened_at, closed_at, cause) VALUES (?, ?, ?, ?, ?)"
)
INSERT_TEST = (
    "INSERT INTO rcbo_tests (session, at, unit, serial, channel, result, tester, detail) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
END_SESSION = "UPDATE rcbo_sessions SET ended_at = ? WHERE id = ?"
WRITE_ERROR_LOG_S = 60.0
"""While writes keep failing (a full disk), the error is logged at most this often."""
Heat = Callable[[str, int], float]
"""``(unit, channel)`` -> the breaker's heat, 0 cold to 1 trips (``TripForecast.progress``)."""
CACHE_KIB = 256
"""SQLite's page cache of the exporter's connection (its default is 2,000 KiB, which an
exporter that appends events fills within the hour and never needs: what it reads back,
the show reports and timelines, the kernel's file cache holds as well)."""


class HistoryUnwritable(ConfigError):
    """The history file cannot be written (full disk, read-only): :meth:`History.open`
    refuses, :meth:`History.open_or_none` serves without history."""


class History:
    """Created by the exporter (:meth:`open`), reachable as ``ExposerContext.history``."""

    def __init__(
        self, path: Path, store: Store, rcbo_test_period_s: float, heat: Heat | None = None
    ) -> None:
        self.path = path
        self.store = store
        self.rcbo_test_period_s = rcbo_test_period_s
        self.heat = heat
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="history")
        self._conn: sqlite3.Connection | None = None
        self.states: dict[str, dict[Key, str]] = {}
        """unit -> (channel, kind) -> the last recorded state."""
        self.since: dict[str, dict[Key, float]] = {}
        """unit -> (channel, kind) -> when that state was recorded."""
        self.last_test: dict[tuple[str, int], float] = {}
        """(unit, channel) -> the time of its last passed RCBO test."""
        self.last_cycle: dict[tuple[str, int], float] = {}
        """(unit, channel) -> when its breaker last closed after being open, for any cause."""
        self.watched_since: dict[tuple[str, int], float] = {}
        self.jobs: dict[str, jobs_db.Job] = {}
        """Running jobs by name."""
        self.samplers: dict[tuple[int, str], samples.Sampler] = {}
        """(job id, unit) -> the samples of a running job."""
        self.sample_s = samples.BUCKET_S
        """The first bucket width of a job started from now on (a demo may shorten it)."""
        self.sessions: dict[str, sessions.Session] = {}
        """Running RCBO test sessions by unit."""
        self.last_reading: dict[str, Reading] = {}
        """unit -> its last successful reading, whose closed breakers may open next."""
        self.hot: dict[str, dict[int, float]] = {}
        """unit -> channel -> the heat of a breaker that has some (asked only of breakers
        above their rating, or still cooling: most carry less and have none)."""
        self.open_cause: dict[tuple[str, int], str] = {}
        """(unit, channel) -> why its breaker, recorded open now, opened."""
        self.write_errors = 0
        self._pending: list[Write] = []
        self._failing_since = 0.0
        """When writes began to fail (monotonic; 0 while they succeed)."""
        self._unwritten = 0
        """Rows lost since then."""
        self._next_error_log = 0.0

    @classmethod
    async def open(
        cls, path: Path, store: Store, rcbo_test_period_s: float, heat: Heat | None = None
    ) -> History:
        """Open the database (off the loop), load what is remembered, and subscribe.

        :param heat: each breaker's heat, which tells a test from an overload trip;
            without it only the current does."""
        history = cls(path, store, rcbo_test_period_s, heat)
        try:
            await history._run(history._load)
        except HistoryWriteError as error:
            history._writer.shutdown(wait=True)
            raise HistoryUnwritable(f"history: {error}") from None
        except (HistoryError, OSError) as error:
            history._writer.shutdown(wait=True)
            raise ConfigError(f"history: {error}") from None
        except BaseException:
            history._writer.shutdown(wait=True)
            raise
        store.subscribe(history.on_change)
        return history

    @classmethod
    async def open_or_none(
        cls, path: Path, store: Store, rcbo_test_period_s: float, heat: Heat | None = None
    ) -> History | None:
        """:meth:`open` for serving: a file that cannot be written (a full disk, a
        read-only one) is logged with SQLite's error and what to do, and the exporter
        serves without history (None); other problems (a newer schema) still refuse."""
        try:
            return await cls.open(path, store, rcbo_test_period_s, heat)
        except HistoryUnwritable as error:
            log.error("%s; serving without history until a restart", error)
            return None

    def _load(self) -> None:
        conn = self._conn = connect(self.path)
        try:
            self._remembered(conn)
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except sqlite3.Error as error:
            self._close()
            raise problem(self.path, error, "cannot load the history") from None

    def _remembered(self, conn: sqlite3.Connection) -> None:
        """What the database remembers: states, tests, cycles, running jobs."""
        for unit, channel, kind, state, since in conn.execute("SELECT * FROM states"):
            shared = key(channel, kind)
            self.states.setdefault(unit, {})[shared] = state
            self.since.setdefault(unit, {})[shared] = since
        self.last_test = rcbo.last_tests(conn)
        self.last_cycle = rcbo.last_cycles(conn)
        self.watched_since = rcbo.watched_since(conn)
        self.open_cause = rcbo.open_causes(conn)
        self.jobs = {job.name: job for job in jobs_db.load_jobs(conn, running_only=True)}
        for job in self.jobs.values():
            for unit in job.units:
                self.samplers[(job.id, unit)] = samples.resume(conn, job.id, unit)
        # a session cut short by a stop of the exporter ends there
        conn.execute("UPDATE rcbo_sessions SET ended_at = ? WHERE ended_at IS NULL", (time.time(),))

    async def close(self) -> None:
        """Stop listening, write what is queued, close the file."""
        with contextlib.suppress(ValueError):
            self.store.unsubscribe(self.on_change)
        for sampler in self.samplers.values():  # the minute being filled, so far
            self._pending += sampler.flush()
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
            refused = problem(self.path, error, "the history database refused it")
            raise HistoryError(str(refused), "", 503) from None

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a query on the writer's connection (after what is queued so far)."""
        return await self._ask(lambda: work(self.conn))

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
            seen = {UP: "down"}
            details = {UP: error.reason if error else ""}
        else:
            at = change.after.taken_at
            seen = states_of(change.after)
            details = {}
        known = self.states.setdefault(unit, {})
        writes: list[Write] = []
        session = self.sessions.get(unit)
        if session is not None:
            writes += self._session_step(session, change.after, at)
        for event in changes(unit, at, known, seen, details):
            channel = event.channel
            if channel is not None and event.kind == BREAKER and event.previous == "closed":
                event = self._with_cause(event, session, self._closed(unit, channel))
            writes += self._record(event, known, self.since.setdefault(unit, {}))
        if change.after is not None:
            self._remember(change.after)
            for job in self.jobs.values():
                totals = job.units.get(unit)
                if totals is not None:
                    totals.add(change.after)
                    writes.append((jobs_db.UPDATE_UNIT, totals.row(job.id)))
                    writes += self._sampler(job.id, unit).add(change.after)
        if writes:
            self._queue(writes)

    def _session_step(
        self,
        session: sessions.Session,
        reading: Reading | None,
        at: float,
    ) -> list[Write]:
        writes: list[Write] = []
        for result in session.step(reading, at, lambda ch: self._closed(session.unit, ch)):
            writes.append(self._test_row(session, result))
            if result.result == sessions.PASS:
                self.last_test[(session.unit, result.channel)] = result.at
        if session.ended_at is not None:
            writes.append((END_SESSION, (session.ended_at, session.id)))
            del self.sessions[session.unit]
            log.info("history: RCBO test session %d on %s ended: %s", session.id,
                     session.unit, sessions.summary(session.results))  # fmt: skip
        return writes

    @staticmethod
    def _test_row(session: sessions.Session, result: sessions.ChannelResult) -> Write:
        return (
            INSERT_TEST,
            (session.id, result.at, session.unit, session.serial, result.channel, result.result,
             session.tester, result.detail),
        )  # fmt: skip

    @staticmethod
    def _with_cause(
        event: Event, session: sessions.Session | None, closed: sessions.Closed | None
    ) -> Event:
        """A breaker's opening with why, in its detail: a test, overcurrent, off, or
        unknown (it opened while the exporter was stopped)."""
        if session is not None and event.channel in session.passed_now:
            cause = sessions.TEST
        elif closed is None:
            cause = sessions.UNKNOWN
        else:
            cause = sessions.opening_cause(closed)
        detail = cause if closed is None else f"{cause} at {closed.describe()}"
        return dataclasses.replace(event, detail=detail)

    def _remember(self, reading: Reading) -> None:
        """Keep the reading, and the heat of the breakers that have some."""
        unit = reading.unit
        self.last_reading[unit] = reading
        if self.heat is None:
            return
        hot = self.hot.setdefault(unit, {})
        for channel in reading.channels:
            number = channel.number
            if channel.current_a > channel.rating_a or number in hot:
                heat = self.heat(unit, number) if channel.breaker_closed else 0.0
                if heat > 0.0:
                    hot[number] = heat
                else:
                    hot.pop(number, None)

    def _closed(self, unit: str, channel: int) -> sessions.Closed | None:
        """The channel at the unit's last reading, if that showed its breaker closed."""
        reading = self.last_reading.get(unit)
        if reading is None or not 1 <= channel <= len(reading.channels):
            return None
        found = reading.channels[channel - 1]
        if not found.breaker_closed:
            return None
        heat = self.hot.get(unit, {}).get(channel, 0.0)
        return sessions.Closed(found.current_a, found.rating_a, heat)

    def _sampler(self, job: int, unit: str) -> samples.Sampler:
        """A running job's sampler for ``unit`` (a new one if a refused stop dropped it)."""
        sampler = self.samplers.get((job, unit))
        if sampler is None:
            sampler = self.samplers[(job, unit)] = samples.Sampler(job, unit, self.sample_s)
        return sampler

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
            if event.state == "open":
                cause = event.detail.split(" ", 1)[0] or sessions.UNKNOWN
                self.open_cause[(event.unit, channel)] = cause
            else:
                cause = self.open_cause.pop((event.unit, channel), sessions.UNKNOWN)
                cycle = rcbo.cycle_of(event, opened, cause)
                if cycle is not None:
                    self.last_cycle[(cycle.unit, cycle.channel)] = cycle.closed_at
                    writes.append((INSERT_CYCLE, (cycle.unit, cycle.channel, cycle.opened_at,
                                                  cycle.closed_at, cycle.cause)))  # fmt: skip
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
                rollback(conn)
                raise
        except (sqlite3.Error, HistoryError) as error:
            self.write_errors += 1
            if isinstance(error, sqlite3.Error):
                error = problem(self.path, error, "rows not written")
            self._failing_since = self._failing_since or time.monotonic()
            self._unwritten += len(writes)
            now = time.monotonic()
            if now >= self._next_error_log:  # a full disk fails every poll: once a minute
                self._next_error_log = now + WRITE_ERROR_LOG_S
                log.error("history: %d rows not written so far: %s", self._unwritten, error)
            return
        if self._failing_since:
            log.warning(
                "history: %s written again, after %.0f s in which %d rows were lost",
                self.path, time.monotonic() - self._failing_since, self._unwritten,
            )  # fmt: skip
            self._failing_since, self._unwritten, self._next_error_log = 0.0, 0, 0.0

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
        for unit in chosen:
            self.samplers[(job.id, unit)] = samples.Sampler(job.id, unit, self.sample_s)
        log.info("history: job %r started on %s", job.name, ", ".join(chosen))
        return job

    async def stop_job(self, name: str) -> jobs_db.Job:
        job = self.jobs.get(name.strip())
        if job is None:
            raise HistoryError(
                f"job {name.strip()!r} is not running; see 'c12exporter job list'", "name", 409
            )
        for unit in job.units:
            self._pending += self.samplers.pop((job.id, unit)).flush()
        self._submit()
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

    def jobs_of(self, unit: str) -> str:
        """The running jobs ``unit`` is part of, comma-separated."""
        return ",".join(name for name, job in self.jobs.items() if unit in job.units)

    # --- RCBO test sessions ---------------------------------------------------------------

    async def start_session(
        self,
        unit: str,
        tester: object,
        timeout_s: object = sessions.TIMEOUT_S,
        channels: object = None,
    ) -> sessions.Session:
        """Start prompting ``unit``'s channels; refused when the unit is not in the fleet,
        cannot be read now (its serial goes into the record), or has a session running."""
        tester = sessions.check_tester(tester)
        timeout = sessions.check_timeout(timeout_s)
        state = self.store.get(unit)
        if state is None:
            known = ", ".join(u.config.name for u in self.store) or "none"
            raise HistoryError(f"unit: {unit!r} is not in the fleet; known: {known}", "unit", 404)
        running = self.sessions.get(unit)
        if running is not None:
            raise HistoryError(
                f"unit {unit}: session {running.id} by {running.tester} is running; stop it first",
                "unit",
                409,
            )
        reading = self.store.fresh_reading(state)
        if reading is None:
            raise HistoryError(
                f"unit {unit} cannot be read now: a session needs its readings", "unit", 409
            )
        chosen = sessions.check_channels(channels, len(reading.channels))
        now, serial, jobs = time.time(), reading.identity.serial, self.jobs_of(unit)

        def insert() -> int:
            session_id = self.conn.execute(
                "INSERT INTO rcbo_sessions (unit, serial, tester, started_at, timeout_s, jobs) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (unit, serial, tester, now, timeout, jobs),
            ).lastrowid
            assert session_id is not None
            return session_id

        session_id = await self._ask(insert)
        if unit in self.sessions:  # another request won the race while this one wrote
            await self._ask(lambda: self.conn.execute(END_SESSION, (now, session_id)))
            raise HistoryError(f"unit {unit}: another session started just now", "unit", 409)
        session = sessions.Session(session_id, unit, serial, tester, now, timeout, chosen, jobs)
        self.sessions[unit] = session
        log.info("history: RCBO test session %d on %s started by %s", session_id, unit, tester)
        return session

    async def stop_session(self, unit: str) -> dict[str, object]:
        """End ``unit``'s running session; its channels not yet decided are recorded as
        not tested."""
        session = self.sessions.pop(unit, None)
        if session is None:
            raise HistoryError(f"unit {unit!r} has no RCBO test session running", "unit", 409)
        now = time.time()
        left = [
            sessions.ChannelResult(ch, sessions.NOT_TESTED, now, "the session was stopped")
            for ch in session.channels[session.index :]
        ]
        session.results += left
        session.stop(now)
        self._pending += [self._test_row(session, r) for r in left]
        self._pending.append((END_SESSION, (now, session.id)))
        await self.flush()
        log.info("history: RCBO test session %d on %s stopped", session.id, unit)
        return session.state()

    async def session_state(self, session_id: int) -> dict[str, object]:
        """A session as data: from memory while it runs, else as written."""
        for session in self.sessions.values():
            if session.id == session_id:
                return session.state()
        await self.flush()
        return await self._ask(lambda: written_session(self.conn, session_id))

    # --- supply checks --------------------------------------------------------------------

    async def record_supply_check(self, check: supply.SupplyCheck) -> supply.SupplyCheck:
        """Write a supply check, with the jobs its unit is part of."""
        check = dataclasses.replace(check, jobs=self.jobs_of(check.unit))

        def insert() -> int:
            check_id = self.conn.execute(supply.INSERT, supply.insert_params(check)).lastrowid
            assert check_id is not None
            return check_id

        return dataclasses.replace(check, id=await self._ask(insert))


def written_session(conn: sqlite3.Connection, session_id: int) -> dict[str, object]:
    """A session as written, in the shape of :meth:`Session.state` (no prompt)."""
    row = rcbo.session_row(conn, session_id)
    tests = rcbo.test_rows(conn, session=session_id)
    return {
        **row,
        "channels": [t["channel"] for t in tests],
        "prompt": None,
        "results": [
            {"channel": t["channel"], "result": t["result"], "time": t["time"],
             "detail": t["detail"]}
            for t in tests
        ],
    }  # fmt: skip
