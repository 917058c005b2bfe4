"""The shared web server's landing page links what the loaded plugins serve, as their
routes ask (``title``, ``unit_title``): an exposer that is not loaded shows no link."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web

from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.exposer import ExposerContext
from c12exporter.plugins import Plugins, hookimpl, load_plugins
from c12exporter.routes import Routes
from tests.servers import LOOPBACK, free_port, http_get

CONSOLE = "c12exporter.console.plugin"
"""Claims ``/`` for the fleet console: left out, so the server's landing page shows."""
PROMETHEUS = "c12exporter.prometheus.plugin"
HISTORY = "c12exporter.history.plugin"
UNITS = ("stage left", "dimmer-2")
HREFS = re.compile(r'href="([^"]*)"')


class HelloPlugin:
    """An outside plugin with a page per unit."""

    @hookimpl
    def c12_add_routes(self, routes: Routes, context: ExposerContext) -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.Response(text=f"hello {request.query['target']}\n")

        routes.add_get("/hello", hello, title="/hello", description="greets", unit_title="say hi")


def _plugins(without: Iterable[str], extra: Iterable[object] = ()) -> Plugins:
    plugins = load_plugins(extra, entry_points=False)
    for name in without:
        plugins.manager.unregister(name=name)
    return plugins


def _landing(tmp_path: Path, plugins: Plugins) -> str:
    port = free_port()
    config_file = tmp_path / "c12.yml"
    units = "".join(
        f"  - {{name: '{u}', address: '127.0.0.1:{9 + n}'}}\n" for n, u in enumerate(UNITS)
    )  # nothing listens there: the units show down, which the links do not depend on
    config_file.write_text(f"web: {{listen_address: '{LOOPBACK}:{port}'}}\nunits:\n{units}")

    async def fetch() -> str:
        running = await start_exporter(load_config(config_file, plugins), plugins)
        try:
            return await asyncio.get_running_loop().run_in_executor(
                None, http_get, f"http://{LOOPBACK}:{port}/"
            )
        finally:
            await running.stop()

    return asyncio.run(fetch())


def test_the_prometheus_plugin_links_its_pages_and_a_probe_per_unit(tmp_path: Path) -> None:
    links = HREFS.findall(_landing(tmp_path, _plugins([CONSOLE])))
    assert {"metrics", "sd"} <= set(links)
    assert [h for h in links if h.startswith("probe")] == [
        "probe?target=stage%20left",
        "probe?target=dimmer-2",
    ]


def test_without_the_prometheus_plugin_nothing_links_its_pages(tmp_path: Path) -> None:
    page = _landing(tmp_path, _plugins([CONSOLE, PROMETHEUS, HISTORY]))
    assert all(name in page for name in UNITS)  # the units are still listed
    assert HREFS.findall(page) == []
    assert "probe" not in page and "/metrics" not in page


def test_an_outside_plugin_links_its_page_and_one_per_unit(tmp_path: Path) -> None:
    page = _landing(tmp_path, _plugins([CONSOLE, PROMETHEUS, HISTORY], [HelloPlugin()]))
    assert HREFS.findall(page) == [
        "hello",
        "hello?target=stage%20left",
        "hello?target=dimmer-2",
    ]
    assert ">say hi</a>" in page and "greets" in page
