"""The names both the template generator and the READMEs use: templates, files, groups,
and how a Prometheus severity becomes a Zabbix one.

It imports nothing of ``zabbix/``, so ``generate`` and ``readme`` both import it and
neither needs the other's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent

SNMP_FILE = HERE / "template_c12_snmp.yaml"
HTTP_FILE = HERE / "template_c12_http.yaml"
INDEX_FILE = HERE / "README.md"
"""The page listing every trigger with its alert, severity and the test that proves it."""

SNMP = "StageSmarts C12B by SNMP"
SNMP_UNIT = "StageSmarts C12B unit by SNMP"
HTTP = "StageSmarts C12B by HTTP"
HTTP_UNIT = "StageSmarts C12B unit by HTTP"
TEMPLATES: Mapping[str, tuple[str, str]] = {"snmp": (SNMP, SNMP_UNIT), "http": (HTTP, HTTP_UNIT)}
"""Per kind: the fleet template and the unit template its discovered hosts link."""

TEMPLATE_GROUP = "Templates/Power"
TEMPLATE_GROUP_UUID = "3dcd5bbe90534f9e8eb5c2d53756af63"  # Zabbix 6.0's own uuid for it
UNIT_GROUP = "C12 units"
"""Host group of the discovered unit hosts (created by the import)."""

SEVERITIES: Mapping[str, str] = {"critical": "HIGH", "warning": "WARNING", "info": "INFO"}
"""Prometheus ``severity`` label -> Zabbix trigger severity. ``critical`` (act now: dead
outputs, overloads, a unit or the exporter unseen) is High, not Disaster, which Zabbix
leaves to a whole site down; ``warning`` is Warning; ``info`` is Information."""
