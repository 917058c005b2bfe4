"""The MIB columns that are not a measurement of their own, declared once.

A measurement's column is declared on the measurement (:class:`c12exporter.measurements.
Column`). The columns here are the rest of C12-PDU-MIB's four tables: the indexes, the
unit's identity and configuration, and what the exporter derives from a reading (supply
band, unbalance, supervision, aux socket, trip forecast, breaker heat, RCBO records).
:mod:`c12exporter.snmp.mibgen` writes the MIB's tables from both; :mod:`c12exporter.snmp.
cells` says what each column holds. A column that carries a derived series names its
declaration (``series``), so each is found from the other
(:func:`c12exporter.catalogue.mib_columns`).
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass


@dataclass(frozen=True)
class MibColumn:
    """One column of a C12-PDU-MIB table.

    :param entry: the table's entry (``c12ChannelEntry``).
    :param arc: the column's number in the entry; ``None``: the next free one.
    :param syntax: the SYNTAX clause, with its range or size.
    :param description: the DESCRIPTION, paragraphs separated by a blank line.
    :param units: the UNITS clause; none when empty.
    :param access: the MAX-ACCESS clause.
    :param scale: docs/mib.md's "scale / units" when the SYNTAX does not say it.
    :param source: what it holds, for docs/mib.md.
    :param step: the SI value of one unit of the column (0.001 for milliamperes).
    :param series: the id of the derived series (:data:`c12exporter.catalogue.DERIVED`)
        the column carries to SNMP, where it carries one.
    """

    entry: str
    arc: int | None
    name: str
    syntax: str
    _: KW_ONLY
    description: str
    units: str = ""
    access: str = "read-only"
    scale: str = ""
    source: str = ""
    step: float = 1.0
    series: str = ""


COLUMNS: tuple[MibColumn, ...] = (
    MibColumn(
        "c12UnitEntry",
        1,
        "c12UnitIndex",
        "Unsigned32 (1..4294967295)",
        access="not-accessible",
        source="the unit's number, kept in `snmp-unit-index.json`",
        description=(
            "A number given to a unit the first time the agent serves it, counting from 1. "
            "The agent keeps it for that unit across configuration reloads and restarts, "
            "and never gives it to another unit, even after the unit is removed."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        2,
        "c12UnitName",
        "C12Utf8String",
        source="`unit` (configured name)",
        description=("The unit's name as configured (the 'pdu' label of the Prometheus metrics)."),
    ),
    MibColumn(
        "c12UnitEntry",
        3,
        "c12UnitAddress",
        "DisplayString",
        scale="`host:port`, IPv6 as `[addr]:port`",
        source="configured address",
        description=(
            "The unit's network address as configured, as 'host:port' (an IPv6 literal in "
            "brackets, e.g. '[2001:db8::1]:502')."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        4,
        "c12UnitReachability",
        "C12Reachability",
        source="store: fresh good reading",
        series="up",
        description=(
            "Whether the agent holds a fresh reading of the unit. While it is "
            "unreachable(2) the unit has no rows in c12InputTable, c12LineTable and "
            "c12ChannelTable."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        5,
        "c12UnitLastUpdate",
        "DateAndTime",
        scale="UTC",
        source="`taken_at` of the last good reading",
        description=(
            "When the last successful poll of the unit was taken, in UTC (the 11-octet form"
            " with direction '+' and offset 0). The value '0000000000000000'H means the "
            "unit has not been read successfully since the agent started."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        6,
        "c12UnitModel",
        "DisplayString (SIZE (0..32))",
        source="`identity.model`",
        series="unit_info",
        description=(
            "The model name the unit reports, e.g. 'C12B-12' (C12B, output layout 1, "
            "auxiliary socket 2)."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        7,
        "c12UnitSerial",
        "DisplayString (SIZE (0..64))",
        source="`identity.serial`",
        series="unit_info",
        description="The serial number the unit reports.",
    ),
    MibColumn(
        "c12UnitEntry",
        8,
        "c12UnitFirmware",
        "DisplayString (SIZE (0..64))",
        source="`identity.firmware`",
        series="unit_info",
        description="The firmware version the unit reports.",
    ),
    MibColumn(
        "c12UnitEntry",
        13,
        "c12UnitSupervisionWarning",
        "TruthValue",
        source="`supervision_warning`",
        series="supervision_warning",
        description=(
            "true(1) while any channel of the unit is outside its supervision band "
            "(c12ChannelSupervisionState below(3) or above(4)): the warning triangle of the"
            " unit's web interface."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        14,
        "c12UnitStoredName",
        "C12Utf8String (SIZE (0..16))",
        access="read-write",
        source="`stored_name` (the name stored in the unit)",
        description=(
            "The name stored in the unit itself (at most 16 octets of UTF-8), the one its "
            "own web page shows; empty when none is set. Writing it renames the unit in the"
            " unit. It is not c12UnitName, the name the agent's configuration gives the "
            "unit. No instance while the unit is unreachable."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        15,
        "c12UnitSupply",
        "C12Supply",
        source="config `supply` (default grid)",
        description=(
            "What feeds the unit, as the agent's configuration says (supply: grid or "
            "generator; grid when not given)."
        ),
    ),
    MibColumn(
        "c12UnitEntry",
        16,
        "c12UnitFrequencyBand",
        "C12DeciPercent (0..1000)",
        units="percent",
        scale="0.1 %",
        source=(
            "the allowed frequency deviation of that supply: 10 (grid, ±1 %) or 20 (generator, ±2"
            " %), as `c12_supply_frequency_band_ratio`"
        ),
        step=0.001,
        series="supply_frequency_band",
        description=(
            "The allowed deviation of c12InputFrequency from 50 Hz for the unit's "
            "c12UnitSupply, in tenths of a percent: 10 (1.0 %, EN 50160 on an "
            "interconnected grid) or 20 (2.0 %, the usual tolerance of a show generator)."
        ),
    ),
    MibColumn(
        "c12InputEntry",
        14,
        "c12InputEnergyResetTime",
        "DateAndTime",
        scale="UTC",
        source="`taken_at - uptime_s`",
        series="power_up_time",
        description=(
            "When the meter's energy counters (c12InputActiveEnergy, "
            "c12InputReactiveEnergy) last started from zero: the unit's last power-up, "
            "computed as the time of the last successful poll less c12InputUptime, in UTC "
            "(the 11-octet form with direction '+' and offset 0). This is the discontinuity"
            " indicator of both counters."
        ),
    ),
    MibColumn(
        "c12InputEntry",
        17,
        "c12InputPhaseUnbalance",
        "Unsigned32 (0..2000)",
        units="tenths of a percent",
        scale="0.1 %",
        source=(
            "NEMA line current unbalance, as `c12_phase_unbalance_ratio` "
            "([console.md](console.md#phase-balance)); no instance while the mean line current is"
            " under 1 A or a line is not metered"
        ),
        step=0.001,
        series="phase_unbalance",
        description=(
            "The unbalance of the three line currents as NEMA MG-1 defines it: the largest "
            "deviation of a c12LineCurrent from the mean of the three, over that mean, in "
            "tenths of a percent (0 balanced, 1000 for e.g. 10, 6 and 0 A, 2000 all current"
            " on one line). The instance exists only while the mean is 1 A or more and the "
            "meter measures every line. c12exporter advise names the move of one load that "
            "reduces it most."
        ),
    ),
    MibColumn(
        "c12InputEntry",
        18,
        "c12InputRating",
        "C12MilliAmperes (0..2147483647)",
        units="A",
        scale="mA",
        source=(
            "`model.input_rating_a` x 1000 (63000): each line and the neutral, as "
            "`c12_input_rating_amperes`"
        ),
        step=0.001,
        series="input_rating",
        description=(
            "The rating of the unit's input (63 A Harting plug, 5-pole cable, 4-pole switch"
            " disconnector), for each line and for the neutral alike: the neutral conductor"
            " has the lines' size. With LED walls and switch-mode supplies the neutral can "
            "carry more than any line, and more than this rating, while every channel is "
            "within its own. c12InputLoadChanged reports a line or the neutral crossing 80 "
            "% or 100 % of it."
        ),
    ),
    MibColumn(
        "c12InputEntry",
        19,
        "c12InputVoltageUnbalance",
        "Unsigned32 (0..10000)",
        units="hundredths of a percent",
        scale="0.01 %",
        source=(
            "EN 50160 voltage unbalance (negative over positive sequence), as "
            "`c12_voltage_unbalance_ratio` ([metrics.md](metrics.md#supply-quality-definitions));"
            " no instance while a line voltage is missing"
        ),
        step=0.0001,
        series="voltage_unbalance",
        description=(
            "The supply voltage unbalance as EN 50160 defines it: the negative-sequence "
            "over the positive-sequence voltage, in hundredths of a percent (EN 50160 "
            "allows up to 200). The meter reports line-neutral magnitudes only; the agent "
            "derives the line-line voltages taking the lines 120 degrees apart and applies "
            "IEC 61000-4-30's magnitude-only formula to them. The instance exists only "
            "while every c12LineVoltage is available."
        ),
    ),
    MibColumn(
        "c12LineEntry",
        1,
        "c12LineIndex",
        "C12PhaseName",
        access="not-accessible",
        source="L1..L3",
        description="The line: l1(1), l2(2) or l3(3).",
    ),
    MibColumn(
        "c12LineEntry",
        11,
        "c12LineVoltageAvailable",
        "TruthValue",
        source="`voltage_v is not None`",
        series="voltage_missing",
        description=(
            "false(2) while the meter reports no voltage for this line (its meter fuse is "
            "blown); the voltage-derived columns of the row are then absent. true(1) "
            "otherwise."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        1,
        "c12ChannelIndex",
        "Unsigned32 (1..4294967295)",
        access="not-accessible",
        source="`number`: 1 to the model's channel count (12 on a C12B, 24 on a C24B)",
        description=(
            "The channel (output) number as printed on the unit, from 1 to the number of "
            "channels of the unit's model (12 on a C12B)."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        2,
        "c12ChannelName",
        "C12Utf8String (SIZE (0..16))",
        access="read-write",
        source="`name`",
        series="channel_info",
        description=(
            "The channel's name as stored in the unit (at most 16 octets of UTF-8). Writing"
            " it renames the channel in the unit."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        3,
        "c12ChannelConnector",
        "DisplayString (SIZE (0..16))",
        source="`connector` (e.g. `A`)",
        series="channel_info",
        description="The label of the back-panel connector that carries the channel, e.g. 'A'.",
    ),
    MibColumn(
        "c12ChannelEntry",
        4,
        "c12ChannelConnectorType",
        "DisplayString (SIZE (0..64))",
        source="`connector_type` (e.g. `Socapex 19-pin`)",
        series="channel_info",
        description="The family of that connector, e.g. 'Socapex 19-pin'.",
    ),
    MibColumn(
        "c12ChannelEntry",
        5,
        "c12ChannelPins",
        "DisplayString (SIZE (0..32))",
        scale="`live/neutral`",
        source='`"/".join(pins)` (e.g. `1/2`, `L/N`)',
        series="channel_info",
        description=(
            "The connector contacts that carry the channel, as the live pin and the neutral"
            " pin separated by '/', e.g. '1/2'."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        6,
        "c12ChannelPhase",
        "C12PhaseName",
        source="`phase` (= `c12LineIndex` of that line)",
        series="channel_info",
        description=(
            "The line that feeds the channel; its value is the c12LineIndex of that line's "
            "row in c12LineTable."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        7,
        "c12ChannelRating",
        "C12MilliAmperes (0..2147483647)",
        units="A",
        scale="mA",
        source="`rating_a` x 1000 (16000)",
        step=0.001,
        series="channel_rating",
        description="The rated current of the channel's RCBO (16 A, read 16000).",
    ),
    MibColumn(
        "c12ChannelEntry",
        11,
        "c12ChannelSupervisionMin",
        "C12MilliAmperes (-1 | 0..63000)",
        units="A",
        access="read-write",
        scale="mA, -1 = not set",
        source="`supervision.min_a` x 1000 or -1",
        step=0.001,
        series="channel_supervision_min",
        description=(
            "The minimum of the channel's supervision band in milliamperes; -1 means not "
            "set (no minimum). Tools that apply the display hint show -1 as a tiny negative"
            " current (net-snmp: '-.001 A').\n\n"
            "Writing it sets the minimum in the unit; write -1 to clear it. Where the "
            "agent's configuration fixes the band of this channel, the configured value is "
            "reported and a write is rejected with inconsistentValue."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        12,
        "c12ChannelSupervisionMax",
        "C12MilliAmperes (-1 | 0..63000)",
        units="A",
        access="read-write",
        scale="mA, -1 = not set",
        source="`supervision.max_a` x 1000 or -1",
        step=0.001,
        series="channel_supervision_max",
        description=(
            "The maximum of the channel's supervision band in milliamperes; -1 means not "
            "set (no maximum). Tools that apply the display hint show -1 as a tiny negative"
            " current (net-snmp: '-.001 A').\n\n"
            "Writing it sets the maximum in the unit; write -1 to clear it. Where the "
            "agent's configuration fixes the band of this channel, the configured value is "
            "reported and a write is rejected with inconsistentValue."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        13,
        "c12ChannelSupervisionState",
        "C12SupervisionState",
        source="`supervision_state`",
        series="channel_supervision_position",
        description="Where c12ChannelCurrent sits against the supervision band.",
    ),
    MibColumn(
        "c12ChannelEntry",
        14,
        "c12ChannelAuxSocket",
        "TruthValue",
        source="`number == model.aux_channel` (12 on a C12B, 24 on a C24B)",
        series="aux_socket_info",
        description=(
            "true(1) when the channel also feeds the unit's auxiliary domestic socket "
            "(channel 12 on a C12B that has one). The socket and the channel's main "
            "connector pins share the channel's RCBO."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        15,
        "c12ChannelAuxSocketName",
        "DisplayString (SIZE (0..64))",
        source="`model.aux_socket.name` on the aux channel, else empty",
        series="aux_socket_info",
        description=(
            "The kind of auxiliary socket, e.g. 'German Schuko'; zero-length when "
            "c12ChannelAuxSocket is false(2)."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        16,
        "c12ChannelAuxSocketStd",
        "DisplayString (SIZE (0..64))",
        source="`model.aux_socket.standard` on the aux channel, else empty",
        series="aux_socket_info",
        description=(
            "The standard the auxiliary socket follows, e.g. 'CEE 7/3'; zero-length when "
            "c12ChannelAuxSocket is false(2)."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        17,
        "c12ChannelAuxSocketRating",
        "C12MilliAmperes (0..2147483647)",
        units="A",
        scale="mA",
        source="`model.aux_socket.rating_a` x 1000 on the aux channel, else 0",
        step=0.001,
        series="aux_socket_rating",
        description=(
            "The auxiliary socket's own rating from its national standard (e.g. 13000 for a"
            " BS 1363 socket); 0 when c12ChannelAuxSocket is false(2). The channel's RCBO "
            "still limits socket and main connector together to c12ChannelRating."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        18,
        "c12ChannelTripForecast",
        "Unsigned32",
        units="seconds",
        scale="seconds, rounded up",
        source=(
            "the trip forecast (`c12exporter/forecast.py`, "
            "[metrics.md](metrics.md#breaker-heat-and-trip-forecast)); no instance while the "
            "channel is not overloaded"
        ),
        series="channel_trip_forecast",
        description=(
            "The expected time until the channel's RCBO trips if the present "
            "c12ChannelCurrent stays, in whole seconds rounded up (0: due now). It follows "
            "the breaker's time-current curve and the heat the breaker has taken from the "
            "load since the agent began reading the unit. The instance exists only while "
            "the breaker is closed and the channel draws more than c12ChannelRating at a "
            "current the curve trips at: a Get returns noSuchInstance otherwise and a walk "
            "skips it."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        19,
        "c12ChannelRcboLastCycle",
        "DateAndTime",
        source=(
            "when the RCBO last closed after being open, whatever opened it (a test, a trip, a "
            "hand switch-off), from the history ([history.md](history.md)); no instance before a "
            "cycle is recorded. Not a test record: see column 21"
        ),
        description=(
            "When the channel's RCBO last closed again after being open, whatever opened it"
            " (a test with its T button, a trip or a switch-off), as the exporter's history"
            " recorded it. This is not a test record: c12ChannelRcboLastTest is. The "
            "instance exists only once a cycle has been recorded (and the history is kept)."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        20,
        "c12ChannelBreakerHeat",
        "C12Thousandths (0..1000)",
        scale="0.001",
        source=(
            "the breaker's heat, as `c12_channel_breaker_heat_ratio` "
            "([metrics.md](metrics.md#breaker-heat-and-trip-forecast)): 0 cold, 1000 trips; every"
            " channel while a forecast is kept"
        ),
        step=0.001,
        series="channel_breaker_heat",
        description=(
            "The heat of the channel's RCBO in thousandths: how far the dashpot of the "
            "magnetic-hydraulic breaker has moved towards an overcurrent trip, 0 cold, 1000"
            " trips. It follows the breaker's time-current curve above the non-tripping "
            "current (1.05 times c12ChannelRating); at or below it, and while the breaker "
            "is open, it moves towards the equilibrium of the present current (0 at no "
            "current) with one time constant. It does not reset when the breaker opens for "
            "any reason, so a breaker closed again soon after an overload trips sooner. The"
            " instance exists for every channel of a reachable unit while the agent keeps a"
            " trip forecast."
        ),
    ),
    MibColumn(
        "c12ChannelEntry",
        21,
        "c12ChannelRcboLastTest",
        "DateAndTime",
        source=(
            "when the RCBO last passed a test of a test session, as "
            "`c12_channel_rcbo_last_test_timestamp_seconds` ([history.md](history.md)); trips and"
            " hand switching never count; no instance before a test passes"
        ),
        series="channel_rcbo_last_test",
        description=(
            "When the channel's RCBO last passed a test in a test session of the exporter's"
            " history: prompted, it opened with its T button with no overcurrent behind it."
            " A trip on overload or a switch-off by hand is never a test. The manual asks "
            "for a test of every RCBO each month. The instance exists only once a test has "
            "passed (and the history is kept)."
        ),
    ),
)
"""Every column that is not a measurement's, by table and number."""
