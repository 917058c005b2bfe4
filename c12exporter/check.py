"""``c12exporter check``: a check plugin for Nagios, Icinga and their kin.

Follows the monitoring-plugins guidelines: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN;
one status line, then perfdata ``'label'=value[UOM];warn;crit;min;max``. Text from
outside (unit and channel names, errors) is escaped in that line: ``|`` would start the
perfdata and a newline a line of long output, so ``|`` shows as ``¦`` and control
characters as escapes (``\\n``). It reads one unit (``--unit``) or the whole fleet
through a running exporter's ``/metrics`` (``--exporter URL``, TLS and basic auth
supported), or one unit directly over its transport (``--address host:port``). See
docs/check.md.

What it judges comes from the declarations: the metric names (:mod:`c12exporter.catalogue`),
the state each value of a state metric stands for (the collector's mapping read backwards)
and the state names (:mod:`c12exporter.measurements`). The phase and neutral limits default
to ratios of each unit's own input rating (``c12_input_rating_amperes``, or the model of a
unit read directly); the channel limits are ratios of each channel's rating.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from . import limits
from .catalogue import (
    AUX_SOCKET_RATING,
    CHANNEL_BREAKER,
    CHANNEL_CURRENT,
    CHANNEL_INFO,
    CHANNEL_LOAD,
    CHANNEL_RATING,
    CHANNEL_SUPERVISION_POSITION,
    CURRENT,
    EMERGENCY_STOP,
    INPUT_RATING,
    NEUTRAL,
    SWITCH_DISCONNECTOR,
    TEMPERATURE,
    UP,
)
from .measurements import (
    BREAKER_STATES,
    BY_NAME,
    ESTOP_STATES,
    LOAD_STATES,
    NEUTRAL_STATES,
    PHASES,
    SWITCH_STATES,
    Measurement,
)
from .model import CHANNEL_RATING_A
from .reading import Reading, SupervisionState
from .resolve import printable

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATE_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
PASSWORD_ENV = "C12_CHECK_PASSWORD"
PIPE_SHOWN_AS = "\u00a6"
"""``|`` in a name or message (the broken bar ``¦``): a ``|`` would start the perfdata."""


class CheckError(Exception):
    """Something that makes the check's answer UNKNOWN."""


PRESSED = ESTOP_STATES[1]
SWITCH_ON = SWITCH_STATES[1]
NEUTRAL_LOST = NEUTRAL_STATES[1]
BREAKER_CLOSED = BREAKER_STATES[0]
LOAD_NORMAL, SERIOUS_OVERLOAD = LOAD_STATES[1], LOAD_STATES[-1]


@dataclass
class Channel:
    number: int
    name: str
    current_a: float
    rating_a: float
    breaker: str  # one of BREAKER_STATES
    load: str  # one of LOAD_STATES
    supervision: SupervisionState | None  # None: no band

    @property
    def breaker_closed(self) -> bool:
        return self.breaker == BREAKER_CLOSED


@dataclass
class Unit:
    """What the check judges of one unit, from /metrics or from a reading."""

    name: str
    up: bool
    estop_pressed: bool = False
    switch_on: bool = True
    neutral_lost: bool = False
    temperature_c: float | None = None
    currents_a: dict[str, float] = field(default_factory=dict)  # L1, L2, L3, N
    input_rating_a: float | None = None
    """The rating of each phase and of the neutral (the model's, as /metrics serves it);
    ``None`` from an exporter that does not serve it."""
    channels: list[Channel] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Thresholds:
    """The limits; a phase or neutral limit of ``None`` is that ratio of each unit's input
    rating (:data:`INPUT_WARN_RATIO`, :data:`INPUT_CRIT_RATIO`)."""

    temperature_warn: float
    temperature_crit: float
    phase_warn_a: float | None
    phase_crit_a: float | None
    channel_warn_ratio: float
    channel_crit_ratio: float
    neutral_warn_a: float | None = None
    neutral_crit_a: float | None = None


INPUT_WARN_RATIO = limits.INPUT_NEAR_RATING_RATIO.value
INPUT_CRIT_RATIO = limits.INPUT_OVER_RATING_RATIO.value
"""Default phase and neutral limits, of the unit's input rating (the neutral is rated as a
phase)."""


@dataclass
class Verdict:
    state: int = OK
    problems: list[str] = field(default_factory=list)
    perfdata: list[str] = field(default_factory=list)

    def add(self, state: int, problem: str) -> None:
        self.state = max(self.state, state)
        self.problems.append(f"{problem} ({STATE_NAMES[state]})" if state != OK else problem)


