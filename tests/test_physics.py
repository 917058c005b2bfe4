"""The simulator's physics on its own: one unit, no network, time passed in explicitly."""

from __future__ import annotations

import math
from typing import Any

import pytest

from c12exporter.modbus.registermap import MEASUREMENTS, SETTINGS, UNIT_SETTINGS
from c12exporter.model import Connector, Layout, UnitModel
from c12exporter.plugins import load_plugins
from c12exporter.simulator.physics import (
    DEMAND_SUBINTERVAL_S,
    DEMAND_WINDOW_S,
    RESIDUAL_TRIP_MA,
    ChannelSetup,
    ConstantLoad,
    Load,
    PhysicsError,
    UnitPhysics,
    load_state,
)
from c12exporter.simulator.scenarios import SCENARIOS, unit_channels

MODEL = load_plugins(entry_points=False).model("C12B-12")
RATING_A = MODEL.channel_rating_a
CURVE = MODEL.breaker
trip_time_s = CURVE.trip_time_s
HOUR_S = 3600.0
LED = Load(9.0, 0.95, harmonics={3: 0.8, 9: 0.15}, leakage_ma=3.0)


def unit(*loads: Load | None, seed: int = 1) -> UnitPhysics:
    """A unit with ``loads`` on channels 1, 2, ... (None = empty channel)."""
    return UnitPhysics(
        MODEL,
        seed,
        [ChannelSetup(ConstantLoad(load)) if load else ChannelSetup() for load in loads],
    )


def on_phase_l1(*loads: Load) -> UnitPhysics:
    """Loads on channels 1, 4, 7, 10: all on L1 with the default rotation."""
    channels: list[Load | None] = [None] * 12
    for i, load in enumerate(loads):
        channels[3 * i] = load
    return unit(*channels)


def m(physics: UnitPhysics) -> dict[str, Any]:
    return physics.measurements()


def l1(values: Any) -> float:
    return float(values[0])


# --- currents, neutral, power ------------------------------------------------------------


def test_balanced_linear_load_gives_neutral_near_zero() -> None:
    physics = unit(*[Load(10.0, 0.9)] * 12)
    values = m(physics)
    assert values["current"] == pytest.approx([40.0] * 3)
    assert values["neutral_current"] < 1e-9


def test_single_phase_load_returns_entirely_through_the_neutral() -> None:
    values = m(unit(Load(7.0, 0.8)))
    assert values["current"] == pytest.approx([7.0, 0.0, 0.0])
    assert values["neutral_current"] == pytest.approx(7.0)


def test_two_equal_resistive_phases_give_neutral_equal_to_one_phase() -> None:
    # Two equal phasors 120 degrees apart sum to the same magnitude.
    values = m(unit(Load(10.0), Load(10.0)))
    assert values["neutral_current"] == pytest.approx(10.0)


def test_led_walls_triplen_harmonics_push_neutral_above_phase_currents() -> None:
    values = m(unit(*[LED] * 12))
    fundamental = LED.current_a / math.sqrt(1 + 0.8**2 + 0.15**2)
    # Fundamentals cancel; 3rd and 9th of all 12 channels add up arithmetically.
    expected = math.hypot(12 * 0.8 * fundamental, 12 * 0.15 * fundamental)
    assert values["neutral_current"] == pytest.approx(expected)
    assert values["neutral_current"] > 1.5 * max(values["current"])
    assert values["current_thd"] == pytest.approx([math.hypot(0.8, 0.15)] * 3)


def test_phase_current_is_the_sum_of_its_channels() -> None:
    physics = on_phase_l1(*(Load(a, 0.9, harmonics={3: 0.2}) for a in (2.0, 3.0, 4.0, 5.0)))
    assert l1(m(physics)["current"]) == pytest.approx(14.0)
    # Loads with different power factors add as phasors: never more than the sum.
    mixed = on_phase_l1(Load(5.0, 1.0), Load(5.0, 0.5))
    assert l1(m(mixed)["current"]) == pytest.approx(5.0 * math.sqrt(3))  # 5∠0 + 5∠-60


