"""What a serving exporter imports: ``serve`` and ``check-config`` build only their own
part of the command line, so the simulator's pymodbus, the demo and the other commands'
modules stay out of a long-running process (a few MiB of memory for nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from c12exporter import cli

PROBE = """
import sys
from c12exporter import cli
cli.main(sys.argv[1:])
"""


def imported_after(*arguments: str) -> set[str]:
    """Top-level modules a fresh interpreter holds after ``c12exporter ARGUMENTS``."""
    code = PROBE + "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return set(done.stdout.split())


@pytest.mark.parametrize(
    "arguments, command",
    [
        (["serve", "--config.file", "c.yml"], "serve"),
        (["--log.level", "warn", "serve"], "serve"),
        (["--log.level=warn", "--log.format", "json", "check-config", "c.yml"], "check-config"),
        (["--version"], None),
        (["simulate", "--units", "3"], "simulate"),
    ],
)
def test_the_command_is_the_first_word_that_is_no_option(
    arguments: list[str], command: str | None
) -> None:
    assert cli._command(arguments) == command


def test_check_config_does_not_import_the_simulator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c12.yml"
    config.write_text("units: [{name: a, address: '127.0.0.1:1502'}]\n", encoding="utf-8")
    modules = imported_after("--log.level", "warn", "check-config", str(config))
    assert "c12exporter" in modules and "pymodbus" not in modules, sorted(modules)


def test_the_full_command_line_is_still_there_for_the_other_commands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "c12exporter.cli", "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for command in ("serve", "simulate", "demo", "discover", "check", "mib", "register-map"):
        assert f"    {command} " in done.stdout or f"    {command}\n" in done.stdout, command


SERVING = """
import asyncio, subprocess, sys
from pathlib import Path
from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.plugins import load_plugins

async def main() -> None:
    plugins = load_plugins()
    running = await start_exporter(load_config(Path(sys.argv[1]), plugins), plugins)
    try:
        walked = await asyncio.to_thread(subprocess.run, sys.argv[2:], capture_output=True,
                                         text=True, timeout=30)
        print(walked.stdout.count("c12UnitName"))
        print(" ".join(sorted(sys.modules)))
    finally:
        await running.stop()

asyncio.run(main())
"""


@pytest.mark.integration
def test_a_serving_agent_holds_no_mib_compiler_once_its_mib_is_compiled(tmp_path: Path) -> None:
    """pysmi's compiler (with requests, jinja2 and lark) is imported only to compile the
    MIB into its cache; a process that finds it compiled serves SNMP without them."""
    from c12exporter.snmp.mibcompile import compile_mib
    from tests.servers import LOOPBACK, free_port, require_tool

    cache = tmp_path / "cache"
    compiled = compile_mib(cache / "c12exporter" / "mibs")  # as a first start would
    port = free_port()
    config = tmp_path / "c12.yml"
    config.write_text(
        "units: [{name: stage-left, address: '127.0.0.1:1'}]\n"
        f"state_dir: {tmp_path}/state\n"
        f"web: {{listen_address: '{LOOPBACK}:{free_port()}'}}\n"
        f"snmp: {{listen_address: '{LOOPBACK}:{port}', community: public}}\n",
        encoding="utf-8",
    )
    walk = [require_tool("snmpwalk", "snmp"), "-v2c", "-c", "public", "-M",
            f"+{compiled.source_dir}", "-m", "+C12-PDU-MIB", f"{LOOPBACK}:{port}",
            "C12-PDU-MIB::c12UnitName"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", SERVING, str(config), *walk],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows, modules = done.stdout.splitlines()[-2:]
    assert rows == "1", done.stdout  # the agent answered for its unit
    loaded = set(modules.split())
    assert "pysnmp.smi.compiler" in loaded and "c12exporter.snmp.agent" in loaded
    assert not {"pysmi.compiler", "pysmi.reader", "requests", "jinja2", "lark"} & loaded
