"""The history's HTTP routes on the shared web server (behind its TLS and basic auth).

* ``GET /history/jobs`` - every job, newest last, with its totals (JSON);
* ``GET /history/jobs/{name}`` - one job's report (JSON);
* ``POST /history/jobs`` - ``{"action": "start", "name": ..., "units": [...]}`` or
  ``{"action": "stop", "name": ...}``. Accepted only from a basic-auth user (the web
  config must have ``basic_auth_users``) with the ``X-C12-History: 1`` header and a JSON
  body: a browser cannot send that header cross-site without the server's consent, so
  another site's page cannot start or stop jobs. ``c12exporter job start|stop`` sends it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from aiohttp import web

from ..exposer import ExposerContext
from ..routes import Routes
from .db import HistoryError
from .recorder import History

log = logging.getLogger(__name__)

HEADER = "X-C12-History"
HISTORY_KEY = web.AppKey("history", History)
CONTEXT_KEY = web.AppKey("history_context", ExposerContext)


def add_routes(routes: Routes, context: ExposerContext) -> None:
    if context.history is None:
        return
    routes.state(HISTORY_KEY, context.history)
    routes.state(CONTEXT_KEY, context)
    routes.add_get(
        "/history/jobs", list_jobs, title="/history/jobs", description="energy per named job"
    )
    routes.add_get("/history/jobs/{name}", job_report)
    routes.add_post("/history/jobs", change_job, description="start or stop a named job")


def refused(status: int, field: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "field": field, "message": message}, status=status)


async def list_jobs(request: web.Request) -> web.Response:
    try:
        jobs = await request.app[HISTORY_KEY].all_jobs()
    except HistoryError as error:
        return refused(error.status, error.field, str(error))
    return web.json_response({"jobs": [job.report() for job in jobs]})


async def job_report(request: web.Request) -> web.Response:
    try:
        job = await request.app[HISTORY_KEY].job(request.match_info["name"])
    except HistoryError as error:
        return refused(error.status, error.field, str(error))
    return web.json_response(job.report())


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


async def change_job(request: web.Request) -> web.Response:
    if request.headers.get(HEADER) != "1" or request.content_type != "application/json":
        return refused(403, "origin", f"send the {HEADER}: 1 header and a JSON body")
    if not _auth_configured(request.app[CONTEXT_KEY]):
        return refused(
            403, "access",
            "starting and stopping jobs over HTTP needs basic auth: add basic_auth_users to "
            "the --web.config.file (or use the console)",
        )  # fmt: skip
    user = basic_auth_user(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return refused(400, "body", "the request body is not JSON")
    if not isinstance(body, dict):
        return refused(400, "body", "the request body must be a JSON object")
    try:
        report = await apply(request.app[HISTORY_KEY], body, user or "?")
    except HistoryError as error:
        return refused(error.status, error.field, str(error))
    return web.json_response({"ok": True, "job": report})


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
