"""Plugin core: built-in models, C12A refusal, and an outside plugin adding a layout."""

from __future__ import annotations

import math
import types

import pytest

from c12exporter import hookimpl
from c12exporter.breaker import EN_60947_2_MAGNETIC_HYDRAULIC, BreakerCurve
from c12exporter.model import Connector, Layout, ModelError, UnitModel
from c12exporter.plugins import load_plugins
from c12exporter.registry import PluginError, Registry
from c12exporter.simulator.physics import ChannelSetup, ConstantLoad, Load, UnitPhysics


@pytest.fixture(scope="module")
def plugins():  # type: ignore[no-untyped-def]
    return load_plugins(entry_points=False)


@pytest.mark.parametrize(
    ("name", "connectors", "aux", "aux_rating"),
    [
        ("C12B-12", ["Socapex 19-pin"] * 2, "French Type E", 16.0),
        ("C12B-21", ["Harting 16-pin"] * 2, "German Schuko", 16.0),
        ("C12B-53", ["Neutrik True1"] * 12, "UK 13 A", 13.0),
        ("C12B-74", ["Harting 10-pin"] * 3, "Australian GPO", 10.0),
        ("C12B-15", ["Socapex 19-pin"] * 2, "Swiss", 10.0),
    ],
)
def test_model_name_selects_layout_and_aux(plugins, name, connectors, aux, aux_rating) -> None:  # type: ignore[no-untyped-def]
    model = plugins.model(name)
    assert [c.type for c in model.layout.connectors] == connectors
    assert model.aux_socket.name == aux
    assert model.aux_socket.rating_a == aux_rating
    assert model.channel_rating_a == 16.0


def test_channels_map_to_connectors_pins_and_phases(plugins) -> None:  # type: ignore[no-untyped-def]
    model = plugins.model("C12B-73")
    assert [c.channels for c in model.layout.connectors] == [(1, 2, 3, 4), (5, 6, 7, 8),
                                                             (9, 10, 11, 12)]  # fmt: skip
    assert model.layout.connector_of(7).label == "B"
    socapex = plugins.model("C12B-11").layout
    assert socapex.connector_of(8).channel_pins[8] == ("3", "4")
    assert model.channel_phases[:4] == ("L1", "L2", "L3", "L1")
    assert model.channel_phases[11] == "L3"


def test_c12a_is_refused_with_a_clear_message(plugins) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError, match="no network interface"):
        plugins.model("C12A-12")


@pytest.mark.parametrize("name", ["C12B-92", "C12B-19", "X12B-12", "C12B12", ""])
def test_unknown_models_are_refused(plugins, name) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError):
        plugins.model(name)


def _socapex_3x4() -> Layout:
    return Layout(
        code="3",
        description="3 x 19-pin Socapex-type, 4 channels per connector",
        connectors=tuple(
            Connector(label, "Socapex 19-pin", 19,
                      {ch: (str(2 * i + 1), str(2 * i + 2)) for i, ch in enumerate(chs)})
            for label, chs in (("A", range(1, 5)), ("B", range(5, 9)), ("C", range(9, 13)))
        ),
    )  # fmt: skip


def test_outside_plugin_adds_a_layout_without_core_changes() -> None:
    outside = types.ModuleType("socapex_3x4_plugin")

    @hookimpl
    def c12_add_layouts(layouts: Registry[Layout]) -> None:
        layouts.add("3", _socapex_3x4())

    outside.c12_add_layouts = c12_add_layouts  # type: ignore[attr-defined]
    plugins = load_plugins([outside], entry_points=False)
    model = plugins.model("C12B-31")
    assert model.layout.description.startswith("3 x 19-pin Socapex")
    assert model.layout.connector_of(12).label == "C"
    assert plugins.model("C12B-12").layout.code == "1"  # built-ins still there


def test_outside_plugin_gives_a_models_breaker_curve() -> None:
    """One curve for a model: the simulator trips by it and the model carries it."""
    measured = BreakerCurve(
        name="measured",
        points=((1.1, math.inf), (1.5, 100.0), (4.0, 2.0)),
        instantaneous_multiple=6.0,
        cooling_time_constant_s=60.0,
    )

    class Curves:
        @hookimpl
        def c12_breaker_curve(self, model: UnitModel) -> BreakerCurve | None:
            return measured if model.layout.code == "5" else None

    plugins = load_plugins([Curves()], entry_points=False)
    assert plugins.model("C12B-53").breaker is measured
    assert plugins.model("C12B-12").breaker is EN_60947_2_MAGNETIC_HYDRAULIC
    physics = UnitPhysics(plugins.model("C12B-53"), 0, [ChannelSetup(ConstantLoad(Load(24.0)))])
    physics.advance(101.0)
    assert physics.snapshot()["channels"][0]["tripped_at_s"] == pytest.approx(100.0)


def test_duplicate_registration_names_both_plugins() -> None:
    class Clash:
        @hookimpl
        def c12_add_layouts(self, layouts: Registry[Layout]) -> None:
            layouts.add("1", _socapex_3x4())

    with pytest.raises(PluginError, match=r"layout '1' registered twice: by c12exporter\.builtin"):
        load_plugins([Clash()], entry_points=False)


def test_misspelt_hook_fails_loudly() -> None:
    class Typo:
        @hookimpl
        def c12_add_layout(self, layouts: Registry[Layout]) -> None:  # missing "s"
            pass

    with pytest.raises(PluginError, match="unknown hook"):
        load_plugins([Typo()], entry_points=False)


def test_layout_must_wire_every_channel_once() -> None:
    with pytest.raises(ModelError, match=r"must wire channels 1\.\.12"):
        Layout("9", "broken", (Connector("A", "x", 2, {1: ("1", "2")}),))
