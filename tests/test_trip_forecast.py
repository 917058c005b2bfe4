"""The trip forecast: its computation from readings, and against the simulator's breakers
over real sockets (Modbus reads by the poller, loads set through the control API)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from c12exporter.forecast import TripForecast
from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.prometheus.collector import FleetCollector
from c12exporter.prometheus.exposition import CachedExposition
from c12exporter.reading import Identity, Reading, build_reading
from c12exporter.settings import PollConfig, UnitConfig
from c12exporter.simulator.control import ControlClient, ControlServer
from c12exporter.simulator.physics import ChannelSetup, ConstantLoad, Load, UnitPhysics
from c12exporter.simulator.server import Fleet
from c12exporter.store import Store
from c12exporter.telemetry import Telemetry
from tests.servers import LOOPBACK, exporter, http_get, promtool, simulator, wait_until

RULES = Path(__file__).resolve().parents[1] / "alerts" / "c12-alerts.yml"
PLUGINS = load_plugins(entry_points=False)
MODEL = PLUGINS.model("C12B-12")
CURVE = MODEL.breaker
RATING_A = MODEL.channel_rating_a
IDENTITY = Identity("StageSmarts", MODEL.name, "1.2.0", "SS0001")
CHANNEL = 3  # empty in the first unit of the idle-bench scenario
TOLERANCE = 0.10


# --- the computation, on readings made from the physics (no network) ------------------------


class Unit:
    """One simulated unit's physics, read into a store at chosen times."""

    def __init__(self, *loads: Load | None) -> None:
        setups = [ChannelSetup(ConstantLoad(load)) if load else ChannelSetup() for load in loads]
        self.physics = UnitPhysics(MODEL, 1, setups)
        self.store = Store((UnitConfig("u", "127.0.0.1:1"),), staleness_s=1e10)
        self.forecast = TripForecast(self.store)

    def read(self, t_s: float) -> Reading:
        self.physics.advance(t_s)
        values = {**self.physics.measurements(), **self.physics.settings()}
        reading = build_reading("u", IDENTITY, MODEL, 1000.0 + t_s, values)
        self.store.record_success("u", reading, 0.01)
        return reading


def test_a_steady_overload_counts_down_from_the_curve_time() -> None:
    unit = Unit(Load(2.0 * RATING_A))
    assert unit.forecast.of(unit.read(0)) == {1: pytest.approx(CURVE.trip_time_s(2.0))}
    assert unit.forecast.of(unit.read(30)) == {1: pytest.approx(CURVE.trip_time_s(2.0) - 30)}
    assert unit.forecast.progress("u", 1) == pytest.approx(30 / CURVE.trip_time_s(2.0))


def test_no_forecast_within_the_rating_or_where_the_curve_never_trips() -> None:
    unit = Unit(Load(RATING_A), Load(1.03 * RATING_A), None, Load(1.5 * RATING_A))
    unit.read(0)
    assert set(unit.forecast.of(unit.read(10))) == {4}


def test_an_overload_that_steps_up_gets_what_is_left_of_the_new_curve_time() -> None:
    unit = Unit(Load(2.0 * RATING_A))
    unit.read(0)
    unit.read(40)  # half of 2 In's 80 s
    unit.physics.set_load(1, Load(5.0 * RATING_A))
    assert unit.forecast.of(unit.read(40)) == {1: pytest.approx(CURVE.trip_time_s(5.0) / 2)}


def simulated_heat(unit: Unit, channel: int = 1) -> float:
    return float(unit.physics.snapshot()["channels"][channel - 1]["trip_progress"])


