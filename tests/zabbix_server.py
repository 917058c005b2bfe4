"""A real Zabbix 6.0 server (Debian's zabbix-server-pgsql) with a private PostgreSQL
cluster and the frontend's JSON-RPC API served by PHP's built-in server, all on loopback.

``zabbix_stack(tmp)`` starts all three on free ports and stops them on the way out,
also on failure. :class:`ZabbixApi` is a small JSON-RPC client.
"""

from __future__ import annotations

import gzip
import json
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import LOOPBACK, free_port, process, require_tool, wait_until

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCHEMA_DIR = Path("/usr/share/zabbix-server-pgsql")
FRONTEND = Path("/usr/share/zabbix")


class ZabbixApiError(RuntimeError):
    pass


class ZabbixApi:
    """The frontend's JSON-RPC API (``api_jsonrpc.php``), logged in as Admin."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.auth: str | None = None
        self._id = 0

    def call(self, method: str, params: Any = None) -> Any:
        self._id += 1
        body: dict[str, Any] = {
            "jsonrpc": "2.0",
            "method": method,
            "params": {} if params is None else params,
            "id": self._id,
        }
        if self.auth and method not in ("user.login", "apiinfo.version"):
            body["auth"] = self.auth
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json-rpc"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            raise ZabbixApiError(f"{method}: {answer['error']}")
        return answer["result"]

    def login(self) -> None:
        self.auth = self.call("user.login", {"username": "Admin", "password": "zabbix"})


@dataclass
class ZabbixStack:
    api: ZabbixApi
    server_conf: Path
    server_log: Path
    trap_file: Path
    db_port: int

    def analyze(self) -> None:
        """Give PostgreSQL's planner statistics of the tables as they are now.

        A fresh database has none; after a template import, the server's template linking
        for discovered hosts then runs on plans made for empty tables, one query taking
        minutes. Call this after importing templates and before anything is discovered.
        """
        _run([*_psql(self.db_port), "-U", "zabbix", "-d", "zabbix", "-c", "ANALYZE"], None)

    def reload_config(self) -> None:
        """Make the server read new hosts and items now (``-R config_cache_reload``)."""
        subprocess.run(
            [require_tool("zabbix_server", "zabbix-server-pgsql"), "-c", str(self.server_conf),
             "-R", "config_cache_reload"],
            capture_output=True, timeout=30, check=True,
        )  # fmt: skip

    def check_now(self, itemids: list[str]) -> None:
        """Task "check now" (type 6) for items and discovery rules."""
        if itemids:
            self.api.call(
                "task.create",
                [{"type": 6, "request": {"itemid": itemid}} for itemid in itemids],
            )


def _free_port_below_32768() -> int:
    """A free TCP port that zabbix_server's ListenPort accepts (1024-32767)."""
    for _ in range(200):
        port = random.randint(20000, 32767)
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-32767")


def _run(command: list[str], user: str | None, **kwargs: Any) -> None:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")


def _psql(port: int) -> list[str]:
    return [require_tool("psql", "postgresql"), "-h", LOOPBACK, "-p", str(port), "-q",
            "-v", "ON_ERROR_STOP=1"]  # fmt: skip


@contextmanager
def _postgres(base: Path) -> Iterator[int]:
    """A private PostgreSQL 15 cluster on 127.0.0.1 with role and database ``zabbix``."""
    user = "postgres" if os.getuid() == 0 else None
    data, sockets = base / "pgdata", base / "pgsock"
    for directory in (data, sockets):
        directory.mkdir()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
    _run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"], user)
    port = free_port()
    options = f"-c listen_addresses={LOOPBACK} -p {port} -k {sockets} -c fsync=off"
    log = sockets / "postgresql.log"
    _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"],
         user)  # fmt: skip
    try:
        psql = _psql(port)
        _run([*psql, "-U", "postgres", "-c", "CREATE ROLE zabbix LOGIN PASSWORD 'zabbix'"], None)
        _run([*psql, "-U", "postgres", "-c", "CREATE DATABASE zabbix OWNER zabbix"], None)
        for name in ("schema", "images", "data"):
            sql = gzip.decompress((SCHEMA_DIR / f"{name}.sql.gz").read_bytes()).decode()
            _run([*psql, "-U", "zabbix", "-d", "zabbix"], None, input=sql)
        yield port
    finally:
        _run([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], user)


