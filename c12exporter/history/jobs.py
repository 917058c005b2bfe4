"""Energy per named job: what a set of units drew between the job's start and stop.

Per job and unit, from each reading after the start:

* energy: the increase of the import kWh counter from one reading to the next. When the
  meter restarted in between, the new value itself is the energy since (what flowed
  between the last reading before the loss and the loss is not seen by anyone: see
  ``docs/history.md``). A restart shows as the counter going down (the unit lost power,
  or its meter's L1 fuse was replaced) or in the unit's own clock, :func:`restarted`:
  whether or not the exporter saw the unit go, and even when the counter has passed its
  old value since;
* peak demand: the highest 15-minute active power demand the unit reported;
* maximum current per phase: the highest line current seen in a reading.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from ..measurements import PHASES
from ..reading import Reading
from .db import HistoryError, rollback

NAME_MAX = 64
JOULES_PER_KWH = 3.6e6
UPTIME_JITTER_S = 5.0
"""How much less than the wall time between two readings the unit's uptime may grow
without counting as a restart: the uptime register counts whole seconds, and a reading's
time is taken when its poll ends, which may be up to a poll timeout after the unit
answered."""
UPTIME_DRIFT = 0.001
"""The unit's clock against the exporter's, as a share of the time between readings
(a quartz clock is within 0.01 %; this allows ten times that)."""


def restarted(
    last_uptime_s: float | None, last_at: float | None, uptime_s: float, at: float
) -> bool:
    """Whether the unit powered up between two readings, from its uptime: it went back,
    or grew less than the wall time between the readings (less the jitter)."""
    if last_uptime_s is None or last_at is None:
        return False
    if uptime_s < last_uptime_s:
        return True
    elapsed = at - last_at
    return uptime_s - last_uptime_s < elapsed - UPTIME_JITTER_S - UPTIME_DRIFT * elapsed


@dataclass
class UnitTotals:
    """One unit's part of a job, as stored in ``job_units``."""

    unit: str
    energy_j: float = 0.0
    last_counter_j: float | None = None
    counter_resets: int = 0
    last_uptime_s: float | None = None
    peak_demand_w: float | None = None
    max_current_a: dict[str, float] = field(default_factory=dict)
    readings: int = 0
    first_reading_at: float | None = None
    last_reading_at: float | None = None

    def add(self, reading: Reading) -> None:
        uptime = reading.values.get("uptime")
        powered_up = isinstance(uptime, float | int) and restarted(
            self.last_uptime_s, self.last_reading_at, float(uptime), reading.taken_at
        )
        if isinstance(uptime, float | int):
            self.last_uptime_s = float(uptime)
        value = reading.values["active_energy_import"]
        if isinstance(value, float | int):  # absent while the meter is stopped
            counter = float(value)
            if self.last_counter_j is not None:
                if powered_up or counter < self.last_counter_j:  # the meter restarted at 0
                    self.energy_j += counter
                    self.counter_resets += 1
                else:
                    self.energy_j += counter - self.last_counter_j
            self.last_counter_j = counter
        elif powered_up and self.last_counter_j is not None:
            self.last_counter_j = 0.0  # its next value counts from the restart
            self.counter_resets += 1
        demand = reading.values["demand_active_power"]
        if isinstance(demand, float | int):
            self.peak_demand_w = max(self.peak_demand_w or 0.0, float(demand))
        for phase in reading.phases:
            current = phase.current_a
            if current is not None:
                peak = max(self.max_current_a.get(phase.phase, 0.0), current)
                self.max_current_a[phase.phase] = peak
        self.readings += 1
        self.first_reading_at = self.first_reading_at or reading.taken_at
        self.last_reading_at = reading.taken_at

    def row(self, job_id: int) -> tuple[object, ...]:
        return (
            self.energy_j, self.last_counter_j, self.counter_resets, self.peak_demand_w,
            *(self.max_current_a.get(p) for p in PHASES),
            self.readings, self.first_reading_at, self.last_reading_at, self.last_uptime_s,
            job_id, self.unit,
        )  # fmt: skip


UPDATE_UNIT = (
    "UPDATE job_units SET energy_j = ?, last_counter_j = ?, counter_resets = ?, "
    "peak_demand_w = ?, max_current_l1_a = ?, max_current_l2_a = ?, max_current_l3_a = ?, "
    "readings = ?, first_reading_at = ?, last_reading_at = ?, last_uptime_s = ? "
    "WHERE job = ? AND unit = ?"
)
_UNIT_COLUMNS = (
    "unit, energy_j, last_counter_j, counter_resets, peak_demand_w, max_current_l1_a, "
    "max_current_l2_a, max_current_l3_a, readings, first_reading_at, last_reading_at, "
    "last_uptime_s"
)


