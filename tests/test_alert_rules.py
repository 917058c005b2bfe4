"""The Prometheus alert rules: valid, unit-tested, documented, and generated.

Uses ``promtool`` from Debian's ``prometheus`` package: ``check rules`` (syntax and
lint) and ``test rules`` (the unit tests in ``alerts/tests/*.yml``).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from tests.servers import promtool

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "alerts" / "c12-alerts.yml"
RULE_TESTS = sorted((REPO / "alerts" / "tests").glob("*.yml"))
RUNBOOK = REPO / "docs" / "runbook.md"
SCOPES = {"exporter", "unit", "channel", "voltage", "supply", "load", "meter"}
CHANNEL_METRIC = re.compile(r"\bc12_(channel|aux_socket)_\w+")


def load_generator() -> ModuleType:
    return importlib.import_module("alerts.generate")


def alerts() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_promtool_check_rules_succeeds_without_warnings() -> None:
    result = promtool("check", "rules", str(RULES))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "SUCCESS" in output, output
    assert "WARNING" not in output.upper(), output


def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool test files in alerts/tests/"
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr


def test_committed_rules_equal_generated_rules() -> None:
    generated = load_generator().render()
    assert RULES.read_text(encoding="utf-8") == generated, (
        "alerts/c12-alerts.yml is stale: run python -m alerts.generate"
    )


def test_every_alert_follows_the_conventions() -> None:
    runbook_base = load_generator().CONFIG.runbook_url
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in alerts():
        name = rule["alert"]
        assert re.fullmatch(r"C12[A-Z][A-Za-z0-9]*", name), name
        labels, annotations = rule["labels"], rule["annotations"]
        assert labels["severity"] in {"warning", "critical"}, name
        assert labels["scope"] in SCOPES, name
        assert annotations["summary"].strip(), name
        assert "{{" in annotations["description"], f"{name}: description is not templated"
        assert annotations["runbook_url"] == f"{runbook_base}#{name.lower()}", name


def test_channel_alerts_are_scoped_for_inhibition() -> None:
    """Alertmanager silences a switched-off unit's channel alerts by ``scope="channel"``."""
    for rule in alerts():
        per_channel = bool(CHANNEL_METRIC.search(rule["expr"]))
        assert per_channel == (rule["labels"]["scope"] == "channel"), rule["alert"]


def test_every_runbook_anchor_exists() -> None:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", RUNBOOK.read_text(encoding="utf-8"), re.M)
    anchors = {github_anchor(h) for h in headings}
    for rule in alerts():
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor in anchors, f"docs/runbook.md has no section for {rule['alert']}"


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else silent).add(case["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert names - firing == set(), "alerts never tested firing"
    assert names - silent == set(), "alerts never tested silent"
    assert (firing | silent) - names == set(), "tests name alerts that do not exist"


def test_generator_applies_the_selector_and_judges_each_unit_by_its_own_band() -> None:
    generator = load_generator()
    text = generator.render(generator.Config(selector='job="pdu"'))
    assert 'abs(c12_frequency_hertz{job="pdu"} - 50) / 50\n' in text
    assert 'c12_supply_frequency_band_ratio{job="pdu"}\n' in text
    assert 'job="c12"' not in text


def test_input_and_imbalance_alerts_use_the_served_ratings_and_definitions() -> None:
    """No 63 A written into a rule: the input is judged against c12_input_rating_amperes;
    the imbalance alert uses the metric's NEMA definition, the voltage unbalance alert the
    exporter's EN 50160 unbalance."""
    rules = {rule["alert"]: rule["expr"] for rule in alerts()}
    for name in ("C12InputNearRating", "C12InputOverRating"):
        assert "c12_input_rating_amperes" in rules[name] and "63" not in rules[name]
    assert "c12_phase_unbalance_ratio" in rules["C12PhaseCurrentImbalance"]
    assert "c12_voltage_unbalance_ratio" in rules["C12PhaseVoltageUnbalance"]
    assert "c12_channel_breaker_heat_ratio" in rules["C12ChannelTripForecast"]


def test_check_mode_passes_on_the_committed_rules() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alerts.generate", "--check"], cwd=REPO, capture_output=True
    )
    assert result.returncode == 0, result.stderr


def test_texts_follow_the_limits() -> None:
    """Summaries are formatted from the numbers in use, not written beside them."""
    generator = load_generator()
    config = generator.Config(temperature_limit_c=50.0, voltage_thd_max=0.05)
    summaries = {
        r["alert"]: r["annotations"]["summary"]
        for g in generator.rule_groups(config)["groups"]
        for r in g["rules"]
    }
    assert "50 °C" in summaries["C12TemperatureOverLimit"]
    assert "5%" in summaries["C12VoltageTHDHigh"]
    default = generator.CONFIG
    from c12exporter import limits
    from c12exporter.snmp.config import DEFAULT_TEMPERATURE_LIMIT_C

    assert default.temperature_limit_c == limits.TEMPERATURE_LIMIT.value
    assert limits.TEMPERATURE_LIMIT.value == DEFAULT_TEMPERATURE_LIMIT_C
    assert default.voltage_thd_max == limits.VOLTAGE_THD_MAX.value
