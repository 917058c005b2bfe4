"""The example Alertmanager configuration: valid, routes by severity, inhibits per unit.

Uses ``amtool`` and ``prometheus-alertmanager`` from Debian's
``prometheus-alertmanager`` package.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alertmanager_fixture import Alertmanager, alertmanager

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "alerts" / "alertmanager.yml"
RULES = REPO / "alerts" / "c12-alerts.yml"
SETTLE_S = 3.0

__all__ = ["alertmanager"]  # the fixture, imported for pytest


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("amtool")
    if path is None:
        pytest.fail(
            "amtool not found: install Debian's prometheus-alertmanager package "
            "(apt-get install -y prometheus-alertmanager)"
        )
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60, check=False)


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_amtool_check_config_is_clean() -> None:
    result = amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "8 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=C12UnitDown", "pdu=stage-left"], "c12-pager"),
        (["severity=critical", "alertname=C12EmergencyStopPressed", "pdu=foh"], "c12-pager"),
        (["severity=critical", "alertname=C12ExporterDown"], "c12-pager"),
        (
            ["severity=warning", "alertname=C12ChannelBreakerOpen", "pdu=foh", "channel=3"],
            "c12-chat",
        ),
        (["severity=warning", "alertname=C12SwitchDisconnectorOff", "pdu=foh"], "c12-chat"),
        (["alertname=SomethingWithoutSeverity"], "c12-chat"),
    ],
)
def test_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


def test_every_rule_severity_has_a_route() -> None:
    routes = {
        "critical": "c12-pager",
        "warning": "c12-chat",
    }
    for rule in rules():
        labels = rule["labels"]
        result = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={routes[labels['severity']]}",
            f"alertname={rule['alert']}",
            f"severity={labels['severity']}",
            "pdu=stage-left",
        )
        assert result.returncode == 0, f"{rule['alert']}: {result.stdout}{result.stderr}"


def test_inhibitions_name_real_alerts_and_scopes_and_stay_per_unit() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    names = {str(rule["alert"]) for rule in rules()}
    scopes = {str(rule["labels"]["scope"]) for rule in rules()}
    matcher = re.compile(r'(\w+)(=~|!=|=)"(.*)"')
    for inhibit in config["inhibit_rules"]:
        assert "pdu" in inhibit["equal"], inhibit
        for side in ("source_matchers", "target_matchers"):
            for text in inhibit[side]:
                match = matcher.fullmatch(text)
                assert match, text
                label, op, value = match.groups()
                if label == "alertname" and op == "=":
                    assert value in names, text
                elif label == "alertname" and op == "=~" and value != "C12.+":
                    assert set(value.split("|")) <= names, text
                elif label == "scope":
                    assert value in scopes, text


@pytest.mark.integration
def test_live_alertmanager_routes_and_inhibits(alertmanager: Alertmanager) -> None:
    """A down unit hides its own other alerts, not another unit's; e-stop hides channels."""
    alertmanager.post_alerts(
        [
            {"alertname": "C12UnitDown", "severity": "critical", "scope": "unit", "pdu": "a"},
            {"alertname": "C12ChannelBreakerOpen", "severity": "warning", "scope": "channel",
             "pdu": "a", "channel": "3"},
            {"alertname": "C12ChannelBreakerOpen", "severity": "warning", "scope": "channel",
             "pdu": "b", "channel": "3"},
            {"alertname": "C12EmergencyStopPressed", "severity": "critical", "scope": "unit",
             "pdu": "c"},
            {"alertname": "C12SwitchDisconnectorOff", "severity": "warning", "scope": "unit",
             "pdu": "c"},
            {"alertname": "C12ChannelOutsideSupervisionBand", "severity": "warning",
             "scope": "channel", "pdu": "c", "channel": "1", "state": "below"},
            {"alertname": "C12PhaseVoltageOutOfRange", "severity": "warning",
             "scope": "voltage", "pdu": "c", "phase": "L1"},
        ]
    )  # fmt: skip
    alertmanager.wait_for("/critical", 2)
    alertmanager.wait_for("/warning", 2)
    time.sleep(SETTLE_S)  # anything not inhibited would have been delivered by now
    critical = alertmanager.webhook.alerts("/critical")
    warning = alertmanager.webhook.alerts("/warning")

    def seen(alerts: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(a["labels"]["alertname"], a["labels"]["pdu"]) for a in alerts}

    assert seen(critical) == {("C12UnitDown", "a"), ("C12EmergencyStopPressed", "c")}
    assert seen(warning) == {
        ("C12ChannelBreakerOpen", "b"),
        ("C12PhaseVoltageOutOfRange", "c"),
    }
