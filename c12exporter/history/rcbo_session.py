"""An RCBO test session: the manual's monthly routine, channel by channel, with a record.

A session prompts one channel at a time ("press T on channel 3"). The channel passes
when its breaker, seen closed with the outputs live during the prompt, is next seen
open with no overcurrent behind it: at the last reading before it opened it carried no
more than its rating and its breaker's heat (:meth:`TripForecast.progress`) was below
:data:`HEAT_TEST_MAX`. It fails when it does not open within the session's time limit.
A channel that opens on overcurrent while prompted is not tested (the opening is
recorded as an overcurrent trip); the prompt stays. A prompt that ends without the
breaker ever closed with the outputs live is "not tested" (nothing was tried).

The readings decide everything: a press and a trip between two polls show as one
opening, and a test whose breaker is opened and closed again within one poll interval is
not seen (the tester leaves it open until the next prompt shows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..reading import Reading
from .db import HistoryError

TIMEOUT_S = 60.0
"""How long a prompted channel has to open before it fails (``--timeout``)."""
TIMEOUT_RANGE_S = (5.0, 3600.0)
HEAT_TEST_MAX = 0.5
"""Breaker heat (0 cold, 1 trips) below which an opening can be a test: well below a
trip, so an overload that was about to trip it is never taken for a test (ours)."""
TESTER_MAX = 64

PASS, FAIL, NOT_TESTED = "pass", "fail", "not_tested"
RESULTS = (PASS, FAIL, NOT_TESTED)
TEST, OVERCURRENT, OFF, UNKNOWN = "test", "overcurrent", "off", "unknown"
"""Why a breaker opened: a passed test; an overload (above its rating, or a hot breaker);
otherwise switched off by hand or tripped on earth leakage (a reading cannot tell those
two apart); unknown when no reading of it closed came before (it opened while the exporter
was stopped)."""


@dataclass(frozen=True)
class Closed:
    """A channel at the last reading that showed its breaker closed."""

    current_a: float
    rating_a: float
    heat: float

    @property
    def overcurrent(self) -> bool:
        return self.current_a > self.rating_a or self.heat >= HEAT_TEST_MAX

    def describe(self) -> str:
        return f"{self.current_a:.1f} A of {self.rating_a:g} A, heat {self.heat:.2f}"


def opening_cause(closed: Closed) -> str:
    """Why a breaker last seen ``closed`` opened outside a prompt: overcurrent or off."""
    return OVERCURRENT if closed.overcurrent else OFF


@dataclass(frozen=True)
class ChannelResult:
    channel: int
    result: str
    at: float
    detail: str


def check_tester(name: object) -> str:
    if not isinstance(name, str):
        raise HistoryError("tester: give the tester's name as text", "tester")
    name = name.strip()
    if not name or len(name) > TESTER_MAX or not name.isprintable():
        raise HistoryError(
            f"tester: give 1 to {TESTER_MAX} printable characters, e.g. 'A. Smith'", "tester"
        )
    return name


def check_timeout(value: object) -> float:
    low, high = TIMEOUT_RANGE_S
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise HistoryError(
            f"timeout_s: give the seconds a channel has to open, {low:g} to {high:g}", "timeout_s"
        )
    return float(value)


def check_channels(value: object, count: int) -> tuple[int, ...]:
    if value is None:
        return tuple(range(1, count + 1))
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(c, int) and not isinstance(c, bool) for c in value)
        or not all(1 <= c <= count for c in value)
        or len(set(value)) != len(value)
    ):
        raise HistoryError(f"channels: give distinct channel numbers 1 to {count}", "channels")
    return tuple(value)


@dataclass
class Session:
    """One running session; fed every poll of its unit by the history."""

    id: int
    unit: str
    serial: str
    tester: str
    started_at: float
    timeout_s: float
    channels: tuple[int, ...]
    jobs: str = ""
    index: int = 0
    prompt_since: float = 0.0
    armed: bool = False
    """The prompted breaker was seen closed with the outputs live during the prompt."""
    note: str = ""
    results: list[ChannelResult] = field(default_factory=list)
    ended_at: float | None = None
    passed_now: set[int] = field(default_factory=set)
    """Channels that passed at the reading being processed (their opening is a test)."""

    def __post_init__(self) -> None:
        self.prompt_since = self.prompt_since or self.started_at

    @property
    def channel(self) -> int | None:
        """The channel prompted now; ``None`` when the session is over."""
        if self.ended_at is not None or self.index >= len(self.channels):
            return None
        return self.channels[self.index]

    @property
    def deadline(self) -> float:
        return self.prompt_since + self.timeout_s

    def step(
        self, reading: Reading | None, at: float, closed: Callable[[int], Closed | None]
    ) -> list[ChannelResult]:
        """One poll of the unit (``reading`` ``None``: it could not be read at ``at``);
        ``closed(channel)`` is the channel at the unit's reading before this one, if its
        breaker was closed then. Returns the results this poll decided."""
        self.passed_now = set()
        decided: list[ChannelResult] = []
        while (channel := self.channel) is not None:
            result = self._prompted(channel, reading, at, closed(channel))
            if result is None:
                break
            decided.append(result)
            self._next(at)
        if self.channel is None and self.ended_at is None:
            self.ended_at = at
        self.results += decided
        return decided

    def _prompted(
        self, channel: int, reading: Reading | None, at: float, closed: Closed | None
    ) -> ChannelResult | None:
        if reading is None:
            self.note = "the unit cannot be read; waiting for it"
        else:
            live = reading.switch_on and not reading.estop_pressed
            breaker = reading.channels[channel - 1]
            if breaker.breaker_closed:
                if live:
                    self.armed, self.note = True, ""
                else:
                    self.note = "the outputs are dead: release the e-stop, switch the unit on"
            elif self.armed and closed is not None:
                self.armed = False
                if closed.overcurrent:
                    self.note = (
                        f"channel {channel} opened on overcurrent ({closed.describe()}): not "
                        "a test; reduce its load, switch it on and press T"
                    )
                else:
                    self.passed_now.add(channel)
                    return ChannelResult(channel, PASS, at, f"opened at {closed.describe()}")
            elif not self.armed and not self.note:
                self.note = f"channel {channel} is open: switch it on, then press T"
        if at < self.deadline:
            return None
        if self.armed:
            return ChannelResult(channel, FAIL, at, f"did not open within {self.timeout_s:g} s")
        reason = self.note or "it was never seen closed with the outputs live"
        return ChannelResult(channel, NOT_TESTED, at, reason)

    def _next(self, at: float) -> None:
        self.index += 1
        self.prompt_since, self.armed, self.note = at, False, ""

    def stop(self, at: float) -> None:
        self.ended_at = at

    def prompt(self) -> str:
        channel = self.channel
        if channel is None:
            return "done"
        return self.note or f"press T on channel {channel}"

    def state(self) -> dict[str, object]:
        """The session as data for the API (and the command that follows it)."""
        channel = self.channel
        return {
            "session": self.id,
            "unit": self.unit,
            "serial": self.serial,
            "tester": self.tester,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "timeout_s": self.timeout_s,
            "channels": list(self.channels),
            "jobs": self.jobs,
            "prompt": None
            if channel is None
            else {"channel": channel, "message": self.prompt(), "since": self.prompt_since,
                  "deadline": self.deadline},
            "results": [result_json(r) for r in self.results],
        }  # fmt: skip


def result_json(result: ChannelResult) -> dict[str, object]:
    return {"channel": result.channel, "result": result.result, "time": result.at,
            "detail": result.detail}  # fmt: skip


def summary(results: Sequence[ChannelResult]) -> str:
    counts = {r: sum(x.result == r for x in results) for r in RESULTS}
    return ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in counts.items() if n)