def test_heat_follows_the_simulated_dashpot_through_cooling_and_openings() -> None:
    """The exporter's heat is the simulator's: it relaxes towards what 0.5 In holds,
    survives a hand switch-off and the T button, and reaches 1 at an overcurrent trip."""
    unit = Unit(Load(2.0 * RATING_A))
    unit.read(0)
    unit.read(40)
    unit.physics.set_load(1, Load(0.5 * RATING_A))
    unit.read(40)
    assert unit.forecast.of(unit.read(40 + CURVE.cooling_time_constant_s)) == {}
    held = CURVE.equilibrium(0.5)
    assert unit.forecast.progress("u", 1) == pytest.approx(held + (0.5 - held) / math.e)
    assert unit.forecast.progress("u", 1) == pytest.approx(simulated_heat(unit))
    t = 40 + CURVE.cooling_time_constant_s
    unit.physics.set_load(1, Load(2.0 * RATING_A))
    unit.read(t)
    reading = unit.read(t + 20)
    before = unit.forecast.heat(reading)[1]
    unit.physics.open_rcbo(1)
    unit.read(t + 20)
    unit.physics.reset_rcbo(1)
    reading = unit.read(t + 20)
    assert unit.forecast.heat(reading)[1] == pytest.approx(before)
    assert unit.forecast.of(reading) == {1: pytest.approx((1 - before) * CURVE.trip_time_s(2.0))}
    unit.physics.press_test_button(1)
    unit.read(t + 20)
    reading = unit.read(t + 50)
    assert unit.forecast.heat(reading)[1] == pytest.approx(simulated_heat(unit))
    assert unit.forecast.heat(reading)[1] < before
    unit.physics.reset_rcbo(1)
    unit.read(t + 50)
    reading = unit.read(t + 400)  # tripped on the way: the core reached the end
    assert unit.physics.measurements()["channel_breaker"][0] == "open"
    assert unit.forecast.heat(reading)[1] == 1.0
    assert unit.forecast.of(reading) == {}
    reading = unit.read(t + 400 + CURVE.cooling_time_constant_s)  # open: it cools
    assert unit.forecast.heat(reading)[1] == pytest.approx(1 / math.e)


def test_every_channel_has_a_heat_and_a_first_seen_one_sits_at_its_equilibrium() -> None:
    unit = Unit(Load(RATING_A), None, Load(2.0 * RATING_A))
    heat = unit.forecast.heat(unit.read(0))
    assert set(heat) == set(range(1, 13))
    assert heat[1] == pytest.approx(CURVE.equilibrium(1.0))
    assert heat[2] == 0.0
    assert heat[3] == 0.0  # overloaded when first seen: assumed cold


def test_an_older_reading_gets_no_forecast_and_a_removed_unit_is_forgotten() -> None:
    unit = Unit(Load(2.0 * RATING_A))
    old = unit.read(0)
    unit.read(10)
    assert unit.forecast.of(old) == {}
    unit.store.reconcile(())
    assert unit.forecast.progress("u", 1) == 0.0


def test_metrics_serve_the_forecast_of_overloaded_channels_and_every_heat() -> None:
    unit = Unit(Load(2.0 * RATING_A), Load(RATING_A))
    unit.read(0)
    unit.read(30)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(unit.store, forecast=unit.forecast))
    cached = CachedExposition(unit.store, forecast=unit.forecast).render().decode()
    for text in (generate_latest(registry).decode(), cached):
        values = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("c12_channel_trip_forecast_seconds{")
        }
        assert values == {
            'c12_channel_trip_forecast_seconds{channel="1",pdu="u"}': pytest.approx(50.0)
        }
        heat = {
            line.split(" ")[0]: float(line.split(" ")[1])
            for line in text.splitlines()
            if line.startswith("c12_channel_breaker_heat_ratio{")
        }
        assert len(heat) == 12
        assert heat['c12_channel_breaker_heat_ratio{channel="1",pdu="u"}'] == pytest.approx(
            30 / CURVE.trip_time_s(2.0)
        )
        assert heat['c12_channel_breaker_heat_ratio{channel="2",pdu="u"}'] == pytest.approx(
            CURVE.equilibrium(1.0)
        )


# --- against the simulator, over real sockets ------------------------------------------------


@pytest.mark.integration
def test_the_exporter_serves_the_forecast(tmp_path: Path) -> None:
    """``c12exporter serve`` keeps a forecast: /metrics shows it for an overloaded channel."""
    series = 'c12_channel_trip_forecast_seconds{channel="2",pdu="sim-01"} '
    with (
        simulator(tmp_path, 1, "--speed", "0") as (control, units_file),
        exporter(
            tmp_path, f"poll: {{interval: 1s, timeout: 500ms}}\nunits_files: [{units_file}]\n"
        ) as url,
    ):
        control.act("sim-01", "set_load", channel=2, current_a=2.0 * RATING_A)

        def served() -> float | None:
            for line in http_get(f"{url}/metrics").splitlines():
                if line.startswith(series):
                    return float(line.removeprefix(series))
            return None

        seconds = wait_until(served, 30, "the forecast on /metrics")
        assert 0 < seconds <= CURVE.trip_time_s(2.0)


