"""``/probe?target=``: a configured unit by name, or any unit by address (the pure
multi-target pattern, as Prometheus' relabelling drives it)."""

from __future__ import annotations

import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.servers import (
    LOOPBACK,
    exporter,
    free_port,
    http_get,
    prometheus,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[dict[str, str]]]]:
    tmp = tmp_path_factory.mktemp("probe")
    with simulator(tmp, 2, "--speed", "0") as (_, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        only_first = yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"},
                                     "units": units[:1]})  # fmt: skip
        with exporter(tmp, only_first) as url:
            yield url, units


def probe(url: str, target: str) -> str:
    return http_get(f"{url}/probe?" + urllib.parse.urlencode({"target": target}))


def test_configured_unit_by_name(setup: tuple[str, list[dict[str, str]]]) -> None:
    url, units = setup
    body = probe(url, units[0]["name"])
    assert f'c12_up{{pdu="{units[0]["name"]}"}} 1.0' in body
    assert units[1]["name"] not in body and units[1]["address"] not in body


def test_unconfigured_unit_by_address(setup: tuple[str, list[dict[str, str]]]) -> None:
    url, units = setup
    address = units[1]["address"]
    body = probe(url, address)
    assert f'c12_up{{pdu="{address}"}} 1.0' in body
    assert f'c12_channel_current_amperes{{channel="1",pdu="{address}"}}' in body
    assert units[0]["name"] not in body
    # Nothing is kept: /metrics still lists only the configured unit.
    assert address not in http_get(f"{url}/metrics")


def test_unreachable_address_is_up_0_with_a_reason(setup: tuple[str, list[dict[str, str]]]) -> None:
    url, _ = setup
    nothing = f"{LOOPBACK}:{free_port()}"
    body = probe(url, nothing)
    assert f'c12_up{{pdu="{nothing}"}} 0.0' in body
    assert f'c12_poll_errors_total{{pdu="{nothing}",reason="connect"}} 1.0' in body
    assert "c12_channel_current_amperes{" not in body


@pytest.mark.parametrize("target", ["", "host:notaport"])
def test_bad_target_is_a_400(setup: tuple[str, list[dict[str, str]]], target: str) -> None:
    url, _ = setup
    with pytest.raises(urllib.error.HTTPError) as error:
        probe(url, target)
    error.value.close()
    assert error.value.code == 400


def test_prometheus_scrapes_each_unit_found_through_http_sd(
    setup: tuple[str, list[dict[str, str]]], tmp_path: Path
) -> None:
    url, units = setup
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
