"""The built-in curve of the channel breakers: every model's RCBOs are EN 60947-2
magnetic-hydraulic (manual: 'industrial grade (EN 60947-2) circuit breakers')."""

from __future__ import annotations

from ..breaker import EN_60947_2_MAGNETIC_HYDRAULIC, BreakerCurve
from ..model import UnitModel
from ..plugins import hookimpl


@hookimpl(trylast=True)
def c12_breaker_curve(model: UnitModel) -> BreakerCurve | None:
    return EN_60947_2_MAGNETIC_HYDRAULIC
