"""The SNMP agent: a pysnmp engine on the exporter's event loop, serving the store.

Security model (see ``docs/snmp.md``):

* SNMPv2c only when a community is configured; it reads, never writes. SNMPv1 messages
  are dropped (counted as ``snmpInBadVersions``).
* SNMPv3 USM users, always authPriv (SHA-2 family, AES). Requests at a lower security
  level, with an unknown user, a wrong key or a wrong community get no data.
* VACM: every principal reads the system group and C12-PDU-MIB, nothing else. Only
  users with ``access: read-write`` have a write view, and only when ``writes_enabled``.
* Communities configured for SNMPv2c notifications are not accepted on requests.

An agent started on an address this process's running agent already listens on (a
reload that changes only the SNMP settings) takes a duplicate of that bound UDP socket
instead of binding anew: the port is never free for another process to take, and no
``SO_REUSEPORT`` is needed. Every agent starts with reading held until it is fully
configured; then, in one step of the event loop, the old agent stops reading and the new
one starts, so no two agents read the one socket (which would split the datagrams
between them) and a datagram that arrives in between waits in the socket's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import shlex
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pysnmp.carrier.asyncio.dgram import udp, udp6  # type: ignore[import-untyped]
from pysnmp.entity import config as engine_config  # type: ignore[import-untyped]
from pysnmp.entity import engine as snmp_engine
from pysnmp.entity.rfc3413 import context as snmp_context  # type: ignore[import-untyped]
from pysnmp.proto import error as pysnmp_error  # type: ignore[import-untyped]
from pysnmp.proto import rfc1902
from pysnmp.smi import builder as mib_builder  # type: ignore[import-untyped]

from ..exposer import ExposerContext
from ..settings import ConfigError
from ..store import Store
from . import limits
from .config import ReceiverSettings, SnmpSettings, UserSettings
from .fastpath import FastPath, FastPaths, FastV2c
from .fastv3 import EngineClock, FastV3, user_keys
from .imports import with_privacy
from .mib import SNMPV2_MIB, LoadedMib
from .mibcompile import MODULE, CompiledMib, compile_mib, load_mib
from .mibtree import Allowed, Column, MibTree
from .notifications import Composer, Sender, StateTracker
from .responders import BulkResponder, GetResponder, NextResponder
from .stats import UNDECODABLE, EngineCounters
from .unitindex import UnitIndexError, UnitIndexes
from .writes import SetResponder, WriteThrough

with warnings.catch_warnings():
    # pysnmp 7.1 imports pysmi 2.0 names that pysmi deprecates (pysnmp.smi.compiler).
    warnings.simplefilter("ignore", DeprecationWarning)
    from pysnmp.entity.rfc3413 import ntforg

log = logging.getLogger(__name__)

AUTH = {
    "SHA-1": engine_config.USM_AUTH_HMAC96_SHA,
    "SHA-224": engine_config.USM_AUTH_HMAC128_SHA224,
    "SHA-256": engine_config.USM_AUTH_HMAC192_SHA256,
    "SHA-384": engine_config.USM_AUTH_HMAC256_SHA384,
    "SHA-512": engine_config.USM_AUTH_HMAC384_SHA512,
}
PRIV = {
    "AES-128": engine_config.USM_PRIV_CFB128_AES,
    # AES-192/256 key extension as net-snmp does it (draft-blumenthal-aes-usm-04).
    "AES-192": engine_config.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES-256": engine_config.USM_PRIV_CFB256_AES_BLUMENTHAL,
}
NET_SNMP_AUTH = {"SHA-1": "SHA"}
NET_SNMP_PRIV = {"AES-128": "AES"}
"""net-snmp's names for protocols where they differ from the config's."""

SNMPV1 = 0
V2C_MODEL, USM_MODEL = 2, 3
VACM_MODEL = 3
NO_AUTH_NO_PRIV, AUTH_PRIV = 1, 3
READ_COMMUNITY = "c12-read"
READ_VIEW, WRITE_VIEW, NOTIFY_VIEW = "c12-read", "c12-write", "c12-notify"
NO_VIEW = "c12-none"
"""A view that holds nothing. Access entries name it rather than leaving a view empty:
pysnmp 7.1.30's VACM grants access through a view name that has no view entries."""
READ_ONLY, READ_WRITE, NOTIFY_ONLY = "c12-read-only", "c12-read-write", "c12-notify-only"
NOTIFY_ONLY_TAG = "c12-notify-only"
"""Transport tag of notification communities: no target address carries it, so such a
community is never accepted on an incoming request."""
INFORM_TIMEOUT_S = 2.0
INFORM_RETRIES = 3
STARTUP_TIMEOUT_S = 5.0


