"""The history's HTTP routes on the shared web server (behind its TLS and basic auth).

Data is JSON (CSV where ``?format=csv`` is given), pages are HTML:

* ``GET /history/jobs`` - every job, newest last, with its totals (JSON);
* ``GET /history/jobs/{name}`` - one job's report (JSON);
* ``GET /history/jobs/{name}/report`` - its show report: a printable page (``?format=``
  ``html``, the default, ``csv`` or ``json``);
* ``POST /history/jobs`` - ``{"action": "start", "name": ..., "units": [...]}`` or
  ``{"action": "stop", "name": ...}``;
* ``POST /history/rcbo-tests`` - ``{"action": "start", "unit": ..., "tester": ...,
  ["timeout_s": 60], ["channels": [1, ...]]}`` or ``{"action": "stop", "unit": ...}``:
  an RCBO test session;
* ``GET /history/rcbo-tests/{session}`` - a session's prompt and results (JSON);
* ``GET /history/rcbo-tests/{session}/record`` - its printable record (HTML);
* ``GET /history/rcbo-tests`` - the tests (``?unit=``, ``?session=``, ``?since=``,
  ``?until=``, ``?format=json|csv|html``);
* ``POST /history/supply-checks`` - ``{"unit": ...}``: read the unit now and check its
  supply before switching on (JSON, recorded);
* ``GET /history/supply-checks`` - the checks (``?unit=``, ``?since=``, ``?until=``,
  ``?format=json|csv|html``).

A ``POST`` is accepted only from a basic-auth user (the web config must have
``basic_auth_users``) with the ``X-C12-History: 1`` header and a JSON body: a browser
cannot send that header cross-site without the server's consent, so another site's page
cannot start or stop anything. The commands (``job``, ``rcbo-test``, ``supply-check``)
send it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from ..exposer import ExposerContext
from ..routes import Routes
from . import pages, rcbo, report, supply
from .client import HEADER
from .db import HistoryError
from .query import parse_time
from .recorder import History

log = logging.getLogger(__name__)

HISTORY_KEY = web.AppKey("history", History)
CONTEXT_KEY = web.AppKey("history_context", ExposerContext)
QUERY_MAX = 200
"""The longest query parameter accepted (a unit name, a time)."""
DATA_FORMATS = ("json", "csv")
LIST_FORMATS = (*DATA_FORMATS, "html")


def add_routes(routes: Routes, context: ExposerContext) -> None:
    if context.history is None:
        return
    routes.state(HISTORY_KEY, context.history)
    routes.state(CONTEXT_KEY, context)
    routes.add_get(
        "/history/jobs", list_jobs, title="/history/jobs", description="energy per named job"
    )
    routes.add_get("/history/jobs/{name}", job_report)
    routes.add_get("/history/jobs/{name}/report", show_report)
    routes.add_post("/history/jobs", change_job, description="start or stop a named job")
    routes.add_get(
        "/history/rcbo-tests", list_tests, title="/history/rcbo-tests",
        description="RCBO tests of test sessions",
    )  # fmt: skip
    routes.add_get(r"/history/rcbo-tests/{session:\d{1,12}}", session_state)
    routes.add_get(r"/history/rcbo-tests/{session:\d{1,12}}/record", session_record)
    routes.add_post(
        "/history/rcbo-tests", change_session, description="start or stop an RCBO test session"
    )
    routes.add_get(
        "/history/supply-checks", list_checks, title="/history/supply-checks",
        description="supply checks before switching on",
    )  # fmt: skip
    routes.add_post("/history/supply-checks", check_supply, description="check a unit's supply now")


def refused(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "field": field, "message": message}, status=status)


def _refusal(error: HistoryError) -> web.Response:
    return refused(error.status, error.field, str(error))


async def list_jobs(request: web.Request) -> web.Response:
    try:
        jobs = await request.app[HISTORY_KEY].all_jobs()
    except HistoryError as error:
        return _refusal(error)
    return web.json_response({"jobs": [job.report() for job in jobs]})


async def job_report(request: web.Request) -> web.Response:
    try:
        job = await request.app[HISTORY_KEY].job(request.match_info["name"])
    except HistoryError as error:
        return _refusal(error)
    return web.json_response(job.report())


async def show_report(request: web.Request) -> web.Response:
    history = request.app[HISTORY_KEY]
    name = request.match_info["name"].strip()
    try:
        fmt = _choice(request, "format", ("html", *DATA_FORMATS), "html")
        await history.flush()  # the job's last readings are in the page
        if fmt == "html":
            return _page(await history.read(lambda conn: pages.show_report(conn, name)))
        job = await history.job(name)
    except HistoryError as error:
        return _refusal(error)
    return _data(report.job_text(job.report(), fmt), fmt)


def _data(text: str, fmt: str) -> web.Response:
    return web.Response(text=text, content_type="text/csv" if fmt == "csv" else "application/json")


def _param(request: web.Request, key: str) -> str | None:
    value = request.query.get(key)
    if value is None:
        return None
    if len(value) > QUERY_MAX or not value.isprintable():
        raise HistoryError(f"{key}: give at most {QUERY_MAX} printable characters", key)
    return value


def _choice(request: web.Request, key: str, choices: Sequence[str], default: str) -> str:
    value = _param(request, key) or default
    if value not in choices:
        raise HistoryError(f"{key}: must be one of {', '.join(choices)}", key)
    return value


def _window(request: web.Request) -> tuple[str | None, float | None, float | None]:
    now = time.time()
    since, until = _param(request, "since"), _param(request, "until")
    return (
        _param(request, "unit"),
        None if since is None else parse_time(since, "since", now),
        None if until is None else parse_time(until, "until", now),
    )


def _rows(rows: Sequence[Mapping[str, object]], columns: Sequence[str], fmt: str) -> str:
    return report.render(rows, columns, fmt)


async def list_tests(request: web.Request) -> web.Response:
    history = request.app[HISTORY_KEY]
    try:
        unit, since, until = _window(request)
        fmt = _choice(request, "format", LIST_FORMATS, "json")
        session = _param(request, "session")
        if session is not None and not session.isdigit():
            raise HistoryError("session: give a session number", "session")
        number = None if session is None else int(session)
        rows = await history.read(lambda conn: rcbo.test_rows(conn, unit, since, until, number))
    except HistoryError as error:
        return _refusal(error)
    if fmt == "html":
        title = "RCBO tests" + (f" of {unit}" if unit else "")
        return _page(pages.listing(title, rows, rcbo.TEST_COLUMNS))
    return _data(_rows(rows, rcbo.TEST_COLUMNS, fmt), fmt)


def _page(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html")


async def session_state(request: web.Request) -> web.Response:
    try:
        state = await request.app[HISTORY_KEY].session_state(int(request.match_info["session"]))
    except HistoryError as error:
        return _refusal(error)
    return web.json_response(state)


async def session_record(request: web.Request) -> web.Response:
    try:
        state = await request.app[HISTORY_KEY].session_state(int(request.match_info["session"]))
    except HistoryError as error:
        return _refusal(error)
    return _page(pages.session_record(state))


async def list_checks(request: web.Request) -> web.Response:
    history = request.app[HISTORY_KEY]
    try:
        unit, since, until = _window(request)
        fmt = _choice(request, "format", LIST_FORMATS, "json")
        checks = await history.read(lambda conn: supply.load_checks(conn, unit, since, until))
    except HistoryError as error:
        return _refusal(error)
    if fmt == "html":
        title = "Supply checks" + (f" of {unit}" if unit else "")
        return _page(pages.listing(title, [c.row() for c in checks], supply.COLUMNS))
    if fmt == "csv":
        return _data(_rows([c.row() for c in checks], supply.COLUMNS, fmt), fmt)
    return web.json_response({"checks": [c.report() for c in checks]})


def basic_auth_user(request: web.Request) -> str | None:
    """The basic-auth user of the request (the web server has checked the password)."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(encoded, validate=True).decode().partition(":")[0] or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def _auth_configured(context: ExposerContext) -> bool:
    web_config = getattr(context.config.exposers.get("web"), "web_config", None)
    return bool(getattr(web_config, "users", None))


