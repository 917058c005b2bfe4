"""The YAML config file: loading and validation with errors that name file and key.

Example (every key but ``units`` is optional)::

    poll:
      interval: 5s        # how often every unit is read
      timeout: 2s         # per unit, connect + all requests of one poll
      concurrency: 256    # polls in flight at once, fleet-wide
      staleness: 15s      # a reading older than this is never served (default 3 x interval)
    web:                  # Prometheus exposer (c12exporter.builtin.prometheus_http)
      listen_address: ":10120"
    units:
      - name: stage-left
        address: 10.0.0.21:502
        model: C12B-12            # optional: overrides what the unit reports
        phases: [L1, L2, L3, L1, L2, L3, L1, L2, L3, L1, L2, L3]   # optional
        labels: {rack: A3}        # optional: added to every series of this unit
        serial: SS123400001       # optional: the serial expected there (discover writes it)
        supply: generator         # optional: grid (default) or generator: the frequency band
        supervision:              # optional: overrides the band stored in the unit
          3: {min: 0.5, max: 12}
    units_files: [sim-units.yml]  # optional: more units, e.g. the simulator's list
    probe:                # optional (Prometheus plugin): what /probe may read besides units
      allow: [{network: 10.1.0.0/16, ports: [502]}]   # default: nothing else
    history:              # optional (history plugin): database and RCBO test period
      rcbo_test_period: 31d
    state_dir: c12exporter-state  # optional: small state files (SNMP unit index), relative
                                  # to this file's directory

The simulator writes a file holding only ``units:``; it is a valid config as is. Every
other top-level section belongs to a plugin: an exposer's (``web``, ``snmp``, ``console``)
or one registered with ``c12_add_config_sections`` (``probe``, ``history``), which checks
it; a section no loaded plugin owns is an unknown key.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .addresses import split_host_port
from .discovery.targets import TargetError, parse_targets
from .limits import FREQUENCY_BANDS
from .measurements import CHANNEL_COUNT, PHASES
from .modbus.registermap import C12B_V1, Field
from .model import ModelError
from .plugins import Plugins
from .reading import SupervisionBand
from .resolve import printable
from .settings import (
    Config,
    ConfigError,
    DiscoveryConfig,
    PollConfig,
    Shard,
    UnitConfig,
    only_keys,
    parse_duration,
    parse_whole,
)
from .yamlfile import read_yaml_file

DEFAULT_MODBUS_PORT = 502


def register_range(field: Field) -> tuple[float, float]:
    """What a register field holds, in SI units: its valid range, within what its type
    carries ("not available" left out)."""
    spare = field.kind.not_available
    raw = (spare + 1, -spare - 1) if spare < 0 else (0, spare - 1)
    low, high = (r * field.scale * field.to_si for r in raw)
    if field.valid is not None:
        low = max(low, field.valid[0] * field.to_si)
        high = min(high, field.valid[1] * field.to_si)
    return low, high


BAND_LIMITS_A = {
    side: register_range(C12B_V1.field(f"supervision_{side}")[1]) for side in ("min", "max")
}
"""The supervision limits the unit's registers hold, by side of the band."""

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset({
    # the exporter's own series (a test compares this with every label on /metrics)
    "pdu", "vendor", "model", "serial", "firmware", "layout", "aux_socket", "address", "name",
    "phase", "channel", "connector", "connector_type", "pins", "socket", "standard",
    "to_channel", "to_phase", "state", "reason", "version", "when",
    # what Prometheus sets on every target (``/sd`` hands ``labels:`` to it)
    "job", "instance",
})  # fmt: skip
"""Label names ``labels:`` may not use: a unit's label of one of these names would
replace the exporter's own value of it (or the target's, through ``/sd``)."""
UNIT_NAME_MAX_LENGTH = 64
"""A unit's name is a label value, an SNMP string and a console heading: at most this many
characters, each printable (no control or format characters)."""


