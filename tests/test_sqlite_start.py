"""Two exporters that start together on one state directory (the shards of a fleet) both
open the history database and the acknowledgements file: SQLite answers "database is
locked" at once, without its busy timeout, to a process that asks for WAL mode while
another is switching the same new file; opening waits that out instead of failing."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

from c12exporter.console.acks import SqliteProblemLog
from c12exporter.history.db import connect

PROCESSES = 4
ROUNDS = 12
"""Before the retry about one round in three had a process fail: twelve rounds see it."""


def _open_both(
    state: str, start: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue[str]
) -> None:
    start.wait()
    try:
        connect(Path(state) / "history.sqlite3").close()
        SqliteProblemLog(Path(state) / "problems.sqlite3")
        results.put("ok")
    except Exception as error:  # reported to the test, which names it
        results.put(f"{type(error).__name__}: {error}")


def test_processes_starting_together_all_open_the_files(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")  # the test's imports, no second start-up
    for round_ in range(ROUNDS):
        state = tmp_path / f"state-{round_}"
        start, results = context.Barrier(PROCESSES), context.Queue()
        processes = [
            context.Process(target=_open_both, args=(str(state), start, results))
            for _ in range(PROCESSES)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        assert outcomes == ["ok"] * PROCESSES, f"round {round_}: {outcomes}"
