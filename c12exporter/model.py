"""The unit as hardware: connectors, layouts, aux sockets, ratings, model names.

These are plain values; which layouts and aux sockets exist is decided by
plugins (see :mod:`c12exporter.hookspecs`), so a new model needs no change here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .breaker import EN_60947_2_MAGNETIC_HYDRAULIC, BreakerCurve
from .measurements import CHANNEL_COUNT, PHASES

CHANNEL_RATING_A = 16.0
"""Every main output is behind a 16 A RCBO (manual: 'Each output is rated 16A')."""

INPUT_RATING_A = 63.0
"""The three-phase input (63 A Harting, 5-pole cable): the rating of each phase *and* of the
neutral, whose conductor is the phase conductors' size."""

AUX_CHANNEL = 12
"""The auxiliary domestic socket is wired to channel 12 (the manual's 'output 24' is a slip)."""

DEFAULT_PHASE_ROTATION: tuple[str, ...] = tuple(
    PHASES[(n - 1) % len(PHASES)] for n in range(1, CHANNEL_COUNT + 1)
)
"""Assumed wiring: ch1 L1, ch2 L2, ch3 L3, ch4 L1 ... ch12 L3 (the manual's figure is lost)."""

_MODEL_NAME = re.compile(r"^C12(?P<kind>[A-Z])-(?P<layout>[0-9A-Z])(?P<aux>[0-9A-Z])$")


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
    """An output layout (the ``L`` in ``C12x-LA``)."""

    code: str
    description: str
    connectors: tuple[Connector, ...]

    def __post_init__(self) -> None:
        seen = sorted(ch for c in self.connectors for ch in c.channels)
        if seen != list(range(1, CHANNEL_COUNT + 1)):
            raise ModelError(
                f"layout {self.code!r} must wire channels 1..{CHANNEL_COUNT} once each, "
                f"wires {seen}"
            )

    def connector_of(self, channel: int) -> Connector:
        for connector in self.connectors:
            if channel in connector.channel_pins:
                return connector
        raise KeyError(channel)


@dataclass(frozen=True)
class AuxSocket:
    """The domestic socket wired to channel 12 (the ``A`` in ``C12x-LA``).

    :param rating_a: the socket's own rating from its national standard; the
        channel's 16 A RCBO still limits socket plus main connector together.
    """

    code: str
    name: str
    standard: str
    rating_a: float


@dataclass(frozen=True)
class UnitModel:
    """A complete model: layout, aux socket, the phase of each channel, and the rating
    and time-current curve of the channel breakers (a plugin may give another curve:
    the ``c12_breaker_curve`` hook)."""

    name: str
    layout: Layout
    aux_socket: AuxSocket
    channel_phases: tuple[str, ...] = DEFAULT_PHASE_ROTATION
    channel_rating_a: float = CHANNEL_RATING_A
    input_rating_a: float = INPUT_RATING_A
    breaker: BreakerCurve = EN_60947_2_MAGNETIC_HYDRAULIC

    def with_phases(self, phases: Sequence[str]) -> UnitModel:
        return dataclasses.replace(self, channel_phases=tuple(phases))

    def with_breaker(self, curve: BreakerCurve) -> UnitModel:
        return dataclasses.replace(self, breaker=curve)


def parse_model_name(
    name: str, layouts: Mapping[str, Layout], aux_sockets: Mapping[str, AuxSocket]
) -> UnitModel:
    """Resolve a model name such as ``C12B-12`` against the registered plugins.

    :raises ModelError: with a message a user can act on.
    """
    match = _MODEL_NAME.match(name.strip().upper())
    if not match:
        raise ModelError(
            f"model {name!r} is not a C12 model name; expected C12B-LA, e.g. C12B-12 "
            "(L = output layout, A = aux socket)"
        )
    kind, layout_code, aux_code = match.group("kind", "layout", "aux")
    if kind == "A":
        raise ModelError(
            f"model {name!r} is a C12A: it has no network interface, so it cannot be read; "
            "only C12B units (with the built-in webserver) can be monitored"
        )
    if kind != "B":
        raise ModelError(f"model {name!r}: unknown C12 variant {kind!r}; only C12B is networked")
    if layout_code not in layouts:
        raise ModelError(
            f"model {name!r}: no plugin provides output layout {layout_code!r} "
            f"(known: {', '.join(sorted(layouts))})"
        )
    if aux_code not in aux_sockets:
        raise ModelError(
            f"model {name!r}: no plugin provides aux socket {aux_code!r} "
            f"(known: {', '.join(sorted(aux_sockets))})"
        )
    return UnitModel(f"C12B-{layout_code}{aux_code}", layouts[layout_code], aux_sockets[aux_code])
