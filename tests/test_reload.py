"""SIGHUP and POST /-/reload reload the config: units appear and disappear on /metrics and
over SNMP; a broken config is refused and the exporter keeps serving the previous one."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.servers import (
    LOOPBACK,
    REPO,
    c12exporter_command,
    free_port,
    http_get,
    process,
    require_tool,
    simulator,
    wait_until,
)

MIB_DIR = "c12exporter/snmp/mibs"
"""C12-PDU-MIB and what it imports, in the checkout."""

pytestmark = pytest.mark.integration


def units_on_metrics(url: str) -> set[str]:
    """Units served and read (``c12_up 1``)."""
    lines = http_get(f"{url}/metrics").splitlines()
    return {
        line.split('pdu="')[1].split('"')[0]
        for line in lines
        if line.startswith("c12_up{") and line.endswith(" 1.0")
    }


def snmp_unit_names(port: int) -> set[str]:
    result = subprocess.run(
        [require_tool("snmpwalk", "snmp"), "-M", f"+{REPO / MIB_DIR}", "-m", "C12-PDU-MIB",
         "-v2c", "-c", "public", "-Oqv", "-t", "2", "-r", "1",
         f"udp:{LOOPBACK}:{port}", "C12-PDU-MIB::c12UnitName"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return {line.strip().strip('"') for line in result.stdout.splitlines() if line.strip()}


def test_sighup_reloads_units_and_refuses_a_broken_config(tmp_path: Path) -> None:
    with simulator(tmp_path, 3, "--speed", "0") as (_, units_file):
        units = yaml.safe_load(units_file.read_text())["units"]
        names = [u["name"] for u in units]
        web_port, snmp_port = free_port(), free_port()
        config = tmp_path / "c12.yml"

        def write(selected: list[dict[str, str]]) -> None:
            config.write_text(yaml.safe_dump({
                "poll": {"interval": "1s", "timeout": "500ms"},
                "web": {"listen_address": f"{LOOPBACK}:{web_port}"},
                "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": "public"},
                "units": selected,
            }))  # fmt: skip

        write(units[:1])
        with process(c12exporter_command("serve", "--config.file", str(config)),
                     tmp_path / "exporter.log") as proc:  # fmt: skip
            url = f"http://{LOOPBACK}:{web_port}"
            wait_until(lambda: units_on_metrics(url) == {names[0]}, 30, "first config served")

            write(units[1:])
            os.kill(proc.pid, signal.SIGHUP)
            wait_until(lambda: units_on_metrics(url) == set(names[1:]), 30, "reloaded units")
            wait_until(lambda: snmp_unit_names(snmp_port) == set(names[1:]), 30, "SNMP units")

            config.write_text("units: [{name: broken}]\n")
            os.kill(proc.pid, signal.SIGHUP)
            wait_until(lambda: "reload refused" in (tmp_path / "exporter.log").read_text(), 30,
                       "refusal logged")  # fmt: skip
            assert units_on_metrics(url) == set(names[1:])
            assert proc.poll() is None
            assert "c12_config_last_reload_successful 0.0" in http_get(f"{url}/metrics")

            # POST /-/reload does what SIGHUP does, and says why it refused.
            status, text = http_post(f"{url}/-/reload")
            assert status == 500 and "units[0] (broken).address" in text
            write(units)
            assert http_post(f"{url}/-/reload") == (200, "OK\n")
            wait_until(lambda: units_on_metrics(url) == set(names), 10, "units read at once")
            metrics = http_get(f"{url}/metrics")
            assert "c12_config_last_reload_successful 1.0" in metrics
            assert 'c12_config_reloads_total{result="failure"} 2.0' in metrics
            assert 'c12_config_reloads_total{result="success"} 2.0' in metrics


def http_post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_web_reload_keeps_serving_and_a_taken_port_is_refused(tmp_path: Path) -> None:
    """A new listen address is served before the old one stops; one that is taken leaves
    the old one serving and the reload counted as failed; the process never exits."""
    first, taken, moved = free_port(), free_port(), free_port()
    config = tmp_path / "c12.yml"
    log = tmp_path / "exporter.log"

    def write(port: int, **web: str) -> None:
        config.write_text(yaml.safe_dump({
            "web": {"listen_address": f"{LOOPBACK}:{port}", **web},
            "units": [{"name": "nobody", "address": f"{LOOPBACK}:{free_port()}"}],
        }))  # fmt: skip

    def last_reload_ok(url: str) -> str:
        metrics = http_get(f"{url}/metrics").splitlines()
        return next(m for m in metrics if m.startswith("c12_config_last_reload_successful"))

    write(first)
    with (
        socket.socket() as squatter,
        process(c12exporter_command("serve", "--config.file", str(config)), log) as proc,
    ):
        squatter.bind((LOOPBACK, taken))
        squatter.listen()
        url = f"http://{LOOPBACK}:{first}"
        wait_until(lambda: http_get(f"{url}/-/healthy"), 30, "exporter ready")

        write(taken)
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: "reload refused" in log.read_text(), 30, "refusal logged")
        assert f"cannot listen on {LOOPBACK}:{taken}" in log.read_text()
        assert proc.poll() is None
        assert http_get(f"{url}/-/healthy") == "OK\n"
        assert last_reload_ok(url).endswith(" 0.0")

        # Through the old server itself: it answers, then the new one takes over.
        write(moved)
        assert http_post(f"{url}/-/reload") == (200, "OK\n")
        new_url = f"http://{LOOPBACK}:{moved}"
        assert last_reload_ok(new_url).endswith(" 1.0")
        wait_until(lambda: not serves(url), 30, "old address closed")

        # Same address, other settings: the new server takes over the listening socket.
        write(moved, idle_timeout="30s")
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: log.read_text().count("reloaded ") == 2, 30, "second reload")
        assert last_reload_ok(new_url).endswith(" 1.0")
        assert proc.poll() is None


def serves(url: str) -> bool:
    try:
        return http_get(f"{url}/-/healthy", timeout=2) == "OK\n"
    except OSError:
        return False


SQUATTER = """
import socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + seconds
print("trying", flush=True)
while time.monotonic() < end:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
    except OSError:
        sock.close()
        continue
    print("bound", flush=True)
    time.sleep(seconds)
