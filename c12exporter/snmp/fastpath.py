"""SNMPv2c read requests answered before pysnmp's message processing.

Decoding a request with pyasn1 costs pysnmp about 0.3 ms, several times what answering
it from the pre-encoded table costs, so a walk in small steps (``snmpbulkwalk``'s
default is 10 bindings per request) spends most of its time there. This path reads the
one message shape that dominates, an SNMPv2c Get, GetNext or GetBulk carrying the read
community, with a strict BER reader, and answers it from the same table with the same
rules (:mod:`.answers`) and the same view (asked of pysnmp's VACM for the community's
principal). Anything else, including anything it cannot read, a wrong community, a Set
or a response too large, goes to pysnmp unchanged. :class:`FastPaths` reads each
datagram's version once and hands it to this path or the SNMPv3 one (:mod:`.fastv3`).

It is strict: it answers only the canonical shape (bindings whose values are NULL, the
error fields of a Get/GetNext 0, GetBulk's fields in 0..2^31-1, no octet outside the
message), so that what it answers is exactly what pysnmp would send; everything else,
malformed or merely unusual, is left to pysnmp, which answers or drops it by its own
rules. ``tests/test_snmp_strict.py`` checks this against pysnmp on bent requests.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import answers, ber, limits
from .mibtree import Allowed, MibTree
from .stats import SnmpStats

SNMPV2C = 1
GET, GET_NEXT, RESPONSE, GET_BULK = 0xA0, 0xA1, 0xA2, 0xA5
NO_ERROR = ber.tlv(ber.INTEGER, b"\x00")
REQUEST_ID_RANGE = (-(2**31), 2**31 - 1)
MAX_FIELD = 2**31 - 1
"""non-repeaters and max-repetitions are INTEGER (0..2147483647) (RFC 3416)."""
NULL = b"\x05\x00"
"""The value of every binding of a read request, as managers send it (RFC 3416 4.2)."""
MAX_DATAGRAM = 65507
RESPONSE_OVERHEAD = 64
"""Message and PDU headers around the bindings, besides the community."""


class FastPath:
    """Answers the read requests of one SNMP version, or declines (``None``) and leaves
    the datagram to pysnmp. :class:`FastPaths` reads a datagram's version once and hands
    it to the path for that version."""

    version: int

    def __call__(self, datagram: bytes) -> bytes | None:
        return dispatch(datagram, {self.version: self})

    def answer(self, data: bytes, position: int, end: int) -> bytes | None:
        """The response to the message ``data``, whose fields after the version run from
        ``position`` to ``end``; ``None`` (or :class:`ber.BerError`) to decline."""
        raise NotImplementedError


class FastPaths:
    """The fast paths of the versions the agent serves, one per version."""

    def __init__(self, paths: Iterable[FastPath]) -> None:
        self.paths = tuple(paths)
        self._by_version = {path.version: path for path in self.paths}

    def __call__(self, datagram: bytes) -> bytes | None:
        return dispatch(datagram, self._by_version)


def dispatch(datagram: bytes, paths: Mapping[int, FastPath]) -> bytes | None:
    """The answer of the path for the datagram's version, or ``None`` to leave it to
    pysnmp (a version without a path, anything beyond the request size limit, anything
    that is not a whole BER message)."""
    if len(datagram) > limits.MAX_REQUEST_OCTETS:
        return None
    try:
        tag, start, end = ber.read(datagram, 0)
        if tag != ber.SEQUENCE or end != len(datagram):
            return None
        tag, start, position = ber.read(datagram, start)
        if tag != ber.INTEGER:
            return None
        path = paths.get(ber.read_integer(datagram, start, position))
        return None if path is None else path.answer(datagram, position, end)
    except ber.BerError:
        return None


class FastV2c(FastPath):
    """Answers SNMPv2c Get/GetNext/GetBulk with the read community, or declines (``None``).

    :param allowed: the community principal's read view, per column.
    :param stats: counts each answer (``c12_snmp_requests_total{outcome="answered"}``).
    """

    def __init__(self, tree: MibTree, community: str, allowed: Allowed, stats: SnmpStats) -> None:
        self.tree = tree
        self.community = community.encode("utf-8")
        self.allowed = allowed
        self.stats = stats
        self._header = ber.tlv(ber.INTEGER, bytes((SNMPV2C,))) + ber.tlv(
            ber.OCTET_STRING, self.community
        )
        self._space = MAX_DATAGRAM - RESPONSE_OVERHEAD - len(self._header)

    version = SNMPV2C

    def answer(self, data: bytes, position: int, end: int) -> bytes | None:
        tag, start, after = ber.read(data, position)
        if tag != ber.OCTET_STRING or not hmac.compare_digest(data[start:after], self.community):
            return None
        request = read_pdu(data, after, end)
        if request is None:
            return None
        try:
            out = answer_request(self.tree, request, self.allowed, self._space)
        except answers.TooBig:
            return None  # pysnmp answers tooBig
        self.stats.answered()
        return ber.tlv(ber.SEQUENCE, self._header + response_pdu(request.request_id, out))


@dataclass(frozen=True, slots=True)
class Request:
    """A read request as the fast paths take it."""

    pdu: int
    request_id: int
    fields: tuple[int, int]
    """error-status and error-index, or GetBulk's non-repeaters and max-repetitions."""
    names: list[ber.Oid]


