"""Names and text from outside that would deceive a reader: a ``/probe`` target with a
bidirectional override reaches the log escaped, never raw."""

from __future__ import annotations

import contextlib
import sys
import urllib.error
import urllib.parse
from pathlib import Path

import pytest

from c12exporter.logformat import logfmt_value
from tests.servers import LOOPBACK, free_port, http_get, process, wait_until

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: shows the rest of a line reversed


def test_bidirectional_controls_are_escaped_in_logfmt() -> None:
    assert logfmt_value(f"pdu{RLO}lanimret") == '"pdu\\u202elanimret"'
    assert logfmt_value("a\u2066b\u2069") == '"a\\u2066b\\u2069"'


@pytest.mark.integration
def test_a_probe_target_with_a_bidi_override_is_logged_escaped(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "c12.yml"
    config.write_text(
        f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
        f"units: [{{name: nobody, address: '{LOOPBACK}:{free_port()}'}}]\n",
        encoding="utf-8",
    )
    log = tmp_path / "exporter.log"
    command = [sys.executable, "-m", "c12exporter.cli", "--log.level=debug",
               "serve", "--config.file", str(config)]  # fmt: skip
    with process(command, log):
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: http_get(f"{url}/-/healthy"), 30, "exporter ready")
        target = urllib.parse.quote(f"evil{RLO}lanimret:{free_port()}", safe="")
        with contextlib.suppress(urllib.error.HTTPError):
            http_get(f"{url}/probe?target={target}", timeout=30)
        wait_until(lambda: "lanimret" in log.read_text("utf-8"), 30, "the refused probe logged")
    text = log.read_text("utf-8")
    assert RLO not in text
    assert "evil\\u202elanimret" in text
