"""The ``history:`` section of the config file, checked.

Example::

    history:
      path: /var/lib/c12exporter/history.sqlite3   # default: <state_dir>/history.sqlite3
      rcbo_test_period: 31d                         # default 31d (the manual: monthly)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from ..limits import RCBO_TEST_PERIOD
from ..settings import ConfigError, HistoryConfig, only_keys, parse_duration

SECTION = "history"
_DAYS = re.compile(r"^(?P<value>\d+(?:\.\d+)?)d$")


def parse_period(text: object, where: str) -> float:
    """``"31d"``, ``"744h"``, ``"90m"`` or a number of seconds -> seconds."""
    match = _DAYS.match(str(text).strip())
    if match and float(match.group("value")) > 0:
        return float(match.group("value")) * 86400.0
    try:
        return parse_duration(text, where)
    except ConfigError:
        raise ConfigError(
            f"{where}: {text!r} is not a positive period like 31d, 744h or 90m"
        ) from None


def parse_history(data: object, where: str, base: Path) -> HistoryConfig:
    """The section as a value; a relative ``path`` is relative to ``base`` (the config
    file's directory)."""
    data = data if data is not None else {}
    only_keys(data, {"path", "rcbo_test_period"}, where)
    assert isinstance(data, Mapping)
    path = data.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        raise ConfigError(f"{where}.path: must be a file path, e.g. history.sqlite3")
    period = parse_period(
        data.get("rcbo_test_period", RCBO_TEST_PERIOD.value), f"{where}.rcbo_test_period"
    )
    return HistoryConfig(None if path is None else base / path, period)
