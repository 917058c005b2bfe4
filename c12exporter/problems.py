"""What is wrong with each unit, in words: the one place the console's alarms come from.

:func:`problems_of` is the rules: a pure function from a unit's state, its served reading,
the trip forecast of its channels and the time to the problems they show, judged by the
same limits as the exporter's alerts (:mod:`c12exporter.limits`, the model's channel,
aux socket and input ratings, the breaker curve). Each rule is a small function in
:data:`RULES`; the texts are short and in words ("breaker 3 open", "channel 2 trips in
0:31", "neutral 85 A over the 63 A input"), with the manual's recovery step as advice
where it gives one.

:class:`ProblemBoard` follows the store (and the trip forecast) and keeps each problem as
an *occurrence*: it begins when a rule first finds it (``since``), lasts while every new
reading still shows it, and ends at the first reading that does not. An occurrence can be
acknowledged (who, when); an acknowledged problem that grows worse (a warning becoming an
alarm) is shown unacknowledged again, and one that ends and comes back is a new,
unacknowledged occurrence. While a unit cannot be read only "unreachable" is shown; its
other occurrences are held (neither shown nor ended) and the next reading confirms or ends
them, so a network blip does not re-alarm what the crew has acknowledged. Occurrences and
acknowledgements go to a :class:`ProblemLog` (the console keeps them in SQLite), so they
outlive a restart of the exporter.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from . import limits
from .forecast import TripForecast
from .reading import ChannelReading, Identity, Reading, SupervisionState
from .store import Change, FleetChange, Store, UnitState


class Severity(enum.IntEnum):
    """How bad a problem is; higher is worse."""

    WARNING = 1
    DOWN = 2
    ALARM = 3

    @property
    def word(self) -> str:
        """``warning``, ``down``, ``alarm``: for JSON and the page's styles."""
        return self.name.lower()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a unit, as the console shows it.

    :param key: stable within a unit while the problem lasts (``estop``, ``breaker.3``,
        ``trip.2``, ``input.N``, ...).
    :param since: when this occurrence began (epoch seconds; kept across restarts).
    :param advice: the manual's recovery step where it gives one.
    :param detail: more about it (the poll error behind "unreachable", the limit).
    """

    unit: str
    key: str
    severity: Severity
    text: str
    since: float
    channel: int | None = None
    advice: str = ""
    detail: str = ""
    acked_by: str | None = None
    acked_at: float | None = None


# --- the rules --------------------------------------------------------------------------------

ESTOP_ADVICE = (
    "Twist the e-stop button to release it, then move the switch disconnector to ON by hand"
)
NEUTRAL_ADVICE = "An electrician must inspect the supply before the switch is turned back on"


@dataclass(frozen=True)
class Finding:
    """What a rule finds: a problem without its unit and occurrence."""

    key: str
    severity: Severity
    text: str
    channel: int | None = None
    advice: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Facts:
    """What the rules judge: the unit, its served reading, its breakers' trip forecast and
    heat, and the severity of each problem the last judgement found (for levels that are
    left only some way below where they are entered, as the alerts hold them)."""

    unit: UnitState
    reading: Reading
    trip_s: Mapping[int, float]
    heat: Mapping[int, float]
    previous: Mapping[str, Severity]


Rule = Callable[[Facts], Iterator[Finding]]


def _amps(value: float) -> str:
    return f"{value:.1f} A"


def _rating(value: float) -> str:
    return f"{value:g} A"


def clock(seconds: float) -> str:
    """``0:31``, ``4:05``: a countdown in minutes and seconds."""
    minutes, secs = divmod(max(0, round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def lasted(seconds: float) -> str:
    """``under a minute``, ``2 min``, ``1 h 5 min``, ``2 d 3 h``: how long something has
    lasted, in whole minutes (a text that changes every second would redraw every page)."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "under a minute"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def lasted_changes_at(since: float, now: float) -> float:
    """The next time :func:`lasted` of something that began at ``since`` may read
    differently from how it reads at ``now``: not before the next whole minute."""
    return since + 60.0 * (max(0, int(now - since)) // 60 + 1)


def safety_chain(facts: Facts) -> Iterator[Finding]:
    """E-stop and lost neutral trip the switch disconnector; a switch off by itself is a
    warning (someone turned it off)."""
    reading = facts.reading
    dead = f"all {len(reading.channels)} outputs are dead"
    if reading.estop_pressed:
        yield Finding(
            "estop",
            Severity.ALARM,
            "e-stop pressed",
            advice=ESTOP_ADVICE,
            detail=f"the switch disconnector has tripped: {dead}",
        )
    if reading.neutral_lost:
        yield Finding(
            "neutral",
            Severity.ALARM,
            "neutral lost",
            advice=NEUTRAL_ADVICE,
            detail=f"the loss-of-neutral sensor has tripped the switch disconnector: {dead}",
        )
    if not reading.switch_on and not reading.estop_pressed and not reading.neutral_lost:
        yield Finding(
            "switch",
            Severity.WARNING,
            "switch disconnector off",
            detail=f"{dead}; the supply is still metered",
        )


def breakers(facts: Facts) -> Iterator[Finding]:
    for channel in facts.reading.channels:
        if not channel.breaker_closed:
            yield Finding(
                f"breaker.{channel.number}",
                Severity.ALARM,
                f"breaker {channel.number} open",
                channel.number,
                detail="its RCBO tripped on overcurrent or earth leakage, was tested with its "
                "T button, or was switched off by hand",
            )


def trip_forecasts(facts: Facts) -> Iterator[Finding]:
    """A closed breaker close to an overcurrent trip, as the trip alert judges it: a trip
    due within :data:`limits.TRIP_FORECAST_WARNING`, or heat at
    :data:`limits.TRIP_HEAT_WARNING`; it holds until the heat falls under
    :data:`limits.TRIP_HEAT_CLEAR`."""
    for channel in facts.reading.channels:
        number, key = channel.number, f"trip.{channel.number}"
        seconds, heat = facts.trip_s.get(number), facts.heat.get(number, 0.0)
        due = seconds is not None and seconds < limits.TRIP_FORECAST_WARNING.value
        hot = heat >= limits.TRIP_HEAT_WARNING.value
        held = key in facts.previous and heat >= limits.TRIP_HEAT_CLEAR.value
        if not channel.breaker_closed or not (due or hot or held):
            continue
        if seconds is None:
            text = f"breaker {number} at {heat:.0%} of its trip heat"
        else:
            text = f"channel {number} trips " + ("now" if seconds < 1 else f"in {clock(seconds)}")
        yield Finding(
            key,
            Severity.ALARM,
            text,
            number,
            detail=f"its breaker has taken {heat:.0%} of the heat that trips it "
            "(the breaker curve and the load so far): shed or move load",
        )


def load_rating(channel: ChannelReading, reading: Reading) -> tuple[float, str]:
    """The rating a channel's load is judged by, and what it is: the model's aux channel
    (12 on a C12B) also feeds the aux socket, whose own rating may be lower than the RCBO's."""
    rating = reading.load_rating_a(channel)
    socket = f" ({reading.model.aux_socket.name} socket)" if rating < channel.rating_a else ""
    return rating, socket


def _above(current_a: float, threshold_a: float, held: bool, margin_a: float) -> bool:
    """Above ``threshold_a``; once there (``held``), until ``margin_a`` below it."""
    return current_a > threshold_a - (margin_a if held else 0.0)


def channel_loads(facts: Facts) -> Iterator[Finding]:
    """Over the breaker's non-tripping current: alarm (it heats towards a trip); over its
    rating: warning; near it: warning. A level is left only
    :data:`limits.CHANNEL_LOAD_HYSTERESIS` of the rating below where it was entered, so a
    load hovering at a limit does not come and go at every poll."""
    reading = facts.reading
    curve = reading.model.breaker
    margin = limits.CHANNEL_LOAD_HYSTERESIS.value
    for channel in reading.channels:
        if not channel.breaker_closed:
            continue
        number, current = channel.number, channel.current_a
        rating, what = load_rating(channel, reading)
        heating_a = curve.non_tripping_multiple * channel.rating_a
        over = facts.previous.get(f"overload.{number}")
        held_near = f"near.{number}" in facts.previous or over is not None
        margin_a = margin * rating
        if _above(current, heating_a, over is Severity.ALARM, margin_a):
            key, severity, level = f"overload.{number}", Severity.ALARM, "over"
        elif _above(current, limits.OVER_RATING_RATIO.value * rating, over is not None, margin_a):
            key, severity, level = f"overload.{number}", Severity.WARNING, "over"
        elif _above(current, limits.NEAR_RATING_RATIO.value * rating, held_near, margin_a):
            key, severity, level = f"near.{number}", Severity.WARNING, "near"
        else:
            continue
        text = f"channel {number} {level} rating: {_amps(current)} of {_rating(rating)}{what}"
        detail = ""
        if severity is Severity.ALARM:
            detail = (
                f"above {_amps(heating_a)} ({curve.non_tripping_multiple:g} x "
                f"{_rating(channel.rating_a)}) its RCBO heats towards a trip"
            )
        yield Finding(key, severity, text, number, detail=detail)


def supervision(facts: Facts) -> Iterator[Finding]:
    """Outside the band set for the channel. "Below" is not reported for a channel whose
    output is dead (breaker open, switch off): that cause is shown instead."""
    reading = facts.reading
    for channel in reading.channels:
        band = channel.supervision
        if not band.enabled:
            continue
        state, number, current = channel.supervision_state, channel.number, channel.current_a
        if state is SupervisionState.ABOVE and band.max_a is not None:
            text = f"channel {number} above its band: {_amps(current)}, max {_rating(band.max_a)}"
        elif (
            state is SupervisionState.BELOW
            and band.min_a is not None
            and channel.breaker_closed
            and reading.switch_on
        ):
            text = f"channel {number} below its band: {_amps(current)}, min {_rating(band.min_a)}"
        else:
            continue
        yield Finding(f"band.{number}", Severity.WARNING, text, number)


def _entered(ratio: float, limit: limits.Limit, level: Severity, held: Severity | None) -> bool:
    """Above ``limit``; once at ``level`` (``held``), until the hysteresis below it."""
    if held is not None and held >= level:
        return ratio > limit.value - limits.INPUT_LOAD_HYSTERESIS.value
    return ratio > limit.value


def input_currents(facts: Facts) -> Iterator[Finding]:
    """Each phase and the neutral against the input rating (the neutral conductor is the
    phases' size: LED walls can overload it while no phase is). A level is entered above
    its ratio and left only :data:`limits.INPUT_LOAD_HYSTERESIS` of the rating below it,
    so a load hovering at a limit does not come and go at every poll."""
    reading = facts.reading
    rating = reading.model.input_rating_a
    neutral = reading.values["neutral_current"]
    lines: list[tuple[str, str, float | None]] = [
        (p.phase, p.phase, p.current_a) for p in reading.phases
    ]
    lines.append(("N", "neutral", None if neutral is None else float(neutral)))
    for key, name, current in lines:
        if current is None:  # the meter is stopped
            continue
        held = facts.previous.get(f"input.{key}")
        ratio = current / rating

        if _entered(ratio, limits.INPUT_OVER_RATING_RATIO, Severity.ALARM, held):
            yield Finding(
                f"input.{key}",
                Severity.ALARM,
                f"{name} {current:.0f} A over the {_rating(rating)} input",
            )
        elif _entered(ratio, limits.INPUT_NEAR_RATING_RATIO, Severity.WARNING, held):
            yield Finding(
                f"input.{key}",
                Severity.WARNING,
                f"{name} {current:.0f} A, {ratio:.0%} of the {_rating(rating)} input",
            )


def temperature(facts: Facts) -> Iterator[Finding]:
    """The ambient against the manual's 0-45 °C (warning from our 40 °C)."""
    value = facts.reading.temperature_c
    if value is None:
        return
    limit, warning, minimum = (
        limits.TEMPERATURE_LIMIT.value,
        limits.TEMPERATURE_WARNING.value,
        limits.TEMPERATURE_MINIMUM.value,
    )
    if value > limit:
        yield Finding(
            "temperature",
            Severity.ALARM,
            f"temperature {value:.1f} °C over the {limit:g} °C limit",
            detail="the manual forbids using the unit above this ambient",
        )
    elif value > warning:
        yield Finding(
            "temperature",
            Severity.WARNING,
            f"temperature {value:.1f} °C, near the {limit:g} °C limit",
        )
    elif value < minimum:
        yield Finding(
            "temperature",
            Severity.WARNING,
            f"temperature {value:.1f} °C, below the {minimum:g} °C minimum",
        )


def supply(facts: Facts) -> Iterator[Finding]:
    """Phase voltages (EN 50160's 230 V ±10 %) and the frequency band of the unit's supply."""
    reading = facts.reading
    nominal, tolerance = limits.NOMINAL_VOLTAGE.value, limits.VOLTAGE_TOLERANCE.value
    low, high = nominal * (1 - tolerance), nominal * (1 + tolerance)
    for p in reading.phases:
        key = f"supply.voltage.{p.phase}"
        if p.voltage_v is None:
            yield Finding(
                key,
                Severity.WARNING,
                f"{p.phase} not metered",
                detail="the meter reads no voltage on this phase: its 1 AT meter "
                "fuse has probably blown (the L1 fuse stops the whole meter)",
            )
        elif not low <= p.voltage_v <= high:
            yield Finding(
                key,
                Severity.WARNING,
                f"{p.phase} at {p.voltage_v:.0f} V, outside {low:g}-{high:g} V",
            )
    frequency = reading.values["frequency"]
    kind = facts.unit.config.supply
    band = limits.FREQUENCY_BANDS.get(kind)
    if isinstance(frequency, int | float) and band is not None:
        nominal_hz = limits.NOMINAL_FREQUENCY.value
        f_low, f_high = nominal_hz * (1 - band.value), nominal_hz * (1 + band.value)
        if not f_low <= frequency <= f_high:
            yield Finding(
                "supply.frequency",
                Severity.WARNING,
                f"frequency {frequency:.2f} Hz, outside {f_low:g}-{f_high:g} Hz",
                detail=f"the band of a {kind} supply",
            )


RULES: tuple[Rule, ...] = (
    safety_chain,
    breakers,
    trip_forecasts,
    channel_loads,
    supervision,
    input_currents,
    temperature,
    supply,
)
"""Every rule a served reading is judged by, in the order their problems are listed."""


def down_detail(unit: UnitState) -> str:
    """Why a unit has no served reading: its last poll error, or a reading gone stale."""
    error = unit.last_error
    if error is not None:
        return f"{error.reason}: {error.message}"
    return "not read yet" if unit.reading is None else "reading too old"


def problems_of(
    unit: UnitState,
    reading: Reading | None,
    trip_s: Mapping[int, float],
    now: float,
    since: Mapping[str, float] | None = None,
    *,
    heat: Mapping[int, float] | None = None,
    previous: Mapping[str, Severity] | None = None,
) -> list[Problem]:
    """The problems ``reading`` (the unit's served reading, ``None`` while it cannot be
    read) shows, by :data:`RULES`.

    :param trip_s: channel -> seconds until its breaker trips (:meth:`TripForecast.of`).
    :param since: key -> when that problem's occurrence began; a problem not in it begins
        ``now``. The unreachable text says how long it has lasted.
    :param heat: channel -> its breaker's heat, 0 to 1 (:meth:`TripForecast.heat`).
    :param previous: key -> severity of the problems the last judgement found.
    """
    name = unit.config.name
    began = since or {}
    if reading is None:
        if unit.last_error is None and unit.reading is None:
            return []  # not polled yet: no evidence either way
        down_since = began.get("down", now)
        return [
            Problem(
                name,
                "down",
                Severity.DOWN,
                f"unreachable for {lasted(now - down_since)}",
                down_since,
                detail=down_detail(unit),
            )
        ]
    facts = Facts(unit, reading, trip_s, heat or {}, previous or {})
    return [
        Problem(
            name, f.key, f.severity, f.text, began.get(f.key, now), f.channel, f.advice, f.detail
        )
        for rule in RULES
        for f in rule(facts)
    ]


def worst_first(problem: Problem) -> tuple[int, float, str, str]:
    """Sort key: severity descending, then the oldest first."""
    return (-problem.severity, problem.since, problem.unit, problem.key)


# --- the board --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    """One open occurrence of a problem, as it is kept: when it began and its ack.

    :param acked_severity: the severity it had when acknowledged; worse shows it again.
    """

    since: float
    acked_by: str | None = None
    acked_at: float | None = None
    acked_severity: Severity | None = None


class ProblemLog(Protocol):
    """Where open occurrences and last-known identities outlive a restart."""

    def load(self) -> tuple[dict[str, dict[str, Occurrence]], dict[str, Identity]]:
        """Open occurrences by unit and key, and each unit's last-known identity."""

    def save(self, unit: str, key: str, occurrence: Occurrence, problem: Problem) -> None:
        """Record a new occurrence or its acknowledgement."""

    def end(self, unit: str, keys: list[str]) -> None:
        """Forget occurrences that ended."""

    def forget_unit(self, unit: str) -> None:
        """Forget a unit that left the fleet."""

    def save_identity(self, unit: str, identity: Identity) -> None:
        """Remember what a unit said about itself."""


class ProblemBoard:
    """Every unit's problems, following the store; the console shows only this.

    :param forecast: the trip forecast (``None``: no trip problems).
    :param log: where occurrences and acknowledgements are kept (``None``: memory only).
    """

    def __init__(
        self,
        store: Store,
        forecast: TripForecast | None = None,
        log: ProblemLog | None = None,
    ) -> None:
        self.store = store
        self.forecast = forecast
        self.log = log
        self.version = 0
        """Increases whenever the set of problems, a text or an acknowledgement changes."""
        self.alarms_version = 0
        """Increases whenever the set of problems, a severity, a start or an
        acknowledgement changes: not when only a text does ("trips in 0:31")."""
        self._lock = threading.RLock()
        self._open: dict[str, dict[str, Occurrence]] = {}
        self._identities: dict[str, Identity] = {}
        if log is not None:
            self._open, self._identities = log.load()
        self._shown: dict[str, dict[str, Problem]] = {}
        self._judged: dict[str, Reading | None] = {}
        """The reading each unit's shown problems were judged from."""
        self._by_age: list[tuple[float, int, str, Reading]] = []
        """A heap of the readings judged, oldest ``taken_at`` first (a count breaks ties),
        so the ones gone stale are found without a look at the rest."""
        self._judgements = 0
        self._stale: dict[str, Reading] = {}
        """Units whose judged reading went stale, to be judged again at the next refresh."""
        self._down: dict[str, float] = {}
        """The units shown down, and when their text ("unreachable for 2 min") next
        changes: until then, judging them again finds the same problem."""
        now = time.time()
        with self._lock:
            for state in store:
                self._judge(state, now)
        store.subscribe(self._on_change)
        store.watch_fleet(self._on_fleet)

    def close(self) -> None:
        """Stop following the store."""
        with contextlib.suppress(ValueError):
            self.store.unsubscribe(self._on_change)
        with contextlib.suppress(ValueError):
            self.store.unwatch_fleet(self._on_fleet)

    # --- what the console asks ------------------------------------------------------------

    def active(self, now: float) -> list[Problem]:
        """Every unit's problems, worst first (severity descending, then the oldest)."""
        with self._lock:
            self._refresh(now)
            problems = [p for shown in self._shown.values() for p in shown.values()]
        return sorted(problems, key=worst_first)

    def of_unit(self, unit: str, now: float) -> list[Problem]:
        with self._lock:
            self._refresh(now)
            problems = list(self._shown.get(unit, {}).values())
        return sorted(problems, key=worst_first)

    def alarms_at(self, now: float) -> int:
        """:attr:`alarms_version` once the problems that run with the clock are brought to
        ``now`` (as :meth:`active` would): unchanged, no problem came, went, or changed
        its severity, start or acknowledgement (its words may have)."""
        with self._lock:
            self._refresh(now)
            return self.alarms_version

    def counts(self, now: float) -> Mapping[Severity, int]:
        """How many problems of each severity (every severity present, 0 when none)."""
        counted = Counter(p.severity for p in self.active(now))
        return {severity: counted[severity] for severity in Severity}

    def identity(self, unit: str) -> Identity | None:
        """What the unit last said about itself (kept while it is down, and across
        restarts)."""
        with self._lock:
            return self._identities.get(unit)

    def acknowledge(self, unit: str, key: str, who: str, now: float) -> Problem:
        """Acknowledge an active problem (a second acknowledgement keeps the first).

        :raises KeyError: no such problem is active.
        """
        with self._lock:
            self._refresh(now)
            problem = self._shown.get(unit, {})[key]
            if problem.acked_by is not None:
                return problem
            occurrence = replace(
                self._open[unit][key], acked_by=who, acked_at=now, acked_severity=problem.severity
            )
            self._open[unit][key] = occurrence
            problem = replace(problem, acked_by=who, acked_at=now)
            self._shown[unit][key] = problem
            if self.log is not None:
                self.log.save(unit, key, occurrence, problem)
            self.version += 1
            self.alarms_version += 1
            return problem

    # --- following the store ---------------------------------------------------------------

    def _on_change(self, change: Change) -> None:
        error = change.unit.last_error
        if change.after is not None:  # the poll's own time: an occurrence begins at it
            now = change.after.taken_at
        else:
            now = error.at if error is not None else time.time()
        with self._lock:
            self._judge(change.unit, now)

    def _on_fleet(self, change: FleetChange) -> None:
        with self._lock:
            for name in change.removed:
                self._open.pop(name, None)
                self._shown.pop(name, None)
                self._judged.pop(name, None)
                self._down.pop(name, None)
                self._identities.pop(name, None)
                if self.log is not None:
                    self.log.forget_unit(name)
            for name in change.changed:  # its reading was dropped: judged again at its poll
                state = self.store.get(name)
                if state is not None:
                    self._judge(state, time.time())
            self.version += 1
            self.alarms_version += 1

    def _refresh(self, now: float) -> None:
        """Judge again the units whose text runs with the clock (unreachable for ...) and
        those whose reading went stale without a poll.

        Only those are looked at (:attr:`_down` whose text is due to change, and what
        :meth:`_age` finds stale), so a refresh costs nothing per healthy unit."""
        self._age(now)
        due = {name for name, at in self._down.items() if now >= at}
        due |= {name for name, reading in self._stale.items() if self._judged.get(name) is reading}
        self._stale.clear()
        for name in due:
            state = self.store.get(name)
            if state is not None:
                self._judge(state, now)

    def _age(self, now: float) -> None:
        """Move the judged readings that went stale from :attr:`_by_age` to
        :attr:`_stale`, and drop the entries of readings judged since; the heap holds no
        more than the polls of one staleness limit."""
        oldest = self._by_age
        while oldest:
            taken_at, _, name, reading = oldest[0]
            if self._judged.get(name) is reading and now - taken_at <= self.store.staleness_s:
                return
            heapq.heappop(oldest)
            if self._judged.get(name) is reading:
                self._stale[name] = reading

    def _judge(self, state: UnitState, now: float) -> None:
        name = state.config.name
        reading = self.store.fresh_reading(state, now)
        trip_s: Mapping[int, float] = {}
        heat: Mapping[int, float] = {}
        if self.forecast is not None and reading is not None:
            trip_s, heat = self.forecast.of(reading), self.forecast.heat(reading)
        occurrences = self._open.setdefault(name, {})
        previous = {key: p.severity for key, p in self._shown.get(name, {}).items()}
        since = {key: o.since for key, o in occurrences.items()}
        found = problems_of(state, reading, trip_s, now, since, heat=heat, previous=previous)
        shown: dict[str, Problem] = {}
        for problem in found:
            occurrence = occurrences.get(problem.key)
            if occurrence is None or (
                occurrence.acked_severity is not None
                and problem.severity > occurrence.acked_severity
            ):
                occurrence = occurrences[problem.key] = Occurrence(
                    occurrence.since if occurrence else problem.since
                )
                if self.log is not None:
                    self.log.save(name, problem.key, occurrence, problem)
            shown[problem.key] = replace(
                problem,
                since=occurrence.since,
                acked_by=occurrence.acked_by,
                acked_at=occurrence.acked_at,
            )
        if reading is not None:  # a reading confirms or ends every occurrence
            ended = [key for key in occurrences if key not in shown]
            for key in ended:
                del occurrences[key]
            if ended and self.log is not None:
                self.log.end(name, ended)
            if self._identities.get(name) != reading.identity:
                self._identities[name] = reading.identity
                if self.log is not None:
                    self.log.save_identity(name, reading.identity)
        self._judged[name] = reading
        if reading is not None:
            self._judgements += 1
            heapq.heappush(self._by_age, (reading.taken_at, self._judgements, name, reading))
            self._age(now)
        down = shown.get("down")
        if down is not None:
            self._down[name] = lasted_changes_at(down.since, now)
        else:
            self._down.pop(name, None)
        before = self._shown.get(name, {})
        if shown != before:
            self.version += 1
            if _alarms(shown) != _alarms(before):
                self.alarms_version += 1
        self._shown[name] = shown


def _alarms(shown: Mapping[str, Problem]) -> dict[str, tuple[Severity, float, bool]]:
    """What of a unit's problems must reach the crew at once: which, how bad, since when,
    acknowledged or not (not their words)."""
    return {key: (p.severity, p.since, p.acked_by is None) for key, p in shown.items()}
