"""The ``snmp:`` config section: validated settings, errors that name the key.

Example::

    snmp:
      listen_address: "127.0.0.1:1161"   # UDP; host:port or [v6]:port
      community: public                  # SNMPv2c, read-only; none = no SNMPv2c at all
      users:                             # SNMPv3 USM users, always authPriv
        - name: monitor
          auth_protocol: SHA-256         # SHA-224, SHA-256, SHA-384, SHA-512 (SHA-1: warning)
          auth_key: "correct horse"      # pass phrase, >= 8 characters
          priv_protocol: AES-128         # AES-128, AES-192, AES-256
          priv_key: "battery staple"     # pass phrase, >= 8 characters
          access: read-only              # or read-write
      writes_enabled: false              # Set of channel name and supervision limits
      engine_id: "0x80001f8805c0ffee01"  # optional; default derived from host and address
      notifications:
        temperature_limit_c: 45
        receivers:
          - {address: "127.0.0.1:162", version: v2c, community: traps, type: trap}
          - {address: "127.0.0.1:10162", version: v3, user: monitor, type: inform}

The section is disabled when absent or with ``enabled: false``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..addresses import split_host_port
from ..limits import TEMPERATURE_LIMIT
from ..settings import ConfigError, only_keys

log = logging.getLogger(__name__)

DEFAULT_LISTEN_ADDRESS = "127.0.0.1:1161"
"""UDP 1161: the customary unprivileged SNMP port (161 needs root). Loopback by default:
SNMPv2c sends its community in clear text, so opening the agent to a network is a choice."""
DEFAULT_TRAP_PORT = 162
DEFAULT_TEMPERATURE_LIMIT_C = TEMPERATURE_LIMIT.value
"""The manual's maximum ambient temperature for the unit (``c12exporter.limits``)."""
TEMPERATURE_RANGE_C = (-40.0, 125.0)
"""What the unit's temperature register can report."""
MIN_KEY_LENGTH = 8
"""RFC 3414 section 11.2: pass phrases shorter than 8 characters are refused."""
MAX_USER_NAME_LENGTH = 32
"""usmUserName is SnmpAdminString (SIZE(1..32))."""
ENGINE_ID_OCTETS = (5, 32)
"""SnmpEngineID (SIZE(5..32)), RFC 3411."""

AUTH_PROTOCOLS = ("SHA-224", "SHA-256", "SHA-384", "SHA-512")
WEAK_AUTH_PROTOCOLS = ("SHA-1",)
"""Accepted with a warning: HMAC-96-SHA is all that some older managers speak."""
_AUTH_ALIASES = {"SHA": "SHA-1"}
REFUSED_AUTH_PROTOCOLS = ("MD5",)
PRIV_PROTOCOLS = ("AES-128", "AES-192", "AES-256")
_PRIV_ALIASES = {"AES": "AES-128"}
REFUSED_PRIV_PROTOCOLS = ("DES", "3DES")
ACCESS_LEVELS = ("read-only", "read-write")
RECEIVER_VERSIONS = ("v2c", "v3")
NOTIFY_TYPES = ("trap", "inform")

_TOP_KEYS = {
    "enabled",
    "listen_address",
    "community",
    "users",
    "writes_enabled",
    "engine_id",
    "notifications",
}
_USER_KEYS = {"name", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "access"}
_RECEIVER_KEYS = {"address", "version", "community", "user", "type"}
_NOTIFICATION_KEYS = {"receivers", "temperature_limit_c"}
_HEX = re.compile(r"^(0x)?(?P<hex>[0-9a-fA-F]+)$")


@dataclass(frozen=True)
class UserSettings:
    """One SNMPv3 USM user (always authPriv)."""

    name: str
    auth_protocol: str
    auth_key: str = field(repr=False)
    priv_protocol: str
    priv_key: str = field(repr=False)
    access: str = "read-only"

    @property
    def read_write(self) -> bool:
        return self.access == "read-write"


@dataclass(frozen=True)
class ReceiverSettings:
    """Where notifications go and how."""

    host: str
    port: int
    version: str
    notify_type: str
    community: str | None = field(default=None, repr=False)
    user: str | None = None

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class NotificationSettings:
    receivers: tuple[ReceiverSettings, ...] = ()
    temperature_limit_c: float = DEFAULT_TEMPERATURE_LIMIT_C


