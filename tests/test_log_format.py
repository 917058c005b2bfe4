"""``--log.format``: one record per line whatever the message holds; text from a request
cannot forge a record."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from c12exporter.logformat import JsonFormatter, LogfmtFormatter, logfmt_value
from tests.servers import LOOPBACK, free_port, http_get, process, wait_until

FORGED = "gone\nts=2026-01-01T00:00:00Z level=error logger=c12exporter msg=forged"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("plain", "plain"),
        ("", '""'),
        ("two words", '"two words"'),
        ('a="b"', '"a=\\"b\\""'),
        ("line\nbreak\r\ttab", '"line\\nbreak\\r\\ttab"'),
        ("back\\slash", '"back\\\\slash"'),
        ("bell\x07 nul\x00 del\x7f csi\x9b ls\u2028",
         '"bell\\u0007 nul\\u0000 del\\u007f csi\\u009b ls\\u2028"'),
    ],
)  # fmt: skip
def test_logfmt_values_are_quoted_and_escaped(text: str, value: str) -> None:
    assert logfmt_value(text) == value


def record(message: str, *args: object) -> logging.LogRecord:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        exc_info = sys.exc_info()
    return logging.LogRecord("c12exporter.x", logging.WARNING, __file__, 1, message, args, exc_info)


def test_a_record_with_newlines_and_a_traceback_is_one_line() -> None:
    line = LogfmtFormatter().format(record("probe of %s failed", FORGED))
    assert "\n" not in line
    assert line.startswith("ts=") and " level=warn logger=c12exporter.x msg=" in line
    assert 'msg="probe of gone\\nts=2026' in line and 'err="Traceback' in line
    fields = json.loads(JsonFormatter().format(record("probe of %s failed", FORGED)))
    assert fields["msg"] == f"probe of {FORGED} failed"
    assert fields["level"] == "warn" and "ValueError: bad\nvalue" in fields["err"]


@pytest.mark.integration
@pytest.mark.parametrize("log_format", ["logfmt", pytest.param("json", marks=pytest.mark.slow)])
def test_a_probe_target_with_a_newline_stays_in_its_record(tmp_path: Path, log_format: str) -> None:
    port = free_port()
    config = tmp_path / "c12.yml"
    config.write_text(
        f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
        f"units: [{{name: nobody, address: '{LOOPBACK}:{free_port()}'}}]\n",
        encoding="utf-8",
    )
    log = tmp_path / "exporter.log"
    command = [sys.executable, "-m", "c12exporter.cli", "--log.level=debug",
               f"--log.format={log_format}", "serve", "--config.file", str(config)]  # fmt: skip
    with process(command, log):
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: http_get(f"{url}/-/healthy"), 30, "exporter ready")
        target = urllib.parse.quote(f"{FORGED}:{free_port()}", safe="")
        assert "%0A" in target
        with contextlib.suppress(urllib.error.HTTPError):  # a failed read answers 200 or 5xx
            http_get(f"{url}/probe?target={target}", timeout=30)
        wait_until(lambda: "forged" in log.read_text(), 30, "the refused probe logged")
    lines = log.read_text().splitlines()
    assert lines
    for line in lines:
        if log_format == "json":
            fields = json.loads(line)
            assert set(fields) >= {"ts", "level", "logger", "msg"}
        else:
            assert line.startswith("ts=") and " level=" in line, line
        assert not line.startswith("ts=2026-01-01"), line
    if log_format == "json":
        assert any(FORGED in json.loads(line)["msg"] for line in lines)
    else:
        assert any("gone\\nts=2026-01-01T00:00:00Z level=error" in line for line in lines)
