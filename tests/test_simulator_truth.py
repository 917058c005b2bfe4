"""The simulated unit against its manual, read over real sockets by the exporter's own
reader: ambient temperature, demand over complete windows, the meter powered from L1,
overloads the registers hold, and channels wired to other phases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from c12exporter.config import load_config
from c12exporter.measurements import CHANNEL_COUNT, PHASES
from c12exporter.modbus.registermap import MEASUREMENTS
from c12exporter.plugins import load_plugins
from c12exporter.poller import UnitReader
from c12exporter.prometheus.collector import FleetCollector
from c12exporter.reading import Reading
from c12exporter.settings import UnitConfig
from c12exporter.simulator.physics import (
    DEMAND_WINDOW_S,
    METER_MEASUREMENTS,
    ChannelSetup,
    ConstantLoad,
    Load,
    UnitPhysics,
)
from c12exporter.simulator.server import Fleet, SimulatedUnit, SimulatorError, channel_phases
from c12exporter.store import Store
from tests.servers import REPO, promtool

pytestmark = pytest.mark.integration

PLUGINS = load_plugins(entry_points=False)
TIMEOUT_S = 5.0
RATING_A = 16.0
RULES = REPO / "alerts" / "c12-alerts.yml"


@asynccontextmanager
async def one_unit(**options: Any) -> AsyncIterator[SimulatedUnit]:
    """One frozen unit (physics time moves only when the test advances it), all channels
    empty."""
    options = {"models": ("C12B-12",), "speed": 0.0, "plugins": PLUGINS} | options
    fleet = await Fleet.start(1, scenario_name="idle-bench", **options)
    try:
        unit = fleet.units[0]
        for channel in range(1, CHANNEL_COUNT + 1):
            unit.physics.set_load(channel, Load())
        yield unit
    finally:
        await fleet.stop()


async def poll(unit: SimulatedUnit, config: UnitConfig | None = None) -> Reading:
    """One poll by the exporter's reader, over Modbus TCP."""
    reader = UnitReader(config or UnitConfig(unit.name, unit.address), PLUGINS, TIMEOUT_S)
    try:
        return await reader.read()
    finally:
        await reader.close()


def exposition(config: UnitConfig, reading: Reading) -> str:
    store = Store((config,), staleness_s=60)
    store.record_success(config.name, reading, 0.01)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store))
    return generate_latest(registry).decode()


def series(text: str, metric: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(metric + "{")]


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


# --- temperature: the ambient the manual's 45 °C is about ---------------------------------


def full_load_unit(ambient_c: float) -> UnitPhysics:
    model = PLUGINS.model("C12B-12")
    physics = UnitPhysics(model, 1, [ChannelSetup(ConstantLoad(Load(RATING_A)))] * CHANNEL_COUNT)
    physics.set_ambient(ambient_c, soaked=True)
    return physics


def promtool_case(physics: UnitPhysics, minutes: int) -> str:
    """A promtool rule test: the unit's temperature and channel currents, sampled from the
    simulator once a minute, against the temperature alerts at the end."""
    temperatures, currents = [], []
    for minute in range(minutes + 1):
        physics.advance(60.0 * minute)
        values = physics.measurements()
        temperatures.append(f"{values['temperature']:.1f}")
        currents.append(values["channel_current"])
    labels = 'job="c12",instance="127.0.0.1:9864",pdu="rack"'
    input_series = [
        {"series": f"c12_temperature_celsius{{{labels}}}", "values": " ".join(temperatures)}
    ] + [
        {
            "series": f'c12_channel_current_amperes{{{labels},channel="{n + 1}"}}',
            "values": " ".join(f"{row[n]:.2f}" for row in currents),
        }
        for n in range(CHANNEL_COUNT)
    ]
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": input_series,
                "alert_rule_test": [
                    {"eval_time": f"{minutes}m", "alertname": name, "exp_alerts": []}
                    for name in ("C12TemperatureNearLimit", "C12TemperatureOverLimit")
                ],
            }
        ],
    }
    return yaml.safe_dump(test, allow_unicode=True)


