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
    cursors = names[non_repeaters:]
    if not cursors or not repetitions:
        return out
    repetitions = min(repetitions, MAX_BULK_VARBINDS // len(cursors))
    runs = [_run(tree, name, allowed, now, repetitions, space - used) for name in cursors]
    if len(runs) == 1:  # a walk's request: its run, and endOfMibView if it ran out
        found, end = runs[0]
        if len(found) < repetitions:
            found.append(end)
        if used + sum(map(len, found)) <= space:
            return out + found
    for row in range(repetitions):
        ended = 0
        for found, end in runs:
            if row < len(found):
                encoded = found[row]
            else:
                encoded = end
                ended += 1
            used += len(encoded)
            if used > space:  # drop what does not fit
                if not out:
                    raise TooBig
                return out
            out.append(encoded)
        if ended == len(runs):
            break
    return out


def _run(
    tree: MibTree, name: Oid, allowed: Allowed, now: float, repetitions: int, space: int
) -> tuple[list[bytes], bytes]:
    """One repeater's instances, and the endOfMibView binding that follows them (RFC 3416
    4.2.3: a repeater past the end repeats it, at the last name it reached)."""
    found, last = tree.run(name, allowed, now, repetitions, space)
    return found, ber.exception_varbind(last, ber.END_OF_MIB_VIEW)


def _next(tree: MibTree, name: Oid, allowed: Allowed, now: float) -> tuple[bytes, Oid | None]:
    hit = tree.next(name, allowed, now)
    if hit is None:
        return ber.exception_varbind(name, ber.END_OF_MIB_VIEW), None
    return hit.encoded, hit.oid
