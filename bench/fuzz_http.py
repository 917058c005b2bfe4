"""Fuzzer: every HTTP route of a running exporter against hostile requests.

A real exporter (basic auth on, the console with edits, the history) serves on loopback
and polls simulated units over Modbus TCP. Hypothesis draws requests to every route its
router holds (the plugins' routes included, read from the running app, so a new route is
fuzzed without being listed here): any method, the route's path with its parameters
filled with real names or anything (percent-encoded junk, bytes that are not UTF-8,
``..``), random query strings, headers (``Authorization`` right, wrong or malformed,
the console's CSRF header and edit token or not, ``Origin``, ``Content-Type``,
``Content-Encoding``, ``Range``, ...) and bodies (JSON, with the right token or not;
bytes; chunked or not). Each request goes on a connection of its own, written as raw
bytes, and only its status line is read.

It passes when:

* no answer is a 5xx;
* no traceback reaches the log, and no log line holds a control character (what a
  client sent is escaped by the log format);
* polling goes on: every unit keeps being read, and no poll fails, during the run.

Usage (the longer run; the default tests run a short one, ``tests/test_fuzz_http.py``)::

    .venv/bin/python -m bench.fuzz_http --requests 20000 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from c12exporter.config import load_config
from c12exporter.exporter import RunningExporter, start_exporter
from c12exporter.logformat import LogfmtFormatter
from c12exporter.plugins import load_plugins
from c12exporter.settings import Config
from c12exporter.web.server import RunningHttp
from tests.servers import LOOPBACK, free_port, simulator

USER, PASSWORD = "prometheus", "fuzz the exporter"
UNITS = 2
POLL_INTERVAL_S = 1.0
REPLY_TIMEOUT_S = 15.0
"""A request not answered within this is counted as a hang."""
PLUGINS = load_plugins(entry_points=False)
METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# --- the exporter under test ------------------------------------------------------------


class LogFile(logging.FileHandler):
    """The exporter's log as it writes it (logfmt), counting records it could not write
    (logging would print those with a traceback to standard error)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.setFormatter(LogfmtFormatter())
        self.failures = 0

    def handleError(self, record: logging.LogRecord) -> None:
        self.failures += 1


@dataclass
class Exporter:
    """An exporter running on its own event loop in a thread of this process."""

    running: RunningExporter
    loop: asyncio.AbstractEventLoop
    port: int
    log: LogFile
    routes: list[tuple[str, str]]
    auth: bool = True
    token: str = ""

    def units(self) -> list[tuple[int, int]]:
        """(successful polls, failed polls) of each unit."""
        return [(u.polls_total, sum(u.errors_total.values())) for u in self.running.store]


def _config(tmp: Path, units_file: Path, auth: bool) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (tmp / "web.yml").write_text(f"basic_auth_users: {{{USER}: '{hashed}'}}\n", encoding="utf-8")
    config = tmp / "c12exporter.yml"
    web, editors = ("{config_file: web.yml}", f", editors: [{USER}]") if auth else ("{}", "")
    config.write_text(
        f"units_files: [{units_file}]\n"
        f"poll: {{interval: {POLL_INTERVAL_S}s, timeout: 0.9s}}\n"
        f"web: {web}\n"
        f"console: {{writes_enabled: true{editors}}}\n"
        "state_dir: state\n",
        encoding="utf-8",
    )
    return config


@contextmanager
def exporter_stack(tmp: Path, auth: bool = True) -> Iterator[Exporter]:
    """The simulator (a process of its own) and an exporter reading it, with basic auth
    or without, until the end."""
    with simulator(tmp, UNITS, "--speed", "0") as (_, units_file):
        config = _config(tmp, units_file, auth)
        log = LogFile(tmp / "exporter.log")
        root = logging.getLogger()
        root.addHandler(log)
        level, root.level = root.level, logging.INFO
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="exporter", daemon=True)
        thread.start()
        port = free_port()

        def load() -> Config:
            return load_config(config, PLUGINS, {"web": {"listen_address": f"{LOOPBACK}:{port}"}})

        async def start() -> RunningExporter:
            return await start_exporter(load(), PLUGINS, load)

        running = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
        try:
            web = running.exposers["web"]
            assert isinstance(web, RunningHttp)
            routes = sorted(
                (r.method, r.resource.canonical)
                for r in web.runner.app.router.routes()
                if r.resource is not None
            )
            stack = Exporter(running, loop, port, log, routes, auth)
            _wait_for_polls(stack)
            stack.token = _edit_token(port)
            yield stack
        finally:
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(60)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            root.removeHandler(log)
            root.level = level
            log.close()