def test_full_load_at_24_c_ambient_reads_24_c_and_fires_no_temperature_alert(
    tmp_path: Path,
) -> None:
    physics = full_load_unit(24.0)
    case = tmp_path / "full-load.yml"
    case.write_text(promtool_case(physics, 60), encoding="utf-8")
    values = physics.measurements()
    assert values["channel_current"] == pytest.approx([RATING_A] * CHANNEL_COUNT)
    assert values["temperature"] == pytest.approx(24.0)  # the ambient, as documented
    result = promtool("test", "rules", str(case))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_case_fails_when_the_ambient_is_above_the_limit(tmp_path: Path) -> None:
    """The check above can fail: at 46 °C ambient the expected silence is wrong."""
    case = tmp_path / "hot.yml"
    case.write_text(promtool_case(full_load_unit(46.0), 60), encoding="utf-8")
    result = promtool("test", "rules", str(case))
    assert result.returncode != 0 and "C12TemperatureOverLimit" in result.stdout + result.stderr


# --- demand: complete 15 min windows only -------------------------------------------------


def test_a_burst_after_power_up_is_no_maximum_demand_until_a_window_completes() -> None:
    async def test() -> None:
        async with one_unit() as unit:
            physics = unit.physics
            for channel in range(1, CHANNEL_COUNT + 1):  # one minute at full load
                physics.set_load(channel, Load(RATING_A))
            physics.advance(60)
            burst_w = physics.measurements()["active_power"]
            for channel in range(1, CHANNEL_COUNT + 1):
                physics.set_load(channel, Load())
            physics.advance(DEMAND_WINDOW_S - 60)
            config = UnitConfig(unit.name, unit.address)
            early = await poll(unit)
            for name in ("demand_active_power", "max_demand_active_power",
                         "demand_apparent_power", "max_demand_apparent_power"):  # fmt: skip
                assert early.values[name] is None, name
            text = exposition(config, early)
            assert not series(text, "c12_max_demand_active_power_watts")
            assert not series(text, "c12_demand_active_power_watts")

            physics.advance(DEMAND_WINDOW_S)  # the first window, 0..900 s, is complete
            first = await poll(unit)
            window_w = first.values["max_demand_active_power"]
            assert isinstance(window_w, int | float) and isinstance(burst_w, float)
            # The burst spread over the window it fell in, not the power of the burst.
            assert window_w == pytest.approx(burst_w * 60 / DEMAND_WINDOW_S, rel=0.02)
            assert first.values["demand_active_power"] == pytest.approx(window_w, rel=0.001)
            text = exposition(config, first)
            (line,) = series(text, "c12_max_demand_active_power_watts")
            assert float(line.rsplit(" ", 1)[1]) == pytest.approx(window_w, abs=1.0)

    run(test())


# --- the meter is powered from L1 ---------------------------------------------------------


