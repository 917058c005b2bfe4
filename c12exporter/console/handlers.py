"""The console's routes: the page, its assets, the integrations page, the live events
and the edits.

Live: ``/console/events?<the page's query>`` is a server-sent event stream. What a
client was sent is remembered per client, and it is sent only what changed *on its
screen*: the cells of the fleet rows it shows (one page of the fleet, in the order its
query asks), the problems in the banner (a problem whose words alone changed as its
words), the fleet counts and its selected unit. The stream of a page just rendered goes
on from what the page showed (the page's ``pid``); after a reconnect (the browser
reconnects by itself when the exporter restarts) a client gets all of it again. When
the order of the rows on its page changes, the rows are moved and only rows new to the
page are sent as HTML (the whole fleet part for tiles and groups): at once when an alarm
or a unit down comes or goes, else at most every :data:`RESORT_EVERY_S`. A new, worse,
ended or acknowledged problem goes out after :data:`FLUSH_S`; changed values at most
every :data:`VALUES_EVERY_S`. A ``tick`` every :data:`TICK_S` tells the browser the
stream is alive. A change of the fleet tells clients to reload.

Access: ``console: anonymous_view`` lets anyone read the console's pages without basic
auth (:data:`c12exporter.web.webconfig.PUBLIC_KEY`); ``/console/signin`` asks for it.

Edits: ``POST /console/units/{name}/settings`` with a JSON body, written through the
poller's one write path. Accepted only when the ``console:`` section enables writes,
the request carries basic auth of an editor, and it passes the CSRF checks (same-origin
``Origin`` and ``Sec-Fetch-Site`` when sent, the ``X-C12-Console`` header, a JSON body,
and the per-user token the page and the event stream carry).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ..exposer import ExposerContext
from ..forecast import TripForecast
from ..history.db import HistoryError
from ..names import name_refusal
from ..problems import Problem, ProblemBoard, Severity
from ..reading import ChannelReading, ChannelSettings, Reading, Settings, UnitSettings
from ..routes import Routes
from ..store import Change, FleetChange, Store, UnitState
from ..transport import WriteError
from ..web.webconfig import PUBLIC_KEY
from . import jobs, page, view
from .config import SIGN_IN_PATH, ConsoleSettings, viewable_without_sign_in
from .page import FleetPage, FleetParams

log = logging.getLogger(__name__)

FLUSH_S = 0.2
"""Changes are gathered this long before one event goes out."""
RESORT_EVERY_S = 5.0
"""A browser's fleet is sorted again at least this often when its order changed; at once
when an alarm or a unit down comes or goes (warnings that come and go with a load near a
limit would otherwise re-send the page every second)."""
VALUES_EVERY_S = 1.0
"""Changed values go to a browser at most this often (a change of the problems at once)."""
TICK_S = 2.0
"""The longest the stream stays silent: the browser calls the connection lost after
three of these without a word."""
RETRY_MS = 1000
"""How soon the browser reconnects after the stream ends (e.g. the exporter restarted)."""
CLIENT_QUEUE = 32
"""Events a slow client may lag behind; beyond, its stream ends and it reconnects."""
NAME_MAX_BYTES = 16
CSRF_HEADER = "X-C12-Console"
ASSETS = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
PAGE_KEPT_S = 60.0
"""How long a rendered page's state waits for its stream."""
EVENT_UNITS_LISTED = 300
"""Up to this many units, the events' unit box suggests every name."""
ASSET_MAX_AGE_S = 86400
"""Assets are linked with the version in their query, so a browser may keep them a day."""
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; media-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)


