"""Plugin core: built-in models, C12A refusal, and an outside plugin adding a layout."""

from __future__ import annotations

import math
import types

import pytest

from c12exporter import hookimpl
from c12exporter.breaker import EN_60947_2_MAGNETIC_HYDRAULIC, BreakerCurve
from c12exporter.model import AuxSocket, Connector, Layout, ModelError, ModelFamily, UnitModel
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


def _two_socapex_of_3() -> Layout:
    """A 6-channel family's layout "1": its code repeats the C12's layout 1."""
    return Layout(
        code="1",
        description="2 x 19-pin Socapex-type, 3 channels per connector",
        connectors=(
            Connector("A", "Socapex 19-pin", 19, {1: ("1", "2"), 2: ("3", "4"), 3: ("5", "6")}),
            Connector("B", "Socapex 19-pin", 19, {4: ("1", "2"), 5: ("3", "4"), 6: ("5", "6")}),
        ),
        channel_count=6,
    )


class SixChannels:
    """An outside family: ``C6B-LA``, 6 channels, aux socket on channel 5, 32 A input."""

    @hookimpl
    def c12_add_model_families(
        self, families: Registry[ModelFamily], aux_sockets: Registry[AuxSocket]
    ) -> None:
        layouts = {"1": _two_socapex_of_3()}
        families.add("C6", ModelFamily("C6", 6, layouts, aux_sockets, aux_channel=5,
                                       input_rating_a=32.0))  # fmt: skip


def test_an_outside_family_declares_its_channels_aux_channel_and_input() -> None:
    plugins = load_plugins([SixChannels()], entry_points=False)
    model = plugins.model("c6b-13")
    assert (model.name, model.channel_count, model.aux_channel) == ("C6B-13", 6, 5)
    assert model.input_rating_a == 32.0 and model.aux_socket.name == "UK 13 A"
    assert model.channel_phases == ("L1", "L2", "L3", "L1", "L2", "L3")
    assert model.channels == ("1", "2", "3", "4", "5", "6")
    assert model.layout.connector_of(5).label == "B"
    c12 = plugins.model("C12B-12")  # the C12's layout 1 is still its own
    assert (c12.channel_count, c12.aux_channel, c12.layout.connector_of(12).label) == (12, 12, "B")
    with pytest.raises(ModelError, match=r"'C6A-11' is a C6A: it has no network interface"):
        plugins.model("C6A-11")
    with pytest.raises(ModelError, match=r"no plugin provides output layout '2' \(known: 1\)"):
        plugins.model("C6B-21")
    with pytest.raises(
        ModelError,
        match=r"'X1' is not a C12 or C6 model name; expected C12B-LA or C6B-LA, e.g. C12B-12",
    ):
        plugins.model("X1")


def test_the_c12_family_keeps_its_messages(plugins) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelError) as refused:
        plugins.model("C12A-12")
    assert str(refused.value) == (
        "model 'C12A-12' is a C12A: it has no network interface, so it cannot be read; "
        "only C12B units (with the built-in webserver) can be monitored"
    )
    with pytest.raises(ModelError) as unknown:
        plugins.model("C24B-12")  # no family for it without the C24B plugin
    assert str(unknown.value) == (
        "model 'C24B-12' is not a C12 model name; expected C12B-LA, e.g. C12B-12 "
        "(L = output layout, A = aux socket)"
    )
    with pytest.raises(ModelError, match=r"unknown C12 variant 'X'; only C12B is networked"):
        plugins.model("C12X-12")


def test_a_family_refuses_a_layout_of_another_channel_count() -> None:
    class Mismatch:
        @hookimpl
        def c12_add_model_families(
            self, families: Registry[ModelFamily], layouts: Registry[Layout],
            aux_sockets: Registry[AuxSocket],
        ) -> None:  # fmt: skip
            families.add("C8", ModelFamily("C8", 8, layouts, aux_sockets, aux_channel=8))

    plugins = load_plugins([Mismatch()], entry_points=False)
    with pytest.raises(ModelError, match=r"layout '1' wires 12 channels, but a C8 has 8"):
        plugins.model("C8B-11")


def test_a_model_checks_its_phases_and_aux_channel(plugins) -> None:  # type: ignore[no-untyped-def]
    model = plugins.model("C12B-12")
    with pytest.raises(ModelError, match=r"has 12 channels, but the phases list 3"):
        model.with_phases(("L1", "L2", "L3"))
    with pytest.raises(ModelError, match=r"aux channel 13 is not one of its channels 1\.\.12"):
        UnitModel("C12B-12", model.layout, model.aux_socket, aux_channel=13)


def test_a_layout_checks_its_own_channel_count() -> None:
    assert _two_socapex_of_3().channel_count == 6
    with pytest.raises(ModelError, match=r"must wire channels 1\.\.6 once each"):
        Layout("1", "short", _two_socapex_of_3().connectors[:1], channel_count=6)