class _Guarded:
    """A UDP transport that drops, and counts, datagrams beyond the request limits
    (:mod:`.limits`) before anything decodes them, and datagrams pysnmp fails on with an
    error of its own (pyasn1 raises ``TypeError`` on some malformed BER) rather than
    leaving the traceback to the event loop's exception handler; after each datagram
    pysnmp handled, it counts what pysnmp's own counters say it dropped."""

    loop: asyncio.AbstractEventLoop
    transport: Any
    _callback_function: Any
    fast: Callable[[bytes], bytes | None] | None = None
    """Answers what it can before pysnmp (reads, see :mod:`.fastpath` and :mod:`.fastv3`)."""
    counters: EngineCounters | None = None
    held: bool = False
    """Start with reading paused: the listening transport, until the agent is configured
    (see the module's doc)."""

    def connection_made(self, transport: Any) -> None:
        # pysnmp's transport, next in the MRO of the concrete classes below
        super().connection_made(transport)  # type: ignore[misc]
        if self.held:  # asyncio starts reading only after this, and not while paused
            transport.pause_reading()

    def datagram_received(self, datagram: bytes, address: Any) -> None:
        fast = self.fast
        if fast is not None:  # it applies the request limits itself
            try:
                response = fast(datagram)
            except Exception as error:
                log.debug("SNMP fast path declined a datagram: %r", error)
                response = None
            if response is not None and self.transport is not None:
                self.transport.sendto(response, address)
                return
        refused = limits.violation(datagram)
        if refused is not None:
            if self.counters is not None:
                self.counters.stats.drop(refused)
            log.debug("dropped an SNMP datagram from %s: %s", address, refused)
            return
        self.loop.call_soon(self._receive, datagram, address)

    def _receive(self, datagram: bytes, address: Any) -> None:
        counters = self.counters
        try:
            self._callback_function(self, address, datagram)
        except Exception as error:
            if counters is not None:
                counters.stats.drop(UNDECODABLE)
            log.debug("dropped an SNMP datagram from %s: %r", address, error)
        if counters is not None:
            counters.update()


class GuardedUdpTransport(_Guarded, udp.UdpTransport):  # type: ignore[misc]
    pass


class GuardedUdp6Transport(_Guarded, udp6.Udp6Transport):  # type: ignore[misc]
    pass