async def _posted(request: web.Request) -> dict[str, Any]:
    """The JSON object of an accepted ``POST``; :class:`HistoryError` says why not."""
    if request.headers.get(HEADER) != "1" or request.content_type != "application/json":
        raise HistoryError(f"send the {HEADER}: 1 header and a JSON body", "origin", 403)
    if not _auth_configured(request.app[CONTEXT_KEY]):
        raise HistoryError(
            "a change over HTTP needs basic auth: add basic_auth_users to the "
            "--web.config.file (or use the console)",
            "access",
            403,
        )
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HistoryError("the request body is not JSON", "body") from None
    if not isinstance(body, dict):
        raise HistoryError("the request body must be a JSON object", "body")
    return body


async def change_job(request: web.Request) -> web.Response:
    try:
        body = await _posted(request)
        answer = await apply(request.app[HISTORY_KEY], body, basic_auth_user(request) or "?")
    except HistoryError as error:
        return _refusal(error)
    return web.json_response({"ok": True, "job": answer})


async def apply(history: History, body: dict[str, Any], user: str) -> dict[str, object]:
    """Carry out a start or stop request; :class:`HistoryError` names what is wrong."""
    action, name = body.get("action"), body.get("name")
    if not isinstance(name, str):
        raise HistoryError("name: give the job's name as text", "name")
    if action == "start":
        units = body.get("units")
        if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
            raise HistoryError("units: give a list of unit names", "units")
        job = await history.start_job(name, units)
    elif action == "stop":
        job = await history.stop_job(name)
    else:
        raise HistoryError("action: must be start or stop", "action")
    log.info("history: job %r %s by %s", job.name, "started" if job.running else "stopped", user)
    return job.report()


