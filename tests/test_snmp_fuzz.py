"""A short run of the SNMP fuzzer (``bench/fuzz_snmp.py``): malformed SNMPv1, SNMPv2c and
SNMPv3 datagrams between valid requests, against an agent on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.fuzz_snmp import Tally, fuzz
from tests.snmp_harness import Stack, snmp_stack

pytestmark = pytest.mark.integration

PACKETS = 600


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with snmp_stack(tmp_path_factory.mktemp("snmp"), units=2) as running:
        yield running


def run(stack: Stack, packets: int, seed: int) -> Tally:
    tally: Tally = stack.loop.run(fuzz(stack.agent, packets, seed), timeout=120)
    return tally


def test_malformed_datagrams_neither_crash_the_agent_nor_disturb_valid_requests(
    stack: Stack,
) -> None:
    tally = run(stack, PACKETS, seed=7)
    assert sum(tally.malformed.values()) == PACKETS
    assert min(tally.malformed.values()) > PACKETS // 10, tally.malformed  # every version
    assert tally.valid == PACKETS // 20
    assert (tally.crashes, tally.unanswered, tally.wrong) == (0, 0, 0), tally.problems


def test_the_fuzzer_counts_answers_that_differ_from_the_table(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wrong-answer check can fail: with the expected values off by one octet, every
    valid request counts as wrong."""
    from bench import fuzz_snmp

    table = fuzz_snmp.expected

    def off_by_one(*args: Any) -> tuple[tuple[int, ...], bytes]:
        name, value = table(*args)
        return name, value[:-1] + bytes(((value[-1] + 1) % 256,))

    monkeypatch.setattr(fuzz_snmp, "expected", off_by_one)
    tally = run(stack, 100, seed=8)
    assert tally.wrong == tally.valid == 5 and tally.crashes == 0
