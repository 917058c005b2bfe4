"""What an exposer plugin provides: a config section and a server fed from the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .plugins import Plugins
    from .poller import Poller
    from .store import Store


@dataclass(frozen=True)
class ExposerContext:
    """What a running exposer may use: the store to serve from, the poller for
    on-demand reads and write-through, and the plugins."""

    store: Store
    poller: Poller
    plugins: Plugins


class RunningExposer(Protocol):
    """A started exposer."""

    @property
    def endpoints(self) -> list[str]:
        """Where users reach it, e.g. ``["http://127.0.0.1:10120/metrics"]``."""

    async def stop(self) -> None:
        """Stop serving; release ports."""


class Exposer(Protocol):
    """Serves the store's readings to some platform (Prometheus, SNMP, ...).

    :attr section: the top-level config key holding its settings (``web``, ``snmp``).
    """

    section: str

    def parse_config(self, data: Mapping[str, Any], where: str) -> object | None:
        """Validate the section (``{}`` when absent) and return settings, or ``None``
        when the exposer is disabled. Raise :class:`c12exporter.config.ConfigError`
        naming ``where`` and the key."""

    async def start(self, settings: Any, context: ExposerContext) -> RunningExposer:
        """Start serving with the settings :meth:`parse_config` returned."""
