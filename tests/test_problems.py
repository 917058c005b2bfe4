"""The problem rules on a reading read from the simulator over Modbus, and the board's
occurrences: since, acknowledgement, escalation, recurrence, a unit going down."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from c12exporter import limits
from c12exporter.forecast import TripForecast
from c12exporter.problems import (
    ESTOP_ADVICE,
    NEUTRAL_ADVICE,
    Occurrence,
    Problem,
    ProblemBoard,
    Severity,
    clock,
    lasted,
    lasted_changes_at,
    problems_of,
)
from c12exporter.reading import Identity, PhaseReading, Reading, SupervisionBand
from c12exporter.settings import UnitConfig
from c12exporter.store import Store, UnitState
from tests.servers import simulated_reading


@pytest.fixture(scope="module")
def simulated() -> Reading:
    return simulated_reading("C12B-13")  # UK 13 A aux socket on channel 12


@pytest.fixture
def quiet(simulated: Reading) -> Reading:
    """The simulated unit with nothing wrong: its LED-wall neutral brought down, and
    channel 12 below 80 % of its 13 A aux socket."""
    return channel(simulated.with_values(neutral_current=20.0), 12, channel_current=8.0)


def channel(reading: Reading, number: int, **values: Any) -> Reading:
    channels = tuple(c.with_values(**values) if c.number == number else c for c in reading.channels)
    return dataclasses.replace(reading, channels=channels)


def phase(reading: Reading, name: str, **values: Any) -> Reading:
    phases = tuple(
        PhaseReading(p.phase, {**p.values, **values}) if p.phase == name else p
        for p in reading.phases
    )
    return dataclasses.replace(reading, phases=phases)


def band(reading: Reading, number: int, min_a: float | None, max_a: float | None) -> Reading:
    channels = tuple(
        dataclasses.replace(c, supervision=SupervisionBand(min_a, max_a))
        if c.number == number
        else c
        for c in reading.channels
    )
    return dataclasses.replace(reading, channels=channels)


UNIT = UnitState(UnitConfig("u", "127.0.0.1:1"))


def found(reading: Reading, trip_s: dict[int, float] | None = None) -> dict[str, Problem]:
    return {p.key: p for p in problems_of(UNIT, reading, trip_s or {}, 1000.0)}


def said(reading: Reading, trip_s: dict[int, float] | None = None) -> set[tuple[str, str]]:
    return {(p.severity.word, p.text) for p in found(reading, trip_s).values()}


# --- the rules ------------------------------------------------------------------------------


def test_a_healthy_unit_has_no_problems(quiet: Reading) -> None:
    assert found(quiet) == {}


def test_the_simulated_led_wall_neutral_is_near_the_input_rating(simulated: Reading) -> None:
    neutral = simulated.values["neutral_current"]
    assert isinstance(neutral, float) and 0.8 * 63 < neutral <= 63
    assert ("warning", f"neutral {neutral:.0f} A, 99% of the 63 A input") in said(simulated)


def test_estop_is_an_alarm_with_the_manuals_steps_and_no_separate_switch_warning(
    quiet: Reading,
) -> None:
    pressed = quiet.with_values(emergency_stop="pressed", switch_disconnector="off")
    problems = found(pressed)
    assert list(problems) == ["estop"]
    assert problems["estop"].severity is Severity.ALARM
    assert problems["estop"].text == "e-stop pressed"
    assert problems["estop"].advice == ESTOP_ADVICE
    lost = quiet.with_values(neutral="lost", switch_disconnector="off")
    assert list(found(lost)) == ["neutral"]
    assert found(lost)["neutral"].advice == NEUTRAL_ADVICE
    off = quiet.with_values(switch_disconnector="off")
    assert said(off) == {("warning", "switch disconnector off")}


def test_an_open_breaker_is_an_alarm_and_its_dead_output_is_not_below_its_band(
    quiet: Reading,
) -> None:
    opened = channel(quiet, 3, channel_breaker="open", channel_current=0.0)
    assert said(opened) == {("alarm", "breaker 3 open")}
    assert found(opened)["breaker.3"].channel == 3
    # the same 0 A with the breaker closed is below the band's 1 A minimum
    assert said(channel(quiet, 3, channel_current=0.0)) == {
        ("warning", "channel 3 below its band: 0.0 A, min 1 A")
    }


def test_channel_load_levels_follow_the_rating_and_the_breaker_curve(quiet: Reading) -> None:
    curve = quiet.model.breaker
    heating = curve.non_tripping_multiple * 16
    unbanded = band(quiet, 5, None, None)
    assert said(channel(unbanded, 5, channel_current=12.8)) == set()  # exactly 80 %
    assert said(channel(unbanded, 5, channel_current=13.5)) == {
        ("warning", "channel 5 near rating: 13.5 A of 16 A")
    }
    assert said(channel(unbanded, 5, channel_current=16.4)) == {
        ("warning", "channel 5 over rating: 16.4 A of 16 A")
    }
    over = found(channel(unbanded, 5, channel_current=heating + 0.4))["overload.5"]
    assert over.severity is Severity.ALARM
    assert over.text == f"channel 5 over rating: {heating + 0.4:.1f} A of 16 A"
    assert "RCBO heats towards a trip" in over.detail


def test_channel_12_is_judged_by_its_aux_socket_when_that_is_lower(quiet: Reading) -> None:
    unbanded = band(quiet, 12, None, None)
    assert said(channel(unbanded, 12, channel_current=13.5)) == {
        ("warning", "channel 12 over rating: 13.5 A of 13 A (UK 13 A socket)")
    }
    assert said(channel(unbanded, 12, channel_current=10.5)) == {
        ("warning", "channel 12 near rating: 10.5 A of 13 A (UK 13 A socket)")
    }
    # the alarm is the RCBO's: 1.05 x its 16 A, not the socket's rating
    assert found(channel(unbanded, 12, channel_current=16.5))["overload.12"].severity is (
        Severity.WARNING
    )
    assert found(channel(unbanded, 12, channel_current=17.0))["overload.12"].severity is (
        Severity.ALARM
    )


def test_the_trip_forecast_is_an_alarm_within_five_minutes(quiet: Reading) -> None:
    limit = limits.TRIP_FORECAST_WARNING.value
    assert said(quiet, {2: 31.4}) == {("alarm", "channel 2 trips in 0:31")}
    assert said(quiet, {2: 0.4}) == {("alarm", "channel 2 trips now")}
    assert said(quiet, {2: limit - 1}) == {("alarm", "channel 2 trips in 4:59")}
    assert said(quiet, {2: limit}) == set()


def test_a_hot_breaker_is_an_alarm_until_it_cools_under_the_clear_level(quiet: Reading) -> None:
    def judge(
        reading: Reading, heat: float, previous: dict[str, Severity] | None = None
    ) -> set[tuple[str, str]]:
        found = problems_of(UNIT, reading, {}, 0.0, heat={2: heat}, previous=previous)
        return {(p.severity.word, p.text) for p in found}

    warning, clear = limits.TRIP_HEAT_WARNING.value, limits.TRIP_HEAT_CLEAR.value
    assert judge(quiet, warning - 0.01) == set()
    assert judge(quiet, 0.55) == {("alarm", "breaker 2 at 55% of its trip heat")}
    firing = {"trip.2": Severity.ALARM}
    assert judge(quiet, clear + 0.01, firing) == {("alarm", "breaker 2 at 21% of its trip heat")}
    assert judge(quiet, clear - 0.01, firing) == set()
    opened = channel(quiet, 2, channel_breaker="open", channel_current=0.0)
    assert judge(opened, 0.9) == {("alarm", "breaker 2 open")}


def test_the_trip_alarm_follows_the_exporters_forecast(quiet: Reading) -> None:
    """Channel 1 at 2 x In: 80 s from cold on the curve; 40 s later half of it is left."""
    store = Store((UnitConfig("u", "127.0.0.1:1"),), 1e9)
    board = ProblemBoard(store, TripForecast(store))
    overloaded = band(channel(quiet, 1, channel_current=32.0), 1, None, None)
    store.record_success("u", at(overloaded, 1000.0), 0.01)
    store.record_success("u", at(overloaded, 1040.0), 0.01)
    texts = {p.key: p.text for p in board.of_unit("u", 1040.0)}
    assert texts["trip.1"] == "channel 1 trips in 0:40"
    assert texts["overload.1"] == "channel 1 over rating: 32.0 A of 16 A"


def test_supervision_band_above_and_below(quiet: Reading) -> None:
    assert said(channel(quiet, 4, channel_current=14.2)) == {
        ("warning", "channel 4 above its band: 14.2 A, max 14 A"),
        ("warning", "channel 4 near rating: 14.2 A of 16 A"),
    }
    # the switch off explains every dead output: no band warnings then
    off = quiet.with_values(switch_disconnector="off")
    dead = dataclasses.replace(
        off, channels=tuple(c.with_values(channel_current=0.0) for c in off.channels)
    )
    assert said(dead) == {("warning", "switch disconnector off")}


def test_phases_and_neutral_against_the_input_rating(quiet: Reading) -> None:
    assert said(quiet.with_values(neutral_current=85.0)) == {
        ("alarm", "neutral 85 A over the 63 A input")
    }
    assert said(phase(quiet, "L2", current=52.0)) == {("warning", "L2 52 A, 83% of the 63 A input")}
    assert said(phase(quiet, "L1", current=63.0)) == {
        ("warning", "L1 63 A, 100% of the 63 A input")
    }
    assert said(phase(quiet, "L1", current=63.5)) == {("alarm", "L1 64 A over the 63 A input")}
    stopped = phase(quiet.with_values(neutral_current=None), "L1", current=None)
    assert said(stopped) == set()  # the meter is stopped: nothing to judge


def test_an_input_level_is_left_only_below_its_hysteresis(quiet: Reading) -> None:
    def judge(amperes: float, held: Severity | None = None) -> set[str]:
        previous = {} if held is None else {"input.N": held}
        reading = quiet.with_values(neutral_current=amperes)
        return {p.severity.word for p in problems_of(UNIT, reading, {}, 0.0, previous=previous)}

    hysteresis = limits.INPUT_LOAD_HYSTERESIS.value * 63
    assert judge(63.5) == {"alarm"} and judge(62.5) == {"warning"}
    assert judge(63 - hysteresis + 0.3, Severity.ALARM) == {"alarm"}  # still held
    assert judge(63 - hysteresis - 0.3, Severity.ALARM) == {"warning"}
    assert judge(0.8 * 63 - hysteresis + 0.3, Severity.WARNING) == {"warning"}
    assert judge(0.8 * 63 - hysteresis - 0.3, Severity.WARNING) == set()
    assert judge(0.8 * 63 - 0.3) == set()  # not entered yet


def test_a_channel_load_level_is_left_only_below_its_hysteresis(quiet: Reading) -> None:
    def judge(amperes: float, **held: Severity) -> set[str]:
        previous = {f"{key}.3": severity for key, severity in held.items()}
        reading = channel(band(quiet, 3, None, None), 3, channel_current=amperes)
        return {p.key + ":" + p.severity.word
                for p in problems_of(UNIT, reading, {}, 0.0, previous=previous)}  # fmt: skip

    margin = limits.CHANNEL_LOAD_HYSTERESIS.value * 16  # 0.8 A of a 16 A RCBO
    near, over, heating = 0.8 * 16, 16.0, 1.05 * 16
    assert judge(near - 0.1) == set() and judge(near + 0.1) == {"near.3:warning"}
    assert judge(near - margin + 0.1, near=Severity.WARNING) == {"near.3:warning"}
    assert judge(near - margin - 0.1, near=Severity.WARNING) == set()
    assert judge(over - margin + 0.1, overload=Severity.WARNING) == {"overload.3:warning"}
    assert judge(over - margin - 0.1, overload=Severity.WARNING) == {"near.3:warning"}
    assert judge(heating - margin + 0.1, overload=Severity.ALARM) == {"overload.3:alarm"}
    assert judge(heating - margin - 0.1, overload=Severity.ALARM) == {"overload.3:warning"}
    assert judge(heating - margin + 0.1) == {"overload.3:warning"}  # not entered yet


def test_temperature_against_the_manuals_range(quiet: Reading) -> None:
    assert said(quiet.with_values(temperature=40.0)) == set()
    assert said(quiet.with_values(temperature=41.0)) == {
        ("warning", "temperature 41.0 °C, near the 45 °C limit")
    }
    assert said(quiet.with_values(temperature=46.2)) == {
        ("alarm", "temperature 46.2 °C over the 45 °C limit")
    }
    assert said(quiet.with_values(temperature=-2.0)) == {
        ("warning", "temperature -2.0 °C, below the 0 °C minimum")
    }
    assert said(quiet.with_values(temperature=None)) == set()


def test_supply_voltage_and_frequency_by_the_kind_of_supply(quiet: Reading) -> None:
    assert said(phase(quiet, "L2", voltage=198.0)) == {
        ("warning", "L2 at 198 V, outside 207-253 V")
    }
    assert said(phase(quiet, "L3", voltage=None)) == {("warning", "L3 not metered")}
    drifting = quiet.with_values(frequency=50.8)
    assert said(drifting) == {("warning", "frequency 50.80 Hz, outside 49.5-50.5 Hz")}
    generator = UnitState(UnitConfig("g", "127.0.0.1:1", supply="generator"))
    assert problems_of(generator, drifting, {}, 0.0) == []


def test_a_unit_that_cannot_be_read_is_down_with_its_poll_error(quiet: Reading) -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"),), staleness_s=15.0)
    state = store.get("u")
    assert state is not None
    assert problems_of(state, None, {}, 0.0) == []  # not polled yet: no evidence
    store.record_failure("u", "timeout", "no answer within 2 s", 2.0)
    (down,) = problems_of(state, None, {}, 1130.0, {"down": 1000.0})
    assert (down.key, down.severity, down.text) == ("down", Severity.DOWN, "unreachable for 2 min")
    assert down.detail == "timeout: no answer within 2 s" and down.since == 1000.0


def test_durations_in_words() -> None:
    assert [lasted(s) for s in (5, 130, 3600, 3900, 90000)] == [
        "under a minute", "2 min", "1 h", "1 h 5 min", "1 d 1 h"
    ]  # fmt: skip
    assert [clock(s) for s in (31.4, 299.6, 0)] == ["0:31", "5:00", "0:00"]


def test_a_duration_in_words_reads_the_same_until_it_may_change() -> None:
    for since in (1000.0, 1000.4):
        for now in (since - 3, since, since + 59.9, since + 60, since + 3599.5, since + 90000):
            changes = lasted_changes_at(since, now)
            assert now < changes <= max(now, since) + 60
            assert lasted(changes - 0.001 - since) == lasted(now - since)
        assert lasted(lasted_changes_at(since, since + 61) - since) == "2 min"


# --- the board --------------------------------------------------------------------------------


class MemoryLog:
    """A ProblemLog in memory, standing in for the SQLite one between two boards."""

    def __init__(self) -> None:
        self.open: dict[str, dict[str, Occurrence]] = {}
        self.identities: dict[str, Identity] = {}
        self.writes = 0

    def load(self) -> tuple[dict[str, dict[str, Occurrence]], dict[str, Identity]]:
        return {u: dict(o) for u, o in self.open.items()}, dict(self.identities)

    def save(self, unit: str, key: str, occurrence: Occurrence, problem: Problem) -> None:
        self.open.setdefault(unit, {})[key] = occurrence
        self.writes += 1

    def end(self, unit: str, keys: list[str]) -> None:
        for key in keys:
            del self.open[unit][key]

    def forget_unit(self, unit: str) -> None:
        self.open.pop(unit, None)

    def save_identity(self, unit: str, identity: Identity) -> None:
        self.identities[unit] = identity


def at(reading: Reading, taken_at: float) -> Reading:
    return dataclasses.replace(reading, taken_at=taken_at)


def test_the_board_keeps_since_and_acks_per_occurrence(quiet: Reading) -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"), UnitConfig("v", "127.0.0.1:2")), 1e9)
    log = MemoryLog()
    board = ProblemBoard(store, TripForecast(store), log)
    assert board.active(0.0) == [] and board.version == 0
    store.record_success("u", at(quiet, 100.0), 0.01)
    assert board.active(100.0) == []
    pressed = quiet.with_values(emergency_stop="pressed", switch_disconnector="off")
    store.record_success("u", at(pressed, 105.0), 0.01)
    store.record_success("v", at(channel(quiet, 5, channel_current=13.5), 106.0), 0.01)
    first = board.version
    assert [(p.unit, p.key) for p in board.active(110.0)] == [("u", "estop"), ("v", "near.5")]
    assert board.counts(110.0) == {Severity.ALARM: 1, Severity.DOWN: 0, Severity.WARNING: 1}
    store.record_success("u", at(pressed, 110.0), 0.01)
    (estop,) = board.of_unit("u", 110.0)
    assert estop.since == 105.0 and board.version == first  # the same occurrence, unchanged
    acked = board.acknowledge("u", "estop", "ed", 111.0)
    assert (acked.acked_by, acked.acked_at) == ("ed", 111.0) and board.version == first + 1
    assert board.of_unit("u", 112.0) == [acked]
    with pytest.raises(KeyError):
        board.acknowledge("u", "neutral", "ed", 112.0)
    # released: the occurrence ends; pressed again: a new one, not acknowledged
    store.record_success("u", at(quiet, 120.0), 0.01)
    assert board.of_unit("u", 120.0) == []
    store.record_success("u", at(pressed, 130.0), 0.01)
    (again,) = board.of_unit("u", 130.0)
    assert again.acked_by is None and again.since > estop.since


def test_a_warning_that_becomes_an_alarm_is_shown_again(quiet: Reading) -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"),), 1e9)
    board = ProblemBoard(store)
    unbanded = band(quiet, 5, None, None)
    store.record_success("u", at(channel(unbanded, 5, channel_current=16.4), 100.0), 0.01)
    board.acknowledge("u", "overload.5", "ed", 101.0)
    store.record_success("u", at(channel(unbanded, 5, channel_current=16.6), 102.0), 0.01)
    (still,) = board.of_unit("u", 102.0)
    assert still.acked_by == "ed" and still.text.startswith("channel 5 over rating: 16.6 A")
    store.record_success("u", at(channel(unbanded, 5, channel_current=18.0), 103.0), 0.01)
    (worse,) = board.of_unit("u", 103.0)
    assert worse.severity is Severity.ALARM and worse.acked_by is None
    assert worse.since == still.since  # the same occurrence, grown worse


def test_down_holds_the_other_occurrences_and_a_restart_keeps_them(quiet: Reading) -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"),), 1e9)
    log = MemoryLog()
    board = ProblemBoard(store, None, log)
    opened = channel(quiet, 3, channel_breaker="open", channel_current=0.0)
    store.record_success("u", at(opened, 100.0), 0.01)
    board.acknowledge("u", "breaker.3", "ed", 101.0)
    store.record_failure("u", "refused", "connection refused", 0.01)
    state = store.get("u")
    assert state is not None and state.last_error is not None
    down_now = state.last_error.at
    (down,) = board.of_unit("u", down_now)
    assert down.key == "down" and down.detail == "refused: connection refused"
    assert board.identity("u") == quiet.identity  # the last-known identity stays
    assert down.text == "unreachable for under a minute"
    version = board.version
    assert board.of_unit("u", down_now + 59)[0].text == "unreachable for under a minute"
    assert board.version == version  # nothing to redraw within the minute
    assert board.of_unit("u", down_now + 130)[0].text == "unreachable for 2 min"
    assert board.version == version + 1
    store.record_success("u", at(opened, down_now + 200), 0.01)
    (breaker,) = board.of_unit("u", down_now + 200)
    assert breaker.acked_by == "ed"  # back up, still open: the same acknowledged occurrence
    board.close()

    # a restart: a new store and board on the same log
    store = Store((UnitConfig("u", "127.0.0.1:1"),), 1e9)
    board = ProblemBoard(store, None, log)
    assert board.active(0.0) == []  # not read yet: held, not shown
    assert board.identity("u") == quiet.identity
    store.record_success("u", at(opened, down_now + 300), 0.01)
    (kept,) = board.active(down_now + 300)
    assert (kept.acked_by, kept.since) == ("ed", breaker.since)
    store.record_success("u", at(quiet, down_now + 310), 0.01)
    assert board.active(down_now + 310) == [] and log.open["u"] == {}


def test_a_reading_gone_stale_without_a_poll_is_down(quiet: Reading) -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"),), staleness_s=15.0)
    board = ProblemBoard(store)
    store.record_success("u", at(quiet, 100.0), 0.01)
    assert board.active(110.0) == []
    (down,) = board.active(120.0)
    assert down.severity is Severity.DOWN and down.detail == "reading too old"


def test_only_the_unit_whose_reading_went_stale_goes_down_and_the_board_keeps_no_backlog(
    quiet: Reading,
) -> None:
    names = ("a", "b", "c")
    store = Store(tuple(UnitConfig(n, "127.0.0.1:1") for n in names), staleness_s=15.0)
    board = ProblemBoard(store)
    for second in range(100, 200, 5):  # "c" is read once, "a" and "b" every 5 s
        for name in names if second == 100 else names[:2]:
            store.record_success(name, at(quiet, float(second)), 0.01)
        if second == 110:
            assert board.active(110.0) == []
    version, alarms = board.version, board.alarms_version
    (down,) = board.active(200.0)
    assert (down.unit, down.detail) == ("c", "reading too old")
    assert board.alarms_at(200.0) == board.alarms_version > alarms
    assert board.alarms_at(201.0) == board.alarms_version  # nothing new
    assert board.version > version
    # what the board keeps to find stale readings: the last readings of "a" and "b" (each
    # entry is dropped once its unit has a newer one), not every poll since the start
    assert len(board._by_age) <= 2 * len(names)


def test_a_problem_whose_words_alone_change_is_no_new_alarm() -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"),), staleness_s=15.0)
    board = ProblemBoard(store)
    store.record_failure("u", "timeout", "no answer within 2 s", 2.0)
    state = store.get("u")
    assert state is not None and state.last_error is not None
    down_at = state.last_error.at
    version, alarms = board.version, board.alarms_at(down_at)
    assert board.alarms_at(down_at + 130) == alarms  # "unreachable for 2 min": words only
    assert board.version == version + 1
    board.acknowledge("u", "down", "ed", down_at + 131)
    assert board.alarms_at(down_at + 131) == alarms + 1


def test_units_that_leave_the_fleet_take_their_problems(quiet: Reading) -> None:
    store = Store((UnitConfig("u", "127.0.0.1:1"),), 1e9)
    log = MemoryLog()
    board = ProblemBoard(store, None, log)
    store.record_success("u", at(quiet.with_values(neutral="lost"), 100.0), 0.01)
    assert board.active(100.0)
    store.reconcile(())
    assert board.active(100.0) == [] and "u" not in log.open
