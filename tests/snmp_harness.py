"""What the SNMP tests share: a simulated fleet polled into a store, the agent serving it
on loopback (its own event loop in a thread), and net-snmp's tools run against it.

The fleet's physics is frozen, and the tests poll explicitly (no background polling), so
what the agent serves only changes when a test changes a unit and polls it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from c12exporter.exposer import ExposerContext
from c12exporter.forecast import TripForecast
from c12exporter.history.recorder import History
from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.reading import Reading, SupervisionBand
from c12exporter.settings import Config, PollConfig, UnitConfig
from c12exporter.simulator.actions import apply_action
from c12exporter.simulator.server import Fleet
from c12exporter.snmp.agent import RunningAgent, start_agent
from c12exporter.snmp.config import SnmpSettings, parse_snmp_config
from c12exporter.store import Store
from c12exporter.telemetry import Telemetry
from tests.servers import require_tool

T = TypeVar("T")
PLUGINS = load_plugins(entry_points=False)
LOOPBACK = "127.0.0.1"
MIB_DIR = Path(__file__).resolve().parents[1] / "c12exporter" / "snmp" / "mibs"
"""The MIB and the modules it imports, as the package carries them."""
MIB_OPTIONS = ("-M", f"+{MIB_DIR}", "-m", "+C12-PDU-MIB")
"""net-snmp loads the MIB by name, as a user would."""
OUTPUT = ("-OqeUtb",)
"""Quick print, enumerations and TimeTicks as numbers, no units, numeric indexes."""
FIXED_BAND_CHANNEL = 5
FIXED_BAND = {FIXED_BAND_CHANNEL: SupervisionBand(0.5, 12.0)}
ENGINE_ID = "0x80001f8805c12e0001"
USERS: tuple[dict[str, str], ...] = (
    {"name": "viewer", "auth_key": "viewer-auth-key", "priv_key": "viewer-priv-key"},
    {
        "name": "operator",
        "auth_protocol": "SHA-512",
        "auth_key": "operator-auth-key",
        "priv_protocol": "AES-256",
        "priv_key": "operator-priv-key",
        "access": "read-write",
    },
)
COMMUNITY = "c12-public"


def snmp_config(**overrides: Any) -> dict[str, Any]:
    """The ``snmp:`` section the tests use, on a free port."""
    return {
        "listen_address": f"{LOOPBACK}:0",
        "community": COMMUNITY,
        "users": [dict(u) for u in USERS],
        "writes_enabled": True,
        "engine_id": ENGINE_ID,
    } | overrides


class LoopThread:
    """An asyncio event loop running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclasses.dataclass
class Stack:
    """A running fleet, store, poller and agent, driven from the test's thread."""

    loop: LoopThread
    fleet: Fleet
    store: Store
    poller: Poller
    agent: RunningAgent
    settings: SnmpSettings
    tmp: Path
    context: ExposerContext

    @property
    def names(self) -> list[str]:
        """The fleet's units, in configuration order."""
        return [u.name for u in self.fleet.units]

    @property
    def telemetry(self) -> Telemetry:
        return self.context.telemetry

    def count(self, name: str, **labels: str) -> float:
        """A sample of the exporter's own metrics (0 when not yet counted)."""

        async def read() -> float:
            return self.telemetry.registry.get_sample_value(name, labels) or 0.0

        return self.loop.run(read())

    def unit_configs(self, *names: str) -> tuple[UnitConfig, ...]:
        """Configs of fleet units (the first has a fixed band, as :func:`snmp_stack` made it)."""
        by_name = {u.name: u for u in self.fleet.units}
        return tuple(
            UnitConfig(
                name,
                by_name[name].address,
                supervision=FIXED_BAND if name == self.names[0] else {},
            )
            for name in names
        )

    def reconcile(self, units: tuple[UnitConfig, ...]) -> None:
        """A reload's new unit list, as the exporter applies it (poller and store)."""
        self.loop.run(self.poller.reconcile(units, self.poller.poll))

    def poll(self, *names: str) -> None:
        async def poll_all() -> None:
            for name in names or [state.config.name for state in self.store]:
                await self.poller.poll_unit(name)

        self.loop.run(poll_all())

    def reading(self, name: str) -> Reading:
        state = self.store.get(name)
        assert state is not None and state.reading is not None, f"{name} has no reading"
        return state.reading

    def act(self, name: str, **payload: Any) -> None:
        """A simulator action on one unit, then a poll of it."""
        self.loop.run(apply_action(self.fleet.unit(name), payload))
        self.poll(name)

    def call(self, function: Any, *args: Any) -> Any:
        """Run a plain function on the agent's event loop (for state it owns)."""

        async def call() -> Any:
            return function(*args)

        return self.loop.run(call())

    def v2c(self, community: str = COMMUNITY) -> list[str]:
        return ["-v2c", "-c", community]

    def v3(self, user: str = "viewer", **override: str) -> list[str]:
        """SNMPv3 options for ``user``; ``override`` replaces flags' values
        (``{"-A": "wrong"}`` is written ``A="wrong"``, ``l="authNoPriv"``)."""
        args = self.agent.credentials(user, secrets=True)
        for flag, value in override.items():
            args[args.index(f"-{flag}") + 1] = value
        return args

    def snmp(
        self, tool: str, credentials: Sequence[str], *args: str, timeout: float = 2.0
    ) -> subprocess.CompletedProcess[str]:
        """Run a net-snmp tool against the agent (-t timeout, no retries)."""
        command = [
            require_tool(tool, "snmp"), *MIB_OPTIONS, *OUTPUT, "-t", str(timeout), "-r", "0",
            *credentials, self.agent.target, *args,
        ]  # fmt: skip
        return subprocess.run(
            command, capture_output=True, text=True, timeout=60, check=False, env=snmp_env(self.tmp)
        )