@dataclass(frozen=True)
class Outcome:
    forecast_s: float
    simulated_s: float
    """Physics seconds from the poll that first saw the overload to the poll that saw the
    breaker open."""

    @property
    def error(self) -> float:
        return abs(self.forecast_s - self.simulated_s) / self.simulated_s


async def overload(speed: float, steps: Sequence[tuple[float, float]]) -> Outcome:
    """Load channel :data:`CHANNEL` with ``steps`` of (x In, physics seconds to hold; the
    last one until the trip), polling the unit back to back through the poller; the
    forecast is taken at the first poll that sees the last step."""
    async with await Fleet.start(
        1, scenario_name="idle-bench", speed=speed, plugins=PLUGINS, models=(MODEL.name,)
    ) as fleet:
        unit = fleet.units[0]
        config = UnitConfig(unit.name, unit.address)
        store = Store((config,), staleness_s=60)
        poller = Poller((config,), PLUGINS, store, PollConfig(60, 2), Telemetry())
        forecast = TripForecast(store)
        clock = fleet.clock
        try:
            async with (
                ControlServer(fleet, host=LOOPBACK, port=0) as control,
                ControlClient(control.url) as http,
            ):

                async def poll() -> tuple[Reading, float]:
                    before = clock.now()
                    await poller.poll_unit(unit.name)
                    state = store.get(unit.name)
                    assert state is not None and state.reading is not None
                    return state.reading, (before + clock.now()) / 2

                await poll()
                for multiple, hold_s in steps[:-1]:
                    await http.act(unit.name, "set_load", channel=CHANNEL,
                                   current_a=multiple * RATING_A)  # fmt: skip
                    until = clock.now() + hold_s
                    while clock.now() < until:
                        await poll()
                last = steps[-1][0] * RATING_A
                await http.act(unit.name, "set_load", channel=CHANNEL, current_a=last)
                reading, start = await poll()
                channel = reading.channels[CHANNEL - 1]
                assert channel.breaker_closed and channel.current_a == pytest.approx(last)
                predicted = forecast.of(reading)[CHANNEL]
                while reading.channels[CHANNEL - 1].breaker_closed:
                    reading, at = await poll()
                return Outcome(predicted, at - start)
        finally:
            forecast.close()
            await poller.stop()


# Speeds chosen so that each trip takes about 2.5 s of real time.
STEADY = [(1.3, 600.0), (2.0, 32.0), (3.0, 8.0), (5.0, 2.0), (10.0, 0.5)]


@pytest.mark.parametrize(("multiple", "speed"), STEADY, ids=[f"{m:g}In" for m, _ in STEADY])
def test_forecast_at_the_start_of_a_steady_overload_matches_the_simulated_trip(
    multiple: float, speed: float
) -> None:
    outcome = asyncio.run(overload(speed, [(multiple, 0.0)]))
    assert outcome.forecast_s == pytest.approx(CURVE.trip_time_s(multiple))
    assert outcome.error < TOLERANCE, outcome


def test_forecast_after_a_prior_overload_matches_the_simulated_trip() -> None:
    """3 In for half its 20 s, then 5 In: the breaker has 2.5 s left, not 5 s. At real
    speed, since the exporter measures time between readings by the clock."""
    outcome = asyncio.run(overload(1.0, [(3.0, 10.0), (5.0, 0.0)]))
    assert outcome.forecast_s < 0.75 * CURVE.trip_time_s(5.0)
    assert outcome.error < TOLERANCE, outcome


@pytest.mark.slow
def test_forecast_after_an_overload_that_cooled_matches_the_simulated_trip() -> None:
    """2 In for half its 80 s, then 0.5 In for a minute (the heat relaxes with the curve's
    time constant towards what 0.5 In holds), then 3 In: less than its 20 s is left, more
    than half of it."""
    outcome = asyncio.run(overload(1.0, [(2.0, 40.0), (0.5, 60.0), (3.0, 0.0)]))
    held = CURVE.equilibrium(0.5)
    left = 1.0 - held - (0.5 - held) * math.exp(-60.0 / CURVE.cooling_time_constant_s)
    assert outcome.forecast_s == pytest.approx(left * CURVE.trip_time_s(3.0), rel=0.05)
    assert outcome.error < TOLERANCE, outcome


