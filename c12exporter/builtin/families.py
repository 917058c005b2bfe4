"""The built-in C12 model family: ``C12x-LA``, 12 channels, aux socket on channel 12, 63 A
input. Its layouts and aux sockets are the ones plugins register through
``c12_add_layouts`` and ``c12_add_aux_sockets`` (the built-in ones are in
:mod:`c12exporter.builtin.layouts` and :mod:`c12exporter.builtin.aux_sockets`).
"""

from __future__ import annotations

from ..measurements import CHANNEL_COUNT
from ..model import AUX_CHANNEL, INPUT_RATING_A, AuxSocket, Layout, ModelFamily
from ..plugins import hookimpl
from ..registry import Registry


@hookimpl
def c12_add_model_families(
    families: Registry[ModelFamily], layouts: Registry[Layout], aux_sockets: Registry[AuxSocket]
) -> None:
    families.add(
        "C12",
        ModelFamily(
            prefix="C12",
            channel_count=CHANNEL_COUNT,
            layouts=layouts,
            aux_sockets=aux_sockets,
            aux_channel=AUX_CHANNEL,
            input_rating_a=INPUT_RATING_A,
        ),
    )
