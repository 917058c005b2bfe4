"""``c12exporter events``, ``rcbo-log``, ``rcbo-record``, ``rcbo-test``, ``supply-check``,
``supply-log`` and ``job``: the history from the command line.

``events``, ``rcbo-log``, ``rcbo-record``, ``supply-log``, ``job report`` and ``job list``
read the database directly (read-only; the exporter may be running or not). ``job start``,
``job stop``, ``rcbo-test`` and ``supply-check`` ask the running exporter over its HTTP
API, since it is the exporter that reads the units at every poll; its basic-auth password
comes from the environment variable ``C12_PASSWORD`` or ``--password-file``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from ..config import load_config
from ..settings import ConfigError
from . import jobs, pages, query, rcbo, report, supply
from .client import PASSWORD_ENV, ClientError, call
from .db import HistoryError, connect
from .rcbo_session import TIMEOUT_S
from .recorder import written_session

DEFAULT_URL = "http://localhost:10120"
FOLLOW_S = 0.5
"""How often ``rcbo-test`` asks the exporter for the session's prompt."""


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
    which = log.add_mutually_exclusive_group()
    which.add_argument(
        "--due", action="store_true",
        help="instead: every channel with its last passed test, and whether a test is due",
    )  # fmt: skip
    which.add_argument(
        "--tests", action="store_true",
        help="instead: the tests of test sessions with their tester (--session: of one)",
    )  # fmt: skip
    log.add_argument("--session", type=_session_number, help="with --tests: one session")
    log.set_defaults(func=_rcbo_log)

    record = commands.add_parser("rcbo-record", help="an RCBO test session's record")
    record.add_argument("session", type=_session_number, metavar="SESSION")
    _database(record)
    record.add_argument(
        "--format", choices=("html", *report.FORMATS), default="html",
        help="html: a printable page (default); table, csv, json: its tests",
    )  # fmt: skip
    record.set_defaults(func=_rcbo_record)

    test = commands.add_parser(
        "rcbo-test", help="test a unit's RCBOs channel by channel, with a record"
    )
    test.add_argument("unit", metavar="UNIT")
    test.add_argument("--tester", required=True, help="the tester's name, for the record")
    test.add_argument(
        "--timeout", type=float, default=TIMEOUT_S, metavar="SECONDS",
        help="how long a prompted channel has to open before it fails (default: %(default)g)",
    )  # fmt: skip
    test.add_argument("--channels", help="comma-separated channels (default: all)")
    _api(test)
    test.set_defaults(func=_rcbo_test)

    check = commands.add_parser(
        "supply-check", help="with the switch off: is the supply safe to switch on?"
    )
    check.add_argument("unit", metavar="UNIT")
    check.add_argument("--format", choices=("text", "json"), default="text")
    _api(check)
    check.set_defaults(func=_supply_check)

    checks = commands.add_parser("supply-log", help="the supply checks done")
    _database(checks)
    _window(checks)
    checks.add_argument("--format", choices=report.FORMATS, default="table")
    checks.set_defaults(func=_supply_log)

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
    show.add_argument(
        "--format", choices=(*report.FORMATS, "html"), default="table",
        help="html: the printable show report, with charts, events, tests and supply checks",
    )  # fmt: skip
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


def _session_number(text: str) -> int:
    if not text.isdigit() or len(text) > 12:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a session number")
    return int(text)


def _rcbo_log(args: argparse.Namespace) -> int:
    def work() -> str:
        since, until = _times(args)
        with closing(_open(args)) as conn:
            if args.tests or args.session is not None:
                tests = rcbo.test_rows(conn, args.unit, since, until, args.session)
                return report.render(tests, rcbo.TEST_COLUMNS, args.format)
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


def _rcbo_record(args: argparse.Namespace) -> int:
    def work() -> str:
        with closing(_open(args)) as conn:
            state = written_session(conn, args.session)
            if args.format == "html":
                return pages.session_record(state)
            tests = rcbo.test_rows(conn, session=args.session)
        return report.render(tests, rcbo.TEST_COLUMNS, args.format)

    return _run(args, work)


def _supply_log(args: argparse.Namespace) -> int:
    def work() -> str:
        since, until = _times(args)
        with closing(_open(args)) as conn:
            checks = supply.load_checks(conn, args.unit, since, until)
        return report.render([c.row() for c in checks], supply.COLUMNS, args.format)

    return _run(args, work)


def _job_report(args: argparse.Namespace) -> int:
    def work() -> str:
        with closing(_open(args)) as conn:
            if args.format == "html":
                return pages.show_report(conn, args.name.strip())
            job = jobs.load_job(conn, args.name.strip())
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


