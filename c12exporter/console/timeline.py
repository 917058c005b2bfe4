"""The console's event timeline: what happened, when, on which unit and channel.

``GET /console/timeline?unit=&since=&until=&limit=&format=`` reads the history
database's ``events`` table (:mod:`c12exporter.history.events`) on a read-only connection
of its own, newest first, at most ``limit`` events (default :data:`DEFAULT_LIMIT`, at most
:data:`MAX_LIMIT`): ``format=json`` (default) or ``format=html``, a fragment the console
page embeds. ``since`` and ``until`` take unix seconds or what the history commands take
(``2h``, ``now``, an ISO 8601 time: :func:`c12exporter.history.query.parse_time`). A
query string it cannot use gets 400 naming the parameter and what to give.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import re
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ..history.db import HistoryError
from ..history.events import REACHABLE, SUPERVISION
from ..history.query import EVENT_COLUMNS, parse_time, window
from ..routes import Routes
from ..web.server import CONTEXT_KEY

EPOCH = re.compile(r"^\d{9,}(?:\.\d+)?$")
"""Unix seconds (nine digits or more: from 1973 on), as opposed to ``30m`` or ISO 8601."""
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PARAMETERS = ("unit", "since", "until", "limit", "format")
TEXT_MAX = 200
"""Longer parameter values are refused before any use."""

WORDS: Mapping[tuple[str, str], str] = {
    ("reachable", "down"): "unreachable",
    ("reachable", "up"): "answering",
    ("emergency_stop", "pressed"): "e-stop pressed",
    ("emergency_stop", "released"): "e-stop released",
    ("switch_disconnector", "on"): "switch disconnector on",
    ("switch_disconnector", "off"): "switch disconnector off",
    ("neutral", "lost"): "neutral lost",
    ("neutral", "ok"): "neutral back",
}
"""Unit-wide states in words; channel states are worded by :func:`what`."""
ALARMING = {("reachable", "down"), ("emergency_stop", "pressed"), ("neutral", "lost"),
            ("breaker", "open")}  # fmt: skip
"""States the fragment marks as alarms."""


class BadQuery(Exception):
    """A parameter the timeline cannot use; the message names it."""


@dataclass(frozen=True)
class Query:
    unit: str | None
    since: float | None
    until: float | None
    limit: int
    format: str


def parse_query(query: Mapping[str, str], multi: Mapping[str, int], now: float) -> Query:
    """The timeline's parameters, checked.

    :param multi: how many times each parameter was given.
    :raises BadQuery: naming the parameter and what to give.
    """
    unknown = sorted(name for name in multi if name not in PARAMETERS)
    if unknown:
        names = ", ".join(repr(n[:TEXT_MAX]) for n in unknown[:5])
        raise BadQuery(f"unknown parameter {names}: give unit, since, until, limit or format")
    for name, count in multi.items():
        if count > 1:
            raise BadQuery(f"{name}: given {count} times; give it once")
        if len(query[name]) > TEXT_MAX:
            raise BadQuery(f"{name}: longer than {TEXT_MAX} characters")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in query[name]):
            raise BadQuery(f"{name}: control characters are not allowed")
    unit = query.get("unit") or None
    since, until = _time(query, "since", now), _time(query, "until", now)
    if since is not None and until is not None and since > until:
        raise BadQuery("since: must not be later than until")
    text = query.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadQuery(f"limit: {text!r} must be a whole number from 1 to {MAX_LIMIT}")
    kind = query.get("format", "json")
    if kind not in ("json", "html"):
        raise BadQuery(f"format: {kind!r} must be json or html")
    return Query(unit, since, until, int(text), kind)


def _time(query: Mapping[str, str], name: str, now: float) -> float | None:
    """Epoch seconds (what the page has), or what the history commands take."""
    text = query.get(name, "").strip()
    if not text:
        return None
    if EPOCH.match(text):
        return float(text)
    try:
        return parse_time(text, name, now)
    except HistoryError as error:
        raise BadQuery(str(error)) from None


def latest_events(path: Path, query: Query) -> tuple[list[dict[str, object]], bool]:
    """The newest ``query.limit`` events in its window, newest first, and whether older
    ones were left out; read on a read-only connection."""
    if not path.exists():
        return [], False
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)
    try:
        where, params = window("at", query.unit, query.since, query.until)
        rows = conn.execute(
            f"SELECT {', '.join(('at', *EVENT_COLUMNS[1:]))} FROM events {where} "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (*params, query.limit + 1),
        ).fetchall()
    finally:
        conn.close()
    events = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in rows[: query.limit]]
    return events, len(rows) > query.limit


def what(event: Mapping[str, object]) -> str:
    """An event in words: "breaker 3 open", "channel 4 below its band", "e-stop pressed"."""
    kind, state, channel = str(event["kind"]), str(event["state"]), event["channel"]
    if (kind, state) in WORDS:
        text = WORDS[(kind, state)]
    elif kind == SUPERVISION:
        text = f"channel {channel} {state} its band" if state != "disabled" else (
            f"channel {channel} supervision off"
        )  # fmt: skip
    elif channel is not None:
        text = f"{kind.replace('_', ' ')} {channel} {state.replace('_', ' ')}"
    else:
        text = f"{kind.replace('_', ' ')} {state.replace('_', ' ')}"
    if event["previous"] is None and kind != REACHABLE:
        text += " (first recorded)"
    return text


def event_json(event: Mapping[str, object]) -> dict[str, object]:
    return {**event, "what": what(event)}


def local_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def fragment(events: list[dict[str, object]], truncated: bool, query: Query) -> str:
    """The events as an HTML table the console page embeds."""
    if not events:
        return '<section class="timeline"><p>No events in this window.</p></section>\n'
    rows = []
    for event in events:
        at = float(str(event["time"]))
        iso = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="seconds")
        alarm = (str(event["kind"]), str(event["state"])) in ALARMING
        detail = str(event["detail"] or "")
        rows.append(
            f'<tr class="{"alarm" if alarm else "info"}">'
            f'<td><time datetime="{iso}">{local_time(at)}</time></td>'
            f"<td>{html.escape(str(event['unit']))}</td>"
            f"<td>{'' if event['channel'] is None else event['channel']}</td>"
            f"<td>{html.escape(what(event))}"
            + (f" <small>{html.escape(detail)}</small>" if detail else "")
            + "</td></tr>"
        )
    more = (
        f'<p class="more">Showing the newest {query.limit}; older events were left out.</p>'
        if truncated
        else ""
    )
    return (
        '<section class="timeline"><table><thead><tr><th scope="col">When</th>'
        '<th scope="col">Unit</th><th scope="col">Channel</th><th scope="col">What</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}</section>\n"
    )


async def timeline(request: web.Request) -> web.Response:
    context = request.app[CONTEXT_KEY]
    multi = {name: len(request.query.getall(name)) for name in request.query}
    try:
        query = parse_query(request.query, multi, time.time())
    except BadQuery as error:
        return web.json_response({"ok": False, "message": str(error)}, status=400)
    if context.history is None:
        return web.json_response(
            {"ok": False, "message": "this exporter keeps no history"}, status=404
        )
    try:
        events, truncated = await asyncio.to_thread(latest_events, context.history.path, query)
    except sqlite3.Error as error:
        return web.json_response(
            {"ok": False, "message": f"the history database cannot be read now: {error}"},
            status=503,
        )
    headers = {"Cache-Control": "no-store"}
    if query.format == "html":
        return web.Response(
            text=fragment(events, truncated, query), content_type="text/html", headers=headers
        )
    return web.json_response(
        {"events": [event_json(e) for e in events], "truncated": truncated}, headers=headers
    )


def add_routes(routes: Routes) -> None:
    """Before the console's own routes: its ``/console/{asset}`` pattern would take it."""
    routes.add_get("/console/timeline", timeline)
