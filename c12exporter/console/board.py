"""The console's problem board: built once per web server, and where handlers find it.

:func:`build_board` follows the exporter's store and trip forecast and keeps its
occurrences and acknowledgements in ``<state_dir>`` (:mod:`.acks`); a state directory that
cannot be used is logged and the board runs in memory (the alarms matter more than their
memory). Handlers reach it as ``request.app[PROBLEMS_KEY]``; code adding routes after the
console plugin built it, with :func:`board_of`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from ..forecast import TripForecast
from ..problems import ProblemBoard
from ..routes import Routes
from ..store import Store
from .acks import AckStoreError, SqliteProblemLog

log = logging.getLogger(__name__)

PROBLEMS_KEY = web.AppKey("problems", ProblemBoard)


def build_board(
    store: Store, forecast: TripForecast | None, state_dir: Path
) -> tuple[ProblemBoard, SqliteProblemLog | None]:
    """The board, and the file in ``state_dir`` it keeps its memory in (``None``: memory
    only, the file cannot be used)."""
    try:
        problem_log = SqliteProblemLog.in_dir(state_dir)
    except AckStoreError as error:
        log.error("console problems: %s; acknowledgements are kept in memory only", error)
        return ProblemBoard(store, forecast), None
    try:
        return ProblemBoard(store, forecast, problem_log), problem_log
    except AckStoreError as error:
        problem_log.close()
        log.error("console problems: %s; acknowledgements are kept in memory only", error)
        return ProblemBoard(store, forecast), None


def board_of(routes: Routes) -> ProblemBoard | None:
    """The board the console plugin built (``routes.state(PROBLEMS_KEY, ...)``), ``None``
    where routes are added without the plugin."""
    board = routes.states.get(PROBLEMS_KEY)
    return board if isinstance(board, ProblemBoard) else None
