"""``/probe?target=``: a configured unit by name, or any unit by address (the pure
multi-target pattern, as Prometheus' relabelling drives it)."""

from __future__ import annotations

import urllib.error
import urllib.parse
from collections.abc import Iterator

import pytest
import yaml

from tests.servers import LOOPBACK, exporter, free_port, http_get, simulator

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
