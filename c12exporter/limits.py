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
VOLTAGE_UNBALANCE_MAX = Limit(
    0.02,
    "ratio",
    f"{EN_50160}: voltage unbalance (negative over positive sequence) up to 2 %",
)
VOLTAGE_THD_MAX = Limit(0.08, "ratio", f"{EN_50160}: voltage THD up to 8 %")
NOMINAL_FREQUENCY = Limit(50.0, "Hz", f"{EN_50160}: nominal frequency")
FREQUENCY_BANDS: Mapping[str, Limit] = {
    "grid": Limit(0.01, "ratio", f"{EN_50160}: 50 Hz ±1 % on an interconnected grid"),
    "generator": Limit(0.02, "ratio", f"{OURS}: usual tolerance of a show generator"),
}
"""Allowed frequency deviation by kind of supply."""

TEMPERATURE_LIMIT = Limit(45.0, "°C", f"{MANUAL}: do not use above 45 °C ambient")
TEMPERATURE_WARNING = Limit(40.0, "°C", f"{OURS}: 5 °C of headroom below the manual's limit")
TEMPERATURE_MINIMUM = Limit(0.0, "°C", f"{MANUAL}: do not use below 0 °C ambient")

NEAR_RATING_RATIO = Limit(0.8, "ratio", f"{OURS}: the usual near-overload warning at 80 %")
OVER_RATING_RATIO = Limit(1.0, "ratio", f"{MANUAL}: above its rating an RCBO trips after a delay")
TRIP_FORECAST_WARNING = Limit(
    300.0, "s", f"{OURS}: five minutes to shed or move a load before its RCBO trips"
)
TRIP_HEAT_WARNING = Limit(
    0.5,
    "ratio",
    f"{OURS}: a breaker half way to a trip (any overload now trips it in half its curve time)",
)
TRIP_HEAT_CLEAR = Limit(
    0.2,
    "ratio",
    f"{OURS}: the trip alert holds until the heat falls below this: the heat at which the "
    "non-tripping current holds the built-in breakers, so any current they carry "
    "indefinitely lets it clear",
)
INPUT_NEAR_RATING_RATIO = Limit(
    0.8, "ratio", f"{OURS}: the usual near-overload warning at 80 % of the input rating"
)
INPUT_OVER_RATING_RATIO = Limit(
    1.0,
    "ratio",
    "the input's rating (c12_input_rating_amperes: plug, cable and switch disconnector), "
    "phases and N",
)
INPUT_LOAD_HYSTERESIS = Limit(
    0.02, "ratio", f"{OURS}: an input level is left only this far (of the rating) below it"
)
CHANNEL_LOAD_HYSTERESIS = Limit(
    0.05, "ratio", f"{OURS}: a channel's load level is left only this far (of its rating) below it"
)
NEUTRAL_MIN_CURRENT = Limit(2.0, "A", f"{OURS}: below this the neutral comparison is noise")
IMBALANCE_MAX_RATIO = Limit(
    0.25,
    "ratio",
    f"{OURS}: NEMA MG-1 unbalance (largest deviation from the mean, over the mean) of the "
    "phase currents",
)
IMBALANCE_MIN_AVERAGE = Limit(4.0, "A", f"{OURS}: no imbalance alert on an almost idle unit")
RECENT_POWER_UP = Limit(600.0, "s", f"{OURS}: uptime below this means just powered up")
POWER_UP_JITTER = Limit(
    60.0,
    "s",
    f"{OURS}: the power-up time (reading time less uptime) moves by the poll jitter and "
    "clock steps; a move beyond this is a restart",
)
RCBO_TEST_PERIOD = Limit(
    31 * 86400.0, "s", f"{MANUAL}: test every RCBO with its T button monthly (31 days)"
)