@dataclass
class RunningAgent:
    """A started agent: where it listens, and how to stop it."""

    settings: SnmpSettings
    engine: Any
    tree: MibTree
    compiled: CompiledMib
    host: str
    port: int
    engine_id: bytes
    transport: _Guarded
    sender: Sender | None = None
    setter: SetResponder | None = None
    sock: socket.socket | None = field(default=None, repr=False)
    """The bound UDP socket (this agent's own descriptor), duplicated by a successor."""
    _closed: bool = field(default=False, repr=False)

    @property
    def endpoints(self) -> list[str]:
        return [f"snmp://{_bracket(self.client_host)}:{self.port}"]

    @property
    def hints(self) -> list[str]:
        return ["SNMP walk (MIB loaded by name):", f"  {self.walk_command(secrets=True)}"]

    @property
    def client_host(self) -> str:
        """The address a local manager uses (loopback when listening on all interfaces)."""
        if not self.host or self.host in ("0.0.0.0", "::"):
            return "::1" if self.host == "::" else "127.0.0.1"
        return self.host

    @property
    def target(self) -> str:
        """The agent's address as net-snmp's tools take it (``udp6:[::1]:1161``)."""
        family = "udp6" if ":" in self.client_host else "udp"
        return f"{family}:{_bracket(self.client_host)}:{self.port}"

    def walk_command(
        self, table: str = "c12ChannelTable", *, user: str | None = None, secrets: bool = False
    ) -> str:
        """A ready-to-paste ``snmpbulkwalk`` of one table (SNMPv2c if a community is set,
        else SNMPv3 as ``user`` or the first user); keys shown only with ``secrets``."""
        mibs = ["-M", f"+{self.compiled.source_dir}", "-m", MODULE]
        credentials = self.credentials(user, secrets)
        return shlex.join(["snmpbulkwalk", *mibs, *credentials, self.target, f"{MODULE}::{table}"])

    def credentials(self, user: str | None = None, secrets: bool = False) -> list[str]:
        """net-snmp command-line options that authenticate to this agent."""
        settings = self.settings
        if user is None and settings.community is not None:
            community = settings.community if secrets else "<community>"
            return ["-v2c", "-c", community]
        chosen: UserSettings = settings.user(user) if user else settings.users[0]
        return [
            "-v3", "-l", "authPriv", "-u", chosen.name,
            "-a", NET_SNMP_AUTH.get(chosen.auth_protocol, chosen.auth_protocol),
            "-A", chosen.auth_key if secrets else "<auth_key>",
            "-x", NET_SNMP_PRIV.get(chosen.priv_protocol, chosen.priv_protocol),
            "-X", chosen.priv_key if secrets else "<priv_key>",
        ]  # fmt: skip

    async def stop(self) -> None:
        if self._closed:
            return
        self._closed = True
        for key, held in list(_SERVING.items()):
            if self in held:
                held.remove(self)
                if not held:
                    del _SERVING[key]
        _read(self.transport, False)
        await asyncio.sleep(0)  # answer the datagrams already read (queued by call_soon)
        self.tree.close()
        if self.sender is not None:
            await self.sender.stop()
        if self.setter is not None:
            await self.setter.drain()
        self.engine.close_dispatcher()
        await asyncio.sleep(0)  # let the transports' close callbacks run