@pytest.mark.parametrize("leading", [False, True])
def test_power_relations_per_phase(leading: bool) -> None:
    load = Load(10.0, 0.8, leading=leading, harmonics={3: 0.3})
    values = m(unit(load))
    v = l1(values["voltage"])
    fundamental = 10.0 / math.sqrt(1 + 0.3**2)
    p, q, s = (
        l1(values["phase_active_power"]),
        l1(values["phase_reactive_power"]),
        l1(values["phase_apparent_power"]),
    )
    assert p == pytest.approx(v * fundamental * 0.8)
    assert q == pytest.approx(v * fundamental * 0.6 * (-1 if leading else 1))
    assert s == pytest.approx(v * 10.0)
    assert l1(values["phase_power_factor"]) == pytest.approx(p / s)
    assert values["active_power"] == pytest.approx(p)
    assert values["power_factor"] == pytest.approx(p / s)
    assert l1(values["current_thd"]) == pytest.approx(0.3)


def test_unloaded_phase_reports_unity_power_factor() -> None:
    values = m(unit())
    assert values["phase_power_factor"] == [1.0, 1.0, 1.0]
    assert values["active_power"] == 0.0


def test_supply_voltage_and_frequency_are_realistic() -> None:
    physics = unit(Load(10.0))
    for t in range(1, 300):
        physics.advance(t)
        values = m(physics)
        assert all(207.0 <= v <= 253.0 for v in values["voltage"])
        assert all(0.0 < thd <= 0.08 for thd in values["voltage_thd"])
        assert 49.9 < values["frequency"] < 50.1
    physics.set_frequency(51.5)  # a generator running fast
    assert m(physics)["frequency"] == pytest.approx(51.5, abs=0.1)


# --- counters since power-up --------------------------------------------------------------


def test_energy_integrates_active_and_reactive_power() -> None:
    physics = unit(Load(10.0, 0.8))
    physics.advance(HOUR_S)
    values = m(physics)
    expected_j = 230.0 * 10.0 * 0.8 * HOUR_S  # one hour
    assert values["active_energy_import"] == pytest.approx(expected_j, rel=0.03)
    assert values["reactive_energy_import"] == pytest.approx(230.0 * 10.0 * 0.6 * HOUR_S, rel=0.03)
    assert values["active_energy_import"] == pytest.approx(
        values["active_power"] * HOUR_S, rel=0.005
    )
    assert values["uptime"] == HOUR_S


def test_demand_is_the_average_over_the_window() -> None:
    physics = unit(Load(10.0))
    physics.advance(120)
    early = m(physics)
    # Before the first complete window there is no demand and no maximum demand.
    assert early["demand_active_power"] is None and early["max_demand_active_power"] is None
    physics.advance(2 * DEMAND_WINDOW_S)
    full_w = m(physics)["demand_active_power"]
    assert full_w == pytest.approx(m(physics)["active_power"], rel=0.01)
    physics.set_load(1, Load())
    # Load off at 1800 s; at 2280 s the window is 1380..2280 s, loaded for 420 s of 900.
    physics.advance(2 * DEMAND_WINDOW_S + 480)
    partly = m(physics)
    assert partly["demand_active_power"] == pytest.approx(full_w * 420 / 900, rel=0.02)
    assert partly["max_demand_active_power"] >= full_w
    assert partly["max_demand_apparent_power"] >= partly["max_demand_active_power"]
    physics.advance(2 * DEMAND_WINDOW_S + 480 + DEMAND_SUBINTERVAL_S - 1)
    assert m(physics)["demand_active_power"] == partly["demand_active_power"]  # slides by 1 min


def test_maxima_and_thd_averages_are_kept_since_power_up() -> None:
    physics = unit(LED, LED, LED)
    physics.advance(60)
    peak = m(physics)
    physics.set_load(1, Load(2.0))
    physics.advance(120)
    values = m(physics)
    assert l1(values["current"]) == pytest.approx(2.0)
    assert l1(values["max_current"]) == pytest.approx(9.0)
    assert values["max_neutral_current"] == pytest.approx(peak["neutral_current"])
    # Half the time at the LED's THD, half at zero: the average lies between.
    assert 0.3 < l1(values["current_thd"]) < 0.6


# --- breakers -----------------------------------------------------------------------------


