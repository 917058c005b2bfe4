"""The READMEs of the Zabbix templates."""

from __future__ import annotations


def render(kind: str) -> str:
    return f"# {kind}\n"
