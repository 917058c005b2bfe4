"""SNMPv2c read requests answered before pysnmp's message processing.

Decoding a request with pyasn1 costs pysnmp about 0.3 ms, several times what answering
it from the pre-encoded table costs, so a walk in small steps (``snmpbulkwalk``'s
default is 10 bindings per request) spends most of its time there. This path reads the
one message shape that dominates, an SNMPv2c Get, GetNext or GetBulk carrying the read
community, with a strict BER reader, and answers it from the same table with the same
rules (:mod:`.answers`) and the same view (asked of pysnmp's VACM for the community's
principal). Anything else, including anything it cannot read, a wrong community,
SNMPv3, a Set or a response too large, goes to pysnmp unchanged.

It is strict: it answers only the canonical shape (bindings whose values are NULL, the
error fields of a Get/GetNext 0, GetBulk's fields in 0..2^31-1, no octet outside the
message), so that what it answers is exactly what pysnmp would send; everything else,
malformed or merely unusual, is left to pysnmp, which answers or drops it by its own
rules. ``tests/test_snmp_strict.py`` checks this against pysnmp on bent requests.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

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


class FastV2c:
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

    def __call__(self, datagram: bytes) -> bytes | None:
        try:
            request = self._read(datagram)
        except ber.BerError:
            return None
        if request is None:
            return None
        pdu, request_id, fields, names = request
        now = time.time()
        try:
            if pdu == GET:
                out = answers.get(self.tree, names, self.allowed, now, self._space)
            elif pdu == GET_NEXT:
                out = answers.get_next(self.tree, names, self.allowed, now, self._space)
            else:
                out = answers.get_bulk(
                    self.tree, names, fields[0], fields[1], self.allowed, now, self._space
                )
        except answers.TooBig:
            return None  # pysnmp answers tooBig
        body = ber.tlv(ber.INTEGER, ber.integer_body(request_id)) + NO_ERROR + NO_ERROR
        self.stats.answered()
        return ber.tlv(ber.SEQUENCE, self._header + ber.tlv(RESPONSE, body + ber.sequence(out)))

    def _read(self, data: bytes) -> tuple[int, int, tuple[int, int], list[ber.Oid]] | None:
        """(PDU tag, request-id, the two integer fields, names), or ``None`` to decline."""
        if len(data) > limits.MAX_REQUEST_OCTETS:
            return None
        tag, start, end = ber.read(data, 0)
        if tag != ber.SEQUENCE or end != len(data):
            return None
        tag, start, after = ber.read(data, start)
        if tag != ber.INTEGER or ber.read_integer(data, start, after) != SNMPV2C:
            return None
        tag, start, after = ber.read(data, after)
        if tag != ber.OCTET_STRING or not hmac.compare_digest(data[start:after], self.community):
            return None
        pdu, start, pdu_end = ber.read(data, after)
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
        return pdu, request_id, (first, second), names


FastPath = Callable[[bytes], bytes | None]