def _unit(body: Mapping[str, Any]) -> str:
    unit = body.get("unit")
    if not isinstance(unit, str) or not unit.strip() or len(unit) > QUERY_MAX:
        raise HistoryError("unit: give the unit's name as text", "unit")
    return unit.strip()


async def change_session(request: web.Request) -> web.Response:
    history = request.app[HISTORY_KEY]
    try:
        body = await _posted(request)
        action, unit = body.get("action"), _unit(body)
        if action == "start":
            session = await history.start_session(
                unit, body.get("tester"), body.get("timeout_s", 60.0), body.get("channels")
            )
            state = session.state()
        elif action == "stop":
            state = await history.stop_session(unit)
        else:
            raise HistoryError("action: must be start or stop", "action")
    except HistoryError as error:
        return _refusal(error)
    return web.json_response({"ok": True, "session": state})


async def check_supply(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    history = request.app[HISTORY_KEY]
    try:
        unit = _unit(await _posted(request))
        state = context.store.get(unit)
        if state is None:
            known = ", ".join(u.config.name for u in context.store) or "none"
            raise HistoryError(f"unit: {unit!r} is not in the fleet; known: {known}", "unit", 404)
        await context.poller.probe_unit(unit)  # a reading of now, not of the last poll
        reading = context.store.fresh_reading(state)
        error = state.last_error
        why = f"{error.reason}: {error.message}" if error else "not read yet"
        result = supply.check(unit, reading, state.config.supply, time.time(), why)
        result = await history.record_supply_check(
            _checked_by(result, basic_auth_user(request) or "")
        )
    except HistoryError as error:
        return _refusal(error)
    log.info("history: supply check of %s: %s", unit, result.verdict)
    return web.json_response({"ok": True, "check": result.report()})


def _checked_by(result: supply.SupplyCheck, user: str) -> supply.SupplyCheck:
    return dataclasses.replace(result, checked_by=user)
