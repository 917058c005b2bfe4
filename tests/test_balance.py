"""Phase balance: the NEMA unbalance and the best single move, on built loads with known
answers, then against the simulator through `/metrics`, the console's cells and
`c12exporter advise`."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from c12exporter import balance
from c12exporter.console.view import balance_advice
from c12exporter.plugins import load_plugins
from c12exporter.reading import ChannelReading, PhaseReading, Reading
from tests.servers import (
    c12exporter_command,
    exporter,
    http_get,
    simulated_reading,
    simulator,
    wait_until,
)

PLUGINS = load_plugins(entry_points=False)


@pytest.fixture(scope="module")
def reading() -> Reading:
    """A real reading of a C12B-13 (UK 13 A aux socket) to build loads on."""
    return simulated_reading("C12B-13")


def loaded(
    reading: Reading, amps: dict[int, float], open_breakers: tuple[int, ...] = ()
) -> Reading:
    """``reading`` with these channel currents (others 0 A) and line currents their sums."""
    channels = tuple(
        ChannelReading(
            **{
                **c.__dict__,
                "values": {
                    **c.values,
                    "channel_current": amps.get(c.number, 0.0),
                    "channel_breaker": "open" if c.number in open_breakers else "closed",
                },
            }
        )
        for c in reading.channels
    )
    lines = {p.phase: 0.0 for p in reading.phases}
    for c in channels:
        lines[c.phase] += c.current_a
    phases = tuple(
        PhaseReading(p.phase, {**p.values, "current": lines[p.phase]}) for p in reading.phases
    )
    return Reading(reading.unit, reading.identity, reading.model, 0.0, reading.values, phases,
                   channels)  # fmt: skip


# Channels 1, 4, 7, 10 are on L1; 2, 5, 8, 11 on L2; 3, 6, 9, 12 on L3.
LOADS = {1: 7.0, 4: 2.0, 7: 1.0, 2: 6.0}


def test_unbalance_is_the_nema_definition() -> None:
    assert balance.unbalance([10.0, 10.0, 10.0]) == 0.0
    assert balance.unbalance([12.0, 9.0, 9.0]) == pytest.approx(0.2)
    assert balance.unbalance([30.0, 0.0, 0.0]) == pytest.approx(2.0)
    assert balance.unbalance([0.2, 0.1, 0.0]) is None


def test_the_best_move_is_the_one_that_evens_the_lines_most(reading: Reading) -> None:
    # L1 10 A (7 + 2 + 1), L2 6 A, L3 0 A: unbalance 5.33 / 5.33 = 100 %.
    r = loaded(reading, LOADS)
    assert balance.reading_unbalance(r) == pytest.approx(1.0)
    ranked = balance.ranked_moves(r)
    best = ranked[0]
    # 7 A of channel 1 to the first free L3 channel: 3 / 6 / 7 A, unbalance 43.75 %.
    assert (best.channel.number, best.to_channel.number) == (1, 3)
    assert (best.phase, best.to_phase) == ("L1", "L3")
    assert best.unbalance_after == pytest.approx(0.4375)
    assert best.currents_after == pytest.approx({"L1": 3.0, "L2": 6.0, "L3": 7.0})
    # The next best: 2 A of channel 4 to L3 leaves 8 / 6 / 2 A, 62.5 %.
    assert (ranked[1].channel.number, ranked[1].unbalance_after) == (4, pytest.approx(0.625))
    assert all(a.unbalance_after <= b.unbalance_after for a, b in itertools.pairwise(ranked))
    assert balance.best_move(r) == best
    assert balance_advice(r) == (
        "move the 7.0 A load of channel 1 (LED wall 1) on L1 to channel 3 (LED wall 3) on L3: "
        "unbalance 100% -> 44%"
    )


def test_no_move_when_balanced_or_idle(reading: Reading) -> None:
    assert balance.best_move(loaded(reading, {1: 5.0, 2: 5.0, 3: 5.0})) is None
    assert balance.best_move(loaded(reading, {1: 0.6})) is None  # mean 0.2 A: not judged
    assert balance_advice(loaded(reading, {1: 0.6})) == "none (under 1 A)"


def test_only_free_closed_channels_that_can_carry_the_load_take_it(reading: Reading) -> None:
    # L1 14 A on channel 1 alone. Every L2 and L3 channel but 12 is busy or open.
    busy = {n: 1.0 for n in (2, 5, 8, 11, 3, 6, 9)}
    r = loaded(reading, {1: 14.0, **busy})
    # Channel 12 is free but its UK aux socket carries 13 A: the 14 A load cannot go there.
    assert reading.model.aux_socket.rating_a == 13.0
    assert balance.best_move(r) is None
    # A free channel whose breaker is open takes nothing either.
    r = loaded(reading, {1: 12.0, 4: 10.0, **busy, 9: 0.0}, open_breakers=(9,))
    assert {m.to_channel.number for m in balance.ranked_moves(r)} == {12}
    best = balance.best_move(r)
    # L1 22 A, L2 4 A, L3 2 A: 10 A of channel 4 to the aux channel leaves 12 / 4 / 12 A.
    assert best is not None and (best.channel.number, best.to_channel.number) == (4, 12)


def test_the_best_move_is_the_first_ranked_on_many_loads(reading: Reading) -> None:
    # best_move tries only the lowest-numbered free channel of each phase; it must agree
    # with ranking every move, ties included (loads of whole and equal amperes), the aux
    # socket's lower rating and open breakers too.
    rng = random.Random(7)
    tried = with_a_move = 0
    for _ in range(2000):
        amps = {n: rng.choice((0.0, 0.0, 0.05, 0.4, 1.0, 2.0, 5.0, 13.5, 14.0,
                               round(rng.uniform(0, 16), 2))) for n in range(1, 13)}  # fmt: skip
        open_breakers = tuple(n for n in range(1, 13) if rng.random() < 0.1)
        r = loaded(reading, amps, open_breakers)
        ranked = balance.ranked_moves(r)
        best = balance.best_move(r)
        assert best == (ranked[0] if ranked else None), (amps, open_breakers)
        tried += 1
        with_a_move += best is not None
    assert with_a_move > tried // 4  # most draws have a move to judge


def test_a_phases_override_changes_where_loads_go(reading: Reading) -> None:
    rotated = reading.model.with_phases(("L2", "L3", "L1") * 4)
    r = loaded(
        Reading(reading.unit, reading.identity, rotated, 0.0, reading.values, reading.phases,
                tuple(ChannelReading(**{**c.__dict__, "phase": rotated.channel_phases[i]})
                      for i, c in enumerate(reading.channels))),
        LOADS,
    )  # fmt: skip
    best = balance.best_move(r)
    # Channels 1, 4 and 7 are on L2 now, channel 2 on L3: the first free L1 channel is 3.
    assert best is not None and (best.channel.number, best.to_channel.number) == (1, 3)
    assert (best.phase, best.to_phase) == ("L2", "L1")


# --- against the simulator -------------------------------------------------------------------


def balance_samples(text: str) -> dict[str, list[Sample]]:
    wanted = {"c12_phase_unbalance_ratio": [], "c12_phase_unbalance_best_move_ratio": []}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                wanted[sample.name].append(sample)
    return wanted


@pytest.mark.integration
def test_metrics_and_advise_agree_on_a_simulated_unit(tmp_path: Path) -> None:
    with simulator(tmp_path, 1, "--speed", "0") as (control, units_file):
        name = control.units()[0]["name"]
        for channel in range(1, 13):
            amps = LOADS.get(channel, 0.0)
            control.act(name, "set_load", channel=channel, current_a=amps)
        units = yaml.safe_load(units_file.read_text())["units"]
        config = yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"}, "units": units})
        (tmp_path / "c12.yml").write_text(config)
        with exporter(tmp_path, config) as url:

            def advised() -> dict[str, list[Sample]] | None:
                samples = balance_samples(http_get(f"{url}/metrics"))
                return samples if samples["c12_phase_unbalance_best_move_ratio"] else None

            samples = wait_until(advised, 20, "the best move on /metrics")
        (now,) = samples["c12_phase_unbalance_ratio"]
        assert now.labels == {"pdu": name} and now.value == pytest.approx(1.0, abs=0.05)
        (move,) = samples["c12_phase_unbalance_best_move_ratio"]
        assert move.labels == {
            "pdu": name, "channel": "1", "phase": "L1", "to_channel": "3", "to_phase": "L3"
        }  # fmt: skip
        assert move.value == pytest.approx(0.4375, abs=0.05)

        result = subprocess.run(
            c12exporter_command(
                "advise", name, "--config.file", str(tmp_path / "c12.yml"), "--format", "json"
            ),
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        advice = json.loads(result.stdout)
        assert advice["unbalance"] == pytest.approx(1.0, abs=0.05)
        first = advice["moves"][0]
        assert (first["channel"], first["to_channel"], first["to_phase"]) == (1, 3, "L3")

        text = subprocess.run(
            c12exporter_command("advise", units[0]["address"]),
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout  # fmt: skip
        assert "unbalance (NEMA): 10" in text and "1. move the 7.0 A load of channel 1" in text


def test_advise_names_a_unit_that_cannot_be_read_or_is_unknown(tmp_path: Path) -> None:
    from tests.servers import free_port

    result = subprocess.run(
        c12exporter_command("advise", f"127.0.0.1:{free_port()}", "--timeout", "0.5"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot be read" in result.stderr
    config = tmp_path / "c12.yml"
    config.write_text(yaml.safe_dump({"units": [{"name": "a", "address": "127.0.0.1:1502"}]}))
    result = subprocess.run(
        c12exporter_command("advise", "b", "--config.file", str(config)),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{config}: no unit named 'b'" in result.stderr
