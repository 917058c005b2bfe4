"""Which targets ``/probe`` reads: configured units, and only the addresses the config's
``probe.allow`` admits (names resolved, every address checked); the config section's
errors name file and key."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from c12exporter.config import load_config
from c12exporter.plugins import load_plugins
from c12exporter.prometheus.probe_targets import admitted_address, find_unit
from c12exporter.resolve import Resolver
from c12exporter.settings import ConfigError, ProbeConfig
from c12exporter.store import Store

PLUGINS = load_plugins(entry_points=False)
UNITS = "units:\n  - {name: stage-left, address: 10.0.0.21}\n"


def probe_config(tmp_path: Path, section: str) -> ProbeConfig:
    path = tmp_path / "c12.yml"
    path.write_text(UNITS + section, encoding="utf-8")
    return load_config(path, PLUGINS).probe


class Names:
    """A resolver over a fixed table (no lookup leaves the test); records lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.asked: list[str] = []
        self.table = table
        self.resolver = Resolver(self.lookup)

    def lookup(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(-2, "Name or service not known")
        return self.table[host]


NAMES = {
    "pdu-7.lab": ["10.1.2.7"],
    "split.lab": ["10.1.2.8", "192.168.1.8"],
    "v6.lab": ["2001:db8::7"],
}


def admitted(target: str, config: ProbeConfig, names: Names | None = None) -> str | None:
    names = names or Names(NAMES)
    return asyncio.run(admitted_address(target, config, names.resolver, 1.0))


def test_nothing_is_admitted_by_default_and_nothing_is_resolved(tmp_path: Path) -> None:
    config = probe_config(tmp_path, "")
    names = Names(NAMES)
    for target in ("10.1.2.7:502", "pdu-7.lab:502", "127.0.0.1:10120", "[::1]:502"):
        assert admitted(target, config, names) is None
    assert names.asked == []


def test_allowed_networks_and_ports(tmp_path: Path) -> None:
    config = probe_config(tmp_path, (
        "probe:\n  allow:\n"
        "    - {network: 10.1.0.0/16, ports: [502, 1502]}\n"
        "    - {network: '2001:db8::/64', ports: [502]}\n"
    ))  # fmt: skip
    assert admitted("10.1.2.7:502", config) == "10.1.2.7:502"
    assert admitted("10.1.2.7", config) == "10.1.2.7:502"  # Modbus' port if none
    assert admitted("10.1.2.7:1502", config) == "10.1.2.7:1502"
    assert admitted("pdu-7.lab:502", config) == "10.1.2.7:502"  # read where it was checked
    assert admitted("v6.lab:502", config) == "[2001:db8::7]:502"
    assert admitted("[2001:db8::9]:502", config) == "[2001:db8::9]:502"
    refused = ["10.1.2.7:22", "10.2.0.1:502", "127.0.0.1:502", "[::1]:502",
               "split.lab:502",  # one of its addresses is outside
               "unknown.lab:502", f"{'a' * 64}.lab:502", "10.1.2.7:502\nFORGED"]  # fmt: skip
    for target in refused:
        assert admitted(target, config) is None, target


def test_configured_units_are_found_by_name_or_address() -> None:
    from c12exporter.settings import UnitConfig

    store = Store((UnitConfig("stage-left", "10.0.0.21"), UnitConfig("dimmers", "PDU-9.lab:1502")),
                  15.0)  # fmt: skip
    for target, name in [("stage-left", "stage-left"), ("10.0.0.21", "stage-left"),
                         ("10.0.0.21:502", "stage-left"), ("pdu-9.lab:1502", "dimmers"),
                         ("10.0.0.21:503", None), ("pdu-9.lab", None)]:  # fmt: skip
        unit = find_unit(store, target)
        assert (unit.config.name if unit else None) == name, target


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("probe: {allow: 10.0.0.0/8}", "c12.yml: probe.allow: must be a list"),
        ("probe: {allow: [{network: 10.0.0.0/8}]}", "c12.yml: probe.allow[0].ports: list the"),
        ("probe: {allow: [{network: 10.0.0.1/8, ports: [502]}]}",
         "c12.yml: probe.allow[0].network: 10.0.0.1/8 has host bits set"),
        ("probe: {allow: [{network: nowhere, ports: [502]}]}",
         "c12.yml: probe.allow[0].network: 'nowhere' does not appear to be an IPv4 or IPv6"),
        ("probe: {allow: [{network: 10.0.0.0/8, ports: [0]}]}",
         "c12.yml: probe.allow[0].ports[0]: 0 must be a whole number 1..65535"),
        ("probe: {allow: [{network: 10.0.0.0/8, ports: [502], hosts: 3}]}",
         "c12.yml: probe.allow[0]: unknown key 'hosts'"),
        ("probe: {deny: []}", "c12.yml: probe: unknown key 'deny'"),
    ],
)  # fmt: skip
def test_config_errors_name_file_and_key(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        probe_config(tmp_path, section + "\n")
    assert message in str(error.value)
