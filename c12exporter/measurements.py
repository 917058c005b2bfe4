"""Every quantity a C12B reports, declared once.

A :class:`Measurement` says what the quantity is (name, SI unit, description), where the
unit's register map carries it (:class:`Register`: type, scale, the wire's unit),
its Prometheus metric (:class:`Metric`) and its column in C12-PDU-MIB with that
column's scale (:class:`Column`). Everything else derives from :data:`MEASUREMENTS`:

* the register map's measurement block, its decoder and the simulator's encoder
  (:mod:`c12exporter.modbus.registermap`), which convert between the wire's units and
  SI, so a :class:`~c12exporter.reading.Reading` holds SI values only;
* the Prometheus collector (:mod:`c12exporter.prometheus.collector`);
* the SNMP cells (:mod:`c12exporter.snmp.cells`);
* ``docs/register-map.md`` and the measurement tables of ``docs/metrics.md``;
* the fleet console (:mod:`c12exporter.console.view`), from each measurement's
  :class:`Display`: the plain label, unit and digits people read, and the pane.

To add a measurement: declare it here (its place in the tuple is its place in the
register map, so add it at the end; a block that outgrows one Modbus read is read with
several, planned by the register map), produce it in the simulator's physics
(``Physics.measurements``), then regenerate what is written from the declarations
(``make generate``: the MIB's tables, where a bare :class:`Column` gets the next free
number and a SYNTAX from its unit, the Zabbix templates and the docs).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, field

PHASES: tuple[str, ...] = ("L1", "L2", "L3")


def channel_keys(channel_count: int) -> tuple[str, ...]:
    """The channel numbers of a model with ``channel_count`` channels, as label values."""
    return tuple(str(n) for n in range(1, channel_count + 1))


CHANNEL_COUNT = 12
"""The C12's channels. A model declares its own (:attr:`c12exporter.model.UnitModel.
channel_count`); this is the default for what is not given a model."""
CHANNELS: tuple[str, ...] = channel_keys(CHANNEL_COUNT)

ESTOP_STATES = ("released", "pressed")
SWITCH_STATES = ("off", "on")
NEUTRAL_STATES = ("ok", "lost")
BREAKER_STATES = ("closed", "open")
LOAD_STATES = ("off", "normal", "slight_overload", "serious_overload")
"""State measurements: the register holds the position of the state in its tuple."""

Quantity = float | str | None
"""A measurement's value on a reading: SI number, state name, or ``None`` (not available)."""

METRIC_SUFFIXES: Mapping[str, str] = {
    "A": "amperes",
    "V": "volts",
    "W": "watts",
    "var": "vars",
    "VA": "volt_amperes",
    "Hz": "hertz",
    "°C": "celsius",
    "s": "seconds",
    "J": "joules",
    "var·s": "var_seconds",
    "ratio": "ratio",
    "": "",
}
"""SI unit -> the base-unit suffix of a Prometheus metric name."""


class Scope(enum.Enum):
    """How many values a measurement has per unit, and what tells them apart."""

    UNIT = "unit"
    PHASE = "phase"
    CHANNEL = "channel"

    @property
    def keys(self) -> tuple[str, ...]:
        """Label values in register order for a C12: ``()`` for the unit, phases, channel
        numbers (:meth:`keys_for` gives another channel count's)."""
        return self.keys_for(CHANNEL_COUNT)

    @property
    def count(self) -> int:
        return max(1, len(self.keys))

    def keys_for(self, channel_count: int) -> tuple[str, ...]:
        """Label values in register order for a model of ``channel_count`` channels."""
        if self is Scope.CHANNEL:
            return CHANNELS if channel_count == CHANNEL_COUNT else channel_keys(channel_count)
        return PHASES if self is Scope.PHASE else ()

    def count_for(self, channel_count: int) -> int:
        """Values per unit for a model of ``channel_count`` channels."""
        return max(1, len(self.keys_for(channel_count)))


@dataclass(frozen=True)
class Register:
    """Where the register map carries a measurement.

    :param kind: ``u16``, ``s16``, ``u32``, ``s32`` or ``u64``.
    :param scale: one count, in ``unit``.
    :param unit: the wire's unit (``Wh`` for energy; the SI unit when empty).
    :param to_si: ``unit`` -> the measurement's SI unit (Wh -> J: 3600).
    :param valid: plausible range in ``unit``; a value outside is a fault of the unit.
    :param nullable: the unit may report it "not available".
    """

    kind: str
    scale: float = 1.0
    unit: str = ""
    to_si: float = 1.0
    valid: tuple[float, float] | None = None
    nullable: bool = False


@dataclass(frozen=True)
class Metric:
    """The Prometheus metric of a measurement.

    :param name: default ``c12_<measurement name>_<unit suffix>``.
    :param counter: a counter (served with ``_total``) rather than a gauge.
    :param help: default: the measurement's description.
    :param labels: constant labels (the neutral is ``phase="N"`` of the line currents).
    :param states: a state measurement's value per state; default its position.
    """

    name: str = ""
    counter: bool = False
    help: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    states: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Column:
    """The C12-PDU-MIB column of a measurement.

    :param name: the object name; a unit-scope measurement's column is in c12UnitTable
        when it starts with ``c12Unit``, else in c12InputTable; phases are c12LineTable,
        channels c12ChannelTable.
    :param step: the SI value of one MIB unit (0.001 for milliamperes).
    :param wrap: the value is taken modulo this (TimeTicks wrap at 2^32).
    :param arc: its number in the table; default: the next free one.
    :param syntax: its SYNTAX; default from the unit and ``step``
        (:func:`c12exporter.snmp.mibgen.default_syntax`).
    :param units: its UNITS; default from the unit; ``""`` for none.
    :param description: its DESCRIPTION (paragraphs separated by a blank line); default:
        the measurement's description.

    :mod:`c12exporter.snmp.mibgen` writes the column into the MIB from this.
    """

    name: str
    step: float = 1.0
    wrap: int | None = None
    _: KW_ONLY
    arc: int | None = None
    syntax: str = ""
    units: str | None = None
    description: str = ""


class Pane(enum.Enum):
    """Where a person looks for a measurement on the unit (its front panel's panes)."""

    STATUS = "status"
    """The safety chain: e-stop, switch disconnector, neutral; shown in words."""
    CHANNELS = "channels"
    """Pane D: each output channel."""
    METER = "meter"
    """The main meter, behind a "details" disclosure."""
    HIDDEN = "hidden"
    """Not shown as a value of its own (used to explain another)."""


DISPLAY_UNITS: Mapping[str, tuple[str, float, int]] = {
    "A": ("A", 1.0, 1),
    "V": ("V", 1.0, 0),
    "W": ("kW", 1e-3, 2),
    "var": ("kvar", 1e-3, 2),
    "VA": ("kVA", 1e-3, 2),
    "Hz": ("Hz", 1.0, 2),
    "°C": ("°C", 1.0, 1),
    "J": ("kWh", 1 / 3.6e6, 2),
    "var·s": ("kvarh", 1 / 3.6e6, 2),
    "ratio": ("", 1.0, 2),
    "s": ("", 1.0, 0),
    "": ("", 1.0, 0),
}
"""SI unit -> (the unit people read, SI value times this, decimals), unless a
:class:`Display` says otherwise."""


@dataclass(frozen=True)
class Display:
    """How people see a measurement (the console; other surfaces may follow).

    :param label: a plain label, a few words ("Voltage", "Neutral current").
    :param pane: where it belongs on the unit's page.
    :param unit: the unit shown; default from :data:`DISPLAY_UNITS` by the SI unit
        (``%`` shows a ratio as a percentage).
    :param digits: decimals shown; default from :data:`DISPLAY_UNITS`.
    """

    label: str
    pane: Pane = Pane.METER
    unit: str | None = None
    digits: int | None = None


ZABBIX_UNITS: Mapping[str, tuple[str, float]] = {
    "J": ("Wh", 3600.0),
    "var·s": ("varh", 3600.0),
    "ratio": ("", 1.0),
}
"""SI unit -> (the units a Zabbix item shows, the SI value of one of them), where they are
not the SI unit itself."""


@dataclass(frozen=True)
class ZabbixHints:
    """How the Zabbix templates show a measurement (``zabbix/generate.py``): an item in
    both templates, read from its MIB column and from its metric.

    :param key: the item key; ``[phase]`` or ``[{#CHANNEL}]`` is added unless it has
        brackets; default ``c12.unit|line|channel.<name>``.
    :param name: default: the display label.
    :param component: the ``component`` tag; default ``safety`` for the status pane,
        ``channel`` for a channel, else ``load``.
    :param description: default: the measurement's description.
    :param units: default from the unit (:data:`ZABBIX_UNITS`); ``uptime`` for a
        duration Zabbix shows as one.

    A derived series (:class:`c12exporter.catalogue.Derived`) takes these too, and:

    :param column: the MIB column the SNMP template reads; default the series' column.
    :param label: read this label of the metric (an info series) instead of its value.
    :param absent: the value the HTTP template gives while the series is absent.
    :param absent_snmp: the value the SNMP template gives while the column's instance is.
    :param not_set: the column's value for "not set", passed on unscaled.
    :param value_map: the HTTP template's value map of the metric's numbers (the SNMP
        template maps the column's enumeration); the item is then an unsigned number.
    :param value_type: ``FLOAT`` (default), ``UNSIGNED`` or ``CHAR``.
    """

    key: str = ""
    name: str = ""
    component: str = ""
    description: str = ""
    units: str | None = None
    column: str = ""
    label: str = ""
    absent: str | None = None
    absent_snmp: str | None = None
    not_set: int | None = None
    value_map: str = ""
    value_type: str = ""


def show(value: Quantity, si_unit: str, display: Display | None = None) -> str:
    """``value`` (in ``si_unit``) as people read it: "231 V", "4.20 kW", "12.5 %", "off";
    "n/a" when there is none."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value.replace("_", " ")
    unit, scale, digits = DISPLAY_UNITS[si_unit]
    if si_unit == "s":
        return _duration(value)
    if display is not None and display.unit is not None:
        unit = display.unit
        scale = 100.0 if unit == "%" else scale
    if display is not None and display.digits is not None:
        digits = display.digits
    text = f"{value * scale:.{digits}f}"
    return f"{text} {unit}" if unit else text


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


@dataclass(frozen=True)
class Measurement:
    """One quantity a unit reports. See the module docstring."""

    name: str
    scope: Scope
    description: str
    unit: str
    register: Register
    _: KW_ONLY
    states: tuple[str, ...] = ()
    metric: Metric | None = field(default_factory=Metric)
    column: Column | None = None
    note: str = ""
    """More for the docs than fits the description."""
    display: Display | None = None
    """The plain label and format for people; default: the description, in the meter."""
    zabbix: ZabbixHints | None = field(default_factory=ZabbixHints)
    """Its item in the Zabbix templates; ``None``: not in them."""

    @property
    def label(self) -> str:
        return self.display.label if self.display else self.description

    @property
    def pane(self) -> Pane:
        """Where the console shows it: :attr:`Display.pane`; without a display, a channel's
        measurement in pane D, any other in the meter."""
        if self.display is not None:
            return self.display.pane
        return Pane.CHANNELS if self.scope is Scope.CHANNEL else Pane.METER

    def show(self, value: Quantity) -> str:
        """``value`` as people read it (:func:`show`)."""
        return show(value, self.unit, self.display)

    @property
    def metric_name(self) -> str:
        if self.metric is None:
            raise ValueError(f"{self.name} has no metric")
        if self.metric.name:
            return self.metric.name
        suffix = METRIC_SUFFIXES[self.unit]
        return f"c12_{self.name}_{suffix}" if suffix else f"c12_{self.name}"

    @property
    def state_values(self) -> Mapping[str, float]:
        """The metric's value of each state: :attr:`Metric.states`, else the state's
        position in :attr:`states`."""
        if self.metric is not None and self.metric.states is not None:
            return self.metric.states
        return {state: float(position) for position, state in enumerate(self.states)}

    @property
    def metric_help(self) -> str:
        return (self.metric.help if self.metric else "") or self.description


CHANNEL_MAX_A = 650.0
"""The most a channel's current register holds (and the most a simulated load draws)."""
LINE_MAX_A = CHANNEL_COUNT * CHANNEL_MAX_A
"""The most a line (or the neutral) can carry: every channel at its maximum on one phase."""
VOLTAGE_MAX_V = 500.0
POWER_MAX = LINE_MAX_A * VOLTAGE_MAX_V
"""Bound of a phase's and the unit's power (W, var, VA): the power registers hold any
product of a current and a voltage the current and voltage registers hold, so an overload
is read as what it is, never as a fault of the unit."""


def _current(
    name: str, description: str, scope: Scope, bound: float = LINE_MAX_A, **options: object
) -> Measurement:
    return Measurement(
        name, scope, description, "A",
        Register("u16" if bound <= CHANNEL_MAX_A else "u32", 0.01, "A", valid=(0.0, bound),
                 nullable=bool(options.pop("nullable", False))),
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


MILLI = 0.001
DECI = 0.1
CENTI = 0.01
WH = 3600.0
"""One Wh (or var h) in J (var s)."""

MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "emergency_stop", Scope.UNIT, "Emergency stop button", "",
        Register("u16"), states=ESTOP_STATES,
        metric=Metric("c12_emergency_stop_pressed", help="1 while the emergency stop is pressed"),
        column=Column(
            "c12UnitEstopState", arc=10, syntax="C12EstopState",
            description="The emergency stop button.",
        ),
        zabbix=ZabbixHints("c12.unit.estop", "Emergency stop",
                           description="The emergency stop button."),
        display=Display("E-stop", Pane.STATUS),
    ),
    Measurement(
        "switch_disconnector", Scope.UNIT, "Switch disconnector", "",
        Register("u16"), states=SWITCH_STATES,
        metric=Metric("c12_switch_disconnector_on", help="1 while the switch disconnector is ON"),
        column=Column(
            "c12UnitSwitchState", arc=11, syntax="C12SwitchState", description=(
                "The switch disconnector. The emergency stop and the loss-of-neutral sensor both "
                "trip it to off(1)."
            ),
        ),
        zabbix=ZabbixHints("c12.unit.switch", "Switch disconnector",
                           description="The 4-pole switch disconnector."),
        display=Display("Switch", Pane.STATUS),
    ),
    Measurement(
        "neutral", Scope.UNIT, "Loss-of-neutral sensor", "",
        Register("u16"), states=NEUTRAL_STATES,
        metric=Metric("c12_neutral_lost",
               help="1 while the loss-of-neutral sensor reports a lost neutral"),
        column=Column(
            "c12UnitNeutralState", arc=12, syntax="C12NeutralState",
            description="The loss-of-neutral sensor.",
        ),
        zabbix=ZabbixHints(description="The loss-of-neutral sensor."),
        display=Display("Neutral", Pane.STATUS),
    ),
    Measurement(
        "temperature", Scope.UNIT,
        "Ambient (inlet air) temperature at the unit, the one the manual's 0-45 °C "
        "operating range is about", "°C",
        Register("s16", DECI, "°C", valid=(-40.0, 125.0), nullable=True),
        column=Column(
            "c12UnitTemperature", DECI, arc=9, description=(
                "The ambient (inlet air) temperature the unit measures: the temperature the "
                "manual's 0-45 degrees Celsius operating range is about, so its limit applies to "
                "this value as is; the heat of the load inside the unit does not raise it. The "
                "unit must not be used above c12TemperatureLimit. Absent while the unit reports "
                "it as not available."
            ),
        ),
        note="the manual gives only an ambient range (0-45 °C) and leaves the meter's °C "
        "readouts blank; we take the sensor to read the inlet air, so the limit applies to "
        "the reading as is (docs/simulator.md)",
        zabbix=ZabbixHints(name="Temperature", component="environment",
                           description="Unit temperature, taken as the ambient reading the "
                           "manual's 0-45 °C applies to."),
        display=Display("Temperature (inlet air)"),
    ),
    Measurement(
        "uptime", Scope.UNIT, "Seconds since the unit was last powered up", "s",
        Register("u32", 1.0, "s"),
        column=Column(
            "c12InputUptime", CENTI, wrap=2**32, arc=15, syntax="TimeTicks", units="", description=(
                "The time since the unit was last powered up, as the unit reported it at the last"
                " successful poll. The maxima, the demand maxima and the energy counters of this "
                "unit all count from that power-up."
            ),
        ),
        note="restarts at 0 after a power loss, with the energy counters",
        zabbix=ZabbixHints(name="Uptime", component="health", units="uptime",
                           description="Time since the unit was last powered up; its energy "
                           "counters restart then."),
        display=Display("Powered up for"),
    ),
    Measurement(
        "voltage", Scope.PHASE,
        "Line-neutral voltage; not available when the phase's meter fuse is blown", "V",
        Register("u16", DECI, "V", valid=(0.0, VOLTAGE_MAX_V), nullable=True),
        metric=Metric(help="Line-neutral voltage"),
        column=Column(
            "c12LineVoltage", DECI, arc=2,
            description=(
                "The line-to-neutral voltage. Absent while c12LineVoltageAvailable is false(2)."
            ),
        ),
        zabbix=ZabbixHints(component="supply",
                           description="Line-neutral voltage (absent with a blown meter fuse)."),
        display=Display("Voltage"),
    ),
    _current(
        "current", "Line current", Scope.PHASE, nullable=True,
        metric=Metric(help="Line and neutral current"), column=Column(
            "c12LineCurrent", MILLI, arc=3,
            description=(
                "The line current. Absent while the meter is stopped (see c12InputMeteredPhases)."
            ),
        ),
        zabbix=ZabbixHints(description="Line current."),
        display=Display("Current"),
    ),
    _current(
        "neutral_current", "Neutral current", Scope.UNIT, nullable=True,
        metric=Metric("c12_current_amperes", help="Line and neutral current",
                      labels={"phase": "N"}),
        column=Column(
            "c12InputNeutralCurrent", MILLI, arc=2, description=(
                "The neutral current. Triplen harmonics (LED walls, switch-mode supplies) can "
                "push it above the line currents even on a balanced load. Absent while the meter "
                "is stopped."
            ),
        ),
        zabbix=ZabbixHints("c12.input.current[N]", description="Current in the neutral conductor."),
        display=Display("Neutral current"),
    ),
    _current(
        "max_current", "Maximum line current since power-up", Scope.PHASE, nullable=True,
        metric=Metric(help="Maximum current since power-up"),
        column=Column(
            "c12LineMaxCurrent", MILLI, arc=4,
            description="The highest line current since the unit was last powered up.",
        ),
        zabbix=None,
        display=Display("Highest current since power-up"),
    ),
    _current(
        "max_neutral_current", "Maximum neutral current since power-up", Scope.UNIT,
        nullable=True,
        metric=Metric("c12_max_current_amperes", help="Maximum current since power-up",
                      labels={"phase": "N"}),
        column=Column(
            "c12InputMaxNeutralCurrent", MILLI, arc=3,
            description="The highest neutral current since the unit was last powered up.",
        ),
        zabbix=None,
        display=Display("Highest neutral current since power-up"),
    ),
    Measurement(
        "current_thd", Scope.PHASE,
        "Average current THD since power-up, of the fundamental (THD-F: may exceed 1 for "
        "switch-mode loads)", "ratio",
        Register("u16", MILLI, "ratio", valid=(0.0, 10.0), nullable=True),
        column=Column(
            "c12LineCurrentThd", MILLI, arc=9, syntax="C12DeciPercent (0..2147483647)", units="%",
            description=(
                "The average total harmonic distortion of the line current since the unit was "
                "last powered up, relative to the fundamental (THD-F: the rms of the harmonic "
                "currents over the fundamental current). It exceeds 100 % when the harmonics "
                "carry more current than the fundamental, as with switch-mode supplies and LED "
                "drivers."
            ),
        ),
        zabbix=ZabbixHints("c12.line.current_thd", "Current THD",
                           description="Average current THD since power-up, as a ratio."),
        display=Display("Current distortion (THD)", unit="%", digits=1),
    ),
    Measurement(
        "voltage_thd", Scope.PHASE,
        "Average voltage THD since power-up, of the fundamental (THD-F)", "ratio",
        Register("u16", MILLI, "ratio", valid=(0.0, 1.0), nullable=True),
        column=Column(
            "c12LineVoltageThd", MILLI, arc=10, syntax="C12DeciPercent (0..2147483647)", units="%",
            description=(
                "The average total harmonic distortion of the line voltage since the unit was "
                "last powered up, relative to the fundamental (THD-F, as EN 50160's 8 % limit "
                "is). Absent while c12LineVoltageAvailable is false(2)."
            ),
        ),
        zabbix=ZabbixHints("c12.line.voltage_thd", "Voltage THD", "supply",
                           description="Average voltage THD since power-up, as a ratio."),
        display=Display("Voltage distortion (THD)", unit="%", digits=1),
    ),
    Measurement(
        "frequency", Scope.UNIT, "Supply frequency", "Hz",
        Register("u16", CENTI, "Hz", valid=(40.0, 70.0), nullable=True),
        column=Column(
            "c12InputFrequency", CENTI, arc=1, syntax="C12CentiHertz",
            description="The supply frequency. Absent while the meter reports it as not available.",
        ),
        zabbix=ZabbixHints("c12.input.frequency", component="supply",
                           description="Supply frequency."),
        display=Display("Frequency"),
    ),
    Measurement(
        "phase_active_power", Scope.PHASE, "Active power per phase", "W",
        Register("s32", 1.0, "W", valid=(-POWER_MAX, POWER_MAX), nullable=True),
        column=Column(
            "c12LineActivePower", arc=5,
            description=(
                "The active power of the line. Absent while c12LineVoltageAvailable is false(2)."
            ),
        ),
        zabbix=ZabbixHints("c12.line.power.active", "Active power",
                           description="Active power of the phase."),
        display=Display("Power"),
    ),
    Measurement(
        "active_power", Scope.UNIT,
        "Total active power over the phases the meter measures (c12_metered_phases): "
        "a phase whose meter fuse is blown is left out", "W",
        Register("s32", 1.0, "W", valid=(-POWER_MAX, POWER_MAX), nullable=True),
        column=Column(
            "c12InputActivePower", arc=4, description=(
                "The total active power of the lines the meter measures (c12InputMeteredPhases): "
                "a line whose meter fuse is blown is left out. Absent while the meter is stopped."
            ),
        ),
        zabbix=ZabbixHints("c12.input.power.active", "Active power",
                           description="Total active power of the phases the meter measures."),
        display=Display("Power"),
    ),
    Measurement(
        "phase_reactive_power", Scope.PHASE,
        "Reactive power per phase, positive for a lagging (inductive) load", "var",
        Register("s32", 1.0, "var", valid=(-POWER_MAX, POWER_MAX), nullable=True),
        column=Column(
            "c12LineReactivePower", arc=6, description=(
                "The reactive power of the line (fundamental): positive for a lagging (inductive)"
                " load, negative for a leading (capacitive) one. Absent while "
                "c12LineVoltageAvailable is false(2)."
            ),
        ),
        zabbix=None,
        display=Display("Reactive power"),
    ),
    Measurement(
        "reactive_power", Scope.UNIT,
        "Total reactive power over the phases the meter measures (c12_metered_phases), "
        "positive for a lagging (inductive) load: a phase whose meter fuse is blown is left "
        "out", "var",
        Register("s32", 1.0, "var", valid=(-POWER_MAX, POWER_MAX), nullable=True),
        column=Column(
            "c12InputReactivePower", arc=5, description=(
                "The total reactive power of the lines the meter measures "
                "(c12InputMeteredPhases): a line whose meter fuse is blown is left out. Sign as "
                "IEC 61557-12 and IEC 62053-23 use it: positive for a lagging (inductive) load, "
                "negative for a leading (capacitive) one. Absent while the meter is stopped."
            ),
        ),
        zabbix=ZabbixHints("c12.input.power.reactive", "Reactive power",
                           description="Total reactive power of the phases the meter measures."),
        display=Display("Reactive power"),
    ),
    Measurement(
        "phase_apparent_power", Scope.PHASE, "Apparent power per phase", "VA",
        Register("u32", 1.0, "VA", valid=(0.0, POWER_MAX), nullable=True),
        column=Column(
            "c12LineApparentPower", arc=7, description=(
                "The apparent power of the line. Absent while c12LineVoltageAvailable is "
                "false(2)."
            ),
        ),
        zabbix=None,
        display=Display("Apparent power"),
    ),
    Measurement(
        "apparent_power", Scope.UNIT,
        "Total apparent power over the phases the meter measures (c12_metered_phases): "
        "a phase whose meter fuse is blown is left out", "VA",
        Register("u32", 1.0, "VA", valid=(0.0, POWER_MAX), nullable=True),
        column=Column(
            "c12InputApparentPower", arc=6, description=(
                "The total apparent power of the lines the meter measures "
                "(c12InputMeteredPhases): a line whose meter fuse is blown is left out. Absent "
                "while the meter is stopped."
            ),
        ),
        zabbix=ZabbixHints("c12.input.power.apparent", "Apparent power",
                           description="Total apparent power of the phases the meter measures."),
        display=Display("Apparent power"),
    ),
    Measurement(
        "phase_power_factor", Scope.PHASE,
        "True power factor per phase (P / S), negative only while power flows back", "ratio",
        Register("s16", MILLI, "ratio", valid=(-1.0, 1.0), nullable=True),
        column=Column(
            "c12LinePowerFactor", MILLI, arc=8, syntax="C12Thousandths (-1000..1000)", description=(
                "The true power factor of the line (active over apparent power, harmonics "
                "included), signed by the direction of active power as c12InputPowerFactor: "
                "positive while importing, whether the load leads or lags. Absent while "
                "c12LineVoltageAvailable is false(2) or the meter reports it as not available."
            ),
        ),
        zabbix=None,
        display=Display("Power factor"),
    ),
    Measurement(
        "power_factor", Scope.UNIT,
        "Average power factor (total P / total S), negative only while power flows back",
        "ratio",
        Register("s16", MILLI, "ratio", valid=(-1.0, 1.0), nullable=True),
        column=Column(
            "c12InputPowerFactor", MILLI, arc=7, syntax="C12Thousandths (-1000..1000)",
            description=(
                "The power factor of the lines the meter measures: their total active over their "
                "total apparent power (true power factor, harmonics included). Signed by the "
                "direction of active power only: positive while the unit imports, as it always "
                "does; it does not say whether the load leads or lags (the sign of "
                "c12InputReactivePower does). Absent while the meter reports it as not available."
            ),
        ),
        zabbix=ZabbixHints("c12.input.power_factor", description="Total P / total S."),
        display=Display("Power factor"),
    ),
    Measurement(
        "demand_active_power", Scope.UNIT,
        "Active power demand: the average over the last complete 15 min window, sliding "
        "every minute; not available until the first window since power-up completes", "W",
        Register("u32", 1.0, "W", valid=(0.0, POWER_MAX), nullable=True),
        column=Column(
            "c12InputDemandActivePower", arc=10, description=(
                "The active power demand: the average active power over the last complete "
                "15-minute window, sliding by one minute. Absent until the first window since the"
                " meter started has completed."
            ),
        ),
        zabbix=ZabbixHints("c12.input.demand.active", "Active power demand",
                           description="Active power demand over the last complete 15 min "
                           "window (none before the first)."),
        display=Display("Demand, last 15 min"),
    ),
    Measurement(
        "demand_apparent_power", Scope.UNIT,
        "Apparent power demand: the average over the last complete 15 min window, sliding "
        "every minute; not available until the first window since power-up completes", "VA",
        Register("u32", 1.0, "VA", valid=(0.0, POWER_MAX), nullable=True),
        column=Column(
            "c12InputDemandApparentPower", arc=11, description=(
                "The apparent power demand: the average apparent power over the last complete "
                "15-minute window, sliding by one minute. Absent until the first window since the"
                " meter started has completed."
            ),
        ),
        zabbix=None,
        display=Display("Apparent demand, last 15 min"),
    ),
    Measurement(
        "max_demand_active_power", Scope.UNIT,
        "Maximum active power demand since power-up, over complete 15 min windows only; "
        "not available until the first window completes", "W",
        Register("u32", 1.0, "W", valid=(0.0, POWER_MAX), nullable=True),
        column=Column(
            "c12InputMaxDemandActivePower", arc=12, description=(
                "The highest active power demand since the unit was last powered up, over "
                "complete 15-minute windows only. Absent until the first window has completed."
            ),
        ),
        zabbix=None,
        display=Display("Highest demand since power-up"),
    ),
    Measurement(
        "max_demand_apparent_power", Scope.UNIT,
        "Maximum apparent power demand since power-up, over complete 15 min windows only; "
        "not available until the first window completes", "VA",
        Register("u32", 1.0, "VA", valid=(0.0, POWER_MAX), nullable=True),
        column=Column(
            "c12InputMaxDemandApparentPower", arc=13, description=(
                "The highest apparent power demand since the unit was last powered up, over "
                "complete 15-minute windows only. Absent until the first window has completed."
            ),
        ),
        zabbix=None,
        display=Display("Highest apparent demand since power-up"),
    ),
    Measurement(
        "active_energy_import", Scope.UNIT, "Import active energy since power-up", "J",
        Register("u64", 1.0, "Wh", to_si=WH, nullable=True),
        metric=Metric(counter=True, help="Import active energy since the unit was last powered up "
               "(resets on power loss)"),
        column=Column(
            "c12InputActiveEnergy", WH, arc=8, description=(
                "The import active energy the meter has counted since the unit was last powered "
                "up. Discontinuities in the value of this counter occur when the unit loses "
                "power, at which the meter starts again from zero, and are indicated by "
                "c12InputEnergyResetTime."
            ),
        ),
        zabbix=ZabbixHints("c12.input.energy.active", "Active energy", "energy",
                           description="Import active energy since the unit was last powered up."),
        display=Display("Energy since power-up"),
    ),
    Measurement(
        "reactive_energy_import", Scope.UNIT, "Import reactive energy since power-up", "var·s",
        Register("u64", 1.0, "varh", to_si=WH, nullable=True),
        metric=Metric(counter=True, help="Import reactive energy in var seconds (var h x 3600) "
               "since the unit was last powered up (resets on power loss)"),
        column=Column(
            "c12InputReactiveEnergy", WH, arc=9, description=(
                "The import reactive energy the meter has counted since the unit was last powered"
                " up. Discontinuities in the value of this counter occur when the unit loses "
                "power, at which the meter starts again from zero, and are indicated by "
                "c12InputEnergyResetTime."
            ),
        ),
        zabbix=None,
        display=Display("Reactive energy since power-up"),
    ),
    _current(
        "channel_current", "Channel output current", Scope.CHANNEL, CHANNEL_MAX_A,
        column=Column(
            "c12ChannelCurrent", MILLI, arc=8, description=(
                "The channel's output current. On the channel that feeds the auxiliary socket "
                "(c12ChannelAuxSocket true(1)) this includes the load on that socket."
            ),
        ),
        zabbix=ZabbixHints(description="Channel output current."),
        display=Display("Current", Pane.CHANNELS, digits=2),
    ),
    Measurement(
        "channel_breaker", Scope.CHANNEL, "Channel RCBO", "",
        Register("u16"), states=BREAKER_STATES,
        metric=Metric("c12_channel_breaker_closed",
               help="1 while the channel's RCBO is closed, 0 when open",
               states={"closed": 1.0, "open": 0.0}),
        column=Column(
            "c12ChannelBreakerState", arc=9, syntax="C12BreakerState",
            description="The channel's RCBO.",
        ),
        note="open: tripped, tested or switched off",
        zabbix=ZabbixHints(name="RCBO",
                           description="The channel's RCBO; open: tripped, tested or "
                           "switched off."),
        display=Display("Breaker", Pane.CHANNELS),
    ),
    Measurement(
        "channel_load", Scope.CHANNEL, "Channel load LED", "",
        Register("u16"), states=LOAD_STATES,
        metric=Metric("c12_channel_load_level",
               help="Channel load LED as an ordered level: 0 off, 1 normal, 2 slight "
               "overload (slow red flash), 3 serious overload (fast red flash)"),
        column=Column(
            "c12ChannelLoadState", arc=10, syntax="C12LoadState",
            description="The channel's load LED.",
        ),
        zabbix=ZabbixHints(name="Load state", description="The channel's load LED."),
        display=Display("Load LED", Pane.CHANNELS),
    ),
    Measurement(
        "metered_phases", Scope.UNIT,
        "Phases the main meter measures: those whose meter fuse is intact, none while "
        "the L1 fuse is blown (the meter is powered from L1)", "",
        Register("u16", valid=(0.0, 3.0)),
        column=Column(
            "c12InputMeteredPhases", arc=16, syntax="Unsigned32 (0..3)", description=(
                "How many lines the main meter measures: those whose 1 AT meter fuse is intact. 0"
                " while the L1 meter fuse is blown: the meter is powered from L1 and stops, and "
                "every meter value of the unit is absent. The totals (power, energy, demand) "
                "cover the measured lines only."
            ),
        ),
        zabbix=None,
        display=Display("Phases the meter reads"),
    ),
)  # fmt: skip
"""Every measurement, in register-map order."""

BY_NAME: Mapping[str, Measurement] = {m.name: m for m in MEASUREMENTS}
OF_SCOPE: Mapping[Scope, tuple[Measurement, ...]] = {
    scope: tuple(m for m in MEASUREMENTS if m.scope is scope) for scope in Scope
}
"""The measurements of each scope, in register order."""


def check(measurements: tuple[Measurement, ...] = MEASUREMENTS) -> None:
    """Raise ``ValueError`` if declarations contradict each other: a name used twice, an
    unknown unit, or two measurements sharing a metric with another type, help or labels."""
    families: dict[str, tuple[bool, str, tuple[str, ...]]] = {}
    names: set[str] = set()
    for m in measurements:
        if m.name in names:
            raise ValueError(f"measurement {m.name!r} is declared twice")
        names.add(m.name)
        if m.unit not in METRIC_SUFFIXES:
            raise ValueError(f"{m.name}: unit {m.unit!r} is not one of {sorted(METRIC_SUFFIXES)}")
        if m.metric is None:
            continue
        shape = (m.metric.counter, m.metric_help, metric_labels(m))
        if families.setdefault(m.metric_name, shape) != shape:
            raise ValueError(
                f"{m.name}: metric {m.metric_name} is declared elsewhere with another type, "
                "help or labels"
            )


def metric_labels(m: Measurement) -> tuple[str, ...]:
    """The label names of a measurement's metric, ``pdu`` first."""
    scope_label = () if m.scope is Scope.UNIT else (m.scope.value,)
    return ("pdu", *scope_label, *(m.metric.labels if m.metric else {}))


check()
