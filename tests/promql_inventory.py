"""Every PromQL expression the project ships, to check them against a real Prometheus.

:func:`all_promql_expressions` lists ``(source, expr)`` for the alert rules
(``alerts/c12-alerts.yml``) and the Grafana dashboards (``dashboards/*.json``: panel
targets, plus the series selector inside each ``label_values(...)`` variable query).

Dashboard expressions contain Grafana template variables, which Prometheus does not
know. :func:`substitute` replaces them with values that make a valid query that
matches the whole fleet:

- ``$job``, ``$pdu``, ``$connector``: ``.+``. An equality matcher on such a variable
  (``pdu="$pdu"``) becomes a regex matcher (``pdu=~".+"``) so it still matches every
  unit; pass ``{"pdu": "stage-left"}`` to query one unit exactly as Grafana would.
- ``$__range`` (the dashboard's time range): ``1h``; ``$__interval`` and
  ``$__rate_interval`` (Grafana's step, and step plus scrape interval): ``1m``;
  ``$period`` (the energy dashboard's bar length): ``1h``.
- ``$datasource`` only appears in datasource references, never in PromQL.

A live check then looks like::

    for source, expr in all_promql_expressions():
        query = substitute(expr)
        r = requests.get(f"{prometheus}/api/v1/query", params={"query": query})
        assert r.json()["status"] == "success", (source, query, r.text)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
RULES_FILE = REPO / "alerts" / "c12-alerts.yml"
DASHBOARD_DIR = REPO / "dashboards"

MATCH_ALL = ".+"
DEFAULT_VALUES: Mapping[str, str] = {
    "job": MATCH_ALL,
    "pdu": MATCH_ALL,
    "connector": MATCH_ALL,
    "period": "1h",
    "__range": "1h",
    "__rate_interval": "1m",
    "__interval": "1m",
}
"""Values :func:`substitute` uses for each template variable the dashboards use."""

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]")
_EQUALITY_ON_VARIABLE = re.compile(r'(\w+)\s*=\s*"(\$\{\w+\}|\$\w+|\[\[\w+\]\])"')
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*\w+\s*\)\s*$", re.S)


def rule_expressions(path: Path = RULES_FILE) -> list[tuple[str, str]]:
    """``(source, expr)`` of every alerting and recording rule in ``path``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rel = path.relative_to(REPO)
    return [
        (f"{rel}: {rule.get('alert') or rule.get('record')}", rule["expr"])
        for group in data["groups"]
        for rule in group["rules"]
    ]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # collapsed rows nest their panels


def dashboard_expressions(directory: Path = DASHBOARD_DIR) -> list[tuple[str, str]]:
    """``(source, expr)`` of every Prometheus target and ``label_values`` variable."""
    found: list[tuple[str, str]] = []
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        rel = path.relative_to(REPO)
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    where = f"{rel}: panel {panel.get('id')} {panel.get('title')!r}"
                    found.append((f"{where} ({target.get('refId')})", target["expr"]))
        for variable in board.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") == "query" and isinstance(query, str):
                match = _LABEL_VALUES.match(query)
                if match:
                    found.append((f"{rel}: variable {variable['name']}", match["selector"]))
    return found


def all_promql_expressions() -> list[tuple[str, str]]:
    """``(source, expr)`` for the alert rules and the dashboards (dashboards unsubstituted)."""
    return rule_expressions() + dashboard_expressions()


def substitute(expr: str, values: Mapping[str, str] | None = None) -> str:
    """``expr`` with Grafana template variables replaced (see the module docstring).

    :param values: overrides of :data:`DEFAULT_VALUES`, e.g. ``{"pdu": "stage-left"}``.
    :raises KeyError: for a variable with no value.
    """
    merged = {**DEFAULT_VALUES, **(values or {})}

    def name_of(token: str) -> str:
        match = _VARIABLE.fullmatch(token)
        assert match is not None
        return next(g for g in match.groups() if g)

    def equality(match: re.Match[str]) -> str:
        label, token = match.group(1), match.group(2)
        value = merged[name_of(token)]
        if value == MATCH_ALL:
            return f'{label}=~"{value}"'
        return f'{label}="{value}"'

    expr = _EQUALITY_ON_VARIABLE.sub(equality, expr)
    return _VARIABLE.sub(lambda m: merged[name_of(m.group(0))], expr)


if __name__ == "__main__":
    for source, expression in all_promql_expressions():
        print(f"# {source}\n{substitute(expression)}\n")
