"""A 24-channel sibling model from outside the core: ``examples/c24b`` installed with pip
beside the package adds the C24B through its entry point; ``c12exporter simulate --models
C24B-12`` serves 24 channels over Modbus TCP and the exporter's own transport reads them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from c12exporter.config import load_config
from c12exporter.model import ModelError
from c12exporter.plugins import Plugins, load_plugins
from c12exporter.reading import ChannelSettings, Reading, build_reading
from c12exporter.settings import ConfigError
from tests.servers import REPO, exporter, http_get, simulator, wait_until

EXAMPLE = REPO / "examples" / "c24b"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed with pip (built offline, no dependencies) into a directory
    of its own: the package and its entry-point metadata, as a user's pip leaves them.
    Built from a copy, so the build leaves nothing in the checkout."""
    source = tmp_path_factory.mktemp("c24b-source") / "c24b"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp_path_factory.mktemp("c24b-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=120, cwd=target,
    )  # fmt: skip
    assert list(target.glob("c12exporter_c24b-*.dist-info/entry_points.txt"))
    return target


@pytest.fixture
def plugins(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugins]:
    """The plugins as the exporter loads them, with the example on the path."""
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.delenv("C12EXPORTER_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    yield load_plugins(entry_points=True)
    sys.modules.pop("c12exporter_c24b", None)


def test_the_installed_plugin_adds_the_c24b_family(plugins: Plugins) -> None:
    assert plugins.families["C24"].channel_count == 24
    model = plugins.model("C24B-12")
    assert (model.channel_count, model.aux_channel, model.input_rating_a) == (24, 24, 63.0)
    assert model.aux_socket.name == "French Type E"  # aux codes are the C12's
    assert plugins.model("C24B-11").aux_socket.name == "German Schuko"
    assert [c.label for c in model.layout.connectors] == ["A", "B", "C", "D"]
    assert {c.type for c in model.layout.connectors} == {"Socapex 19-pin"}
    assert model.layout.connector_of(24).channel_pins[24] == ("11", "12")
    assert model.channel_phases[21:] == ("L1", "L2", "L3")
    assert plugins.model("C12B-12").channel_count == 12  # the C12 family unchanged
    with pytest.raises(ModelError, match="'C24A-12' is a C24A: it has no network interface"):
        plugins.model("C24A-12")
    with pytest.raises(ModelError, match=r"not a C12 or C24 model name; expected C12B-LA or"):
        plugins.model("C36B-12")


def test_the_config_takes_a_c24b_units_phases_and_supervision(
    plugins: Plugins, tmp_path: Path
) -> None:
    rotation = ["L2", "L3", "L1"] * 8
    config = tmp_path / "c12.yml"
    config.write_text(
        "units:\n"
        f"  - {{name: a, address: 'h:1', model: C24B-12, phases: {rotation},\n"
        "     supervision: {24: {max: 10}}}\n"
        f"  - {{name: b, address: 'h:2', phases: {rotation}}}\n"  # model from the unit
    )
    a, b = load_config(config, plugins).units
    assert a.phases == b.phases == tuple(rotation)
    assert a.supervision[24].max_a == 10.0
    config.write_text(
        f"units:\n  - {{name: a, address: 'h:1', model: C24B-12, phases: {rotation[:12]}}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"\(a\)\.phases: must list the phase of each of the 24 channels"
    ):
        load_config(config, plugins)
    config.write_text("units:\n  - {name: a, address: 'h:1', phases: [L1, L2]}\n")
    with pytest.raises(ConfigError, match=r"must list the phase of each of the 12 or 24 channels"):
        load_config(config, plugins)
    config.write_text(
        "units:\n  - {name: a, address: 'h:1', model: C12B-12, supervision: {13: {max: 1}}}\n"
    )
    with pytest.raises(ConfigError, match=r"supervision\.13: not a channel number 1\.\.12"):
        load_config(config, plugins)


def test_simulate_c24b_serves_24_channels_read_by_the_transport(
    installed: Path, plugins: Plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the simulator process finds the plugin as the user's would: on its path
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(installed), str(REPO)]))
    models = ("--models", "C24B-12,C12B-12", "--speed", "0")
    with simulator(tmp_path, 2, *models) as (control, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        c24b, c12b = (next(u for u in control.units() if u["name"] == x["name"]) for x in units)
        assert (c24b["model"], c12b["model"]) == ("C24B-12", "C12B-12")
        control.act(c24b["name"], "set_load", channel=24, current_a=7.5)
        control.act(c24b["name"], "set_supervision", channel=20, max_a=10.0)

        async def read(address: str, channel: int) -> tuple[list[object], Reading]:
            transport = plugins.transports["modbus-tcp"](address, 2.0)
            try:
                identity = await transport.connect()
                await transport.write([ChannelSettings(channel, name="far end")])
                values = await transport.read()
            finally:
                await transport.close()
            reading = build_reading("u", identity, plugins.model(identity.model), 0.0, values)
            return [
                values["channel_current"],
                values["channel_name"],
                values["supervision_max"],
            ], reading

        (currents, names, highs), reading = asyncio.run(read(units[0]["address"], 23))
        assert isinstance(currents, list) and len(currents) == 24
        assert currents[23] == pytest.approx(7.5, abs=0.01)
        assert isinstance(names, list) and names[21:] == ["LED wall 22", "far end", "LED wall 24"]
        assert isinstance(highs, list) and highs[18:21] == [14.0, 10.0, 14.0]
        assert len(reading.channels) == 24
        assert reading.aux_channel.number == 24
        assert reading.aux_channel.connector == "D"
        wait_until(
            lambda: (
                control.unit(c24b["name"])["meter"]["settings"]["channel_name"][22] == "far end"
            ),
            5,
            "the write on channel 23 reaches the simulated unit",
        )

        (currents, names, _), reading = asyncio.run(read(units[1]["address"], 12))
        assert isinstance(currents, list) and len(currents) == 12  # the C12B beside it
        assert isinstance(names, list) and names[11] == "far end"
        assert reading.aux_channel.number == 12

        # `c12exporter serve` finds the plugin the same way and polls both units
        with exporter(tmp_path, units_file.read_text()) as url:

            def channel_series() -> dict[str, int]:
                text = http_get(f"{url}/metrics")
                if f'c12_up{{pdu="{c24b["name"]}"}} 1.0' not in text:
                    return {}
                lines = [x for x in text.splitlines() if x.startswith("c12_channel_current_")]
                return {u["name"]: sum(f'pdu="{u["name"]}"' in x for x in lines) for u in units}

            counts = wait_until(channel_series, 30, "both units polled")
            assert counts == {c24b["name"]: 24, c12b["name"]: 12}
