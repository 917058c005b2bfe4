"""A faithful simulated fleet of C12B units, speaking the register map over Modbus TCP.

* :mod:`.physics` - one unit's electrical model (pure, deterministic).
* :mod:`.scenarios` - named, seeded load scenarios as data.
* :mod:`.server` - the fleet: one pymodbus server per unit on loopback.
* :mod:`.actions` - operator actions and fault injection.
* :mod:`.control` - the HTTP control interface and its client.
* :mod:`.cli` - the ``simulate`` command.
"""

from .actions import ACTIONS, ActionError, apply_action
from .control import ControlClient, ControlError, ControlServer
from .physics import Load, UnitPhysics
from .scenarios import SCENARIOS
from .server import Fleet, NetworkMode, SimulatedUnit, SimulatorError

__all__ = [
    "ACTIONS",
    "SCENARIOS",
    "ActionError",
    "ControlClient",
    "ControlError",
    "ControlServer",
    "Fleet",
    "Load",
    "NetworkMode",
    "SimulatedUnit",
    "SimulatorError",
    "UnitPhysics",
    "apply_action",
]