def _frontend_copy(base: Path, db_port: int) -> Path:
    """A copy of Debian's frontend reading its config from the copy, not /etc."""
    root = base / "frontend"
    shutil.copytree(FRONTEND, root, symlinks=True)
    conf = root / "conf" / "zabbix.conf.php"
    conf.write_text(
        "<?php\n"
        "$DB['TYPE'] = 'POSTGRESQL';\n"
        f"$DB['SERVER'] = '{LOOPBACK}';\n"
        f"$DB['PORT'] = '{db_port}';\n"
        "$DB['DATABASE'] = 'zabbix';\n$DB['USER'] = 'zabbix';\n$DB['PASSWORD'] = 'zabbix';\n"
        "$DB['SCHEMA'] = '';\n$DB['ENCRYPTION'] = false;\n$DB['KEY_FILE'] = '';\n"
        "$DB['CERT_FILE'] = '';\n$DB['CA_FILE'] = '';\n$DB['VERIFY_HOST'] = false;\n"
        "$DB['CIPHER_LIST'] = '';\n$DB['VAULT_URL'] = '';\n$DB['VAULT_DB_PATH'] = '';\n"
        "$DB['VAULT_TOKEN'] = '';\n$DB['DOUBLE_IEEE754'] = true;\n"
        "$ZBX_SERVER_NAME = 'c12exporter tests';\n"
        "$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;\n",
        encoding="utf-8",
    )
    config_class = root / "include" / "classes" / "core" / "CConfigFile.php"
    text = config_class.read_text(encoding="utf-8")
    hard_coded = "'/etc/zabbix/zabbix.conf.php'"
    assert hard_coded in text, f"{config_class}: no {hard_coded} to replace"
    config_class.write_text(text.replace(hard_coded, repr(str(conf))), encoding="utf-8")
    return root


@contextmanager
def zabbix_stack(base: Path) -> Iterator[ZabbixStack]:
    """PostgreSQL, zabbix_server and the frontend API, all on loopback free ports."""
    zabbix_server = require_tool("zabbix_server", "zabbix-server-pgsql")
    php = require_tool("php", "php-cli")
    # PostgreSQL runs as its own user, which must reach the cluster's directories: pytest's
    # directories are private to the user running it, so the stack lives in the system's.
    del base
    base = Path(tempfile.mkdtemp(prefix="c12-zabbix-"))
    base.chmod(0o755)
    try:
        with ExitStack() as stack:
            db_port = stack.enter_context(_postgres(base))
            sockets = base / "zbxsock"
            sockets.mkdir()
            trap_file = base / "snmptraps.log"
            trap_file.touch()
            conf = base / "zabbix_server.conf"
            conf.write_text(
                "\n".join([
                    f"ListenIP={LOOPBACK}", f"ListenPort={_free_port_below_32768()}",
                    f"LogFile={base / 'zabbix_server.log'}", "DebugLevel=3",
                    f"PidFile={base / 'zabbix_server.pid'}", f"SocketDir={sockets}",
                    f"DBHost={LOOPBACK}", f"DBPort={db_port}", "DBName=zabbix",
                    "DBUser=zabbix", "DBPassword=zabbix",
                    "StartPollers=3", "StartPollersUnreachable=1", "StartTrappers=1",
                    "StartPingers=0", "StartDiscoverers=0", "StartHTTPPollers=3",
                    "StartTimers=1", "StartEscalators=1", "StartAlerters=1",
                    "StartLLDProcessors=2", "StartPreprocessors=2", "StartHistoryPollers=1",
                    "StartDBSyncers=2", "StartProxyPollers=0", "StartReportWriters=0",
                    "StartSNMPTrapper=1", f"SNMPTrapperFile={trap_file}",
                    "CacheUpdateFrequency=5", "HousekeepingFrequency=0", "Timeout=4",
                    "UnreachablePeriod=45", "UnavailableDelay=5", "UnreachableDelay=5",
                    f"AllowRoot={1 if os.getuid() == 0 else 0}", "",
                ]),
                encoding="utf-8",
            )  # fmt: skip
            server_log = base / "zabbix_server.log"
            server = stack.enter_context(
                process([zabbix_server, "-f", "-c", str(conf)], base / "zabbix_server.out")
            )
            root = _frontend_copy(base, db_port)
            web_port = free_port()
            stack.enter_context(
                process([php, "-S", f"{LOOPBACK}:{web_port}", "-t", str(root)], base / "php.log")
            )
            api = ZabbixApi(f"http://{LOOPBACK}:{web_port}/api_jsonrpc.php")
            wait_until(lambda: api.call("apiinfo.version"), 30, "Zabbix frontend API")
            api.login()
            api.call("host.update", {"hostid": "10084", "status": 1})

            def started() -> bool:
                if server.poll() is not None:
                    output = (base / "zabbix_server.out").read_text(errors="replace")
                    log = server_log.read_text(errors="replace") if server_log.exists() else ""
                    raise AssertionError(f"zabbix_server exited:\n{output}\n{log[-3000:]}")
                return server_log.exists() and "started [" in server_log.read_text(errors="replace")

            wait_until(started, 60, "zabbix_server started", step=0.5)
            yield ZabbixStack(api, conf, server_log, trap_file, db_port)
    finally:
        shutil.rmtree(base, ignore_errors=True)
