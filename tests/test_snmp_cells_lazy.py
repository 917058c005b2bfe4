"""A poll costs the SNMP table nothing but a mark: the cells of a column are computed on
the first request that reaches that column of that unit, and what was built before a
poll, before the unit went down, or before its reading went stale is never answered."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from c12exporter.snmp import ber
from c12exporter.snmp.mibtree import Column, Hit, MibTree
from tests.snmp_harness import Stack, snmp_stack

pytestmark = pytest.mark.integration

Oid = tuple[int, ...]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with snmp_stack(tmp_path, units=2) as running:
        yield running


def everything(column: Column) -> bool:
    return True


def column(tree: MibTree, name: str) -> Column:
    (found,) = [c for c in tree.columns if c.name == name]
    return found


def get(stack: Stack, name: str, *index: int, now: float | None = None) -> Hit | int:
    tree = stack.agent.tree
    oid = (*column(tree, name).oid, *index)
    hit: Hit | int = stack.call(tree.get, oid, everything, time.time() if now is None else now)
    return hit


def built(stack: Stack, index: int) -> set[str]:
    tree = stack.agent.tree
    slot = tree.slot(index)
    assert slot is not None
    names = {c.position: c.name for c in tree.columns}
    return {names[position] for position in slot.view}


def test_a_poll_builds_nothing_and_a_get_builds_only_its_column(stack: Stack) -> None:
    name = stack.names[0]
    stack.poll(name)
    slot = stack.agent.tree.slot(1)
    assert slot is not None and slot.dirty
    hit = get(stack, "c12ChannelCurrent", 1, 3)
    assert isinstance(hit, Hit)
    assert built(stack, 1) == {"c12ChannelCurrent"}
    assert isinstance(get(stack, "c12UnitReachability", 1), Hit)
    assert built(stack, 1) == {"c12ChannelCurrent", "c12UnitReachability"}
    assert built(stack, 2) == set()  # the other unit: nothing asked, nothing built


def test_a_new_reading_replaces_every_column_built_from_the_old_one(stack: Stack) -> None:
    name = stack.names[0]
    stack.act(name, action="set_load", channel=3, current_a=2.0)
    before = get(stack, "c12ChannelCurrent", 1, 3)
    assert isinstance(before, Hit) and before.raw == round(
        stack.reading(name).channels[2].current_a * 1000
    )
    stack.act(name, action="set_load", channel=3, current_a=7.5)
    after = get(stack, "c12ChannelCurrent", 1, 3)
    assert isinstance(after, Hit) and after.raw != before.raw
    assert after.raw == round(stack.reading(name).channels[2].current_a * 1000)
    assert built(stack, 1) == {"c12ChannelCurrent"}


def test_a_poll_lets_go_of_what_was_built_from_the_older_reading(stack: Stack) -> None:
    name = stack.names[0]
    assert isinstance(get(stack, "c12ChannelCurrent", 1, 3), Hit)
    assert isinstance(get(stack, "c12UnitReachability", 1), Hit)
    older = weakref.ref(stack.reading(name))
    stack.poll(name)
    assert built(stack, 1) == set()
    gc.collect()
    assert older() is None  # nothing of the SNMP table holds it until the next request
    assert isinstance(get(stack, "c12ChannelCurrent", 1, 3), Hit)


def test_a_unit_that_goes_down_answers_as_down_whatever_was_built(stack: Stack) -> None:
    name = stack.names[0]
    assert isinstance(get(stack, "c12ChannelCurrent", 1, 3), Hit)
    assert isinstance(get(stack, "c12InputUptime", 1), Hit)
    stack.call(stack.store.record_failure, name, "timeout", "no answer", 2.0)
    assert get(stack, "c12ChannelCurrent", 1, 3) == ber.NO_SUCH_INSTANCE
    assert get(stack, "c12InputUptime", 1) == ber.NO_SUCH_INSTANCE
    reachability = get(stack, "c12UnitReachability", 1)
    assert isinstance(reachability, Hit)
    assert (
        reachability.raw
        == column(stack.agent.tree, "c12UnitReachability").object.labels["unreachable"]
    )
    assert isinstance(get(stack, "c12ChannelCurrent", 2, 3), Hit)  # the other unit is up


def test_a_reading_that_went_stale_is_not_answered_without_a_poll(stack: Stack) -> None:
    name = stack.names[0]
    taken_at = stack.reading(name).taken_at
    assert isinstance(get(stack, "c12ChannelCurrent", 1, 3, now=taken_at + 1), Hit)
    later = taken_at + stack.store.staleness_s + 1
    assert get(stack, "c12ChannelCurrent", 1, 3, now=later) == ber.NO_SUCH_INSTANCE
    reachability = get(stack, "c12UnitReachability", 1, now=later)
    assert isinstance(reachability, Hit)
    assert (
        reachability.raw
        == column(stack.agent.tree, "c12UnitReachability").object.labels["unreachable"]
    )