def test_a_blown_l1_meter_fuse_stops_the_meter_and_the_channels_are_still_read() -> None:
    async def test() -> None:
        async with one_unit(warmup_s=2 * DEMAND_WINDOW_S) as unit:
            physics = unit.physics_now()
            for channel in (1, 2, 3):  # one channel on each phase
                physics.set_load(channel, Load(5.0 * channel))
            physics.advance(physics.time_s + 60)
            config = UnitConfig(unit.name, unit.address)

            physics.set_fuse("L2", ok=False)
            reading = await poll(unit)
            assert reading.values["metered_phases"] == 2
            p = {ph.phase: ph.values["phase_active_power"] for ph in reading.phases}
            assert p["L2"] is None
            assert reading.values["active_power"] == pytest.approx(p["L1"] + p["L3"], abs=2)

            physics.set_fuse("L1", ok=False)
            reading = await poll(unit)
            assert reading.values["metered_phases"] == 0
            for name in METER_MEASUREMENTS:
                scoped = [reading.values.get(name)] + [ph.values.get(name) for ph in reading.phases]
                assert all(v is None for v in scoped), name
            assert [c.current_a for c in reading.channels[:3]] == pytest.approx([5, 10, 15])
            text = exposition(config, reading)
            assert 'c12_up{pdu="sim-01"} 1.0' in text
            assert 'c12_metered_phases{pdu="sim-01"} 0.0' in text
            for metric in ("c12_current_amperes", "c12_voltage_volts", "c12_active_power_watts",
                           "c12_active_energy_import_joules_total"):  # fmt: skip
                assert not series(text, metric), metric
            assert 'c12_channel_current_amperes{channel="3",pdu="sim-01"} 15.0' in text

            uptime = reading.uptime_s
            physics.set_fuse("L1", ok=True)  # the meter starts again and counts from 0
            physics.advance(physics.time_s + 10)
            reading = await poll(unit)
            assert reading.values["metered_phases"] == 2
            assert reading.uptime_s == uptime + 10
            assert reading.values["active_energy_import"] == pytest.approx(
                10 * (p["L1"] + p["L3"]), rel=0.05
            )
            assert reading.values["max_demand_active_power"] is None

    run(test())


def test_every_meter_measurement_may_be_reported_not_available() -> None:
    stopped = UnitPhysics(PLUGINS.model("C12B-12"), 1)
    stopped.set_fuse("L1", ok=False)
    decoded = MEASUREMENTS.decode(MEASUREMENTS.encode(stopped.measurements()))
    assert decoded["metered_phases"] == 0
    assert {name for name, v in decoded.items() if v is None or v == [None] * 3} == set(
        METER_MEASUREMENTS
    )


# --- overload: read as it is, the unit stays up -------------------------------------------


def test_two_channels_at_120_a_on_one_phase_are_reported_not_a_down_unit() -> None:
    async def test() -> None:
        async with one_unit() as unit:
            for channel in (1, 4):  # both on L1
                unit.physics.set_load(channel, Load(120.0))
            reading = await poll(unit)
            truth = unit.physics.snapshot()["phases"]["L1"]
            l1 = reading.phases[0]
            assert l1.current_a == pytest.approx(240.0, abs=0.02)
            assert l1.values["phase_active_power"] == pytest.approx(truth["active_power_w"], abs=1)
            assert isinstance(truth["active_power_w"], float) and truth["active_power_w"] > 50e3
            assert [reading.channels[i].load_state for i in (0, 3)] == ["serious_overload"] * 2
            text = exposition(UnitConfig(unit.name, unit.address), reading)
            assert 'c12_up{pdu="sim-01"} 1.0' in text
            assert 'c12_channel_load_level{channel="4",pdu="sim-01"} 3.0' in text
            (line,) = [s for s in series(text, "c12_phase_active_power_watts") if "L1" in s]
            assert float(line.rsplit(" ", 1)[1]) > 50e3

    run(test())


@pytest.mark.parametrize("phases", [None, ("L1",) * CHANNEL_COUNT])
def test_the_registers_hold_the_largest_loads_the_model_allows(
    phases: tuple[str, ...] | None,
) -> None:
    model = PLUGINS.model("C12B-12")
    most = [ChannelSetup(ConstantLoad(Load(650.0, harmonics={3: 2.0})))] * CHANNEL_COUNT
    physics = UnitPhysics(model.with_phases(phases) if phases else model, 1, most)
    values = physics.measurements()
    decoded = MEASUREMENTS.decode(MEASUREMENTS.encode(values))  # raises on a fault
    for name in ("current", "neutral_current", "phase_active_power", "active_power",
                 "apparent_power", "voltage"):  # fmt: skip
        assert decoded[name] == pytest.approx(values[name], abs=0.5), name


