"""``--web.config.file``: TLS and basic auth, checked with a real client and a real
Prometheus scraping over HTTPS with credentials."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from c12exporter.config import ConfigError
from c12exporter.web.webconfig import load_web_config
from tests.servers import (
    LOOPBACK,
    c12exporter_command,
    exporter,
    free_port,
    process,
    prometheus,
    simulator,
    wait_until,
)

pytestmark = pytest.mark.integration

USER, PASSWORD = "prometheus", "correct horse battery staple"


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "c12exporter test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp / "server.crt", tmp / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


def web_config(tmp: Path) -> Path:
    self_signed(tmp)
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path = tmp / "web.yml"
    path.write_text(
        "tls_server_config: {cert_file: server.crt, key_file: server.key}\n"
        f"basic_auth_users: {{{USER}: '{hashed}'}}\n"
        "http_server_config: {http2: true, headers: {x-frame-options: DENY}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    config = web_config(tmp)
    with simulator(tmp, 1, "--speed", "0") as (_, units_file):
        port = free_port()
        command = c12exporter_command(
            "serve", "--config.file", str(units_file),
            f"--web.listen-address={LOOPBACK}:{port}", f"--web.config.file={config}",
        )  # fmt: skip
        with process(command, tmp / "exporter.log"):
            url = f"https://{LOOPBACK}:{port}"
            wait_until(lambda: get(url, tmp, USER, PASSWORD)[0] == 200, 30, "exporter on HTTPS")
            yield url, tmp


def get(url: str, tmp: Path, user: str | None, password: str | None) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(tmp / "server.crt"))
    request = urllib.request.Request(f"{url}/metrics")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        error.close()
        return error.code, ""


def test_right_credentials_over_tls(secured: tuple[str, Path]) -> None:
    url, tmp = secured
    status, body = get(url, tmp, USER, PASSWORD)
    assert status == 200
    assert "c12_up{" in body


@pytest.mark.parametrize(("user", "password"), [(None, None), (USER, "wrong"), ("eve", PASSWORD)])
def test_wrong_or_missing_credentials_get_401(secured: tuple[str, Path], user: str | None,
                                              password: str | None) -> None:  # fmt: skip
    url, tmp = secured
    assert get(url, tmp, user, password)[0] == 401


def test_plain_http_is_not_served(secured: tuple[str, Path]) -> None:
    url, _ = secured
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(url.replace("https://", "http://") + "/metrics", timeout=5)


def test_prometheus_scrapes_over_tls_with_basic_auth(secured: tuple[str, Path]) -> None:
    url, tmp = secured
    scrape = [{
        "job_name": "c12", "scheme": "https",
        "tls_config": {"ca_file": str(tmp / "server.crt")},
        "basic_auth": {"username": USER, "password": PASSWORD},
        "static_configs": [{"targets": [url.removeprefix("https://")]}],
    }]  # fmt: skip
    prom_dir = tmp / "prometheus"
    prom_dir.mkdir()
    with prometheus(prom_dir, scrape) as server:
        wait_until(lambda: server.value('up{job="c12"}') == 1, 30, "HTTPS scrape up")
        assert server.value("c12_up") == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("basic_auth_users: {alice: hunter2}\n", r"basic_auth_users\.alice: not a bcrypt hash"),
        ("tls_server_config: {cert_file: a.crt}\n", r"tls_server_config\.key_file: missing"),
        (
            "tls_server_config: {cert_file: a.crt, key_file: a.key}\n",
            r"tls_server_config: cannot load cert_file .*a\.crt",
        ),
        ("tls: {}\n", r"unknown key 'tls'; allowed: basic_auth_users, http_server_config, "
                        r"tls_server_config; fix its spelling or remove it"),
        ("tls_server_config: {cert_fle: a.crt}\n",
         r"tls_server_config: unknown key 'cert_fle'; allowed: cert_file, client_auth_type"),
        ("tls_server_config: {cert_file: a.crt, key_file: a.key, cipher_suites: [x]}\n",
         r"tls_server_config: 'cipher_suites' is not supported by c12exporter .*; remove it"),
        ("http_server_config: {http3: true}\n",
         r"http_server_config: unknown key 'http3'; allowed: headers, http2"),
        ("http_server_config: {headers: {Server: x}}\n",
         r"http_server_config\.headers: 'Server' cannot be set; allowed: Content-Security"),
        ("basic_auth_users: {alice: {hash: x}}\n", r"basic_auth_users\.alice: not a bcrypt hash"),
    ],
)  # fmt: skip
def test_web_config_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_web_config(path)


@pytest.mark.parametrize(
    "secret", ["hunter2", "$2y$10$abcdefghijklmnopqrstuv", "$2y$10$" + "x" * 53 + "$"]
)
def test_web_config_errors_never_echo_a_secret(tmp_path: Path, secret: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users: {{alice: '{secret}'}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"basic_auth_users\.alice: not a bcrypt hash") as error:
        load_web_config(path)
    assert secret not in str(error.value) and "abcdefgh" not in str(error.value)


def test_web_config_file_is_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from c12exporter.config import load_config
    from c12exporter.plugins import load_plugins
    from c12exporter.web.server import HttpSettings

    conf = tmp_path / "etc"
    conf.mkdir()
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (conf / "web.yml").write_text(f"basic_auth_users: {{{USER}: '{hashed}'}}\n")
    (conf / "c12.yml").write_text(
        "web: {config_file: web.yml}\nunits: [{name: a, address: '127.0.0.1:1502'}]\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config("../etc/c12.yml", load_plugins())
    web = config.exposers["web"]
    assert isinstance(web, HttpSettings) and web.web_config_file is not None
    assert Path(web.web_config_file).resolve() == (conf / "web.yml").resolve()
    assert set(web.web_config.users) == {USER}
    (conf / "web.yml").unlink()
    with pytest.raises(ConfigError, match=r"etc/web\.yml: cannot read the web config"):
        load_config("../etc/c12.yml", load_plugins())


def test_configured_response_headers_are_sent(secured: tuple[str, Path]) -> None:
    url, tmp = secured
    context = ssl.create_default_context(cafile=str(tmp / "server.crt"))
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        f"{url}/-/healthy", headers={"Authorization": f"Basic {token}"}
    )
    with urllib.request.urlopen(request, context=context, timeout=5) as response:
        assert response.headers["X-Frame-Options"] == "DENY"


def test_check_plugin_over_tls_with_basic_auth(secured: tuple[str, Path]) -> None:
    """`c12exporter check` through the secured exporter: CA file, user, password file."""
    url, tmp = secured
    password_file = tmp / "check-password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    base = ["check", "--exporter", url, "--ca-file", str(tmp / "server.crt"), "--user", USER]

    def check(*args: str) -> tuple[int, str]:
        done = subprocess.run(c12exporter_command(*base, *args), capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
        return done.returncode, done.stdout.strip()

    code, line = check("--password-file", str(password_file))
    assert code in (0, 1, 2) and line.startswith("C12 ") and "|" in line, line  # read the fleet
    wrong = tmp / "wrong-password"
    wrong.write_text("not it\n", encoding="utf-8")
    code, line = check("--password-file", str(wrong))
    assert code == 3 and "401" in line, line
    untrusted = subprocess.run(
        c12exporter_command("check", "--exporter", url, "--password-file", str(password_file),
                            "--user", USER),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert untrusted.returncode == 3, untrusted.stdout  # no --ca-file: not trusted


def test_an_unknown_user_costs_a_bcrypt_check_like_a_wrong_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No timing oracle for user names: every refusal runs one bcrypt check."""
    from c12exporter.web import webconfig

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4))
    users = {USER: hashed}
    dummy = webconfig._dummy_hash(users)
    assert dummy.startswith(b"$2b$04$")  # the configured cost
    checked: list[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: checked.append(h) or real(pw, h))

    def check(user: str, password: str) -> bool:
        return webconfig._check((user, password.encode()), users, dummy, 4)

    assert check(USER, PASSWORD)
    assert not check(USER, "wrong")
    assert not check("mallory", PASSWORD)
    assert checked == [hashed, hashed, dummy]


