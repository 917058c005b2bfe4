"""Every PromQL expression of the bundled alert rules and dashboards, run against a real
Prometheus scraping the exporter and a simulated fleet, returns data.

The fleet is put into a state where every alert's condition holds somewhere (faults
injected through the simulator's control interface), so alert expressions are checked
for returning series, not merely for parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.promql_inventory import all_promql_expressions, substitute
from tests.servers import (
    LOOPBACK,
    Prometheus,
    SimulatorControl,
    exporter,
    free_port,
    prometheus,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration

UNITS = 8
SMALL_AUX_SOCKETS = ("3", "4", "5")  # UK 13 A, Australian 10 A, Swiss 10 A
PHASE_OF_CHANNEL = {ch: ("L1", "L2", "L3")[(ch - 1) % 3] for ch in range(1, 13)}


def set_loads(control: SimulatorControl, name: str, amps: dict[int, float], **extra: float) -> None:
    for channel in range(1, 13):
        control.act(name, "set_load", channel=channel, current_a=amps.get(channel, 0.0), **extra)


def inject_every_alert_condition(control: SimulatorControl) -> None:
    units = control.units()
    small_aux = next(u["name"] for u in units if u["model"][-1] in SMALL_AUX_SOCKETS)
    others = [u["name"] for u in units if u["name"] != small_aux]
    estop, neutral, hot, supply, dead, channels, harmonics = others[:7]

    control.act(estop, "estop")  # e-stop pressed, switch disconnector off
    control.act(estop, "ambient", celsius=-5, soaked=True)  # below the 0 °C minimum
    control.act(neutral, "neutral_lose")
    control.act(hot, "fuse_blow", phase="L2")  # silent meter phase
    control.act(hot, "ambient", celsius=60, soaked=True)  # above 40 and 45 °C
    control.act(hot, "frequency", frequency_hz=51.5)  # outside the grid band
    # Power-cycled after the warm-up: its energy counter restarted, and its averages
    # since power-up (voltage THD) are what the supply gives now.
    control.act(supply, "power_loss")
    control.act(supply, "power_restore")
    control.act(supply, "supply", phase="L1", voltage_v=262)  # out of range, unbalanced
    control.act(supply, "supply", phase="L2", voltage_thd=0.12)  # voltage THD over 8 %
    control.act(dead, "network", mode="kill")  # unit down
    # Breaker open, band violated, near rating, over rating, serious overload with a
    # trip forecast under 5 minutes (the physics is frozen, so nothing trips meanwhile).
    set_loads(control, channels, {1: 3.0, 2: 6.0, 3: 14.0, 4: 18.0, 5: 30.0})
    control.act(channels, "rcbo_test", channel=1)
    control.act(channels, "set_supervision", channel=2, min_a=1.0, max_a=4.0)
    # Twelve 12.5 A LED-wall channels: about 50 A on each phase and 85 A on the neutral,
    # above every phase current and above the 63 A input rating.
    set_loads(control, harmonics, dict.fromkeys(range(1, 13), 12.5), third_harmonic=0.69)
    # Channel 12 above a small aux socket's rating, and every other load on L1 only:
    # phase current imbalance.
    set_loads(control, small_aux, {1: 15.0, 4: 15.0, 12: 14.0})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    tmp = tmp_path_factory.mktemp("promql")
    with (
        # warmed up past the first 15 min demand window
        simulator(tmp, UNITS, "--speed", "0", "--seed", "3", "--warmup", "1200") as (
            control,
            units_file,
        ),
        exporter(
            tmp,
            f"poll: {{interval: 1s, timeout: 500ms}}\nunits_files: [{units_file}]\n"
            "history: {rcbo_test_period: 1s}\n",  # every RCBO's test is overdue at once
        ) as url,
    ):
        inject_every_alert_condition(control)
        nothing_listens = f"{LOOPBACK}:{free_port()}"  # an exporter that is down
        targets = [url.removeprefix("http://"), nothing_listens]
        scrape = [{"job_name": "c12", "static_configs": [{"targets": targets}]}]
        with prometheus(tmp, scrape) as server:
            wait_until(lambda: server.value('count(up{job="c12"})') == 2, 30, "both targets")
            wait_until(lambda: server.value("count(c12_voltage_missing == 1)") == 1, 30, "faults")
            # Range functions (increase, rate, resets) need a few samples after the faults.
            wait_until(
                lambda: server.value('count_over_time(c12_up{pdu="sim-01"}[1h])') >= 6,  # type: ignore[operator]
                30, "six scrapes",
            )  # fmt: skip
            yield server


EXPRESSIONS = all_promql_expressions()


@pytest.mark.parametrize(("source", "expr"), EXPRESSIONS, ids=[s for s, _ in EXPRESSIONS])
def test_expression_returns_data(live: Prometheus, source: str, expr: str) -> None:
    result = live.query(substitute(expr))
    assert result, f"{source}: no data for\n{substitute(expr)}"


def test_inventory_covers_every_alert_and_dashboard() -> None:
    sources = {s.split(":")[0] for s, _ in EXPRESSIONS}
    repo = Path(__file__).resolve().parent.parent
    assert sources == {
        "alerts/c12-alerts.yml",
        *(f"dashboards/{p.name}" for p in (repo / "dashboards").glob("*.json")),
    }
    assert len([s for s in {s for s, _ in EXPRESSIONS} if s.startswith("alerts/")]) >= 20
