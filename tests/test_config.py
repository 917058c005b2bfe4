"""Config validation: every error names the file, the key and what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from c12exporter.config import ConfigError, load_config
from c12exporter.plugins import load_plugins

PLUGINS = load_plugins(entry_points=False)


def write(tmp_path: Path, text: str, name: str = "c12.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config_loads(tmp_path: Path) -> None:
    write(tmp_path, "units:\n  - name: sim-02\n    address: 127.0.0.1:1502\n", "sim.yml")
    path = write(
        tmp_path,
        """
poll: {interval: 10s, timeout: 1500ms, concurrency: 8, staleness: 30s}
web: {listen_address: "127.0.0.1:9999"}
units:
  - name: stage-left
    address: 127.0.0.1:1501
    model: C12B-73
    phases: [L1, L1, L1, L2, L2, L2, L3, L3, L3, L1, L2, L3]
    labels: {rack: A3}
    supervision: {3: {min: 0.5, max: 12}, 4: {max: 10}}
units_files: [sim.yml]
""",
    )
    config = load_config(path, PLUGINS)
    assert [u.name for u in config.units] == ["stage-left", "sim-02"]
    assert config.poll.interval_s == 10 and config.poll.timeout_s == 1.5
    assert config.poll.staleness_limit_s == 30
    unit = config.units[0]
    assert unit.phases is not None and unit.phases[3] == "L2"
    assert unit.labels == {"rack": "A3"}
    assert unit.supervision[3].min_a == 0.5 and unit.supervision[4].min_a is None
    web = config.exposers["web"]
    assert (web.host, web.port) == ("127.0.0.1", 9999)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("units: []\n", r"c12\.yml: units: no units configured"),
        ("units:\n  - address: 1.2.3.4:502\n", r"units\[0\]\.name: missing"),
        ("units:\n  - name: a\n", r"units\[0\] \(a\)\.address: missing"),
        (
            "units:\n  - {name: a, address: 'h:1', model: C12A-12}\n",
            r"units\[0\] \(a\)\.model: .*C12A.*no network interface",
        ),
        (
            "units:\n  - {name: a, address: 'h:1', model: C12B-99}\n",
            r"units\[0\] \(a\)\.model: .*no plugin provides output layout '9'",
        ),
        (
            "units:\n  - {name: a, address: 'h:1', phases: [L1, L2]}\n",
            r"units\[0\] \(a\)\.phases: must list the phase of each of the 12 channels",
        ),
        (
            "units:\n  - {name: a, address: 'h:1', colour: red}\n",
            r"units\[0\]: unknown key 'colour'",
        ),
        (
            "units:\n  - {name: a, address: 'h:1'}\n  - {name: a, address: 'h:2'}\n",
            r"name 'a' is used twice",
        ),
        (
            "poll: {interval: fast}\nunits: [{name: a, address: 'h:1'}]\n",
            r"poll\.interval: 'fast' is not a positive duration",
        ),
        (
            "poll: {interval: 5s, timeout: 10s}\nunits: [{name: a, address: 'h:1'}]\n",
            r"poll\.timeout: 10s is longer than the interval",
        ),
        (
            "units: [{name: a, address: 'h:1', labels: {pdu: x}}]\n",
            r"labels\.pdu: label name is used by the exporter",
        ),
        (
            "units: [{name: a, address: 'h:1', supervision: {13: {max: 1}}}]\n",
            r"supervision\.13: not a channel number",
        ),
        (
            "units: [{name: a, address: 'h:1', supervision: {2: {min: 5, max: 1}}}]\n",
            r"supervision\.2: min 5 A is above max 1 A",
        ),
        (
            "units: [{name: a, address: 'h:1', transport: carrier-pigeon}]\n",
            r"transport: 'carrier-pigeon' is not provided by any plugin",
        ),
        ("units: [{name: a, address: 'h:port'}]\n", r"address: 'h:port': port 'port'"),
        ("units: [\n", r"c12\.yml: not valid YAML"),
        (
            "units: [{name: a, address: 'h:502'}, {name: b, address: 'H'}]\n",
            r"units: 'b' and 'a' have the same address H; it would be polled twice",
        ),
        ("units: [{name: a, address: ':502'}]\n", r"units\[0\] \(a\)\.address: ':502' has no host"),
        (
            "units: [{name: a, address: 'h:1', supervision: {2: {max: 70}}}]\n",
            r"supervision\.2\.max: 70 A is beyond what the unit holds \(0\.\.63 A\)",
        ),
        ("units_files: [missing.yml]\n", r"units_files\[0\]: cannot read .*missing\.yml"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), PLUGINS)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yml: cannot read"):
        load_config(tmp_path / "nope.yml", PLUGINS)


def test_check_config_command(tmp_path: Path) -> None:
    good = write(tmp_path, "units: [{name: a, address: '127.0.0.1:1502'}]\n")
    bad = write(tmp_path, "units: [{name: a}]\n", "bad.yml")
    command = [sys.executable, "-m", "c12exporter.cli", "check-config"]
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "OK, 1 units" in ok.stdout
    failed = subprocess.run([*command, str(bad)], capture_output=True, text=True, check=False)
    assert failed.returncode == 2
    assert "bad.yml: units[0] (a).address: missing" in failed.stderr


def test_a_yaml_error_names_line_and_column_and_never_echoes_the_text(tmp_path: Path) -> None:
    secret = "hunter2-very-secret"
    text = f"snmp:\n  users:\n    - {{name: ops, auth_key: {secret}\n  community: [\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), PLUGINS)
    message = str(error.value)
    assert str(tmp_path / "c12.yml") in message and "line " in message, message
    assert secret not in message


def test_file_paths_in_the_config_are_relative_to_it(tmp_path: Path) -> None:
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    (config_dir / "web.yml").write_text("basic_auth_users: {}\n", encoding="utf-8")
    path = write(config_dir, "web: {config_file: web.yml}\nunits: [{name: a, address: 'h:1'}]\n")
    config = load_config(path, PLUGINS)  # read from etc/, whatever the working directory
    web = config.exposers["web"]
    assert web.web_config_file == str(config_dir / "web.yml")  # type: ignore[attr-defined]