class EditRefused(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class LastKnown:
    """The last reading ever taken of each unit: a unit that is down keeps its identity."""

    def __init__(self, store: Store) -> None:
        self.readings: dict[str, Reading] = {
            s.config.name: s.reading for s in store if s.reading is not None
        }
        store.subscribe(self._on_change)

    def _on_change(self, change: Change) -> None:
        if change.after is not None:
            self.readings[change.unit.config.name] = change.after

    def get(self, unit: str) -> Reading | None:
        return self.readings.get(unit)


@dataclass(eq=False)
class Client:
    """One browser's stream: what it shows, and what it was last sent."""

    unit: str
    params: FleetParams = field(default_factory=FleetParams)
    editable: bool = False
    mode: str = ""
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))
    fleet: tuple[object, ...] = ()
    rows: dict[str, dict[str, object]] = field(default_factory=dict)
    detail: dict[str, object] = field(default_factory=dict)
    up: str = ""
    unit_problems: str = ""
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)
    """The banner's items as sent: id -> (the item without its text, its text)."""
    order: list[str] = field(default_factory=list)
    alarms: tuple[tuple[str, int, bool], ...] = ()
    sent_at: float = 0.0
    fleet_urgent: frozenset[str] = frozenset()
    fleet_at: float = 0.0
    totals: dict[str, object] = field(default_factory=dict)
    sent_bytes: int = 0


def _diff(old: Mapping[str, object], new: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in new.items() if old.get(k, _MISSING) != v}


_MISSING = object()


@dataclass
class Frame:
    """Everything a flush computes once and every client shares."""

    now: float
    problems: list[Problem]
    of_unit: dict[str, list[Problem]]
    totals: view.Cells
    rows: dict[str, view.Cells] = field(default_factory=dict)
    pages: dict[FleetParams, FleetPage] = field(default_factory=dict)
    load: dict[str, float] = field(default_factory=dict)

    @property
    def urgent(self) -> frozenset[str]:
        """The alarms and units down: a new one re-sorts a browser's fleet at once."""
        return frozenset(view.problem_id(p) for p in self.problems if p.severity >= Severity.DOWN)

    @property
    def alarms(self) -> tuple[tuple[str, int, bool], ...]:
        """The set of problems as the crew must hear of it at once: which, how bad, and
        whether acknowledged (not their changing texts)."""
        return tuple(
            (view.problem_id(p), int(p.severity), p.acked_by is None) for p in self.problems
        )


