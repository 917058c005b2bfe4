"""``c12exporter events``, ``rcbo-log`` and ``job``: the history from the command line.

``events``, ``rcbo-log``, ``job report`` and ``job list`` read the database directly
(read-only; the exporter may be running or not). ``job start`` and ``job stop`` ask the
running exporter over its HTTP API (``POST /history/jobs``), since it is the exporter
that counts each poll's energy; its basic-auth password comes from the environment
variable ``C12_PASSWORD`` or ``--password-file``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

from ..config import load_config
from ..settings import ConfigError
from . import jobs, query, rcbo, report
from .api import HEADER
from .db import HistoryError, connect

DEFAULT_URL = "http://localhost:10120"
PASSWORD_ENV = "C12_PASSWORD"


def add_commands(commands: Any) -> None:
    """Add the commands to the ``c12exporter`` subparsers."""
    events = commands.add_parser("events", help="the state changes of a unit or the fleet")
    _database(events)
    _window(events)
    events.add_argument("--format", choices=report.FORMATS, default="table")
    events.add_argument(
        "--changes-only", action="store_true", help="leave out baselines (first seen states)"
    )
    events.set_defaults(func=_events)

    log = commands.add_parser("rcbo-log", help="RCBO test cycles and e-stop/switch/neutral events")
    _database(log)
    _window(log)
    log.add_argument("--format", choices=report.FORMATS, default="csv", help="(default: csv)")
    log.add_argument(
        "--due", action="store_true",
        help="instead: every channel with its last cycle, and whether its test is due",
    )  # fmt: skip
    log.set_defaults(func=_rcbo_log)

    job = commands.add_parser("job", help="energy per named job: start, stop, report, list")
    actions = job.add_subparsers(dest="job_command", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start counting a set of units under a name")
    start.add_argument("name")
    start.add_argument("--units", required=True, help="comma-separated unit names")
    _api(start)
    start.set_defaults(func=_job_change, action="start")
    stop = actions.add_parser("stop", help="stop a running job")
    stop.add_argument("name")
    _api(stop)
    stop.set_defaults(func=_job_change, action="stop")
    show = actions.add_parser("report", help="a job's energy, peak demand and maximum currents")
    show.add_argument("name")
    _database(show)
    show.add_argument("--format", choices=report.FORMATS, default="table")
    show.set_defaults(func=_job_report)
    listing = actions.add_parser("list", help="every job with its energy")
    _database(listing)
    listing.add_argument("--format", choices=report.FORMATS, default="table")
    listing.set_defaults(func=_job_list)


def _database(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--config.file", "--config", dest="config", metavar="FILE",
        help="the exporter's config file (as serve's --config.file)",
    )  # fmt: skip
    where.add_argument("--db", metavar="PATH", type=Path, help="the history database itself")


def _window(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--unit", help="only this unit (default: the fleet)")
    parser.add_argument("--since", metavar="T", help="ISO time or age, e.g. 2h, 7d")
    parser.add_argument("--until", metavar="T", help="ISO time or age (default: now)")


def _api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help="the exporter (default: %(default)s)")
    parser.add_argument("--user", help="basic-auth user (password: $C12_PASSWORD)")
    parser.add_argument("--password-file", type=Path, help="read the password from this file")


def _open(args: argparse.Namespace) -> sqlite3.Connection:
    if args.db is not None:
        path = Path(args.db)
    elif args.config is not None:
        path = load_config(args.config, args.plugins).history_path
    else:
        raise ConfigError("give --config.file FILE (the exporter's config) or --db PATH")
    return connect(path, create=False)


def _run(args: argparse.Namespace, work: Any) -> int:
    try:
        text: str = work()
    except HistoryError as error:
        print(f"c12exporter: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _times(args: argparse.Namespace) -> tuple[float | None, float | None]:
    now = time.time()
    since = None if args.since is None else query.parse_time(args.since, "--since", now)
    until = None if args.until is None else query.parse_time(args.until, "--until", now)
    if since is not None and until is not None and since > until:
        raise HistoryError("--since: it is after --until; swap them", "since")
    return since, until


def _events(args: argparse.Namespace) -> int:
    def work() -> str:
        since, until = _times(args)
        with closing(_open(args)) as conn:
            rows = query.event_rows(conn, args.unit, since, until, changes_only=args.changes_only)
        return report.render(rows, query.EVENT_COLUMNS, args.format)

    return _run(args, work)


def _rcbo_log(args: argparse.Namespace) -> int:
    def work() -> str:
        since, until = _times(args)
        with closing(_open(args)) as conn:
            if args.due:
                period = _period(args)
                rows = rcbo.due_rows(conn, args.unit, period, time.time())
                return report.render(rows, rcbo.DUE_COLUMNS, args.format)
            rows = rcbo.log_rows(conn, args.unit, since, until)
        return report.render(rows, rcbo.LOG_COLUMNS, args.format)

    return _run(args, work)


def _period(args: argparse.Namespace) -> float:
    if args.config is not None:
        return load_config(args.config, args.plugins).history.rcbo_test_period_s
    from ..limits import RCBO_TEST_PERIOD

    return RCBO_TEST_PERIOD.value


def _job_report(args: argparse.Namespace) -> int:
    def work() -> str:
        with closing(_open(args)) as conn:
            job = jobs.load_job(conn, args.name)
        return report.job_text(job.report(), args.format)

    return _run(args, work)


def _job_list(args: argparse.Namespace) -> int:
    def work() -> str:
        with closing(_open(args)) as conn:
            found = jobs.load_jobs(conn)
        rows = [
            {"job": j.name, "started_at": j.started_at, "stopped_at": j.stopped_at,
             "units": ",".join(j.units), "energy_kwh": j.report()["total"]["energy_kwh"]}  # type: ignore[index]
            for j in found
        ]  # fmt: skip
        columns = ("job", "started_at", "stopped_at", "units", "energy_kwh")
        return report.render(rows, columns, args.format)

    return _run(args, work)


def _job_change(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"action": args.action, "name": args.name}
    if args.action == "start":
        body["units"] = [u.strip() for u in args.units.split(",") if u.strip()]
    request = urllib.request.Request(
        args.url.rstrip("/") + "/history/jobs",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", HEADER: "1"},
    )
    if args.user:
        password = _password(args)
        token = base64.b64encode(f"{args.user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            text = error.read().decode(errors="replace")
        try:
            message = json.loads(text)["message"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {error.code}: {text.strip()[:200]}"
        if error.code == 401:
            message = f"wrong or no basic auth: give --user and ${PASSWORD_ENV} ({message})"
        print(f"c12exporter: job {args.action} refused: {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        print(f"c12exporter: cannot reach the exporter at {args.url}: {reason}", file=sys.stderr)
        return 1
    job = answer["job"]
    verb = "started" if args.action == "start" else "stopped"
    print(f"job {job['job']} {verb}: {', '.join(u['unit'] for u in job['units'])}")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"--password-file: cannot read it: {error.strerror}") from None
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        raise ConfigError(f"--user: set the password in ${PASSWORD_ENV} or --password-file")
    return password
