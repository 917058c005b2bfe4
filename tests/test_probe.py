"""``/probe?target=``: a configured unit by name, or a unit by address where the config's
``probe.allow`` admits it (the pure multi-target pattern, as Prometheus' relabelling
drives it); one connection per unit, whatever the probes do."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import (
    LOOPBACK,
    SimulatorControl,
    exporter,
    free_port,
    http_get,
    prometheus,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration
SETTLE_S = 0.1


class Setup:
    def __init__(self, url: str, units: list[dict[str, str]], control: SimulatorControl,
                 nothing: str, log: Path) -> None:  # fmt: skip
        self.url, self.units, self.control, self.nothing, self.log = (
            url, units, control, nothing, log)  # fmt: skip


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("probe")
    with simulator(tmp, 2, "--speed", "0") as (control, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        nothing = free_port()  # nobody listens there
        allowed_ports = [port_of(units[1]["address"]), nothing]
        config = yaml.safe_dump({
            "poll": {"interval": "1s", "timeout": "500ms"},
            "units": units[:1],
            "probe": {"allow": [{"network": f"{LOOPBACK}/32", "ports": allowed_ports}]},
        })  # fmt: skip
        with exporter(tmp, config) as url:
            yield Setup(url, units, control, f"{LOOPBACK}:{nothing}", tmp / "exporter.log")


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def probe(url: str, target: str) -> str:
    return http_get(f"{url}/probe?" + urllib.parse.urlencode({"target": target}))


def read_again(url: str, name: str) -> str | None:
    body = probe(url, name)
    return body if f'c12_up{{pdu="{name}"}} 1.0' in body else None


def test_configured_unit_by_name(setup: Setup) -> None:
    url, units = setup.url, setup.units
    body = probe(url, units[0]["name"])
    assert f'c12_up{{pdu="{units[0]["name"]}"}} 1.0' in body
    assert units[1]["name"] not in body and units[1]["address"] not in body


def test_unconfigured_unit_by_address(setup: Setup) -> None:
    url, units = setup.url, setup.units
    address = units[1]["address"]
    body = probe(url, address)
    assert f'c12_up{{pdu="{address}"}} 1.0' in body
    assert f'c12_channel_current_amperes{{channel="1",pdu="{address}"}}' in body
    assert units[0]["name"] not in body
    # Nothing is kept: /metrics still lists only the configured unit.
    assert address not in http_get(f"{url}/metrics")


def test_unreachable_address_is_up_0_with_a_reason(setup: Setup) -> None:
    url, nothing = setup.url, setup.nothing
    body = probe(url, nothing)
    assert f'c12_up{{pdu="{nothing}"}} 0.0' in body
    assert f'c12_poll_errors_total{{pdu="{nothing}",reason="connect"}} 1.0' in body
    assert "c12_channel_current_amperes{" not in body


@pytest.mark.parametrize("target", ["", "host:notaport"])
def test_bad_target_is_a_400(setup: Setup, target: str) -> None:
    url = setup.url
    with pytest.raises(urllib.error.HTTPError) as error:
        probe(url, target)
    error.value.close()
    assert error.value.code == 400


def test_prometheus_scrapes_each_unit_found_through_http_sd(setup: Setup, tmp_path: Path) -> None:
    url, units = setup.url, setup.units
    host = url.removeprefix("http://")
    scrape = [{
        "job_name": "c12-probe",
        "metrics_path": "/probe",
        "http_sd_configs": [{"url": f"{url}/sd", "refresh_interval": "5s"}],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": host},
        ],
    }]  # fmt: skip
    with prometheus(tmp_path, scrape) as server:
        name = units[0]["name"]
        wait_until(lambda: server.value(f'c12_up{{job="c12-probe",instance="{name}"}}') == 1, 30,
                   "unit scraped through /probe from http_sd")  # fmt: skip
        assert server.by_label('up{job="c12-probe"}', "instance") == {name: 1.0}
        assert server.value(f'count(c12_channel_current_amperes{{instance="{name}"}})') == 12


def status_of(url: str, target: str, timeout: float = 10.0) -> tuple[int, str]:
    address = f"{url}/probe?" + urllib.parse.urlencode({"target": target})
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()
    except TimeoutError:
        return 0, "client gave up"


def test_targets_not_admitted_are_refused_alike_whatever_the_port(setup: Setup) -> None:
    exporter_port = port_of(setup.url)
    refused = [
        f"{LOOPBACK}:{exporter_port}",  # the exporter itself
        f"{LOOPBACK}:22",
        f"{LOOPBACK}:{free_port()}",
        "127.0.0.2:502",  # loopback, but not in probe.allow: refused before any packet
        f"[::1]:{port_of(setup.units[1]['address'])}",
        "localhost",
    ]
    answers = {target: status_of(setup.url, target) for target in refused}
    assert {answer for answer in answers.values()} == {
        (403, "target refused: it is not a configured unit, and probe.allow in the config "
              "does not admit it\n")
    }, answers  # fmt: skip


def test_a_target_cannot_write_lines_into_the_log(setup: Setup) -> None:
    forged = "FORGED level=error msg=owned"
    for target in (f"{LOOPBACK}\n{forged}:502", f"{setup.nothing}\n{forged}",
                   f"{setup.units[0]['name']}\r\n{forged}"):  # fmt: skip
        code, _ = status_of(setup.url, target)
        assert code in (400, 403), target
    log_lines = setup.log.read_text(encoding="utf-8", errors="replace").splitlines()
    assert not [line for line in log_lines if line.startswith(forged)]


def connections_at(port: int) -> set[tuple[str, str]]:
    """Open TCP connections whose local end is ``port`` (the unit's side), by their two
    ends (the kernel's table is read in pieces and may list a row twice)."""
    connections = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rpartition(":")[2], 16) == port and fields[3] == "01":
                    connections.add((fields[1], fields[2]))
    return connections


def established(port: int) -> int:
    """Connections open at ``port`` now and still open a moment later: a connection
    being closed as its successor opens is not counted twice (the network stack may
    take a few milliseconds to tell the unit's side)."""
    first = connections_at(port)
    if len(first) <= 1:
        return len(first)
    time.sleep(SETTLE_S)
    return len(first & connections_at(port))


def probes_while_counting(
    url: str, targets: list[str], port: int, timeout: float = 10.0
) -> tuple[list[Any], int]:
    """Probe ``targets`` at once; the answers, and the most connections seen at ``port``."""
    with ThreadPoolExecutor(len(targets)) as pool:
        futures = [pool.submit(status_of, url, target, timeout) for target in targets]
        peak = 0
        while not all(f.done() for f in futures):
            peak = max(peak, established(port))
            time.sleep(0.01)
        return [f.result() for f in futures], peak


def test_concurrent_probes_of_a_failing_unit_share_its_one_connection(setup: Setup) -> None:
    name, port = setup.units[0]["name"], port_of(setup.units[0]["address"])
    peak = 0
    try:
        for mode in ("garbage", "normal", "hang", "normal", "short", "normal", "kill", "normal"):
            setup.control.act(name, "network", mode=mode)
            answers, seen = probes_while_counting(setup.url, [name] * 10, port)
            peak = max(peak, seen)
            assert all(code == 200 for code, _ in answers), answers
    finally:
        setup.control.act(name, "network", mode="normal")
    assert peak <= 1, f"{peak} connections to one unit at once"
    body = wait_until(lambda: read_again(setup.url, name), 30, "unit read again")
    assert "c12_channel_current_amperes{" in body
    assert established(port) <= 1


def test_probes_of_an_unconfigured_unit_close_their_connections(setup: Setup) -> None:
    address = setup.units[1]["address"]
    port = port_of(address)
    setup.control.act(setup.units[1]["name"], "network", mode="hang")
    try:
        # Clients that give up before the poll timeout, and clients that wait for it.
        answers, _ = probes_while_counting(setup.url, [address] * 10, port, timeout=0.1)
        answers, _ = probes_while_counting(setup.url, [address] * 10, port)
        assert all(code == 200 and f'c12_up{{pdu="{address}"}} 0.0' in body
                   for code, body in answers), answers  # fmt: skip
        wait_until(lambda: established(port) == 0, 10, "every probe connection closed")
    finally:
        setup.control.act(setup.units[1]["name"], "network", mode="normal")