class Hub:
    """Fans the store's and the board's changes out to the connected browsers."""

    def __init__(
        self,
        store: Store,
        board: ProblemBoard,
        forecast: TripForecast | None = None,
        known: LastKnown | None = None,
    ) -> None:
        self.store = store
        self.board = board
        self.forecast = forecast
        self.known = known or LastKnown(store)
        self.history = False
        """The exporter keeps a history: the unit view links to its records."""
        self.clients: set[Client] = set()
        self._changed = False
        self._version = -1
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.updates = 0
        """Update events built, for the benchmark."""

    def attach(self, client: Client) -> None:
        if not self.clients:
            self.store.subscribe(self._on_change)
            self.store.watch_fleet(self._on_fleet)
            self._task = asyncio.get_running_loop().create_task(self._run())
        self.clients.add(client)

    async def detach(self, client: Client) -> None:
        self.clients.discard(client)
        if not self.clients:
            await self._stop()

    async def _stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.store.unsubscribe(self._on_change)
        with contextlib.suppress(ValueError):
            self.store.unwatch_fleet(self._on_fleet)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def close(self, _app: object = None) -> None:
        """End every stream (the web server is shutting down)."""
        for client in list(self.clients):
            _offer(client, None)
        await self._stop()

    def _on_change(self, change: Change) -> None:
        self._changed = True
        self._wake.set()

    def _on_fleet(self, change: FleetChange) -> None:
        for client in list(self.clients):
            _offer(client, "event: fleet\ndata: {}\n\n")

    # --- what a client sees -------------------------------------------------------------

    def frame(self, now: float) -> Frame:
        problems = sorted(self.board.active(now), key=view.panel_order)
        of_unit: dict[str, list[Problem]] = {}
        for p in problems:
            of_unit.setdefault(p.unit, []).append(p)
        return Frame(now, problems, of_unit, view.totals_cells(self.store, problems, now))

    def row(self, frame: Frame, state: UnitState) -> view.Cells:
        name = state.config.name
        cells = frame.rows.get(name)
        if cells is None:
            reading = self.store.fresh_reading(state, frame.now)
            cells = frame.rows[name] = view.row_cells(
                state, reading, frame.of_unit.get(name, ()), self.known.get(name),
                self.board.identity(name),
            )  # fmt: skip
        return cells

    def fleet_page(self, frame: Frame, params: FleetParams) -> FleetPage:
        fleet = frame.pages.get(params)
        if fleet is None:
            if params.sort == "load" and not frame.load:
                for state in self.store:
                    reading = self.store.fresh_reading(state, frame.now)
                    power = None if reading is None else reading.values["active_power"]
                    frame.load[state.config.name] = (
                        float(power) if isinstance(power, float | int) else 0.0
                    )
            fleet = frame.pages[params] = page.order(self.store, frame.of_unit, params, frame.load)
        return fleet

    def fleet_html(self, frame: Frame, params: FleetParams, selected: str) -> str:
        fleet = self.fleet_page(frame, params)
        rows = {u.config.name: self.row(frame, u) for u in fleet.units}
        return page.fleet_body(fleet, rows, selected)

    def detail(
        self, frame: Frame, name: str
    ) -> tuple[UnitState, Reading | None, view.Cells] | None:
        state = self.store.get(name)
        if state is None:
            return None
        reading = self.store.fresh_reading(state, frame.now)
        cells = view.detail_cells(
            state, reading, frame.of_unit.get(name, ()), view.trips(self.forecast, reading),
            self.known.get(name), self.board.identity(name),
        )  # fmt: skip
        return state, reading, cells

    def message(self, client: Client, frame: Frame, full: bool) -> dict[str, object] | None:
        """What ``client`` has not seen yet (``full``: everything, as after a reconnect)."""
        out: dict[str, object] = {}
        fleet = self.fleet_page(frame, client.params)
        signature = (
            tuple((u.config.name, self.row(frame, u).s["status"]) for u in fleet.units),
            fleet.total,
        )
        urgent = frame.urgent
        if full or (
            signature != client.fleet
            and (urgent != client.fleet_urgent or frame.now - client.fleet_at >= RESORT_EVERY_S)
        ):
            rows = {u.config.name: self.row(frame, u).flat() for u in fleet.units}
            if full or client.params.tiles or client.params.group or not client.rows or not rows:
                out["fleet"] = self.fleet_html(frame, client.params, client.unit)
            else:  # the table in its new order: only the rows new to it as HTML
                out["reorder"] = {
                    "order": list(rows),
                    "add": {
                        u.config.name: page.fleet_row(
                            u, self.row(frame, u), client.unit, client.params
                        )
                        for u in fleet.units
                        if u.config.name not in client.rows
                    },
                    "pager": page.pager(fleet),
                }
                changed = {
                    name: delta
                    for name, cells in rows.items()
                    if name in client.rows and (delta := _diff(client.rows[name], cells))
                }
                if changed:
                    out["rows"] = changed
            client.fleet, client.fleet_urgent, client.fleet_at = signature, urgent, frame.now
            client.rows = rows
        else:  # the rows on its screen, as they are now (a new order follows soon)
            changed = {}
            for name, sent in client.rows.items():
                state = self.store.get(name)
                if state is None:
                    continue
                now_cells = self.row(frame, state).flat()
                delta = _diff(sent, now_cells)
                if delta:
                    changed[name] = delta
                    client.rows[name] = now_cells
            if changed:
                out["rows"] = changed
        # a banner item whose text alone changed ("trips in 0:31", a percentage) is sent
        # as its new text, not as the whole item again
        listed = frame.problems[: page.BANNER_MAX]
        items = {
            view.problem_id(p): (page.problem_item(replace(p, text=""), client.editable), p.text)
            for p in listed
        }
        order = list(items)
        set_items = {
            view.problem_id(p): page.problem_item(p, client.editable)
            for p in listed
            if full
            or client.problems.get(view.problem_id(p), ("", ""))[0] != items[view.problem_id(p)][0]
        }
        texts = {
            pid: text
            for pid, (shape, text) in items.items()
            if pid not in set_items and client.problems.get(pid, ("", ""))[1] != text
        }
        gone = [] if full else [i for i in client.problems if i not in items]
        if full or set_items or texts or gone or order != client.order:
            out["problems"] = {
                "set": set_items, "text": texts, "del": gone, "order": order,
                "more": max(0, len(frame.problems) - page.BANNER_MAX),
                "worst": view.worst(frame.problems),
            }  # fmt: skip
            client.problems, client.order = items, order
        totals = frame.totals.flat()
        delta = totals if full else _diff(client.totals, totals)
        if delta:
            out["totals"] = delta
            client.totals = totals
        if client.unit:
            found = self.detail(frame, client.unit)
            if found is not None:
                state, reading, cells = found
                up = cells.s["d.up"]
                flat = cells.flat()
                if full or up != client.up:
                    out["unit"] = page.unit_view(
                        state, reading, cells, frame.of_unit.get(client.unit, ()),
                        client.editable, client.editable, self.known.get(client.unit),
                        client.params.link(), records(client.unit, self.history), client.mode,
                    )  # fmt: skip
                    client.detail, client.up = flat, up
                else:
                    delta = _diff(client.detail, flat)
                    if delta:
                        out["detail"] = delta
                    client.detail = flat
                problems_html = page.unit_problems(
                    frame.of_unit.get(client.unit, ()), client.editable
                )
                if problems_html != client.unit_problems:
                    if "unit" not in out:
                        out["unit_problems"] = problems_html
                    client.unit_problems = problems_html
        return out or None

    def snapshot(self, client: Client, token: str, full: bool = True) -> str:
        """The stream's first event: everything (``full``), or what changed since the page
        the client was rendered with."""
        frame = self.frame(time.time())
        payload = self.message(client, frame, full) or {}
        client.alarms, client.sent_at = frame.alarms, frame.now
        payload["token"] = token
        payload["units"] = len(self.store)
        payload["now"] = frame.now
        return f"retry: {RETRY_MS}\nevent: snapshot\ndata: {json.dumps(payload)}\n\n"

    async def _run(self) -> None:
        last_sent = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wake.wait()
            await asyncio.sleep(FLUSH_S)
            self._wake.clear()
            changed, self._changed = self._changed, False
            # the board's texts run with the clock ("unreachable for 2 min"): a flush a
            # second even without a poll; one that finds nothing new sends nothing
            self.flush(time.time(), changed)
            if any(c.queue.qsize() for c in self.clients):
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= TICK_S:
                for client in list(self.clients):
                    _offer(client, "event: tick\ndata: {}\n\n")
                last_sent = time.monotonic()

    def flush(self, now: float, changed: bool = True) -> None:
        """Send every client what changed on its screen.

        The frame (the whole fleet's problems, totals and pages) is built only when the
        board's alarms changed since the last one (a problem came, went, got worse or was
        acknowledged: what goes out at once) or a client's values are due: the polls of a
        large fleet wake the stream every :data:`FLUSH_S`, and most of those flushes would
        send nothing."""
        version = self.board.alarms_at(now)
        if version == self._version and all(
            now - client.sent_at < VALUES_EVERY_S for client in self.clients
        ):
            return
        self._version = version
        frame = self.frame(now)
        alarms = frame.alarms
        for client in list(self.clients):
            # a new, worse, ended or acknowledged problem goes out at once; values wait
            # for the next second, gathered into one event
            if alarms == client.alarms and now - client.sent_at < VALUES_EVERY_S:
                continue
            message = self.message(client, frame, full=False)
            client.alarms = alarms
            if message is not None:
                client.sent_at = now
                _offer(client, f"event: update\ndata: {json.dumps(message)}\n\n")
        self.updates += 1


