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
    assert "cryptography" not in loaded  # no SNMPv3 user: no privacy
    assert "bcrypt" not in loaded  # no basic auth
    assert "statistics" not in loaded  # with decimal and fractions, for one median


GAINING_A_USER = """
import asyncio, subprocess, sys
from pathlib import Path
from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.plugins import load_plugins

config, later, get, set_ = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

async def run(command: str) -> str:
    done = await asyncio.to_thread(subprocess.run, command.split("|"), capture_output=True,
                                   text=True, timeout=30)
    return (done.stdout + done.stderr).replace("\\n", " ")

async def main() -> None:
    plugins = load_plugins()
    running = await start_exporter(load_config(config, plugins), plugins,
                                   lambda: load_config(config, plugins))
    try:
        print("cryptography" in sys.modules)
        config.write_text(later, encoding="utf-8")
        print(await running.reload())
        print(await run(get))
        print(await run(set_))
    finally:
        await running.stop()

asyncio.run(main())
"""


@pytest.mark.integration
def test_an_snmpv3_user_added_by_a_reload_brings_privacy_to_both_paths(tmp_path: Path) -> None:
    """An agent serving SNMPv2c alone holds no ``cryptography``; a reload that adds an
    SNMPv3 user loads it into pysnmp's privacy services (a Set, which pysnmp decrypts and
    answers) and the read fast path (a Get)."""
    from tests.servers import LOOPBACK, free_port, require_tool

    port = free_port()
    head = (
        "units: [{name: stage-left, address: '127.0.0.1:1'}]\n"
        f"state_dir: {tmp_path}/state\n"
        f"web: {{listen_address: '{LOOPBACK}:{free_port()}'}}\n"
    )
    config = tmp_path / "c12.yml"
    config.write_text(
        head + f"snmp: {{listen_address: '{LOOPBACK}:{port}', community: public}}\n",
        encoding="utf-8",
    )
    later = head + (
        f"snmp: {{listen_address: '{LOOPBACK}:{port}', community: public, users: "
        "[{name: monitor, auth_key: correct horse, priv_key: battery staple}]}\n"
    )
    v3 = ["-v3", "-l", "authPriv", "-u", "monitor", "-a", "SHA-256", "-A", "correct horse",
          "-x", "AES", "-X", "battery staple", "-On", f"{LOOPBACK}:{port}"]  # fmt: skip
    get = [require_tool("snmpget", "snmp"), *v3, "1.3.6.1.2.1.1.5.0"]
    set_ = [require_tool("snmpset", "snmp"), *v3, "1.3.6.1.2.1.1.5.0", "s", "renamed"]
    done = subprocess.run(
        [sys.executable, "-c", GAINING_A_USER, str(config), later, "|".join(get), "|".join(set_)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    before, refused, got, answered = done.stdout.splitlines()[-4:]
    assert before == "False"  # SNMPv2c only: cryptography not imported
    assert refused == "None"
    assert ".1.3.6.1.2.1.1.5.0 = STRING:" in got, got  # sysName, through the fast path
    # pysnmp decrypted the Set and refused it in an encrypted response net-snmp read:
    assert "notWritable" in answered or "noAccess" in answered, answered
