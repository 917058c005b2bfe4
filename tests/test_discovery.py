"""Finding units: `c12exporter discover` among decoys across two /24s, a moved unit keeping
its name, `serve` adding units that appear and reporting those that vanish, and shards
that cover a fleet exactly once, all as a user runs them, on loopback addresses."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from c12exporter.discovery.configfile import merge_units
from c12exporter.discovery.scan import Finding, Outcome
from c12exporter.discovery.targets import TargetError, parse_targets
from c12exporter.reading import Identity
from c12exporter.settings import Shard
from tests.servers import (
    LOOPBACK,
    REPO,
    SimulatorControl,
    c12exporter_command,
    free_port,
    http_get,
    process,
    prometheus,
    require_tool,
    wait_until,
)

MIB_DIR = "c12exporter/snmp/mibs"
"""C12-PDU-MIB and what it imports, in the checkout."""

# --- targets, names, shards (no network) ---------------------------------------------------


def test_targets_take_networks_ranges_and_addresses() -> None:
    hosts = [str(h) for h in parse_targets(["127.0.3.0/30", "127.0.4.7-9", "127.0.4.8", "::1"])]
    assert hosts == ["127.0.3.1", "127.0.3.2", "127.0.4.7", "127.0.4.8", "127.0.4.9", "::1"]
    for bad in ["127.0.3.0/33", "127.0.4.9-7", "stage-left", "10.0.0.0/8"]:
        with pytest.raises(TargetError, match=re.escape(repr(bad))):
            parse_targets([bad])


def _found(address: str, serial: str) -> Finding:
    return Finding(
        address, Outcome.READABLE, identity=Identity("StageSmarts", "C12B-12", "1", serial)
    )


def test_merge_keeps_names_by_serial_and_numbers_new_units_after_the_highest() -> None:
    units: list[dict[str, Any]] = [
        {"name": "stage-left", "address": "10.0.0.21:502"},
        {"name": "pdu-07", "address": "10.0.0.22:502", "serial": "SS2"},
    ]
    merge = merge_units(units, [
        _found("10.0.0.21:502", "SS1"),  # by address: gains its serial
        _found("10.0.0.99:502", "SS2"),  # by serial: moved
        _found("10.0.0.30:502", "SS3"),  # new
        Finding("10.0.0.31:502", Outcome.UNNETWORKED, "a C12A"),  # skipped
    ])  # fmt: skip
    assert units == [
        {"name": "stage-left", "address": "10.0.0.21:502", "serial": "SS1"},
        {"name": "pdu-07", "address": "10.0.0.99:502", "serial": "SS2"},
        {"name": "pdu-08", "address": "10.0.0.30:502", "serial": "SS3"},
    ]
    assert merge.moved == [("pdu-07", "10.0.0.22:502", "10.0.0.99:502")]
    assert merge.added == ["pdu-08"]


def test_shards_split_names_exactly_once() -> None:
    names = [f"pdu-{n:03d}" for n in range(1, 301)]
    shards = [Shard(i, 3) for i in (1, 2, 3)]
    owners = [[s for s in shards if s.holds(name)] for name in names]
    assert all(len(o) == 1 for o in owners)
    assert all(sum(s.holds(n) for n in names) > 60 for s in shards)  # roughly even


# --- as a user runs it -------------------------------------------------------------------


@contextmanager
def simulator(tmp: Path, name: str, *args: str) -> Iterator[SimulatorControl]:
    units_file, control_port = tmp / f"{name}-units.yml", free_port()
    command = c12exporter_command(
        "simulate", "--units-file", str(units_file), "--speed", "0",
        "--control-address", f"{LOOPBACK}:{control_port}", *args,
    )  # fmt: skip
    with process(command, tmp / f"{name}.log"):
        control = SimulatorControl(f"http://{LOOPBACK}:{control_port}")
        wait_until(lambda: units_file.exists() and control.units(), 30, f"{name} ready")
        yield control


def discover(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(c12exporter_command("discover", *args), capture_output=True,
                          text=True, timeout=60, check=True)  # fmt: skip


def test_discover_finds_exactly_the_c12b_units_and_a_moved_unit_keeps_its_name(
    tmp_path: Path,
) -> None:
    port, config = free_port(), tmp_path / "c12.yml"
    config.write_text("units: [{name: stage-left, address: '127.0.9.1:502'}]\n")
    decoys = ["--decoy", "other:127.0.4.1", "--decoy", "c12a:127.0.4.2",
              "--decoy", "silent:127.0.4.3"]  # fmt: skip
    fleet = ["--units", "4", "--seed", "5", "--port", str(port)]
    with simulator(tmp_path, "sim", *fleet, "--addresses", "127.0.3.0/24", *decoys) as sim:
        serials = {u["address"]: u["serial"] for u in sim.units()}
        done = discover("127.0.3.0/24", "127.0.4.0/24", "--port", str(port),
                        "--timeout", "0.5", "--output", str(config))  # fmt: skip
    summary = done.stdout.splitlines()
    assert "scanned 508 addresses: 4 units found; skipped 1 without network interface, " \
        "1 other device, 1 silent, 501 refused" in summary, done.stdout  # fmt: skip
    assert f"127.0.4.2:{port}: skipped (without network interface): StageSmarts C12A-12: " \
        "model 'C12A-12' is a C12A: it has no network interface" in done.stdout  # fmt: skip
    assert f"127.0.4.1:{port}: skipped (other device): Acme Metering PM-3000" in done.stdout
    units = yaml.safe_load(config.read_text())["units"]
    assert units[0] == {"name": "stage-left", "address": "127.0.9.1:502"}
    assert {u["address"]: u["serial"] for u in units[1:]} == serials
    assert [u["name"] for u in units[1:]] == ["pdu-01", "pdu-02", "pdu-03", "pdu-04"]
    before = {u["serial"]: u["name"] for u in units[1:]}

    # The same units come back on other addresses (DHCP): same names, new addresses.
    with simulator(tmp_path, "moved", *fleet, "--addresses", "127.0.5.0/24") as sim:
        moved_to = {u["serial"]: u["address"] for u in sim.units()}
        done = discover("127.0.5.0/29", "--port", str(port), "--output", str(config))
    assert "4 added" not in done.stdout and "4 moved" in done.stdout, done.stdout
    units = yaml.safe_load(config.read_text())["units"]
    assert {u["serial"]: u["name"] for u in units[1:]} == before
    assert {u["serial"]: u["address"] for u in units[1:]} == moved_to


def up_units(url: str) -> dict[str, str]:
    """pdu -> address of every unit read (``c12_up 1``), from c12_unit_info."""
    lines = http_get(f"{url}/metrics").splitlines()
    up = {line.split('pdu="')[1].split('"')[0] for line in lines
          if line.startswith("c12_up{") and line.endswith(" 1.0")}  # fmt: skip
    info = {}
    for line in lines:
        if line.startswith("c12_unit_info{"):
            pdu = line.split('pdu="')[1].split('"')[0]
            info[pdu] = line.split('address="')[1].split('"')[0]
    return {pdu: info.get(pdu, "") for pdu in up}


def test_serve_adds_units_that_appear_and_reports_those_that_vanish(tmp_path: Path) -> None:
    port, web_port = free_port(), free_port()
    config = tmp_path / "c12.yml"
    config.write_text(yaml.safe_dump({
        "poll": {"interval": "1s", "timeout": "500ms"},
        "web": {"listen_address": f"{LOOPBACK}:{web_port}"},
        "discovery": {"networks": ["127.0.6.0/24", "127.0.7.0/24"], "port": port,
                      "interval": "1s", "gone_after": "2s", "forget_after": "5s",
                      "timeout": "300ms"},
    }))  # fmt: skip
    log = tmp_path / "exporter.log"
    url = f"http://{LOOPBACK}:{web_port}"
    fleet = ["--port", str(port), "--seed", "11"]
    with (
        simulator(tmp_path, "a", "--units", "2", "--addresses", "127.0.6.0/24", *fleet),
        process(c12exporter_command("serve", "--config.file", str(config)), log),
    ):
        wait_until(lambda: set(up_units(url)) == {"pdu-01", "pdu-02"}, 30, "first units")
        with simulator(tmp_path, "b", "--units", "1", "--addresses", "127.0.7.0/28",
                       "--port", str(port), "--seed", "12"):  # fmt: skip
            wait_until(lambda: "pdu-03" in up_units(url), 30, "a unit that appears")
            targets = json.loads(http_get(f"{url}/sd"))
            assert sorted(t["targets"][0] for t in targets) == ["pdu-01", "pdu-02", "pdu-03"]
        wait_until(lambda: "pdu-03 (serial" in log.read_text() and "is gone" in log.read_text(),
                   30, "the vanished unit reported gone")  # fmt: skip
        wait_until(lambda: "pdu-03" not in http_get(f"{url}/metrics"), 30, "then dropped")
        assert set(up_units(url)) == {"pdu-01", "pdu-02"}


def snmp_names(port: int) -> dict[str, str]:
    """c12UnitIndex -> c12UnitName, walked with net-snmp."""
    walk = subprocess.run(
        [require_tool("snmpwalk", "snmp"), "-M", f"+{REPO / MIB_DIR}", "-m", "C12-PDU-MIB",
         "-v2c", "-c", "public", "-Oqs", "-t", "2", "-r", "1", f"udp:{LOOPBACK}:{port}",
         "C12-PDU-MIB::c12UnitName"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    rows = [line.split(None, 1) for line in walk.stdout.splitlines() if line.strip()]
    return {oid.rsplit(".", 1)[1]: name.strip('"') for oid, name in rows}


def test_a_unit_that_moves_while_serving_keeps_its_name_and_snmp_index(tmp_path: Path) -> None:
    port, web_port, snmp_port = free_port(), free_port(), free_port()
    config = tmp_path / "c12.yml"
    config.write_text(yaml.safe_dump({
        "poll": {"interval": "1s", "timeout": "500ms"},
        "web": {"listen_address": f"{LOOPBACK}:{web_port}"},
        "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": "public"},
        "discovery": {"networks": ["127.0.8.0/28", "127.0.8.16/28"], "port": port,
                      "interval": "1s", "timeout": "300ms"},
    }))  # fmt: skip
    url = f"http://{LOOPBACK}:{web_port}"
    fleet = ["--units", "2", "--port", str(port), "--seed", "21"]
    with process(c12exporter_command("serve", "--config.file", str(config)),
                 tmp_path / "exporter.log"):  # fmt: skip
        with simulator(tmp_path, "before", *fleet, "--addresses", "127.0.8.0/28"):
            wait_until(lambda: len(up_units(url)) == 2, 30, "units found")
            first = up_units(url)
            indexes = wait_until(lambda: snmp_names(snmp_port), 30, "SNMP rows")
        with simulator(tmp_path, "after", *fleet, "--addresses", "127.0.8.16/28"):
            wait_until(lambda: set(up_units(url).values()) != set(first.values())
                       and len(up_units(url)) == 2, 30, "units found at new addresses")  # fmt: skip
            moved = up_units(url)
            assert snmp_names(snmp_port) == indexes
    assert set(moved) == set(first) == {"pdu-01", "pdu-02"}
    assert sorted(indexes.values()) == ["pdu-01", "pdu-02"]
    assert all(moved[name].startswith("127.0.8.1") for name in moved), moved


def test_shards_serve_every_unit_exactly_once_to_one_prometheus(tmp_path: Path) -> None:
    with simulator(tmp_path, "sim", "--units", "8") as sim:
        units = [{"name": u["name"], "address": u["address"]} for u in sim.units()]
        config = tmp_path / "c12.yml"
        config.write_text(yaml.safe_dump({"poll": {"interval": "1s", "timeout": "500ms"},
                                          "units": units}))  # fmt: skip
        ports = [free_port(), free_port()]
        exporters = [
            process(c12exporter_command(
                "serve", "--config.file", str(config), f"--shard={i + 1}/2",
                f"--web.listen-address={LOOPBACK}:{ports[i]}"), tmp_path / f"exporter{i}.log")
            for i in range(2)
        ]  # fmt: skip
        with exporters[0], exporters[1]:
            urls = [f"http://{LOOPBACK}:{p}" for p in ports]
            for url in urls:
                wait_until(lambda url=url: http_get(f"{url}/-/healthy"), 30, "exporter")
            shares = [{t["targets"][0] for t in json.loads(http_get(f"{u}/sd"))} for u in urls]
            assert shares[0] and shares[1] and not shares[0] & shares[1]
            assert shares[0] | shares[1] == {u["name"] for u in units}
            scrape = [{"job_name": "c12", "static_configs": [
                {"targets": [f"{LOOPBACK}:{p}" for p in ports]}]}]  # fmt: skip
            with prometheus(tmp_path, scrape) as server:
                wait_until(lambda: server.value("count(c12_up == 1)") == len(units), 60,
                           "every unit scraped")  # fmt: skip
                assert server.value("max(count by (pdu) (c12_up))") == 1


def test_vmagent_cluster_scrapes_every_unit_exactly_once_through_probe(tmp_path: Path) -> None:
    """Two vmagent members in cluster mode share the exporter's /sd targets, scraped
    through /probe, and write to one VictoriaMetrics: each unit lands there once."""
    vmagent = require_tool("vmagent", "victoria-metrics")
    victoria = require_tool("victoria-metrics", "victoria-metrics")
    with simulator(tmp_path, "sim", "--units", "6") as sim:
        units = [{"name": u["name"], "address": u["address"]} for u in sim.units()]
        config = tmp_path / "c12.yml"
        config.write_text(yaml.safe_dump({"units": units}))
        web_port, vm_port = free_port(), free_port()
        exporter_url = f"http://{LOOPBACK}:{web_port}"
        scrape = {"scrape_configs": [{
            "job_name": "c12-probe", "scrape_interval": "1s", "metrics_path": "/probe",
            "http_sd_configs": [{"url": f"{exporter_url}/sd"}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": f"{LOOPBACK}:{web_port}"},
            ],
        }]}  # fmt: skip
        (tmp_path / "scrape.yml").write_text(yaml.safe_dump(scrape))
        servers = [
            process(c12exporter_command("serve", "--config.file", str(config),
                                        f"--web.listen-address={LOOPBACK}:{web_port}"),
                    tmp_path / "exporter.log"),
            process([victoria, f"-httpListenAddr={LOOPBACK}:{vm_port}",
                     f"-storageDataPath={tmp_path / 'vm'}", "-search.latencyOffset=0s"],
                    tmp_path / "victoria.log"),
        ] + [
            process([vmagent, f"-promscrape.config={tmp_path / 'scrape.yml'}",
                     "-promscrape.cluster.membersCount=2", f"-promscrape.cluster.memberNum={i}",
                     "-promscrape.httpSDCheckInterval=1s", f"-remoteWrite.label=member={i}",
                     f"-remoteWrite.url=http://{LOOPBACK}:{vm_port}/api/v1/write",
                     f"-remoteWrite.tmpDataPath={tmp_path / f'vmagent{i}'}",
                     f"-httpListenAddr={LOOPBACK}:{free_port()}", "-remoteWrite.flushInterval=1s"],
                    tmp_path / f"vmagent{i}.log")
            for i in range(2)
        ]  # fmt: skip
        with servers[0], servers[1], servers[2], servers[3]:
            query = f"http://{LOOPBACK}:{vm_port}/api/v1/query?query="

            def per_unit() -> dict[str, float]:
                body = json.loads(http_get(query + "count%20by%20(pdu)%20(c12_up)"))
                return {r["metric"]["pdu"]: float(r["value"][1]) for r in body["data"]["result"]}

            wait_until(lambda: len(per_unit()) == len(units), 90, "every unit in VictoriaMetrics")
            assert per_unit() == {u["name"]: 1.0 for u in units}