def time_to_trip(multiple: float, limit_s: float, read_every_s: float = 1.0) -> float | None:
    """Physics time at which channel 1, loaded at ``multiple`` x rating from time 0, first
    reads open when read every ``read_every_s``; None if not within ``limit_s``."""
    physics = unit(Load(multiple * RATING_A))
    if physics.measurements()["channel_breaker"][0] == "open":
        return 0.0
    for k in range(1, int(limit_s / read_every_s) + 1):
        physics.advance(k * read_every_s)
        if physics.measurements()["channel_breaker"][0] == "open":
            return k * read_every_s
    return None


def test_the_curve_passes_through_en_60947_2_conventional_currents() -> None:
    # Manual: "industrial grade (EN 60947-2) circuit breakers"; EN 60947-2: no trip within
    # 1 h at 1.05 In, a trip within 1 h at 1.30 In.
    assert trip_time_s(1.05) == math.inf
    assert 0 < trip_time_s(1.30) <= HOUR_S
    assert trip_time_s(1.30) == 1800.0
    assert trip_time_s(CURVE.instantaneous_multiple) == 0.0
    times = [trip_time_s(x / 100) for x in range(106, 1200, 7)]
    assert times == sorted(times, reverse=True)
    assert all(0 < t < math.inf for t in times)


def test_the_curve_table_points_are_its_times() -> None:
    for multiple, seconds in CURVE.points[1:]:
        if multiple < CURVE.instantaneous_multiple:
            assert trip_time_s(multiple) == pytest.approx(seconds)
        else:  # the magnetic band starts at the table's end
            assert trip_time_s(multiple) == 0.0
            assert trip_time_s(multiple - 1e-6) == pytest.approx(seconds)
    # Between the non-tripping current and 1.30 In the time falls as 1 / (m - 1.05).
    assert trip_time_s(1.10) == pytest.approx(1800.0 * 0.25 / 0.05)


@pytest.mark.parametrize(
    ("multiple", "read_every_s"),
    [(1.30, 1.0), (1.5, 1.0), (2.0, 0.5), (3.0, 0.05), (5.0, 0.01), (10.0, 0.01), (11.0, 0.01)],
)
def test_rcbo_trips_at_the_curve_time_between_physics_steps(
    multiple: float, read_every_s: float
) -> None:
    """The breaker opens at the curve's time, not at the next whole physics second."""
    expected = trip_time_s(multiple)
    trip = time_to_trip(multiple, expected + 2, read_every_s)
    assert trip is not None
    assert expected <= trip + 1e-9 < expected + read_every_s + 1e-9
    physics = unit(Load(multiple * RATING_A))
    physics.advance(expected + 0.5)
    channel = physics.snapshot()["channels"][0]
    assert channel["trip_cause"] == "overcurrent"
    assert channel["tripped_at_s"] == pytest.approx(expected)


def test_trip_time_does_not_depend_on_how_often_the_unit_is_read() -> None:
    rarely = unit(Load(5.0 * RATING_A))
    rarely.advance(60)
    often = unit(Load(5.0 * RATING_A))
    for k in range(1, 6001):
        often.advance(k / 100)
    assert rarely.snapshot()["channels"][0]["tripped_at_s"] == pytest.approx(
        often.snapshot()["channels"][0]["tripped_at_s"]
    )
    assert rarely.measurements() == often.measurements()


def test_a_load_set_between_steps_heats_from_that_moment() -> None:
    physics = unit()
    physics.advance(10.4)
    physics.set_load(1, Load(3.0 * RATING_A))
    physics.advance(40)
    assert physics.snapshot()["channels"][0]["tripped_at_s"] == pytest.approx(10.4 + 20.0)


def test_a_varying_overload_adds_its_shares_of_the_curve() -> None:
    """Half the time to trip at 2 In, then 5 In: it trips after half of 5 In's time."""
    physics = unit(Load(2.0 * RATING_A))
    physics.advance(trip_time_s(2.0) / 2)
    physics.set_load(1, Load(5.0 * RATING_A))
    physics.advance(200)
    expected = trip_time_s(2.0) / 2 + trip_time_s(5.0) / 2
    assert physics.snapshot()["channels"][0]["tripped_at_s"] == pytest.approx(expected)