def _wait_for_polls(stack: Exporter) -> None:
    deadline = time.monotonic() + 30
    while not all(ok for ok, _ in stack.units()):
        if time.monotonic() > deadline:
            raise AssertionError(f"units never read: {stack.units()}")
        time.sleep(0.1)


def _edit_token(port: int) -> str:
    """The console page's edit token for USER, as a browser gets it."""
    status, body = send(
        port, build(Request("GET", "/", headers=((b"Authorization", authorization()),)))
    )
    match = re.search(rb'data-token="([0-9a-f]+)"', body)
    assert status == 200 and match, (status, body[:300])
    return match.group(1).decode()


def authorization(user: str = USER, password: str = PASSWORD) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


# --- requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    target: str | bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""
    chunked: bool = False
    route: str = ""
    """The route whose path the target was made from."""


def build(request: Request) -> bytes:
    target = request.target.encode() if isinstance(request.target, str) else request.target
    head = [request.method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + LOOPBACK.encode()]
    head += [name + b": " + value for name, value in request.headers]
    head.append(b"Connection: close")
    if request.chunked:
        head.append(b"Transfer-Encoding: chunked")
        body = (
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(request.body), request.body)
            if request.body
            else (b"0\r\n\r\n")
        )
    else:
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            head.append(b"Content-Length: %d" % len(request.body))
        body = request.body
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def send(port: int, raw: bytes) -> tuple[int, bytes]:
    """Send ``raw``; the status (0 if the server closed without answering) and what
    arrived of the answer until it ended or its first 64 KiB (an event stream never ends)."""
    with socket.create_connection((LOOPBACK, port), timeout=REPLY_TIMEOUT_S) as sock:
        # answered (and closed) before the body was all sent: the answer is there
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        answer = b""
        try:
            while len(answer) < 65536:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
                if (
                    b"\r\n\r\n" in answer
                    and b"text/event-stream" in answer.partition(b"\r\n\r\n")[0]
                ):
                    break
        except ConnectionResetError:
            pass
        except TimeoutError:
            if b"\r\n" not in answer:
                raise
    status_line = answer.partition(b"\r\n")[0].split(b" ")
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    return status, answer.partition(b"\r\n\r\n")[2]


# --- strategies -------------------------------------------------------------------------

any_bytes = st.binary(max_size=64)
any_text = st.text(max_size=32)
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=64)
raw_header_value = st.one_of(
    st.text(max_size=32).map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=64)
).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


def rarely(draw: st.DrawFn) -> bool:
    """True for about one request in twenty: what HTTP itself forbids (a method no
    server knows, a control character in a header) mostly ends at the parser's 400, so
    it is drawn rarely enough that most requests reach a handler."""
    return draw(st.integers(0, 19)) == 0


def header_value(draw: st.DrawFn) -> bytes:
    return draw(raw_header_value) if rarely(draw) else draw(printable).encode()


def _encoded(data: st.DrawFn, text: str) -> str:
    """``text`` percent-encoded as a browser would, or worse."""
    how = "raw" if rarely(data) else data(st.sampled_from(("quote", "bytes")))
    if how == "quote":
        return urllib.parse.quote(text, safe="")
    if how == "bytes":
        return urllib.parse.quote_from_bytes(data(any_bytes), safe="")
    return "".join(c if 0x21 <= ord(c) < 0x7F else urllib.parse.quote(c) for c in text)


@st.composite
def targets(
    draw: st.DrawFn, routes: list[tuple[str, str]], units: list[str]
) -> tuple[str, str, str | bytes]:
    """A route's method and path (as its router writes them), and a request target made
    from the path."""
    method, route = draw(st.sampled_from(routes))
    path = route

    def fill(match: re.Match[str]) -> str:
        kind = draw(st.sampled_from(("unit", "number", "text", "traversal")))
        if kind == "unit":
            return urllib.parse.quote(draw(st.sampled_from(units)), safe="")
        if kind == "number":
            return str(draw(st.integers(min_value=-(2**70), max_value=2**70)))
        if kind == "traversal":
            return draw(st.sampled_from(("..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%00", "")))
        return _encoded(draw, draw(any_text))

    path = re.sub(r"\{[^}]*\}", fill, path)
    if rarely(draw):
        path += draw(st.sampled_from(("/", "//", "/x", "%2F", ";x", "/..")))
    query: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        key = draw(st.sampled_from(QUERY_KEYS))
        value = draw(st.one_of(any_text, st.integers().map(str), st.sampled_from(units)))
        query.append(f"{_encoded(draw, key)}={_encoded(draw, value)}")
    question_mark = bool(query) or draw(st.booleans())
    if question_mark:
        path += "?" + "&".join(query)
    if rarely(draw):  # bytes that are not UTF-8, unencoded
        return (
            method,
            route,
            path.encode() + draw(st.binary(min_size=1, max_size=8)).replace(b" ", b""),
        )
    return method, route, path


