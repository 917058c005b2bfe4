"""The exporter's settings as values: units, polling, exposers, a channel's supervision
band. A leaf: imports no other part of the exporter, so every module may depend on it.
Loading and checking a config file is :mod:`c12exporter.config`'s job."""

from __future__ import annotations

import enum
import ipaddress
import math
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_DURATION = re.compile(r"^(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class SupervisionState(enum.Enum):
    """Where a channel's current sits against its supervision band."""

    DISABLED = "disabled"  # neither minimum nor maximum set
    OK = "ok"
    BELOW = "below"
    ABOVE = "above"


@dataclass(frozen=True)
class SupervisionBand:
    """Minimum and maximum current for a channel; ``None`` means not set."""

    min_a: float | None = None
    max_a: float | None = None

    @property
    def enabled(self) -> bool:
        return self.min_a is not None or self.max_a is not None

    def state(self, current_a: float) -> SupervisionState:
        if not self.enabled:
            return SupervisionState.DISABLED
        if self.min_a is not None and current_a < self.min_a:
            return SupervisionState.BELOW
        if self.max_a is not None and current_a > self.max_a:
            return SupervisionState.ABOVE
        return SupervisionState.OK


class ConfigError(ValueError):
    """The config is wrong; the message names the file, the key and what to do."""


@dataclass(frozen=True)
class UnitConfig:
    """One unit to poll."""

    name: str
    address: str
    transport: str = "modbus-tcp"
    model: str | None = None
    phases: tuple[str, ...] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    supervision: Mapping[int, SupervisionBand] = field(default_factory=dict)
    serial: str | None = None
    """The serial number expected at the address (written by discovery); a unit that
    answers with another one is not read."""
    supply: str = "grid"
    """What feeds the unit: ``grid`` or ``generator``; picks the frequency band it is judged
    by (:data:`c12exporter.limits.FREQUENCY_BANDS`)."""


@dataclass(frozen=True)
class PollConfig:
    interval_s: float = 5.0
    timeout_s: float = 2.0
    concurrency: int = 256
    staleness_s: float | None = None

    @property
    def staleness_limit_s(self) -> float:
        return self.staleness_s if self.staleness_s is not None else 3 * self.interval_s


@dataclass(frozen=True)
class DiscoveryConfig:
    """Scan these networks while serving; units found join the fleet."""

    networks: tuple[str, ...]
    port: int = 502
    interval_s: float = 300.0
    gone_after_s: float = 900.0
    """A unit unseen this long is reported gone (it stays, shown down)."""
    forget_after_s: float = 86400.0
    """A unit unseen this long leaves the fleet (its name is kept for its return)."""
    concurrency: int = 256
    rate: float = 500.0
    timeout_s: float = 1.0


@dataclass(frozen=True)
class ProbeRule:
    """``/probe`` may read addresses in ``network`` on one of ``ports``."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    ports: frozenset[int]

    def admits(self, ip: str, port: int) -> bool:
        address = ipaddress.ip_address(ip.partition("%")[0])
        return (
            port in self.ports
            and address.version == self.network.version
            and (address in self.network)
        )


@dataclass(frozen=True)
class ProbeConfig:
    """Which targets that are not configured units ``/probe`` may read: none by default."""

    allow: tuple[ProbeRule, ...] = ()

    def admits(self, ip: str, port: int) -> bool:
        return any(rule.admits(ip, port) for rule in self.allow)


@dataclass(frozen=True)
class Shard:
    """This exporter polls shard ``index`` of ``count`` (1-based): the units whose name
    hashes there, so several exporters with one config split a fleet exactly."""

    index: int = 1
    count: int = 1

    def holds(self, name: str) -> bool:
        return self.count == 1 or zlib.crc32(name.encode("utf-8")) % self.count == self.index - 1

    @classmethod
    def parse(cls, text: object, where: str) -> Shard:
        """``"2/3"`` -> ``Shard(2, 3)``."""
        index_text, slash, count_text = str(text).partition("/")
        if slash and index_text.strip().isdigit() and count_text.strip().isdigit():
            index, count = int(index_text), int(count_text)
            if 1 <= index <= count:
                return cls(index, count)
        raise ConfigError(f"{where}: {text!r} is not a shard like 1/2 (this one of how many)")


@dataclass(frozen=True)
class HistoryConfig:
    """The ``history:`` section: the event, RCBO-test and job database (``docs/history.md``).

    :param path: the SQLite file; ``None`` = ``<state_dir>/history.sqlite3``.
    :param rcbo_test_period_s: a channel whose RCBO has not been cycled this long is due.
    """

    path: Path | None = None
    rcbo_test_period_s: float = 31 * 86400.0


SectionParser = Callable[[object, str, Path], object]
"""Checks a config section a plugin owns (hook ``c12_add_config_sections``) and returns its
settings: called with the section's value as written (``None`` when absent), where it is
(``"c12.yml: probe"``, for errors) and the config file's directory (for relative paths);
raises :class:`ConfigError` naming ``where`` and the key."""


@dataclass(frozen=True)
class Config:
    units: tuple[UnitConfig, ...]
    poll: PollConfig = PollConfig()
    exposers: Mapping[str, object] = field(default_factory=dict)
    """Settings of each enabled exposer, by config section (``web``, ``snmp``)."""
    source: str = "<defaults>"
    discovery: DiscoveryConfig | None = None
    shard: Shard = Shard()
    state_dir: Path = Path("c12exporter-state")
    """Where small state files live (the SNMP unit index); relative paths are resolved
    against the config file's directory."""
    sections: Mapping[str, object] = field(default_factory=dict)
    """Settings of each section a plugin owns, by key (``probe``, ``history``)."""

    def section(self, key: str, default: T) -> T:
        """The settings of section ``key``; ``default`` when no loaded plugin owns it."""
        value = self.sections.get(key, default)
        if not isinstance(value, type(default)):
            raise TypeError(f"section {key}: {value!r} is not a {type(default).__name__}")
        return value

    @property
    def probe(self) -> ProbeConfig:
        """``probe:`` (the Prometheus plugin's): nothing but configured units without it."""
        return self.section("probe", ProbeConfig())

    @property
    def history(self) -> HistoryConfig:
        """``history:`` (the history plugin's)."""
        return self.section("history", HistoryConfig())

    @property
    def history_path(self) -> Path:
        return self.history.path or self.state_dir / "history.sqlite3"


def yaml_problem(error: Exception) -> str:
    """Where and what a YAML error is, without the text around it (it may hold a secret):
    PyYAML quotes the tag, alias or character it stumbled on, so a quoted fragment is only
    kept when it is syntax, such as the ``':'`` of ``expected ':'``."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or "invalid"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{_QUOTED.sub(_syntax_only, str(problem))}"


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')
_TOKEN = re.compile(r"^(?:[^\w\s]|\\t|<[a-z ]+>)$")
"""What PyYAML quotes of its own: one punctuation character, a tab, a token (``<scalar>``)."""


def _syntax_only(match: re.Match[str]) -> str:
    return match.group() if _TOKEN.match(match.group()[1:-1]) else "(not shown)"


def parse_duration(text: object, where: str) -> float:
    """``"5s"``, ``"250ms"``, ``"2m"`` or a number of seconds -> seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool) and 0 < text < math.inf:
        return float(text)
    match = _DURATION.match(str(text).strip())
    if not match or float(match.group("value")) <= 0:
        raise ConfigError(f"{where}: {text!r} is not a positive duration like 5s, 250ms or 2m")
    return float(match.group("value")) * _DURATION_UNITS[match.group("unit")]


def parse_whole(value: object, where: str, low: int = 1, high: int | None = None) -> int:
    """A whole number in ``low..high``, or :class:`ConfigError` saying so."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{where}: {value!r} must be a whole number {bounds}")
    return value


def only_keys(data: object, allowed: set[str], where: str) -> None:
    """Raise :class:`ConfigError` unless ``data`` is a mapping with only ``allowed`` keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: must be a mapping")
    unknown = sorted(set(map(str, data)) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(allowed))}"
        )