def heat(physics: UnitPhysics, channel: int = 1) -> float:
    return float(physics.snapshot()["channels"][channel - 1]["trip_progress"])


def test_below_the_non_tripping_current_the_heat_relaxes_towards_what_the_current_holds() -> None:
    """One time constant whatever the current; towards 0 at 0 A, towards the dashpot's
    equilibrium at the rating: 1.0 In cools less than 0 A."""
    tau = CURVE.cooling_time_constant_s
    at_rating, off = unit(Load(2.0 * RATING_A)), unit(Load(2.0 * RATING_A))
    for physics in (at_rating, off):
        physics.advance(40)
        assert heat(physics) == pytest.approx(0.5)
    at_rating.set_load(1, Load(RATING_A))
    off.set_load(1, Load(0.0))
    at_rating.advance(40 + tau)
    off.advance(40 + tau)
    held = CURVE.equilibrium(1.0)
    assert held == pytest.approx(CURVE.equilibrium_at_non_tripping / 1.05**2)
    assert heat(at_rating) == pytest.approx(held + (0.5 - held) / math.e)
    assert heat(off) == pytest.approx(0.5 / math.e)
    at_rating.advance(40 + 20 * tau)
    assert heat(at_rating) == pytest.approx(held, abs=1e-6)


def test_a_cold_breaker_warms_to_the_equilibrium_of_its_current_and_never_trips() -> None:
    physics = unit(Load(RATING_A))
    physics.advance(CURVE.cooling_time_constant_s)
    assert heat(physics) == pytest.approx(CURVE.equilibrium(1.0) * (1 - 1 / math.e))
    physics.advance(HOUR_S)
    assert heat(physics) == pytest.approx(CURVE.equilibrium(1.0))
    assert m(physics)["channel_breaker"][0] == "closed"


@pytest.mark.parametrize("opening", ["open_rcbo", "press_test_button"])
def test_the_heat_survives_an_opening_by_hand_or_by_the_test_button(opening: str) -> None:
    """At 75 % heat switched off and on again at once: 2 In trips it after a quarter of
    its 80 s, not a full 80 s."""
    physics = unit(Load(2.0 * RATING_A))
    physics.advance(0.75 * trip_time_s(2.0))
    getattr(physics, opening)(1)
    assert m(physics)["channel_breaker"][0] == "open"
    assert heat(physics) == pytest.approx(0.75)
    physics.reset_rcbo(1)
    physics.advance(HOUR_S)
    tripped = physics.snapshot()["channels"][0]["tripped_at_s"]
    assert tripped == pytest.approx(trip_time_s(2.0), abs=0.01)


def test_an_open_breaker_relaxes_with_the_same_time_constant() -> None:
    physics = unit(Load(2.0 * RATING_A))
    physics.advance(trip_time_s(2.0))  # tripped: the core is at the end of its tube
    assert m(physics)["channel_breaker"][0] == "open"
    assert heat(physics) == pytest.approx(1.0)
    physics.advance(trip_time_s(2.0) + CURVE.cooling_time_constant_s)
    left = 1.0 / math.e
    assert heat(physics) == pytest.approx(left)
    physics.reset_rcbo(1)  # closed again on the same overload: 1 - heat of its 80 s
    start = physics.time_s
    physics.advance(start + HOUR_S)
    tripped = physics.snapshot()["channels"][0]["tripped_at_s"]
    assert tripped - start == pytest.approx((1 - left) * trip_time_s(2.0), abs=0.01)


def test_rcbo_trips_instantly_in_the_magnetic_band() -> None:
    assert time_to_trip(CURVE.instantaneous_multiple, 1) == 0.0
    physics = unit(Load(CURVE.instantaneous_multiple * RATING_A))
    assert physics.snapshot()["channels"][0]["trip_cause"] == "short_circuit"


def test_no_trip_at_1_05_in() -> None:
    physics = unit(Load(CURVE.non_tripping_multiple * RATING_A))
    physics.advance(4 * HOUR_S)
    values = m(physics)
    assert values["channel_breaker"][0] == "closed"
    assert values["channel_load"][0] == "slight_overload"


