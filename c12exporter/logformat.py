"""``--log.format logfmt|json``: one record, one line, whatever a message holds.

Messages carry text from outside (a ``/probe`` target, a unit's answer, a path), so
the formatter, not each caller, escapes it: a newline or other control character in a
value can never start a line of its own that looks like a record. logfmt quotes and
escapes values as go-kit's logfmt does (Prometheus's exporters); JSON escapes by
itself. A traceback becomes the ``err`` field, escaped like any value.
"""

from __future__ import annotations

import json
import logging
import re
import time

FORMATS = ("logfmt", "json")
LEVELS = {"WARNING": "warn", "CRITICAL": "error"}

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
"""Bidirectional controls: U+202E would show the rest of a line reversed."""
_NEEDS_QUOTES = re.compile(rf'[\s"=\\\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(rf'[\\"\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]')


def logfmt_value(text: str) -> str:
    """``text`` as one logfmt value: bare if it can be, else quoted and escaped."""
    if text and not _NEEDS_QUOTES.search(text):
        return text
    escaped = _TO_ESCAPE.sub(lambda m: _ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04x}", text)
    return f'"{escaped}"'


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _fields(formatter: logging.Formatter, record: logging.LogRecord) -> dict[str, str]:
    fields = {
        "ts": _timestamp(record),
        "level": LEVELS.get(record.levelname, record.levelname.lower()),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    if record.exc_info:
        fields["err"] = formatter.formatException(record.exc_info)
    elif record.exc_text:
        fields["err"] = record.exc_text
    return fields


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(self, record)
        return " ".join(f"{key}={logfmt_value(value)}" for key, value in fields.items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(self, record), ensure_ascii=True)


def configure(level: int, log_format: str) -> None:
    """Send every record to standard error, one line each, in ``log_format``. Like
    ``logging.basicConfig``, it leaves a root logger that already has handlers of
    someone else's (an embedding program, a test runner) as it is, but for the level."""
    root = logging.getLogger()
    root.setLevel(level)
    ours = [h for h in root.handlers if getattr(h, "c12exporter", False)]
    if root.handlers and not ours:
        return
    for old in ours:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.c12exporter = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    root.addHandler(handler)
