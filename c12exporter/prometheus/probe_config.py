"""The ``probe:`` section of the config file, which this plugin owns: the addresses
``/probe`` may read besides the configured units (default: none).

Example::

    probe:
      allow: [{network: 10.1.0.0/16, ports: [502]}]
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path

from ..settings import ConfigError, ProbeConfig, ProbeRule, only_keys, parse_whole

SECTION = "probe"


def parse_probe(data: object, where: str, base: Path) -> ProbeConfig:
    """The section as a value (``None``, absent, admits nothing). ``base`` is unused: the
    section names no file."""
    data = data or {}
    only_keys(data, {"allow"}, where)
    assert isinstance(data, Mapping)
    rules = data.get("allow") or []
    if not isinstance(rules, list):
        raise ConfigError(f"{where}.allow: must be a list of {{network: CIDR, ports: [502]}}")
    allow = []
    for i, rule in enumerate(rules):
        here = f"{where}.allow[{i}]"
        only_keys(rule, {"network", "ports"}, here)
        assert isinstance(rule, Mapping)
        try:
            network = ipaddress.ip_network(str(rule.get("network", "")), strict=True)
        except ValueError as error:
            raise ConfigError(
                f"{here}.network: {error}; give a network like 10.1.0.0/16 or 2001:db8::/64"
            ) from None
        ports = rule.get("ports")
        if not isinstance(ports, list) or not ports:
            raise ConfigError(f"{here}.ports: list the ports /probe may read there, e.g. [502]")
        allow.append(
            ProbeRule(
                network, frozenset(parse_whole(p, f"{here}.ports[{j}]", 1, 65535)
                                   for j, p in enumerate(ports))
            )
        )  # fmt: skip
    return ProbeConfig(tuple(allow))
