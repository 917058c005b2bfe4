"""``/probe`` of a configured unit honours the unit's reconnect backoff: while the unit
is backed off, probes answer from the store (down, with the last error) and open no
connection, however many clients loop on it."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.servers import LOOPBACK, exporter, http_get, wait_until

pytestmark = pytest.mark.integration
CLIENTS, LOOP_S = 10, 3.0


class FailingUnit:
    """A TCP port that accepts each connection and closes it at once, counting them."""

    def __init__(self) -> None:
        self.sock = socket.create_server((LOOPBACK, 0))
        self.sock.settimeout(0.2)
        self.address = f"{LOOPBACK}:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def failing(tmp_path: Path) -> Iterator[tuple[str, FailingUnit]]:
    unit = FailingUnit()
    try:
        config = yaml.safe_dump({
            "poll": {"interval": "1s", "timeout": "500ms"},
            "units": [{"name": "failing", "address": unit.address}],
        })  # fmt: skip
        with exporter(tmp_path, config) as url:
            yield url, unit
    finally:
        unit.close()


def probe_loop(url: str) -> list[str]:
    answers = []
    end = time.monotonic() + LOOP_S
    while time.monotonic() < end:
        answers.append(http_get(f"{url}/probe?" + urllib.parse.urlencode({"target": "failing"})))
    return answers


def test_looping_probes_of_a_failing_unit_keep_to_its_backoff(
    failing: tuple[str, FailingUnit],
) -> None:
    url, unit = failing
    wait_until(lambda: unit.accepted >= 1, 30, "the first failed poll")
    before = unit.accepted
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [a for batch in pool.map(probe_loop, [url] * CLIENTS) for a in batch]
    opened = unit.accepted - before
    assert len(answers) > 100  # the probes were answered at once, not held
    assert all('c12_up{pdu="failing"} 0.0' in a for a in answers)
    assert all('c12_poll_errors_total{pdu="failing"' in a for a in answers)
    # The backoff doubles from 1 s up to two poll intervals: a few attempts in 3 s, not
    # one per probe.
    assert opened <= 4, opened
