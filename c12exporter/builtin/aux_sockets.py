"""Built-in auxiliary socket types 1-5 (the ``A`` in ``C12x-LA``).

Ratings come from each socket's national standard, not from the manual.
"""

from __future__ import annotations

from ..model import AuxSocket
from ..plugins import hookimpl
from ..registry import Registry

AUX_SOCKETS = (
    AuxSocket("1", "German Schuko", "CEE 7/3", 16.0),
    AuxSocket("2", "French Type E", "CEE 7/5", 16.0),
    AuxSocket("3", "UK 13 A", "BS 1363", 13.0),
    AuxSocket("4", "Australian GPO", "AS/NZS 3112", 10.0),
    AuxSocket("5", "Swiss", "SEV 1011 (Type J)", 10.0),
)


@hookimpl
def c12_add_aux_sockets(aux_sockets: Registry[AuxSocket]) -> None:
    for socket in AUX_SOCKETS:
        aux_sockets.add(socket.code, socket)
