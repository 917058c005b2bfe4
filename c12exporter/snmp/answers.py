"""Get, GetNext and GetBulk answered from the :class:`MibTree` as encoded bindings.

Shared by pysnmp's responders (:mod:`.responders`) and the fast paths (:mod:`.fastpath`,
:mod:`.fastv3`), so all answer alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import ber
from .mibtree import Allowed, Hit, MibTree

Oid = ber.Oid
MAX_BULK_VARBINDS = 2048
"""Most variable bindings one GetBulk response carries (the size budget usually ends it
sooner: a UDP datagram holds at most 65,507 octets)."""


class TooBig(Exception):
    """Even the smallest answer does not fit the response (tooBig)."""


def get(
    tree: MibTree, names: Sequence[Oid], allowed: Allowed, now: float, space: int
) -> list[bytes]:
    """Each name's instance, or noSuchObject / noSuchInstance."""
    out = []
    for name in names:
        hit = tree.get(name, allowed, now)
        out.append(hit.encoded if isinstance(hit, Hit) else ber.exception_varbind(name, hit))
    if sum(map(len, out)) > space:
        raise TooBig
    return out


def get_next(
    tree: MibTree, names: Sequence[Oid], allowed: Allowed, now: float, space: int
) -> list[bytes]:
    """The instance after each name, or endOfMibView."""
    out = [_next(tree, name, allowed, now)[0] for name in names]
    if sum(map(len, out)) > space:
        raise TooBig
    return out


def get_bulk(
    tree: MibTree,
    names: Sequence[Oid],
    non_repeaters: int,
    max_repetitions: int,
    allowed: Allowed,
    now: float,
    space: int,
) -> list[bytes]:
    """RFC 3416 4.2.3: non-repeaters once, then repetitions until the response is full,
    every repeater is past the end, or max-repetitions is reached."""
    non_repeaters = min(max(non_repeaters, 0), len(names))
    repetitions = max(max_repetitions, 0)
    out: list[bytes] = []
    used = 0
    for name in names[:non_repeaters]:
        encoded, _ = _next(tree, name, allowed, now)
        out.append(encoded)
        used += len(encoded)
    if used > space:
        raise TooBig
    cursors = list(names[non_repeaters:])
    if cursors:
        repetitions = min(repetitions, MAX_BULK_VARBINDS // len(cursors))
    for _ in range(repetitions if cursors else 0):
        ended = 0
        for k, name in enumerate(cursors):
            encoded, after = _next(tree, name, allowed, now)
            used += len(encoded)
            if used > space:  # drop what does not fit
                if not out:
                    raise TooBig
                return out
            out.append(encoded)
            if after is None:
                ended += 1
            else:
                cursors[k] = after
        if ended == len(cursors):
            break
    return out


def _next(tree: MibTree, name: Oid, allowed: Allowed, now: float) -> tuple[bytes, Oid | None]:
    hit = tree.next(name, allowed, now)
    if hit is None:
        return ber.exception_varbind(name, ber.END_OF_MIB_VIEW), None
    return hit.encoded, hit.oid
