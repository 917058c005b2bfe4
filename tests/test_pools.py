"""Work that can be flooded has a pool of its own: with every thread of the default pool
(name resolution) busy, /metrics is still rendered and served."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path

import aiohttp
import pytest

from c12exporter.config import load_config
from c12exporter.exporter import start_exporter
from c12exporter.plugins import load_plugins
from tests.servers import LOOPBACK, free_port

pytestmark = pytest.mark.integration


def test_metrics_are_served_while_the_default_pool_is_busy(tmp_path: Path) -> None:
    port = free_port()
    config_file = tmp_path / "c12.yml"
    config_file.write_text(
        f"web: {{listen_address: '{LOOPBACK}:{port}'}}\n"
        f"units: [{{name: nobody, address: '{LOOPBACK}:{free_port()}'}}]\n",
        encoding="utf-8",
    )
    plugins = load_plugins()

    async def run() -> tuple[int, str]:
        loop = asyncio.get_running_loop()
        default = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="default")
        loop.set_default_executor(default)
        running = await start_exporter(load_config(config_file, plugins), plugins)
        release = threading.Event()
        busy = [loop.run_in_executor(None, release.wait, 60) for _ in range(4)]
        try:
            timeout = aiohttp.ClientTimeout(total=30)  # a guard against hanging, no timing
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(f"http://{LOOPBACK}:{port}/metrics") as response,
            ):
                return response.status, await response.text()
        finally:
            release.set()
            await asyncio.gather(*busy)
            await running.stop()

    status, body = asyncio.run(run())
    assert status == 200 and 'c12_up{pdu="nobody"}' in body