# --- a load swinging in and out of an overload ---------------------------------------------


def test_a_swinging_load_keeps_its_heat_between_overloads() -> None:
    """0.8 In and 2 In in turn, 20 s each (physics time, no network), read every 5 s: the
    forecast is served only during the overloads, the heat at every reading, the same as
    the simulator's, rising from one overload to the next (51-88 % at the 0.8 In readings
    before the trip) until the breaker trips in the fifth overload."""
    unit = Unit(Load(0.8 * RATING_A))
    t, trace = 3600.0, []  # an hour at 0.8 In: both at its equilibrium
    unit.read(t)
    while unit.physics.measurements()["channel_breaker"][0] == "closed" and t < 4200:
        for multiple in (2.0, 0.8):
            unit.physics.set_load(1, Load(multiple * RATING_A))
            unit.read(t)  # the change is read at once
            for _ in range(4):
                t += 5
                reading = unit.read(t)
                trace.append((t, multiple, reading.channels[0].breaker_closed,
                              unit.forecast.heat(reading)[1], 1 in unit.forecast.of(reading),
                              simulated_heat(unit)))  # fmt: skip
    closed = [row for row in trace if row[2]]
    assert all(heat == pytest.approx(simulated) for *_, heat, _, simulated in closed)
    quiet = [(heat, forecast) for _, multiple, _, heat, forecast, _ in closed if multiple < 1]
    assert not any(forecast for _, forecast in quiet)
    assert max(heat for heat, _ in quiet) > 0.8  # heat served where no forecast is
    tripped = next(row for row in trace if not row[2])
    assert tripped[3] == 1.0 and 3600 + 150 < tripped[0] < 3600 + 200  # the fifth overload


Swing = tuple[float, float, bool, float, float | None, float]
"""One poll of a swinging load: seconds since the start, x In set, breaker closed, the
exporter's heat, its forecast (``None``: none served), the simulator's heat."""


async def swing(
    high: float, high_s: float, low: float, low_s: float, limit_s: float
) -> list[Swing]:
    """Channel :data:`CHANNEL` swinging between ``high`` and ``low`` x In (physics seconds
    each) at real speed, polled back to back through the poller over Modbus TCP until its
    breaker trips."""
    async with await Fleet.start(
        1, scenario_name="idle-bench", speed=1.0, plugins=PLUGINS, models=(MODEL.name,)
    ) as fleet:
        unit = fleet.units[0]
        config = UnitConfig(unit.name, unit.address)
        store = Store((config,), staleness_s=60)
        poller = Poller((config,), PLUGINS, store, PollConfig(60, 2), Telemetry())
        forecast = TripForecast(store)
        clock = fleet.clock
        trace: list[Swing] = []
        try:
            async with (
                ControlServer(fleet, host=LOOPBACK, port=0) as control,
                ControlClient(control.url) as http,
            ):
                start = clock.now()
                closed = True
                while closed and clock.now() - start < limit_s:
                    for multiple, hold_s in ((high, high_s), (low, low_s)):
                        await http.act(unit.name, "set_load", channel=CHANNEL,
                                       current_a=multiple * RATING_A)  # fmt: skip
                        until = clock.now() + hold_s
                        while closed and clock.now() < until:
                            await poller.poll_unit(unit.name)
                            state = store.get(unit.name)
                            assert state is not None and state.reading is not None
                            reading = state.reading
                            closed = reading.channels[CHANNEL - 1].breaker_closed
                            simulated = unit.physics_now().snapshot()["channels"][CHANNEL - 1]
                            trace.append((
                                clock.now() - start, multiple, closed,
                                forecast.heat(reading)[CHANNEL], forecast.of(reading).get(CHANNEL),
                                float(simulated["trip_progress"]),
                            ))  # fmt: skip
            return trace
        finally:
            forecast.close()
            await poller.stop()


