"""``c12exporter advise UNIT``: read one unit now and say how to even its phases.

``UNIT`` is a unit's name in the config (``--config.file``) or a ``host:port`` address.
Prints the line currents, the NEMA unbalance and the moves of one load to a free channel
on another phase that reduce it, best first (see :mod:`c12exporter.balance`). Exit 0
with advice or when balanced, 1 when the unit cannot be read, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from . import balance
from .config import load_config
from .poller import Poller
from .reading import Reading
from .resolve import printable
from .settings import ConfigError, PollConfig, UnitConfig
from .store import Store

DEFAULT_TIMEOUT_S = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("unit", metavar="UNIT", help="a unit's name in the config, or host:port")
    parser.add_argument(
        "--config.file", dest="config_file", metavar="FILE",
        help="the exporter's config: UNIT is looked up there by name (with its phases:)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for the unit (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--top", type=int, default=3, help="moves to list (default: 3)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0 or args.top < 1:
        print("c12exporter advise: --timeout > 0 and --top >= 1", file=sys.stderr)
        return 2
    unit = _unit(args)
    reading, problem = asyncio.run(_read(unit, args))
    if reading is None:
        print(
            printable(f"c12exporter advise: unit {unit.name}: cannot be read: {problem}"),
            file=sys.stderr,
        )
        return 1
    moves = balance.ranked_moves(reading)[: args.top]
    if args.format == "json":
        print(json.dumps(as_json(reading, moves), indent=2))
    else:
        print(as_text(reading, moves))
    return 0


def _unit(args: argparse.Namespace) -> UnitConfig:
    if args.config_file is None:
        return UnitConfig(name=args.unit, address=args.unit)
    config = load_config(args.config_file, args.plugins)
    for unit in config.units:
        if unit.name == args.unit:
            return unit
    raise ConfigError(
        f"{args.config_file}: no unit named {args.unit!r} in units:; "
        "give a configured name or a host:port without --config.file"
    )


async def _read(unit: UnitConfig, args: argparse.Namespace) -> tuple[Reading | None, str]:
    poll = PollConfig(timeout_s=args.timeout)
    store = Store((unit,), poll.staleness_limit_s)
    poller = Poller((unit,), args.plugins, store, poll)
    try:
        await poller.poll_unit(unit.name)
    except ValueError as error:
        return None, str(error)
    finally:
        await poller.stop()
    state = store.get(unit.name)
    if state is not None and state.reading is not None:
        return state.reading, ""
    failure = state.last_error if state is not None else None
    return None, f"{failure.reason}: {failure.message}" if failure else "no answer"


def as_text(reading: Reading, moves: list[balance.Move]) -> str:
    """The advice for a terminal: every line escaped, since unit and channel names come
    from the unit and an escape sequence in one would drive the terminal."""
    return "\n".join(printable(line) for line in _text_lines(reading, moves))


def _text_lines(reading: Reading, moves: list[balance.Move]) -> list[str]:
    currents = balance.line_currents(reading)
    lines = [f"unit {reading.unit}"]
    if currents is None:
        return [*lines, "the meter did not measure every line: no advice"]
    lines.append("line currents: " + ", ".join(f"{p} {a:.1f} A" for p, a in currents.items()))
    now = balance.reading_unbalance(reading)
    if now is None:
        lines.append(f"unbalance: not judged (mean under {balance.MEAN_CURRENT_MIN_A:g} A)")
        return lines
    lines.append(f"unbalance (NEMA): {now:.1%}")
    if not moves:
        lines.append("no single move of a load to a free channel reduces it")
    for rank, move in enumerate(moves, 1):
        after = ", ".join(f"{p} {a:.1f} A" for p, a in move.currents_after.items())
        lines.append(f"{rank}. {move.describe()} ({after})")
    return lines


def as_json(reading: Reading, moves: list[balance.Move]) -> dict[str, Any]:
    return {
        "unit": reading.unit,
        "line_currents_a": balance.line_currents(reading),
        "unbalance": balance.reading_unbalance(reading),
        "moves": [
            {
                "channel": m.channel.number,
                "channel_name": m.channel.name,
                "phase": m.phase,
                "to_channel": m.to_channel.number,
                "to_phase": m.to_phase,
                "current_a": m.current_a,
                "unbalance_after": m.unbalance_after,
                "line_currents_after_a": m.currents_after,
            }
            for m in moves
        ],
    }
