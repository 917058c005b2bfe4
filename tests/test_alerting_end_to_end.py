"""Alerts from a fault injected in the simulator to a webhook, through a real Prometheus
and a real Alertmanager, with the bundled rules and routing.

The rules are the committed ``alerts/c12-alerts.yml`` with every ``for:`` set to 0 s so
the test does not wait minutes; expressions, labels and annotations are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.alertmanager_fixture import Alertmanager, alertmanager  # noqa: F401 - fixture
from tests.servers import (
    REPO,
    Prometheus,
    SimulatorControl,
    exporter,
    prometheus,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration

RULES = REPO / "alerts" / "c12-alerts.yml"


def rules_without_delays(tmp: Path) -> Path:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            rule["for"] = "0s"
    path = tmp / "c12-alerts.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


@pytest.fixture
def stack(
    tmp_path: Path,
    alertmanager: Alertmanager,  # noqa: F811 - the fixture above
) -> Iterator[tuple[SimulatorControl, Prometheus, Alertmanager]]:
    with (
        simulator(tmp_path, 3, "--speed", "0", "--scenario", "idle-bench") as (
            control,
            units_file,
        ),
        exporter(
            tmp_path, f"poll: {{interval: 1s, timeout: 500ms}}\nunits_files: [{units_file}]\n"
        ) as url,
    ):
        scrape = [
            {"job_name": "c12", "static_configs": [{"targets": [url.removeprefix("http://")]}]}
        ]
        with prometheus(tmp_path, scrape, [rules_without_delays(tmp_path)],
                        alertmanager_url=alertmanager.url) as server:  # fmt: skip
            wait_until(lambda: server.value("count(c12_up == 1)") == 3, 30, "units up")
            yield control, server, alertmanager


def loaded_channel(control: SimulatorControl, name: str) -> tuple[int, float]:
    """A channel of ``name`` carrying current, and that current."""
    currents = control.unit(name)["meter"]["measurements"]["channel_current"]
    channel = max(range(12), key=lambda i: currents[i])
    assert currents[channel] > 0.5, f"{name} has no loaded channel: {currents}"
    return channel + 1, float(currents[channel])


def violate_band(control: SimulatorControl, name: str, channel: int, current: float) -> None:
    """A band the channel's present current (and 0 A) lies outside of."""
    control.act(name, "set_supervision", channel=channel, min_a=current / 4, max_a=current / 2)


def am_alerts(am: Alertmanager) -> list[dict[str, Any]]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{am.url}/api/v2/alerts", timeout=5) as response:
        return list(json.loads(response.read()))


def delivered(am: Alertmanager, alertname: str, pdu: str) -> list[dict[str, Any]]:
    return [
        a for path in ("/critical", "/warning") for a in am.webhook.alerts(path)
        if a["labels"]["alertname"] == alertname and a["labels"].get("pdu") == pdu
    ]  # fmt: skip


def test_supervision_violation_reaches_the_webhook_and_estop_inhibits_it(stack) -> None:  # type: ignore[no-untyped-def]
    control, server, am = stack
    plain, stopped = (u["name"] for u in control.units()[:2])

    channel, current = loaded_channel(control, plain)
    violate_band(control, plain, channel, current)
    wait_until(lambda: delivered(am, "C12ChannelOutsideSupervisionBand", plain), 40,
               "supervision alert delivered to the webhook")  # fmt: skip
    alert = delivered(am, "C12ChannelOutsideSupervisionBand", plain)[0]
    assert alert["labels"]["channel"] == str(channel)
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook_url"].endswith("#c12channeloutsidesupervisionband")

    # An e-stop on another unit, then the same violation there: the outputs are dead
    # (the channel reads 0 A, below its minimum), the e-stop alert is delivered, the
    # channel alert fires in Prometheus but Alertmanager holds it back.
    channel, current = loaded_channel(control, stopped)
    control.act(stopped, "estop")
    violate_band(control, stopped, channel, current)
    wait_until(lambda: delivered(am, "C12EmergencyStopPressed", stopped), 40, "e-stop delivered")
    wait_until(
        lambda: server.query(
            f'ALERTS{{alertname="C12ChannelOutsideSupervisionBand",pdu="{stopped}",'
            'alertstate="firing"}'
        ), 30, "channel alert firing in Prometheus during the e-stop",
    )  # fmt: skip

    def suppressed() -> bool:
        for a in am_alerts(am):
            labels = a["labels"]
            if (labels["alertname"], labels.get("pdu")) == (
                "C12ChannelOutsideSupervisionBand", stopped,
            ):  # fmt: skip
                return bool(a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"])
        return False

    wait_until(suppressed, 30, "channel alert suppressed by the e-stop inhibition")
    assert not delivered(am, "C12ChannelOutsideSupervisionBand", stopped)
