"""The shipped Icinga 2 objects (contrib/icinga2/c12.conf) in Debian's real icinga2.

``icinga2 daemon -C`` validates them; then a private icinga2 (its own config and state
directories, checker and perfdata writer only, no API, no system service) runs
``c12exporter check`` every second against the exporter over the simulator, and its
perfdata files show OK, WARNING and CRITICAL with perfdata as faults are injected.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.servers import (
    REPO,
    SimulatorControl,
    exporter,
    process,
    require_tool,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration

DEFINITIONS = REPO / "contrib" / "icinga2" / "c12.conf"
STATES = {"0": "OK", "1": "WARNING", "2": "CRITICAL", "3": "UNKNOWN"}
PRIVATE_DIRS = ("data", "log", "cache", "spool", "run", "perfdata")


def _c12exporter_script() -> str:
    script = Path(sys.executable).parent / "c12exporter"
    assert script.exists(), f"{script}: the package's console script is not installed"
    return str(script)


def _environment() -> dict[str, str]:
    """icinga2 drops privileges to ICINGA2_USER: keep it the user running the tests."""
    return {
        **os.environ,
        "ICINGA2_USER": pwd.getpwuid(os.getuid()).pw_name,
        "ICINGA2_GROUP": grp.getgrgid(os.getgid()).gr_name,
    }


def _private_icinga(base: Path, objects: str) -> list[str]:
    """icinga2's arguments for a config in ``base`` holding ``objects`` and the shipped
    definitions, with every directory it writes under ``base``."""
    for name in PRIVATE_DIRS:
        (base / name).mkdir(exist_ok=True)
    config = base / "icinga2.conf"
    config.write_text(f'include <itl>\ninclude "{DEFINITIONS}"\n{objects}\n', encoding="utf-8")
    defines = {"DataDir": "data", "LogDir": "log", "CacheDir": "cache", "SpoolDir": "spool",
               "InitRunDir": "run"}  # fmt: skip
    return [
        require_tool("icinga2", "icinga2"), "daemon", "-c", str(config),
        *(f"-D{name}={base / folder}" for name, folder in defines.items()),
    ]  # fmt: skip


def _hosts(exporter_url: str, interval: str = "") -> str:
    every = f"vars.c12_check_interval = {interval}\n  " if interval else ""
    common = f'check_command = "dummy"\n  vars.c12_exporter = "{exporter_url}"\n  {every}'
    common += f'vars.c12_command = "{_c12exporter_script()}"'
    return (
        f'object Host "sim-02" {{\n  {common}\n}}\n'
        f'object Host "fleet" {{\n  {common}\n  vars.c12_fleet = true\n}}\n'
        f'object Host "renamed" {{\n  {common}\n  vars.c12_unit = "sim-03"\n}}\n'
    )


def test_shipped_definitions_validate(tmp_path: Path) -> None:
    argv = _private_icinga(tmp_path, _hosts("http://127.0.0.1:10120"))
    result = subprocess.run([*argv, "-C"], capture_output=True, text=True, timeout=60,
                            env=_environment(), check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Instantiated 3 Services" in result.stdout, result.stdout
    assert "does not match anywhere" not in result.stdout, result.stdout


def test_a_broken_definition_is_refused(tmp_path: Path) -> None:
    """The validation above can fail: an unknown check command is an error."""
    argv = _private_icinga(tmp_path, 'object Host "x" {\n  check_command = "c13"\n}')
    result = subprocess.run([*argv, "-C"], capture_output=True, text=True, timeout=60,
                            env=_environment(), check=False)  # fmt: skip
    assert result.returncode != 0
    assert "c13" in result.stdout


@dataclass
class Running:
    control: SimulatorControl
    perfdata: Path

    def results(self) -> dict[str, tuple[str, str, str]]:
        """Service name on its host -> (state, output, perfdata) of its latest check."""
        latest: dict[str, tuple[float, str, str, str]] = {}
        for path in sorted(self.perfdata.glob("service*")):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = dict(f.split("::", 1) for f in line.split("\t") if "::" in f)
                if fields.get("DATATYPE") != "SERVICEPERFDATA":
                    continue
                key = f"{fields['HOSTNAME']}!{fields['SERVICEDESC']}"
                when = float(fields["TIMET"])
                if key not in latest or when >= latest[key][0]:
                    latest[key] = (when, STATES[fields["SERVICESTATE"]], fields["SERVICEOUTPUT"],
                                   fields["SERVICEPERFDATA"])  # fmt: skip
        return {key: value[1:] for key, value in latest.items()}

    def wait(self, service: str, state: str, timeout: float = 30) -> tuple[str, str]:
        """The output and perfdata once ``service`` reports ``state``."""

        def reached() -> tuple[str, str] | None:
            result = self.results().get(service)
            assert result, f"no check result of {service} yet"
            assert result[0] == state, result
            return result[1], result[2]

        found: tuple[str, str] = wait_until(reached, timeout, f"{service} {state}", step=0.5)
        return found


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    tmp = tmp_path_factory.mktemp("icinga")
    with simulator(tmp, 3, "--speed", "0") as (control, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        config = yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"}, "units": units})
        with exporter(tmp, config) as url:
            base = tmp / "icinga2"
            base.mkdir()
            perfdata = base / "perfdata"
            features = (
                'object CheckerComponent "checker" { }\n'
                'object PerfdataWriter "perfdata" {\n'
                f'  service_perfdata_path = "{perfdata}/service"\n'
                f'  service_temp_path = "{perfdata}/service.tmp"\n'
                f'  host_perfdata_path = "{perfdata}/host"\n'
                f'  host_temp_path = "{perfdata}/host.tmp"\n'
                "  rotation_interval = 1s\n"
                '  service_format_template = "DATATYPE::SERVICEPERFDATA\\tTIMET::'
                "$service.last_check$\\tHOSTNAME::$host.name$\\tSERVICEDESC::$service.name$"
                "\\tSERVICESTATE::$service.state_id$\\tSERVICEOUTPUT::$service.output$"
                '\\tSERVICEPERFDATA::$service.perfdata$"\n'
                "}\n"
            )
            argv = _private_icinga(base, _hosts(url, interval="1s") + features)
            with process(argv, base / "icinga2.out", env=_environment()) as icinga:
                yield Running(control, perfdata)
                assert icinga.poll() is None, (base / "icinga2.out").read_text()


def _perfdata(text: str) -> dict[str, list[str]]:
    """Icinga's normalised perfdata: label -> [value with unit, warn, crit, min, max]."""
    labels = {}
    for item in text.split():
        label, _, values = item.partition("=")
        labels[label.strip("'")] = values.split(";")
    return labels


