"""The config loaders against random files: the main config (with a ``units_files`` file
and a web config beside it), the web config alone, and the config ``discover`` merges
into. Hypothesis writes realistic configs with values swapped for anything, YAML tags
(``!!python/object``, ``!!int`` on a bcrypt hash, ``!!binary``, ...), anchors and aliases,
bytes that are not UTF-8, deep nesting and truncation. Every file either loads or is
refused with a :class:`ConfigError` naming the file; never another exception, and never
the secret the file holds (an SNMP community or key, a bcrypt hash)."""

from __future__ import annotations

import os
from pathlib import Path

import bcrypt
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from c12exporter.config import load_config
from c12exporter.discovery.configfile import existing_serials, write_config
from c12exporter.plugins import load_plugins
from c12exporter.settings import ConfigError
from c12exporter.web.webconfig import load_web_config

PLUGINS = load_plugins(entry_points=False)
SECRET = "Zq7-Secret-Passphrase-91"
HASH = bcrypt.hashpw(SECRET.encode(), bcrypt.gensalt(rounds=4)).decode()
SECRETS = (SECRET, HASH, HASH[7:29], HASH[29:])
LONG_RUN = int(os.environ.get("C12_FUZZ_CONFIG_EXAMPLES", "0"))
"""Examples per test for a longer, random run (docs/performance.md); 0: the short,
repeatable run of the default tests."""
EXAMPLES = settings(
    max_examples=LONG_RUN or 300, deadline=None, derandomize=not LONG_RUN, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(("5s", "250ms", "-1s", "1e9h", "L1", "127.0.0.1:502", "[::1]:1", "10.0.0.0/8",
                     "1/2", "0/0", "C12B-12", "modbus-tcp", "web.yml", "..", "/dev/zero")),
)  # fmt: skip
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(scalars, inner, max_size=4),
    max_leaves=10,
)

UNIT = {
    "name": "stage-left",
    "address": "127.0.0.1:1502",
    "transport": "modbus-tcp",
    "model": "C12B-12",
    "phases": ["L1", "L2", "L3"] * 4,
    "labels": {"rack": "A3"},
    "supervision": {3: {"min": 0.5, "max": 12}},
    "serial": "C12-000123",
    "supply": "generator",
}
SECTIONS = {
    "poll": {"interval": "5s", "timeout": "2s", "concurrency": 256, "staleness": "15s"},
    "web": {"listen_address": "127.0.0.1:0", "config_file": "web.yml", "max_connections": 512,
            "header_timeout": "10s", "idle_timeout": "75s"},
    "snmp": {"listen_address": "127.0.0.1:0", "community": SECRET,
             "users": [{"name": "ops", "auth_key": SECRET, "priv_key": SECRET}]},
    "units_files": ["units.yml"],
    "state_dir": "state",
    "discovery": {"networks": ["127.0.3.0/24"], "port": 502, "interval": "5m"},
    "shard": "1/2",
    "history": {"path": "history.sqlite3", "rcbo_test_period": "31d"},
    "probe": {"allow": [{"network": "127.0.0.0/8", "ports": [502]}]},
    "console": {"writes_enabled": True, "editors": ["prometheus"], "title": "Stage"},
}  # fmt: skip
WEB = {
    "basic_auth_users": {"prometheus": HASH},
    "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
    "http_server_config": {"http2": True, "headers": {"X-Frame-Options": "DENY"}},
}
TAGS = ("!!int ", "!!float ", "!!bool ", "!!binary ", "!!timestamp ", "!!null ", "!!set ",
        "!!omap ", "!!python/object:os.system ", "!!python/name:os.system ", "!custom ",
        "!!merge ", "!!seq ", "!!map ", "!!str ")  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, value: object) -> object:
    """``value`` with some of its parts swapped for anything."""
    if draw(st.integers(0, 5)) == 0:
        return draw(anything)
    if isinstance(value, dict):
        out = {k: draw(mutated(v)) for k, v in value.items() if draw(st.integers(0, 5))}
        if draw(st.integers(0, 7)) == 0:
            out[draw(st.text(max_size=12))] = draw(anything)
        return out
    if isinstance(value, list):
        return [draw(mutated(v)) for v in value if draw(st.integers(0, 5))]
    return value


@st.composite
def yaml_files(draw: st.DrawFn, template: dict[str, object]) -> bytes:
    """A YAML file made from ``template``, mutated as data and then as text."""
    keys = draw(st.lists(st.sampled_from(sorted(template)), unique=True, max_size=len(template)))
    data = {k: draw(mutated(template[k])) for k in keys}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    for _ in range(draw(st.integers(0, 3))):
        text = draw(text_mutations(text))
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # a byte that is not UTF-8
        at = draw(st.integers(0, len(raw)))
        raw = (
            raw[:at]
            + draw(st.sampled_from((b"\xff", b"\xc3", b"\xe9", b"\xed\xa0\x80")))
            + raw[at:]
        )
    return raw


