"""A job's readings over time, for its report's charts: per job and unit, one row per
time bucket (a minute to begin with) with the mean active power, the meter's demand and
the highest current of each phase in it.

Growth is bounded: when a unit's part of a job reaches :data:`SAMPLES_MAX` rows, its
buckets are merged in pairs and the bucket doubles (1, 2, 4 ... minutes), so a job of
any length keeps at most that many rows per unit, evenly spread over it. Buckets are
aligned to multiples of their width in unix time, so two of one width make one of the
next.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from ..measurements import PHASES
from ..reading import Reading

BUCKET_S = 60
"""The first bucket width: one row per unit per minute."""
SAMPLES_MAX = 1440
"""Rows per job and unit (a day of minutes) before the buckets are merged in pairs."""

Write = tuple[str, tuple[object, ...]]

UPSERT = (
    "INSERT INTO job_samples (job, unit, width_s, at, power_readings, power_sum_w, demand_w, "
    "current_l1_a, current_l2_a, current_l3_a) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (job, unit, width_s, at) DO UPDATE SET "
    "power_readings = power_readings + excluded.power_readings, "
    "power_sum_w = power_sum_w + excluded.power_sum_w, "
    "demand_w = max(coalesce(demand_w, excluded.demand_w), coalesce(excluded.demand_w, demand_w)), "
    + ", ".join(
        f"current_{p}_a = max(coalesce(current_{p}_a, excluded.current_{p}_a), "
        f"coalesce(excluded.current_{p}_a, current_{p}_a))"
        for p in ("l1", "l2", "l3")
    )
)
MERGE = (
    "INSERT INTO job_samples (job, unit, width_s, at, power_readings, power_sum_w, demand_w, "
    "current_l1_a, current_l2_a, current_l3_a) "
    "SELECT job, unit, ?1, (at / ?1) * ?1, sum(power_readings), sum(power_sum_w), "
    "max(demand_w), max(current_l1_a), max(current_l2_a), max(current_l3_a) "
    "FROM job_samples WHERE job = ?2 AND unit = ?3 AND width_s = ?4 GROUP BY at / ?1"
)
DELETE_WIDTH = "DELETE FROM job_samples WHERE job = ? AND unit = ? AND width_s = ?"
COLUMNS = ("time", "unit", "width_s", "active_power_w", "demand_w",
           *(f"current_{p.lower()}_a" for p in PHASES))  # fmt: skip


@dataclass
class _Bucket:
    at: int
    power_readings: int = 0
    power_sum_w: float = 0.0
    demand_w: float | None = None
    current_a: dict[str, float] = field(default_factory=dict)


@dataclass
class Sampler:
    """One unit's part of one running job: the bucket being filled and the rows so far."""

    job: int
    unit: str
    width_s: int = BUCKET_S
    rows: int = 0
    bucket: _Bucket | None = None

    def add(self, reading: Reading) -> list[Write]:
        """Take one reading; returns the rows to write (a bucket completed, a merge)."""
        at = int(reading.taken_at) // self.width_s * self.width_s
        writes = self.flush() if self.bucket is not None and self.bucket.at != at else []
        bucket = self.bucket = self.bucket or _Bucket(at)
        power = reading.values.get("active_power")
        if isinstance(power, float | int):
            bucket.power_readings += 1
            bucket.power_sum_w += float(power)
        demand = reading.values.get("demand_active_power")
        if isinstance(demand, float | int):
            bucket.demand_w = max(bucket.demand_w or 0.0, float(demand))
        for phase in reading.phases:
            if phase.current_a is not None:
                bucket.current_a[phase.phase] = max(
                    bucket.current_a.get(phase.phase, 0.0), phase.current_a
                )
        return writes

    def flush(self) -> list[Write]:
        """The bucket being filled as a row (it is added to one already written), and a
        merge if that makes too many."""
        bucket, self.bucket = self.bucket, None
        if bucket is None:
            return []
        writes: list[Write] = [
            (UPSERT, (self.job, self.unit, self.width_s, bucket.at, bucket.power_readings,
                      bucket.power_sum_w, bucket.demand_w,
                      *(bucket.current_a.get(p) for p in PHASES)))
        ]  # fmt: skip
        self.rows += 1
        if self.rows >= SAMPLES_MAX:
            wider = self.width_s * 2
            writes += [
                (MERGE, (wider, self.job, self.unit, self.width_s)),
                (DELETE_WIDTH, (self.job, self.unit, self.width_s)),
            ]
            self.width_s, self.rows = wider, (self.rows + 1) // 2
        return writes


def resume(conn: sqlite3.Connection, job: int, unit: str) -> Sampler:
    """A running job's sampler after a restart: its width and row count as written."""
    width, rows = conn.execute(
        "SELECT max(width_s), count(*) FROM job_samples WHERE job = ? AND unit = ?", (job, unit)
    ).fetchone()
    return Sampler(job, unit, int(width or BUCKET_S), int(rows))


def sample_rows(conn: sqlite3.Connection, job: int) -> list[dict[str, object]]:
    """A job's samples in time order, all units, as rows of :data:`COLUMNS`."""
    rows = conn.execute(
        "SELECT at, unit, width_s, power_sum_w, power_readings, demand_w, current_l1_a, "
        "current_l2_a, current_l3_a FROM job_samples WHERE job = ? ORDER BY at, unit",
        (job,),
    )
    return [
        {"time": at, "unit": unit, "width_s": width,
         "active_power_w": power_sum / readings if readings else None, "demand_w": demand,
         "current_l1_a": l1, "current_l2_a": l2, "current_l3_a": l3}
        for at, unit, width, power_sum, readings, demand, l1, l2, l3 in rows
    ]  # fmt: skip