"""
"""Another process that takes the port the moment it is free."""


def test_a_web_reload_on_the_same_port_never_leaves_it_free(tmp_path: Path) -> None:
    """Three reloads that change only the web section, each while another process tries
    to bind the port all along: the listening socket passes from the old server to the
    new one, so the port is never free, scrapes during the reloads are all answered and
    ``POST /-/reload`` answers its own request."""
    port = free_port()
    config = tmp_path / "c12.yml"
    log = tmp_path / "exporter.log"

    def write(idle_timeout: int) -> None:
        config.write_text(yaml.safe_dump({
            "web": {"listen_address": f"{LOOPBACK}:{port}", "idle_timeout": f"{idle_timeout}s"},
            "units": [{"name": "nobody", "address": f"{LOOPBACK}:{free_port()}"}],
        }))  # fmt: skip

    write(30)
    url = f"http://{LOOPBACK}:{port}"
    with process(c12exporter_command("serve", "--config.file", str(config)), log) as proc:
        wait_until(lambda: serves(url), 30, "exporter ready")
        for round_ in range(1, 4):
            squatter_log = tmp_path / f"squatter{round_}.log"
            squatter = [sys.executable, "-c", SQUATTER, str(port), "3"]
            with process(squatter, squatter_log):
                wait_until(lambda s=squatter_log: "trying" in s.read_text(), 30, "squatter ready")
                write(30 + round_)
                if round_ == 3:
                    assert http_post(f"{url}/-/reload") == (200, "OK\n")
                else:
                    os.kill(proc.pid, signal.SIGHUP)
                wait_until(lambda n=round_: log.read_text().count("reloaded ") == n, 30, "reloaded")
                scrapes = [serves(url) for _ in range(10)]
                assert "bound" not in squatter_log.read_text(), f"round {round_}"
            assert all(scrapes), f"round {round_}: {scrapes}"
            assert proc.poll() is None
        assert "reload refused" not in log.read_text()


UDP_SQUATTER = """
import socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
end = time.monotonic() + seconds
print("trying", flush=True)
while time.monotonic() < end:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        continue
    print("bound", flush=True)
    time.sleep(seconds)
