"""The C12-PDU-MIB module: lint-clean, loadable by name, complete, and in step with the code.

Uses the field's own tools: ``smilint``/``smidump`` (Debian package smitools) and
``snmptranslate`` (Debian package snmp). Both need the IETF base modules SNMPv2-SMI,
SNMPv2-TC and SNMPv2-CONF on their search path; docs/mib.md says how to install them.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from c12exporter import measurements
from c12exporter.reading import SupervisionState

REPO = Path(__file__).resolve().parents[1]
MIB_DIR = REPO / "c12exporter" / "snmp" / "mibs"
MIB_FILE = MIB_DIR / "C12-PDU-MIB.txt"
MODULE = "C12-PDU-MIB"

BASE_MODULES = ("SNMPv2-SMI", "SNMPv2-TC", "SNMPv2-CONF")
BASE_MODULES_HINT = (
    "the IETF base modules SNMPv2-SMI, SNMPv2-TC and SNMPv2-CONF must be on the search "
    "path of smilint and net-snmp (e.g. in /usr/share/snmp/mibs/ietf); Debian's main archive "
    "has none of them: see 'Base modules' in docs/mib.md for how to install them"
)

# The OIDs the SNMP agent serves and sends. Changing any of them breaks every manager
# that has loaded the module, so a change here must be deliberate.
ROOT = "1.3.6.1.4.1.8072.9999.9999.12"
EXPECTED_OIDS = {
    "c12MIB": ROOT,
    "c12Notifications": f"{ROOT}.0",
    "c12TemperatureLimit": f"{ROOT}.1.1.1",
    "c12UnitTable": f"{ROOT}.1.2",
    "c12UnitName": f"{ROOT}.1.2.1.2",
    "c12UnitReachability": f"{ROOT}.1.2.1.4",
    "c12InputTable": f"{ROOT}.1.3",
    "c12InputActiveEnergy": f"{ROOT}.1.3.1.8",
    "c12LineTable": f"{ROOT}.1.4",
    "c12LineVoltage": f"{ROOT}.1.4.1.2",
    "c12LineVoltageAvailable": f"{ROOT}.1.4.1.11",
    "c12ChannelTable": f"{ROOT}.1.5",
    "c12ChannelCurrent": f"{ROOT}.1.5.1.8",
    "c12ChannelSupervisionMax": f"{ROOT}.1.5.1.12",
    "c12ChannelAuxSocketRating": f"{ROOT}.1.5.1.17",
    "c12ChannelTripForecast": f"{ROOT}.1.5.1.18",
    "c12NotifPrevBreakerState": f"{ROOT}.2.5",
    "c12UnitUnreachable": f"{ROOT}.0.1",
    "c12BreakerOpened": f"{ROOT}.0.9",
    "c12TemperatureNormal": f"{ROOT}.0.15",
    "c12Compliance": f"{ROOT}.3.1.1",
    "c12NotificationGroup": f"{ROOT}.3.2.7",
}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed: install the Debian package {package} "
            f"(apt-get install -y {package})"
        )
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, cwd=REPO)


def _snmptranslate(*args: str, modules: str = MODULE) -> subprocess.CompletedProcess[str]:
    tool = _tool("snmptranslate", "snmp")
    result = _run(tool, "-M", f"+{MIB_DIR}", "-m", modules, *args)
    if any(f"Cannot find module ({base})" in result.stderr for base in BASE_MODULES):
        pytest.fail(f"net-snmp: {BASE_MODULES_HINT}\n{result.stderr}")
    return result


def _smidump_xml() -> ET.Element:
    tool = _tool("smidump", "smitools")
    result = _run(tool, "-l", "3", "-f", "xml", str(MIB_FILE))
    if "failed to locate MIB module" in result.stderr:
        pytest.fail(f"smidump: {BASE_MODULES_HINT}\n{result.stderr}")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return ET.fromstring(result.stdout)


def test_smilint_level_6_prints_nothing() -> None:
    tool = _tool("smilint", "smitools")
    result = _run(tool, "-l", "6", "-s", str(MIB_FILE))
    output = result.stdout + result.stderr
    if "failed to locate MIB module" in output:
        pytest.fail(f"smilint: {BASE_MODULES_HINT}\n{output}")
    assert result.returncode == 0, output
    assert output == ""


def test_net_snmp_loads_the_module_by_name() -> None:
    result = _snmptranslate("-Tp", "-IR", "c12MIB")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for table in ("c12UnitTable(2)", "c12InputTable(3)", "c12LineTable(4)", "c12ChannelTable(5)"):
        assert table in result.stdout


def test_adding_the_module_to_net_snmps_defaults_raises_nothing_about_it() -> None:
    # "-m +MODULE" also loads net-snmp's default modules, which a bare Debian lacks;
    # complaints about those are the machine's business, none may concern this module.
    result = _snmptranslate("-Tp", "-IR", "c12MIB", modules=f"+{MODULE}")
    assert "c12ChannelTable(5)" in result.stdout
    assert [line for line in result.stderr.splitlines() if MODULE in line] == []


def test_names_resolve_to_the_published_oids() -> None:
    names = list(EXPECTED_OIDS)
    result = _snmptranslate("-On", *(f"{MODULE}::{name}" for name in names))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    resolved = dict(zip(names, result.stdout.split(), strict=True))
    assert resolved == {name: f".{oid}" for name, oid in EXPECTED_OIDS.items()}


def test_instance_oids_translate_back_to_names() -> None:
    result = _snmptranslate(
        f".{ROOT}.1.5.1.8.3.5",  # c12ChannelCurrent, unit 3, channel 5
        f".{ROOT}.1.4.1.2.1.2",  # c12LineVoltage, unit 1, L2
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        f"{MODULE}::c12ChannelCurrent.3.5",
        f"{MODULE}::c12LineVoltage.1.l2",
    ]


def test_every_notification_is_in_a_notification_group() -> None:
    root = _smidump_xml()
    notifications = {n.get("name") for n in root.iter("notification")}
    groups = {g.get("name"): {m.get("name") for m in g.iter("member")} for g in root.iter("group")}
    notification_groups = [m for m in groups.values() if m and m <= notifications]
    grouped = set().union(*notification_groups)
    assert len(notifications) == 16
    assert notifications - grouped == set()


def test_every_accessible_object_is_in_an_object_group() -> None:
    root = _smidump_xml()
    objects = {
        node.get("name")
        for kind in ("scalar", "column")
        for node in root.iter(kind)
        if node.findtext("access") != "noaccess"
    }
    grouped = {
        m.get("name")
        for g in root.iter("group")
        for m in g.iter("member")
        if m.get("name") in objects
    }
    assert objects - grouped == set()


def test_the_compliance_requires_every_group() -> None:
    root = _smidump_xml()
    groups = {g.get("name") for g in root.iter("group")}
    (compliance,) = root.iter("compliance")
    mandatory = {m.get("name") for m in compliance.iter("mandatory")}
    assert mandatory == groups


def _camel(label: str) -> str:
    head, *rest = label.split("_")
    return head + "".join(word.capitalize() for word in rest)


@pytest.mark.parametrize(
    ("typedef", "labels"),
    [
        ("C12EstopState", dict(enumerate(measurements.ESTOP_STATES))),
        ("C12SwitchState", dict(enumerate(measurements.SWITCH_STATES))),
        ("C12NeutralState", dict(enumerate(measurements.NEUTRAL_STATES))),
        ("C12BreakerState", dict(enumerate(measurements.BREAKER_STATES))),
        ("C12LoadState", dict(enumerate(measurements.LOAD_STATES))),
        ("C12SupervisionState", dict(enumerate(s.value for s in SupervisionState))),
        ("C12PhaseName", dict(enumerate(p.lower() for p in measurements.PHASES))),
    ],
)
def test_enumerations_are_the_codes_values_plus_one(typedef: str, labels: dict[int, str]) -> None:
    root = _smidump_xml()
    (node,) = (t for t in root.iter("typedef") if t.get("name") == typedef)
    numbers = {int(n.get("number", "")): n.get("name") for n in node.iter("namednumber")}
    assert numbers == {value + 1: _camel(label) for value, label in labels.items()}
