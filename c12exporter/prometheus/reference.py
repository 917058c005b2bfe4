"""The tables of ``docs/metrics.md``, written from the declarations.

The measured series come from :mod:`..measurements`, the derived and the exporter's own
from :mod:`..catalogue` (each listed in its :class:`~..catalogue.Table`). The tables
between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->`` are rewritten by
:func:`update` (``c12exporter docs``) and checked by the tests; the rest of the document
(the reasoning, the definitions) is prose.
"""

from __future__ import annotations

import re

from ..catalogue import DERIVED, Derived, Table, exposed
from ..measurements import MEASUREMENTS, PHASES, Measurement, Scope, metric_labels

HEADER = ["| metric | type | labels | meaning |", "|---|---|---|---|"]


def _row(group: list[Measurement]) -> str:
    first = group[0]
    assert first.metric is not None
    name = first.metric_name + ("_total" if first.metric.counter else "")
    labels = list(metric_labels(first))
    if "phase" in labels:
        extra = [m.metric.labels["phase"] for m in group if m.metric and "phase" in m.metric.labels]
        phases = [*(PHASES if any(m.scope is Scope.PHASE for m in group) else ()), *extra]
        labels[labels.index("phase")] = f"phase ({', '.join(phases)})"
    meaning = first.metric_help
    if first.states:
        values = first.metric.states or {s: i for i, s in enumerate(first.states)}
        meaning += "; " + ", ".join(f"`{values[s]:g}` {s}" for s in first.states)
    notes = [m.note for m in group if m.note]
    if notes:
        meaning += "; " + "; ".join(notes)
    if any(m.register.nullable for m in group):
        meaning += " (absent while the unit reports it not available)"
    kind = "counter" if first.metric.counter else "gauge"
    return f"| `{name}` | {kind} | {', '.join(labels)} | {meaning} |"


def table(scopes: tuple[Scope, ...]) -> str:
    """One row per metric of the measurements of ``scopes`` (shared metrics merged)."""
    groups: dict[str, list[Measurement]] = {}
    for m in MEASUREMENTS:
        if m.metric is not None and m.scope in scopes:
            groups.setdefault(m.metric_name, []).append(m)
    return "\n".join([*HEADER, *(_row(group) for group in groups.values())])


TABLES = {
    "unit": (Scope.UNIT, Scope.PHASE),
    "channel": (Scope.CHANNEL,),
}
"""Measured tables: name -> the scopes of their measurements."""


def _derived_row(series: Derived) -> str:
    kind = "counter" if series.metric.counter else "gauge"
    if series.metric_name.endswith("_info"):
        kind = "info (gauge 1)"
    labels = ", ".join(series.label_names)
    return f"| `{exposed(series)}` | {kind} | {labels} | {series.note or series.metric_help} |"


def derived_table(table: Table, derived: tuple[Derived, ...] = DERIVED) -> str:
    """One row per derived series of ``table``, in declaration order."""
    return "\n".join([*HEADER, *(_derived_row(s) for s in derived if s.table is table)])


def tables(derived: tuple[Derived, ...] = DERIVED) -> dict[str, str]:
    """Every generated table of the document, by name."""
    measured = {name: table(scopes) for name, scopes in TABLES.items()}
    return {**measured, **{t.value: derived_table(t, derived) for t in Table}}


def update(document: str, derived: tuple[Derived, ...] = DERIVED) -> str:
    """``document`` with every generated table rewritten (``derived``: the catalogue's
    derived series, or others to see what the document would become)."""
    for name, text in tables(derived).items():
        pattern = re.compile(
            rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end: {name} -->)", re.DOTALL
        )
        match = pattern.search(document)
        if match is None:
            raise ValueError(f"no '<!-- generated: {name} -->' ... '<!-- end: {name} -->' block")
        document = (
            document[: match.start()] + f"{match[1]}{text}\n{match[2]}" + document[match.end() :]
        )
    return document