def records(unit: str, history: bool) -> list[tuple[str, str]]:
    """Links to the unit's events and, where the exporter keeps a history, its RCBO tests
    and supply checks (docs/history.md)."""
    query = urlencode({"unit": unit})
    links = [("Events", f"console/timeline?{query}")]
    if history:
        links += [
            ("RCBO tests", f"history/rcbo-tests?{query}"),
            ("Supply checks", f"history/supply-checks?{query}"),
            ("Jobs and show reports", "history/jobs"),
        ]
    return links


def _offer(client: Client, message: str | None) -> None:
    try:
        client.queue.put_nowait(message)
    except asyncio.QueueFull:  # too slow: end its stream; it reconnects to a snapshot
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)


class Console:
    """The console's handlers, bound to the running exporter's context."""

    def __init__(self, context: ExposerContext, board: ProblemBoard) -> None:
        self.context = context
        self.board = board
        self.known = LastKnown(context.store)
        self.hub = Hub(context.store, board, context.forecast, self.known)
        self.hub.history = context.history is not None
        self.sent_bytes = 0
        """Bytes of pages and event streams sent, for the benchmark."""
        self.pages: dict[str, tuple[float, Client]] = {}
        """What each page just rendered showed, by page id, until its stream picks it up."""
        self._secret = os.urandom(32)
        self._assets = {
            name: resources.files(__package__).joinpath("static", name).read_bytes()
            for name in ASSETS
        }

    # --- who may edit -------------------------------------------------------------------

    @property
    def settings(self) -> ConsoleSettings:
        settings = self.context.config.exposers.get("console")
        return settings if isinstance(settings, ConsoleSettings) else ConsoleSettings()

    def _auth_users(self) -> frozenset[str]:
        web_settings = self.context.config.exposers.get("web")
        web_config = getattr(web_settings, "web_config", None)
        return frozenset(getattr(web_config, "users", {}) or {})

    @staticmethod
    def user(request: web.Request) -> str | None:
        """The basic-auth user of the request (the web server has checked the password)."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user = base64.b64decode(encoded, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None

    def access(self, request: web.Request) -> tuple[bool, str, str | None]:
        """(may edit, what the page says about it, user)."""
        settings = self.settings
        user = self.user(request)
        users = self._auth_users()
        if not settings.writes_enabled:
            return (
                False,
                "View only: changing names and bands is switched off for this exporter "
                "(console: writes_enabled: false in its config).",
                user,
            )
        if not users:
            return (
                False,
                "View only: changes need a signed-in user, and this exporter has no users "
                "(basic_auth_users in its --web.config.file).",
                user,
            )
        if user is None or user not in users:
            return False, "View only: sign in (top right) to change names and bands.", user
        if settings.editors is not None and user not in settings.editors:
            return (
                False,
                f"View only: {user} may look but not change (not one of the editors in "
                "console: editors).",
                user,
            )
        return True, f"Signed in as {user}: changes are written to the unit.", user

    def public(self, request: web.Request) -> bool:
        """Anyone may look (``console: anonymous_view``); the web server asks this."""
        return viewable_without_sign_in(self.settings, request.method, request.path)

    async def sign_in(self, request: web.Request) -> web.Response:
        """Reached only with basic auth (the web server asked for it): back to the page."""
        raise web.HTTPFound("../")

    def token(self, user: str | None) -> str:
        return hmac.new(self._secret, (user or "").encode(), hashlib.sha256).hexdigest()[:32]

    # --- the page -------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        store = self.context.store
        hub = self.hub
        frame = hub.frame(time.time())
        params = FleetParams.of(request.query)
        selected = request.query.get("unit", "")
        if store.get(selected) is None:
            selected = ""
        editable, mode, user = self.access(request)
        fleet = hub.fleet_page(frame, params)
        # the page is what its stream's client has seen: the stream goes on from there
        client = Client(selected, params, editable, mode)
        shown = hub.message(client, frame, full=True) or {}
        label_keys = sorted({k for u in store for k in u.config.labels})
        groups = sorted({f"{k}={v}" for u in store for k, v in u.config.labels.items()})
        events = request.query.get("events") == "1" and not selected
        if selected:
            unit_html = str(shown.get("unit", ""))
        elif events:
            names = [u.config.name for u in store] if len(store) <= EVENT_UNITS_LISTED else []
            unit_html = page.events_section(
                request.query.get("of", "")[:64], request.query.get("since", "1h")[:32], names
            )
        else:
            unit_html = ""
        jobs_html = await jobs.pane(self.context.history, groups, editable)
        pid = self.remember(client)
        query = urlencode(
            {**params.query(), **({"unit": selected} if selected else {}), "pid": pid}
        )
        body = page.page(
            title=self.settings.title,
            banner_html=page.banner(frame.problems, frame.totals, editable),
            fleet_html=page.fleet_section(
                fleet, str(shown.get("fleet", "")), selected, label_keys, frame.totals
            ),
            unit_html=unit_html,
            selected=selected,
            mode=mode,
            editable=editable,
            token=self.token(user),
            jobs_html=jobs_html,
            query=query,
            events=events,
            sign_in=user is None and bool(self._auth_users()),
        )
        self.sent_bytes += len(body.encode())
        return web.Response(
            text=body,
            content_type="text/html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    def remember(self, client: Client) -> str:
        """Keep what a page showed for its stream, a short while; the page's id."""
        now = time.monotonic()
        for pid, (at, _client) in list(self.pages.items()):
            if now - at > PAGE_KEPT_S:
                del self.pages[pid]
        pid = secrets.token_hex(8)
        self.pages[pid] = (now, client)
        return pid

    async def integrations(self, request: web.Request) -> web.Response:
        from ..web.server import ROUTES_KEY

        links = [
            r
            for r in request.app[ROUTES_KEY].values()
            if r.method == "GET" and "{" not in r.path and not r.path.startswith("/console/")
        ]
        return web.Response(
            text=page.integrations(links, self.settings.title),
            content_type="text/html",
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
        )

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        if name not in ASSETS:
            raise web.HTTPNotFound(text=f"no console asset {name!r}\n")
        body = self._assets[name]
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        headers = {
            "Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}",
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        self.sent_bytes += len(body)
        return web.Response(body=body, content_type=ASSETS[name], headers=headers)

    # --- live -------------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        unit = request.query.get("unit", "")
        editable, mode, user = self.access(request)
        response = event_stream(
            {"Content-Type": "text/event-stream", "Cache-Control": "no-store",
             "X-Accel-Buffering": "no"}
        )  # fmt: skip
        await response.prepare(request)
        kept = self.pages.pop(request.query.get("pid", ""), None)
        if kept is not None and (kept[1].unit, kept[1].editable) == (unit, editable):
            client, full = kept[1], False  # the page just shown: only what changed since
        else:
            client, full = Client(unit, FleetParams.of(request.query), editable, mode), True
        self.hub.attach(client)
        try:
            message: str | None = self.hub.snapshot(client, self.token(user), full)
            while message is not None:
                data = message.encode()
                client.sent_bytes += len(data)
                self.sent_bytes += len(data)
                await response.write(data)
                message = await client.queue.get()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            await self.hub.detach(client)
        return response

    # --- edits ------------------------------------------------------------------------------

    async def edit(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            user, body = await self._checked_body(request)
            state = self.context.store.get(name)
            if state is None:
                raise EditRefused(404, "unit", f"no unit {name!r} in the fleet")
            reading = self.context.store.fresh_reading(state)
            if reading is None:
                raise EditRefused(
                    409, "unit", f"unit {name} cannot be read now; edit it once it is up"
                )
            change, what, before, after = parse_edit(body, reading)
            try:
                await self.context.poller.write_settings(name, [change])
            except WriteError as error:
                if error.reason == "invalid":  # our checks let through what the unit refuses
                    raise EditRefused(
                        400, what, f"not written: the unit does not take {after}"
                    ) from None
                raise EditRefused(502, what, f"not written: {error}") from None
        except EditRefused as refused:
            return web.json_response(
                {"ok": False, "field": refused.field, "message": str(refused)},
                status=refused.status,
            )
        log.info("console edit by %s: unit %s, %s: %r -> %r", user, name, what, before, after)
        frame = self.hub.frame(time.time())
        found = self.hub.detail(frame, name)
        answer: dict[str, object] = {"ok": True, "message": f"{name}: {what} is now {after!r}"}
        if found is not None:
            answer["detail"] = found[2].flat()
            answer["row"] = self.hub.row(frame, found[0]).flat()
        return web.json_response(answer)

    async def job(self, request: web.Request) -> web.Response:
        """Start or stop a job (the jobs pane), under the same checks as an edit."""
        try:
            user, body = await self._checked_body(request)
            try:
                fleet = [(u.config.name, u.config.labels) for u in self.context.store]
                message = await jobs.apply(self.context.history, body, user, fleet)
            except HistoryError as error:
                raise EditRefused(error.status, error.field, str(error)) from None
        except EditRefused as refused:
            return web.json_response(
                {"ok": False, "field": refused.field, "message": str(refused)},
                status=refused.status,
            )
        return web.json_response({"ok": True, "message": message})

    async def _checked_body(self, request: web.Request) -> tuple[str | None, dict[str, Any]]:
        """The user and JSON body of a write that passed the access and CSRF checks."""
        editable, mode, user = self.access(request)
        self._check_request(request, editable, mode)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise EditRefused(400, "body", "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise EditRefused(400, "body", "the request body must be a JSON object")
        if not hmac.compare_digest(str(body.get("token", "")), self.token(user)):
            raise EditRefused(403, "token", "the page's edit token is out of date: reload the page")
        return user, body

    @staticmethod
    def _check_request(request: web.Request, editable: bool, mode: str) -> None:
        site = request.headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            raise EditRefused(403, "origin", f"cross-site request refused (Sec-Fetch-Site {site})")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            raise EditRefused(403, "origin", f"request from another origin ({origin}) refused")
        if request.headers.get(CSRF_HEADER) != "1" or request.content_type != "application/json":
            raise EditRefused(
                403, "origin", f"edits come from the console page ({CSRF_HEADER} header, JSON)"
            )
        if not editable:
            raise EditRefused(403, "access", mode)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise EditRefused(400, key, f"{key}: must be text")
    return value


def check_name(typed: str, what: str) -> str:
    """A name the unit can store: printable, at most 16 bytes of UTF-8; ``""`` clears it,
    but a name of only spaces is refused (it would clear the name without saying so)."""
    name = typed.strip()
    if typed and not name:
        raise EditRefused(
            400, "name", f"{what}: only spaces; type a name, or empty the box to clear it"
        )
    if (refusal := name_refusal(name)) is not None:
        raise EditRefused(400, "name", f"{what}: {refusal}")
    size = len(name.encode("utf-8"))
    if size > NAME_MAX_BYTES:
        raise EditRefused(
            400,
            "name",
            f"{what}: {len(name)} characters take {size} bytes in UTF-8; the unit stores at "
            f"most {NAME_MAX_BYTES} bytes: shorten it (letters outside ASCII take 2 to 4 bytes)",
        )
    return name


def parse_limit(text: str, which: str, rating_a: float) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise EditRefused(
            400, which, f"{which}: {text!r} is not a number; give amperes, e.g. 2.5"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise EditRefused(400, which, f"{which}: must be 0 A or more")
    if value > rating_a:
        raise EditRefused(
            400, which, f"{which}: {value:g} A is above the channel's {rating_a:g} A rating"
        )
    if not math.isclose(value * 100, round(value * 100), abs_tol=1e-6):
        raise EditRefused(
            400,
            which,
            f"{which}: {text} A has more decimals than the unit keeps; it stores steps of "
            f"0.01 A (e.g. {math.floor(value * 100) / 100:.2f} or "
            f"{math.ceil(value * 100) / 100:.2f})",
        )
    return value


def _channel(body: dict[str, Any], reading: Reading) -> ChannelReading:
    number = body.get("channel")
    channels = {c.number: c for c in reading.channels}
    if not isinstance(number, int) or number not in channels:
        raise EditRefused(
            400, "channel", f"channel: {number!r} is not a channel (1..{len(channels)})"
        )
    return channels[number]


def parse_edit(body: dict[str, Any], reading: Reading) -> tuple[Settings, str, str, str]:
    """(the change, what it changes, before, after) from an edit request.

    :raises EditRefused: naming the field and what to do.
    """
    kind = body.get("field")
    if kind == "unit_name":
        name = check_name(_text(body, "value"), "unit name")
        return UnitSettings(name), "unit name", reading.stored_name, name
    if kind == "channel_name":
        channel = _channel(body, reading)
        name = check_name(_text(body, "value"), f"channel {channel.number} name")
        return (
            ChannelSettings(channel.number, name=name),
            f"channel {channel.number} name",
            channel.name,
            name,
        )
    if kind == "band":
        channel = _channel(body, reading)
        low = parse_limit(_text(body, "min"), "minimum", channel.rating_a)
        high = parse_limit(_text(body, "max"), "maximum", channel.rating_a)
        if low is not None and high is not None and low >= high:
            raise EditRefused(
                400,
                "minimum",
                f"minimum {low:g} A must be below maximum {high:g} A (0 <= min < max)",
            )
        band = channel.supervision

        def show(low: float | None, high: float | None) -> str:
            if low is None and high is None:
                return "off"
            return f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'} A"

        return (
            ChannelSettings(channel.number, min_a=low, max_a=high),
            f"channel {channel.number} supervision band",
            show(band.min_a, band.max_a),
            show(low, high),
        )
    raise EditRefused(400, "field", "field: must be unit_name, channel_name or band")


CONSOLE_KEY = web.AppKey("console", Console)
"""The console's handlers, for routes of other console modules that share its checks."""


def event_stream(headers: Mapping[str, str]) -> web.StreamResponse:
    """The stream's response: gzip with a flush per event where the web server offers it."""
    try:
        from ..web.compress import EventStream
    except ImportError:
        return web.StreamResponse(headers=dict(headers))
    return EventStream(headers=dict(headers))


def board_for(routes: Routes, context: ExposerContext) -> ProblemBoard:
    """The problem board the console plugin built; a memory-only one where the console is
    served without the plugin (the benchmark)."""
    from .board import board_of

    board = board_of(routes)
    return board if board is not None else ProblemBoard(context.store, context.forecast)


def add_routes(routes: Routes, context: ExposerContext) -> None:
    console = Console(context, board_for(routes, context))
    routes.state(CONSOLE_KEY, console)
    routes.add_get("/", console.index, title="Fleet console",
                   description="the alarm panel: problems first, every unit live")  # fmt: skip
    routes.state(PUBLIC_KEY, console.public)
    routes.add_get(SIGN_IN_PATH, console.sign_in)
    routes.add_get("/console/events", console.events)
    routes.add_get("/console/integrations", console.integrations)
    routes.add_get("/console/static/{asset}", console.asset)
    routes.add_post("/console/units/{name}/settings", console.edit)
    routes.add_post("/console/jobs", console.job)
    routes.on_shutdown(console.hub.close)