def load_config(
    path: str | Path,
    plugins: Plugins,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    shard: str | None = None,
) -> Config:
    """Read and validate a config file.

    :param overrides: section -> keys that replace the file's (command-line flags).
    :param shard: ``--shard``, replacing the file's ``shard:``.
    :raises ConfigError: naming the file and key of the first problem found.
    """
    path = Path(path)
    data = _read_yaml(path)
    only_keys(
        data,
        {
            "poll",
            "units",
            "units_files",
            "state_dir",
            "discovery",
            "shard",
            *plugins.exposers,
            *plugins.sections,
        },
        str(path),
    )
    poll = _poll(_given(data, "poll", {}), f"{path}: poll")
    exposers = {}
    for section, exposer in plugins.exposers.items():
        section_data = data.get(section) or {}
        if not isinstance(section_data, Mapping):
            raise ConfigError(f"{path}: {section}: must be a mapping of its settings")
        settings_data = _relative_files(section_data, path.parent)
        settings_data.update((overrides or {}).get(section, {}))
        settings = exposer.parse_config(settings_data, f"{path}: {section}")
        if settings is not None:
            exposers[section] = settings
    placed = _placed(_units(_given(data, "units", []), str(path), plugins), str(path))
    files = data.get("units_files") or []
    if not isinstance(files, list):
        raise ConfigError(f"{path}: units_files: must be a list of file paths")
    for i, name in enumerate(files):
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{path}: units_files[{i}]: {name!r} is not a file path")
        include = (path.parent / name).resolve()
        included = _read_yaml(include, f"{path}: units_files[{i}]")
        only_keys(included, {"units"}, str(include))
        more = _units(_given(included, "units", []), str(include), plugins)
        placed += _placed(more, str(include))
    _refuse_duplicates(placed)
    units = [p.unit for p in placed]
    discovery = _discovery(data["discovery"], f"{path}: discovery") if "discovery" in data else None
    if not units and discovery is None:
        raise ConfigError(
            f"{path}: units: no units configured; add a 'units:' list with name and address, "
            "or a 'discovery:' section"
        )
    state_dir = data.get("state_dir", str(Config.state_dir))
    if not isinstance(state_dir, str) or not state_dir.strip():
        raise ConfigError(f"{path}: state_dir: must be a directory path")
    if (path.parent / state_dir).exists() and not (path.parent / state_dir).is_dir():
        raise ConfigError(
            f"{path}: state_dir: {state_dir!r} is a file, not a directory; name a directory "
            "(it is created if missing)"
        )
    return Config(
        units=tuple(units),
        poll=poll,
        exposers=exposers,
        source=str(path),
        discovery=discovery,
        shard=Shard.parse(shard or data.get("shard", "1/1"), f"{path}: shard (or --shard)"),
        state_dir=path.parent / state_dir,
        sections={
            key: parse(data.get(key), f"{path}: {key}", path.parent)
            for key, parse in plugins.sections.items()
        },
    )


@dataclass(frozen=True)
class _Placed:
    """A unit and where it is written."""

    source: str
    key: str  # units[3] (name)
    unit: UnitConfig

    def other(self, first: _Placed) -> str:
        """``first``'s key, with its file if that is another."""
        return first.key if first.source == self.source else f"{first.source}: {first.key}"


def _given(data: Mapping[str, Any], key: str, empty: object) -> Any:
    """``data[key]``, or ``empty`` when absent or left blank (``poll:``): a value of
    another type (``poll: []``) is kept, for the check to name it."""
    value = data.get(key)
    return empty if value is None else value


def _placed(units: list[UnitConfig], source: str) -> list[_Placed]:
    return [_Placed(source, f"units[{i}] ({u.name})", u) for i, u in enumerate(units)]


