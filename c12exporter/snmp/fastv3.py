"""SNMPv3 authPriv read requests answered before pysnmp's message processing.

pysnmp spends about 0.9 ms on each SNMPv3 message (pyasn1 decoding and encoding of the
message, USM, the dispatcher), several times what answering it from the pre-encoded
table costs. This path reads the one shape that dominates a manager's walk: an authPriv
Get, GetNext or GetBulk from a configured USM user (RFC 3414), addressed to this engine
within its time window, with the default context. It checks the HMAC (RFC 3414, 7860),
decrypts with AES-CFB (RFC 3826, and the Blumenthal key extension for AES-192/256 that
net-snmp uses), answers from the same table with the same rules (:mod:`.answers`) and the
user's view (asked of pysnmp's VACM), and encrypts and authenticates the response.

Keys are localized by pysnmp's own USM services, so both paths hold the same keys.
Everything else goes to pysnmp unchanged, which answers, reports or drops it by its own
rules: engine discovery and time synchronisation (the reports a manager needs first),
unknown users, wrong digests, messages outside the time window, lower security levels,
other contexts, Sets, anything not in the canonical shape, and responses that would be
too big.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pysnmp.entity import config as engine_config  # type: ignore[import-untyped]
from pysnmp.proto import rfc1902  # type: ignore[import-untyped]

from . import answers, ber
from .config import UserSettings
from .fastpath import FastPath, Request, answer_request, read_pdu, response_pdu
from .mibtree import Allowed, MibTree
from .responders import RESPONSE_OVERHEAD
from .stats import SnmpStats

SNMPV3 = 3
USM = 3
AUTH_PRIV = 0x03
AUTH_PRIV_REPORTABLE = 0x07
"""msgFlags of an authPriv request (RFC 3412 6.4); a response clears reportable."""
MAX_ID = 2**31 - 1
MIN_MESSAGE_SIZE = 484
"""msgMaxSize is INTEGER (484..2147483647) (RFC 3412)."""
MAX_DATAGRAM = 65507
TIME_WINDOW_S = 150
"""RFC 3414 3.2.7a."""
SALT_OCTETS = 8
HEADER_ALLOWANCE = 48
"""What pysnmp keeps free of a response's scoped PDU for the SNMPv3 header (its
``maxSizeResponseScopedPDU``); with :data:`RESPONSE_OVERHEAD` both paths answer a
request with the same number of bindings."""

AUTH_DIGESTS: dict[str, tuple[Callable[..., Any], int]] = {
    "SHA-1": (hashlib.sha1, 12),
    "SHA-224": (hashlib.sha224, 16),
    "SHA-256": (hashlib.sha256, 24),
    "SHA-384": (hashlib.sha384, 32),
    "SHA-512": (hashlib.sha512, 48),
}
"""Hash and truncated MAC length of each authentication protocol (RFC 3414, RFC 7860)."""


@dataclass(frozen=True)
class UserKeys:
    """A USM user's localized keys and read view, as this engine holds them."""

    name: bytes
    digest: Callable[..., Any]
    mac_octets: int
    auth_key: bytes
    priv_key: bytes
    allowed: Allowed


class EngineClock:
    """snmpEngineBoots and snmpEngineTime as pysnmp's engine reports them."""

    def __init__(self, engine: Any) -> None:
        boots, engine_time = engine.get_mib_builder().import_symbols(
            "__SNMP-FRAMEWORK-MIB", "snmpEngineBoots", "snmpEngineTime"
        )
        self._boots = boots
        self._started = float(engine_time.syntax)  # pysnmp's snmpEngineTime counts from it

    @property
    def boots(self) -> int:
        return int(self._boots.syntax)

    def seconds(self) -> int:
        return int(time.time() - self._started)