async def start_agent(settings: SnmpSettings, context: ExposerContext) -> RunningAgent:
    """Compile and load the MIB, bind the port, configure security, start serving.

    Unit indexes are kept in ``context.state_dir`` (:mod:`.unitindex`); what the agent
    does is counted on ``context.telemetry`` (:mod:`.stats`).

    :raises ConfigError: the port cannot be bound, the MIB cannot be compiled, or the
        unit index file cannot be written.
    """
    from .mibcompile import MibCompileError

    store = context.store
    try:
        indexes = UnitIndexes.in_dir(context.state_dir)
        indexes.assign((state.config.name for state in store), strict=True)
    except UnitIndexError as error:
        raise ConfigError(f"snmp: {error}") from None

    try:
        compiled = await asyncio.to_thread(compile_mib)
        builder = mib_builder.MibBuilder()
        load_mib(builder, compiled)
        builder.load_modules(SNMPV2_MIB)
    except MibCompileError as error:
        raise ConfigError(f"snmp: {error}") from None
    mib = LoadedMib(builder)
    engine_id = settings.engine_id or default_engine_id(mib, settings)
    with warnings.catch_warnings():
        # pysnmp reads its engine-boots file without closing it.
        warnings.simplefilter("ignore", ResourceWarning)
        engine = snmp_engine.SnmpEngine(snmpEngineID=rfc1902.OctetString(engine_id))
    del engine.message_processing_subsystems[SNMPV1]  # SNMPv1 is not served
    holder = _holder(settings)
    # The same kernel socket as the running agent's, so the port is never free in between.
    sock = holder.dup() if holder is not None else _bind(settings)
    try:
        transport = _transport_class(settings.host)()
        transport.held = True
        transport.open_server_mode(sock=sock)
        engine_config.add_transport(engine, _domain(settings.host), transport)
        await _until_open(transport)
        _security(engine, settings, mib)
        limit = settings.notifications.temperature_limit_c
        tree = MibTree(
            mib, store, limit, indexes, context.telemetry, context.forecast, context.history
        )
        transport.counters = EngineCounters(engine, tree.stats)
        snmp = snmp_context.SnmpContext(engine)
        GetResponder(engine, snmp, tree)
        NextResponder(engine, snmp, tree)
        BulkResponder(engine, snmp, tree)
        writer = WriteThrough(tree, context.poller)
        writers = {u.name for u in settings.users if u.read_write and settings.writes_enabled}
        setter = SetResponder(engine, snmp, writer, frozenset(writers))
        sender = _notifications(engine, settings, store, mib, tree)
        transport.fast = _fast_paths(engine, settings, engine_id, tree)
    except BaseException:
        if "tree" in locals():
            tree.close()
        if engine.transport_dispatcher is not None:
            engine.close_dispatcher()
        else:
            sock.close()
        raise
    host, port = sock.getsockname()[:2]
    running = RunningAgent(
        settings, engine, tree, compiled, settings.host, int(port), engine_id, transport, sender,
        setter, sock,
    )  # fmt: skip
    if settings.port:
        _SERVING.setdefault(_address_key(settings), []).append(running)
    for held in _SERVING.get(_address_key(settings), []):
        if held is not running:
            _read(held.transport, False)
    _read(transport, True)  # in the same step as the old agent stopped reading
    log.info(
        "SNMP agent on udp %s:%d%s, engine ID 0x%s, %s",
        _bracket(host),
        port,
        " (socket taken over from the running agent)" if holder is not None else "",
        engine_id.hex(),
        ", ".join(
            (["SNMPv2c read-only"] if settings.community else [])
            + [f"SNMPv3 user {u.name} ({u.access})" for u in settings.users]
        ),
    )
    return running


def default_engine_id(mib: LoadedMib, settings: SnmpSettings) -> bytes:
    """RFC 3411 format: the MIB's enterprise number with the high bit set, format 5
    (octets), then a digest of the host name and listen address: stable across
    restarts (SNMPv3 trap receivers are configured with it) and distinct per agent."""
    enterprises = mib.oid("enterprises", "SNMPv2-SMI")
    root = mib.root
    if root[: len(enterprises)] != enterprises or len(root) <= len(enterprises):
        raise ConfigError(
            f"snmp.engine_id: the MIB root {root} is not under enterprises; set engine_id"
        )
    enterprise = root[len(enterprises)]
    seed = f"{socket.gethostname()} {settings.listen_address}".encode()
    return (
        (0x80000000 | enterprise).to_bytes(4, "big") + b"\x05" + hashlib.sha256(seed).digest()[:8]
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _is_v6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return ":" in host


def _transport_class(host: str) -> Any:
    return GuardedUdp6Transport if _is_v6(host) else GuardedUdpTransport


def _domain(host: str) -> Any:
    return udp6.DOMAIN_NAME if _is_v6(host) else udp.DOMAIN_NAME


_SERVING: dict[tuple[bool, str, int], list[RunningAgent]] = {}
"""This process's running agents by the address they were bound to: an agent started on
an address already served takes a duplicate of its socket (see the module's doc)."""


def _address_key(settings: SnmpSettings) -> tuple[bool, str, int]:
    v6 = _is_v6(settings.host)
    host = settings.host or ("::" if v6 else "0.0.0.0")
    with contextlib.suppress(ValueError):  # a host name is compared as written
        host = ipaddress.ip_address(host).compressed
    return v6, host, settings.port


def _holder(settings: SnmpSettings) -> socket.socket | None:
    """The bound socket of this process's running agent on the same address, if any."""
    if not settings.port:
        return None
    for running in _SERVING.get(_address_key(settings), []):
        if running.sock is not None and running.sock.fileno() >= 0:
            return running.sock
    return None


def _read(guarded: _Guarded, reading: bool) -> None:
    transport = guarded.transport
    if transport is not None and not transport.is_closing():
        (transport.resume_reading if reading else transport.pause_reading)()


def _bind(settings: SnmpSettings) -> socket.socket:
    v6 = _is_v6(settings.host)
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((settings.host or ("::" if v6 else "0.0.0.0"), settings.port))
    except OSError as error:
        sock.close()
        ours = [
            running.settings.listen_address
            for (_, _, port), held in _SERVING.items()
            for running in held
            if port == settings.port
        ]
        hint = (
            f"this exporter's agent listens on udp {ours[0]}; a move between all addresses "
            "and one address on the same port needs another port or a restart"
            if ours
            else "pick a free port (ports below 1024 need root)"
        )
        raise ConfigError(
            f"snmp.listen_address: cannot listen on udp {settings.listen_address}: "
            f"{error.strerror or error}; {hint}"
        ) from None
    return sock


async def _until_open(transport: Any) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT_S):
        while transport.transport is None:
            await asyncio.sleep(0.001)


