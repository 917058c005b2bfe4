"""``c12exporter discover NETWORK... [--port 502] [--output FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path

from ..plugins import load_plugins
from ..resolve import printable
from .configfile import existing_serials, write_config
from .scan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_PORT,
    DEFAULT_RATE,
    DEFAULT_TIMEOUT_S,
    Finding,
    Outcome,
    confirm_serials,
    endpoint,
    scan,
    serial_conflicts,
)
from .targets import TargetError, parse_targets


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "networks", nargs="+", metavar="NETWORK",
        help="what to scan: 10.0.3.0/24, 10.0.3.10-40, 10.0.3.7 (several allowed)",
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="(default: %(default)s)")
    parser.add_argument(
        "--output", type=Path, metavar="FILE",
        help="write the units found into this config (merged into it if it exists)",
    )  # fmt: skip
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY,
        help="addresses asked at once (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE,
        help="new connections per second at most (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S,
        help="seconds to wait for an answer (default: %(default)s)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        hosts = parse_targets(args.networks)
    except TargetError as error:
        print(f"c12exporter discover: {error}", file=sys.stderr)
        return 2
    if not 0 < args.port < 65536 or args.concurrency < 1 or args.timeout <= 0:
        print("c12exporter discover: --port 1..65535, --concurrency >= 1, --timeout > 0",
              file=sys.stderr)  # fmt: skip
        return 2
    addresses = [endpoint(h, args.port) for h in hosts]
    findings = asyncio.run(_scan(addresses, args))
    findings = asyncio.run(_checked(findings, args))
    _report(findings)
    if args.output is not None:
        merge = write_config(args.output, findings)
        print(printable(
            f"{args.output}: {len(merge.added)} added ({', '.join(merge.added) or 'none'}), "
            f"{len(merge.moved)} moved, {len(merge.kept)} unchanged"
        ))  # fmt: skip
        for name, before, after in merge.moved:
            print(printable(f"  {name}: {before} -> {after}"))
    return 0


async def _checked(findings: list[Finding], args: argparse.Namespace) -> list[Finding]:
    """Two addresses claiming one serial, and a serial that changes between connections,
    are reported, not written (see :mod:`.scan`); the config's units keep their own."""
    bound: dict[str, str] = {}
    if args.output is not None:
        bound = existing_serials(args.output)
    findings = serial_conflicts(findings, bound.get)
    return await confirm_serials(
        load_plugins(), findings, args.timeout, args.concurrency, bound.__contains__
    )


async def _scan(addresses: list[str], args: argparse.Namespace) -> list[Finding]:
    resolver = load_plugins()
    options = {"concurrency": args.concurrency, "rate": args.rate, "timeout_s": args.timeout}
    if not sys.stderr.isatty():
        return await scan(resolver, addresses, on_finding=_PlainProgress(len(addresses)), **options)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("scanning"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[found]} units found"), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("scan", total=len(addresses), found=0)
        found = 0

        def advance(finding: Finding) -> None:
            nonlocal found
            found += finding.is_unit
            progress.update(task, advance=1, found=found)

        return await scan(resolver, addresses, on_finding=advance, **options)


class _PlainProgress:
    """A line on stderr at every tenth of the scan, for logs and pipes."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.found = total, 0, 0
        self.step = max(1, total // 10)

    def __call__(self, finding: Finding) -> None:
        self.done += 1
        self.found += finding.is_unit
        if self.done % self.step == 0 or self.done == self.total:
            print(f"scanned {self.done}/{self.total}: {self.found} units found",
                  file=sys.stderr, flush=True)  # fmt: skip


def _describe(finding: Finding) -> str:
    """One line for the terminal, escaped: what a device says of itself could otherwise
    set the title, clear the screen or print a summary of its own."""
    if finding.is_unit and finding.identity is not None:
        i = finding.identity
        line = f"{finding.address}: {i.model}, serial {i.serial}, firmware {i.firmware}"
    else:
        line = f"{finding.address}: skipped ({finding.outcome.value}): {finding.reason}"
    return printable(line)


def _report(findings: list[Finding]) -> None:
    for finding in findings:
        if finding.outcome is not Outcome.REFUSED:
            print(_describe(finding))
    counts = Counter(f.outcome for f in findings)
    parts = [f"{counts[o]} {o.value}" for o in Outcome if counts[o] and o is not Outcome.READABLE]
    print(
        f"scanned {_counted(len(findings), 'address', 'addresses')}: "
        f"{_counted(counts[Outcome.READABLE], 'unit', 'units')} found"
        + (f"; skipped {', '.join(parts)}" if parts else "")
    )


def _counted(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"
