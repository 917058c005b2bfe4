"""An exposer from outside the core adds a command-line flag and a page on the shared
web server, behind the same basic auth; the package's modules import no cycle."""

from __future__ import annotations

import ast
import asyncio
import base64
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from aiohttp import web

from c12exporter import cli
from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.exposer import ExposerContext
from c12exporter.plugins import hookimpl, load_plugins
from c12exporter.registry import PluginError, Registry
from c12exporter.routes import Routes
from c12exporter.settings import only_keys
from tests.servers import LOOPBACK, free_port

PACKAGE = Path(__file__).resolve().parent.parent / "c12exporter"


@dataclass(frozen=True)
class GreeterSettings:
    greeting: str


@dataclass
class RunningGreeter:
    endpoints: list[str]
    hints: list[str]

    async def stop(self) -> None:
        pass


class Greeter:
    """A third-party exposer: config section ``greeter``, flag ``--greeter.greeting``,
    page ``/greeting`` naming the units."""

    section = "greeter"

    def parse_config(self, data: Mapping[str, Any], where: str) -> GreeterSettings:
        only_keys(data, {"greeting"}, where)
        return GreeterSettings(str(data.get("greeting", "hello")))

    async def start(self, settings: GreeterSettings, context: ExposerContext) -> RunningGreeter:
        return RunningGreeter(["/greeting"], ["curl /greeting"])


class GreeterPlugin:
    @hookimpl
    def c12_add_exposers(self, exposers: Registry[Greeter]) -> None:
        exposers.add(Greeter.section, Greeter())

    @hookimpl
    def c12_add_options(self, parser: Any) -> None:
        parser.add_argument("--greeter.greeting", dest="greeter.greeting", default=None)

    @hookimpl
    def c12_add_routes(self, routes: Routes, context: ExposerContext) -> None:
        async def greeting(request: web.Request) -> web.Response:
            settings = context.config.exposers["greeter"]
            assert isinstance(settings, GreeterSettings)
            units = ", ".join(u.config.name for u in context.store)
            return web.Response(text=f"{settings.greeting}, {units}\n")

        routes.add_get("/greeting", greeting, title="/greeting", description="a greeting")


def fetch(url: str, user: str | None = None, password: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_an_outside_exposer_adds_a_flag_and_a_page(tmp_path: Path) -> None:
    plugins = load_plugins([GreeterPlugin()], entry_points=False)
    port = free_port()
    web_config = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    web_config.write_text(f"basic_auth_users:\n  ops: '{hashed}'\n")
    config_file = tmp_path / "c12.yml"
    config_file.write_text(
        "greeter: {greeting: hello}\nunits: [{name: stage-left, address: '127.0.0.1:9'}]\n"
    )
    args = cli._parser(plugins).parse_args(
        ["serve", "--config.file", str(config_file), "--greeter.greeting", "break a leg",
         f"--web.listen-address={LOOPBACK}:{port}", "--web.config.file", str(web_config)]
    )  # fmt: skip
    overrides = cli.option_overrides(args)
    assert overrides["greeter"] == {"greeting": "break a leg"}
    config = load_config(config_file, plugins, overrides)

    async def test() -> None:
        running = await start_exporter(config, plugins)
        try:
            base = f"http://{LOOPBACK}:{port}"
            loop = asyncio.get_running_loop()
            status, text = await loop.run_in_executor(None, fetch, f"{base}/greeting")
            assert status == 401  # same basic auth as every route
            status, text = await loop.run_in_executor(
                None, fetch, f"{base}/greeting", "ops", "secret"
            )
            assert (status, text) == (200, "break a leg, stage-left\n")
            status, landing = await loop.run_in_executor(
                None, fetch, f"{base}/console/integrations", "ops", "secret"
            )  # the console lists every route in its integrations place
            assert status == 200 and 'href="../greeting"' in landing
            assert 'href="../metrics"' in landing
            assert running.exposers["greeter"].hints == ["curl /greeting"]
        finally:
            await running.stop()

    asyncio.run(test())


def test_a_route_added_twice_names_both_plugins(tmp_path: Path) -> None:
    class Shadow:
        @hookimpl
        def c12_add_routes(self, routes: Routes, context: ExposerContext) -> None:
            routes.add_get("/metrics", lambda request: None)  # type: ignore[arg-type,return-value]

    plugins = load_plugins([Shadow()], entry_points=False)
    config_file = tmp_path / "c12.yml"
    config_file.write_text(
        f"web: {{listen_address: '{LOOPBACK}:{free_port()}'}}\n"
        "units: [{name: a, address: '127.0.0.1:9'}]\n"
    )
    config = load_config(config_file, plugins)

    async def test() -> None:
        with pytest.raises(PluginError, match=r"GET /metrics.*prometheus.plugin.*Shadow"):
            await start_exporter(config, plugins)

    asyncio.run(test())


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every c12exporter module ``module`` imports, TYPE_CHECKING blocks included."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("c12exporter")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if not base.startswith("c12exporter"):
                continue
            for alias in node.names:  # ``from . import x`` may name a module
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _exists(candidate) else base)
    return found


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").exists() or (PACKAGE / relative).is_dir()


def test_no_import_cycle_among_the_packages_modules() -> None:
    graph = {
        _module_name(path): _imports(path, _module_name(path)) for path in PACKAGE.rglob("*.py")
    }
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if target == module:
                continue
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)