# ------------------------------------------------------------------------ options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--exporter", metavar="URL", help="base URL of a running exporter")
    source.add_argument(
        "--address", metavar="HOST:PORT", help="read one unit directly (Modbus TCP)"
    )
    parser.add_argument(
        "--unit", metavar="NAME", help="with --exporter: check this unit (default: the fleet)"
    )
    parser.add_argument("--ca-file", type=Path, metavar="FILE", help="CA bundle for https")
    parser.add_argument("--user", metavar="NAME", help="basic auth user")
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help=f"basic auth password, first line of FILE (or the {PASSWORD_ENV} env var)",
    )
    parser.add_argument("--password", action=_RefusePassword, help=argparse.SUPPRESS)
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="(default: %(default)s)"
    )
    near, over = limits.NEAR_RATING_RATIO.value, limits.OVER_RATING_RATIO.value
    rated = f"the unit's input rating, {INPUT_RATING}"
    warn_default = f"default: {INPUT_WARN_RATIO * 100:.0f}%% of {rated}"
    crit_default = f"default: {INPUT_CRIT_RATIO * 100:.0f}%% of {rated}"
    parser.add_argument(
        "--temperature-warning",
        type=float,
        metavar="C",
        default=limits.TEMPERATURE_WARNING.value,
        help="(default: %(default)s)",
    )
    parser.add_argument(
        "--temperature-critical",
        type=float,
        metavar="C",
        default=limits.TEMPERATURE_LIMIT.value,
        help="(default: %(default)s)",
    )
    parser.add_argument(
        "--phase-warning",
        type=float,
        metavar="A",
        help=f"phase current ({warn_default})",
    )
    parser.add_argument(
        "--phase-critical",
        type=float,
        metavar="A",
        help=f"phase current ({crit_default})",
    )
    parser.add_argument(
        "--neutral-warning",
        type=float,
        metavar="A",
        help=f"neutral current ({warn_default}: the neutral is rated as a phase, and LED "
        "walls can push it above every phase)",
    )
    parser.add_argument(
        "--neutral-critical",
        type=float,
        metavar="A",
        help=f"neutral current ({crit_default})",
    )
    parser.add_argument(
        "--channel-warning",
        type=float,
        metavar="RATIO",
        default=near,
        help="channel current / RCBO rating (default: %(default)s)",
    )
    parser.add_argument("--channel-critical", type=float, metavar="RATIO", default=over,
                        help="channel current / RCBO rating (default: %(default)s)")  # fmt: skip


class _RefusePassword(argparse.Action):
    """A password on the command line is visible to every user of the machine."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        parser.error(
            f"--password: give the password with --password-file or ${PASSWORD_ENV}, "
            "never on the command line"
        )


def make_error(parser: argparse.ArgumentParser) -> None:
    """Usage errors of a plugin are UNKNOWN (3), not argparse's 2 (CRITICAL)."""

    def error(message: str) -> NoReturn:
        print(plugin_text(f"C12 UNKNOWN - {parser.prog}: {message}"))
        sys.exit(UNKNOWN)

    parser.error = error  # type: ignore[method-assign]


# ----------------------------------------------------------------- /metrics source


def _password(args: argparse.Namespace) -> str | None:
    if args.password_file is not None:
        try:
            lines = args.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise CheckError(f"--password-file {args.password_file}: {error.strerror}") from None
        if not lines or not lines[0]:
            raise CheckError(f"--password-file {args.password_file}: the file is empty")
        return str(lines[0])
    env = os.environ.get(PASSWORD_ENV)
    return None if env is None else str(env)