def json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=24)
    )

    def nested(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
        return st.lists(inner, max_size=4) | st.dictionaries(
            st.text(max_size=12), inner, max_size=4
        )

    return st.recursive(scalars, nested, max_leaves=12)


AUTH_KINDS = ("right", "none", "wrong", "junk", "long")
QUERY_KEYS = ("target", "unit", "name", "since", "until", "of", "events", "page", "sort", "q",
              "format", "limit", "pid", "")  # fmt: skip
CSRF_HEADERS = {b"X-C12-Console", b"Content-Type", b"Origin", b"Sec-Fetch-Site"}
NUMBERS = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.sampled_from(("", "1", "-1", "0.5", "16", "nan", "inf", "1e309", "0x10", " 3 ")),
)


@st.composite
def edits(draw: st.DrawFn, token: str, units: list[str]) -> dict[str, object]:
    """A body for the console's and the history's POST routes: their fields with
    plausible values or anything, the page's edit token most of the time."""
    names = st.one_of(st.sampled_from(units), st.text(max_size=40))
    fields: dict[str, st.SearchStrategy[object]] = {
        "field": st.sampled_from(("unit_name", "channel_name", "band")) | st.text(max_size=8),
        "value": st.text(max_size=40),
        "channel": st.integers(-1, 14) | json_values(),
        "min": NUMBERS,
        "max": NUMBERS,
        "action": st.sampled_from(("start", "stop")) | st.text(max_size=8),
        "name": names,
        "units": st.lists(names, max_size=3) | json_values(),
        "unit": names,
        "key": st.text(max_size=40),
        "tester": st.text(max_size=20),
        "timeout_s": NUMBERS,
        "channels": st.lists(st.integers(-1, 14), max_size=4) | json_values(),
    }
    body: dict[str, object] = {}
    for key in draw(st.lists(st.sampled_from(sorted(fields)), max_size=6, unique=True)):
        body[key] = draw(fields[key])
    if draw(st.integers(0, 3)):
        body["token"] = token
    return body


@st.composite
def requests(draw: st.DrawFn, stack: Exporter, units: list[str]) -> Request:
    route_method, route, target = draw(targets(stack.routes, units))
    if rarely(draw):
        method = draw(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=8))
    else:
        method = route_method if draw(st.integers(0, 3)) else draw(st.sampled_from(METHODS))
    headers: list[tuple[bytes, bytes]] = []
    auth = "right" if draw(st.integers(0, 3)) else draw(st.sampled_from(AUTH_KINDS))
    if auth == "right":
        headers.append((b"Authorization", authorization()))
    elif auth == "wrong":
        headers.append((b"Authorization", authorization(draw(any_text), draw(any_text))))
    elif auth == "junk":
        headers.append((b"Authorization", header_value(draw)))
    elif auth == "long":
        headers.append(
            (b"Authorization", authorization(USER, PASSWORD + "x" * draw(st.integers(60, 400))))
        )
    if draw(st.booleans()):
        known = draw(st.sampled_from((b"1", b"1", b"0", b"")))
        headers.append((b"X-C12-Console", header_value(draw) if rarely(draw) else known))
    for name, values in (
        (b"Content-Type", (b"application/json", b"application/json; charset=latin-1",
                           b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
                           b"text/plain")),
        (b"Origin", (b"http://" + LOOPBACK.encode(), b"http://evil.example", b"null")),
        (b"Sec-Fetch-Site", (b"same-origin", b"cross-site")),
        (b"Content-Encoding", (b"gzip", b"deflate", b"br", b"identity")),
        (b"Accept-Encoding", (b"gzip", b"deflate, br", b"*")),
        (b"Range", (b"bytes=0-10", b"bytes=-5", b"bytes=99999999999999999999-")),
        (b"Last-Event-ID", (b"0", b"-1")),
        (b"Cookie", (b"a=b",)),
        (b"If-None-Match", (b'"x"', b"*")),
        (b"Accept", (b"text/html", b"application/json", b"text/event-stream")),
    ):  # fmt: skip
        if draw(st.integers(0, 3)) == 0:
            known = draw(st.sampled_from(values))
            headers.append((name, header_value(draw) if draw(st.booleans()) else known))
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)).encode()
        headers.append((name, header_value(draw)))
    kind = draw(st.sampled_from(("none", "json", "edit", "bytes")))
    if kind == "json":
        body = json.dumps(draw(json_values())).encode()
    elif kind == "edit":
        body = json.dumps(draw(edits(stack.token, units))).encode()
        if not rarely(draw):  # as the console page sends it, so it gets past the CSRF checks
            headers = [h for h in headers if h[0] not in CSRF_HEADERS]
            headers += [(b"X-C12-Console", b"1"), (b"Content-Type", b"application/json")]
    elif kind == "bytes":
        body = draw(st.binary(max_size=512))
    else:
        body = b""
    return Request(
        method, target, tuple(headers), body, draw(st.booleans()), f"{route_method} {route}"
    )


