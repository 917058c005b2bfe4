"""The unit as hardware: connectors, layouts, aux sockets, ratings, model families and names.

These are plain values; which model families, layouts and aux sockets exist is decided by
plugins (see :mod:`c12exporter.hookspecs`), so a new model needs no change here. A model
declares its own channel count (its layout's), aux channel, ratings and phase rotation;
the C12 values below are the defaults of the built-in C12 family.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .breaker import EN_60947_2_MAGNETIC_HYDRAULIC, BreakerCurve
from .measurements import CHANNEL_COUNT, PHASES, channel_keys

CHANNEL_RATING_A = 16.0
"""Every main output is behind a 16 A RCBO (manual: 'Each output is rated 16A')."""

INPUT_RATING_A = 63.0
"""The three-phase input (63 A Harting, 5-pole cable): the rating of each phase *and* of the
neutral, whose conductor is the phase conductors' size."""

AUX_CHANNEL = 12
"""The C12's auxiliary domestic socket is wired to channel 12 (the manual's 'output 24' is a
slip); another family says where its socket is (:attr:`ModelFamily.aux_channel`)."""


def phase_rotation(channel_count: int) -> tuple[str, ...]:
    """Assumed wiring: ch1 L1, ch2 L2, ch3 L3, ch4 L1 ... (the manual's figure is lost)."""
    return tuple(PHASES[(n - 1) % len(PHASES)] for n in range(1, channel_count + 1))


class ModelError(ValueError):
    """A model name that cannot be read, or a model this software cannot monitor."""


@dataclass(frozen=True)
class Connector:
    """One output connector on the back panel.

    :param label: position on the panel, e.g. ``"A"``.
    :param type: connector family, e.g. ``"Socapex 19-pin"``.
    :param pins: number of contacts.
    :param channel_pins: channel number -> (live pin, neutral pin).
    """

    label: str
    type: str
    pins: int
    channel_pins: Mapping[int, tuple[str, str]]

    @property
    def channels(self) -> tuple[int, ...]:
        return tuple(sorted(self.channel_pins))


@dataclass(frozen=True)
class Layout:
    """An output layout (the ``L`` in ``C12x-LA``): its connectors, which wire channels
    1..``channel_count`` once each."""

    code: str
    description: str
    connectors: tuple[Connector, ...]
    channel_count: int = CHANNEL_COUNT

    def __post_init__(self) -> None:
        seen = sorted(ch for c in self.connectors for ch in c.channels)
        if seen != list(range(1, self.channel_count + 1)):
            raise ModelError(
                f"layout {self.code!r} must wire channels 1..{self.channel_count} once each, "
                f"wires {seen}"
            )

    def connector_of(self, channel: int) -> Connector:
        for connector in self.connectors:
            if channel in connector.channel_pins:
                return connector
        raise KeyError(channel)


@dataclass(frozen=True)
class AuxSocket:
    """The domestic socket wired to the model's aux channel (the ``A`` in ``C12x-LA``).

    :param rating_a: the socket's own rating from its national standard; the
        channel's 16 A RCBO still limits socket plus main connector together.
    """

    code: str
    name: str
    standard: str
    rating_a: float


@dataclass(frozen=True)
class UnitModel:
    """A complete model: layout (and with it the channel count), aux socket and the
    channel it is wired to, the phase of each channel (default: the usual rotation), the
    input's rating, and the rating and time-current curve of the channel breakers (a
    plugin may give another curve: the ``c12_breaker_curve`` hook).

    :raises ModelError: phases or aux channel that do not fit the layout's channels.
    """

    name: str
    layout: Layout
    aux_socket: AuxSocket
    channel_phases: tuple[str, ...] = ()
    channel_rating_a: float = CHANNEL_RATING_A
    input_rating_a: float = INPUT_RATING_A
    breaker: BreakerCurve = EN_60947_2_MAGNETIC_HYDRAULIC
    aux_channel: int = AUX_CHANNEL

    def __post_init__(self) -> None:
        count = self.channel_count
        if not self.channel_phases:
            object.__setattr__(self, "channel_phases", phase_rotation(count))
        if len(self.channel_phases) != count:
            raise ModelError(
                f"model {self.name}: has {count} channels, but the phases list "
                f"{len(self.channel_phases)}; give the phase of each of the {count} channels"
            )
        if not 1 <= self.aux_channel <= count:
            raise ModelError(
                f"model {self.name}: aux channel {self.aux_channel} is not one of its "
                f"channels 1..{count}"
            )

    @property
    def channel_count(self) -> int:
        """The model's channels: those its layout wires."""
        return self.layout.channel_count

    @property
    def channels(self) -> tuple[str, ...]:
        """The channel numbers as label values, in register order."""
        return channel_keys(self.channel_count)

    def with_phases(self, phases: Sequence[str]) -> UnitModel:
        return dataclasses.replace(self, channel_phases=tuple(phases))

    def with_breaker(self, curve: BreakerCurve) -> UnitModel:
        return dataclasses.replace(self, breaker=curve)