def _security(engine: Any, settings: SnmpSettings, mib: LoadedMib) -> None:
    """Communities, USM users and VACM (groups, access, views)."""
    engine_config.add_context(engine, "")
    root = mib.root
    system = mib.oid("system", SNMPV2_MIB)
    for subtree in (system, root):
        engine_config.add_vacm_view(engine, READ_VIEW, "included", subtree, "")
    engine_config.add_vacm_view(engine, NOTIFY_VIEW, "included", root, "")
    engine_config.add_vacm_view(engine, NO_VIEW, "excluded", root, "")
    if settings.writes_enabled:
        engine_config.add_vacm_view(engine, WRITE_VIEW, "included", root, "")
    write_view = WRITE_VIEW if settings.writes_enabled else NO_VIEW
    for group, model, level, read, write in (
        (READ_ONLY, V2C_MODEL, "noAuthNoPriv", READ_VIEW, NO_VIEW),
        (READ_ONLY, USM_MODEL, "authPriv", READ_VIEW, NO_VIEW),
        (READ_WRITE, USM_MODEL, "authPriv", READ_VIEW, write_view),
        (NOTIFY_ONLY, V2C_MODEL, "noAuthNoPriv", NO_VIEW, NO_VIEW),
    ):
        engine_config.add_vacm_access(
            engine, group, "", model, level, "exact", read, write, NOTIFY_VIEW
        )
    if settings.community is not None:
        engine_config.add_v1_system(
            engine, READ_COMMUNITY, settings.community, securityName=READ_COMMUNITY
        )
        engine_config.add_vacm_group(engine, READ_ONLY, V2C_MODEL, READ_COMMUNITY)
    if settings.users:
        with_privacy()  # every SNMPv3 user is authPriv
    for user in settings.users:
        engine_config.add_v3_user(
            engine,
            user.name,
            AUTH[user.auth_protocol],
            user.auth_key,
            PRIV[user.priv_protocol],
            user.priv_key,
        )
        group = READ_WRITE if user.read_write else READ_ONLY
        engine_config.add_vacm_group(engine, group, USM_MODEL, user.name)


def _fast_paths(
    engine: Any, settings: SnmpSettings, engine_id: bytes, tree: MibTree
) -> FastPaths | None:
    """The read fast paths: the SNMPv2c community's and the SNMPv3 users', one per version."""
    paths: list[FastPath] = []
    if settings.community is not None:
        view = _read_view(engine, V2C_MODEL, READ_COMMUNITY, NO_AUTH_NO_PRIV)
        paths.append(FastV2c(tree, settings.community, view, tree.stats))
    if settings.users:
        users = [
            user_keys(
                engine_id,
                user,
                AUTH[user.auth_protocol],
                PRIV[user.priv_protocol],
                _read_view(engine, USM_MODEL, user.name, AUTH_PRIV),
            )
            for user in settings.users
        ]
        paths.append(FastV3(tree, engine_id, users, EngineClock(engine), tree.stats))
    return FastPaths(paths) if paths else None


