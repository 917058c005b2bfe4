"""Built-in exposer ``snmp``: the SNMP agent serving C12-PDU-MIB from the store.

Config section ``snmp:`` (see :mod:`c12exporter.snmp.config` and ``docs/snmp.md``);
absent or ``enabled: false`` means no agent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..exposer import Exposer, ExposerContext
from ..plugins import hookimpl
from ..registry import Registry
from .config import SnmpSettings, parse_snmp_config


class SnmpExposer:
    section = "snmp"
    shares_listeners = True
    """A reload on the same address hands the bound UDP socket over (see :mod:`.agent`)."""

    def parse_config(self, data: Mapping[str, Any], where: str) -> SnmpSettings | None:
        return parse_snmp_config(data, where)

    async def start(self, settings: SnmpSettings, context: ExposerContext) -> Any:
        from .agent import start_agent  # pysnmp loads only when the agent runs

        return await start_agent(settings, context)


@hookimpl
def c12_add_exposers(exposers: Registry[Exposer]) -> None:
    exposers.add(SnmpExposer.section, SnmpExposer())
