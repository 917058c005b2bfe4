"""The supply check before switching on: the manual recommends checking every voltage
before moving the switch disconnector to ON, which the meter allows since it reads
before the switch.

From one fresh reading: each phase's voltage against EN 50160 (230 V ±10 %,
:mod:`c12exporter.limits`), the frequency against the unit's band (``supply: grid`` or
``generator`` in its config), a phase with no voltage (missing, or its 1 AT meter fuse
blown: the reading cannot tell which, and either must be found before switching on), the
neutral sensor, and the e-stop. The verdict is "safe to switch on" only when nothing is
wrong; every reason not to is listed.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from ..limits import FREQUENCY_BANDS, NOMINAL_FREQUENCY, NOMINAL_VOLTAGE, VOLTAGE_TOLERANCE
from ..measurements import PHASES
from ..reading import Reading
from .query import window

MISSING_PHASE_RATIO = 0.5
"""A phase reading below half the nominal voltage is taken as missing, not just low (ours)."""
SAFE, UNSAFE = "safe to switch on", "do not switch on"
COLUMNS = ("time", "unit", "serial", "verdict", "reasons", "notes", "jobs", "checked_by",
           *(f"voltage_{p.lower()}_v" for p in PHASES), "frequency_hz", "supply")  # fmt: skip


@dataclass(frozen=True)
class SupplyCheck:
    """One check's outcome; ``reasons`` say why not to switch on (none: safe)."""

    at: float
    unit: str
    serial: str
    reasons: tuple[str, ...]
    notes: tuple[str, ...]
    readings: dict[str, object]
    jobs: str = ""
    checked_by: str = ""
    id: int | None = None

    @property
    def safe(self) -> bool:
        return not self.reasons

    @property
    def verdict(self) -> str:
        return SAFE if self.safe else UNSAFE

    def report(self) -> dict[str, object]:
        return {
            "id": self.id,
            "time": self.at,
            "unit": self.unit,
            "serial": self.serial,
            "verdict": self.verdict,
            "safe": self.safe,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "readings": self.readings,
            "jobs": self.jobs,
            "checked_by": self.checked_by,
        }

    def row(self) -> dict[str, object]:
        """A flat row of :data:`COLUMNS` for tables and CSV."""
        volts = self.readings.get("voltage_v")
        volts = volts if isinstance(volts, dict) else {}
        return {
            "time": self.at, "unit": self.unit, "serial": self.serial, "verdict": self.verdict,
            "reasons": "; ".join(self.reasons), "notes": "; ".join(self.notes),
            "jobs": self.jobs, "checked_by": self.checked_by,
            **{f"voltage_{p.lower()}_v": volts.get(p) for p in PHASES},
            "frequency_hz": self.readings.get("frequency_hz"),
            "supply": self.readings.get("supply"),
        }  # fmt: skip


def voltage_band() -> tuple[float, float]:
    nominal, tolerance = NOMINAL_VOLTAGE.value, VOLTAGE_TOLERANCE.value
    return nominal * (1 - tolerance), nominal * (1 + tolerance)


def frequency_band(supply: str) -> tuple[float, float]:
    nominal, tolerance = NOMINAL_FREQUENCY.value, FREQUENCY_BANDS[supply].value
    return nominal * (1 - tolerance), nominal * (1 + tolerance)


def check(unit: str, reading: Reading | None, supply: str, at: float, why_down: str) -> SupplyCheck:
    """The check of ``unit`` from its fresh ``reading`` (``None``: it cannot be read,
    ``why_down`` says why)."""
    if reading is None:
        return SupplyCheck(
            at, unit, "", (f"the unit cannot be read ({why_down}): check its supply at the meter",),
            (), {"supply": supply},
        )  # fmt: skip
    low_v, high_v = voltage_band()
    low_hz, high_hz = frequency_band(supply)
    reasons: list[str] = []
    notes: list[str] = []
    volts = {phase.phase: phase.voltage_v for phase in reading.phases}
    if all(v is None for v in volts.values()):
        reasons.append(
            "the meter reads no voltage at all: L1 is missing or its meter fuse is blown "
            "(the meter is powered from L1); find out which before switching on"
        )
    else:
        for phase, volt in volts.items():
            if volt is None:
                reasons.append(
                    f"{phase}: no voltage reading: the phase is missing or its meter fuse is "
                    "blown; find out which before switching on"
                )
            elif volt < NOMINAL_VOLTAGE.value * MISSING_PHASE_RATIO:
                reasons.append(f"{phase}: {volt:.1f} V: the phase is missing")
            elif not low_v <= volt <= high_v:
                reasons.append(
                    f"{phase}: {volt:.1f} V is outside {low_v:.0f}-{high_v:.0f} V (EN 50160)"
                )
    frequency = reading.values.get("frequency")
    hz = float(frequency) if isinstance(frequency, int | float) else None
    if hz is not None and not low_hz <= hz <= high_hz:
        reasons.append(
            f"frequency {hz:.2f} Hz is outside {low_hz:.2f}-{high_hz:.2f} Hz "
            f"(the {supply}'s band; the unit's config says supply: {supply})"
        )
    if reading.neutral_lost:
        reasons.append(
            "the neutral is lost (the unit's sensor): have a qualified electrician inspect the "
            "wiring from the source before switching on"
        )
    if reading.estop_pressed:
        reasons.append("the emergency stop is pressed: find out why, then twist it to release")
    if reading.switch_on:
        notes.append("the switch disconnector is already on: the voltages were read under load")
    readings: dict[str, object] = {
        "voltage_v": volts,
        "voltage_band_v": [low_v, high_v],
        "frequency_hz": hz,
        "frequency_band_hz": [low_hz, high_hz],
        "supply": supply,
        "switch_disconnector": "on" if reading.switch_on else "off",
        "neutral": "lost" if reading.neutral_lost else "ok",
        "emergency_stop": "pressed" if reading.estop_pressed else "released",
        "metered_phases": reading.values.get("metered_phases"),
    }
    return SupplyCheck(at, unit, reading.identity.serial, tuple(reasons), tuple(notes), readings)


INSERT = (
    "INSERT INTO supply_checks (at, unit, serial, verdict, reasons, readings, jobs, checked_by) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def insert_params(result: SupplyCheck) -> tuple[object, ...]:
    return (
        result.at, result.unit, result.serial, result.verdict,
        json.dumps({"reasons": result.reasons, "notes": result.notes}),
        json.dumps(result.readings), result.jobs, result.checked_by,
    )  # fmt: skip


def load_checks(
    conn: sqlite3.Connection, unit: str | None, since: float | None, until: float | None
) -> list[SupplyCheck]:
    """Checks in time order."""
    where, params = window("at", unit, since, until)
    rows = conn.execute(
        f"SELECT id, at, unit, serial, reasons, readings, jobs, checked_by FROM supply_checks "
        f"{where} ORDER BY at, id",
        params,
    ).fetchall()
    found = []
    for check_id, at, unit_name, serial, reasons, readings, jobs, by in rows:
        said = json.loads(reasons)
        found.append(
            SupplyCheck(at, unit_name, serial, tuple(said["reasons"]), tuple(said["notes"]),
                        json.loads(readings), jobs, by, check_id)
        )  # fmt: skip
    return found
