"""An installed wheel serves SNMP on a machine without MIB files.

The wheel is built from this checkout and installed into a fresh virtual environment:
the package comes from the wheel alone, its dependencies from the test's own environment
(a ``.pth`` line, which does not run the checkout's editable-install hook). The exporter
then starts from there with every MIB search path net-snmp and pysmi know about hidden,
and net-snmp's ``snmpget`` reads a C12-PDU-MIB object by name, loading the module from
the installed package only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import yaml

from tests.servers import LOOPBACK, REPO, free_port, process, require_tool, wait_until

UNIT = "stage-left"


def _build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = out.glob("c12exporter-*.whl")
    return wheel


def _fresh_venv(root: Path) -> Path:
    """A venv whose dependencies are this one's, without this checkout on its path."""
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    ours = sysconfig.get_paths()["purelib"]
    Path(purelib, "dependencies.pth").write_text(ours + "\n", encoding="utf-8")
    return python


def test_a_wheel_installed_elsewhere_serves_snmp_without_system_mibs(tmp_path: Path) -> None:
    snmpget = require_tool("snmpget", "snmp")
    wheel = _build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("C12-PDU-MIB.txt", "SNMPv2-SMI.mib", "SNMPv2-TC.mib", "SNMPv2-CONF.mib"):
        assert f"c12exporter/snmp/mibs/{module}" in names, names
    assert not [name for name in names if name.endswith("/mibs/C12-PDU-MIB.txt")][1:]

    python = _fresh_venv(tmp_path / "venv")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
         "--quiet", "--no-warn-script-location", str(wheel)],
        check=True, capture_output=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    located = subprocess.run(
        [str(python), "-c", "import c12exporter.snmp as s; print(s.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    package = Path(located).parent
    assert package.is_relative_to(tmp_path / "venv"), located

    empty = tmp_path / "no-mibs"
    empty.mkdir()
    env = {
        **os.environ,
        "HOME": str(empty),  # no ~/.snmp/mibs
        "MIBDIRS": str(empty),  # net-snmp's search path
        "MIBS": "",
        "SMIPATH": str(empty),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),  # compiled afresh
        "PYTHONPATH": "",
    }
    snmp_port, unit_port, web_port = free_port(), free_port(), free_port()
    config = tmp_path / "c12.yml"
    config.write_text(yaml.safe_dump({
        "web": {"listen_address": f"{LOOPBACK}:{web_port}"},
        "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": "public"},
        "state_dir": str(tmp_path / "state"),
        "units": [{"name": UNIT, "address": f"{LOOPBACK}:{unit_port}"}],
    }))  # fmt: skip
    serve = [str(tmp_path / "venv" / "bin" / "c12exporter"), "serve", "--config.file", str(config)]
    command = [snmpget, "-M", str(package / "mibs"), "-m", "C12-PDU-MIB", "-v2c", "-c", "public",
               "-Oqv", "-t", "1", "-r", "1", f"udp:{LOOPBACK}:{snmp_port}",
               "C12-PDU-MIB::c12UnitName.1"]  # fmt: skip

    def answered() -> bool:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        return done.returncode == 0 and done.stdout.strip() == UNIT

    log = tmp_path / "exporter.log"
    with process(serve, log, env=env, cwd=empty) as proc:
        wait_until(lambda: proc.poll() is not None or answered(), 45, "snmpget of c12UnitName")
        assert proc.poll() is None, log.read_text()
    assert "Traceback" not in log.read_text()