def test_open_rcbo_gives_zero_current_and_led_off() -> None:
    physics = unit(Load(5.0))
    physics.open_rcbo(1)
    values = m(physics)
    assert values["channel_current"][0] == 0.0
    assert values["channel_breaker"][0] == "open"
    assert values["channel_load"][0] == "off"
    physics.reset_rcbo(1)
    assert m(physics)["channel_current"][0] == pytest.approx(5.0)


def test_earth_leakage_trips_at_30_ma() -> None:
    physics = unit(Load(5.0), Load(5.0))
    physics.set_leakage(1, RESIDUAL_TRIP_MA - 1)
    physics.set_leakage(2, RESIDUAL_TRIP_MA)
    values = m(physics)
    assert values["channel_breaker"][:2] == ["closed", "open"]
    assert physics.snapshot()["channels"][1]["trip_cause"] == "earth_leakage"
    physics.reset_rcbo(2)  # the fault is still there: it trips again at once
    assert m(physics)["channel_breaker"][1] == "open"
    physics.set_leakage(2, 1.0)
    physics.reset_rcbo(2)
    assert m(physics)["channel_breaker"][1] == "closed"


def test_test_button_trips_only_with_power_on_the_outputs() -> None:
    physics = unit(Load(5.0))
    physics.press_test_button(3)  # an empty channel trips too
    assert m(physics)["channel_breaker"][2] == "open"
    physics.switch(False)
    with pytest.raises(PhysicsError, match="no supply"):
        physics.press_test_button(1)
    assert m(physics)["channel_breaker"][0] == "closed"


@pytest.mark.parametrize(
    ("current_a", "state"),
    [
        (0.0, "off"),
        (0.049, "off"),
        (0.05, "normal"),
        (16.0, "normal"),
        (16.01, "slight_overload"),
        (23.2, "slight_overload"),
        (23.21, "serious_overload"),
    ],
)
def test_load_led_thresholds(current_a: float, state: str) -> None:
    assert load_state(current_a, RATING_A) == state


# --- safety chain, meter fuses, power ---------------------------------------------------


def test_estop_trips_the_switch_and_keeps_metering_voltage() -> None:
    physics = unit(*[Load(5.0)] * 12)
    physics.press_estop()
    values = m(physics)
    assert (values["emergency_stop"], values["switch_disconnector"]) == ("pressed", "off")
    assert values["channel_current"] == [0.0] * 12
    assert values["current"] == [0.0] * 3
    assert all(v is not None and v > 200 for v in values["voltage"])
    assert values["channel_breaker"] == ["closed"] * 12  # the RCBOs did not trip
    with pytest.raises(PhysicsError, match="emergency stop"):
        physics.switch(True)
    physics.release_estop()
    assert m(physics)["switch_disconnector"] == "off"  # released, but the switch stays off
    physics.switch(True)
    assert m(physics)["channel_current"] == pytest.approx([5.0] * 12)


def test_loss_of_neutral_trips_the_switch() -> None:
    physics = unit(Load(5.0))
    physics.lose_neutral()
    values = m(physics)
    assert (values["neutral"], values["switch_disconnector"], values["channel_current"][0]) == (
        "lost",
        "off",
        0.0,
    )
    assert values["voltage"][0] is not None
    with pytest.raises(PhysicsError, match="neutral"):
        physics.switch(True)
    physics.restore_neutral()
    physics.switch(True)
    assert m(physics)["channel_current"][0] == pytest.approx(5.0)


def test_blown_meter_fuse_silences_that_phase_only() -> None:
    physics = unit(*[Load(5.0, 0.9)] * 12)
    physics.advance(10)
    physics.set_fuse("L2", ok=False)
    values = m(physics)
    for name in (
        "voltage",
        "voltage_thd",
        "phase_active_power",
        "phase_reactive_power",
        "phase_apparent_power",
    ):
        assert values[name][1] is None, name
        assert values[name][0] is not None and values[name][2] is not None, name
    assert values["phase_power_factor"][1] is None
    assert values["current"][1] == pytest.approx(20.0)  # channels on L2 still carry current
    assert values["channel_current"][1] == pytest.approx(5.0)
    assert values["active_power"] == pytest.approx(
        values["phase_active_power"][0] + values["phase_active_power"][2]
    )
    assert values["frequency"] is not None
    physics.set_fuse("L2", ok=True)
    assert m(physics)["voltage"][1] is not None