def fetch_metrics(args: argparse.Namespace) -> str:
    url = args.exporter.rstrip("/") + "/metrics"
    if not url.startswith(("http://", "https://")):
        raise CheckError(f"--exporter {args.exporter}: not an http:// or https:// URL")
    request = urllib.request.Request(url)
    password = _password(args)
    if args.user is not None:
        if password is None:
            raise CheckError(f"--user {args.user}: give --password-file or ${PASSWORD_ENV}")
        token = base64.b64encode(f"{args.user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = None
    if url.startswith("https://"):
        if args.ca_file is not None and not args.ca_file.is_file():
            raise CheckError(f"--ca-file {args.ca_file}: no such file")
        context = ssl.create_default_context(
            cafile=str(args.ca_file) if args.ca_file is not None else None
        )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout, context=context) as response:
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        error.close()
        raise CheckError(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CheckError(f"{url}: {reason}") from None


def _states(name: str) -> dict[float, str]:
    """The state each value of a state measurement's metric stands for."""
    m: Measurement = BY_NAME[name]
    return {value: state for state, value in m.state_values.items()}


ESTOP_OF = _states("emergency_stop")
SWITCH_OF = _states("switch_disconnector")
NEUTRAL_OF = _states("neutral")
BREAKER_OF = _states("channel_breaker")
LOAD_OF = _states("channel_load")
CHANNEL_SERIES = frozenset(
    (CHANNEL_CURRENT, CHANNEL_BREAKER, CHANNEL_LOAD, CHANNEL_INFO, CHANNEL_RATING,
     CHANNEL_SUPERVISION_POSITION, AUX_SOCKET_RATING)
)  # fmt: skip
"""The per-channel series the check reads."""


def parse_units(text: str) -> dict[str, Unit]:
    """Every unit of a /metrics page, by name."""
    from prometheus_client.parser import text_string_to_metric_families

    from .prometheus.collector import SUPERVISION_POSITIONS

    supervision_of = {float(v): state for state, v in SUPERVISION_POSITIONS.items()}

    units: dict[str, Unit] = {}
    channels: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    except ValueError as error:
        raise CheckError(f"/metrics is not the Prometheus text format: {error}") from None
    for sample in samples:
        labels, value = sample.labels, sample.value
        pdu = labels.get("pdu")
        if pdu is None:
            continue
        if sample.name == UP:
            units.setdefault(pdu, Unit(pdu, up=False)).up = value == 1
    for sample in samples:
        labels, value, name = sample.labels, sample.value, sample.name
        unit = units.get(labels.get("pdu", ""))
        if unit is None:
            continue
        if name == EMERGENCY_STOP:
            unit.estop_pressed = ESTOP_OF.get(value) == PRESSED
        elif name == SWITCH_DISCONNECTOR:
            unit.switch_on = SWITCH_OF.get(value) == SWITCH_ON
        elif name == NEUTRAL:
            unit.neutral_lost = NEUTRAL_OF.get(value) == NEUTRAL_LOST
        elif name == TEMPERATURE:
            unit.temperature_c = value
        elif name == CURRENT:
            unit.currents_a[labels["phase"]] = value
        elif name == INPUT_RATING:
            unit.input_rating_a = value
        elif name in CHANNEL_SERIES and "channel" in labels:
            row = channels.setdefault((unit.name, int(labels["channel"])), {})
            row[name] = value
            if name == CHANNEL_INFO:
                row["name"] = labels.get("name", "")
    for (pdu, number), row in sorted(channels.items()):
        if CHANNEL_CURRENT not in row:
            continue
        position = row.get(CHANNEL_SUPERVISION_POSITION)
        breaker, load = row.get(CHANNEL_BREAKER), row.get(CHANNEL_LOAD)
        units[pdu].channels.append(
            Channel(
                number=number,
                name=str(row.get("name", "")),
                current_a=float(row[CHANNEL_CURRENT]),
                rating_a=_load_rating(row),
                breaker=BREAKER_CLOSED if breaker is None else BREAKER_OF.get(breaker, ""),
                load=LOAD_NORMAL if load is None else LOAD_OF.get(load, ""),
                supervision=None if position is None else supervision_of.get(position),
            )
        )
    return units


def _load_rating(row: dict[str, Any]) -> float:
    """The rating a channel's load is judged by: its RCBO's, or the aux socket's own
    where the channel feeds one with a lower rating (as the problem board and the alerts
    judge it; :meth:`c12exporter.reading.Reading.load_rating_a`)."""
    rating = float(row.get(CHANNEL_RATING, CHANNEL_RATING_A))
    socket = float(row.get(AUX_SOCKET_RATING, 0.0))
    return socket if 0.0 < socket < rating else rating


# ----------------------------------------------------------------- direct source


def unit_from_reading(name: str, reading: Reading) -> Unit:
    currents = {p.phase: p.current_a for p in reading.phases if p.current_a is not None}
    neutral = reading.values["neutral_current"]
    if isinstance(neutral, float | int):  # absent while the meter is stopped, as on /metrics
        currents["N"] = float(neutral)
    return Unit(
        name=name,
        up=True,
        estop_pressed=reading.estop_pressed,
        switch_on=reading.switch_on,
        neutral_lost=reading.neutral_lost,
        temperature_c=reading.temperature_c,
        currents_a=currents,
        input_rating_a=reading.model.input_rating_a,
        channels=[
            Channel(
                number=c.number,
                name=c.name,
                current_a=c.current_a,
                rating_a=reading.load_rating_a(c),
                breaker=str(c.values["channel_breaker"]),
                load=c.load_state,
                supervision=c.supervision_state,
            )
            for c in reading.channels
        ],
    )


def read_address(args: argparse.Namespace) -> Unit:
    """Read the unit at ``args.address`` once, through the poller and its transport."""
    from .poller import Poller
    from .settings import ConfigError, PollConfig
    from .store import Store

    async def probe() -> Unit:
        poll = PollConfig(timeout_s=args.timeout)
        poller = Poller((), args.plugins, Store((), poll.staleness_limit_s), poll)
        try:
            store = await poller.probe_address(args.address, args.address)
        except (ValueError, ConfigError) as error:
            raise CheckError(f"--address {args.address}: {error}") from None
        state = store.get(args.address)
        if state is not None and state.reading is not None:
            return unit_from_reading(args.address, state.reading)
        failure = state.last_error if state is not None else None
        reason = f"{failure.reason}: {failure.message}" if failure else "no answer"
        return Unit(args.address, up=False, error=reason)

    return asyncio.run(probe())


# ---------------------------------------------------------------------- judging


def _fmt(value: float) -> str:
    return f"{round(value, 3):g}"


def judge(unit: Unit, t: Thresholds, verdict: Verdict, prefix: str = "") -> None:
    """Adds ``unit``'s problems (and, without ``prefix``, its perfdata) to ``verdict``."""
    if not unit.up:
        verdict.add(CRITICAL, f"{prefix}unreachable" + (f": {unit.error}" if unit.error else ""))
        return
    if unit.estop_pressed:
        verdict.add(CRITICAL, f"{prefix}emergency stop pressed")
    if unit.neutral_lost:
        verdict.add(CRITICAL, f"{prefix}neutral lost")
    if not unit.switch_on:
        verdict.add(WARNING, f"{prefix}switch disconnector off")
    temp = unit.temperature_c
    if temp is not None:
        if temp > t.temperature_crit:
            verdict.add(
                CRITICAL, f"{prefix}temperature {_fmt(temp)} °C > {_fmt(t.temperature_crit)}"
            )
        elif temp > t.temperature_warn:
            verdict.add(
                WARNING, f"{prefix}temperature {_fmt(temp)} °C > {_fmt(t.temperature_warn)}"
            )
    for phase in (*PHASES, "N"):
        amps = unit.currents_a.get(phase)
        if amps is None:
            continue
        warn, crit = _conductor_thresholds(phase, t, unit)
        if amps > crit:
            verdict.add(CRITICAL, f"{prefix}{phase} {_fmt(amps)} A > {_fmt(crit)}")
        elif amps > warn:
            verdict.add(WARNING, f"{prefix}{phase} {_fmt(amps)} A > {_fmt(warn)}")
    for ch in unit.channels:
        label = f"{prefix}channel {ch.number}" + (f" ({ch.name})" if ch.name else "")
        ratio = ch.current_a / ch.rating_a if ch.rating_a else 0.0
        if ch.load == SERIOUS_OVERLOAD:
            verdict.add(CRITICAL, f"{label} serious overload, {_fmt(ch.current_a)} A")
        elif ch.breaker_closed and ratio > t.channel_crit_ratio:
            verdict.add(CRITICAL, f"{label} {_fmt(ch.current_a)} A over its rating")
        elif ch.breaker_closed and ratio > t.channel_warn_ratio:
            verdict.add(WARNING, f"{label} {_fmt(ch.current_a)} A near its rating")
        if not ch.breaker_closed and unit.switch_on:
            verdict.add(WARNING, f"{label} RCBO open")
        if ch.supervision in (SupervisionState.BELOW, SupervisionState.ABOVE):
            side = ch.supervision.value
            verdict.add(WARNING, f"{label} {_fmt(ch.current_a)} A {side} its supervision band")
    if prefix:
        return
    if temp is not None:
        verdict.perfdata.append(
            f"'temperature'={_fmt(temp)}C;{_fmt(t.temperature_warn)};{_fmt(t.temperature_crit)};;"
        )
    for phase in (*PHASES, "N"):
        if phase in unit.currents_a:
            warn, crit = _conductor_thresholds(phase, t, unit)
            rating = "" if unit.input_rating_a is None else _fmt(unit.input_rating_a)
            verdict.perfdata.append(
                f"'{phase}'={_fmt(unit.currents_a[phase])}A;{_fmt(warn)};{_fmt(crit)};0;{rating}"
            )
    for ch in unit.channels:
        warn, crit = ch.rating_a * t.channel_warn_ratio, ch.rating_a * t.channel_crit_ratio
        verdict.perfdata.append(
            f"'ch{ch.number}'={_fmt(ch.current_a)}A;{_fmt(warn)};{_fmt(crit)};0;{_fmt(ch.rating_a)}"
        )


def _conductor_thresholds(conductor: str, t: Thresholds, unit: Unit) -> tuple[float, float]:
    """Warning and critical amperes of a phase or (``N``) the neutral of ``unit``: those
    given, else ratios of the unit's input rating."""
    if conductor == "N":
        warn, crit = t.neutral_warn_a, t.neutral_crit_a
    else:
        warn, crit = t.phase_warn_a, t.phase_crit_a
    if (warn is None or crit is None) and unit.input_rating_a is None:
        raise CheckError(
            f"{unit.name}: the exporter serves no {INPUT_RATING} to judge its currents by: "
            f"give --{'neutral' if conductor == 'N' else 'phase'}-warning and -critical"
        )
    rating = unit.input_rating_a or 0.0
    return (
        INPUT_WARN_RATIO * rating if warn is None else warn,
        INPUT_CRIT_RATIO * rating if crit is None else crit,
    )


def plugin_text(text: str) -> str:
    """``text`` safe for the status line: no ``|`` (perfdata starts there), no newline
    (long output starts there), no other control character."""
    return printable(text.replace("|", PIPE_SHOWN_AS))


def _status_line(subject: str, verdict: Verdict, summary: str) -> str:
    shown = [p for p in verdict.problems if p]
    text = ", ".join(shown) if shown else summary
    line = plugin_text(f"C12 {STATE_NAMES[verdict.state]} - {subject}: {text}")
    if verdict.perfdata:
        line += " | " + " ".join(verdict.perfdata)
    return line


def check_unit(unit: Unit, t: Thresholds) -> tuple[int, str]:
    verdict = Verdict()
    judge(unit, t, verdict)
    summary = "all OK"
    if unit.up:
        amps = "/".join(_fmt(unit.currents_a.get(p, 0.0)) for p in PHASES)
        summary = f"e-stop released, switch on, {len(unit.channels)} channels OK, L1/L2/L3 {amps} A"
    return verdict.state, _status_line(f"unit {unit.name}", verdict, summary)


def check_fleet(units: Iterable[Unit], t: Thresholds) -> tuple[int, str]:
    verdict = Verdict()
    units = list(units)
    if not units:
        return UNKNOWN, "C12 UNKNOWN - the exporter serves no units"
    up = 0
    for unit in units:
        up += unit.up
        judge(unit, t, verdict, prefix=f"{unit.name}: ")
    verdict.perfdata = [f"'units'={len(units)};;;0;", f"'units_up'={up};;;0;{len(units)}"]
    return verdict.state, _status_line(
        f"{len(units)} units", verdict, f"{up} of {len(units)} units up, all OK"
    )


def run(args: argparse.Namespace) -> int:
    """The ``check`` subcommand: prints one status line, returns the plugin exit code."""
    thresholds = Thresholds(
        args.temperature_warning,
        args.temperature_critical,
        args.phase_warning,
        args.phase_critical,
        args.channel_warning,
        args.channel_critical,
        args.neutral_warning,
        args.neutral_critical,
    )
    try:
        for name, warn, crit in (
            ("temperature", thresholds.temperature_warn, thresholds.temperature_crit),
            ("phase", thresholds.phase_warn_a, thresholds.phase_crit_a),
            ("neutral", thresholds.neutral_warn_a, thresholds.neutral_crit_a),
            ("channel", thresholds.channel_warn_ratio, thresholds.channel_crit_ratio),
        ):
            if warn is not None and crit is not None and warn > crit:
                raise CheckError(f"--{name}-warning {warn} is above --{name}-critical {crit}")
        if args.address is not None:
            if args.unit is not None:
                raise CheckError("--unit goes with --exporter, not with --address")
            state, line = check_unit(read_address(args), thresholds)
        else:
            units = parse_units(fetch_metrics(args))
            if args.unit is None:
                state, line = check_fleet(units.values(), thresholds)
            elif args.unit not in units:
                raise CheckError(f"the exporter at {args.exporter} has no unit {args.unit!r}")
            else:
                state, line = check_unit(units[args.unit], thresholds)
    except CheckError as error:
        state, line = UNKNOWN, plugin_text(f"C12 UNKNOWN - {error}")
    print(line)
    return state