# --- channels wired to other phases -------------------------------------------------------


def test_channel_phases_are_a_rotation_or_one_per_channel() -> None:
    assert channel_phases(["L2", "L3", "L1"])[:4] == ("L2", "L3", "L1", "L2")
    assert channel_phases(["l1"] * 12) == ("L1",) * 12
    for wrong in (["L1", "L2"], ["L1", "L2", "L4"]):
        with pytest.raises(SimulatorError):
            channel_phases(wrong)


def test_a_rewired_simulated_unit_reaches_the_metric_labels_through_its_config(
    tmp_path: Path,
) -> None:
    async def test() -> None:
        units_file = tmp_path / "sim-units.yml"
        async with one_unit(phases=["L2", "L3", "L1"], units_file=units_file) as unit:
            unit.physics.set_load(1, Load(7.0))
            (config,) = load_config(units_file, PLUGINS).units
            assert config.phases == channel_phases(["L2", "L3", "L1"])
            reading = await poll(unit, config)
            assert [c.phase for c in reading.channels[:4]] == ["L2", "L3", "L1", "L2"]
            currents = {p.phase: p.current_a for p in reading.phases}
            assert currents == pytest.approx({"L1": 0.0, "L2": 7.0, "L3": 0.0}, abs=0.01)
            text = exposition(config, reading)
            (info,) = [s for s in series(text, "c12_channel_info") if 'channel="1"' in s]
            assert 'phase="L2"' in info

            # The config alone decides the labels: the same unit, said to be all on L3.
            on_l3 = UnitConfig(unit.name, unit.address, phases=("L3",) * CHANNEL_COUNT)
            text = exposition(on_l3, await poll(unit, on_l3))
            phases = {s.split('phase="')[1].split('"')[0] for s in series(text, "c12_channel_info")}
            assert phases == {"L3"}

    run(test())


def test_the_units_file_lists_phases_only_for_a_rewired_fleet() -> None:
    plain = Fleet.build(1, speed=0.0, plugins=PLUGINS)
    rewired = Fleet.build(1, speed=0.0, plugins=PLUGINS, phases=["L3", "L1", "L2"])
    assert "phases:" not in plain.units_yaml()
    (unit,) = yaml.safe_load(rewired.units_yaml())["units"]
    assert unit["phases"][:3] == ["L3", "L1", "L2"] and set(unit["phases"]) == set(PHASES)


def test_the_power_up_time_holds_within_the_poll_jitter_and_jumps_at_a_restart() -> None:
    """A unit up for an hour, read over Modbus TCP at real speed: the power-up time on
    /metrics (reading time less uptime) stays within the poll jitter and the uptime
    register's whole seconds. Powered off and on between two polls, it moves on by the
    hour it had been up: the restart shows though nobody read the unit while it was off."""
    from c12exporter.simulator.actions import apply_action

    async def test() -> tuple[list[float], float]:
        async with one_unit(speed=1.0, warmup_s=3600.0) as unit:
            config = UnitConfig(unit.name, unit.address)
            seen = []
            for _ in range(6):
                text = exposition(config, await poll(unit, config))
                (line,) = series(text, "c12_power_up_time_seconds")
                seen.append(float(line.split()[-1]))
                await asyncio.sleep(0.4)
            await apply_action(unit, {"action": "power_loss"})
            await asyncio.sleep(1.0)
            await apply_action(unit, {"action": "power_restore"})
            reading = await poll(unit, config)
            (line,) = series(exposition(config, reading), "c12_power_up_time_seconds")
            assert reading.uptime_s < 5.0
            return seen, float(line.split()[-1])

    seen, after = asyncio.run(test())
    # Whole seconds of uptime plus the time between the unit's answer and the reading's
    # timestamp: well under a second alone, more on a machine busy with other tests.
    assert max(seen) - min(seen) <= 3.0, seen
    assert after - max(seen) == pytest.approx(3600.0, abs=10.0)
