"""A short run of the HTTP fuzzer (``bench/fuzz_http.py``) in the default tests: hostile
requests to every route of a real exporter (basic auth on, the console with edits, the
history) on loopback, reading the simulator. No answer may be a 5xx, no traceback or
unescaped control character may reach the log, and polling must go on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from bench.fuzz_http import (
    POLL_INTERVAL_S,
    Exporter,
    Request,
    authorization,
    build,
    exporter_stack,
    fuzz,
    log_problems,
    polls_went_on,
    send,
)

pytestmark = pytest.mark.integration

SHORT_RUN = 400
"""Requests in the default run (about 5 s); bench/fuzz_http.py runs longer."""
EXPECTED_ROUTES = {"GET /metrics", "GET /probe", "GET /sd", "POST /-/reload", "GET /-/healthy",
                   "GET /", "GET /console/events", "POST /console/units/{name}/settings",
                   "POST /console/jobs", "GET /console/problems", "GET /console/timeline",
                   "GET /history/jobs"}  # fmt: skip


@pytest.fixture(scope="module", params=[True, False], ids=["basic-auth", "no-auth"])
def stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Exporter]:
    with exporter_stack(tmp_path_factory.mktemp("fuzz-http"), auth=request.param) as running:
        yield running


def test_the_routes_come_from_the_running_router(stack: Exporter) -> None:
    routes = {f"{method} {path}" for method, path in stack.routes}
    assert routes >= EXPECTED_ROUTES, EXPECTED_ROUTES - routes


def test_a_short_run_finds_no_5xx_no_traceback_and_polling_goes_on(stack: Exporter) -> None:
    before = stack.units()
    tally = fuzz(stack, SHORT_RUN)
    assert tally.requests >= SHORT_RUN * 0.9
    assert not tally.failures, tally.failures[:20]
    answered = {route for route, statuses in tally.by_route.items() if 200 in statuses}
    assert len(answered) >= len(stack.routes) // 3, answered  # most reach their handler
    assert not log_problems(stack)
    time.sleep(1.5 * POLL_INTERVAL_S)  # one more poll, to see polling went on
    assert not polls_went_on(before, stack.units())


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate", b"br"])
def test_a_body_that_does_not_decode_as_its_encoding_says_is_a_400(
    stack: Exporter, encoding: bytes
) -> None:
    """Found by the fuzzer: an edit whose body is not the gzip it claims was a 500."""
    unit = next(iter(stack.running.store)).config.name
    request = Request(
        "POST", f"/console/units/{unit}/settings",
        ((b"Authorization", authorization()), (b"X-C12-Console", b"1"),
         (b"Content-Type", b"application/json"), (b"Content-Encoding", encoding)),
        json.dumps({"token": stack.token, "field": "unit_name", "value": "x"}).encode(),
    )  # fmt: skip
    status, body = send(stack.port, build(request))
    # without users, edits are refused (403) before the body is read
    assert status == 400 or (not stack.auth and status == 403), body
    assert not log_problems(stack)


def test_the_judges_can_fail(stack: Exporter) -> None:
    """The checks above see what they look for: a traceback in the log, a control
    character, a unit whose polls stopped. (Last: it spoils the log for the others.)"""
    stack.log.stream.write('ts=x level=error msg="boom" err="Traceback (most recent call"\n')
    stack.log.stream.write("ts=x level=info msg=\x1b[31m\n")
    problems = log_problems(stack)
    assert len(problems) == 2
    assert polls_went_on([(5, 0)], [(5, 0)]) and polls_went_on([(5, 0)], [(6, 1)])
    assert not polls_went_on([(5, 0)], [(6, 0)])
    status, _ = send(stack.port, build(Request("GET", "/-/healthy")))
    assert status == (401 if stack.auth else 200)  # the fuzzer's requests meet basic auth
