"""GetBulk answered from runs of pre-encoded cells (``MibTree.run``) holds exactly what
GetNext, one instance at a time, finds: the same bindings in the same order, the same
endOfMibView where a repeater runs out, the same cut where the response is full, in any
view, with units reachable and not."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from c12exporter.snmp import answers, ber
from c12exporter.snmp.mibtree import Allowed, Column, MibTree
from tests.snmp_harness import Stack, snmp_stack

pytestmark = pytest.mark.integration

Oid = tuple[int, ...]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with snmp_stack(tmp_path_factory.mktemp("snmp"), units=3) as running:
        down = running.names[1]
        running.call(running.store.record_failure, down, "timeout", "no answer", 2.0)
        (uptime,) = [c for c in running.agent.tree.columns if c.name == "sysUpTime"]
        uptime.scalar = lambda: 4711  # the same sysUpTime.0 however long the answers take
        yield running


def step_by_step(
    tree: MibTree,
    names: Sequence[Oid],
    non_repeaters: int,
    max_repetitions: int,
    allowed: Allowed,
    now: float,
    space: int,
) -> list[bytes]:
    """RFC 3416 4.2.3 as one GetNext per binding: what GetBulk answered before runs."""

    def next_of(name: Oid) -> tuple[bytes, Oid | None]:
        hit = tree.next(name, allowed, now)
        if hit is None:
            return ber.exception_varbind(name, ber.END_OF_MIB_VIEW), None
        return hit.encoded, hit.oid

    non_repeaters = min(max(non_repeaters, 0), len(names))
    out: list[bytes] = [next_of(name)[0] for name in names[:non_repeaters]]
    used = sum(map(len, out))
    if used > space:
        raise answers.TooBig
    cursors = list(names[non_repeaters:])
    repetitions = max(max_repetitions, 0)
    if cursors:
        repetitions = min(repetitions, answers.MAX_BULK_VARBINDS // len(cursors))
    for _ in range(repetitions if cursors else 0):
        ended = 0
        for k, name in enumerate(cursors):
            encoded, after = next_of(name)
            used += len(encoded)
            if used > space:
                if not out:
                    raise answers.TooBig
                return out
            out.append(encoded)
            if after is None:
                ended += 1
            else:
                cursors[k] = after
        if ended == len(cursors):
            break
    return out


def views(tree: MibTree) -> dict[str, Allowed]:
    def everything(column: Column) -> bool:
        return True

    def every_other(column: Column) -> bool:
        return column.position % 2 == 0

    def no_system_group(column: Column) -> bool:
        return column.oid[: len(tree.mib.root)] == tree.mib.root

    return {"all": everything, "every other": every_other, "no system": no_system_group}


def candidate_names(tree: MibTree, indexes: Sequence[int]) -> list[Oid]:
    root = tree.mib.root
    columns = [c.oid for c in tree.columns]
    names: list[Oid] = [(1, 3), (0, 0), (2, 999), root, (*root, 99), (1, 3, 6, 1, 2, 1, 1, 3, 0)]
    for column in columns:
        names += [column, (*column, 0), (*column, 2**32 - 1)]
        for index in (*indexes, max(indexes) + 1):
            names += [(*column, index), (*column, index, 1), (*column, index, 7, 5)]
    return names


def test_a_bulk_answer_holds_what_getnext_finds_one_at_a_time(stack: Stack) -> None:
    tree = stack.agent.tree
    rng = random.Random(20261207)
    names = candidate_names(tree, tree._order)
    now = time.time()
    checked = 0
    for label, allowed in views(tree).items():
        for _ in range(400):
            count = rng.choice((1, 1, 1, 2, 3))
            request = [rng.choice(names) for _ in range(count)]
            non_repeaters = rng.choice((0, 0, 0, 1, 2, 5))
            repetitions = rng.choice((0, 1, 10, 50, 300, 3000))
            space = rng.choice((30, 200, 1400, 65000))
            args: tuple[Any, ...] = (request, non_repeaters, repetitions, allowed, now, space)
            fast, reference = stack.call(both, tree, args)
            assert fast == reference, (label, request, non_repeaters, repetitions, space)
            checked += 1
    assert checked == 1200


def both(tree: MibTree, args: tuple[Any, ...]) -> tuple[object, object]:
    """(the bulk answer, the one-at-a-time answer), or ``"tooBig"`` for either."""
    return outcome(answers.get_bulk, tree, *args), outcome(step_by_step, tree, *args)


def outcome(function: Any, *args: Any) -> object:
    try:
        return function(*args)
    except answers.TooBig:
        return "tooBig"


def test_a_walk_in_bulk_reaches_every_instance_getnext_reaches(stack: Stack) -> None:
    """The whole view, walked by GetBulk of 50 from each answer's last name, equals the
    walk one GetNext at a time (and both end in endOfMibView)."""
    tree = stack.agent.tree
    allowed = views(tree)["all"]

    def walks() -> tuple[list[bytes], list[bytes]]:
        now = time.time()
        one_by_one: list[bytes] = []
        name: Oid = (0, 0)
        while (hit := tree.next(name, allowed, now)) is not None:
            one_by_one.append(hit.encoded)
            name = hit.oid
        in_bulk: list[bytes] = []
        name = (0, 0)
        while True:
            found, last = tree.run(name, allowed, now, 50, 65000)
            in_bulk += found
            if len(found) < 50:
                return one_by_one, in_bulk
            name = last

    one_by_one, in_bulk = stack.call(walks)
    assert len(one_by_one) > 300  # two reachable units' cells and the down unit's row
    assert in_bulk == one_by_one