# --- the run ----------------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_route: dict[str, Counter[int]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def record(self, request: Request, status: int) -> None:
        self.requests += 1
        self.by_status[status] += 1
        self.by_route.setdefault(request.route, Counter())[status] += 1
        target = request.target if isinstance(request.target, str) else repr(request.target)
        if status >= 500 or status == 0:
            self.failures.append(f"{status} for {request.method} {target[:120]}")


def fuzz(stack: Exporter, examples: int, seed: int | None = None) -> Tally:
    """Send ``examples`` requests drawn by hypothesis; what they were answered."""
    tally = Tally()
    units = [u.config.name for u in stack.running.store]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(requests(stack, units))
    def one(request: Request) -> None:
        status, _ = send(stack.port, build(request))
        tally.record(request, status)

    if seed is not None:
        one = hypothesis_seed(seed)(one)
    one()
    return tally


def log_problems(stack: Exporter) -> list[str]:
    """Tracebacks and unescaped control characters in the log, and records it could
    not write."""
    problems = [f"{stack.log.failures} records the log could not write"] * bool(stack.log.failures)
    stack.log.flush()
    for line in Path(stack.log.baseFilename).read_text(encoding="utf-8").splitlines():
        if "Traceback" in line or CONTROL.search(line):
            problems.append(line[:2000])
    return problems


def polls_went_on(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[str]:
    """Each unit read again and no poll failed between ``before`` and ``after``."""
    return [
        f"unit {i}: {ok_after - ok_before} polls succeeded, {bad_after - bad_before} failed"
        for i, ((ok_before, bad_before), (ok_after, bad_after)) in enumerate(
            zip(before, after, strict=True)
        )
        if ok_after <= ok_before or bad_after > bad_before
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-auth", action="store_true", help="serve without basic auth")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        exporter_stack(Path(tmp), auth=not args.no_auth) as stack,
    ):
        before = stack.units()
        start = time.monotonic()
        tally = fuzz(stack, args.requests, args.seed)
        elapsed = time.monotonic() - start
        time.sleep(2 * POLL_INTERVAL_S)
        stalled = polls_went_on(before, stack.units())
        problems = log_problems(stack)
        polls = sum(ok for ok, _ in stack.units()) - sum(ok for ok, _ in before)
    fivexx = sum(n for status, n in tally.by_status.items() if status >= 500)
    handled = [r for r, answers in tally.by_route.items() if set(answers) - {400, 401, 404, 405}]
    print(f"requests: {tally.requests} in {elapsed:.0f} s ({tally.requests / elapsed:.0f}/s), "
          f"routes: {len(stack.routes)}, of which {len(handled)} answered other than "
          "400/401/404/405 at least once")  # fmt: skip
    print(f"5xx: {fivexx}, no answer: {tally.by_status[0]}, tracebacks or unescaped log "
          f"lines: {len(problems)}, polls during the run: {polls}, "
          f"stalled units: {len(stalled)}")  # fmt: skip
    print("answers:", ", ".join(f"{s}: {n}" for s, n in sorted(tally.by_status.items())))
    for method, path in stack.routes:
        answers = tally.by_route.get(f"{method} {path}", Counter())
        print(f"  {method} {path}: " + ", ".join(f"{s}: {n}" for s, n in sorted(answers.items())))
    for line in [*tally.failures[:20], *problems[:20], *stalled]:
        print("  ", line[:3000])
    sys.exit(1 if fivexx or tally.by_status[0] or problems or stalled else 0)


if __name__ == "__main__":
    main()
