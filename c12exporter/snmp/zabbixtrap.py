"""``c12exporter zabbix-trap --file PATH``: a trap handler of snmptrapd that writes the
SNMP trap file Zabbix's SNMP trapper reads.

snmptrapd runs it once per notification (``traphandle default c12exporter zabbix-trap
--file PATH``) and writes the notification on its stdin: the sender's host name, its
transport address (``UDP: [127.0.0.1]:47573->[127.0.0.1]:162``), then one ``OID VALUE``
line per varbind. This appends one record in the layout of Zabbix's own
``zabbix_trap_receiver.pl``: a line ``<time> ZBXTRAP <address>``, by whose address the
server finds the hosts with that SNMP interface, then the PDU info and the varbinds.
Everything after the header is the value the server matches ``snmptrap[regex]`` items
against.

The server splits the file at every ``ZBXTRAP``: a varbind holding that word (a channel
name is set over SNMP or the web) would start a forged record, so it is written
``ZBX_TRAP`` in the body. Writers take an exclusive ``flock`` on the file, so records of
concurrent handlers never interleave. With ``--max-size``, a file that would grow past
it is renamed to ``PATH.1`` first; the server notices the new inode, reads the rest of
the old file and goes on with the new one.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HEADER_WORD = "ZBXTRAP"
ESCAPED_WORD = "ZBX_TRAP"
DATE_FORMAT = "%H:%M:%S %Y/%m/%d"
"""zabbix_trap_receiver.pl's default; the server ignores what precedes ``ZBXTRAP``."""
BRACKETED = re.compile(r"\[([^\]]+)\]")
LOCK_ATTEMPTS = 5
"""How often to reopen the file when it was rotated while waiting for the lock."""


class TrapInputError(ValueError):
    """snmptrapd's input is not a notification."""


@dataclass(frozen=True)
class Notification:
    """One notification as snmptrapd hands it to a trap handler."""

    hostname: str
    received_from: str
    varbinds: tuple[tuple[str, str], ...]

    @property
    def address(self) -> str:
        """The sender's IP address: the first bracketed part of the transport address
        (``UDP: [127.0.0.1]:47573->...``, ``UDP/IPv6: [::1]:...``), else the host name."""
        match = BRACKETED.search(self.received_from)
        return match.group(1) if match else self.hostname


def parse(text: str) -> Notification:
    """Read snmptrapd's traphandle input.

    :raises TrapInputError: fewer than two lines, or no varbind.
    """
    lines = text.splitlines()
    if len(lines) < 3 or not lines[0].strip():
        raise TrapInputError(
            "expected snmptrapd's traphandle input on stdin (host name, transport address, "
            f"then one 'OID VALUE' line per varbind), got {len(lines)} line(s)"
        )
    varbinds = []
    for line in lines[2:]:
        if line.strip():
            oid, _, value = line.strip().partition(" ")
            varbinds.append((oid, value.strip()))
    return Notification(lines[0].strip(), lines[1].strip(), tuple(varbinds))


def _body(text: str) -> str:
    return text.replace(HEADER_WORD, ESCAPED_WORD)


def record(notification: Notification, now: float | None = None) -> str:
    """The notification as one record of Zabbix's SNMP trap file."""
    stamp = time.strftime(DATE_FORMAT, time.localtime(now))
    address = notification.address
    if not address or any(c.isspace() for c in address):
        address = "unknown"
    lines = [
        f"{stamp} {HEADER_WORD} {address}",
        "PDU INFO:",
        f"  {'hostname':<30} {_body(notification.hostname)}",
        f"  {'receivedfrom':<30} {_body(notification.received_from)}",
        "VARBINDS:",
        *(f"  {_body(oid):<30} {_body(value)}" for oid, value in notification.varbinds),
    ]
    return "\n".join(lines) + "\n"


def append(path: Path, text: str, max_size: int = 0) -> None:
    """Append ``text`` under an exclusive lock, rotating the file first when it would
    grow past ``max_size`` bytes (0: never).

    :raises OSError: the file cannot be opened, locked or written.
    """
    data = text.encode("utf-8", errors="replace")
    for _ in range(LOCK_ATTEMPTS):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_ino != _inode(path):
                continue  # another writer rotated it while we waited: write to the new one
            if max_size and os.fstat(fd).st_size and os.fstat(fd).st_size + len(data) > max_size:
                os.replace(path, path.with_name(path.name + ".1"))
                continue
            os.write(fd, data)
            return
        finally:
            os.close(fd)  # also releases the lock
    raise OSError(f"{path} kept being rotated while waiting for its lock")


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return -1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", type=Path, required=True, metavar="PATH",
        help="Zabbix's SNMPTrapperFile (the server's zabbix_server.conf names it)",
    )  # fmt: skip
    parser.add_argument(
        "--max-size", type=int, default=0, metavar="BYTES",
        help="rename the file to PATH.1 before it grows past this size (default: never)",
    )  # fmt: skip


def main(argv: Sequence[str]) -> int:
    """``c12exporter zabbix-trap ARGS``, parsed here alone (see :func:`c12exporter.cli.main`)."""
    parser = argparse.ArgumentParser(
        prog="c12exporter zabbix-trap",
        description="snmptrapd trap handler: append the notification to Zabbix's SNMP trap file",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    text = sys.stdin.read()
    try:
        notification = parse(text)
        append(args.file, record(notification), args.max_size)
    except TrapInputError as error:
        print(f"c12exporter zabbix-trap: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"c12exporter zabbix-trap: cannot append to {args.file}: "
            f"{error.strerror or error}; check the path and that snmptrapd's user may write it",
            file=sys.stderr,
        )
        return 1
    return 0
