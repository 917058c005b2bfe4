"""The problem board's memory: open occurrences, acknowledgements and last-known unit
identities in SQLite (``<state_dir>/console-problems.sqlite3``), so an acknowledged problem
still present after a restart stays acknowledged (:mod:`c12exporter.problems`).

The schema version is SQLite's ``user_version``; :data:`MIGRATIONS` takes version ``n`` to
``n + 1`` in one transaction, as the history database does. A file of a newer schema is
refused rather than misread. Writes are few (an occurrence beginning or ending, an
acknowledgement) and small, so they are made where the board decides them; a write that
fails is logged and counted, and the board goes on in memory.

``acknowledgements`` keeps every acknowledgement ever made (who, when, what it said), for
the record; ``occurrences`` only the open ones.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from ..history.db import BUSY_TIMEOUT_S, rollback, use_wal
from ..problems import Occurrence, Problem, Severity
from ..reading import Identity

log = logging.getLogger(__name__)

FILE_NAME = "console-problems.sqlite3"
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE occurrences (
            unit TEXT NOT NULL,
            key TEXT NOT NULL,
            since REAL NOT NULL,
            severity INTEGER NOT NULL,
            text TEXT NOT NULL,
            acked_by TEXT,
            acked_at REAL,
            acked_severity INTEGER,
            PRIMARY KEY (unit, key)
        )""",
        """CREATE TABLE acknowledgements (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            who TEXT NOT NULL,
            unit TEXT NOT NULL,
            key TEXT NOT NULL,
            severity INTEGER NOT NULL,
            text TEXT NOT NULL,
            since REAL NOT NULL
        )""",
        """CREATE TABLE identities (
            unit TEXT PRIMARY KEY,
            vendor TEXT NOT NULL,
            model TEXT NOT NULL,
            firmware TEXT NOT NULL,
            serial TEXT NOT NULL
        )""",
    ),
)
"""Schema version ``i + 1`` is reached by ``MIGRATIONS[i]``."""
SCHEMA_VERSION = len(MIGRATIONS)


class AckStoreError(Exception):
    """The file cannot be used; the message names it and says why."""


class SqliteProblemLog:
    """A :class:`c12exporter.problems.ProblemLog` in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.write_errors = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as error:
            raise AckStoreError(f"{path}: cannot open the acknowledgements file: {error}") from None
        try:
            use_wal(self._conn)
            self._conn.execute("PRAGMA synchronous=NORMAL")
            _migrate(self._conn, path)
        except sqlite3.Error as error:
            self._conn.close()
            raise AckStoreError(f"{path}: cannot use the acknowledgements file: {error}") from None
        except AckStoreError:
            self._conn.close()
            raise

    @classmethod
    def in_dir(cls, state_dir: Path) -> SqliteProblemLog:
        return cls(state_dir / FILE_NAME)

    def close(self) -> None:
        self._conn.close()

    def load(self) -> tuple[dict[str, dict[str, Occurrence]], dict[str, Identity]]:
        """:raises AckStoreError: the file cannot be read (it is damaged)."""
        occurrences: dict[str, dict[str, Occurrence]] = {}
        try:
            rows = self._conn.execute(
                "SELECT unit, key, since, acked_by, acked_at, acked_severity FROM occurrences"
            ).fetchall()
            identities = {
                unit: Identity(vendor, model, firmware, serial)
                for unit, vendor, model, firmware, serial in self._conn.execute(
                    "SELECT unit, vendor, model, firmware, serial FROM identities"
                )
            }
        except sqlite3.Error as error:
            raise AckStoreError(f"{self.path}: cannot read the acknowledgements: {error}") from None
        for unit, key, since, acked_by, acked_at, acked_severity in rows:
            severity = None if acked_severity is None else Severity(acked_severity)
            occurrences.setdefault(unit, {})[key] = Occurrence(since, acked_by, acked_at, severity)
        return occurrences, identities

    def save(self, unit: str, key: str, occurrence: Occurrence, problem: Problem) -> None:
        acked = None if occurrence.acked_severity is None else int(occurrence.acked_severity)
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "INSERT INTO occurrences (unit, key, since, severity, text, acked_by, acked_at, "
                "acked_severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (unit, key) DO "
                "UPDATE SET since = excluded.since, severity = excluded.severity, "
                "text = excluded.text, acked_by = excluded.acked_by, "
                "acked_at = excluded.acked_at, acked_severity = excluded.acked_severity",
                (unit, key, occurrence.since, int(problem.severity), problem.text,
                 occurrence.acked_by, occurrence.acked_at, acked),
            ),
        ]  # fmt: skip
        if occurrence.acked_by is not None:
            statements.append(
                (
                    "INSERT INTO acknowledgements (at, who, unit, key, severity, text, since) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (occurrence.acked_at, occurrence.acked_by, unit, key,
                     int(problem.severity), problem.text, occurrence.since),
                )
            )  # fmt: skip
        self._write(statements)

    def end(self, unit: str, keys: list[str]) -> None:
        self._write(
            [("DELETE FROM occurrences WHERE unit = ? AND key = ?", (unit, key)) for key in keys]
        )

    def forget_unit(self, unit: str) -> None:
        self._write(
            [
                ("DELETE FROM occurrences WHERE unit = ?", (unit,)),
                ("DELETE FROM identities WHERE unit = ?", (unit,)),
            ]
        )

    def save_identity(self, unit: str, identity: Identity) -> None:
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO identities (unit, vendor, model, firmware, serial) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (unit, identity.vendor, identity.model, identity.firmware, identity.serial),
                )
            ]
        )

    def acknowledgements(
        self, unit: str | None = None, limit: int = 100
    ) -> list[dict[str, object]]:
        """The latest acknowledgements, newest first."""
        where, params = ("WHERE unit = ?", (unit,)) if unit is not None else ("", ())
        rows = self._conn.execute(
            "SELECT at, who, unit, key, severity, text, since FROM acknowledgements "
            f"{where} ORDER BY at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        columns = ("at", "who", "unit", "key", "severity", "text", "since")
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def _write(self, statements: list[tuple[str, tuple[object, ...]]]) -> None:
        try:
            with self._conn:  # one transaction
                self._conn.execute("BEGIN")
                for sql, params in statements:
                    self._conn.execute(sql, params)
        except sqlite3.Error as error:
            self.write_errors += 1
            log.error("console problems: not saved to %s (kept in memory): %s", self.path, error)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise AckStoreError(
            f"{path}: schema version {found} is newer than this c12exporter's "
            f"{SCHEMA_VERSION}: upgrade c12exporter"
        )
    while found < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if found < SCHEMA_VERSION:
                for statement in MIGRATIONS[found]:
                    conn.execute(statement)
                found += 1
                conn.execute(f"PRAGMA user_version = {found}")
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