class FastV3(FastPath):
    """Answers authPriv Get/GetNext/GetBulk of known users, or declines (``None``).

    :param engine_id: this engine's snmpEngineID (the authoritative engine).
    :param users: each user's keys and view.
    :param clock: boots and time, shared with pysnmp's engine.
    :param stats: counts each answer (``c12_snmp_requests_total{outcome="answered"}``).
    """

    def __init__(
        self,
        tree: MibTree,
        engine_id: bytes,
        users: Iterable[UserKeys],
        clock: EngineClock,
        stats: SnmpStats,
    ) -> None:
        self.tree = tree
        self.engine_id = engine_id
        self.users = {user.name: user for user in users}
        self.clock = clock
        self.stats = stats
        self._salts = itertools.count(int.from_bytes(os.urandom(SALT_OCTETS), "big"))
        # Imported here, once: an agent without SNMPv3 users never loads cryptography (.imports).
        from cryptography.hazmat.decrepit.ciphers.modes import CFB
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

        def aes(key: bytes, iv: bytes) -> Cipher[Any]:
            return Cipher(algorithms.AES(key), CFB(iv))

        self._aes = aes

    version = SNMPV3

    def answer(self, data: bytes, position: int, end: int) -> bytes | None:
        message = self._read(data, position, end)
        if message is None:
            return None
        user, msg_id, space, request = message
        try:
            out = answer_request(self.tree, request, user.allowed, space)
        except answers.TooBig:
            return None  # pysnmp answers tooBig
        self.stats.answered()
        return self._response(user, msg_id, response_pdu(request.request_id, out))

    def _read(
        self, data: bytes, position: int, end: int
    ) -> tuple[UserKeys, int, int, Request] | None:
        """(user, msgID, response space, request), or ``None`` to decline."""
        header = self._header(data, position)
        if header is None:
            return None
        msg_id, max_size, position = header
        tag, params_start, params_end = ber.read(data, position)
        if tag != ber.OCTET_STRING:
            return None
        security = self._security(data, params_start, params_end)
        if security is None:
            return None
        user, boots, engine_time, mac_start, salt = security
        tag, start, after = ber.read(data, params_end)
        if tag != ber.OCTET_STRING or after != end:
            return None
        mac_end = mac_start + user.mac_octets
        signed = data[:mac_start] + bytes(user.mac_octets) + data[mac_end:]
        mac = hmac.digest(user.auth_key, signed, user.digest)[: user.mac_octets]
        if not hmac.compare_digest(mac, data[mac_start:mac_end]):
            return None  # pysnmp counts usmStatsWrongDigests and reports it
        iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt
        plain = self._aes(user.priv_key, iv).decryptor().update(data[start:after])
        request = self._scoped_pdu(plain)
        if request is None:
            return None
        size = min(max_size, MAX_DATAGRAM)
        space = size - (params_end - params_start) - HEADER_ALLOWANCE - RESPONSE_OVERHEAD
        return user, msg_id, space, request

    @staticmethod
    def _header(data: bytes, position: int) -> tuple[int, int, int] | None:
        """msgGlobalData: (msgID, msgMaxSize, the position after it) of an authPriv USM
        message, or ``None``."""
        tag, start, header_end = ber.read(data, position)
        if tag != ber.SEQUENCE:
            return None
        numbers = []
        position = start
        for expected in (ber.INTEGER, ber.INTEGER, ber.OCTET_STRING, ber.INTEGER):
            tag, start, position = ber.read(data, position)
            if tag != expected:
                return None
            if tag == ber.OCTET_STRING:
                if position - start != 1 or data[start] not in (AUTH_PRIV, AUTH_PRIV_REPORTABLE):
                    return None
            else:
                numbers.append(ber.read_integer(data, start, position))
        if position != header_end:
            return None
        msg_id, max_size, model = numbers
        if not 0 <= msg_id <= MAX_ID or not MIN_MESSAGE_SIZE <= max_size <= MAX_ID:
            return None
        return (msg_id, max_size, header_end) if model == USM else None

    def _security(
        self, data: bytes, start: int, end: int
    ) -> tuple[UserKeys, int, int, int, bytes] | None:
        """UsmSecurityParameters addressed to this engine, in its time window, from a
        known user: (user, boots, time, where the MAC starts, salt), or ``None``."""
        tag, position, inner_end = ber.read(data, start)
        if tag != ber.SEQUENCE or inner_end != end:
            return None
        fields = []
        for expected in (ber.OCTET_STRING, ber.INTEGER, ber.INTEGER) + (ber.OCTET_STRING,) * 3:
            tag, value_start, position = ber.read(data, position)
            if tag != expected:
                return None
            fields.append((value_start, position))
        if position != end:
            return None
        (id_at, id_end), (boots_at, boots_end), (time_at, time_end) = fields[:3]
        (user_at, user_end), (mac_at, mac_end), (salt_at, salt_end) = fields[3:]
        if data[id_at:id_end] != self.engine_id:
            return None  # discovery, or another engine: pysnmp reports
        user = self.users.get(data[user_at:user_end])
        if user is None or mac_end - mac_at != user.mac_octets or salt_end - salt_at != 8:
            return None
        boots = ber.read_integer(data, boots_at, boots_end)
        engine_time = ber.read_integer(data, time_at, time_end)
        ours = self.clock.boots
        if ours == MAX_ID or boots != ours:
            return None
        if abs(self.clock.seconds() - engine_time) > TIME_WINDOW_S or engine_time < 0:
            return None  # pysnmp reports notInTimeWindow
        return user, boots, engine_time, mac_at, data[salt_at:salt_end]

    def _scoped_pdu(self, plain: bytes) -> Request | None:
        """The request in a decrypted ScopedPDU for this engine's default context."""
        tag, position, end = ber.read(plain, 0)
        if tag != ber.SEQUENCE or end != len(plain):
            return None
        tag, start, position = ber.read(plain, position)
        if tag != ber.OCTET_STRING or plain[start:position] != self.engine_id:
            return None
        tag, start, position = ber.read(plain, position)
        if tag != ber.OCTET_STRING or start != position:
            return None  # another context: pysnmp drops it
        return read_pdu(plain, position, end)

    def _response(self, user: UserKeys, msg_id: int, pdu: bytes) -> bytes:
        boots, now = self.clock.boots, self.clock.seconds()
        salt = (next(self._salts) % 2**64).to_bytes(SALT_OCTETS, "big")
        scoped = ber.tlv(
            ber.SEQUENCE,
            ber.tlv(ber.OCTET_STRING, self.engine_id) + ber.tlv(ber.OCTET_STRING, b"") + pdu,
        )
        iv = boots.to_bytes(4, "big") + now.to_bytes(4, "big") + salt
        encrypted = self._aes(user.priv_key, iv).encryptor().update(scoped)
        header = ber.tlv(
            ber.SEQUENCE,
            _integer(msg_id) + _integer(MAX_DATAGRAM) + ber.tlv(ber.OCTET_STRING, b"\x03")
            + _integer(USM),
        )  # fmt: skip
        before_mac = (
            ber.tlv(ber.OCTET_STRING, self.engine_id) + _integer(boots) + _integer(now)
            + ber.tlv(ber.OCTET_STRING, user.name)
        )  # fmt: skip
        mac_tlv = ber.tlv(ber.OCTET_STRING, bytes(user.mac_octets))
        parameters = before_mac + mac_tlv + ber.tlv(ber.OCTET_STRING, salt)
        security = ber.tlv(ber.OCTET_STRING, ber.tlv(ber.SEQUENCE, parameters))
        head = _integer(SNMPV3) + header
        body = head + security + ber.tlv(ber.OCTET_STRING, encrypted)
        message = bytearray(ber.tlv(ber.SEQUENCE, body))
        mac_at = (
            len(message) - len(body) + len(head)  # up to the security parameters
            + len(security) - len(parameters)  # their OCTET STRING and SEQUENCE headers
            + len(before_mac) + len(mac_tlv) - user.mac_octets
        )  # fmt: skip
        mac = hmac.digest(user.auth_key, message, user.digest)[: user.mac_octets]
        message[mac_at : mac_at + user.mac_octets] = mac
        return bytes(message)


def _integer(value: int) -> bytes:
    return ber.tlv(ber.INTEGER, ber.integer_body(value))


def user_keys(
    engine_id: bytes, user: UserSettings, auth_oid: Any, priv_oid: Any, allowed: Allowed
) -> UserKeys:
    """A user's keys localized to ``engine_id`` by pysnmp's USM services, as pysnmp's
    ``add_v3_user`` localizes them (``auth_oid`` and ``priv_oid`` are pysnmp's
    identifiers of the user's protocols)."""
    engine = rfc1902.OctetString(engine_id)
    auth_service = engine_config.AUTH_SERVICES[auth_oid]
    priv_service = engine_config.PRIV_SERVICES[priv_oid]
    local_auth = auth_service.localize_key(auth_service.hash_passphrase(user.auth_key), engine)
    master_priv = priv_service.hash_passphrase(auth_oid, user.priv_key)
    local_priv = priv_service.localize_key(auth_oid, master_priv, engine)
    digest, mac_octets = AUTH_DIGESTS[user.auth_protocol]
    return UserKeys(
        user.name.encode("utf-8"),
        digest,
        mac_octets,
        bytes(local_auth),
        bytes(local_priv)[: priv_service.KEY_SIZE],
        allowed,
    )