def test_a_swinging_load_over_real_sockets_has_a_heat_at_every_poll_until_the_trip() -> None:
    """5 In for 1.5 s and 0.8 In for 2 s in turn (each 5 In pulse takes 30 % of the way to
    a trip), against the simulator at real speed: the forecast is absent at every 0.8 In
    poll, also at 60-90 % heat, while the heat is served at every poll, follows the
    simulator's, and is close to 1 when the breaker opens in the fourth pulse."""
    trace = asyncio.run(swing(5.0, 1.5, 0.8, 2.0, limit_s=30.0))
    assert not trace[-1][2], "the breaker did not trip"
    before_trip = [row for row in trace if row[2]]
    assert len(before_trip) > 50
    # The exporter sees each change one poll late (the earlier current is taken to flow
    # until the next reading): at each change of load it may count up to the poll gap
    # around it at the wrong rate (5 In adds 1/5 of the heat a second), plus up to 0.1 s
    # by which the reading's time and the moment the simulator answered may be apart on a
    # busy machine.
    # The load starts before the first poll, which may come late on a busy machine.
    lag = (trace[0][0] + 0.1) / CURVE.trip_time_s(5.0)
    for previous, row in zip(trace, before_trip[1:], strict=False):
        if previous[1] != row[1]:
            lag += (row[0] - previous[0] + 0.1) / CURVE.trip_time_s(5.0)
        _, multiple, _, heat, seconds, simulated = row
        assert (seconds is not None) == (multiple > 1.0)
        assert heat == pytest.approx(simulated, abs=0.02 + lag)
    quiet_heat = [heat for _, multiple, _, heat, _, _ in before_trip if multiple < 1.0]
    assert max(quiet_heat) > 0.55
    assert trace[-1][3] > 0.95  # the overload up to the poll that saw the breaker open
    assert 9.0 < trace[-1][0] < 20.0


def test_the_trip_alert_holds_from_the_first_overload_to_the_trip(tmp_path: Path) -> None:
    """The swinging load over real sockets, scraped once a second into promtool with the
    bundled rules: C12ChannelTripForecast fires at the first overload and stays firing at
    every evaluation until the breaker opens, though the forecast it once fired on alone
    is absent for 2 s in every 3.5 s."""
    trace = asyncio.run(swing(5.0, 1.5, 0.8, 2.0, limit_s=30.0))
    assert not trace[-1][2], "the breaker did not trip"
    scraped = {int(row[0]): row for row in trace}  # the last poll of each second
    seconds = range(max(scraped) + 1)
    rows = [scraped.get(t) for t in seconds]
    for t in seconds:  # a second without a poll shows the poll before it
        rows[t] = rows[t] or rows[t - 1]
    assert all(row is not None for row in rows)
    series = 'job="c12",instance="127.0.0.1:9864",pdu="sim-01",channel="3"'

    def values(pick: Callable[[Swing], str]) -> str:
        return " ".join(pick(row) for row in rows if row is not None)

    heat = values(lambda row: f"{row[3]:.4f}")
    forecast = values(lambda row: "stale" if row[4] is None else f"{row[4]:.1f}")
    closed = values(lambda row: "1" if row[2] else "0")
    firing = [t for t, row in enumerate(rows) if row is not None and row[2]]
    assert "stale" in forecast  # the forecast alone would have let the alert go
    labels = {"job": "c12", "instance": "127.0.0.1:9864", "pdu": "sim-01", "channel": "3",
              "alertname": "C12ChannelTripForecast", "alertstate": "firing",
              "severity": "critical", "scope": "channel"}  # fmt: skip
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1s",
        "tests": [{
            "interval": "1s",
            "input_series": [
                {"series": f"c12_channel_breaker_heat_ratio{{{series}}}", "values": heat},
                {"series": f"c12_channel_trip_forecast_seconds{{{series}}}", "values": forecast},
                {"series": f"c12_channel_breaker_closed{{{series}}}", "values": closed},
                {"series": f"c12_channel_info{{{series}}}", "values": f"1x{len(rows)}"},
            ],
            "promql_expr_test": [
                {"expr": 'ALERTS{alertname="C12ChannelTripForecast"}', "eval_time": f"{t}s",
                 "exp_samples": [{"labels": _selector(labels), "value": 1}]}
                for t in firing
            ],
        }],
    }  # fmt: skip
    path = tmp_path / "swing.yml"
    path.write_text(yaml.safe_dump(test), encoding="utf-8")
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _selector(labels: Mapping[str, str]) -> str:
    return "ALERTS{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
