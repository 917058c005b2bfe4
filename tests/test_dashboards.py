"""The Grafana dashboards: generated as code, complete, and with queries that work.

Regenerates the dashboards with grafana-foundation-sdk and compares them with the
committed JSON, checks every panel, then checks every PromQL expression (dashboards and
alert rules) with ``promtool`` (Debian's ``prometheus`` package): all of them parse, and
the trickiest dashboard queries return the right numbers on synthetic data.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.promql_inventory import all_promql_expressions, dashboard_expressions, substitute
from tests.servers import promtool

REPO = Path(__file__).resolve().parents[1]
UIDS = {"c12-fleet.json": "c12-fleet", "c12-unit.json": "c12-unit", "c12-energy.json": "c12-energy"}
SDK_HINT = (
    "grafana-foundation-sdk is not installed: "
    "pip install 'grafana-foundation-sdk==1769699379!11.6.0' (the build for Grafana 11.6)"
)
BUILTIN_VARIABLES = {"__range", "__rate_interval", "__interval", "__all"}
DATA_LINK_VARIABLES = {"__value", "__url_time_range"}  # only in data links, not PromQL


def load_generator() -> ModuleType:
    if importlib.util.find_spec("grafana_foundation_sdk") is None:
        pytest.fail(SDK_HINT)
    return importlib.import_module("dashboards.generate")


def boards() -> dict[str, dict[str, Any]]:
    return {
        name: json.loads((REPO / "dashboards" / name).read_text(encoding="utf-8")) for name in UIDS
    }


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_committed_dashboards_equal_generated() -> None:
    generated = load_generator().render_all()
    assert set(generated) == set(UIDS)
    for name, text in generated.items():
        committed = (REPO / "dashboards" / name).read_text(encoding="utf-8")
        assert committed == text, f"dashboards/{name} is stale: run python -m dashboards.generate"


def test_check_mode_passes_on_the_committed_dashboards() -> None:
    load_generator()
    result = subprocess.run(
        [sys.executable, "-m", "dashboards.generate", "--check"], cwd=REPO, capture_output=True
    )
    assert result.returncode == 0, result.stderr


def test_dashboards_have_stable_uids_descriptions_and_a_datasource_variable() -> None:
    for name, board in boards().items():
        assert board["uid"] == UIDS[name]
        assert board["description"].strip()
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"


def test_every_panel_has_description_unit_and_the_datasource_variable() -> None:
    for name, board in boards().items():
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            where = f"{name}: {panel.get('title')!r}"
            assert panel.get("description", "").strip(), f"{where}: no description"
            assert panel["fieldConfig"]["defaults"].get("unit"), f"{where}: no unit"
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            assert panel["targets"], f"{where}: no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}", where
                assert target["refId"], where


def test_every_template_variable_used_is_defined() -> None:
    for name, board in boards().items():
        defined = {v["name"] for v in board["templating"]["list"]} | BUILTIN_VARIABLES
        text = json.dumps(board)
        used = set(re.findall(r"\$\{?(\w+)", text)) - DATA_LINK_VARIABLES
        assert used <= defined, f"{name}: undefined variables {sorted(used - defined)}"


def test_connector_rows_repeat_over_the_connector_variable() -> None:
    board = boards()["c12-unit.json"]
    rows = [p for p in board["panels"] if p["type"] == "row" and p.get("repeat")]
    assert [r["repeat"] for r in rows] == ["connector"]
    exprs = [e for s, e in dashboard_expressions() if "c12-unit.json: panel" in s]
    per_channel = [e for e in exprs if "c12_channel_" in e]
    assert per_channel and all('connector=~"$connector"' in e for e in per_channel)


def test_inventory_covers_rules_and_dashboards() -> None:
    inventory = all_promql_expressions()
    sources = {s.split(":")[0] for s, _ in inventory}
    assert sources == {
        "alerts/c12-alerts.yml",
        "dashboards/c12-energy.json",
        "dashboards/c12-fleet.json",
        "dashboards/c12-unit.json",
    }
    for source, expr in inventory:
        assert "$" not in substitute(expr), source
    assert substitute('c12_up{job=~"$job", pdu="$pdu"}[$__range]') == (
        'c12_up{job=~".+", pdu=~".+"}[1h]'
    )
    assert substitute('c12_up{pdu="$pdu"}', {"pdu": "stage-left"}) == 'c12_up{pdu="stage-left"}'


def test_every_promql_expression_parses(tmp_path: Path) -> None:
    """Each expression, substituted, as a recording rule that ``promtool check rules`` parses."""
    inventory = all_promql_expressions()
    rules = [
        {"record": f"c12:check_{i}", "expr": substitute(expr)}
        for i, (_, expr) in enumerate(inventory)
    ]
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "inventory", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    output = result.stdout + result.stderr
    failed = [inventory[int(i)][0] for i in re.findall(r'"c12:check_(\d+)"', output)]
    assert result.returncode == 0, f"{failed}\n{output}"


def target(board: str, title: str, ref: str = "A") -> str:
    for panel in panels(boards()[board]):
        if panel.get("title") == title:
            for t in panel["targets"]:
                if t["refId"] == ref:
                    return str(t["expr"])
    raise KeyError((board, title, ref))


UNIT = 'job="c12",instance="127.0.0.1:9864",pdu="stage-left"'
SYNTHETIC_SERIES = [
    # channel 3 of connector A: slight overload (load level 2), below its band (position -1)
    (f'c12_channel_info{{{UNIT},channel="3",name="Dimmers",phase="L3",connector="A"}}', "1x60"),
    (f'c12_channel_info{{{UNIT},channel="7",name="Audio",phase="L1",connector="B"}}', "1x60"),
    (f'c12_channel_load_level{{{UNIT},channel="3"}}', "2x60"),
    (f'c12_channel_load_level{{{UNIT},channel="7"}}', "1x60"),
    (f'c12_channel_supervision_position{{{UNIT},channel="3"}}', "-1x60"),
    (f'c12_channel_supervision_position{{{UNIT},channel="7"}}', "0x60"),
    (f'c12_channel_current_amperes{{{UNIT},channel="3"}}', "17x60"),
    (f'c12_channel_rating_amperes{{{UNIT},channel="3"}}', "16x60"),
    # energy: 30 kWh, power lost (counter back to 0), then 29 kWh more
    (f"c12_active_energy_import_joules_total{{{UNIT}}}", "0+3.6e6x30 0+3.6e6x29"),
    (f'c12_current_amperes{{{UNIT},phase="L1"}}', "12x60"),
    (f'c12_current_amperes{{{UNIT},phase="N"}}', "3x60"),
    (f'c12_up{{{UNIT}}}', "1x60"),
]  # fmt: skip


def test_dashboard_queries_compute_the_right_values(tmp_path: Path) -> None:
    """The joins, state codes, fleet table and reset-proof energy on synthetic series."""
    one_unit = {"pdu": "stage-left", "connector": "A"}
    cases: list[tuple[str, list[tuple[str, float]]]] = [
        # load level and supervision position, labelled with the channel's name and phase;
        # channel 7 is on connector B and not in this row
        (
            substitute(target("c12-unit.json", "Channels", "G"), one_unit),
            [('{channel="3", name="Dimmers", phase="L3"}', 2)],
        ),
        (
            substitute(target("c12-unit.json", "Channels", "H"), one_unit),
            [('{channel="3", name="Dimmers", phase="L3"}', -1)],
        ),
        (
            substitute(target("c12-unit.json", "Channels", "C"), one_unit),
            [('{channel="3", name="Dimmers", phase="L3"}', 17 / 16)],
        ),
        # 30 + 29 kWh over the hour although the counter reset in between
        (
            substitute(target("c12-energy.json", "Energy in range per unit"), one_unit),
            [('{pdu="stage-left"}', 59)],
        ),
        # the fleet table's columns are one value per unit
        (substitute(target("c12-fleet.json", "Units", "I")), [('{pdu="stage-left"}', 3)]),
        (substitute(target("c12-fleet.json", "Units", "A")), [('{pdu="stage-left"}', 1)]),
        # channels outside their band: counted, and listed with side, name and current
        (substitute(target("c12-fleet.json", "Channels outside band")), [("{}", 1)]),
        (
            substitute(target("c12-fleet.json", "Channels outside their supervision band")),
            [('{pdu="stage-left", channel="3", name="Dimmers", state="below"}', 17)],
        ),
    ]
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in SYNTHETIC_SERIES],
                "promql_expr_test": [
                    {
                        "expr": expr,
                        "eval_time": "60m",
                        "exp_samples": [{"labels": lab, "value": val} for lab, val in samples],
                    }
                    for expr, samples in cases
                ],
            }
        ],
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