def snmp_env(tmp: Path) -> dict[str, str]:
    """net-snmp's tools with their persistent state in the test's directory."""
    return {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp / "net-snmp"), "HOME": str(tmp)}


@contextmanager
def snmp_stack(
    tmp: Path,
    units: int = 3,
    snmp: Mapping[str, Any] | None = None,
    models: Sequence[str] = ("C12B-12", "C12B-51", "C12B-73"),
    state_dir: Path | None = None,
    configured: Sequence[int] | None = None,
) -> Iterator[Stack]:
    """Fleet + store + poller + agent; every configured unit polled once. Unit 1 has a
    configured supervision band on channel ``FIXED_BAND_CHANNEL``.

    :param state_dir: the exporter's state directory (``tmp/state`` by default).
    :param configured: which fleet units (0-based) the config lists, in that order
        (all of them by default).
    """
    settings = parse_snmp_config(dict(snmp or snmp_config()), "snmp")
    assert settings is not None
    loop = LoopThread()
    fleet = loop.run(Fleet.start(units, models=models, speed=0.0, warmup_s=600, plugins=PLUGINS))
    chosen = range(units) if configured is None else configured
    configs = tuple(
        UnitConfig(
            fleet.units[i].name, fleet.units[i].address, supervision=FIXED_BAND if i == 0 else {}
        )
        for i in chosen
    )
    store = Store(configs, staleness_s=600)
    telemetry = Telemetry()
    poll = PollConfig(interval_s=60, timeout_s=2)
    poller = Poller(configs, PLUGINS, store, poll, telemetry)

    async def no_reload() -> str | None:
        return "the SNMP tests do not reload"

    history = loop.run(History.open(tmp / "history.sqlite3", store, 31 * 86400.0))
    context = ExposerContext(
        store, poller, telemetry, state_dir or tmp / "state", PLUGINS.hook,
        Config(configs, poll), no_reload, history=history, forecast=TripForecast(store),
    )  # fmt: skip
    agent: RunningAgent | None = None
    try:
        agent = loop.run(start_agent(settings, context))
        stack = Stack(loop, fleet, store, poller, agent, settings, tmp, context)
        stack.poll()
        yield stack
    finally:
        if agent is not None:
            loop.run(agent.stop())
        loop.run(poller.stop())
        loop.run(history.close())
        loop.run(fleet.stop())
        loop.close()


# --- the fast paths against pysnmp's own -------------------------------------------------


class Recorder:
    """Stands in for the asyncio datagram transport: keeps what pysnmp sends."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, address: Any = None) -> None:
        self.sent.append(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def both_paths(stack: Stack, packets: Sequence[bytes]) -> list[tuple[bytes | None, bytes | None]]:
    """(the fast path's answer, pysnmp's answer) to each packet, on the agent's loop."""
    transport: Any = stack.agent.transport
    fast = transport.fast
    assert fast is not None

    (uptime,) = [c for c in stack.agent.tree.columns if c.name == "sysUpTime"]
    ticking = uptime.scalar

    def run() -> list[tuple[bytes | None, bytes | None]]:
        real = transport.transport
        recorder = Recorder(real)
        transport.transport = recorder
        frozen = ticking() if ticking is not None else 0
        uptime.scalar = lambda: frozen  # the same sysUpTime.0 on both paths
        out = []
        try:
            for packet in packets:
                answer = fast(packet)
                recorder.sent.clear()
                transport._receive(packet, ("127.0.0.1", 9))
                out.append((answer, recorder.sent[0] if recorder.sent else None))
        finally:
            transport.transport = real
            uptime.scalar = ticking
        return out

    result: list[tuple[bytes | None, bytes | None]] = stack.call(run)
    return result


# --- reading net-snmp's output ------------------------------------------------------------

LINE = re.compile(r"^(?P<name>[A-Za-z][\w-]*::\S+)(\s+(?P<value>.*))?$")


def parse(output: str) -> dict[str, str]:
    """``-Oq`` lines (``MODULE::name.index value``) -> {``name.index``: value}."""
    values = {}
    for line in output.splitlines():
        match = LINE.match(line.strip())
        if match:
            value = (match.group("value") or "").strip()
            if value.startswith("No more variables left"):
                continue  # the walk ran past the agent's last object
            values[match.group("name").split("::")[-1]] = value[1:-1] if value[:1] == '"' else value
    return values


def scaled(text: str) -> int:
    """A value net-snmp printed with a ``d-N`` display hint, back to the integer sent."""
    text = text.strip()
    if "." not in text:
        return int(text)
    digits = len(text.split(".")[1])
    return round(float(text) * 10**digits)
