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
    """

    writes_enabled: bool = False
    editors: tuple[str, ...] | None = None
    title: str = DEFAULT_TITLE