def _auth(args: argparse.Namespace) -> tuple[str, str] | None:
    return (args.user, _password(args)) if args.user else None


def _job_change(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"action": args.action, "name": args.name}
    if args.action == "start":
        body["units"] = [u.strip() for u in args.units.split(",") if u.strip()]
    try:
        answer = call(args.url, "POST", "/history/jobs", body, _auth(args))
    except ClientError as error:
        print(f"c12exporter: job {args.action} refused: {error}", file=sys.stderr)
        return 1
    job = answer["job"]
    verb = "started" if args.action == "start" else "stopped"
    print(f"job {job['job']} {verb}: {', '.join(u['unit'] for u in job['units'])}")
    return 0


def _channels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--channels: {text[:40]!r} is not a list of channel numbers, e.g. 1,2,3"
        ) from None


def _rcbo_test(args: argparse.Namespace) -> int:
    """Start a session, print each prompt and result as the exporter sees them, until it
    is over (Ctrl-C stops it: the channels left are recorded as not tested)."""
    auth = _auth(args)
    body: dict[str, object] = {"action": "start", "unit": args.unit, "tester": args.tester,
                               "timeout_s": args.timeout}  # fmt: skip
    channels = _channels(args.channels)
    if channels is not None:
        body["channels"] = channels
    try:
        state = call(args.url, "POST", "/history/rcbo-tests", body, auth)["session"]
    except ClientError as error:
        print(f"c12exporter: rcbo-test refused: {error}", file=sys.stderr)
        return 2
    number = state["session"]
    print(f"RCBO test session {number} on {state['unit']} (serial {state['serial']}), "
          f"tester {state['tester']}; {state['timeout_s']:g} s per channel")  # fmt: skip
    shown_prompt, shown = "", 0
    try:
        while True:
            prompt = state["prompt"]
            text = "" if prompt is None else f"channel {prompt['channel']}: {prompt['message']}"
            if text and text != shown_prompt:
                print(text, flush=True)
                shown_prompt = text
            for result in state["results"][shown:]:
                print(f"  channel {result['channel']}: {result['result'].upper()} "
                      f"({result['detail']})", flush=True)  # fmt: skip
            shown = len(state["results"])
            if state["ended_at"] is not None:
                break
            time.sleep(FOLLOW_S)
            state = call(args.url, "GET", f"/history/rcbo-tests/{number}", None, auth)
    except KeyboardInterrupt:
        try:
            call(args.url, "POST", "/history/rcbo-tests", {"action": "stop", "unit": args.unit},
                 auth)  # fmt: skip
        except ClientError as error:
            print(f"c12exporter: could not stop the session: {error}", file=sys.stderr)
        print(f"session {number} stopped; the channels left are recorded as not tested")
        return 1
    except ClientError as error:
        print(f"c12exporter: lost the session: {error}", file=sys.stderr)
        return 2
    results = [r["result"] for r in state["results"]]
    passed = results.count("pass")
    print(f"session {number} done: {passed} of {len(results)} passed; the record: "
          f"c12exporter rcbo-record {number} or {args.url.rstrip('/')}/history/rcbo-tests/"
          f"{number}/record")  # fmt: skip
    return 0 if passed == len(results) else 1


def _supply_check(args: argparse.Namespace) -> int:
    """Exit 0: safe to switch on; 1: do not switch on; 2: no check was made."""
    try:
        answer = call(args.url, "POST", "/history/supply-checks", {"unit": args.unit},
                      _auth(args))["check"]  # fmt: skip
    except ClientError as error:
        print(f"c12exporter: supply-check refused: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(answer, indent=2))
    else:
        print(f"{answer['unit']}: {answer['verdict'].upper()}")
        readings = answer["readings"]
        volts = readings.get("voltage_v") or {}
        if volts:
            band = readings["voltage_band_v"]
            shown = ", ".join(
                f"{p} {'n/a' if v is None else f'{v:.1f} V'}" for p, v in volts.items()
            )
            print(f"  voltages: {shown} (allowed {band[0]:.0f}-{band[1]:.0f} V)")
        if readings.get("frequency_hz") is not None:
            low, high = readings["frequency_band_hz"]
            print(f"  frequency: {readings['frequency_hz']:.2f} Hz (allowed {low:.2f}-"
                  f"{high:.2f} Hz, supply: {readings['supply']})")  # fmt: skip
        for reason in answer["reasons"]:
            print(f"  do not switch on: {reason}")
        for note in answer["notes"]:
            print(f"  note: {note}")
    return 0 if answer["safe"] else 1


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
