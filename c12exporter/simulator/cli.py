"""The ``c12exporter simulate`` command: a simulated fleet plus its control interface.

``c12exporter.cli`` adds these arguments to its ``simulate`` sub-command and runs
:func:`run`; ``python -m c12exporter.simulator`` runs the same thing on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools

from ..addresses import split_host_port
from ..lifecycle import Signals
from ..model import ModelError
from .control import DEFAULT_CONTROL_PORT, ControlServer
from .decoys import parse_decoy
from .scenarios import DEFAULT_SCENARIO, SCENARIOS
from .server import (
    DEFAULT_HOST,
    DEFAULT_MODELS,
    DEFAULT_UNITS,
    Fleet,
    SimulatorError,
    check_loopback,
)

DEFAULT_UNITS_FILE = "sim-units.yml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to ``parser``."""
    parser.add_argument(
        "--units", type=int, default=DEFAULT_UNITS, help="number of simulated units (%(default)s)"
    )
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated model names, cycled over the units (default: %(default)s)",
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        default=DEFAULT_SCENARIO,
        help="load scenario (%(default)s): "
        + "; ".join(f"{s.name}: {s.description}" for s in SCENARIOS.values()),
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed: same seed, same fleet (%(default)s)"
    )
    parser.add_argument(
        "--listen-host",
        default=DEFAULT_HOST,
        help="loopback address the units listen on (%(default)s)",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=0,
        help="unit n listens on base-port + n - 1; 0 = any free ports (%(default)s)",
    )
    parser.add_argument(
        "--addresses",
        metavar="CIDR",
        help="put unit n on the n-th host address of this loopback network, all on --port "
        "(127.0.3.0/24: 127.0.3.1, 127.0.3.2, ...)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the units' port with --addresses (e.g. 502)"
    )
    parser.add_argument(
        "--decoy",
        action="append",
        default=[],
        metavar="KIND:HOST",
        help="also run a device that is not a readable unit on HOST:--port, for discovery to skip: "
        "other (another vendor's Modbus device), c12a, silent (accepts, never answers); "
        "repeatable",
    )
    parser.add_argument(
        "--units-file",
        default=DEFAULT_UNITS_FILE,
        help="where to write the exporter config listing the units (%(default)s)",
    )
    parser.add_argument(
        "--control-address",
        default=f"{DEFAULT_HOST}:{DEFAULT_CONTROL_PORT}",
        help="loopback host:port of the HTTP control interface (%(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start the physics this far in: the units have been on this long, so even a "
        "frozen fleet has uptime, energy and, from 900 s, demand (%(default)s)",
    )
    parser.add_argument(
        "--phases",
        metavar="LIST",
        help="the channels' phases of every unit, when wired otherwise than the model: "
        "3 as a rotation (L2,L3,L1: ch1 L2, ch2 L3, ch3 L1, ch4 L2 ...) or one per channel "
        "(12 for a C12B); the units file lists them as each unit's phases:",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="physics seconds per real second; 60 = a minute per second, 0 = frozen (%(default)s)",
    )


async def run(args: argparse.Namespace) -> None:
    """Run the fleet and its control interface until SIGINT or SIGTERM."""
    signals = Signals()
    models = [m.strip() for m in str(args.models).split(",") if m.strip()]
    try:
        control_host, control_port = split_host_port(args.control_address, DEFAULT_CONTROL_PORT)
        fleet = Fleet.build(
            args.units,
            models=models,
            scenario_name=args.scenario,
            seed=args.seed,
            host=args.listen_host,
            base_port=args.base_port,
            speed=args.speed,
            warmup_s=args.warmup,
            phases=None if args.phases is None else str(args.phases).split(","),
        )
        if args.addresses:
            place_on_addresses(fleet, args.addresses, args.port)
        decoys = [parse_decoy(spec, args.port) for spec in args.decoy]
        control = ControlServer(fleet, control_host, control_port)
    except (SimulatorError, ModelError, ValueError) as error:
        raise SystemExit(f"c12exporter simulate: {error}") from None
    try:
        try:
            # The control port first: a unit on "any free port" must not take it.
            await control.start()
            await fleet.open(args.units_file)
            for decoy in decoys:
                await decoy.start()
        except (SimulatorError, OSError) as error:
            raise SystemExit(f"c12exporter simulate: {error}") from None
        print(
            f"{len(fleet.units)} simulated units ({fleet.scenario.name}, seed {fleet.seed}, "
            f"speed {fleet.clock.speed:g}) on {args.listen_host}; units listed in "
            f"{args.units_file}; control interface {control.url}",
            flush=True,
        )
        for decoy in decoys:
            print(f"decoy {decoy.kind} on {decoy.address}", flush=True)
        await signals.stopped()
    finally:
        for decoy in decoys:
            await decoy.stop()
        await control.stop()
        await fleet.stop()


def place_on_addresses(fleet: Fleet, cidr: str, port: int) -> None:
    """Unit n on the n-th host address of ``cidr``, all on ``port``.

    :raises SimulatorError: not loopback, too few addresses, or no port.
    """
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError as error:
        raise SimulatorError(f"--addresses {cidr!r}: {error}") from None
    if not 0 < port < 65536:
        raise SimulatorError("--addresses needs --port (1..65535): every unit listens on it")
    hosts = itertools.islice(network.hosts(), len(fleet.units))
    placed = 0
    for unit, host in zip(fleet.units, hosts, strict=False):
        check_loopback(str(host))
        unit.host, unit.port = str(host), port
        placed += 1
    if placed < len(fleet.units):
        raise SimulatorError(
            f"--addresses {cidr}: {placed} host addresses for {len(fleet.units)} units"
        )


def main(argv: list[str] | None = None) -> None:
    """``python -m c12exporter.simulator``: the simulate command on its own."""
    parser = argparse.ArgumentParser(
        prog="python -m c12exporter.simulator", description="Run a simulated fleet."
    )
    add_arguments(parser)
    asyncio.run(run(parser.parse_args(argv)))
