"""Writing what a scan found into a config file, keeping what the file already says.

Units already in the file keep their names: matched by serial number (the ``serial:``
key discovery writes), else by address. A unit found at a new address keeps its name
and gets the new address (DHCP, link-local). New units are named ``pdu-01``, ``pdu-02``,
... in address order, after the highest number already used, as the unit's own web
interface numbers units in the order it detects them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..settings import ConfigError, yaml_problem
from ..yamlfile import load_yaml, read_text, read_yaml_file
from .scan import Finding

NAME_PREFIX = "pdu-"
_NUMBERED = re.compile(rf"^{NAME_PREFIX}(\d+)$")


@dataclass
class Merge:
    """What a merge did, for the summary."""

    added: list[str] = field(default_factory=list)
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # name, from, to
    kept: list[str] = field(default_factory=list)


def merge_units(
    units: list[dict[str, Any]], findings: Sequence[Finding], where: str = "config"
) -> Merge:
    """Add the C12B units of ``findings`` to ``units`` (a config's ``units:`` list, edited
    in place)."""
    merge = Merge()
    by_serial = {str(u["serial"]): u for u in units if isinstance(u, dict) and u.get("serial")}
    by_address = {str(u.get("address")): u for u in units if isinstance(u, dict)}
    numbers = [
        int(m[1])
        for u in units
        if isinstance(u, dict) and (m := _NUMBERED.match(str(u.get("name", ""))))
    ]
    next_number = max(numbers, default=0) + 1
    for finding in findings:
        if not finding.is_unit or finding.identity is None:
            continue
        serial = finding.identity.serial
        entry = by_serial.get(serial) if serial else None
        if entry is None:
            entry = by_address.get(finding.address)
        if entry is not None:
            if entry.get("address") != finding.address:
                merge.moved.append((str(entry.get("name")), str(entry.get("address")),
                                    finding.address))  # fmt: skip
                entry["address"] = finding.address
            else:
                merge.kept.append(str(entry.get("name")))
            if serial:
                entry["serial"] = serial
            continue
        name = f"{NAME_PREFIX}{next_number:02d}"
        next_number += 1
        entry = {"name": name, "address": finding.address}
        if serial:
            entry["serial"] = serial
        units.append(entry)
        by_address[finding.address] = entry
        merge.added.append(name)
    return merge


def existing_serials(path: Path) -> dict[str, str]:
    """serial -> address of the units a config file already names (none if it cannot be
    read: :func:`write_config` then says why)."""
    try:
        data = read_yaml_file(path)
    except ConfigError:
        return {}
    units = data.get("units") if isinstance(data, dict) else None
    return {
        str(u["serial"]): str(u.get("address"))
        for u in (units if isinstance(units, list) else [])
        if isinstance(u, dict) and u.get("serial")
    }


def write_config(path: Path, findings: Sequence[Finding]) -> Merge:
    """Merge ``findings`` into the config at ``path`` (created if missing).

    :raises ConfigError: the existing file is not a config this can merge into.
    """
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = load_yaml(read_text(path, "the config to merge into"))
        except yaml.YAMLError as error:  # its text would quote the file, secrets and all
            raise ConfigError(f"{path}: cannot merge into it: {yaml_problem(error)}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping with a 'units:' key")
        data = loaded or {}
    units = data.setdefault("units", [])
    if not isinstance(units, list):
        raise ConfigError(f"{path}: units: must be a list to merge found units into")
    merge = merge_units(units, findings, str(path))
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return merge