@dataclass(frozen=True)
class ModelFamily:
    """Models named ``<prefix><variant>-LA`` (``C12B-12``) that share a channel count, the
    channel the aux socket is wired to and the input's rating; ``L`` picks one of the
    family's layouts, ``A`` one of the aux sockets. Only the networked variant (the ``B``,
    with the built-in webserver) can be read; the unnetworked one (``A``) is refused by
    name. A family with another naming scheme subclasses this and overrides
    :meth:`matches` and :meth:`parse`.

    :param prefix: the name's start before the variant letter, e.g. ``"C12"``.
    :param channel_count: every layout of the family wires this many channels.
    :param layouts: output layouts by code (the C12's: the ``c12_add_layouts`` registry).
    :param aux_sockets: aux socket types by code (the ``c12_add_aux_sockets`` registry).
    :param aux_channel: the channel the aux socket is wired to.
    """

    prefix: str
    channel_count: int
    layouts: Mapping[str, Layout]
    aux_sockets: Mapping[str, AuxSocket]
    aux_channel: int
    input_rating_a: float = INPUT_RATING_A
    channel_rating_a: float = CHANNEL_RATING_A
    networked: str = "B"
    unnetworked: str = "A"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(
            rf"^{re.escape(self.prefix)}(?P<kind>[A-Z])-(?P<layout>[0-9A-Z])(?P<aux>[0-9A-Z])$"
        )

    @property
    def example(self) -> str:
        """How the family's names look, for messages: ``C12B-LA``."""
        return f"{self.prefix}{self.networked}-LA"

    def matches(self, name: str) -> bool:
        """Whether ``name`` is one of this family's names (perhaps one it refuses)."""
        return self.pattern.match(name.strip().upper()) is not None

    def parse(self, name: str) -> UnitModel:
        """The model named ``name``, which :meth:`matches`.

        :raises ModelError: with a message a user can act on.
        """
        match = self.pattern.match(name.strip().upper())
        if not match:
            raise ModelError(f"model {name!r} is not a {self.prefix} model name")
        kind, layout_code, aux_code = match.group("kind", "layout", "aux")
        if kind == self.unnetworked:
            raise ModelError(
                f"model {name!r} is a {self.prefix}{kind}: it has no network interface, so it "
                f"cannot be read; only {self.prefix}{self.networked} units (with the built-in "
                "webserver) can be monitored"
            )
        if kind != self.networked:
            raise ModelError(
                f"model {name!r}: unknown {self.prefix} variant {kind!r}; only "
                f"{self.prefix}{self.networked} is networked"
            )
        if layout_code not in self.layouts:
            raise ModelError(
                f"model {name!r}: no plugin provides output layout {layout_code!r} "
                f"(known: {', '.join(sorted(self.layouts))})"
            )
        if aux_code not in self.aux_sockets:
            raise ModelError(
                f"model {name!r}: no plugin provides aux socket {aux_code!r} "
                f"(known: {', '.join(sorted(self.aux_sockets))})"
            )
        layout = self.layouts[layout_code]
        if layout.channel_count != self.channel_count:
            raise ModelError(
                f"model {name!r}: output layout {layout_code!r} wires {layout.channel_count} "
                f"channels, but a {self.prefix} has {self.channel_count}; the plugin that "
                "provides the layout must declare it for its family"
            )
        return UnitModel(
            f"{self.prefix}{self.networked}-{layout_code}{aux_code}",
            layout,
            self.aux_sockets[aux_code],
            channel_rating_a=self.channel_rating_a,
            input_rating_a=self.input_rating_a,
            aux_channel=self.aux_channel,
        )


def parse_model_name(name: str, families: Mapping[str, ModelFamily]) -> UnitModel:
    """Resolve a model name such as ``C12B-12`` by the family whose names it matches.

    :raises ModelError: with a message a user can act on.
    """
    for family in families.values():
        if family.matches(name):
            return family.parse(name)
    if not families:
        raise ModelError(f"model {name!r}: no plugin provides any model family")
    first = next(iter(families.values()))
    raise ModelError(
        f"model {name!r} is not a {' or '.join(f.prefix for f in families.values())} model "
        f"name; expected {' or '.join(f.example for f in families.values())}, e.g. "
        f"{first.prefix}{first.networked}-12 (L = output layout, A = aux socket)"
    )


ModelResolver = Callable[[str], UnitModel]
"""Resolves a model name with every plugin's families (``Plugins.model``); raises
:class:`ModelError`."""
