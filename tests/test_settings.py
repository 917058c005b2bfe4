"""``c12exporter.settings`` is a leaf: it imports no other part of the exporter, so any
module may depend on it; what it shares with the readings is defined there once."""

from __future__ import annotations

import ast
from pathlib import Path

SETTINGS = Path(__file__).resolve().parent.parent / "c12exporter" / "settings.py"


def test_settings_imports_nothing_of_the_package() -> None:
    tree = ast.parse(SETTINGS.read_text(encoding="utf-8"))
    modules = [
        ("." * node.level + (node.module or "")) if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert modules, "no imports found: the test reads the wrong file"
    ours = [m for m in modules if m.startswith(".") or m.split(".")[0] == "c12exporter"]
    assert not ours, f"settings.py imports {ours}"


def test_the_supervision_band_is_one_type_wherever_it_is_imported_from() -> None:
    from c12exporter import reading, settings

    assert reading.SupervisionBand is settings.SupervisionBand
    assert reading.SupervisionState is settings.SupervisionState
    band = settings.SupervisionBand(1.0, 10.0)
    assert [band.state(a) for a in (0.5, 5.0, 11.0)] == [
        settings.SupervisionState.BELOW,
        settings.SupervisionState.OK,
        settings.SupervisionState.ABOVE,
    ]
    assert settings.SupervisionBand().state(5.0) is settings.SupervisionState.DISABLED
