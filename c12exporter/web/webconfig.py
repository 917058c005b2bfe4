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
import concurrent.futures
import contextlib
import hashlib
import logging
import os
import re
import ssl
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from ..settings import ConfigError
from ..yamlfile import read_yaml_file
from .listener import RateLimitedWarning

log = logging.getLogger(__name__)

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
BCRYPT_HASH = re.compile(r"^\$2[aby]\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}$")
MIN_COST, MAX_COST = 4, 31
"""The costs bcrypt accepts in a hash (as Go's bcrypt does)."""
MAX_PASSWORD_BYTES = 72
"""bcrypt reads no more of a password. Go's ``bcrypt.CompareHashAndPassword``, which
exporter-toolkit calls, reads the first 72 bytes of a longer one and ignores the rest
(only its ``GenerateFromPassword`` refuses one); Python's bcrypt raises instead, so a
password is cut to these bytes before the check, and both exporters answer alike."""
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
    data = read_yaml_file(path, "the web config") or {}
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
    """The users and their hashes, each one a hash some password can match: anything else
    would fail at every request instead of at load."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must map user names to bcrypt hashes")
    users = {}
    for user, hashed in data.items():
        # Never the value in a message: it is a hash, or a password put there by mistake.
        match = BCRYPT_HASH.match(hashed) if isinstance(hashed, str) else None
        if match is None or not _valid_salt(hashed):
            raise ConfigError(
                f"{where}.{user}: not a bcrypt hash; store hashes, never passwords "
                "(e.g. htpasswd -nBC 10 \"\" | tr -d ':\\n')"
            )
        cost = int(match["cost"])
        if not MIN_COST <= cost <= MAX_COST:
            raise ConfigError(
                f"{where}.{user}: the hash's cost {cost} is outside {MIN_COST}..{MAX_COST}, "
                "so no password can match it; hash the password again (htpasswd -B -C 10)"
            )
        users[str(user)] = hashed.encode()
    return users


def _valid_salt(hashed: str) -> bool:
    """Whether bcrypt reads the salt of ``hashed`` (checked at the lowest cost, so at once)."""
    import bcrypt  # only with basic auth: most exporters never load it

    try:
        bcrypt.hashpw(b"", f"$2b${MIN_COST:02d}${hashed[7:29]}".encode())
    except ValueError:
        return False
    return True


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PublicTest = Callable[[web.Request], bool]
PUBLIC_KEY: web.AppKey[PublicTest] = web.AppKey("public_request")
"""A route plugin's test for requests anyone may make without basic auth (the console's
``anonymous_view``); a request with credentials is always checked."""


def basic_auth_middleware(users: Mapping[str, bytes]) -> Any:
    """Require one of ``users`` on every request. bcrypt is slow by design, so a
    credential that checked out once is remembered (by its SHA-256, never in clear):
    a known client never waits for bcrypt again.

    A refusal takes as long whoever it names (see :func:`_check`). Checks run on a small
    pool of their own, and at most :data:`AUTH_QUEUE` wait for it: beyond that a request
    with credentials not seen before is answered ``429`` at once, so a flood of wrong
    passwords costs neither queueing time nor memory. A header that is not Basic
    credentials (another scheme, bad base64, no ``:``) is refused without bcrypt."""
    verified: set[bytes] = set()
    dummy = _dummy_hash(users)
    top_cost = _cost(dummy)
    pool = concurrent.futures.ThreadPoolExecutor(
        AUTH_WORKERS, thread_name_prefix="basic-auth", initializer=_yield_cpu
    )
    pending = 0
    refused = RateLimitedWarning(log)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal pending
        header = request.headers.get("Authorization", "")
        # aiohttp keeps bytes that are not UTF-8 as surrogates: encode them back as sent
        digest = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        if digest not in verified:
            if not header:
                public = request.app.get(PUBLIC_KEY)
                if public is not None and public(request):
                    return await handler(request)
                raise _unauthorized()
            credentials = _credentials(header)
            if credentials is None:
                refused.warn("basic auth: refused a request from %s: %s", _peer(request),
                             "the Authorization header is not Basic credentials")  # fmt: skip
                raise _unauthorized()
            if pending >= AUTH_QUEUE:
                raise web.HTTPTooManyRequests(
                    headers={"Retry-After": "1"}, text="429 too many password checks\n"
                )
            pending += 1
            try:
                loop = asyncio.get_running_loop()
                ok = await loop.run_in_executor(pool, _check, credentials, users, dummy, top_cost)
            finally:
                pending -= 1
            if not ok:
                refused.warn("basic auth: refused a request from %s: %s", _peer(request),
                             "unknown user or wrong password")  # fmt: skip
                raise _unauthorized()
            verified.add(digest)
        return await handler(request)

    return middleware


def _peer(request: web.Request) -> str:
    return request.remote or "unknown address"


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
    """A hash nobody's password matches, at the highest cost of the configured ones."""
    import bcrypt

    salt = bcrypt.gensalt(rounds=max(map(_cost, users.values()), default=DEFAULT_COST))
    return bcrypt.hashpw(os.urandom(16).hex().encode(), salt)


def _cost(hashed: bytes) -> int:
    return int(hashed.split(b"$")[2])


def _credentials(header: str) -> tuple[str, bytes] | None:
    """User and password of a ``Basic`` header, or None if it is not one. The user is
    compared as text, the password as the bytes the client sent."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    return user.decode("utf-8", "surrogateescape"), password


def _check(
    credentials: tuple[str, bytes], users: Mapping[str, bytes], dummy: bytes, top_cost: int
) -> bool:
    """Whether the password is the user's. A refusal costs a bcrypt at ``top_cost``
    whoever it names: an unknown user is checked against ``dummy``, and a user whose hash
    is cheaper than that checks ``dummy`` too after the wrong password, so a refusal never
    tells which users exist or which have a cheap hash (exporter-toolkit's fixed dummy
    hash of cost 10 hides the first, not the second)."""
    import bcrypt

    user, password = credentials
    password = password[:MAX_PASSWORD_BYTES]
    hashed = users.get(user)
    if hashed is not None and bcrypt.checkpw(password, hashed):
        return True
    if hashed is None or _cost(hashed) < top_cost:
        bcrypt.checkpw(password, dummy)
    return False
