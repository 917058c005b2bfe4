"""The history database: opening it (WAL), and its schema by version.

The schema version is SQLite's ``user_version``; :data:`MIGRATIONS` holds the statements
that take version ``n`` to ``n + 1``, applied in order in one transaction each. A file
written by a newer version is refused rather than misread. SQLite's own error is what a
failure reports (a full disk, not the failed ROLLBACK after it), with the file and what
to do.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            unit TEXT NOT NULL,
            channel INTEGER,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            previous TEXT,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX events_at ON events (at)",
        "CREATE INDEX events_unit_at ON events (unit, at)",
        """CREATE TABLE states (
            unit TEXT NOT NULL,
            channel INTEGER NOT NULL,
            kind TEXT NOT NULL,
            state TEXT NOT NULL,
            since REAL NOT NULL,
            PRIMARY KEY (unit, channel, kind)
        )""",
        """CREATE TABLE rcbo_cycles (
            id INTEGER PRIMARY KEY,
            unit TEXT NOT NULL,
            channel INTEGER NOT NULL,
            opened_at REAL NOT NULL,
            closed_at REAL NOT NULL
        )""",
        "CREATE INDEX rcbo_cycles_unit ON rcbo_cycles (unit, channel, closed_at)",
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            started_at REAL NOT NULL,
            stopped_at REAL
        )""",
        """CREATE TABLE job_units (
            job INTEGER NOT NULL REFERENCES jobs (id),
            unit TEXT NOT NULL,
            energy_j REAL NOT NULL DEFAULT 0,
            last_counter_j REAL,
            counter_resets INTEGER NOT NULL DEFAULT 0,
            peak_demand_w REAL,
            max_current_l1_a REAL,
            max_current_l2_a REAL,
            max_current_l3_a REAL,
            readings INTEGER NOT NULL DEFAULT 0,
            first_reading_at REAL,
            last_reading_at REAL,
            PRIMARY KEY (job, unit)
        )""",
    ),
    (
        # the unit's uptime at the job's last reading: a restart shows as uptime going
        # back or growing less than the time between two readings
        "ALTER TABLE job_units ADD COLUMN last_uptime_s REAL",
        # why a breaker opened: test (a passed test), overcurrent, off (by hand or earth
        # leakage: the reading cannot tell them apart); unknown for cycles before this
        "ALTER TABLE rcbo_cycles ADD COLUMN cause TEXT NOT NULL DEFAULT 'unknown'",
        """CREATE TABLE rcbo_sessions (
            id INTEGER PRIMARY KEY,
            unit TEXT NOT NULL,
            serial TEXT NOT NULL,
            tester TEXT NOT NULL,
            started_at REAL NOT NULL,
            ended_at REAL,
            timeout_s REAL NOT NULL,
            jobs TEXT NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE rcbo_tests (
            id INTEGER PRIMARY KEY,
            session INTEGER NOT NULL REFERENCES rcbo_sessions (id),
            at REAL NOT NULL,
            unit TEXT NOT NULL,
            serial TEXT NOT NULL,
            channel INTEGER NOT NULL,
            result TEXT NOT NULL,
            tester TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX rcbo_tests_unit ON rcbo_tests (unit, channel, at)",
        """CREATE TABLE supply_checks (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            unit TEXT NOT NULL,
            serial TEXT NOT NULL,
            verdict TEXT NOT NULL,
            reasons TEXT NOT NULL,
            readings TEXT NOT NULL,
            jobs TEXT NOT NULL DEFAULT '',
            checked_by TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX supply_checks_unit_at ON supply_checks (unit, at)",
        """CREATE TABLE job_samples (
            job INTEGER NOT NULL REFERENCES jobs (id),
            unit TEXT NOT NULL,
            width_s INTEGER NOT NULL,
            at INTEGER NOT NULL,
            power_readings INTEGER NOT NULL,
            power_sum_w REAL NOT NULL,
            demand_w REAL,
            current_l1_a REAL,
            current_l2_a REAL,
            current_l3_a REAL,
            PRIMARY KEY (job, unit, width_s, at)
        )""",
    ),
)
"""Schema version ``i + 1`` is reached by ``MIGRATIONS[i]``."""
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryError(Exception):
    """The database cannot be used, or a request on it is refused; the message says why.

    :param field: what the request got wrong (``name``, ``units``, ``action``), if any.
    :param status: the HTTP status that refuses it (400 bad input, 404, 409 conflict).
    """

    def __init__(self, message: str, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


_WRITE_FAILURES = {
    sqlite3.SQLITE_FULL: "the filesystem holding it is full: free space there, or set "
    "history.path to a file on another filesystem",
    sqlite3.SQLITE_READONLY: "it cannot be written: give the exporter's user write access to "
    "it and its directory, or set history.path to a writable place",
    sqlite3.SQLITE_CANTOPEN: "it cannot be created or opened: check that its directory exists "
    "and is writable, or set history.path to a writable place",
    sqlite3.SQLITE_IOERR: "the disk reported an I/O error: check the disk and its filesystem, "
    "or set history.path to a file on another one",
    sqlite3.SQLITE_PERM: "access is denied: give the exporter's user write access, or set "
    "history.path to a writable place",
}
"""SQLite's codes for a file that cannot be written, with what to do about it."""


class HistoryWriteError(HistoryError):
    """The database file cannot be written (full disk, read-only, I/O error): the exporter
    can go on serving without history."""


def problem(path: Path, error: sqlite3.Error | OSError, doing: str) -> HistoryError:
    """``error`` as a :class:`HistoryError` naming the file, SQLite's own words and, for a
    file that cannot be written, what to do (a :class:`HistoryWriteError`)."""
    if isinstance(error, OSError):
        return HistoryWriteError(
            f"{path}: {doing}: {error.strerror or error}: check the directory, or set "
            "history.path to a writable place"
        )
    code = getattr(error, "sqlite_errorcode", None)
    advice = _WRITE_FAILURES.get(code & 0xFF) if isinstance(code, int) else None
    if advice is not None:
        return HistoryWriteError(f"{path}: {doing}: {error}; {advice}")
    return HistoryError(f"{path}: {doing}: {error}")


def rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction, keeping the error that failed it: SQLite has already
    rolled back after some errors (a full disk at COMMIT), and a ROLLBACK then would
    raise "no transaction is active" in place of the real cause."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


BUSY_TIMEOUT_S = 10.0
"""How long a connection waits for another process's lock on the file."""


def use_wal(conn: sqlite3.Connection, timeout_s: float = BUSY_TIMEOUT_S) -> None:
    """Put the file in WAL mode. SQLite answers "database is locked" at once, without
    waiting its busy timeout, while another process is switching the same new file (two
    shards of one fleet starting together with one state directory): try again until
    ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open (and create or migrate) the database; WAL so readers never wait for the writer.

    :param create: ``False`` for readers (the commands): a missing file is an error.
    :raises HistoryError: the file is missing, unreadable, or of a newer schema.
    """
    if path.is_dir():
        raise HistoryError(f"{path} is a directory: give the history database file")
    if not create and not path.exists():
        raise HistoryError(
            f"no history database at {path}: start the exporter with this config first, "
            "or give --db PATH"
        )
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except (sqlite3.Error, OSError) as error:
        raise problem(path, error, "cannot open the history database") from None
    try:
        use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
    except (sqlite3.Error, HistoryError) as error:
        conn.close()
        if isinstance(error, HistoryError):
            raise
        raise problem(path, error, "cannot use the history database") from None
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the version found."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise HistoryError(
            f"the history database has schema version {found}, newer than this "
            f"c12exporter's {SCHEMA_VERSION}: upgrade c12exporter"
        )
    while found < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")  # another process may be migrating: re-read inside
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version >= SCHEMA_VERSION:
                conn.execute("COMMIT")
                return found
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    return found