def test_a_wrong_password_flood_is_refused_at_once_and_a_known_client_is_served() -> None:
    """Password checks beyond the queue are answered 429 without bcrypt; a client whose
    credentials checked out before is served from the cache throughout."""
    import asyncio

    import aiohttp
    from aiohttp import web

    from c12exporter.web import webconfig

    users = {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=9))}

    def auth(password: str) -> dict[str, str]:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def run() -> tuple[list[int], list[int]]:
        app = web.Application(middlewares=[webconfig.basic_auth_middleware(users)])

        async def ok(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        app.router.add_get("/", ok)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, LOOPBACK, 0)
        await site.start()
        url = f"http://{LOOPBACK}:{site.port}/"
        try:
            async with aiohttp.ClientSession() as session:

                async def get(password: str) -> int:
                    async with session.get(url, headers=auth(password)) as response:
                        return response.status

                assert await get(PASSWORD) == 200  # checked once, then remembered
                flood = [asyncio.ensure_future(get(f"wrong{i}")) for i in range(40)]
                await asyncio.sleep(0)
                known = [await get(PASSWORD) for _ in range(5)]
                return known, list(await asyncio.gather(*flood))
        finally:
            await runner.cleanup()

    known, flooded = asyncio.run(run())
    assert known == [200] * 5
    assert 429 in flooded and set(flooded) <= {401, 429}


def post_reload(url: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(f"{url}/-/reload", data=b"", method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def test_reload_refuses_a_post_from_another_sites_page(tmp_path: Path) -> None:
    """A form on any web page could post to /-/reload from an operator's browser: the
    browser's Origin and Sec-Fetch-Site headers tell, and such a post is refused."""
    config = yaml.safe_dump({"units": [{"name": "nobody", "address": f"{LOOPBACK}:{free_port()}"}]})
    with exporter(tmp_path, config) as url:
        log = tmp_path / "exporter.log"
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for headers in (
            {**form, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
            {**form, "Origin": "http://evil.example"},
            {**form, "Sec-Fetch-Site": "same-site"},
            {**form, "Origin": "null"},
        ):
            status, text = post_reload(url, headers)
            assert status == 403 and "refused" in text, (headers, status, text)
        assert "reloaded" not in log.read_text()
        same = {"Origin": url, "Sec-Fetch-Site": "same-origin"}
        assert post_reload(url, same) == (200, "OK\n")
        assert post_reload(url, {}) == (200, "OK\n")  # curl, a script
        wait_until(lambda: log.read_text().count("reloaded ") == 2, 10, "two reloads")
