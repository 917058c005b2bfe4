"""``--web.config.file``: TLS and basic auth for the HTTP side, in the Prometheus
exporter-toolkit format, so one file serves node_exporter and c12exporter alike::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt hash, e.g. from `htpasswd -nBC 10 "" | tr -d ':\\n'`

Paths are relative to the web config file.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import hashlib
import os
import re
import ssl
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import yaml
from aiohttp import web

from ..settings import ConfigError, yaml_problem

REALM = "c12exporter"
AUTH_WORKERS = 1
"""Threads checking passwords (bcrypt), apart from the default pool: one, so a flood of
wrong passwords never takes more than one core (see docs/performance.md)."""
AUTH_QUEUE = 8
"""Password checks running or waiting at most; more are refused with 429 at once."""
AUTH_NICE = 10
"""Nice value of the password-checking threads (the process runs at 0)."""
DEFAULT_COST = 10
TOP_KEYS = {"tls_server_config", "basic_auth_users", "http_server_config"}
TLS_KEYS = {"cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version"}
TLS_TOOLKIT_ONLY = {
    "cert": "give the certificate as cert_file",
    "key": "give the key as key_file",
    "max_version": "the highest version OpenSSL offers is used",
    "cipher_suites": "OpenSSL's default suites are used",
    "curve_preferences": "OpenSSL's default curves are used",
    "prefer_server_cipher_suites": "OpenSSL's default applies",
    "client_allowed_sans": "any client certificate signed by client_ca_file is accepted",
}
RESPONSE_HEADERS = (
    "Content-Security-Policy",
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
)
"""The headers ``http_server_config.headers`` may set, as in exporter-toolkit."""
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
}


@dataclass(frozen=True)
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)  # added to every response


def load_web_config(path: str | Path) -> WebConfig:
    """Read and check a web config file; errors name the file and key, never a secret."""
    path = Path(path)
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"{where}: cannot read the web config: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{where}: not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping ({', '.join(sorted(TOP_KEYS))})")
    _known_keys(data, TOP_KEYS, {}, where)
    tls = data.get("tls_server_config")
    context = _ssl_context(tls, path.parent, f"{where}: tls_server_config") if tls else None
    users = _users(data.get("basic_auth_users") or {}, f"{where}: basic_auth_users")
    headers = _http_server_config(data.get("http_server_config") or {}, where)
    return WebConfig(context, users, headers)


def _known_keys(
    data: Mapping[Any, Any], allowed: set[str], toolkit_only: Mapping[str, str], where: str
) -> None:
    """Refuse a key we do not read: a typo, or an exporter-toolkit key c12exporter does
    not implement (silently ignoring it would weaken what the file asks for)."""
    for key in sorted(map(str, data)):
        if key in allowed:
            continue
        if key in toolkit_only:
            raise ConfigError(
                f"{where}: {key!r} is not supported by c12exporter ({toolkit_only[key]}); remove it"
            )
        raise ConfigError(
            f"{where}: unknown key {key!r}; allowed: {', '.join(sorted(allowed))}; "
            "fix its spelling or remove it"
        )


def _http_server_config(data: Any, where: str) -> dict[str, str]:
    here = f"{where}: http_server_config"
    if not isinstance(data, dict):
        raise ConfigError(f"{here}: must be a mapping with http2 or headers")
    _known_keys(data, {"http2", "headers"}, {}, here)
    if not isinstance(data.get("http2", False), bool):
        raise ConfigError(f"{here}.http2: must be true or false")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(f"{here}.headers: must map header names to values")
    known = {name.lower(): name for name in RESPONSE_HEADERS}
    result = {}
    for name, value in headers.items():
        if str(name).lower() not in known:
            raise ConfigError(
                f"{here}.headers: {str(name)!r} cannot be set; allowed: "
                f"{', '.join(RESPONSE_HEADERS)}"
            )
        if not isinstance(value, str) or "\n" in value or "\r" in value:
            raise ConfigError(f"{here}.headers.{name}: must be one line of text")
        result[known[str(name).lower()]] = value
    return result


def _ssl_context(data: Any, base: Path, where: str) -> ssl.SSLContext:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping with cert_file and key_file")
    _known_keys(data, TLS_KEYS, TLS_TOOLKIT_ONLY, where)
    for key in ("cert_file", "key_file"):
        if not data.get(key):
            raise ConfigError(f"{where}.{key}: missing; TLS needs a certificate and its key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    version = str(data.get("min_version", "TLS12"))
    if version not in TLS_VERSIONS:
        raise ConfigError(f"{where}.min_version: {version!r} must be one of {sorted(TLS_VERSIONS)}")
    context.minimum_version = TLS_VERSIONS[version]
    cert_path = base / str(data["cert_file"])
    key_path = base / str(data["key_file"])
    try:
        context.load_cert_chain(cert_path, key_path)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"{where}: cannot load cert_file {cert_path} with key_file {key_path}: {error}"
        ) from None
    auth = str(data.get("client_auth_type", "NoClientCert"))
    if auth not in CLIENT_AUTH:
        raise ConfigError(
            f"{where}.client_auth_type: {auth!r} must be one of {sorted(CLIENT_AUTH)}"
        )
    context.verify_mode = CLIENT_AUTH[auth]
    if auth != "NoClientCert":
        ca = data.get("client_ca_file")
        if not ca:
            raise ConfigError(f"{where}.client_ca_file: needed with client_auth_type {auth}")
        try:
            context.load_verify_locations(base / str(ca))
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"{where}.client_ca_file: cannot load {ca}: {error}") from None
    return context


def _users(data: Any, where: str) -> dict[str, bytes]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must map user names to bcrypt hashes")
    users = {}
    for user, hashed in data.items():
        # Never the value in a message: it is a hash, or a password put there by mistake.
        if not isinstance(hashed, str) or not BCRYPT_HASH.match(hashed):
            raise ConfigError(
                f"{where}.{user}: not a bcrypt hash; store hashes, never passwords "
                "(e.g. htpasswd -nBC 10 \"\" | tr -d ':\\n')"
            )
        users[str(user)] = hashed.encode()
    return users


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PublicTest = Callable[[web.Request], bool]
PUBLIC_KEY: web.AppKey[PublicTest] = web.AppKey("public_request")
"""A route plugin's test for requests anyone may make without basic auth (the console's
``anonymous_view``); a request with credentials is always checked."""


def basic_auth_middleware(users: Mapping[str, bytes]) -> Any:
    """Require one of ``users`` on every request. bcrypt is slow by design, so a
    credential that checked out once is remembered (by its SHA-256, never in clear):
    a known client never waits for bcrypt again.

    An unknown user is checked against a dummy hash of the same cost, so the answer takes
    as long as for a known user with a wrong password (as exporter-toolkit does). Checks
    run on a small pool of their own, and at most :data:`AUTH_QUEUE` wait for it: beyond
    that a request with credentials not seen before is answered ``429`` at once, so a
    flood of wrong passwords costs neither queueing time nor memory."""
    verified: set[bytes] = set()
    dummy = _dummy_hash(users)
    pool = concurrent.futures.ThreadPoolExecutor(
        AUTH_WORKERS, thread_name_prefix="basic-auth", initializer=_yield_cpu
    )
    pending = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal pending
        header = request.headers.get("Authorization", "")
        digest = hashlib.sha256(header.encode()).digest()
        if digest not in verified:
            if not header:
                public = request.app.get(PUBLIC_KEY)
                if public is not None and public(request):
                    return await handler(request)
                raise _unauthorized()
            if pending >= AUTH_QUEUE:
                raise web.HTTPTooManyRequests(
                    headers={"Retry-After": "1"}, text="429 too many password checks\n"
                )
            pending += 1
            try:
                loop = asyncio.get_running_loop()
                ok = await loop.run_in_executor(pool, _check, header, users, dummy)
            finally:
                pending -= 1
            if not ok:
                raise _unauthorized()
            verified.add(digest)
        return await handler(request)

    return middleware


def _yield_cpu() -> None:
    """Run this password-checking thread at a lower priority than the event loop (Linux
    schedules threads by their own nice value), so bcrypt takes only the CPU the
    serving and polling leave."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), AUTH_NICE)


def _unauthorized() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        headers={"WWW-Authenticate": f'Basic realm="{REALM}"'}, text="401 Unauthorized\n"
    )


def _dummy_hash(users: Mapping[str, bytes]) -> bytes:
    """A hash nobody's password matches, at the cost of the configured ones."""
    costs = [int(h.split(b"$")[2]) for h in users.values() if h.count(b"$") >= 3]
    salt = bcrypt.gensalt(rounds=max(costs, default=DEFAULT_COST))
    return bcrypt.hashpw(os.urandom(16).hex().encode(), salt)


def _check(header: str, users: Mapping[str, bytes], dummy: bytes = b"") -> bool:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    hashed = users.get(user)
    matches = bcrypt.checkpw(password.encode(), hashed or dummy) if (hashed or dummy) else False
    return hashed is not None and matches
