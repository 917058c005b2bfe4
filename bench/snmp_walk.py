"""Benchmark: full snmpbulkwalks of the SNMP agent, against net-snmp's snmpd in the same run.

Not a test: it prints a Markdown table (for docs/snmp.md).

    .venv/bin/python bench/snmp_walk.py --units 100 1000 --repetitions 10 50

1. A few simulated units (all models) are polled once; their readings are copied to N
   unit names and recorded in a store, as the poller would (no Modbus during the walks).
2. The agent serves that store on a free loopback port; ``snmpbulkwalk`` walks all of
   C12-PDU-MIB (SNMPv2c, and SNMPv3 SHA-256/AES-128), once cold (every unit's cells
   built on the way, as after a poll of the whole fleet) and then warm (best of a few).
3. snmpd (Debian's ``snmpd``) on another free loopback port, with a minimal config,
   walked with the same options and protocol, each of its walks right after one of the
   agent's so that load from elsewhere falls on both: all of mib-2 (which includes
   tables it reads from /proc on demand, such as TCP connections; ``--snmpd-trees
   hrSWInstalledTable`` leaves it out) and hrSWInstalledTable (served from a cache:
   snmpd at its fastest).
   Each row also gives the CPU the agent's process and snmpd spent per varbind over all
   their walks of the row (from ``time.process_time`` and /proc/PID/stat): less moved by
   other load than the rates, though snmpd's counts in 10 ms ticks.
4. The SNMP table's CPU per recorded reading (in process, no network): its store
   listener, the first Get of one cell of a unit after its poll, and the cells of a whole
   unit built by a walk after its poll (the walk's extra time over a warm walk).

The agent and the walking tool share the machine's two cores, as do snmpd and its tool.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from c12exporter.exposer import ExposerContext
from c12exporter.plugins import load_plugins
from c12exporter.poller import Poller
from c12exporter.settings import Config, PollConfig, UnitConfig
from c12exporter.simulator.server import Fleet
from c12exporter.snmp import answers, ber
from c12exporter.snmp.agent import RunningAgent, start_agent
from c12exporter.snmp.config import parse_snmp_config
from c12exporter.store import Change, Store
from c12exporter.telemetry import Telemetry

COMMUNITY = "bench"
USER = {"name": "bench", "auth_key": "bench-auth-key", "priv_key": "bench-priv-key"}
SNMPD_TREES = {"mib-2": "SNMPv2-SMI::mib-2", "hrSWInstalledTable": "SNMPv2-SMI::mib-2.25.6.3"}
"""By name (Debian's net-snmp lacks HOST-RESOURCES-MIB, hence the arcs under mib-2)."""
SAMPLE_UNITS = 8
PLUGINS = load_plugins(entry_points=False)


@dataclasses.dataclass
class Walk:
    varbinds: int
    seconds: float
    cpu_s: float = 0.0
    """CPU the answering process spent during the walk."""

    @property
    def rate(self) -> float:
        return self.varbinds / self.seconds


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bulkwalk(
    target: str,
    credentials: list[str],
    root: str,
    repetitions: int,
    cpu: Callable[[], float] = time.process_time,
) -> Walk:
    """One walk, timed; ``cpu`` reads the answering process's CPU seconds."""
    command = [
        "snmpbulkwalk", "-On", "-Oq", "-t", "10", "-r", "0", f"-Cr{repetitions}",
        *credentials, target, root,
    ]  # fmt: skip
    started, cpu_started = time.perf_counter(), cpu()
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    seconds, cpu_s = time.perf_counter() - started, cpu() - cpu_started
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed: {err.decode()[-500:]}")
    lines = [line for line in out.decode().splitlines() if "No more variables" not in line]
    return Walk(len(lines), seconds, cpu_s)


def process_cpu(pid: int) -> Callable[[], float]:
    """Another process's CPU seconds (user and system), from /proc (in clock ticks)."""
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return read


def cpu_per_varbind(walks: list[Walk]) -> float:
    """The server's CPU microseconds per varbind over several walks."""
    return sum(w.cpu_s for w in walks) * 1e6 / sum(w.varbinds for w in walks)


async def fleet_readings() -> list[object]:
    """Readings of a few simulated units (every model), polled once over Modbus."""
    fleet = await Fleet.start(SAMPLE_UNITS, speed=0.0, warmup_s=3600, plugins=PLUGINS)
    try:
        units = tuple(UnitConfig(u.name, u.address) for u in fleet.units)
        store = Store(units, 3600)
        poller = Poller(units, PLUGINS, store, PollConfig(interval_s=60, timeout_s=5))
        for unit in units:
            await poller.poll_unit(unit.name)
        await poller.stop()
        return [state.reading for state in store]
    finally:
        await fleet.stop()


async def agent_for(
    units: int, samples: list[object], state_dir: Path
) -> tuple[RunningAgent, Store]:
    configs = tuple(UnitConfig(f"pdu-{i:04d}", f"127.0.0.1:{10000 + i}") for i in range(units))
    store = Store(configs, staleness_s=24 * 3600)
    for i, config in enumerate(configs):
        reading = dataclasses.replace(samples[i % len(samples)], unit=config.name)  # type: ignore[type-var]
        store.record_success(config.name, reading, 0.01)  # type: ignore[arg-type]
    settings = parse_snmp_config(
        {"listen_address": "127.0.0.1:0", "community": COMMUNITY, "users": [USER]}, "snmp"
    )
    assert settings is not None
    poll = PollConfig()
    telemetry = Telemetry()
    poller = Poller(configs, PLUGINS, store, poll, telemetry)

    async def no_reload() -> str | None:
        return "the benchmark does not reload"

    context = ExposerContext(
        store, poller, telemetry, state_dir, PLUGINS.hook, Config(configs, poll), no_reload
    )
    return await start_agent(settings, context), store


def cpu_per_poll(agent: RunningAgent, store: Store) -> dict[str, float]:
    """CPU microseconds per recorded reading that the SNMP table costs: its listener
    alone, then the first Get of one cell, or of every cell, of each polled unit."""
    tree = agent.tree
    states = list(store)
    now = time.time()
    names = {c.name: c for c in tree.columns}
    sample = [names["c12UnitReachability"], names["c12ChannelCurrent"]]

    def everything(column: object) -> bool:
        return True

    def polled() -> None:
        for state in states:
            store.record_success(state.config.name, state.reading, 0.01)  # type: ignore[arg-type]

    def walk() -> int:
        name, found = tree.mib.root, 0
        while True:
            out = answers.get_bulk(tree, [name], 0, 2048, everything, now, 10**9)
            found += len(out)
            if len(out) < 2048:
                return found
            _, start, _ = ber.read(out[-1], 0)
            _, start, end = ber.read(out[-1], start)
            name = ber.read_oid(out[-1], start, end)

    def cpu(action: Callable[[], object]) -> float:
        started = time.process_time()
        action()
        return (time.process_time() - started) * 1e6 / len(states)

    changes = [Change(state, state.reading, state.reading) for state in states]

    def listen() -> None:
        for change in changes:
            tree.on_change(change)

    listener = min(cpu(listen) for _ in range(5))
    polled()
    one_cell = cpu(lambda: [tree.get((*sample[0].oid, i), everything, now) for i in tree._order])
    polled()
    two_cells = cpu(
        lambda: [tree.get((*c.oid, i, 1), everything, now) for i in tree._order for c in sample]
    )
    walk()
    warm = min(cpu(walk) for _ in range(3))
    polled()
    cold = cpu(walk)
    return {
        "listener": listener,
        "one cell": one_cell,
        "two cells": two_cells,
        "whole unit": cold - warm,
        "warm walk": warm,
    }


PROTOCOLS = ("SNMPv2c", "SNMPv3 authPriv")
V3 = [
    "-v3", "-l", "authPriv", "-u", USER["name"], "-a", "SHA-256", "-A", USER["auth_key"],
    "-x", "AES", "-X", USER["priv_key"],
]  # fmt: skip


@contextlib.asynccontextmanager
async def snmpd(tmp: Path) -> AsyncIterator[tuple[str, Callable[[], float]]]:
    """Debian's snmpd on a free loopback port, answering: its target for net-snmp's
    tools, and its CPU seconds."""
    binary = shutil.which("snmpd") or "/usr/sbin/snmpd"
    port = free_udp_port()
    conf = tmp / "snmpd.conf"
    conf.write_text(
        f"rocommunity {COMMUNITY} 127.0.0.1\n"
        f"createUser {USER['name']} SHA-256 {USER['auth_key']} AES {USER['priv_key']}\n"
        f"rouser {USER['name']} priv\n",
        encoding="utf-8",
    )
    env = {**os.environ, "SNMP_PERSISTENT_DIR": str(tmp / "snmpd-state")}
    proc = await asyncio.create_subprocess_exec(
        binary, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(tmp / "snmpd.pid"),
        f"udp:127.0.0.1:{port}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    target = f"udp:127.0.0.1:{port}"
    try:
        for _ in range(50):
            probe = await asyncio.create_subprocess_exec(
                "snmpget", "-t", "0.2", "-r", "0", "-v2c", "-c", COMMUNITY, target,
                "SNMPv2-MIB::sysUpTime.0",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            if await probe.wait() == 0:
                break
        yield target, process_cpu(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()


@dataclasses.dataclass
class Row:
    units: int
    protocol: str
    repetitions: int
    agent: Walk
    snmpd: dict[str, Walk]
    agent_cpu_us: float
    """The agent's CPU per varbind over all its walks of the row."""
    snmpd_cpu_us: dict[str, float]


async def side_by_side(
    agent: RunningAgent,
    snmpd_at: tuple[str, Callable[[], float]],
    trees: list[str],
    repetitions: list[int],
    runs: int,
) -> list[Row]:
    """For each protocol and step, the agent's walk and snmpd's walks of ``trees`` in
    turns, so that load from elsewhere falls on both; the best of ``runs`` of each, and
    each server's CPU per varbind over them (less moved by other load than time)."""
    snmpd_target, snmpd_cpu = snmpd_at
    v2c = agent.credentials(secrets=True)
    v3 = agent.credentials(USER["name"], secrets=True)
    root = f".{'.'.join(map(str, agent.tree.mib.root))}"
    rows = []
    for reps in repetitions:
        for label, credentials, options in zip(
            PROTOCOLS, (v2c, v3), (["-v2c", "-c", COMMUNITY], V3), strict=True
        ):
            ours: list[Walk] = []
            theirs: dict[str, list[Walk]] = {name: [] for name in trees}
            for _ in range(runs):
                ours.append(await bulkwalk(agent.target, credentials, root, reps))
                for name in trees:
                    walk = await bulkwalk(snmpd_target, options, SNMPD_TREES[name], reps, snmpd_cpu)
                    theirs[name].append(walk)
            rows.append(
                Row(
                    len(agent.tree),
                    label,
                    reps,
                    min(ours, key=lambda w: w.seconds),
                    {name: min(w, key=lambda w: w.seconds) for name, w in theirs.items()},
                    cpu_per_varbind(ours),
                    {name: cpu_per_varbind(w) for name, w in theirs.items()},
                )
            )
    return rows


async def main(args: argparse.Namespace) -> None:
    samples = await fleet_readings()
    trees: list[str] = args.snmpd_trees
    rows: list[Row] = []
    memory: dict[int, float] = {}
    colds: dict[int, Walk] = {}
    per_poll: dict[int, dict[str, float]] = {}
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        async with snmpd(Path(tmp)) as snmpd_at:
            for name in trees:  # warm its caches
                await bulkwalk(snmpd_at[0], ["-v2c", "-c", COMMUNITY], SNMPD_TREES[name], 10)
            for units in args.units:
                with tempfile.TemporaryDirectory() as state_dir:
                    agent, store = await agent_for(units, samples, Path(state_dir))
                    try:
                        v2c = agent.credentials(secrets=True)
                        root = f".{'.'.join(map(str, agent.tree.mib.root))}"
                        colds[units] = await bulkwalk(agent.target, v2c, root, args.repetitions[-1])
                        memory[units] = rss_mib()
                        per_poll[units] = cpu_per_poll(agent, store)
                        rows += await side_by_side(
                            agent, snmpd_at, trees, args.repetitions, args.runs
                        )
                    finally:
                        await agent.stop()
                load.append(os.getloadavg()[0])
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; best of {args.runs} walks, "
        f"the agent's and snmpd's in turns; load average (1 min) "
        f"{', '.join(f'{x:.1f}' for x in load)} (start, after each fleet size).\n"
    )
    head = "| units | protocol | -Cr | varbinds | agent s | agent varbinds/s |"
    head += "".join(f" snmpd {name} varbinds/s | ratio |" for name in trees)
    head += " agent CPU µs/varbind |"
    head += "".join(f" snmpd {name} CPU µs/varbind | CPU ratio |" for name in trees)
    print(head)
    print("|---:|---|---:|---:|---:|---:|" + "---:|---:|" * len(trees) * 2 + "---:|")
    for row in rows:
        walk = row.agent
        line = (
            f"| {row.units} | {row.protocol} | {row.repetitions} | {walk.varbinds} | "
            f"{walk.seconds:.2f} | {walk.rate:,.0f} |"
        )
        for name in trees:
            theirs = row.snmpd[name]
            line += f" {theirs.rate:,.0f} | {walk.rate / theirs.rate:.2f} |"
        line += f" {row.agent_cpu_us:.1f} |"
        for name in trees:
            theirs_us = row.snmpd_cpu_us[name]
            line += f" {theirs_us:.1f} | {theirs_us / row.agent_cpu_us:.2f} |"
        print(line)
    print()
    for units, cold in colds.items():
        print(
            f"- {units} units, first walk after every unit changed (cells built on the way), "
            f"SNMPv2c -Cr{args.repetitions[-1]}: {cold.varbinds} varbinds in {cold.seconds:.2f} s "
            f"({cold.rate:,.0f}/s); process RSS then {memory[units]:.0f} MiB"
        )
    for name in trees:
        counts = sorted({row.snmpd[name].varbinds for row in rows})
        print(f"- snmpd {name} ({SNMPD_TREES[name]}): {counts} varbinds per walk")
    print(
        f"- median agent rate over all rows: {statistics.median(r.agent.rate for r in rows):,.0f}/s"
    )
    for units, cost in per_poll.items():
        print(
            f"- {units} units, SNMP CPU per recorded reading: listener {cost['listener']:.1f} µs; "
            f"then a Get of one cell {cost['one cell']:.0f} µs, of a unit's and a channel's "
            f"cell {cost['two cells']:.0f} µs, a walk of all its cells {cost['whole unit']:.0f} µs "
            f"more than a warm walk ({cost['warm walk']:.0f} µs a unit)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repetitions", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--runs", type=int, default=3, help="walks per figure; the best counts")
    parser.add_argument(
        "--snmpd-trees",
        nargs="+",
        choices=list(SNMPD_TREES),
        default=list(SNMPD_TREES),
        help="what of snmpd's to walk (mib-2 reads sockets from /proc: slow on a busy host)",
    )
    asyncio.run(main(parser.parse_args()))