"""
"""Another process that takes the UDP port the moment it is free."""

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
RELOAD_OUTCOME = re.compile(r"\breload(?:ed | refused| failed)")


def snmpget(port: int, credentials: list[str]) -> bool:
    """One request, no retry: ``True`` if the agent answered it."""
    result = subprocess.run(
        [require_tool("snmpget", "snmp"), *credentials, "-On", "-t", "3", "-r", "0",
         f"udp:{LOOPBACK}:{port}", SYS_UPTIME],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return result.returncode == 0 and SYS_UPTIME in result.stdout


def v3_monitor(auth_key: str) -> list[str]:
    return ["-v3", "-l", "authPriv", "-u", "monitor", "-a", "SHA-256", "-A", auth_key,
            "-x", "AES", "-X", "battery staple"]  # fmt: skip


def get_sys_uptime(community: bytes, request_id: int) -> bytes:
    """An SNMPv2c GetRequest of sysUpTime.0, encoded here (every length below 128)."""

    def tlv(tag: int, body: bytes) -> bytes:
        return bytes([tag, len(body)]) + body

    varbind = tlv(0x30, tlv(0x06, bytes([0x2B, 6, 1, 2, 1, 1, 3, 0])) + b"\x05\x00")
    pdu = tlv(0xA0, tlv(0x02, request_id.to_bytes(4, "big")) + b"\x02\x01\x00" * 2
              + tlv(0x30, varbind))  # fmt: skip
    return tlv(0x30, b"\x02\x01\x01" + tlv(0x04, community) + pdu)


class Requests:
    """SNMPv2c requests sent every ``every`` seconds from a thread until :meth:`stop`;
    ``unanswered`` are the ids no response came back for."""

    def __init__(self, port: int, community: bytes, first_id: int, every: float = 0.01) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((LOOPBACK, port))
        self.sock.settimeout(0.1)
        self.community, self.next_id, self.every = community, first_id, every
        self.sent: set[int] = set()
        self.answered: set[int] = set()
        self.sending = True
        self.sender = threading.Thread(target=self._send)
        self.receiver = threading.Thread(target=self._receive)
        self.sender.start()
        self.receiver.start()

    def _send(self) -> None:
        while self.sending:
            self.sent.add(self.next_id)
            self.sock.send(get_sys_uptime(self.community, self.next_id))
            self.next_id += 1
            time.sleep(self.every)

    def _receive(self) -> None:
        quiet_since = None
        while quiet_since is None or time.monotonic() - quiet_since < 3:
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                if not self.sending and quiet_since is None:
                    quiet_since = time.monotonic()
                continue
            except ConnectionRefusedError:  # ICMP: nothing listened on the port then
                continue
            response = data.index(b"\xa2")  # GetResponse-PDU, then its request id
            if data[response + 2 : response + 4] == b"\x02\x04":
                self.answered.add(int.from_bytes(data[response + 4 : response + 8], "big"))

    def stop(self) -> set[int]:
        self.sending = False
        self.sender.join()
        self.receiver.join()
        self.sock.close()
        return self.sent - self.answered


def test_an_snmp_reload_on_the_same_port_never_leaves_it_free(tmp_path: Path) -> None:
    """Three reloads that change only the SNMP settings (an SNMPv3 user's key), each while
    another process tries to bind the UDP port all along: the new agent takes a duplicate
    of the old one's socket, so the port is never free; the new key is answered at once,
    and each of the requests sent every 10 ms across the reload is answered, by the old
    agent or the new one, never lost between them."""
    snmp_port, web_port = free_port(), free_port()
    config = tmp_path / "c12.yml"
    log = tmp_path / "exporter.log"

    def write(auth_key: str) -> None:
        monitor = {"name": "monitor", "auth_protocol": "SHA-256", "auth_key": auth_key,
                   "priv_protocol": "AES-128", "priv_key": "battery staple"}  # fmt: skip
        config.write_text(yaml.safe_dump({
            "web": {"listen_address": f"{LOOPBACK}:{web_port}"},
            "snmp": {"listen_address": f"{LOOPBACK}:{snmp_port}", "community": "public",
                     "users": [monitor]},
            "units": [{"name": "nobody", "address": f"{LOOPBACK}:{free_port()}"}],
        }))  # fmt: skip

    write("correct horse 0")
    with process(c12exporter_command("serve", "--config.file", str(config)), log) as proc:
        wait_until(lambda: snmpget(snmp_port, v3_monitor("correct horse 0")), 30, "agent ready")
        for round_ in range(1, 4):
            squatter_log = tmp_path / f"squatter{round_}.log"
            squatter = [sys.executable, "-c", UDP_SQUATTER, str(snmp_port), "4"]
            with process(squatter, squatter_log):
                wait_until(lambda s=squatter_log: "trying" in s.read_text(), 30, "squatter ready")
                requests = Requests(snmp_port, b"public", first_id=round_ << 24)
                time.sleep(0.2)
                write(f"correct horse {round_}")
                os.kill(proc.pid, signal.SIGHUP)
                wait_until(lambda n=round_: len(RELOAD_OUTCOME.findall(log.read_text())) == n,
                           30, "reload")  # fmt: skip
                time.sleep(0.2)
                unanswered = requests.stop()
                assert "reload refused" not in log.read_text(), f"round {round_}"
                new = [snmpget(snmp_port, v3_monitor(f"correct horse {round_}")) for _ in range(3)]
                old = snmpget(snmp_port, v3_monitor(f"correct horse {round_ - 1}"))
                assert "bound" not in squatter_log.read_text(), f"round {round_}"
            assert len(requests.sent) > 20, f"round {round_}: {len(requests.sent)} requests"
            assert not unanswered, f"round {round_}: {len(unanswered)} of {len(requests.sent)}"
            assert all(new) and not old, f"round {round_}: new key {new}, old key {old}"
            assert "taken over from the running agent" in log.read_text()
        assert proc.poll() is None
