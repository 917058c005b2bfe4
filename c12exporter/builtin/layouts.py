"""Built-in output layouts 1, 2, 5 and 7 (manual, 'Output connector types').

Pin assignments are not in the manual; these are the usual ones for each
connector family and are stated as assumptions in ``docs/models.md``.
"""

from __future__ import annotations

from ..model import Connector, Layout
from ..plugins import hookimpl
from ..registry import Registry


def _multi(label: str, type_: str, pins: int, channels: range, neutral_offset: int) -> Connector:
    """A multi-circuit connector: live on pins 1..n, neutral ``neutral_offset`` further."""
    return Connector(
        label=label,
        type=type_,
        pins=pins,
        channel_pins={
            ch: (str(i + 1), str(i + 1 + neutral_offset)) for i, ch in enumerate(channels)
        },
    )


def socapex(label: str, channels: range) -> Connector:
    """A 19-pin Socapex-type connector of up to six channels: circuit n live on pin 2n-1,
    neutral on 2n; 13-18 earth, 19 spare (also for other families' layouts)."""
    return Connector(
        label=label,
        type="Socapex 19-pin",
        pins=19,
        channel_pins={ch: (str(2 * i + 1), str(2 * i + 2)) for i, ch in enumerate(channels)},
    )


SOCAPEX_2X6 = Layout(
    code="1",
    description="2 x 19-pin Socapex-type, 6 channels per connector",
    connectors=(socapex("A", range(1, 7)), socapex("B", range(7, 13))),
)

HARTING16_2X6 = Layout(
    code="2",
    description="2 x 16-pin Harting-type, 6 channels per connector",
    connectors=(
        _multi("A", "Harting 16-pin", 16, range(1, 7), neutral_offset=8),
        _multi("B", "Harting 16-pin", 16, range(7, 13), neutral_offset=8),
    ),
)

TRUE1_12X1 = Layout(
    code="5",
    description="12 x Neutrik True1 (3-pin), 1 channel per connector",
    connectors=tuple(
        Connector(label=str(ch), type="Neutrik True1", pins=3, channel_pins={ch: ("L", "N")})
        for ch in range(1, 13)
    ),
)

HARTING10_3X4 = Layout(
    code="7",
    description="3 x 10-pin Harting-type, 4 channels per connector",
    connectors=tuple(
        _multi(label, "Harting 10-pin", 10, range(first, first + 4), neutral_offset=5)
        for label, first in (("A", 1), ("B", 5), ("C", 9))
    ),
)


@hookimpl
def c12_add_layouts(layouts: Registry[Layout]) -> None:
    for layout in (SOCAPEX_2X6, HARTING16_2X6, TRUE1_12X1, HARTING10_3X4):
        layouts.add(layout.code, layout)