def _read_view(engine: Any, model: int, name: str, level: int) -> Allowed:
    """A principal's read view, as pysnmp's VACM has it, remembered per column."""
    vacm = engine.access_control_model[VACM_MODEL]
    principal = rfc1902.OctetString(name)
    decided: dict[int, bool] = {}

    def allowed(column: Column) -> bool:
        verdict = decided.get(column.position)
        if verdict is None:
            try:
                vacm.is_access_allowed(engine, model, principal, level, "read", b"", column.oid)
            except pysnmp_error.StatusInformation:
                verdict = False
            else:
                verdict = True
            decided[column.position] = verdict
        return verdict

    return allowed


def _notifications(
    engine: Any, settings: SnmpSettings, store: Store, mib: LoadedMib, tree: MibTree
) -> Sender | None:
    receivers = settings.notifications.receivers
    if not receivers:
        return None
    listening_v6 = _is_v6(settings.host)
    for v6 in {_is_v6(r.host) for r in receivers} - {listening_v6}:
        client = (GuardedUdp6Transport if v6 else GuardedUdpTransport)().open_client_mode()
        engine_config.add_transport(engine, udp6.DOMAIN_NAME if v6 else udp.DOMAIN_NAME, client)
    targets = [_target(engine, i, receiver) for i, receiver in enumerate(receivers, 1)]
    originator = ntforg.NotificationOriginator()
    empty_context = rfc1902.OctetString("")

    stats = tree.stats

    def done(
        engine: Any, handle: Any, error: Any, status: Any, index: Any, var_binds: Any, ctx: Any
    ) -> None:
        if error or status:
            notification, address = ctx
            stats.notifications_failed.labels(notification, "unacknowledged").inc()
            log.warning(
                "SNMP notification %s to %s not acknowledged: %s",
                notification,
                address,
                error or status,
            )

    def send(notification: str, var_binds: Any) -> None:
        for name, receiver in targets:
            originator.send_varbinds(
                engine, name, None, empty_context, var_binds, done, (notification, receiver.address)
            )

    limit = settings.notifications.temperature_limit_c
    tick = max(0.5, min(5.0, store.staleness_s / 4))
    composer = Composer(mib, limit, tree.uptime)
    tracker = StateTracker(store, limit, tree.indexes)
    return Sender(store, tracker, composer, send, tick, stats)


def _target(engine: Any, number: int, receiver: ReceiverSettings) -> tuple[str, ReceiverSettings]:
    params, tag = f"c12-params-{number}", f"c12-notify-{number}"
    if receiver.version == "v2c":
        security_name = f"c12-notify-{number}"
        engine_config.add_v1_system(
            engine,
            security_name,
            receiver.community,
            securityName=security_name,
            transportTag=NOTIFY_ONLY_TAG,
        )
        engine_config.add_vacm_group(engine, NOTIFY_ONLY, V2C_MODEL, security_name)
        engine_config.add_target_parameters(engine, params, security_name, "noAuthNoPriv", 1)
    else:
        engine_config.add_target_parameters(engine, params, receiver.user, "authPriv", 3)
    engine_config.add_target_address(
        engine,
        f"c12-receiver-{number}",
        _domain(receiver.host),
        (receiver.host, receiver.port),
        params,
        timeout=INFORM_TIMEOUT_S * 100,  # hundredths of a second
        retryCount=INFORM_RETRIES,
        tagList=tag,
    )
    name = f"c12-notification-{number}"
    engine_config.add_notification_target(engine, name, params, tag, receiver.notify_type)
    return name, receiver