def read_pdu(data: bytes, position: int, end: int) -> Request | None:
    """The Get, GetNext or GetBulk PDU that fills ``data[position:end]`` exactly, in the
    canonical shape; ``None`` (or :class:`ber.BerError`) for anything else."""
    pdu, start, pdu_end = ber.read(data, position)
    if pdu not in (GET, GET_NEXT, GET_BULK) or pdu_end != end:
        return None
    numbers = []
    position = start
    for _ in range(3):
        tag, start, position = ber.read(data, position)
        if tag != ber.INTEGER:
            return None
        numbers.append(ber.read_integer(data, start, position))
    request_id, first, second = numbers
    if not REQUEST_ID_RANGE[0] <= request_id <= REQUEST_ID_RANGE[1]:
        return None
    if pdu == GET_BULK:
        if not (0 <= first <= MAX_FIELD and 0 <= second <= MAX_FIELD):
            return None  # pysnmp's PDU type refuses it: dropped
    elif first or second:
        return None  # error-status and error-index of a request are 0
    tag, position, list_end = ber.read(data, position)
    if tag != ber.SEQUENCE or list_end != pdu_end:
        return None
    names: list[ber.Oid] = []
    while position < list_end:
        tag, start, binding_end = ber.read(data, position)
        if tag != ber.SEQUENCE:
            return None
        tag, start, value_at = ber.read(data, start)
        if tag != ber.OBJECT_IDENTIFIER:
            return None
        if len(names) == limits.MAX_BINDINGS:
            return None
        names.append(ber.read_oid(data, start, value_at))
        if data[value_at:binding_end] != NULL:
            return None  # a value in a read request: pysnmp decides
        position = binding_end
    return Request(pdu, request_id, (first, second), names)


def answer_request(tree: MibTree, request: Request, allowed: Allowed, space: int) -> list[bytes]:
    """The encoded bindings that answer ``request``.

    :raises answers.TooBig: not even the smallest answer fits ``space`` octets.
    """
    now = time.time()
    if request.pdu == GET:
        return answers.get(tree, request.names, allowed, now, space)
    if request.pdu == GET_NEXT:
        return answers.get_next(tree, request.names, allowed, now, space)
    first, second = request.fields
    return answers.get_bulk(tree, request.names, first, second, allowed, now, space)


def response_pdu(request_id: int, bindings: list[bytes]) -> bytes:
    """A Response PDU with no error carrying ``bindings``."""
    body = ber.tlv(ber.INTEGER, ber.integer_body(request_id)) + NO_ERROR + NO_ERROR
    return ber.tlv(RESPONSE, body + ber.sequence(bindings))