@st.composite
def text_mutations(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines(keepends=True) or [""]
    at = draw(st.integers(0, len(lines) - 1))
    line = lines[at]
    kind = draw(st.sampled_from(("tag", "tag", "alias", "deep", "laughs", "truncate", "control",
                                 "duplicate")))  # fmt: skip
    if kind == "tag" and ": " in line:
        key, _, value = line.partition(": ")
        lines[at] = f"{key}: {draw(st.sampled_from(TAGS))}{value or SECRET}"
    elif kind == "tag" and line.lstrip().startswith("- "):
        indent = line[: len(line) - len(line.lstrip())]
        lines[at] = f"{indent}- {draw(st.sampled_from(TAGS))}{line.lstrip()[2:]}"
    elif kind == "alias" and ": " in line:
        key, _, value = line.partition(": ")
        lines[at] = f"{key}: &{draw(st.sampled_from(('a', 'b', SECRET)))} {value}"
        lines.append(f"alias_{at}: *{draw(st.sampled_from(('a', 'b', 'missing', SECRET)))}\n")
    elif kind == "deep":
        depth = draw(st.integers(10, 5000))
        lines.append(f"units: {'[' * depth}{SECRET}{']' * depth}\n")
    elif kind == "laughs":
        lines.append("l0: &l0 [x, x]\n")
        lines += [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]\n" for i in range(1, 40)]
    elif kind == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    elif kind == "control":
        char = draw(st.sampled_from(("\x00", "\x07", "\x1b", "\ufffe", "\x85", "\t")))
        lines[at] = line[: len(line) // 2] + char + line[len(line) // 2 :]
    elif kind == "duplicate":
        lines.insert(at, line)
    return "".join(lines)


def refused_properly(error: ConfigError, path: Path) -> None:
    message = str(error)
    assert message.startswith(str(path.parent)), message  # names the file (or its neighbour)
    assert "Traceback" not in message
    for secret in SECRETS:
        assert secret not in message, message


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


@EXAMPLES
@given(main=yaml_files(SECTIONS | {"units": [UNIT]}), units=yaml_files({"units": [UNIT]}),
       web=yaml_files(WEB))  # fmt: skip
def test_the_main_config_loads_or_is_refused_naming_the_file(
    folder: Path, main: bytes, units: bytes, web: bytes
) -> None:
    path = folder / "c12.yml"
    path.write_bytes(main)
    (folder / "units.yml").write_bytes(units)
    (folder / "web.yml").write_bytes(web)
    try:
        load_config(path, PLUGINS)
    except ConfigError as error:
        refused_properly(error, path)


@EXAMPLES
@given(web=yaml_files(WEB))
def test_the_web_config_loads_or_is_refused_naming_the_file(folder: Path, web: bytes) -> None:
    path = folder / "web-alone.yml"
    path.write_bytes(web)
    try:
        load_web_config(path)
    except ConfigError as error:
        refused_properly(error, path)


@EXAMPLES
@given(main=yaml_files(SECTIONS | {"units": [UNIT]}))
def test_discover_merges_into_a_config_or_refuses_it_naming_the_file(
    folder: Path, main: bytes
) -> None:
    path = folder / "discovered.yml"
    path.write_bytes(main)
    existing_serials(path)  # read first by discover: never raises
    try:
        write_config(path, [])
    except ConfigError as error:
        refused_properly(error, path)


LAUGHS = "a: &a [x, x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, 40))
HOSTILE_YAML = {
    "int tag on a secret": (f"snmp: {{community: !!int {SECRET}}}\n",
                            r"line 1, column 19: the value is not a valid int"),
    "python object": ("units: !!python/object:os.system [ls]\n",
                      r"line 1, column 8: could not determine a constructor for the tag "
                      r"\(not shown\)"),
    "deep": ("units: " + "[" * 200 + "]" * 200 + "\n", r"nested more than 64 levels deep"),
    "billion laughs": (LAUGHS.replace("*a0", "*a"), r"values once its aliases are expanded"),
    "recursive alias": ("a: &a [*a]\n", r"an alias inside the value it names"),
    "control character": (f"snmp: {{community: {SECRET}\x07}}\n",
                          r"line 1, column 43: a control character \(U\+0007\)"),
}  # fmt: skip


@pytest.mark.parametrize(("text", "message"), HOSTILE_YAML.values(), ids=HOSTILE_YAML)
def test_hostile_yaml_is_named_by_place_without_its_text(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "c12.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}: not valid YAML: .*{message}") as error:
        load_config(path, PLUGINS)
    refused_properly(error.value, path)


def test_a_main_config_that_is_not_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "c12.yml"
    path.write_bytes(b"units:\n  - name: b\xfchne\n    address: 127.0.0.1\n")
    expected = "not valid YAML: line 2, column 12: a byte that is not UTF-8; save the file as UTF-8"
    with pytest.raises(ConfigError, match=rf"^{path}: {expected}$"):
        load_config(path, PLUGINS)


def test_a_units_file_that_is_not_utf8_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "more.yml").write_bytes(b"units: [{name: \xff, address: 127.0.0.1}]\n")
    path = tmp_path / "c12.yml"
    path.write_text("units_files: [more.yml]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"more\.yml: not valid YAML: line 1, column 16: a byte"):
        load_config(path, PLUGINS)
