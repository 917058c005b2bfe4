"""The simulator's control interface: HTTP + JSON on loopback, and a small client for it.

Endpoints (reference with curl examples in ``docs/simulator.md``):

* ``GET /`` - the endpoints and every action with its parameters.
* ``GET /units`` - every unit: address, model, identity, network mode and true state
  (``?state=false`` leaves the state out).
* ``GET /units/{name}`` - one unit, with its true state and its registers as decoded.
* ``POST /units/{name}/faults`` - carry out one action, e.g. ``{"action": "estop"}``;
  answers with the unit after the action. 400 = bad request (unknown action, channel,
  phase...), 404 = no such unit, 409 = the unit's state refuses it.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from .actions import ACTIONS, ActionError, apply_action
from .server import (
    DEFAULT_HOST,
    Fleet,
    SimulatedUnit,
    UnknownUnitError,
    check_loopback,
    format_address,
)

DEFAULT_CONTROL_PORT = 10121
DEFAULT_CLIENT_TIMEOUT_S = 10.0
_FLEET_KEY = web.AppKey("fleet", Fleet)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _unit_or_404(request: web.Request) -> SimulatedUnit:
    fleet = request.app[_FLEET_KEY]
    name = request.match_info["name"]
    try:
        return fleet.unit(name)
    except UnknownUnitError:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no unit named {name!r}"}), content_type="application/json"
        ) from None


async def _index(request: web.Request) -> web.Response:
    fleet = request.app[_FLEET_KEY]
    return web.json_response(
        {
            "fleet": {
                "units": len(fleet.units),
                "scenario": fleet.scenario.name,
                "seed": fleet.seed,
                "speed": fleet.clock.speed,
                "physics_time_s": fleet.clock.now(),
            },
            "endpoints": [
                "GET /units[?state=false]",
                "GET /units/{name}",
                "POST /units/{name}/faults",
            ],
            "actions": {
                a.name: {"params": a.params, "description": a.description} for a in ACTIONS.values()
            },
        }
    )


async def _units(request: web.Request) -> web.Response:
    fleet = request.app[_FLEET_KEY]
    with_state = request.query.get("state", "true").lower() not in ("0", "false", "no")
    units = [u.snapshot() if with_state else u.info() for u in fleet.units]
    return web.json_response({"units": units})


async def _unit(request: web.Request) -> web.Response:
    return web.json_response(_unit_or_404(request).snapshot())


async def _fault(request: web.Request) -> web.Response:
    unit = _unit_or_404(request)
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, 'the body must be a JSON object, e.g. {"action": "estop"}')
    if not isinstance(payload, dict):
        return _error(400, 'the body must be a JSON object, e.g. {"action": "estop"}')
    try:
        await apply_action(unit, payload)
    except ActionError as error:
        return _error(error.status, str(error))
    return web.json_response(unit.snapshot())


def make_app(fleet: Fleet) -> web.Application:
    """The control interface as an aiohttp application (for embedding or testing)."""
    app = web.Application()
    app[_FLEET_KEY] = fleet
    app.router.add_get("/", _index)
    app.router.add_get("/units", _units)
    app.router.add_get("/units/{name}", _unit)
    app.router.add_post("/units/{name}/faults", _fault)
    return app


class ControlServer:
    """Serves :func:`make_app` on a loopback address; ``port=0`` picks a free port."""

    def __init__(
        self, fleet: Fleet, host: str = DEFAULT_HOST, port: int = DEFAULT_CONTROL_PORT
    ) -> None:
        check_loopback(host)
        self.fleet = fleet
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{format_address(self.host, self.port)}"

    async def start(self) -> None:
        runner = web.AppRunner(make_app(self.fleet), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise OSError(
                error.errno, f"control interface cannot listen on {self.url}: {error.strerror}"
            ) from None
        self.port = int(runner.addresses[0][1])
        self._runner = runner

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


class ControlError(Exception):
    """The control interface answered with an error.

    :param status: the HTTP status (400, 404, 409).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ControlClient:
    """A client for the control interface; use as ``async with ControlClient(url) as c``."""

    def __init__(self, url: str, timeout_s: float = DEFAULT_CLIENT_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ControlClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._session.request(method, self.url + path, json=body) as response:
            data = await response.json()
            if response.status >= 400:
                raise ControlError(response.status, str(data.get("error", data)))
            return data

    async def index(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", "/")
        return result

    async def units(self, state: bool = True) -> list[dict[str, Any]]:
        result: dict[str, Any] = await self._request(
            "GET", "/units" if state else "/units?state=false"
        )
        units: list[dict[str, Any]] = result["units"]
        return units

    async def unit(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/units/{name}")
        return result

    async def act(self, name: str, action: str, **params: Any) -> dict[str, Any]:
        """Carry out ``action`` on unit ``name``; returns the unit afterwards.

        :raises ControlError: 400 bad request, 404 no such unit, 409 refused by the unit.
        """
        result: dict[str, Any] = await self._request(
            "POST", f"/units/{name}/faults", {"action": action, **params}
        )
        return result
