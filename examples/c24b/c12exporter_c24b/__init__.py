"""The StageSmarts C24B as a c12exporter plugin: the ``C24`` model family.

A C24B has 24 output circuits behind 16 A RCBOs, a 63 A three-phase input, the same
optional webserver as the C12B (so the same register map, 24 channels wide) and a domestic
aux socket wired to channel 24. Its names read like the C12's: ``C24x-LA``, x = A (no
network interface, refused) or B, L = output layout, A = aux socket.

* Layout ``1``: four 19-pin Socapex-type connectors A-D of six channels each, with the
  pin-out of the built-in Socapex layout (circuit n live on pin 2n-1, neutral on 2n).
* Aux sockets: the same codes as the C12's (the built-in ones: 1 German Schuko,
  2 French Type E, 3 UK, 4 Australian, 5 Swiss), so a C24B with a German Schuko socket
  is a ``C24B-11`` and a ``C24B-12`` has a French Type E socket.

Installed, it is found through the ``c12exporter`` entry-point group; nothing in the core
changes.
"""

from __future__ import annotations

from c12exporter import hookimpl
from c12exporter.builtin.layouts import socapex
from c12exporter.model import AuxSocket, Layout, ModelFamily
from c12exporter.registry import Registry

CHANNELS = 24
AUX_CHANNEL = 24
"""The aux socket shares channel 24 (and its 16 A RCBO) with connector D's sixth circuit."""
INPUT_RATING_A = 63.0

SOCAPEX_4X6 = Layout(
    code="1",
    description="4 x 19-pin Socapex-type, 6 channels per connector",
    connectors=tuple(
        socapex(label, range(first, first + 6))
        for label, first in (("A", 1), ("B", 7), ("C", 13), ("D", 19))
    ),
    channel_count=CHANNELS,
)


@hookimpl
def c12_add_model_families(
    families: Registry[ModelFamily], aux_sockets: Registry[AuxSocket]
) -> None:
    families.add(
        "C24",
        ModelFamily(
            prefix="C24",
            channel_count=CHANNELS,
            layouts={SOCAPEX_4X6.code: SOCAPEX_4X6},
            aux_sockets=aux_sockets,
            aux_channel=AUX_CHANNEL,
            input_rating_a=INPUT_RATING_A,
        ),
    )
