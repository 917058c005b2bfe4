"""The limits a C12 installation is judged by, each with where it comes from.

One place for the numbers the alert rules (``alerts/generate.py``), the dashboards
(``dashboards/generate.py``) and the SNMP agent's temperature notification use. The
supply limits are EN 50160's for low-voltage public networks; the temperature limit
is the C12B manual's; the rest are our choices, marked as such.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """A number, its unit and where it comes from."""

    value: float
    unit: str
    source: str


EN_50160 = "EN 50160 (voltage characteristics of public low-voltage networks)"
MANUAL = "StageSmarts C12B user manual"
OURS = "c12exporter's choice (no standard gives one)"

NOMINAL_VOLTAGE = Limit(230.0, "V", f"{EN_50160}: nominal line-neutral voltage")
VOLTAGE_TOLERANCE = Limit(0.10, "ratio", f"{EN_50160}: supply voltage within 230 V ±10 %")
VOLTAGE_UNBALANCE_MAX = Limit(0.02, "ratio", f"{EN_50160}: voltage unbalance up to 2 %")
VOLTAGE_THD_MAX = Limit(0.08, "ratio", f"{EN_50160}: voltage THD up to 8 %")
NOMINAL_FREQUENCY = Limit(50.0, "Hz", f"{EN_50160}: nominal frequency")
FREQUENCY_BANDS: Mapping[str, Limit] = {
    "grid": Limit(0.01, "ratio", f"{EN_50160}: 50 Hz ±1 % on an interconnected grid"),
    "generator": Limit(0.02, "ratio", f"{OURS}: usual tolerance of a show generator"),
}
"""Allowed frequency deviation by kind of supply."""

TEMPERATURE_LIMIT = Limit(45.0, "°C", f"{MANUAL}: do not use above 45 °C ambient")
TEMPERATURE_WARNING = Limit(40.0, "°C", f"{OURS}: 5 °C of headroom below the manual's limit")

NEAR_RATING_RATIO = Limit(0.8, "ratio", f"{OURS}: the usual near-overload warning at 80 %")
OVER_RATING_RATIO = Limit(1.0, "ratio", f"{MANUAL}: above its rating an RCBO trips after a delay")
TRIP_FORECAST_WARNING = Limit(
    300.0, "s", f"{OURS}: five minutes to shed or move a load before its RCBO trips"
)
NEUTRAL_MIN_CURRENT = Limit(2.0, "A", f"{OURS}: below this the neutral comparison is noise")
IMBALANCE_MAX_RATIO = Limit(0.5, "ratio", f"{OURS}: (max - min) / average of the phase currents")
IMBALANCE_MIN_AVERAGE = Limit(4.0, "A", f"{OURS}: no imbalance alert on an almost idle unit")
RECENT_POWER_UP = Limit(600.0, "s", f"{OURS}: uptime below this means just powered up")
RCBO_TEST_PERIOD = Limit(
    31 * 86400.0, "s", f"{MANUAL}: test every RCBO with its T button monthly (31 days)"
)
