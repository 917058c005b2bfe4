"""The console's routes: the page, its two assets, the live events and the edits.

Live: ``/console/events`` is a server-sent event stream. A client gets the whole fleet at
once (and again after every reconnect: the browser reconnects by itself when the
exporter restarts), then one ``update`` event per flush with the rows of the units
polled since, the fleet totals and, when its selected unit was polled, that unit's
panes. Changes of the store (``subscribe``) are gathered for :data:`FLUSH_S` so a burst
of polls costs one event; a change of the fleet (``watch_fleet``) tells clients to
reload the page.

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
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import web

from ..exposer import ExposerContext
from ..forecast import TripForecast
from ..history.db import HistoryError
from ..reading import ChannelReading, ChannelSettings, Reading, Settings, UnitSettings
from ..routes import Routes
from ..store import Change, FleetChange, Store
from ..transport import WriteError
from . import jobs, page, view
from .config import ConsoleSettings

log = logging.getLogger(__name__)

FLUSH_S = 0.2
"""Changes are gathered this long before one event goes out."""
STALE_CHECK_S = 2.0
"""How often units are checked for readings that went stale without a poll event."""
KEEPALIVE_S = 15.0
RETRY_MS = 1000
"""How soon the browser reconnects after the stream ends (e.g. the exporter restarted)."""
CLIENT_QUEUE = 32
"""Events a slow client may lag behind; beyond, its stream ends and it reconnects."""
NAME_MAX_BYTES = 16
CSRF_HEADER = "X-C12-Console"
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class EditRefused(Exception):
    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


@dataclass(eq=False)
class Client:
    unit: str
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(CLIENT_QUEUE))


class Hub:
    """Fans the store's events out to the connected browsers."""

    def __init__(self, store: Store, forecast: TripForecast | None = None) -> None:
        self.store = store
        self.forecast = forecast
        self.clients: set[Client] = set()
        self._dirty: set[str] = set()
        self._up: dict[str, bool] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.updates = 0
        """Update events built (one per flush with changes), for the benchmark."""

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
        self._dirty.add(change.unit.config.name)
        self._wake.set()

    def _on_fleet(self, change: FleetChange) -> None:
        for client in list(self.clients):
            _offer(client, "event: fleet\ndata: {}\n\n")

    def snapshot(self, unit: str, token: str) -> str:
        now = time.time()
        rows = {}
        for state in self.store:
            reading = self.store.fresh_reading(state, now)
            self._up[state.config.name] = reading is not None
            rows[state.config.name] = view.row_cells(state, reading).as_json()
        payload = {
            "units": list(rows),
            "rows": rows,
            "totals": view.totals_cells(self.store, now).as_json(),
            "detail": self._detail(unit, now),
            "token": token,
        }
        return f"retry: {RETRY_MS}\nevent: snapshot\ndata: {json.dumps(payload)}\n\n"

    def _detail(self, unit: str, now: float) -> dict[str, object] | None:
        state = self.store.get(unit)
        if state is None:
            return None
        reading = self.store.fresh_reading(state, now)
        return view.detail_cells(state, reading, view.trips(self.forecast, reading)).as_json()

    async def _run(self) -> None:
        last_check = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STALE_CHECK_S):
                    await self._wake.wait()
            await asyncio.sleep(FLUSH_S)
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            now = time.time()
            if time.monotonic() - last_check >= STALE_CHECK_S:
                last_check = time.monotonic()
                for state in self.store:  # gone stale without a poll event
                    if self._up.get(state.config.name) != (
                        self.store.fresh_reading(state, now) is not None
                    ):
                        dirty.add(state.config.name)
            if dirty:
                self.flush(dirty, now)

    def flush(self, dirty: set[str], now: float) -> None:
        """Send one update event about ``dirty`` units to every client."""
        rows = {}
        for name in dirty:
            state = self.store.get(name)
            if state is None:
                continue
            reading = self.store.fresh_reading(state, now)
            self._up[name] = reading is not None
            rows[name] = view.row_cells(state, reading).as_json()
        common = (
            f'{{"rows": {json.dumps(rows)}, '
            f'"totals": {json.dumps(view.totals_cells(self.store, now).as_json())}'
        )
        details: dict[str, str] = {}
        for client in list(self.clients):
            if client.unit in dirty:
                if client.unit not in details:
                    details[client.unit] = json.dumps(self._detail(client.unit, now))
                data = f'{common}, "detail": {details[client.unit]}}}'
            else:
                data = common + "}"
            _offer(client, f"event: update\ndata: {data}\n\n")
        self.updates += 1


def _offer(client: Client, message: str | None) -> None:
    try:
        client.queue.put_nowait(message)
    except asyncio.QueueFull:  # too slow: end its stream; it reconnects to a snapshot
        while not client.queue.empty():
            client.queue.get_nowait()
        client.queue.put_nowait(None)


