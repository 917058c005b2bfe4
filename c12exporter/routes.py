"""The routes plugins add to the shared web server (hook ``c12_add_routes``), and the
links each route asks for on the server's landing page: the page links only what the
loaded plugins serve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from .registry import Registry

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One HTTP route and the links it asks for on the landing page.

    :param title: text of a link to ``path`` in the page's introduction; ``None``: no link.
    :param description: a few words (HTML) after the link, or alone without one.
    :param unit_title: text of a link in each unit's row of the page, to
        ``path?target=NAME`` (a route that serves one unit by name); ``None``: none.
    """

    method: str
    path: str
    handler: Handler
    title: str | None = None
    description: str = ""
    unit_title: str | None = None


class Routes(Registry[Route]):
    """Routes by ``"METHOD path"``; the plugin that added each is remembered."""

    def __init__(self) -> None:
        super().__init__("HTTP route")
        self.states: dict[web.AppKey[Any], object] = {}
        self.shutdown_callbacks: list[Callable[[web.Application], Awaitable[None]]] = []

    def state(self, key: web.AppKey[T], value: T) -> None:
        """Make ``value`` available to handlers as ``request.app[key]``."""
        self.states[key] = value

    def on_shutdown(self, callback: Callable[[web.Application], Awaitable[None]]) -> None:
        """Call ``callback`` when the server shuts down, before it waits for requests in
        progress (end long-lived responses such as event streams here)."""
        self.shutdown_callbacks.append(callback)

    def add_get(
        self,
        path: str,
        handler: Handler,
        *,
        title: str | None = None,
        description: str = "",
        unit_title: str | None = None,
    ) -> None:
        """Serve ``GET path``; see :class:`Route` for the landing page's links."""
        self.add(f"GET {path}", Route("GET", path, handler, title, description, unit_title))

    def add_post(self, path: str, handler: Handler, *, description: str = "") -> None:
        self.add(f"POST {path}", Route("POST", path, handler, None, description))

    @property
    def links(self) -> list[Route]:
        """Routes linked from the landing page's introduction, in the order added."""
        return [route for route in self.values() if route.title]

    @property
    def unit_links(self) -> list[Route]:
        """Routes linked from each unit's row of the landing page, in the order added."""
        return [route for route in self.values() if route.unit_title]
