"""The console's problem routes: the board as JSON, and acknowledging a problem.

* ``GET /console/problems[?unit=NAME]`` - every active problem, worst first, with the
  counts per severity and the board's version (JSON);
* ``POST /console/problems/ack`` - JSON ``{"unit", "key", "token"}``: acknowledge one
  active problem, under the same checks as the console's edits (writes enabled, an
  editor signed in with basic auth, same-origin, the ``X-C12-Console`` header and the
  page's token): :meth:`c12exporter.console.handlers.Console._checked_body`.

The board is built once by the console plugin (:mod:`.board`).
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from ..problems import Problem, Severity
from ..routes import Routes
from .board import PROBLEMS_KEY
from .handlers import CONSOLE_KEY, EditRefused

log = logging.getLogger(__name__)

UNIT_NAME_MAX = 200
"""Longer unit names in a request are refused before any look-up."""


def problem_json(problem: Problem) -> dict[str, object]:
    return {
        "unit": problem.unit,
        "key": problem.key,
        "severity": problem.severity.word,
        "text": problem.text,
        "since": problem.since,
        "channel": problem.channel,
        "advice": problem.advice,
        "detail": problem.detail,
        "acked_by": problem.acked_by,
        "acked_at": problem.acked_at,
    }


def _refused(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "field": field, "message": message}, status=status)


async def list_problems(request: web.Request) -> web.Response:
    board = request.app[PROBLEMS_KEY]
    now = time.time()
    unit = request.query.get("unit")
    if unit is None:
        problems = board.active(now)
    elif len(unit) > UNIT_NAME_MAX or board.store.get(unit) is None:
        return _refused(404, "unit", f"unit: no unit {unit[:UNIT_NAME_MAX]!r} in the fleet")
    else:
        problems = board.of_unit(unit, now)
    counts = {severity.word: 0 for severity in Severity}
    for problem in problems:
        counts[problem.severity.word] += 1
    identities = {}
    for name in {p.unit for p in problems}:
        identity = board.identity(name)
        if identity is not None:
            identities[name] = {"model": identity.model, "serial": identity.serial,
                                "firmware": identity.firmware}  # fmt: skip
    return web.json_response(
        {
            "version": board.version,
            "counts": counts,
            "problems": [problem_json(p) for p in problems],
            "units": identities,
        },
        headers={"Cache-Control": "no-store"},
    )


def _field(body: dict[str, object], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > UNIT_NAME_MAX:
        raise EditRefused(400, name, f"{name}: give the problem's {name} as text")
    return value


async def acknowledge(request: web.Request) -> web.Response:
    board = request.app[PROBLEMS_KEY]
    try:
        user, body = await request.app[CONSOLE_KEY]._checked_body(request)
        unit, key = _field(body, "unit"), _field(body, "key")
        who = user or "anonymous"
        try:
            problem = board.acknowledge(unit, key, who, time.time())
        except KeyError:
            raise EditRefused(
                409, "key", f"{unit}: no active problem {key!r} (it may have cleared): reload"
            ) from None
    except EditRefused as refused:
        return _refused(refused.status, refused.field, str(refused))
    log.info("console: %s acknowledged %s: %s", problem.acked_by, unit, problem.text)
    return web.json_response(
        {
            "ok": True,
            "message": f"{unit}: {problem.text}: acknowledged by {problem.acked_by}",
            "problem": problem_json(problem),
            "version": board.version,
        }
    )


def add_routes(routes: Routes) -> None:
    """Before the console's own routes: its ``/console/{asset}`` pattern would take them."""
    routes.add_get("/console/problems", list_problems)
    routes.add_post("/console/problems/ack", acknowledge)
