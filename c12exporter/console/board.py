"""The console's problem board: built once per web server, and where handlers find it.

:func:`build_board` follows the exporter's store and trip forecast and keeps its
occurrences and acknowledgements in ``<state_dir>`` (:mod:`.acks`); a state directory that
cannot be used is logged and the board runs in memory (the alarms matter more than their
memory). Handlers reach it as ``request.app[PROBLEMS_KEY]``; code adding routes after the
console plugin built it, with :func:`board_of`.
"""

from __future__ import annotations

import logging

from aiohttp import web

from ..exposer import ExposerContext
from ..problems import ProblemBoard
from ..routes import Routes
from .acks import AckStoreError, SqliteProblemLog

log = logging.getLogger(__name__)

PROBLEMS_KEY = web.AppKey("problems", ProblemBoard)


def build_board(context: ExposerContext) -> tuple[ProblemBoard, SqliteProblemLog | None]:
    """The board, and the file it keeps its memory in (``None``: memory only)."""
    problem_log: SqliteProblemLog | None
    try:
        problem_log = SqliteProblemLog.in_dir(context.state_dir)
    except AckStoreError as error:
        log.error("console problems: %s; acknowledgements are kept in memory only", error)
        problem_log = None
    return ProblemBoard(context.store, context.forecast, problem_log), problem_log


def board_of(routes: Routes) -> ProblemBoard | None:
    """The board the console plugin built (``routes.state(PROBLEMS_KEY, ...)``), ``None``
    where routes are added without the plugin."""
    board = routes.states.get(PROBLEMS_KEY)
    return board if isinstance(board, ProblemBoard) else None
