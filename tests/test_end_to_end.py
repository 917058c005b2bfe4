"""The whole path: simulator -> Modbus TCP -> exporter -> a real Prometheus scraping it.

The fleet's physics is frozen (``--speed 0``) so what Prometheus stores can be
compared exactly with the registers the simulator serves.
"""

from __future__ import annotations

import gzip
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import (
    Prometheus,
    SimulatorControl,
    exporter,
    http_get,
    prometheus,
    promtool,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration

UNITS = 10
POLL = "poll: {interval: 1s, timeout: 500ms}\n"


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SimulatorControl, Prometheus, str]]:
    tmp = tmp_path_factory.mktemp("e2e")
    with (
        simulator(tmp, UNITS, "--speed", "0", "--seed", "7", "--scenario", "concert") as (
            control,
            units_file,
        ),
        exporter(tmp, f"{POLL}units_files: [{units_file}]\n") as url,
    ):
        host = url.removeprefix("http://")
        scrape = [{"job_name": "c12", "static_configs": [{"targets": [host]}]}]
        with prometheus(tmp, scrape) as server:
            wait_until(lambda: server.value("count(c12_up == 1)") == UNITS, 30, "all units up")
            yield control, server, url


def names(control: SimulatorControl) -> list[str]:
    return [u["name"] for u in control.units()]


def test_unit_names_come_from_the_simulators_file(stack) -> None:  # type: ignore[no-untyped-def]
    control, server, _ = stack
    assert sorted(server.by_label("c12_up", "pdu")) == sorted(names(control))


def _healthy(control: SimulatorControl) -> list[str]:
    return names(control)[:3]


def test_channel_currents_match_the_simulator(stack) -> None:  # type: ignore[no-untyped-def]
    control, server, _ = stack
    for name in _healthy(control):
        meter = control.unit(name)["meter"]["measurements"]
        got = server.by_label(f'c12_channel_current_amperes{{pdu="{name}"}}', "channel")
        assert {int(k): v for k, v in got.items()} == {
            n + 1: pytest.approx(a, abs=0.005) for n, a in enumerate(meter["channel_current"])
        }


def test_phase_voltages_neutral_and_line_currents_match(stack) -> None:  # type: ignore[no-untyped-def]
    control, server, _ = stack
    for name in _healthy(control):
        meter = control.unit(name)["meter"]["measurements"]
        volts = server.by_label(f'c12_voltage_volts{{pdu="{name}"}}', "phase")
        assert volts == {p: pytest.approx(v, abs=0.05) for p, v in
                         zip(("L1", "L2", "L3"), meter["voltage"], strict=True)}  # fmt: skip
        amps = server.by_label(f'c12_current_amperes{{pdu="{name}"}}', "phase")
        expected = dict(zip(("L1", "L2", "L3"), meter["current"], strict=True))
        expected["N"] = meter["neutral_current"]
        assert amps == {p: pytest.approx(a, abs=0.005) for p, a in expected.items()}


def test_neutral_is_the_phasor_sum_not_the_arithmetic_one(stack) -> None:  # type: ignore[no-untyped-def]
    """In the concert scenario LED walls' triplen harmonics push N above a phase current
    on at least one unit; the exporter must carry that through unchanged."""
    _, server, _ = stack
    above = server.query('c12_current_amperes{phase="N"} > on(pdu) group_left '
                         'max by (pdu) (c12_current_amperes{phase=~"L[123]"})')  # fmt: skip
    assert above, "expected at least one unit with N above its highest phase current"


def test_info_metrics_carry_model_and_channel_layout(stack) -> None:  # type: ignore[no-untyped-def]
    control, server, _ = stack
    for unit in control.units():
        info = server.query(f'c12_unit_info{{pdu="{unit["name"]}"}}')
        assert len(info) == 1
        assert info[0]["metric"]["model"] == unit["model"]
        assert info[0]["metric"]["serial"] == unit["serial"]
    name = names(control)[0]
    channels = server.query(f'c12_channel_info{{pdu="{name}"}}')
    assert sorted(int(c["metric"]["channel"]) for c in channels) == list(range(1, 13))
    assert {c["metric"]["phase"] for c in channels} == {"L1", "L2", "L3"}


