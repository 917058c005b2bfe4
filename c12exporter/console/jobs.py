"""The console's jobs pane: the running and recent jobs with their energy, and, for an
editor, a form to start one and a button to stop each (``POST /console/jobs``, under the
same access rules and CSRF checks as the console's edits; see ``docs/history.md``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..history import api as history_api
from ..history.db import HistoryError
from ..history.jobs import JOULES_PER_KWH, Job
from ..history.recorder import History
from ..history.report import iso
from .page import e

RECENT = 5
"""Stopped jobs shown besides the running ones."""


async def pane(history: History | None, units: Iterable[str], editable: bool) -> str:
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
    return jobs_pane(listed, units, editable)


def jobs_pane(jobs: Iterable[Job], units: Iterable[str], editable: bool) -> str:
    """The pane: ``jobs`` as :meth:`History.all_jobs` gives them (running and recent)."""
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
            f"<tr><th scope='row'>{e(job.name)}</th><td>{e(', '.join(job.units))}</td>"
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
        boxes = "".join(
            f'<label><input type="checkbox" name="unit" value="{e(u)}"> {e(u)}</label>'
            for u in units
        )
        form = (
            '<form id="job-start" novalidate><label>Name <input name="name" required '
            'autocomplete="off" maxlength="64"></label>'
            f"<fieldset><legend>Units</legend>{boxes}</fieldset>"
            '<button type="submit">Start job</button></form>'
        )
    return (
        '<section class="pane" id="jobs" aria-labelledby="jobs-h"><h2 id="jobs-h">Jobs</h2>'
        f"{table}{form}</section>"
    )


async def apply(history: History | None, body: dict[str, Any], user: str | None) -> str:
    """Carry out a checked request; returns what to tell the user.

    :raises HistoryError: naming the field and what to do (nothing changed).
    """
    if history is None:
        raise HistoryError("this exporter keeps no history", "history", 404)
    report = await history_api.apply(history, body, f"{user} (console)")
    return f"job {report['job']} {'started' if report['stopped_at'] is None else 'stopped'}"
