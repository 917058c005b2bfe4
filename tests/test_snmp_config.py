"""The ``snmp:`` config section: defaults, and errors that name the key and what to do."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from c12exporter.config import ConfigError, load_config
from c12exporter.plugins import load_plugins
from c12exporter.snmp.config import DEFAULT_LISTEN_ADDRESS, SnmpSettings, parse_snmp_config
from c12exporter.snmp.mib import LoadedMib
from c12exporter.snmp.mibcompile import compile_mib, load_mib
from c12exporter.snmp.mibtree import MibTree
from c12exporter.snmp.notifications import Composer
from c12exporter.snmp.unitindex import UnitIndexes
from c12exporter.store import Store
from c12exporter.telemetry import Telemetry

PLUGINS = load_plugins(entry_points=False)
USER = {"name": "monitor", "auth_key": "auth-phrase", "priv_key": "priv-phrase"}


def parse(data: dict[str, Any]) -> SnmpSettings:
    settings = parse_snmp_config(data, "c12.yml: snmp")
    assert settings is not None
    return settings


def test_absent_or_disabled_section_means_no_agent() -> None:
    assert parse_snmp_config({}, "snmp") is None
    assert parse_snmp_config({"enabled": False, "community": "x"}, "snmp") is None


def test_defaults() -> None:
    settings = parse({"users": [USER]})
    assert settings.listen_address == DEFAULT_LISTEN_ADDRESS == "127.0.0.1:1161"
    assert settings.community is None and not settings.writes_enabled
    user = settings.users[0]
    assert (user.auth_protocol, user.priv_protocol, user.access) == (
        "SHA-256",
        "AES-128",
        "read-only",
    )
    assert settings.notifications.temperature_limit_c == 45 and not settings.notifications.receivers
    assert "auth-phrase" not in repr(settings) and "priv-phrase" not in repr(settings)


def test_full_section() -> None:
    settings = parse(
        {
            "listen_address": "[::1]:10161",
            "community": "public",
            "users": [
                USER | {"auth_protocol": "sha-512", "priv_protocol": "AES", "access": "read-write"}
            ],
            "writes_enabled": True,
            "engine_id": "0x80001f8805c0ffee01",
            "notifications": {
                "temperature_limit_c": 40.5,
                "receivers": [
                    {"address": "127.0.0.1", "community": "traps"},
                    {
                        "address": "[::1]:10162",
                        "version": "v3",
                        "user": "monitor",
                        "type": "inform",
                    },
                ],
            },
        }
    )
    assert (settings.host, settings.port, settings.listen_address) == ("::1", 10161, "[::1]:10161")
    assert (
        settings.users[0].auth_protocol == "SHA-512"
        and settings.users[0].priv_protocol == "AES-128"
    )
    assert settings.engine_id == bytes.fromhex("80001f8805c0ffee01")
    first, second = settings.notifications.receivers
    assert (first.port, first.version, first.notify_type) == (162, "v2c", "trap")
    assert (second.address, second.user, second.notify_type) == ("[::1]:10162", "monitor", "inform")


RECEIVER = {"address": "h:162"}
ERRORS: list[tuple[dict[str, Any], str]] = [
    ({"community": "x", "colour": 1}, r"snmp: unknown key 'colour'; allowed keys: .*listen_addr"),
    ({"listen_address": "localhost"}, r"snmp\.listen_address: 'localhost' has no port"),
    ({"enabled": True}, r"snmp: neither community nor users is set"),
    ({"enabled": "yes", "community": "x"}, r"snmp\.enabled: 'yes' must be true or false"),
    ({"community": ""}, r"snmp\.community: missing or not a string"),
    ({"users": {"name": "x"}}, r"snmp\.users: must be a list"),
    (
        {"users": [USER | {"auth_protocol": "MD5"}]},
        r"users\[0\] \(monitor\)\.auth_protocol: 'MD5' is not supported because it is "
        r"broken; use one of SHA-224",
    ),
    (
        {"users": [USER | {"priv_protocol": "DES"}]},
        r"users\[0\] \(monitor\)\.priv_protocol: 'DES' is not supported .* AES-128",
    ),
    (
        {"users": [USER | {"auth_protocol": "SHA-3"}]},
        r"auth_protocol: 'SHA-3' is not one of SHA-224, SHA-256, SHA-384, SHA-512",
    ),
    (
        {"users": [USER | {"auth_key": "short"}]},
        r"users\[0\] \(monitor\)\.auth_key: too short \(5 characters\); .* at least 8",
    ),
    (
        {"users": [{"name": "x", "auth_key": "12345678"}]},
        r"users\[0\] \(x\)\.priv_key: missing; .*only speaks authPriv",
    ),
    ({"users": [USER | {"access": "x"}]}, r"\.access: 'x' is not one of read-only, read-write"),
    ({"users": [USER, USER]}, r"users\[1\]\.name: 'monitor' is used twice"),
    ({"users": [USER | {"name": "x" * 33}]}, r"users\[0\]\.name: .* longer than 32 bytes"),
    (
        {"users": [USER], "writes_enabled": True},
        r"writes_enabled: true, but no user has access: read-write",
    ),
    ({"community": "x", "engine_id": "0x12"}, r"engine_id: 1 octets; an engine ID has 5 to 32"),
    ({"community": "x", "engine_id": "zz"}, r"snmp\.engine_id: 'zz' is not a hex string"),
    (
        {"community": "x", "notifications": {"temperature_limit_c": 200}},
        r"notifications\.temperature_limit_c: 200 must be .* between -40 and 125",
    ),
    (
        {"community": "x", "notifications": {"receivers": [RECEIVER]}},
        r"receivers\[0\]\.community: missing; SNMPv2c notifications need one",
    ),
    (
        {"community": "x", "notifications": {"receivers": [RECEIVER | {"version": "v3"}]}},
        r"receivers\[0\]\.user: None is not one of the users under snmp\.users "
        r"\(none configured\)",
    ),
    (
        {"community": "x", "notifications": {"receivers": [RECEIVER | {"version": "v1"}]}},
        r"receivers\[0\]\.version: 'v1' is not one of v2c, v3",
    ),
    (
        {"community": "x", "notifications": {"receivers": [RECEIVER | {"type": "x"}]}},
        r"receivers\[0\]\.type: 'x' is not one of trap, inform",
    ),
]


@pytest.mark.parametrize(("data", "message"), ERRORS)
def test_errors_name_the_key(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_snmp_config(data, "c12.yml: snmp")


def test_sha1_is_accepted_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = parse({"users": [USER | {"auth_protocol": "SHA"}]})
    assert settings.users[0].auth_protocol == "SHA-1"
    assert "SHA-1 is weak" in caplog.text


def test_section_in_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "c12.yml"
    path.write_text(
        "snmp:\n  listen_address: 127.0.0.1:10161\n  community: public\n"
        "units:\n  - {name: a, address: '127.0.0.1:1502'}\n",
        encoding="utf-8",
    )
    config = load_config(path, PLUGINS)
    assert isinstance(config.exposers["snmp"], SnmpSettings)
    path.write_text("snmp: {listen_address: 127.0.0.1:1}\nunits: [{name: a, address: 'h:1'}]\n")
    with pytest.raises(ConfigError, match=r"c12\.yml: snmp: neither community nor users"):
        load_config(path, PLUGINS)


# --- the compiled MIB against net-snmp's reading of the same text ----------------------------


def test_compiled_names_resolve_to_the_oids_net_snmp_reads(tmp_path: Path) -> None:
    from pysnmp.smi import builder

    mib_builder = builder.MibBuilder()
    compiled = compile_mib(cache=tmp_path)
    load_mib(mib_builder, compiled)
    mib_builder.load_modules("SNMPv2-MIB")
    mib = LoadedMib(mib_builder)
    tree = MibTree(mib, Store((), 10), 45.0, UnitIndexes(None), Telemetry())
    names = [c.name for c in tree.columns if c.object.module == "C12-PDU-MIB"]
    notifications = list(Composer(mib, 45.0, lambda: 0).notifications)
    assert len(notifications) == 16 and len(names) == 1 + 15 + 19 + 10 + 20
    command = ["snmptranslate", "-M", f"+{compiled.source_dir}", "-m", "C12-PDU-MIB", "-On"]
    result = subprocess.run(
        [*command, *(f"C12-PDU-MIB::{n}" for n in names + notifications)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert result.stdout.split() == [
        "." + ".".join(map(str, mib.oid(n))) for n in names + notifications
    ]
