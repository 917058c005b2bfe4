"""A real Alertmanager on loopback for tests, delivering to an in-process webhook.

The ``alertmanager`` fixture starts Debian's ``prometheus-alertmanager`` with the
routing and inhibitions of ``alerts/alertmanager.yml`` unchanged, except that every
webhook URL points at a local receiver (path kept: ``/critical``, ``/warning``) and
the group timers are shortened so notifications arrive within seconds. Ports come from
the OS, storage is a temp dir, clustering is off; the process is stopped on teardown.

Use it from a test module with ``from tests.alertmanager_fixture import alertmanager``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "alerts" / "alertmanager.yml"
BINARIES = ("prometheus-alertmanager", "alertmanager")
FAST_TIMERS = {"group_wait": "1s", "group_interval": "2s", "repeat_interval": "1h"}
START_TIMEOUT_S = 20.0


@dataclass
class Webhook:
    """Notifications received, as ``(path, payload)`` in arrival order."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self, path: str) -> list[dict[str, Any]]:
        """Every alert delivered to ``path`` so far (all notifications flattened)."""
        with self.lock:
            return [a for p, body in self.received if p == path for a in body["alerts"]]


@dataclass
class Alertmanager:
    url: str
    webhook: Webhook

    def post_alerts(self, alerts: list[Mapping[str, str]]) -> None:
        """Send firing alerts (label sets) through the v2 API, as Prometheus does."""
        now = datetime.now(UTC)
        body = [
            {
                "labels": dict(labels),
                "annotations": {"summary": labels.get("alertname", "")},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=10)).isoformat(),
            }
            for labels in alerts
        ]
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def wait_for(self, path: str, count: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
        """Alerts delivered to ``path`` once at least ``count`` have arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alerts = self.webhook.alerts(path)
            if len(alerts) >= count:
                return alerts
            time.sleep(0.1)
        raise AssertionError(f"{path}: {len(self.webhook.alerts(path))} alerts, want {count}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _handler(webhook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with webhook.lock:
                webhook.received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    return Handler


def local_config(webhook_base: str) -> dict[str, Any]:
    """``alerts/alertmanager.yml`` with webhooks on ``webhook_base`` and fast timers."""
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["route"].update(FAST_TIMERS)
    for route in config["route"].get("routes", []):
        for key in FAST_TIMERS:
            route.pop(key, None)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_base + urlsplit(hook["url"]).path
    return dict(config)


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"alertmanager exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"alertmanager not ready at {url} after {START_TIMEOUT_S:g} s")


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    binary = next((b for b in map(shutil.which, BINARIES) if b), None)
    if binary is None:
        pytest.fail(
            "alertmanager not found: install Debian's prometheus-alertmanager package "
            "(apt-get install -y prometheus-alertmanager)"
        )
    webhook = Webhook()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(webhook))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    webhook_base = f"http://127.0.0.1:{server.server_address[1]}"
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(local_config(webhook_base)), encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_ready(url, process)
        yield Alertmanager(url=url, webhook=webhook)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
