"""Benchmark: how long a basic-auth refusal takes, by whom it names.

Not a test: it prints figures (Markdown) for docs/performance.md.

    .venv/bin/python -m bench.auth_timing --requests 40

One ``c12exporter serve`` on loopback reads one simulated unit, with basic auth for two
users whose bcrypt hashes differ in cost (``cheap``: cost 5, ``dear``: cost 10, as a web
config that grew over the years may hold). Each request carries a password never sent
before (so no cached answer) and is timed from the client, one after another, for:

* a wrong password for ``cheap``;
* a wrong password for ``dear``;
* a user the exporter does not know;
* a password of 100 bytes for ``cheap`` (over bcrypt's 72).

If a refusal's time told the cost of the user's hash, or whether the user exists, the
medians would differ by the ratio of the costs (2^5 = 32 times). ``--source DIR`` runs
the exporter from another checkout (e.g. ``git archive`` of an older commit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bcrypt

from bench.fuzz_http import Request, authorization, build, send
from tests.servers import LOOPBACK, c12exporter_command, free_port, process, simulator, wait_until

CASES = {
    "wrong password, cost-5 user": ("cheap", ""),
    "wrong password, cost-10 user": ("dear", ""),
    "unknown user": ("nobody", ""),
    "100-byte password, cost-5 user": ("cheap", "x" * 100),
}


def timed(port: int, user: str, password: str) -> tuple[int, float]:
    raw = build(Request("GET", "/-/healthy", ((b"Authorization", authorization(user, password)),)))
    start = time.perf_counter()
    status, _ = send(port, raw)
    return status, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--requests", type=int, default=40, help="per case")
    parser.add_argument("--source", type=Path, help="run the exporter from this checkout")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.source:
        env["PYTHONPATH"] = str(args.source.resolve())
    with (
        tempfile.TemporaryDirectory() as name,
        simulator(Path(name), 1, "--speed", "0") as (
            _,
            units_file,
        ),
    ):
        tmp = Path(name)
        web = tmp / "web.yml"
        cheap = bcrypt.hashpw(b"cheap-secret", bcrypt.gensalt(rounds=5)).decode()
        dear = bcrypt.hashpw(b"dear-secret", bcrypt.gensalt(rounds=10)).decode()
        web.write_text(f"basic_auth_users: {{cheap: '{cheap}', dear: '{dear}'}}\n")
        port = free_port()
        command = c12exporter_command(
            "serve", "--config.file", str(units_file),
            f"--web.listen-address={LOOPBACK}:{port}", f"--web.config.file={web}",
        )  # fmt: skip
        with process(command, tmp / "exporter.log", env=env, cwd=args.source):
            wait_until(lambda: timed(port, "dear", "dear-secret")[0] == 200, 30, "exporter")
            medians = {}
            statuses: dict[str, set[int]] = {}
            for _ in range(2):  # the first round warms up; the second is kept
                for case, (user, password) in CASES.items():
                    times = []
                    statuses[case] = set()
                    for i in range(args.requests):
                        status, seconds = timed(port, user, password or f"wrong-{i}-{time.time()}")
                        statuses[case].add(status)
                        times.append(seconds)
                    medians[case] = statistics.median(times)
            log = (tmp / "exporter.log").read_text(encoding="utf-8")
    base = medians["unknown user"]
    print(f"| refusal ({args.requests} requests each) | median | vs unknown user | answers |")
    print("|---|---:|---:|---|")
    for case, median in medians.items():
        answers = ", ".join(map(str, sorted(statuses[case])))
        print(f"| {case} | {median * 1000:.1f} ms | {median / base:.2f} | {answers} |")
    print(f"\ntracebacks in the log: {log.count('Traceback')}; log lines: {len(log.splitlines())}")
    sys.exit(0)


if __name__ == "__main__":
    main()
