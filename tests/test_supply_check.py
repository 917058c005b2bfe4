"""The supply check before switching on, against the simulator over loopback: faults are
injected through its control interface, the command and the route give the verdict and
why, and every check is recorded (with the running job)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.history_stack import Stack, no_tracebacks, stack, until


async def check(s: Stack) -> tuple[int, dict[str, Any]]:
    """``supply-check --format json`` on the unit: exit code and answer."""
    code, out, err = await s.cli(
        "supply-check", s.sim.name, "--format", "json", "--url", s.url, "--user", "ops"
    )
    assert code in (0, 1), err
    return code, json.loads(out)


def reasons(answer: dict[str, Any]) -> str:
    return " | ".join(answer["reasons"])


@pytest.mark.integration
def test_the_supply_is_checked_phase_by_phase_before_switching_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with stack(tmp_path) as s:
            name = s.sim.name
            await until(lambda: s.running.store.get(name).reading, "a first reading")  # type: ignore[union-attr]
            await s.act("switch_off")
            code, out, err = await s.cli("supply-check", name, "--url", s.url, "--user", "ops")
            assert code == 0, err
            assert out.startswith(f"{name}: SAFE TO SWITCH ON\n")
            assert "(allowed 207-253 V)" in out and "supply: grid" in out

            await s.act("supply", phase="L2", voltage_v=262.0)
            code, answer = await check(s)
            assert code == 1 and answer["verdict"] == "do not switch on"
            assert "L2: 26" in reasons(answer) and "outside 207-253 V (EN 50160)" in reasons(answer)
            await s.act("supply", phase="L2", voltage_v=230.0)

            await s.act("supply", phase="L3", voltage_v=0.0)
            code, answer = await check(s)
            assert code == 1 and "L3: 0.0 V: the phase is missing" in reasons(answer)
            await s.act("supply", phase="L3", voltage_v=230.0)

            await s.act("fuse_blow", phase="L2")  # the meter no longer hears L2
            code, answer = await check(s)
            assert code == 1 and "L2: no voltage reading" in reasons(answer)
            assert answer["readings"]["voltage_v"]["L2"] is None
            await s.act("fuse_replace", phase="L2")

            await s.act("fuse_blow", phase="L1")  # the meter itself stops
            code, answer = await check(s)
            assert code == 1 and "the meter reads no voltage at all" in reasons(answer)
            await s.act("fuse_replace", phase="L1")

            await s.act("frequency", frequency_hz=50.8)  # fine for a generator, not the grid
            code, answer = await check(s)
            assert code == 1 and "frequency 50.8" in reasons(answer)
            assert "outside 49.50-50.50 Hz (the grid's band" in reasons(answer)
            await s.act("frequency", frequency_hz=50.0)

            await s.act("neutral_lose")
            code, answer = await check(s)
            assert code == 1 and "the neutral is lost" in reasons(answer)
            await s.act("neutral_restore")

            await s.act("network", mode="kill")
            code, answer = await check(s)
            assert code == 1 and "the unit cannot be read" in reasons(answer)
            await s.act("network", mode="normal")

            # with a job running, the check is recorded with it
            status, answer = await s.post(
                "/history/jobs", {"action": "start", "name": "Gala", "units": [name]}
            )
            assert status == 200, answer
            await s.act("switch_on")
            status, answer = await s.post("/history/supply-checks", {"unit": name})
            assert status == 200 and answer["check"]["safe"] is True
            assert answer["check"]["jobs"] == "Gala" and answer["check"]["checked_by"] == "ops"
            assert "already on" in answer["check"]["notes"][0]
            status, kind, text = await s.request("GET", "/history/supply-checks?format=csv")
            assert (status, kind) == (200, "text/csv")
            status, kind, page = await s.request(
                "GET", f"/history/supply-checks?unit={name}&format=html"
            )
            assert (status, kind) == (200, "text/html")
            assert f"<h1>Supply checks of {name}</h1>" in page and "9 records" in page
            assert page.count('<td class="unsafe">do not switch on</td>') == 7
        no_tracebacks(caplog)

        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 9
        assert [r["verdict"] for r in rows] == ["safe to switch on"] + 7 * ["do not switch on"] + [
            "safe to switch on"
        ]
        assert rows[-1]["jobs"] == "Gala" and all(r["jobs"] == "" for r in rows[:-1])
        assert float(rows[0]["voltage_l1_v"]) == pytest.approx(230, abs=5)
        code, out, err = await s.cli("supply-log", "--db", str(s.db), "--format", "json")
        assert code == 0 and len(json.loads(out)) == 9, err

    asyncio.run(test())


@pytest.mark.integration
def test_a_generator_is_judged_by_its_own_band(tmp_path: Path) -> None:
    async def test() -> None:
        async with stack(tmp_path, supply="generator") as s:
            await until(lambda: s.running.store.get(s.sim.name).reading, "a first reading")  # type: ignore[union-attr]
            await s.act("switch_off")
            await s.act("frequency", frequency_hz=50.8)
            code, answer = await check(s)
            assert code == 0 and answer["readings"]["frequency_band_hz"] == [49.0, 51.0]
            await s.act("frequency", frequency_hz=51.3)
            code, answer = await check(s)
            assert code == 1 and "(the generator's band" in reasons(answer)

    asyncio.run(test())


@pytest.mark.integration
def test_garbage_to_the_supply_check_is_refused_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        async with stack(tmp_path, speed=0.0) as s:
            for body, status, field in (
                ({"unit": "nowhere"}, 404, "unit"),
                ({"unit": "x" * 10_000}, 400, "unit"),
                ({"unit": ""}, 400, "unit"),
                ({"unit": ["a"]}, 400, "unit"),
                ({}, 400, "unit"),
                ("unit", 400, "body"),
            ):
                got, answer = await s.post("/history/supply-checks", body)
                assert (got, answer["field"]) == (status, field), body
            got, _, _ = await s.request("POST", "/history/supply-checks", {"unit": s.sim.name},
                                        {"Content-Type": "application/json"})  # fmt: skip
            assert got == 403
            for path, status in (
                ("/history/supply-checks?since=%00", 400),
                ("/history/supply-checks?format=../../etc", 400),
                ("/history/supply-checks?until=13 o'clock", 400),
            ):
                got, _, _ = await s.request("GET", path.replace(" ", "%20"))
                assert got == status, path
            got, _, _ = await s.request("DELETE", "/history/supply-checks")
            assert got == 405
            code, _, err = await s.cli("supply-check", "nowhere\t", "--url", s.url,
                                       "--user", "ops")  # fmt: skip
            assert code == 2 and "is not in the fleet" in err
            code, _, err = await s.cli("supply-log", "--db", str(s.db), "--since", "\x00")
            assert code == 2 and "--since:" in err
        no_tracebacks(caplog)

    asyncio.run(test())