def _refuse_duplicates(placed: list[_Placed]) -> None:
    """Two units with one name, or at one address (``h`` and ``h:502`` are one, as are
    two spellings of one IP address), are refused; names that resolve alike are not
    looked up."""
    names: dict[str, _Placed] = {}
    addresses: dict[tuple[str, int], _Placed] = {}
    for here in placed:
        unit = here.unit
        first = names.setdefault(unit.name, here)
        if first is not here:
            raise ConfigError(
                f"{here.source}: {here.key}.name: {unit.name!r} is also the name of "
                f"{here.other(first)}; names must be unique: rename one of them"
            )
        host, port = split_host_port(unit.address, DEFAULT_MODBUS_PORT)
        first = addresses.setdefault((_host_key(host), port), here)
        if first is not here:
            raise ConfigError(
                f"{here.source}: {here.key}.address: {unit.address!r} is also the address of "
                f"{here.other(first)} ({first.unit.address!r}); the unit would be polled "
                "twice: remove one of them"
            )


def _host_key(host: str) -> str:
    """One spelling per host: IP addresses in their compressed form, names lowercase."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host.lower().rstrip(".")


def _relative_files(section: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """The section with every ``*_file`` path relative to the config file's directory, as
    Prometheus reads paths in its config (command-line flags stay relative to the working
    directory)."""
    return {
        key: str(base / value) if str(key).endswith("_file") and isinstance(value, str) else value
        for key, value in section.items()
    }


def _read_yaml(path: Path, where: str | None = None) -> dict[str, Any]:
    data = read_yaml_file(path, where=where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with a 'units:' key")
    return data


def _poll(data: Mapping[str, Any], where: str) -> PollConfig:
    only_keys(data, {"interval", "timeout", "concurrency", "staleness"}, where)
    defaults = PollConfig()
    interval = parse_duration(data.get("interval", defaults.interval_s), f"{where}.interval")
    timeout = parse_duration(data.get("timeout", defaults.timeout_s), f"{where}.timeout")
    if timeout > interval:
        raise ConfigError(
            f"{where}.timeout: {timeout:g}s is longer than the interval {interval:g}s; "
            "a poll must end before the next one starts"
        )
    concurrency = parse_whole(data.get("concurrency", defaults.concurrency), f"{where}.concurrency")
    staleness = data.get("staleness")
    staleness_s = None if staleness is None else parse_duration(staleness, f"{where}.staleness")
    if staleness_s is not None and staleness_s < interval:
        raise ConfigError(
            f"{where}.staleness: {staleness_s:g}s is shorter than the interval {interval:g}s; "
            "every reading would be stale before the next poll"
        )
    return PollConfig(interval, timeout, concurrency, staleness_s)


def _discovery(data: object, where: str) -> DiscoveryConfig:
    only_keys(
        data,
        {"networks", "port", "interval", "gone_after", "forget_after", "concurrency", "rate",
         "timeout"},
        where,
    )  # fmt: skip
    assert isinstance(data, Mapping)
    networks = data.get("networks")
    if not isinstance(networks, list) or not networks:
        raise ConfigError(f"{where}.networks: list the networks to scan, e.g. [10.0.3.0/24]")
    try:
        parse_targets([str(n) for n in networks])
    except TargetError as error:
        raise ConfigError(f"{where}.networks: {error}") from None
    defaults = DiscoveryConfig(())
    port = parse_whole(data.get("port", defaults.port), f"{where}.port", 1, 65535)
    concurrency = parse_whole(data.get("concurrency", defaults.concurrency), f"{where}.concurrency")
    rate = data.get("rate", defaults.rate)
    if (
        isinstance(rate, bool)
        or not isinstance(rate, int | float)
        or not math.isfinite(rate)
        or rate <= 0
    ):
        raise ConfigError(f"{where}.rate: {rate!r} must be connections per second > 0")
    durations = {
        key: parse_duration(data.get(key, default), f"{where}.{key}")
        for key, default in (
            ("interval", defaults.interval_s),
            ("gone_after", defaults.gone_after_s),
            ("forget_after", defaults.forget_after_s),
            ("timeout", defaults.timeout_s),
        )
    }
    for key, longer_than, why in (
        ("gone_after", "interval", "units are only looked for once per interval"),
        ("forget_after", "gone_after", "a unit would leave the fleet before it is reported gone"),
    ):
        if durations[key] < durations[longer_than]:
            raise ConfigError(
                f"{where}.{key}: {durations[key]:g}s is shorter than {longer_than} "
                f"{durations[longer_than]:g}s; {why}: make {key} at least {longer_than}"
            )
    return DiscoveryConfig(
        tuple(str(n) for n in networks), port, durations["interval"], durations["gone_after"],
        durations["forget_after"], concurrency, float(rate), durations["timeout"],
    )  # fmt: skip


def _units(data: object, source: str, plugins: Plugins) -> list[UnitConfig]:
    if not isinstance(data, list):
        raise ConfigError(f"{source}: units: must be a list of units (name, address)")
    return [_unit(item, f"{source}: units[{i}]", plugins) for i, item in enumerate(data)]


UNIT_KEYS = {
    "name", "address", "transport", "model", "phases", "labels", "supervision", "serial", "supply",
}  # fmt: skip


def _unit(data: object, where: str, plugins: Plugins) -> UnitConfig:
    only_keys(
        data,
        UNIT_KEYS,
        where,
    )
    assert isinstance(data, dict)
    name = _unit_name(data.get("name"), f"{where}.name")
    where = f"{where} ({name})"
    address = data.get("address")
    if not isinstance(address, str) or not address.strip():
        raise ConfigError(f"{where}.address: missing; give host:port, e.g. 10.0.0.21:502")
    _unit_address(address.strip(), f"{where}.address")
    transport = str(data.get("transport", "modbus-tcp"))
    if transport not in plugins.transports:
        raise ConfigError(
            f"{where}.transport: {transport!r} is not provided by any plugin "
            f"(known: {', '.join(sorted(plugins.transports))})"
        )
    model = data.get("model")
    # The unit's channels: its model's when given, else any family's (the model the unit
    # identifies as is checked against the phases when it is read).
    counts = sorted({family.channel_count for family in plugins.families.values()})
    if model is not None:
        try:
            counts = [plugins.model(str(model)).channel_count]
        except ModelError as error:
            raise ConfigError(f"{where}.model: {error}") from None
    return UnitConfig(
        name=name,
        address=address.strip(),
        transport=transport,
        model=None if model is None else str(model),
        phases=_phases(data.get("phases"), f"{where}.phases", counts),
        labels=_labels(data.get("labels") or {}, f"{where}.labels"),
        supervision=_supervision(data.get("supervision") or {}, f"{where}.supervision", counts),
        serial=_serial(data.get("serial"), f"{where}.serial"),
        supply=_supply(data.get("supply", "grid"), f"{where}.supply"),
    )


def _unit_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: missing or empty; every unit needs a unique name")
    name = value.strip()
    if len(name) > UNIT_NAME_MAX_LENGTH:
        raise ConfigError(
            f"{where}: '{printable(name[:24])}'... is {len(name)} characters long; "
            f"give at most {UNIT_NAME_MAX_LENGTH}"
        )
    odd = next((c for c in name if not c.isprintable()), None)
    if odd is not None:
        raise ConfigError(
            f"{where}: '{printable(name)}' holds '{printable(odd)}': give printable "
            "characters only (letters, digits, punctuation, spaces)"
        )
    return name


def _supply(value: object, where: str) -> str:
    if value not in FREQUENCY_BANDS:
        raise ConfigError(
            f"{where}: {value!r} is not a kind of supply; write one of "
            f"{', '.join(FREQUENCY_BANDS)} (it picks the frequency band the unit is judged by)"
        )
    return str(value)


_HOST_NAME = re.compile(
    r"^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$",
    re.IGNORECASE,
)
_ADDRESS_FIX = "write host:port, e.g. 10.0.0.21:502, [fd00::21]:502, or the host alone for 502"


def _unit_address(address: str, where: str) -> None:
    """Refuse an address without a host, with an empty, zero or out-of-range port, or with
    a host that is neither an IP address nor a host name."""
    try:
        host, port = split_host_port(address, DEFAULT_MODBUS_PORT)
    except ValueError as error:
        raise ConfigError(f"{where}: {error}; {_ADDRESS_FIX}") from None
    if not host:
        raise ConfigError(f"{where}: {address!r} has no host; {_ADDRESS_FIX}")
    if port == 0 or (address.endswith(":") and host != address):  # "h:", not "fe80::"
        raise ConfigError(f"{where}: {address!r} has no port (1..65535); {_ADDRESS_FIX}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if (
            address.startswith("[")
            or not _HOST_NAME.match(host)
            or host.rstrip(".").rsplit(".", 1)[-1].isdigit()  # 10.0.0.256, not a name either
        ):
            raise ConfigError(
                f"{where}: {host!r} is neither an IP address nor a host name; {_ADDRESS_FIX}"
            ) from None


def _serial(value: object, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | dict | bool) or not str(value).strip():
        raise ConfigError(
            f"{where}: {value!r} is not a serial number; give the unit's serial (as "
            "`c12exporter discover` writes it) or leave it out"
        )
    return str(value).strip()


def _phases(
    data: object, where: str, counts: Sequence[int] = (CHANNEL_COUNT,)
) -> tuple[str, ...] | None:
    """:param counts: the channel counts the unit's model may have."""
    if data is None:
        return None
    if (
        not isinstance(data, Sequence)
        or isinstance(data, str)
        or len(data) not in counts
        or any(p not in PHASES for p in data)
    ):
        raise ConfigError(
            f"{where}: must list the phase of each of the {' or '.join(map(str, counts))} "
            f"channels, each one of {', '.join(PHASES)}; got {data!r}"
        )
    return tuple(data)


