"""The ``console:`` section of the config file, as a value."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TITLE = "C12 fleet console"


@dataclass(frozen=True)
class ConsoleSettings:
    """The ``console:`` section.

    :param writes_enabled: renaming and supervision edits are accepted (default no).
    :param editors: the basic-auth users who may edit; ``None`` = every user of the web
        config. Edits always need basic auth (``--web.config.file``).
    :param title: the page's title.
    :param anonymous_view: with basic auth on, anyone on the network may look at the
        console (its page, assets, live stream, problems and events) without signing
        in; changes and acknowledgements still need a signed-in editor (default no).
    """

    writes_enabled: bool = False
    editors: tuple[str, ...] | None = None
    title: str = DEFAULT_TITLE
    anonymous_view: bool = False


SIGN_IN_PATH = "/console/signin"
"""Asks the browser for basic auth (a 401 when it sends none), then back to the page."""


def viewable_without_sign_in(settings: object, method: str, path: str) -> bool:
    """A request anyone may make under :attr:`ConsoleSettings.anonymous_view`: reading the
    console (``/`` and ``/console/...``), never a change, never the sign-in."""
    return (
        isinstance(settings, ConsoleSettings)
        and settings.anonymous_view
        and method in ("GET", "HEAD")
        and (path == "/" or path.startswith("/console/"))
        and path != SIGN_IN_PATH
    )
