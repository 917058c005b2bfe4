"""The catalogue names every served series once: its constants are its declarations'
names, the generators, the check and the collector spell no metric name of their own,
the docs list every declaration, and a real scrape serves nothing undeclared."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from c12exporter import catalogue
from c12exporter.catalogue import DERIVED, SERIES, Derived, Table, exposed, label_names
from c12exporter.measurements import Metric, Scope
from c12exporter.prometheus import reference
from tests.servers import (
    LOOPBACK,
    REPO,
    exporter,
    free_port,
    http_get,
    require_tool,
    simulator,
    wait_until,
)

NAME_TAKERS = (
    "alerts/generate.py",
    "dashboards/generate.py",
    "c12exporter/check.py",
    "c12exporter/prometheus/collector.py",
    "c12exporter/prometheus/unit_text.py",
    "zabbix/generate.py",
    "c12exporter/telemetry.py",
    "c12exporter/snmp/stats.py",
    "c12exporter/discovery/service.py",
    "c12exporter/history/metrics.py",
    "c12exporter/web/server.py",
    "c12exporter/exporter.py",
    "c12exporter/poller.py",
)
"""Files that must take every metric name from the catalogue."""
METRIC_NAME = re.compile(r"c12_[a-z0-9_]+")


def test_every_declaration_has_its_constant_and_every_constant_a_declaration() -> None:
    constants = {
        key: value
        for key, value in vars(catalogue).items()
        if key.isupper() and isinstance(value, str) and value.startswith("c12_")
    }
    for series in SERIES:
        assert constants.get(series.name.upper()) == exposed(series), series.name
    declared = {s.name.upper() for s in SERIES}
    assert set(constants) <= declared, set(constants) - declared
    assert catalogue.CHANNEL_CURRENT == "c12_channel_current_amperes"
    assert catalogue.POLL_ERRORS == "c12_poll_errors_total"
    assert catalogue.CURRENT == catalogue.NEUTRAL_CURRENT == "c12_current_amperes"


def test_contradicting_derived_declarations_are_refused() -> None:
    up = catalogue.DERIVED_BY_NAME["up"]
    with pytest.raises(ValueError, match="'up' is declared twice"):
        catalogue.check((*DERIVED, up))
    again = dataclasses.replace(up, name="up_again")
    with pytest.raises(ValueError, match="c12_up is declared twice"):
        catalogue.check((*DERIVED, again))
    measured_name = dataclasses.replace(
        up, name="channel_current_again", metric=Metric("c12_channel_current_amperes")
    )
    with pytest.raises(ValueError, match="c12_channel_current_amperes is declared twice"):
        catalogue.check((*DERIVED, measured_name))
    unprefixed = dataclasses.replace(up, name="up2", metric=Metric("pdu_up"))
    with pytest.raises(ValueError, match="does not start with c12_"):
        catalogue.check((*DERIVED, unprefixed))


def _metric_literals(source: str) -> list[tuple[int, str]]:
    """``c12_`` names in the string literals of ``source`` (f-string parts included),
    docstrings left out: they explain, they do not query."""
    tree = ast.parse(source)
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        (node.lineno, name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
        for name in METRIC_NAME.findall(node.value)
    ]  # fmt: skip


def test_the_literal_scan_finds_a_metric_name_in_a_string_or_an_f_string() -> None:
    source = 'x = "c12_up"\ny = f"{x}{{job}} or c12_polls_total"\n"""Docs: c12_up."""\n'
    assert _metric_literals(source) == [(1, "c12_up"), (2, "c12_polls_total")]


@pytest.mark.parametrize("path", NAME_TAKERS)
def test_no_metric_name_is_spelled_outside_the_catalogue(path: str) -> None:
    found = _metric_literals((REPO / path).read_text(encoding="utf-8"))
    assert not found, f"{path}: take these from c12exporter.catalogue: {found}"


def test_a_derived_series_added_to_the_catalogue_is_added_to_the_docs() -> None:
    document = (REPO / "docs" / "metrics.md").read_text(encoding="utf-8")
    added = Derived(
        "channel_spare", Scope.CHANNEL, "A spare", "A",
        Metric("c12_channel_spare_amperes", help="Spare"), ("why",),
        note="what a new series would say", table=Table.CHANNEL,
    )  # fmt: skip
    updated = reference.update(document, (*DERIVED, added))
    row = (
        "| `c12_channel_spare_amperes` | gauge | pdu, channel, why | what a new series would say |"
    )
    assert row in updated and row not in document
    assert reference.update(updated) == document


def _families(text: str) -> dict[str, tuple[str, str, set[tuple[str, ...]]]]:
    """Exposed name -> (type, help, the label-name tuples of its samples)."""
    out: dict[str, tuple[str, str, set[tuple[str, ...]]]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {tuple(sorted(s.labels)) for s in family.samples if s.name == name}
        out[name] = (family.type, family.documentation, labels)
    return out


def test_every_series_a_real_scrape_serves_is_declared(tmp_path: Path) -> None:
    """The exporter polling the simulator over TCP, with its history, SNMP agent and
    discovery on, after a reload and an SNMP request refused: every ``c12_`` family on
    /metrics is declared with the type, help and labels it is served with."""
    snmp_port, empty_port = free_port(), free_port()
    with simulator(tmp_path, 2) as (_, units_file):
        config = (
            "poll: {interval: 1s, timeout: 500ms}\n"
            f"units_files: [{units_file}]\nstate_dir: {tmp_path / 'state'}\n"
            f"history: {{path: {tmp_path / 'history.db'}}}\n"
            f"snmp: {{listen_address: '{LOOPBACK}:{snmp_port}', community: public}}\n"
            f"discovery: {{networks: [127.0.9.0/30], port: {empty_port}, timeout: 300ms}}\n"
        )
        with exporter(tmp_path, config) as url:
            snmpget = require_tool("snmpget", "snmp")

            def ask_snmp(community: str) -> None:
                subprocess.run(
                    [snmpget, "-v2c", "-c", community, "-t", "1", "-r", "0",
                     f"{LOOPBACK}:{snmp_port}", "1.3.6.1.2.1.1.1.0"],
                    capture_output=True, check=False, timeout=10,
                )  # fmt: skip

            def snmp_answers() -> bool:
                ask_snmp("public")
                answered = rf'\n{catalogue.SNMP_REQUESTS}{{outcome="answered"}} [1-9]'
                return re.search(answered, http_get(f"{url}/metrics")) is not None

            # a reload once every server is up (one racing the agent's start is refused)
            wait_until(snmp_answers, 30, "the SNMP agent")
            request = urllib.request.Request(f"{url}/-/reload", method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            ready = (
                catalogue.CHANNEL_BREAKER_HEAT,
                catalogue.CHANNEL_RCBO_WATCHED_SINCE,
                catalogue.SNMP_REQUESTS_DROPPED,
                catalogue.DISCOVERY_SCANS,
                catalogue.CONFIG_RELOADS,
            )
            missing: list[str] = []

            def scraped() -> str | None:
                ask_snmp("public")
                ask_snmp("not-the-community")  # until the agent listens and counts it
                text = http_get(f"{url}/metrics")
                missing[:] = [name for name in ready if f"\n{name}" not in text]
                return None if missing else text

            text = wait_until(scraped, 60, "every series to be served")
            assert not missing, missing
    served = {k: v for k, v in _families(text).items() if k.startswith("c12_")}
    declared = {exposed(s): s for s in SERIES if s.metric is not None}
    # prometheus-client's Counter serves NAME_created beside NAME_total: part of the counter
    created = {k for k in served if k.endswith("_created")}
    assert {k.removesuffix("_created") + "_total" for k in created} <= set(declared), created
    served = {k: v for k, v in served.items() if k not in created}
    undeclared = sorted(set(served) - set(declared))
    assert not undeclared, f"served but not in c12exporter/catalogue.py: {undeclared}"
    for name, (kind, help_text, labels) in served.items():
        series = declared[name]
        assert series.metric is not None
        assert kind == ("counter" if series.metric.counter else "gauge"), name
        assert help_text == series.metric_help, name
        if labels:
            assert labels == {tuple(sorted(label_names(series)))}, name
    # what the collector serves for every unit that is up, whatever its readings
    always = {exposed(s) for s in DERIVED if s.table in (Table.HEALTH, Table.HISTORY)}
    always |= {catalogue.UNIT_INFO, catalogue.CHANNEL_INFO, catalogue.AUX_SOCKET_INFO}
    always |= {catalogue.SNMP_REQUESTS, catalogue.DISCOVERY_UNITS, catalogue.CONFIG_RELOADS}
    assert always <= set(served), always - set(served)