@dataclass(frozen=True)
class SnmpSettings:
    """Everything the agent needs from the config file."""

    host: str
    port: int
    community: str | None = field(default=None, repr=False)
    users: tuple[UserSettings, ...] = ()
    writes_enabled: bool = False
    engine_id: bytes | None = None
    notifications: NotificationSettings = NotificationSettings()

    @property
    def listen_address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def user(self, name: str) -> UserSettings:
        for user in self.users:
            if user.name == name:
                return user
        raise KeyError(name)


def parse_snmp_config(data: Mapping[str, Any], where: str) -> SnmpSettings | None:
    """Validate the ``snmp:`` section (``{}`` when absent); ``None`` = disabled.

    :raises ConfigError: naming ``where``, the key and what to do.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a mapping of settings (listen_address, users, ...)")
    only_keys(data, _TOP_KEYS, where)
    if not data:
        return None
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled: {enabled!r} must be true or false")
    if not enabled:
        return None
    address = str(data.get("listen_address", DEFAULT_LISTEN_ADDRESS))
    try:
        host, port = split_host_port(address)
    except ValueError as error:
        raise ConfigError(f"{where}.listen_address: {error}") from None
    community = _community(data.get("community"), f"{where}.community")
    users = _users(data.get("users"), f"{where}.users")
    if community is None and not users:
        raise ConfigError(
            f"{where}: neither community nor users is set, so no manager could query the "
            "agent; add users (SNMPv3) or a community (SNMPv2c), or set enabled: false"
        )
    writes_enabled = data.get("writes_enabled", False)
    if not isinstance(writes_enabled, bool):
        raise ConfigError(f"{where}.writes_enabled: {writes_enabled!r} must be true or false")
    if writes_enabled and not any(u.read_write for u in users):
        raise ConfigError(
            f"{where}.writes_enabled: true, but no user has access: read-write; writes are "
            "only accepted from SNMPv3 users with access: read-write"
        )
    return SnmpSettings(
        host=host,
        port=port,
        community=community,
        users=users,
        writes_enabled=writes_enabled,
        engine_id=_engine_id(data.get("engine_id"), f"{where}.engine_id"),
        notifications=_notifications(
            data.get("notifications") or {}, f"{where}.notifications", community, users
        ),
    )


def _text(value: object, where: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: missing or not a string; give {what}")
    return value


def _community(value: object, where: str) -> str | None:
    if value is None:
        return None
    text = _text(value, where, "the SNMPv2c community string")
    if len(text.encode("utf-8")) > 255:
        raise ConfigError(f"{where}: longer than 255 bytes")
    return text


def _users(value: object, where: str) -> tuple[UserSettings, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}: must be a list of users (name, auth_key, priv_key)")
    users = tuple(_user(item, f"{where}[{i}]") for i, item in enumerate(value))
    seen: set[str] = set()
    for i, user in enumerate(users):
        if user.name in seen:
            raise ConfigError(f"{where}[{i}].name: {user.name!r} is used twice; names are unique")
        seen.add(user.name)
    return users


def _user(data: object, where: str) -> UserSettings:
    only_keys(data, _USER_KEYS, where)
    assert isinstance(data, Mapping)
    name = _text(data.get("name"), f"{where}.name", "the SNMPv3 user name")
    if len(name.encode("utf-8")) > MAX_USER_NAME_LENGTH:
        raise ConfigError(f"{where}.name: {name!r} is longer than {MAX_USER_NAME_LENGTH} bytes")
    where = f"{where} ({name})"
    auth = _protocol(
        data.get("auth_protocol", "SHA-256"),
        f"{where}.auth_protocol",
        AUTH_PROTOCOLS + WEAK_AUTH_PROTOCOLS,
        _AUTH_ALIASES,
        REFUSED_AUTH_PROTOCOLS,
        AUTH_PROTOCOLS,
    )
    if auth in WEAK_AUTH_PROTOCOLS:
        log.warning(
            "%s.auth_protocol: %s is weak; use SHA-256 or stronger where the manager can",
            where,
            auth,
        )
    priv = _protocol(
        data.get("priv_protocol", "AES-128"),
        f"{where}.priv_protocol",
        PRIV_PROTOCOLS,
        _PRIV_ALIASES,
        REFUSED_PRIV_PROTOCOLS,
        PRIV_PROTOCOLS,
    )
    access = data.get("access", "read-only")
    if access not in ACCESS_LEVELS:
        raise ConfigError(f"{where}.access: {access!r} is not one of {', '.join(ACCESS_LEVELS)}")
    return UserSettings(
        name=name,
        auth_protocol=auth,
        auth_key=_key(data.get("auth_key"), f"{where}.auth_key"),
        priv_protocol=priv,
        priv_key=_key(data.get("priv_key"), f"{where}.priv_key"),
        access=str(access),
    )


def _protocol(
    value: object,
    where: str,
    accepted: tuple[str, ...],
    aliases: Mapping[str, str],
    refused: tuple[str, ...],
    advised: tuple[str, ...],
) -> str:
    name = str(value).strip().upper()
    name = aliases.get(name, name)
    if name in refused:
        raise ConfigError(
            f"{where}: {value!r} is not supported because it is broken; "
            f"use one of {', '.join(advised)}"
        )
    if name not in accepted:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(advised)}")
    return name


def _key(value: object, where: str) -> str:
    if value is None:
        raise ConfigError(
            f"{where}: missing; every user needs an auth_key and a priv_key "
            f"(pass phrases of at least {MIN_KEY_LENGTH} characters): the agent only "
            "speaks authPriv"
        )
    key = _text(value, where, "a pass phrase")
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{where}: too short ({len(key)} characters); pass phrases need at least "
            f"{MIN_KEY_LENGTH} (RFC 3414)"
        )
    return key


def _engine_id(value: object, where: str) -> bytes | None:
    if value is None:
        return None
    match = _HEX.match(str(value).strip())
    if not match or len(match.group("hex")) % 2:
        raise ConfigError(
            f"{where}: {value!r} is not a hex string of whole octets, e.g. 0x80001f8805c0ffee01"
        )
    octets = bytes.fromhex(match.group("hex"))
    low, high = ENGINE_ID_OCTETS
    if not low <= len(octets) <= high:
        raise ConfigError(f"{where}: {len(octets)} octets; an engine ID has {low} to {high}")
    if octets in (b"\x00" * len(octets), b"\xff" * len(octets)):
        raise ConfigError(f"{where}: all zeros or all ones is not a valid engine ID (RFC 3411)")
    return octets


def _notifications(
    data: object, where: str, community: str | None, users: tuple[UserSettings, ...]
) -> NotificationSettings:
    only_keys(data, _NOTIFICATION_KEYS, where)
    assert isinstance(data, Mapping)
    limit = data.get("temperature_limit_c", DEFAULT_TEMPERATURE_LIMIT_C)
    low, high = TEMPERATURE_RANGE_C
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not low <= limit <= high:
        raise ConfigError(
            f"{where}.temperature_limit_c: {limit!r} must be a temperature in degrees Celsius "
            f"between {low:g} and {high:g}"
        )
    receivers = data.get("receivers") or []
    if not isinstance(receivers, list):
        raise ConfigError(f"{where}.receivers: must be a list of receivers (address, version)")
    user_names = {u.name for u in users}
    return NotificationSettings(
        receivers=tuple(
            _receiver(item, f"{where}.receivers[{i}]", user_names)
            for i, item in enumerate(receivers)
        ),
        temperature_limit_c=float(limit),
    )


def _receiver(data: object, where: str, user_names: set[str]) -> ReceiverSettings:
    only_keys(data, _RECEIVER_KEYS, where)
    assert isinstance(data, Mapping)
    address = _text(data.get("address"), f"{where}.address", "host:port, e.g. 127.0.0.1:162")
    try:
        host, port = split_host_port(address, DEFAULT_TRAP_PORT)
    except ValueError as error:
        raise ConfigError(f"{where}.address: {error}") from None
    if not host or port == 0:
        raise ConfigError(f"{where}.address: {address!r} needs a host and a port, e.g. host:162")
    version = data.get("version", "v2c")
    if version not in RECEIVER_VERSIONS:
        raise ConfigError(f"{where}.version: {version!r} is not one of v2c, v3")
    notify_type = data.get("type", "trap")
    if notify_type not in NOTIFY_TYPES:
        raise ConfigError(f"{where}.type: {notify_type!r} is not one of trap, inform")
    community = data.get("community")
    user = data.get("user")
    if version == "v2c":
        if user is not None:
            raise ConfigError(f"{where}.user: only for version: v3; v2c uses a community")
        community = _community(community, f"{where}.community")
        if community is None:
            raise ConfigError(f"{where}.community: missing; SNMPv2c notifications need one")
    else:
        if community is not None:
            raise ConfigError(f"{where}.community: only for version: v2c; v3 uses a user")
        if user not in user_names:
            known = ", ".join(sorted(user_names)) or "none configured"
            raise ConfigError(
                f"{where}.user: {user!r} is not one of the users under snmp.users ({known}); "
                "SNMPv3 notifications are sent as one of them"
            )
    return ReceiverSettings(
        host=host,
        port=port,
        version=str(version),
        notify_type=str(notify_type),
        community=community,
        user=None if user is None else str(user),
    )