def test_icinga_reports_ok_warning_and_critical_with_perfdata(running: Running) -> None:
    output, perf = running.wait("sim-02!c12", "OK")
    assert output.startswith("C12 OK - unit sim-02:"), output
    labels = _perfdata(perf)
    assert {"temperature", "L1", "L2", "L3", "N"} | {f"ch{n}" for n in range(1, 13)} <= set(labels)
    assert labels["L1"][0].endswith("A") and labels["L1"][1:3] == ["50.4", "63"], labels["L1"]
    assert labels["ch1"][1:] == ["12.8", "16", "0", "16"], labels["ch1"]
    # The fleet service checks all three units (sim-01 carries a heavy neutral: WARNING).
    fleet_output, _ = running.wait("fleet!c12-fleet", "WARNING")
    assert fleet_output.startswith("C12 WARNING - 3 units: sim-01: N "), fleet_output
    renamed, _ = running.wait("renamed!c12", "OK")
    assert renamed.startswith("C12 OK - unit sim-03:"), renamed

    running.control.act("sim-02", "set_supervision", channel=4, min_a=0.0, max_a=1.0)
    output, perf = running.wait("sim-02!c12", "WARNING")
    assert "channel 4" in output and "supervision band" in output, output
    assert float(_perfdata(perf)["ch4"][0].rstrip("A")) > 1.0, perf
    running.control.act("sim-02", "set_supervision", channel=4, min_a=None, max_a=None)
    running.wait("sim-02!c12", "OK")

    running.control.act("sim-02", "estop")
    try:
        output, perf = running.wait("sim-02!c12", "CRITICAL")
        assert "e-stop" in output.lower() or "emergency" in output.lower(), output
        running.wait("fleet!c12-fleet", "CRITICAL")
    finally:
        running.control.act("sim-02", "estop_release")
        running.control.act("sim-02", "switch_on")
    running.wait("sim-02!c12", "OK")
    assert running.results()["renamed!c12"][0] == "OK"