@dataclass
class Job:
    id: int
    name: str
    started_at: float
    stopped_at: float | None
    units: dict[str, UnitTotals]

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    def report(self) -> dict[str, object]:
        """The job as data: its units and the totals (see ``docs/history.md``)."""
        units = [_unit_report(t) for t in self.units.values()]
        maxima = {
            p: max((t.max_current_a[p] for t in self.units.values() if p in t.max_current_a),
                   default=None)
            for p in PHASES
        }  # fmt: skip
        demands = [t.peak_demand_w for t in self.units.values() if t.peak_demand_w is not None]
        return {
            "job": self.name,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "units": units,
            "total": {
                "energy_kwh": sum(t.energy_j for t in self.units.values()) / JOULES_PER_KWH,
                "counter_resets": sum(t.counter_resets for t in self.units.values()),
                "peak_demand_sum_w": sum(demands) if demands else None,
                "max_current_a": maxima,
                "readings": sum(t.readings for t in self.units.values()),
            },
        }


def _unit_report(t: UnitTotals) -> dict[str, object]:
    data = asdict(t)
    data.pop("last_counter_j")
    data.pop("last_uptime_s")
    data["energy_kwh"] = data.pop("energy_j") / JOULES_PER_KWH
    return data


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(not ch.isprintable() or ch == "/" for ch in name):
        raise HistoryError(
            f"job name {name!r}: give 1 to {NAME_MAX} printable characters other than '/', "
            "e.g. 'Hamlet 12 May'",
            "name",
        )
    return name


def check_units(units: Sequence[str], fleet: Iterable[str]) -> tuple[str, ...]:
    known = list(fleet)
    chosen = tuple(dict.fromkeys(u.strip() for u in units if u.strip()))
    if not chosen:
        raise HistoryError(
            "units: give at least one unit, e.g. --units stage-left,stage-right", "units"
        )
    unknown = [u for u in chosen if u not in known]
    if unknown:
        raise HistoryError(
            f"units: {', '.join(unknown)} not in the fleet; known: {', '.join(known) or 'none'}",
            "units",
        )
    return chosen


def insert_job(
    conn: sqlite3.Connection, name: str, units: Sequence[str], at: float | None = None
) -> Job:
    """A new running job; refused (nothing written) when the name is taken."""
    started = time.time() if at is None else at
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT started_at FROM jobs WHERE name = ?", (name,)).fetchone()
        if row is not None:
            raise HistoryError(
                f"job name {name!r}: a job of that name exists (started "
                f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(row[0]))}); choose another",
                "name",
                409,
            )
        job_id = conn.execute(
            "INSERT INTO jobs (name, started_at) VALUES (?, ?)", (name, started)
        ).lastrowid
        assert job_id is not None
        conn.executemany(
            "INSERT INTO job_units (job, unit) VALUES (?, ?)", [(job_id, u) for u in units]
        )
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise
    return Job(job_id, name, started, None, {u: UnitTotals(u) for u in units})


def mark_stopped(conn: sqlite3.Connection, job: Job, at: float | None = None) -> float:
    stopped = time.time() if at is None else at
    updated = conn.execute(
        "UPDATE jobs SET stopped_at = ? WHERE id = ? AND stopped_at IS NULL", (stopped, job.id)
    ).rowcount
    if updated != 1:
        raise HistoryError(f"job {job.name!r} is not running", "name", 409)
    return stopped


def load_jobs(
    conn: sqlite3.Connection,
    *,
    running_only: bool = False,
    name: str | None = None,
    stopped_limit: int | None = None,
) -> list[Job]:
    """Jobs in the order they started, with their units' totals.

    :param stopped_limit: only the running jobs and this many of the last stopped ones.
    """
    clauses = (["stopped_at IS NULL"] if running_only else []) + (["name = ?"] if name else [])
    params: tuple[object, ...] = (name,) if name else ()
    if stopped_limit is not None:
        clauses.append(
            "(stopped_at IS NULL OR id IN (SELECT id FROM jobs WHERE stopped_at IS NOT NULL "
            "ORDER BY stopped_at DESC LIMIT ?))"
        )
        params += (stopped_limit,)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    jobs = [
        Job(job_id, job_name, started, stopped, {})
        for job_id, job_name, started, stopped in conn.execute(
            f"SELECT id, name, started_at, stopped_at FROM jobs {where} ORDER BY started_at",
            params,
        )
    ]
    for job in jobs:
        for row in conn.execute(
            f"SELECT {_UNIT_COLUMNS} FROM job_units WHERE job = ? ORDER BY unit", (job.id,)
        ):
            unit, energy, last, resets, demand, l1, l2, l3, readings, first, latest, up = row
            currents = {p: a for p, a in zip(PHASES, (l1, l2, l3), strict=True) if a is not None}
            job.units[unit] = UnitTotals(
                unit, energy, last, resets, up, demand, currents, readings, first, latest
            )
    return jobs


def load_job(conn: sqlite3.Connection, name: str) -> Job:
    found = load_jobs(conn, name=name)
    if not found:
        raise HistoryError(f"no job named {name!r}; see 'c12exporter job list'", "name", 404)
    return found[0]
