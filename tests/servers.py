"""Starting and stopping the real servers tests talk to, all on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from c12exporter.reading import Reading

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


def load_bench(name: str) -> ModuleType:
    """``bench/<name>.py`` as a module (the benches are scripts, not a package); the
    benches import their neighbours by name, so ``bench/`` goes on the path."""
    bench = str(REPO / "bench")
    if bench not in sys.path:
        sys.path.insert(0, bench)
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path is None:
        raise RuntimeError(
            f"{name} is not installed: run scripts/install-system-tools (Debian package {package})"
        )
    return path


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run Debian's ``promtool`` with ``args`` (and ``stdin``), capturing its output."""
    return subprocess.run(
        [require_tool("promtool", "prometheus"), *args],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def wait_until(check: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll ``check`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error = "none"
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as error:
            last_error = repr(error)  # not the error itself: it holds sockets until collected
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_error}")


def http_get(url: str, timeout: float = 5.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        error.close()  # its response is open; closing now keeps it from leaking
        raise


@contextmanager
def process(command: Sequence[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server process; stop it (and say what it logged) on the way out."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


EXAMPLE_PLUGIN = REPO / "examples" / "c24b"
"""An outside plugin: the 24-channel C24B model family, its own distribution."""


def install_example_plugin(tmp: Path) -> dict[str, str]:
    """The C24B example installed with pip (built offline from a copy, no dependencies)
    into a directory under ``tmp``; returns the environment of a process that has it, as
    a user's pip leaves it: the package and its entry point on the path."""
    source, target = tmp / "c24b-source", tmp / "c24b-site"
    shutil.copytree(EXAMPLE_PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(target), str(source)],
        check=True, capture_output=True, timeout=120, cwd=tmp,
    )  # fmt: skip
    path = os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path}


def c12exporter_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "c12exporter.cli", *args]


class Prometheus:
    """A real Prometheus server (Debian's package) scraping given targets."""

    def __init__(self, port: int) -> None:
        self.url = f"http://{LOOPBACK}:{port}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(http_get(url))
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def by_label(self, expr: str, label: str) -> dict[str, float]:
        return {r["metric"][label]: float(r["value"][1]) for r in self.query(expr)}


@contextmanager
def prometheus(
    tmp: Path,
    scrape_configs: list[dict[str, Any]],
    rule_files: Sequence[Path] = (),
    alertmanager_url: str | None = None,
    interval: str = "1s",
) -> Iterator[Prometheus]:
    binary = require_tool("prometheus", "prometheus")
    port = free_port()
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "scrape_configs": scrape_configs,
        "rule_files": [str(p) for p in rule_files],
    }
    if alertmanager_url:
        host = urllib.parse.urlparse(alertmanager_url).netloc
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [host]}]}]}
    config_file = tmp / "prometheus.yml"
    config_file.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    command = [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address={LOOPBACK}:{port}",
        "--log.level=warn",
    ]
    with process(command, tmp / "prometheus.log") as proc:
        server = Prometheus(port)
        wait_until(lambda: http_get(f"{server.url}/-/ready").strip(), 30, "Prometheus ready")
        assert proc.poll() is None
        yield server


class SimulatorControl:
    """The simulator's HTTP control interface, used the way a user would with curl."""

    def __init__(self, url: str) -> None:
        self.url = url

    def units(self) -> list[dict[str, Any]]:
        return list(json.loads(http_get(f"{self.url}/units"))["units"])

    def unit(self, name: str) -> dict[str, Any]:
        return dict(json.loads(http_get(f"{self.url}/units/{name}")))

    def act(self, name: str, action: str, **params: Any) -> dict[str, Any]:
        body = json.dumps({"action": action, **params}).encode()
        request = urllib.request.Request(
            f"{self.url}/units/{name}/faults",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return dict(json.loads(response.read()))


@contextmanager
def simulator(
    tmp: Path, units: int, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[SimulatorControl, Path]]:
    """``c12exporter simulate`` as a user runs it; yields its control client and units file.

    :param env: the process's environment (default: the tests')."""
    units_file = tmp / "sim-units.yml"
    control_port = free_port()
    command = c12exporter_command(
        "simulate",
        "--units",
        str(units),
        "--units-file",
        str(units_file),
        "--control-address",
        f"{LOOPBACK}:{control_port}",
        *args,
    )
    with process(command, tmp / "simulator.log", env=env):
        control = SimulatorControl(f"http://{LOOPBACK}:{control_port}")
        wait_until(lambda: units_file.exists() and control.units(), 30, "simulator ready")
        yield control, units_file


@contextmanager
def exporter(tmp: Path, config: str) -> Iterator[str]:
    """``c12exporter serve`` on a free port; yields its base URL once it answers."""
    config_file = tmp / "c12exporter.yml"
    config_file.write_text(config, encoding="utf-8")
    port = free_port()
    command = c12exporter_command(
        "serve", "--config.file", str(config_file), f"--web.listen-address={LOOPBACK}:{port}"
    )
    with process(command, tmp / "exporter.log") as proc:
        url = f"http://{LOOPBACK}:{port}"
        wait_until(lambda: http_get(f"{url}/-/healthy"), 30, "exporter ready")
        yield url
        assert proc.poll() is None, (tmp / "exporter.log").read_text()


def units_yaml(addresses: Iterable[str]) -> str:
    """A config's ``units:`` list naming the units at ``addresses`` u1, u2, ..."""
    return "units:\n" + "".join(
        f"  - {{name: u{i + 1}, address: '{address}'}}\n" for i, address in enumerate(addresses)
    )


def simulated_reading(model: str) -> Reading:
    """One reading of a simulated unit of ``model``, read over Modbus on loopback as a
    poll would, to build test cases on."""
    from c12exporter.modbus.transport import ModbusTcpTransport
    from c12exporter.plugins import load_plugins
    from c12exporter.reading import build_reading
    from c12exporter.simulator.server import Fleet

    plugins = load_plugins(entry_points=False)

    async def read() -> Reading:
        async with await Fleet.start(1, plugins=plugins, models=(model,)) as fleet:
            transport = ModbusTcpTransport(fleet.units[0].address, 2.0)
            identity = await transport.connect()
            values = await transport.read()
            await transport.close()
        return build_reading("u", identity, plugins.model(identity.model), 0.0, values)

    return asyncio.run(read())