def test_exposition_passes_promtool(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, url = stack
    body = http_get(f"{url}/metrics")
    result = promtool("check", "metrics", stdin=body)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == ""


def test_gzip_metrics_are_what_prometheus_scrapes(stack) -> None:  # type: ignore[no-untyped-def]
    """Prometheus asks for gzip: the body assembled from compressed pieces must decode
    (CRC and length checked) to the same exposition, and Prometheus must take it all."""
    _, server, url = stack
    request = urllib.request.Request(f"{url}/metrics", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(response.read()).decode()
    result = promtool("check", "metrics", stdin=body)
    assert result.returncode == 0, result.stdout + result.stderr
    unit_series = sum(1 for line in body.splitlines() if line.startswith("c12_") and "pdu=" in line)
    assert server.value('up{job="c12"}') == 1
    stored = server.value('count({job="c12", __name__=~"c12_.+", pdu!=""})')
    assert stored == unit_series, (stored, unit_series)


def test_the_exporter_serves_its_own_process_figures(stack) -> None:  # type: ignore[no-untyped-def]
    """prometheus-client's standard process and Python series, as Prometheus stores them."""
    _, server, _ = stack
    wait_until(
        lambda: server.value('process_resident_memory_bytes{job="c12"}') or None,
        30,
        "the exporter's resident memory in Prometheus",
    )
    assert server.value('process_resident_memory_bytes{job="c12"}') > 20 * 2**20
    assert server.value('process_open_fds{job="c12"}') > UNITS  # a connection per unit
    assert server.value('count(python_gc_collections_total{job="c12"})') == 3  # generations
    assert server.value('count(python_info{job="c12"})') == 1


def test_probe_returns_only_that_unit(stack) -> None:  # type: ignore[no-untyped-def]
    control, _, url = stack
    name = names(control)[1]
    body = http_get(f"{url}/probe?target={name}")
    pdus = {line.split('pdu="')[1].split('"')[0] for line in body.splitlines() if 'pdu="' in line}
    assert pdus == {name}
    assert f'c12_up{{pdu="{name}"}} 1.0' in body


def test_landing_page_lists_units(stack) -> None:  # type: ignore[no-untyped-def]
    control, _, url = stack
    page = http_get(f"{url}/")
    for name in names(control):
        assert name in page


def _wait_down_with_reason(server: Prometheus, name: str, reason: str) -> None:
    wait_until(lambda: server.value(f'c12_up{{pdu="{name}"}}') == 0, 15, f"{name} up 0")
    wait_until(
        lambda: (server.value(f'c12_poll_errors_total{{pdu="{name}",reason="{reason}"}}') or 0) > 0,
        15, f"{name} error reason {reason}",
    )  # fmt: skip
    # No measurement of a unit that cannot be read: only health series remain.
    wait_until(
        lambda: not server.query(f'c12_channel_current_amperes{{pdu="{name}"}}'), 10,
        f"{name} measurements gone",
    )  # fmt: skip
    assert not server.query(f'c12_voltage_volts{{pdu="{name}"}}')


@pytest.mark.parametrize(
    ("index", "mode", "reason"),
    [
        (3, "kill", "connect"),
        (4, "garbage", "protocol"),
        (5, "short", "protocol"),
        (6, "exception", "modbus_exception"),
        (7, "out-of-range", "out_of_range"),
        (8, "hang", "timeout"),
        (9, "few-registers", "short_frame"),
    ],
)
def test_misbehaving_unit_goes_down_with_a_reason_others_stay_fresh(  # type: ignore[no-untyped-def]
    stack, index: int, mode: str, reason: str
) -> None:
    control, server, _ = stack
    name = names(control)[index]
    control.act(name, "network", mode=mode)
    try:
        _wait_down_with_reason(server, name, reason)
        # The healthy units kept being polled meanwhile.
        for healthy in _healthy(control):
            age = server.value(
                f'time() - c12_last_poll_success_timestamp_seconds{{pdu="{healthy}"}}'
            )
            assert age is not None and age < 5, f"{healthy} went stale while {name} misbehaved"
            assert server.value(f'c12_up{{pdu="{healthy}"}}') == 1
    finally:
        control.act(name, "network", mode="normal")
    wait_until(lambda: server.value(f'c12_up{{pdu="{name}"}}') == 1, 30, f"{name} back up")
