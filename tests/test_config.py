"""Config validation: every error names the file, the key and what to do."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from c12exporter.config import BAND_LIMITS_A, ConfigError, load_config, register_range
from c12exporter.discovery.configfile import write_config
from c12exporter.exporter import start_exporter
from c12exporter.modbus.registermap import C12B_V1, Field, Kind
from c12exporter.plugins import Plugins, fill, hookimpl, load_plugins
from c12exporter.registry import Registry
from c12exporter.settings import HistoryConfig, ProbeConfig, SectionParser, only_keys
from tests.servers import free_port

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
            r"c12\.yml: units\[1\] \(a\)\.name: 'a' is also the name of units\[0\] \(a\); "
            "names must be unique: rename one of them",
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
            r"labels\.pdu: label name is the exporter.s own",
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
            r"units\[1\] \(b\)\.address: 'H' is also the address of units\[0\] \(a\) "
            r"\('h:502'\); the unit would be polled twice: remove one of them",
        ),
        ("units: [{name: a, address: ':502'}]\n", r"units\[0\] \(a\)\.address: ':502' has no host"),
        (
            "units: [{name: a, address: 'h:1', supervision: {2: {max: 70}}}]\n",
            r"supervision\.2\.max: 70 A is beyond what the unit holds \(0\.\.63 A, its "
            r"supervision_max register\); give a limit in that range or leave it out",
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


SECRET = "Hunter2-Secret-Phrase"
BROKEN_LINES_WITH_A_SECRET = {
    "a tag": f"    - {{name: ops, auth_key: !{SECRET}, priv_key: x}}",
    "an alias": f"    - {{name: ops, auth_key: *{SECRET}, priv_key: x}}",
    "a value that is not its tag's": f"    - {{name: ops, auth_key: !!int {SECRET}}}",
    "a float that is not": f"    - {{name: ops, auth_key: !!float {SECRET}}}",
    "a date that is not": f"    - {{name: ops, auth_key: !!timestamp {SECRET}}}",
    "an unclosed quote": f'    - {{name: ops, auth_key: "{SECRET}',
    "a colon in a plain value": f"  community: {SECRET}: yes",
    "a tab": f"  community:\t{SECRET}\n\t x",
    "a bad escape": f'  community: "{SECRET}\\q"',
    "a key given twice": f"  community: {SECRET}\n  community: {SECRET}",
}


@pytest.mark.parametrize(
    "line", BROKEN_LINES_WITH_A_SECRET.values(), ids=list(BROKEN_LINES_WITH_A_SECRET)
)
def test_a_yaml_error_never_echoes_the_secret_on_its_line(tmp_path: Path, line: str) -> None:
    text = f"units: [{{name: a, address: 'h:1'}}]\nsnmp:\n  users:\n{line}\n"
    path = write(tmp_path, text, "secret.yml")
    with pytest.raises(ConfigError) as error:
        load_config(path, PLUGINS)
    message = str(error.value)
    assert message.startswith(f"{path}: not valid YAML: line "), message
    assert ", column " in message, message
    assert SECRET not in message and "<unicode string>" not in message, message


@pytest.mark.parametrize("case", ["a value that is not its tag's", "a key given twice"])
def test_check_config_never_echoes_the_secret_on_a_broken_line(tmp_path: Path, case: str) -> None:
    line = BROKEN_LINES_WITH_A_SECRET[case]
    text = f"units: [{{name: a, address: 'h:1'}}]\nsnmp:\n  users:\n{line}\n"
    path = write(tmp_path, text, "secret.yml")
    command = [sys.executable, "-m", "c12exporter.cli", "check-config", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 2, done
    assert str(path) in done.stderr and "line " in done.stderr, done.stderr
    assert SECRET not in done.stderr + done.stdout, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_a_yaml_error_says_what_is_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "units: [{name: a, address: 'h:1'}\n")
    with pytest.raises(ConfigError, match=r"line 2, column 1: expected ',' or '\]'"):
        load_config(path, PLUGINS)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("127.0.0.1:502", "127.0.0.1"),
        ("[::1]:502", "'[0:0:0:0:0:0:0:1]'"),
        ("pdu-7.example:1502", "PDU-7.example.:1502"),
    ],
)
def test_one_address_written_two_ways_is_refused(tmp_path: Path, first: str, second: str) -> None:
    text = f"units:\n  - {{name: a, address: '{first}'}}\n  - {{name: b, address: {second}}}\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text), PLUGINS)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'c12.yml'}: units[1] (b).address: "), message
    assert f"is also the address of units[0] (a) ('{first}')" in message, message
    assert "polled twice: remove one of them" in message


def test_duplicates_across_files_name_both_files(tmp_path: Path) -> None:
    write(
        tmp_path, "units: [{name: b, address: '10.0.0.2'}, {name: a, address: 'h:2'}]\n", "more.yml"
    )
    main = write(tmp_path, "units: [{name: a, address: 'h:1'}]\nunits_files: [more.yml]\n")
    with pytest.raises(ConfigError) as error:
        load_config(main, PLUGINS)
    assert str(error.value).startswith(
        f"{tmp_path / 'more.yml'}: units[1] (a).name: 'a' is also the name of "
        f"{main}: units[0] (a); names must be unique: rename one of them"
    ), error.value
    write(tmp_path, "units: [{name: b, address: '10.0.0.1:502'}]\n", "more.yml")
    main = write(tmp_path, "units: [{name: a, address: '10.0.0.1'}]\nunits_files: [more.yml]\n")
    with pytest.raises(
        ConfigError, match=r"more\.yml: units\[0\] \(b\)\.address: .*c12\.yml: units\[0\] \(a\)"
    ):
        load_config(main, PLUGINS)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("':502'", r"':502' has no host"),
        ("'[]:502'", r"'\[\]:502' has no host"),
        ("'h:'", r"'h:' has no port \(1\.\.65535\)"),
        ("'h:0'", r"'h:0' has no port \(1\.\.65535\)"),
        ("'h:65536'", r"'h:65536': port '65536' is not a number 0\.\.65535"),
        ("'h:-1'", r"'h:-1': port '-1' is not a number"),
        ("'bad host:502'", r"'bad host' is neither an IP address nor a host name"),
        ("'[pdu-1]:502'", r"'pdu-1' is neither an IP address nor a host name"),
        ("'pdu..1:502'", r"'pdu\.\.1' is neither an IP address nor a host name"),
        ("'10.0.0.256'", r"'10\.0\.0\.256' is neither an IP address nor a host name"),
        ("'[::1]:'", r"'\[::1\]:' has no port"),
    ],
)
def test_a_broken_address_is_refused(tmp_path: Path, address: str, message: str) -> None:
    path = write(tmp_path, f"units: [{{name: a, address: {address}}}]\n")
    with pytest.raises(
        ConfigError, match=rf"^{path}: units\[0\] \(a\)\.address: {message}"
    ) as error:
        load_config(path, PLUGINS)
    assert "write host:port, e.g. 10.0.0.21:502" in str(error.value)


def test_addresses_that_are_fine_load(tmp_path: Path) -> None:
    text = (
        "units:\n  - {name: a, address: '10.0.0.1'}\n  - {name: b, address: '[fd00::1]:1502'}\n"
        "  - {name: c, address: 'pdu-3.rack_a.example:502'}\n  - {name: d, address: 'fd00::2'}\n"
        "  - {name: e, address: 'fd00::'}\n"
    )
    units = load_config(write(tmp_path, text), PLUGINS).units
    assert [u.address for u in units] == [
        "10.0.0.1",
        "[fd00::1]:1502",
        "pdu-3.rack_a.example:502",
        "fd00::2",
        "fd00::",
    ]


def test_the_band_limit_is_the_registers(tmp_path: Path) -> None:
    highest = BAND_LIMITS_A["max"][1]
    _, field = C12B_V1.field("supervision_max")
    assert highest == register_range(field)[1] and highest > 0
    path = write(
        tmp_path, f"units: [{{name: a, address: 'h:1', supervision: {{1: {{max: {highest}}}}}}}]\n"
    )
    assert load_config(path, PLUGINS).units[0].supervision[1].max_a == highest
    above = highest + field.scale
    path = write(
        tmp_path, f"units: [{{name: a, address: 'h:1', supervision: {{1: {{min: {above}}}}}}}]\n"
    )
    with pytest.raises(
        ConfigError, match=rf"supervision\.1\.min: {above:g} A is beyond what the unit holds"
    ):
        load_config(path, PLUGINS)


def test_register_range_follows_type_scale_and_valid_range() -> None:
    assert register_range(Field("f", Kind.U16, "", "A", 0.01)) == pytest.approx((0, 655.34))
    assert register_range(Field("f", Kind.S16, "", "V", 0.1)) == pytest.approx((-3276.7, 3276.7))
    assert register_range(Field("f", Kind.U16, "", "A", 0.01, valid=(0, 63))) == (0, 63)
    assert register_range(Field("f", Kind.U32, "", "kWh", 1, to_si=1000)) == (0, (2**32 - 2) * 1000)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("units_files: [null]", r"units_files\[0\]: None is not a file path"),
        ("poll: []", r"poll: must be a mapping"),
        ("poll: {interval: .inf}", r"poll\.interval: inf is not a positive duration"),
        ("poll: {interval: 5s, timeout: 0}", r"poll\.timeout: 0 is not a positive duration"),
        ("poll: {interval: -5s}", r"poll\.interval: '-5s' is not a positive duration"),
        (
            "poll: {interval: 5s, concurrency: 0}",
            r"poll\.concurrency: 0 must be a whole number >= 1",
        ),
        (
            "poll: {interval: 10s, staleness: 5s}",
            r"poll\.staleness: 5s is shorter than the interval 10s",
        ),
        (
            "poll: {intervall: 5s}",
            r"poll: unknown key 'intervall'; allowed keys: concurrency, interval",
        ),
        ("shard: 3/2", r"shard \(or --shard\): '3/2' is not a shard like 1/2"),
        ("state_dir: ''", r"state_dir: must be a directory path"),
        (
            "state_dir: c12.yml",
            r"state_dir: 'c12\.yml' is a file, not a directory; name a directory",
        ),
        ("discovery: {networks: [10.0.0.0/30], rate: .nan}", r"discovery\.rate: nan must be"),
        (
            "discovery: {networks: [10.0.0.0/30], port: 0}",
            r"discovery\.port: 0 must be a whole number 1\.\.65535",
        ),
        (
            "discovery: {networks: [10.0.0.0/30], interval: 5m, gone_after: 1m}",
            r"discovery\.gone_after: 60s is shorter than interval 300s; .* "
            "make gone_after at least interval",
        ),
        (
            "discovery: {networks: [10.0.0.0/30], gone_after: 1h, forget_after: 30m}",
            r"discovery\.forget_after: 1800s is shorter than gone_after 3600s",
        ),
        ("discovery: {networks: [10.0.0.0/30], scan: fast}", r"discovery: unknown key 'scan'"),
        (
            "console: {writes_enabled: yes please}",
            r"console\.writes_enabled: 'yes please' must be true or false",
        ),
        ("console: {editor: [alice]}", r"console: unknown key 'editor'"),
        (
            "snmp: {listen_address: '127.0.0.1:99999', community: c}",
            r"snmp\.listen_address: .*port '99999'",
        ),
        (
            "snmp: {}\nsnmp: {}",
            r"not valid YAML: line 3, column 1: "
            r"this key is given a second time \(first on line 2\)",
        ),
    ],
)
def test_other_sections_refuse_what_would_break(tmp_path: Path, section: str, message: str) -> None:
    path = write(tmp_path, f"units: [{{name: a, address: 'h:1'}}]\n{section}\n")
    with pytest.raises(ConfigError, match=rf"^{path}: {message}"):
        load_config(path, PLUGINS)


@pytest.mark.parametrize(
    ("unit", "message"),
    [
        (
            "supervision: {2: {min: -1}}",
            r"supervision\.2\.min: -1 must be a current in amperes >= 0",
        ),
        ("supervision: {2: {max: .nan}}", r"supervision\.2\.max: nan must be a current in amperes"),
        ("supervision: {2: {max: .inf}}", r"supervision\.2\.max: inf must be a current in amperes"),
        ("supervision: {2: {max: 5}, '2': {max: 6}}", r"supervision\.2: channel 2 is given twice"),
        (
            "supervision: {2: {min: 5, max: 1}}",
            r"supervision\.2: min 5 A is above max 1 A; swap them",
        ),
        ("labels: {rack: [a, b]}", r"labels\.rack: \['a', 'b'\] must be text"),
        ("labels: {rack: null}", r"labels\.rack: None must be text"),
        ("serial: ''", r"serial: '' is not a serial number"),
    ],
)
def test_unit_values_that_would_break_are_refused(tmp_path: Path, unit: str, message: str) -> None:
    path = write(tmp_path, f"units: [{{name: a, address: 'h:1', {unit}}}]\n")
    with pytest.raises(ConfigError, match=rf"^{path}: units\[0\] \(a\)\.{message}"):
        load_config(path, PLUGINS)


SNMP_ERRORS_AROUND_SECRETS = [
    f"community: {SECRET}\n  users: [{{name: ops, auth_key: {SECRET}, priv_key: short}}]",
    f"community: [{SECRET}]",
    f"users: [{{name: ops, auth_key: {SECRET}, priv_key: {SECRET}, auth_protocol: MD5}}]",
    f"users: [{{name: ops, auth_key: {SECRET}, priv_key: {SECRET}, access: admin}}]",
    f"users: [{{name: ops, auth_key: {SECRET}, privkey: {SECRET}}}]",
    f"community: {SECRET}\n  notifications: "
    f"{{receivers: [{{address: 'h:162', community: {SECRET}, version: v3}}]}}",
]


@pytest.mark.parametrize("snmp", SNMP_ERRORS_AROUND_SECRETS)
def test_snmp_errors_keep_the_secrets_out(tmp_path: Path, snmp: str) -> None:
    path = write(tmp_path, f"units: [{{name: a, address: 'h:1'}}]\nsnmp:\n  {snmp}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, PLUGINS)
    message = str(error.value)
    assert message.startswith(f"{path}: snmp"), message
    assert SECRET not in message, message


def test_discover_never_echoes_the_config_it_cannot_merge_into(tmp_path: Path) -> None:
    path = write(tmp_path, f"snmp: {{community: *{SECRET}}}\nunits: []\n")
    with pytest.raises(ConfigError) as error:
        write_config(path, [])
    message = str(error.value)
    assert message.startswith(f"{path}: cannot merge into it: line 1, column 19"), message
    assert SECRET not in message, message


def test_a_reload_of_a_broken_file_logs_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    web = f"web: {{listen_address: '127.0.0.1:{free_port()}'}}\n"
    path = write(tmp_path, f"{web}units: [{{name: a, address: '127.0.0.1:{free_port()}'}}]\n")

    async def reload_broken() -> str | None:
        running = await start_exporter(
            load_config(path, PLUGINS), PLUGINS, lambda: load_config(path, PLUGINS)
        )
        try:
            write(tmp_path, f"{web}units: []\nsnmp: {{community: !!int {SECRET}}}\n")
            return await running.reload()
        finally:
            await running.stop()

    refused = asyncio.run(reload_broken())
    assert refused is not None and refused.startswith(f"{path}: not valid YAML: line 3"), refused
    logged = caplog.text
    assert "reload refused" in logged and str(path) in logged, logged
    assert SECRET not in logged + refused


@pytest.mark.parametrize(
    "label", ["model", "serial", "address", "firmware", "layout", "vendor", "job", "instance"]
)
def test_a_label_of_the_exporters_own_is_refused_naming_file_and_key(
    tmp_path: Path, label: str
) -> None:
    path = write(tmp_path, f"units: [{{name: a, address: 'h:1', labels: {{{label}: x}}}}]\n")
    with pytest.raises(ConfigError) as error:
        load_config(path, PLUGINS)
    assert str(error.value).startswith(
        f"{path}: units[0] (a).labels.{label}: label name is the exporter's own"
    ), error.value


@pytest.mark.integration
def test_the_reserved_labels_are_every_label_the_exporter_serves(tmp_path: Path) -> None:
    """Every label name on a live /metrics page (units read from the simulator) is one
    ``labels:`` may not use, so a new series with a new label cannot be overridden."""
    import yaml
    from prometheus_client.parser import text_string_to_metric_families

    from c12exporter.config import RESERVED_LABELS
    from tests.servers import exporter, http_get, simulator, wait_until

    with simulator(tmp_path, 2, "--speed", "0") as (_, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        config = yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"}, "units": units})
        with exporter(tmp_path, config) as url:
            wait_until(lambda: "c12_unit_info{" in http_get(f"{url}/metrics"), 20, "a reading")
            page = http_get(f"{url}/metrics")
    served = {
        label
        for family in text_string_to_metric_families(page)
        if family.name.startswith("c12_")  # not prometheus-client's process_ and python_
        for sample in family.samples
        for label in sample.labels
    }
    assert {"pdu", "model", "serial", "channel"} <= served
    assert served - {"le", "quantile"} <= RESERVED_LABELS, served - RESERVED_LABELS


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a\\nb", r"'a\\nb' holds '\\n'"),
        ("a\\0b", r"'a\\x00b' holds '\\x00'"),
        ("a\\eb", r"'a\\x1bb' holds '\\x1b'"),
        ("a\\u202eb", r"'a\\u202eb' holds '\\u202e'"),
        ("a" * 65, r"'aaaaaaaaaaaaaaaaaaaaaaaa'\.\.\. is 65 characters long; give at most 64"),
    ],
)
def test_a_unit_name_of_control_characters_or_10_kb_is_refused(
    tmp_path: Path, name: str, shown: str
) -> None:
    path = write(tmp_path, f'units: [{{name: "{name}", address: "h:1"}}]\n')
    with pytest.raises(ConfigError, match=rf"^{path}: units\[0\]\.name: {shown}") as error:
        load_config(path, PLUGINS)
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)


def test_a_10_kb_unit_name_is_refused_and_printable_names_load(tmp_path: Path) -> None:
    path = write(tmp_path, f'units: [{{name: "{"x" * 10240}", address: "h:1"}}]\n')
    with pytest.raises(ConfigError, match="is 10240 characters long; give at most 64"):
        load_config(path, PLUGINS)
    path = write(tmp_path, "units: [{name: 'Bühne links #3', address: 'h:1'}]\n")
    assert load_config(path, PLUGINS).units[0].name == "Bühne links #3"


# --- sections owned by plugins ------------------------------------------------------------

UNIT = "units: [{name: a, address: '127.0.0.1:1502'}]\n"


def _without(*names: str) -> Plugins:
    plugins = load_plugins(entry_points=False)
    for name in names:
        plugins.manager.unregister(name=name)
    plugins.sections = fill(plugins.hook.c12_add_config_sections, Registry("config section"))
    return plugins


def test_probe_and_history_are_their_plugins_sections(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        UNIT + "probe: {allow: [{network: 10.1.0.0/16, ports: [502]}]}\n"
        "history: {path: h.sqlite3, rcbo_test_period: 28d}\n",
    )
    config = load_config(path, PLUGINS)
    assert set(config.sections) == {"probe", "history"}
    assert config.probe.admits("10.1.2.3", 502) and not config.probe.admits("10.2.0.1", 502)
    assert config.history == HistoryConfig(tmp_path / "h.sqlite3", 28 * 86400.0)
    absent = load_config(write(tmp_path, UNIT, "plain.yml"), PLUGINS)
    assert absent.probe == ProbeConfig() and absent.history == HistoryConfig()


@pytest.mark.parametrize(
    ("plugin", "section"),
    [
        ("c12exporter.prometheus.plugin", "probe: {allow: []}"),
        ("c12exporter.history.plugin", "history: {rcbo_test_period: 31d}"),
    ],
)
def test_a_section_is_unknown_without_its_plugin(tmp_path: Path, plugin: str, section: str) -> None:
    path = write(tmp_path, UNIT + section + "\n")
    load_config(path, PLUGINS)  # known while the plugin is loaded
    key = section.split(":")[0]
    with pytest.raises(ConfigError, match=rf"c12\.yml: unknown key '{key}'; allowed keys: "):
        load_config(path, _without(plugin))
    assert key not in load_config(write(tmp_path, UNIT, "plain.yml"), _without(plugin)).sections


def test_a_plugins_section_is_checked_by_it_with_file_and_key(tmp_path: Path) -> None:
    class Lighting:
        @hookimpl
        def c12_add_config_sections(self, sections: Registry[SectionParser]) -> None:
            def parse(data: object, where: str, base: Path) -> tuple[str, Path]:
                only_keys(data or {}, {"universe"}, where)
                assert isinstance(data, dict | type(None))
                return (str((data or {}).get("universe", "1")), base)

            sections.add("lighting", parse)

    plugins = load_plugins([Lighting()], entry_points=False)
    config = load_config(write(tmp_path, UNIT + "lighting: {universe: 4}\n"), plugins)
    assert config.sections["lighting"] == ("4", tmp_path)
    with pytest.raises(ConfigError, match=r"c12\.yml: lighting: unknown key 'dmx'"):
        load_config(write(tmp_path, UNIT + "lighting: {dmx: 4}\n"), plugins)