def test_all_meter_fuses_blown_leaves_no_frequency() -> None:
    physics = unit(Load(5.0))
    for phase in ("L1", "L2", "L3"):
        physics.set_fuse(phase, ok=False)
    values = m(physics)
    assert values["frequency"] is None and values["power_factor"] is None
    MEASUREMENTS.decode(MEASUREMENTS.encode(values))  # still a valid block


def test_power_loss_resets_the_counters_but_not_settings_or_breakers() -> None:
    physics = unit(Load(10.0), Load(5.0))
    physics.set_name(1, "Amp rack")
    physics.set_supervision(1, 1.0, 12.0)
    physics.open_rcbo(2)
    physics.advance(HOUR_S)
    assert m(physics)["active_energy_import"] > 1000
    physics.power_loss()
    physics.advance(HOUR_S + 600)
    physics.power_restore()
    values = m(physics)
    assert values["uptime"] == 0
    assert values["active_energy_import"] == 0.0 and values["reactive_energy_import"] == 0.0
    assert values["max_demand_active_power"] is None and values["demand_active_power"] is None
    assert values["max_current"] == pytest.approx([10.0, 0.0, 0.0])  # only what flows now
    assert values["channel_current"][0] == pytest.approx(10.0)
    assert values["channel_breaker"][1] == "open"
    assert physics.settings()["channel_name"][0] == "Amp rack"
    physics.advance(HOUR_S + 660)
    assert m(physics)["uptime"] == 60


def test_temperature_is_the_ambient_whatever_the_load_and_follows_it() -> None:
    idle, loaded = unit(), unit(*[Load(RATING_A)] * 12)
    for physics in (idle, loaded):
        physics.set_ambient(24.0, soaked=True)
        physics.advance(4 * HOUR_S)
        assert m(physics)["temperature"] == pytest.approx(24.0)
    assert sum(m(loaded)["current"]) == pytest.approx(12 * RATING_A, rel=0.01)
    idle.set_ambient(40.0)
    idle.advance(4 * HOUR_S + 60)
    assert 24.0 < m(idle)["temperature"] < 40.0  # the sensor lags
    idle.advance(8 * HOUR_S)
    assert m(idle)["temperature"] == pytest.approx(40.0)


# --- settings, determinism, register ranges ----------------------------------------------


def test_settings_round_trip_through_the_register_block() -> None:
    physics = unit()
    physics.set_name(3, "LED wall SL")
    physics.set_supervision(3, None, 14.0)
    physics.set_unit_name("Stage left")
    values = physics.settings()
    block = {
        **SETTINGS.decode(SETTINGS.encode(values)),
        **UNIT_SETTINGS.decode(UNIT_SETTINGS.encode(values)),
    }
    other = unit()
    other.apply_settings(block)
    assert other.settings() == physics.settings()
    with pytest.raises(ValueError, match="16 bytes"):
        physics.set_name(1, "x" * 17)
    with pytest.raises(ValueError, match="outside"):
        physics.set_supervision(1, None, 70.0)


def test_same_seed_same_readings_whatever_the_read_cadence() -> None:
    stepped, jumped = unit(LED, Load(3.0), seed=7), unit(LED, Load(3.0), seed=7)
    for t in range(1, 601):
        stepped.advance(t)
    jumped.advance(600)
    assert stepped.measurements() == jumped.measurements()
    other = unit(LED, Load(3.0), seed=8)
    other.advance(600)
    assert other.measurements()["voltage"] != jumped.measurements()["voltage"]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_stays_inside_the_register_map(name: str) -> None:
    chosen = SCENARIOS[name]
    for index in range(len(chosen.roles)):
        physics = UnitPhysics(MODEL, index, unit_channels(chosen, index, seed=3))
        for t in (0, 60, 900, 2 * HOUR_S):
            physics.advance(t)
            MEASUREMENTS.decode(MEASUREMENTS.encode(physics.measurements()))
            SETTINGS.decode(SETTINGS.encode(physics.settings()))


def test_concert_led_wall_unit_has_neutral_above_its_phases() -> None:
    physics = UnitPhysics(MODEL, 0, unit_channels(SCENARIOS["concert"], 0, seed=0))
    physics.advance(600)
    values = m(physics)
    assert values["neutral_current"] > max(values["current"])