class Console:
    """The console's handlers, bound to the running exporter's context."""

    def __init__(self, context: ExposerContext) -> None:
        self.context = context
        self.hub = Hub(context.store, context.forecast)
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
            return False, "Read-only: edits are off (console: writes_enabled: false).", user
        if not users:
            return (
                False,
                "Read-only: edits need basic auth; add basic_auth_users to the --web.config.file.",
                user,
            )
        if user is None or user not in users:
            return False, "Read-only: not signed in with basic auth.", user
        if settings.editors is not None and user not in settings.editors:
            return (
                False,
                f"Read-only: user {user} is not one of the editors (console: editors).",
                user,
            )
        return True, f"Editing as {user}: changes are written to the unit.", user

    def token(self, user: str | None) -> str:
        return hmac.new(self._secret, (user or "").encode(), hashlib.sha256).hexdigest()[:32]

    # --- the page -------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        from ..web.server import ROUTES_KEY

        store = self.context.store
        now = time.time()
        units = list(store)
        selected = request.query.get("unit", "")
        if store.get(selected) is None:
            selected = units[0].config.name if units else ""
        rows = [page.fleet_row(unit, store.fresh_reading(unit, now), selected) for unit in units]
        editable, mode, user = self.access(request)
        state = store.get(selected)
        reading = None if state is None else store.fresh_reading(state, now)
        unit_html = (
            page.unit_panes(state, reading, editable, view.trips(self.context.forecast, reading))
            if state is not None
            else '<div id="unit"><p>No units are configured.</p></div>'
        )
        links = [r for r in request.app[ROUTES_KEY].links if r.path != "/"]
        jobs_html = await jobs.pane(self.context.history, [u.config.name for u in units], editable)
        body = page.page(
            title=self.settings.title,
            rows=rows,
            totals=view.totals_cells(store, now),
            unit_html=unit_html,
            selected=selected,
            links=links,
            mode=mode,
            editable=editable,
            token=self.token(user),
            jobs_html=jobs_html,
        )
        return web.Response(
            text=body,
            content_type="text/html",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        if name not in ASSETS:
            raise web.HTTPNotFound(text=f"no console asset {name!r}\n")
        return web.Response(
            body=self._assets[name],
            content_type=ASSETS[name],
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    # --- live -------------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        unit = request.query.get("unit", "")
        _editable, _mode, user = self.access(request)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        client = Client(unit)
        self.hub.attach(client)
        try:
            await response.write(self.hub.snapshot(unit, self.token(user)).encode())
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        message = await client.queue.get()
                except TimeoutError:
                    message = ": keepalive\n\n"
                if message is None:
                    break
                await response.write(message.encode())
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
                new = await self.context.poller.write_settings(name, [change])
            except WriteError as error:
                status = 400 if error.reason == "invalid" else 502
                raise EditRefused(status, what, f"not written: {error}") from None
        except EditRefused as refused:
            return web.json_response(
                {"ok": False, "field": refused.field, "message": str(refused)},
                status=refused.status,
            )
        log.info("console edit by %s: unit %s, %s: %r -> %r", user, name, what, before, after)
        state = self.context.store.get(name)
        assert state is not None
        return web.json_response(
            {
                "ok": True,
                "message": f"{name}: {what} is now {after!r}",
                "row": view.row_cells(state, new).as_json(),
                "detail": view.detail_cells(
                    state, new, view.trips(self.context.forecast, new)
                ).as_json(),
            }
        )

    async def job(self, request: web.Request) -> web.Response:
        """Start or stop a job (the jobs pane), under the same checks as an edit."""
        try:
            user, body = await self._checked_body(request)
            try:
                message = await jobs.apply(self.context.history, body, user)
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


def check_name(name: str, what: str) -> str:
    """A name the unit can store: printable, at most 16 bytes of UTF-8."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise EditRefused(400, "name", f"{what}: control characters are not allowed")
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
    return value


def _channel(body: dict[str, Any], reading: Reading) -> ChannelReading:
    number = body.get("channel")
    channels = {c.number: c for c in reading.channels}
    if not isinstance(number, int) or number not in channels:
        raise EditRefused(400, "channel", f"channel: {number!r} is not a channel (1..12)")
    return channels[number]


def parse_edit(body: dict[str, Any], reading: Reading) -> tuple[Settings, str, str, str]:
    """(the change, what it changes, before, after) from an edit request.

    :raises EditRefused: naming the field and what to do.
    """
    kind = body.get("field")
    if kind == "unit_name":
        name = check_name(_text(body, "value").strip(), "unit name")
        return UnitSettings(name), "unit name", reading.stored_name, name
    if kind == "channel_name":
        channel = _channel(body, reading)
        name = check_name(_text(body, "value").strip(), f"channel {channel.number} name")
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


def add_routes(routes: Routes, context: ExposerContext) -> None:
    console = Console(context)
    routes.state(CONSOLE_KEY, console)
    routes.add_get("/", console.index, title="Fleet console",
                   description="every unit live, as on the unit's own web page")  # fmt: skip
    routes.add_get("/console/events", console.events)  # before the assets' pattern
    routes.add_get("/console/{asset}", console.asset)
    routes.add_post("/console/units/{name}/settings", console.edit)
    routes.add_post("/console/jobs", console.job)
    routes.on_shutdown(console.hub.close)