def _labels(data: object, where: str) -> dict[str, str]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a mapping of label name to value")
    labels = {}
    for key, value in data.items():
        if not _LABEL_NAME.match(str(key)) or str(key).startswith("__"):
            raise ConfigError(f"{where}.{printable(str(key))}: not a valid Prometheus label name")
        if key in RESERVED_LABELS:
            raise ConfigError(
                f"{where}.{key}: label name is the exporter's own and would replace its "
                f"value; choose another (reserved: {', '.join(sorted(RESERVED_LABELS))})"
            )
        if value is None or isinstance(value, list | dict):
            raise ConfigError(f"{where}.{key}: {value!r} must be text, e.g. {key}: A3")
        labels[str(key)] = str(value)
    return labels


def _supervision(
    data: object, where: str, counts: Sequence[int] = (CHANNEL_COUNT,)
) -> dict[int, SupervisionBand]:
    """:param counts: the channel counts the unit's model may have."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must map channel numbers to {{min: A, max: A}}")
    bands = {}
    for key, value in data.items():
        here = f"{where}.{key}"
        if not str(key).isdigit() or not 1 <= int(key) <= max(counts):
            raise ConfigError(f"{here}: not a channel number 1..{max(counts)}")
        if int(key) in bands:
            raise ConfigError(f"{here}: channel {int(key)} is given twice; keep one")
        only_keys(value, {"min", "max"}, here)
        low, high = (_limit(value.get(side), f"{here}.{side}", side) for side in ("min", "max"))
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"{here}: min {low:g} A is above max {high:g} A; swap them or lower min"
            )
        bands[int(key)] = SupervisionBand(low, high)
    return bands


def _limit(value: object, where: str, side: str) -> float | None:
    """One supervision limit: amperes within what the unit's register holds."""
    low, high = BAND_LIMITS_A[side]
    limit = _amperes(value, where)
    if limit is not None and not low <= limit <= high:
        raise ConfigError(
            f"{where}: {limit:g} A is beyond what the unit holds ({low:g}..{high:g} A, its "
            f"supervision_{side} register); give a limit in that range or leave it out"
        )
    return limit


def _amperes(value: object, where: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(f"{where}: {value!r} must be a current in amperes >= 0")
    return float(value)
