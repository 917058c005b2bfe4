"""Command responders that answer Get, GetNext and GetBulk from the :class:`MibTree`.

They are pysnmp's responders with the management operation replaced: instead of a
pyasn1 object per variable binding, each response carries the cells' pre-encoded
variable bindings (one ``Any`` holding the encoded VarBindList). pysnmp still does
everything else: message processing, USM, VACM (asked once per column and principal,
then remembered: the agent's views are whole subtrees), counters and sending.

The instrumentation controller registered for the default context keeps pysnmp's
standard interface (``read_variables`` / ``read_next_variables`` with pyasn1 values) for
any other user of the context.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from pyasn1.type import univ  # type: ignore[import-untyped]
from pysnmp.entity.rfc3413 import cmdrsp  # type: ignore[import-untyped]
from pysnmp.proto import rfc1905  # type: ignore[import-untyped]
from pysnmp.proto.api import v2c  # type: ignore[import-untyped]
from pysnmp.smi import error as smi_error  # type: ignore[import-untyped]
from pysnmp.smi.instrum import AbstractMibInstrumController  # type: ignore[import-untyped]

from . import answers, ber
from .mibtree import Allowed, Column, Hit, MibTree

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


class StoreInstrumController(AbstractMibInstrumController):  # type: ignore[misc]
    """pysnmp's instrumentation interface over the :class:`MibTree`."""

    def __init__(self, tree: MibTree) -> None:
        self.tree = tree

    def read_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        allowed = ac_fun_filter(context, "read")
        now = time.time()
        out = []
        for name, _ in var_binds:
            hit = self.tree.get(tuple(name), allowed, now)
            if isinstance(hit, Hit):
                out.append((name, hit.value()))
            elif hit == ber.NO_SUCH_OBJECT:
                out.append((name, rfc1905.noSuchObject))
            else:
                out.append((name, rfc1905.noSuchInstance))
        return out

    def read_next_variables(self, *var_binds: Any, **context: Any) -> list[tuple[Any, Any]]:
        allowed = ac_fun_filter(context, "read")
        now = time.time()
        out = []
        for name, _ in var_binds:
            hit = self.tree.next(tuple(name), allowed, now)
            if hit is None:
                out.append((name, rfc1905.endOfMibView))
            else:
                out.append((v2c.ObjectIdentifier(hit.oid), hit.value()))
        return out


def ac_fun_filter(context: dict[str, Any], view_type: str) -> Callable[[Column], bool]:
    """A column filter from the ``acFun`` pysnmp passes (VACM), asked once per column."""
    ac_fun = context.get("acFun")
    if ac_fun is None:
        return lambda column: True
    decided: dict[int, bool] = {}

    def allowed(column: Column) -> bool:
        verdict = decided.get(column.position)
        if verdict is None:
            verdict = not ac_fun(view_type, (column.oid, None), **context)
            decided[column.position] = verdict
        return verdict

    return allowed


class _Fast:
    """What the three read responders share: access decisions and sending encoded bindings."""

    snmpContext: Any
    _encoded: dict[Any, bytes]
    _budget: dict[Any, int]
    _decisions: dict[tuple[Any, ...], bool]

    def __init__(self, engine: Any, context: Any) -> None:
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
        super().send_pdu(  # type: ignore[misc]
            engine, state_reference, self._with_encoded(state_reference, pdu)
        )

    def _tree(self, context_name: Any) -> MibTree | None:
        instrum = self.snmpContext.get_mib_instrum(context_name)
        return instrum.tree if isinstance(instrum, StoreInstrumController) else None

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
        tree = self._tree(context_name)
        if tree is None:
            super().handle_management_operation(  # type: ignore[misc]
                engine, state_reference, context_name, pdu
            )
            return
        try:
            out = self._answer(tree, pdu, self._allowed(engine), self._space(state_reference))
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
