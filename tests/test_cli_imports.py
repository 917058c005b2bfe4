"""What a serving exporter imports: ``serve`` and ``check-config`` build only their own
part of the command line, so the simulator's pymodbus, the demo and the other commands'
modules stay out of a long-running process (a few MiB of memory for nothing)."""

from __future__ import annotations

import subprocess
import sys

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
