"""Command responders that answer Get, GetNext and GetBulk from the :class:`MibTree`.

They are pysnmp's responders with the management operation replaced: instead of a
pyasn1 object per variable binding, each response carries the cells' pre-encoded
variable bindings (one ``Any`` holding the encoded VarBindList). pysnmp still does
everything else: message processing, USM, VACM (asked once per column and principal,
then remembered: the agent's views are whole subtrees), counters and sending. Only the
default context (``""``) is served; a request naming another is dropped, as pysnmp
drops requests to contexts it does not know.

Every response is counted (``c12_snmp_requests_total{outcome}``, see :mod:`.stats`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pyasn1.type import univ  # type: ignore[import-untyped]
from pysnmp.entity.rfc3413 import cmdrsp  # type: ignore[import-untyped]
from pysnmp.proto.api import v2c  # type: ignore[import-untyped]
from pysnmp.smi import error as smi_error  # type: ignore[import-untyped]

from . import answers, ber
from .mibtree import Allowed, Column, MibTree
from .stats import SnmpStats

log = logging.getLogger(__name__)

REQUEST_CONTEXT = "rfc3412.receiveMessage:request"
USM_MODEL = 3
AUTH_PRIV = 3
"""snmpSecurityModel of USM and SnmpSecurityLevel authPriv (RFC 3411). SNMPv3 requests
below authPriv are refused here: pysnmp 7.1.30's VACM lets a request at a lower security
level fall back to an access entry that requires a higher one."""
RESPONSE_OVERHEAD = 512
"""Octets of a response besides its variable bindings (message and PDU headers, the
community or context fields), kept free of the size budget."""


DEFAULT_CONTEXT = b""


NO_ACCESS_STATUSES = frozenset({6, 16})
"""noAccess, authorizationError (RFC 3416)."""


class UnknownContext(smi_error.PySnmpError):  # type: ignore[misc]
    """A request names a context other than the default one: pysnmp drops it."""


class Counted:
    """Counts every response a command responder sends, by its error-status:
    ``answered`` (noError), ``no_access`` (noAccess, authorizationError), ``error``."""

    stats: SnmpStats

    def send_pdu(self, engine: Any, state_reference: Any, pdu: Any) -> None:
        status = int(v2c.apiPDU.get_error_status(pdu))
        outcome = (
            "answered" if status == 0 else "no_access" if status in NO_ACCESS_STATUSES else "error"
        )
        self.stats.requests.labels(outcome).inc()
        super().send_pdu(engine, state_reference, pdu)  # type: ignore[misc]


def check_context(context_name: Any, stats: SnmpStats) -> None:
    """Drop (and count) a request to a context the agent does not serve."""
    if bytes(context_name) != DEFAULT_CONTEXT:
        stats.drop("unknown_context")
        raise UnknownContext(bytes(context_name))


class _Fast(Counted):
    """What the three read responders share: access decisions and sending encoded bindings."""

    _encoded: dict[Any, bytes]
    _budget: dict[Any, int]
    _decisions: dict[tuple[Any, ...], bool]

    def __init__(self, engine: Any, context: Any, tree: MibTree) -> None:
        self.tree = tree
        self.stats = tree.stats
        self._encoded = {}
        self._budget = {}
        self._decisions = {}
        super().__init__(engine, context)  # type: ignore[call-arg]

    def process_pdu(self, engine: Any, *args: Any) -> None:
        """pysnmp's entry point; notes the response size budget (``args[-2]``) of the
        request (``args[-1]`` is its state reference)."""
        self._budget[args[-1]] = int(args[-2])
        try:
            super().process_pdu(engine, *args)  # type: ignore[misc]
        finally:
            self._budget.pop(args[-1], None)

    def send_pdu(self, engine: Any, state_reference: Any, pdu: Any) -> None:
        super().send_pdu(engine, state_reference, self._with_encoded(state_reference, pdu))

    def _allowed(self, engine: Any) -> Callable[[Column], bool]:
        """VACM for this request's principal, remembered per column."""
        request = engine.observer.get_execution_context(REQUEST_CONTEXT)
        principal = (
            int(request["securityModel"]),
            bytes(request["securityName"]),
            int(request["securityLevel"]),
            bytes(request["contextName"]),
        )
        if principal[0] == USM_MODEL and principal[2] != AUTH_PRIV:
            raise smi_error.AuthorizationError(idx=0)
        decisions = self._decisions
        verify = cmdrsp.CommandResponderBase.verify_access

        def allowed(column: Column) -> bool:
            key = (*principal, column.position)
            verdict = decisions.get(key)
            if verdict is None:
                verdict = not verify("read", (column.oid, None), snmpEngine=engine)
                decisions[key] = verdict
            return verdict

        return allowed

    def _send_encoded(self, engine: Any, state_reference: Any, varbinds: list[bytes]) -> None:
        self._encoded[state_reference] = ber.sequence(varbinds)
        try:
            self.send_varbinds(engine, state_reference, 0, 0, [])  # type: ignore[attr-defined]
        finally:
            self._encoded.pop(state_reference, None)
        self.release_state_information(state_reference)  # type: ignore[attr-defined]

    def _with_encoded(self, state_reference: Any, pdu: Any) -> Any:
        encoded = self._encoded.pop(state_reference, None)
        if encoded is not None:
            pdu.setComponentByPosition(
                3, univ.Any(encoded), verifyConstraints=False, matchTags=False,
                matchConstraints=False,
            )  # fmt: skip
        return pdu

    def _space(self, state_reference: Any) -> int:
        return self._budget.get(state_reference, 65507) - RESPONSE_OVERHEAD

    def _answer(self, tree: MibTree, pdu: Any, allowed: Allowed, space: int) -> list[bytes]:
        raise NotImplementedError

    def handle_management_operation(
        self, engine: Any, state_reference: Any, context_name: Any, pdu: Any
    ) -> None:
        check_context(context_name, self.stats)
        try:
            out = self._answer(self.tree, pdu, self._allowed(engine), self._space(state_reference))
        except answers.TooBig:
            raise smi_error.TooBigError(idx=0) from None
        except smi_error.SmiError:
            raise
        except Exception as error:
            log.exception("SNMP request failed: %s", error)
            raise smi_error.GenError(idx=0) from None
        self._send_encoded(engine, state_reference, out)