def test_overload_scenario_trips_breakers_over_time() -> None:
    physics = UnitPhysics(MODEL, 0, unit_channels(SCENARIOS["overload"], 0, seed=0))
    assert m(physics)["channel_load"][:4] == ["serious_overload"] * 2 + ["slight_overload"] * 2
    physics.advance(120)
    assert m(physics)["channel_breaker"][:4] == ["open", "closed", "closed", "closed"]
    physics.advance(600)
    assert m(physics)["channel_breaker"][:4] == ["open", "open", "closed", "closed"]
    physics.advance(HOUR_S)
    assert m(physics)["channel_breaker"][:4] == ["open", "open", "open", "closed"]


@pytest.mark.parametrize(
    "bad",
    [
        {"current_a": -1.0},
        {"current_a": 5.0, "cos_phi": 0.0},
        {"current_a": 5.0, "harmonics": {2: 0.1}},
        {"current_a": 5.0, "leakage_ma": -1.0},
    ],
)
def test_impossible_loads_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Load(**bad)


def test_supply_action_sets_phase_voltage_and_its_distortion() -> None:
    from c12exporter.plugins import load_plugins
    from c12exporter.simulator.physics import UnitPhysics

    physics = UnitPhysics(load_plugins(entry_points=False).model("C12B-12"), seed=3)
    physics.set_supply("L2", voltage_v=200.0, voltage_thd=0.12)
    values = physics.measurements()
    voltage = values["voltage"]
    assert isinstance(voltage, list) and voltage[1] is not None
    assert 198.0 < voltage[1] < 201.0  # no load on L2: only the noise moves it
    assert voltage[0] is not None and 220.0 < voltage[0] < 240.0
    thd = values["voltage_thd"]
    assert isinstance(thd, list) and thd[1] == pytest.approx(0.12, abs=0.002)


# --- a model of another channel count -----------------------------------------------------


def _wide_model(channels: int) -> UnitModel:
    """A model of ``channels`` channels (one True1 connector each), aux on the last."""
    layout = Layout(
        "1",
        f"{channels} x True1",
        tuple(
            Connector(str(n), "Neutrik True1", 3, {n: ("L", "N")}) for n in range(1, channels + 1)
        ),
        channel_count=channels,
    )
    return UnitModel("W24B-11", layout, MODEL.aux_socket, aux_channel=channels)


def test_a_24_channel_unit_feeds_its_phases_and_neutral_from_all_its_channels() -> None:
    wide = _wide_model(24)
    physics = UnitPhysics(wide, 1, [ChannelSetup(ConstantLoad(Load(5.0)))] * 24)
    physics.advance(2.0)
    values = m(physics)
    assert len(values["channel_current"]) == 24
    assert values["current"] == pytest.approx([40.0] * 3, rel=0.01)  # 8 channels of 5 A each
    assert values["neutral_current"] == pytest.approx(0.0, abs=0.5)  # balanced, linear
    physics.press_test_button(24)  # the aux channel's RCBO, as any other
    values = m(physics)
    assert values["channel_breaker"][23] == "open" and values["channel_current"][23] == 0.0
    assert values["current"][2] == pytest.approx(35.0, rel=0.01)  # ch24 is on L3
    assert values["neutral_current"] == pytest.approx(5.0, rel=0.05)
    with pytest.raises(ValueError, match=r"channel 25 does not exist; channels are 1\.\.24"):
        physics.set_load(25, Load(1.0))
    with pytest.raises(ValueError, match=r"a W24B-11 has 24 channels, got 25"):
        UnitPhysics(wide, 1, [ChannelSetup()] * 25)


def test_a_wider_unit_repeats_its_roles_loads_over_its_channels() -> None:
    concert = SCENARIOS["concert"]
    twelve = unit_channels(concert, 1, seed=0)
    wide = unit_channels(concert, 1, seed=0, channel_count=24)
    assert wide[:12] == twelve  # the first 12 exactly as a C12B's, same draws
    assert [s.name.rsplit(" ", 1)[0] for s in wide[12:]] == [
        s.name.rsplit(" ", 1)[0] for s in twelve
    ]
