"""The console's jobs pane: the running and recent jobs with their energy, and, for an
editor, a form to start one and a button to stop each (``POST /console/jobs``, under the
same access rules and CSRF checks as the console's edits; see ``docs/history.md``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import quote

from ..history import api as history_api
from ..history.db import HistoryError
from ..history.jobs import JOULES_PER_KWH, Job
from ..history.recorder import History
from ..history.report import iso
from .page import e

RECENT = 5
"""Stopped jobs shown besides the running ones."""


async def pane(history: History | None, groups: Iterable[str], editable: bool) -> str:
    """The jobs pane, or nothing when the exporter keeps no history."""
    if history is None:
        return ""
    try:
        listed = await history.all_jobs(RECENT)
    except HistoryError as error:
        return (
            '<section class="pane" id="jobs" aria-labelledby="jobs-h"><h2 id="jobs-h">Jobs</h2>'
            f"<p>The jobs cannot be shown: {e(error)}</p></section>"
        )
    return jobs_pane(listed, groups, editable)


def jobs_pane(jobs: Iterable[Job], groups: Iterable[str], editable: bool) -> str:
    """The pane: ``jobs`` as :meth:`History.all_jobs` gives them (running and recent).

    :param groups: label selectors (``rack=A``) offered as suggestions for the units."""
    rows = []
    for job in jobs:
        energy = sum(t.energy_j for t in job.units.values()) / JOULES_PER_KWH
        state = "running" if job.running else f"stopped {iso(job.stopped_at)}"
        stop = (
            f'<button type="button" data-job-stop="{e(job.name)}">Stop</button>'
            if editable and job.running
            else ""
        )
        rows.append(
            f"<tr><th scope='row'><a href='history/jobs/{e(quote(job.name, safe=''))}/report'>"
            f"{e(job.name)}</a></th><td>{e(', '.join(job.units))}</td>"
            f"<td>{e(iso(job.started_at))}</td><td>{e(state)}</td>"
            f'<td class="num">{energy:.3f}</td><td>{stop}</td></tr>'
        )
    table = (
        "<table id='jobs-table'><thead><tr><th scope='col'>Job</th><th scope='col'>Units</th>"
        "<th scope='col'>Started (UTC)</th><th scope='col'>State</th>"
        "<th scope='col'>kWh</th><th scope='col'></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No jobs yet.</p>"
    )
    form = ""
    if editable:
        options = "".join(f'<option value="{e(g)}">' for g in groups)
        form = (
            '<form id="job-start" novalidate><label>Name <input name="name" required '
            'autocomplete="off" maxlength="64"></label>'
            '<label>Units <input name="units" list="job-groups" autocomplete="off" '
            'aria-describedby="job-units-hint"></label>'
            f'<datalist id="job-groups">{options}</datalist>'
            '<p class="hint" id="job-units-hint">Names, label groups (rack=A) or patterns '
            "(sim-0*), separated by commas.</p>"
            '<button type="submit">Start job</button></form>'
        )
    return (
        '<section class="pane" id="jobs" aria-labelledby="jobs-h"><h2 id="jobs-h">Jobs</h2>'
        f"{table}{form}</section>"
    )


def expand(picks: Iterable[str], units: Iterable[tuple[str, Mapping[str, str]]]) -> list[str]:
    """Unit names from what the form names: a unit, a label group (``rack=A``) or a
    pattern (``sim-0*``); in fleet order, each once.

    :raises HistoryError: a pick that matches no unit."""
    fleet = list(units)
    chosen: list[str] = []
    for pick in (p.strip() for p in picks):
        if not pick:
            continue
        key, is_label, value = pick.partition("=")
        found = [
            name
            for name, labels in fleet
            if (labels.get(key.strip()) == value.strip() if is_label else fnmatchcase(name, pick))
        ]
        if not found:
            raise HistoryError(f"units: {pick!r} matches no unit of the fleet", "units", 400)
        chosen += [name for name in found if name not in chosen]
    return chosen


async def apply(
    history: History | None,
    body: dict[str, Any],
    user: str | None,
    units: Iterable[tuple[str, Mapping[str, str]]] = (),
) -> str:
    """Carry out a checked request; returns what to tell the user. ``units``: the fleet's
    names and labels, to expand the picks of the form.

    :raises HistoryError: naming the field and what to do (nothing changed).
    """
    if history is None:
        raise HistoryError("this exporter keeps no history", "history", 404)
    picks = body.get("units")
    if (
        body.get("action") == "start"
        and isinstance(picks, list)
        and all(isinstance(p, str) for p in picks)
    ):
        body = {**body, "units": expand(picks, units)}
    report = await history_api.apply(history, body, f"{user} (console)")
    return f"job {report['job']} {'started' if report['stopped_at'] is None else 'stopped'}"