def _names(pdu: Any) -> list[tuple[int, ...]]:
    return [tuple(name) for name, _ in v2c.apiPDU.get_varbinds(pdu)]


class GetResponder(_Fast, cmdrsp.GetCommandResponder):  # type: ignore[misc]
    """Get: each name's instance, noSuchObject or noSuchInstance."""

    def _answer(self, tree: MibTree, pdu: Any, allowed: Allowed, space: int) -> list[bytes]:
        return answers.get(tree, _names(pdu), allowed, time.time(), space)


class NextResponder(_Fast, cmdrsp.NextCommandResponder):  # type: ignore[misc]
    """GetNext: the instance after each name, or endOfMibView."""

    def _answer(self, tree: MibTree, pdu: Any, allowed: Allowed, space: int) -> list[bytes]:
        return answers.get_next(tree, _names(pdu), allowed, time.time(), space)


class BulkResponder(_Fast, cmdrsp.BulkCommandResponder):  # type: ignore[misc]
    """GetBulk: see :func:`answers.get_bulk`."""

    def _answer(self, tree: MibTree, pdu: Any, allowed: Allowed, space: int) -> list[bytes]:
        return answers.get_bulk(
            tree,
            _names(pdu),
            int(v2c.apiBulkPDU.get_non_repeaters(pdu)),
            int(v2c.apiBulkPDU.get_max_repetitions(pdu)),
            allowed,
            time.time(),
            space,
        )
