"""Basic auth under hostile credentials, against a real exporter on loopback: every
``Authorization`` header gets 401 (or 400 from the HTTP parser), never a 5xx or a
traceback; a password over bcrypt's 72 bytes is compared as exporter-toolkit compares it;
a refusal takes as long whoever it names; a web config whose hash no password can match
is refused at load, naming the file and key, never the hash."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from c12exporter.settings import ConfigError
from c12exporter.web.webconfig import (
    MAX_PASSWORD_BYTES,
    _check,
    _cost,
    _credentials,
    _dummy_hash,
    load_web_config,
)
from tests.servers import LOOPBACK, c12exporter_command, free_port, process, simulator, wait_until

pytestmark = pytest.mark.integration

USER = "prometheus"
PASSWORD = ("0123456789" * 8)[:MAX_PASSWORD_BYTES].encode()  # exactly 72 bytes
HASH = bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4)).decode()
CHEAP_USER, CHEAP_HASH = "cheap", bcrypt.hashpw(b"cheap", bcrypt.gensalt(rounds=4)).decode()


def basic(user: bytes, password: bytes) -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


def status_of(port: int, authorization: bytes | None, path: bytes = b"/metrics") -> int:
    """Send one request with exactly these header bytes; the status code answered."""
    header = b"" if authorization is None else b"Authorization: " + authorization + b"\r\n"
    request = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header + b"\r\n"
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while not answer.endswith(b"\r\n") or b"\r\n" not in answer[:200]:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("auth")
    web = tmp / "web.yml"
    web.write_text(f"basic_auth_users: {{{USER}: '{HASH}', {CHEAP_USER}: '{CHEAP_HASH}'}}\n")
    with simulator(tmp, 1, "--speed", "0") as (_, units_file):
        port = free_port()
        command = c12exporter_command(
            "serve", "--config.file", str(units_file),
            f"--web.listen-address={LOOPBACK}:{port}", f"--web.config.file={web}",
        )  # fmt: skip
        log = tmp / "exporter.log"
        with process(command, log):
            wait_until(lambda: status_of(port, basic(USER.encode(), PASSWORD)) == 200, 30,
                       "exporter with basic auth")  # fmt: skip
            yield port, log


def test_a_72_byte_password_is_accepted_and_a_wrong_one_refused(
    guarded: tuple[int, Path],
) -> None:
    port, _ = guarded
    assert len(PASSWORD) == 72
    assert status_of(port, basic(USER.encode(), PASSWORD)) == 200
    assert status_of(port, basic(USER.encode(), PASSWORD[:-1] + b"x")) == 401


def test_a_longer_password_is_compared_on_its_first_72_bytes_as_exporter_toolkit_does(
    guarded: tuple[int, Path],
) -> None:
    port, log = guarded
    assert status_of(port, basic(USER.encode(), PASSWORD + b"and more")) == 200
    for length in (73, 100, 1000, 4000):
        assert status_of(port, basic(USER.encode(), b"y" * length)) == 401
        assert status_of(port, basic(b"nobody", b"y" * length)) == 401
    assert "Traceback" not in log.read_text()


BAD_HEADERS = {
    "empty scheme": b"Basic",
    "other scheme": b"Bearer abc.def",
    "bad base64": b"Basic ===",
    "base64 without a colon": b"Basic " + base64.b64encode(b"prometheus"),
    "not ASCII": "Basic é€".encode(),
    "not UTF-8": b"Basic \xff\xfe\xfd",
    "user not UTF-8": basic(b"\xff\xfe", b"x"),
    "NUL in the password": basic(USER.encode(), PASSWORD[:10] + b"\x00" + PASSWORD[11:]),
    "NUL in the header": b"Basic abc\x00def",
    "control characters": b"Basic \x1b[31m\x07",
    "spaces only": b"Basic      ",
    "long": b"Basic " + b"A" * 7000,
    "too long for the parser": b"Basic " + b"A" * 20000,
}


@pytest.mark.parametrize("header", BAD_HEADERS.values(), ids=BAD_HEADERS)
def test_any_authorization_header_gets_401_or_400(guarded: tuple[int, Path], header: bytes) -> None:
    port, _ = guarded
    assert status_of(port, header) in (400, 401)
    assert status_of(port, basic(USER.encode(), PASSWORD)) == 200  # still serving


def test_refusals_log_one_rate_limited_line_without_a_traceback(guarded: tuple[int, Path]) -> None:
    port, log = guarded
    for i in range(30):
        assert status_of(port, basic(b"eve", b"p" * (70 + i))) == 401
    text = log.read_text(encoding="utf-8")
    assert "Traceback" not in text
    refusals = [line for line in text.splitlines() if "basic auth: refused" in line]
    assert 1 <= len(refusals) <= 2, refusals  # one a minute, saying how many it held back
    assert not any(ch < " " for line in text.splitlines() for ch in line)


def test_credentials_are_read_as_the_client_sent_them() -> None:
    assert _credentials(basic(b"u", b"p:q").decode()) == ("u", b"p:q")
    assert _credentials("basic " + base64.b64encode(b"u:").decode()) == ("u", b"")
    assert _credentials("Basic " + base64.b64encode(b"no colon").decode()) is None
    assert _credentials("Digest x") is None
    assert _credentials("Basic Zm9v\udcff") is None  # bytes aiohttp kept as surrogates


def test_a_refusal_costs_the_same_whoever_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a timing: the bcrypt work of each refusal, read from the hashes it checks. A
    wrong password for a cost-4 user must check a hash of the file's top cost, as an
    unknown user does (it once checked only its own cheap hash: 1/16 of the time)."""
    users = {
        "cheap": bcrypt.hashpw(b"a", bcrypt.gensalt(rounds=4)),
        "dear": bcrypt.hashpw(b"b", bcrypt.gensalt(rounds=8)),
    }
    dummy = _dummy_hash(users)
    assert _cost(dummy) == 8
    checked: list[int] = []
    real_checkpw = bcrypt.checkpw

    def counting_checkpw(password: bytes, hashed: bytes) -> bool:
        checked.append(_cost(hashed))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting_checkpw)
    for user in ("cheap", "dear", "nobody"):
        checked.clear()
        assert not _check((user, b"wrong"), users, dummy, _cost(dummy))
        assert max(checked) == 8, (user, checked)  # the top cost, whoever it names
    checked.clear()
    assert _check(("cheap", b"a"), users, dummy, _cost(dummy))
    assert checked == [4]  # a right password costs only its own hash


GOOD = HASH
REFUSED_HASHES = {
    "cost 99": "$2y$99$" + GOOD[7:],
    "cost 03": "$2y$03$" + GOOD[7:],
    "salt bcrypt cannot read": GOOD[:28] + "z" + GOOD[29:],
    "a password": "hunter2hunter2",
    "an MD5 crypt": "$apr1$abcdefgh$abcdefghijklmnopqrstuv",
}


@pytest.mark.parametrize("value", REFUSED_HASHES.values(), ids=REFUSED_HASHES)
def test_a_hash_no_password_can_match_is_refused_at_load(tmp_path: Path, value: str) -> None:
    if value == REFUSED_HASHES["salt bcrypt cannot read"]:
        with pytest.raises(ValueError):  # the case is real: bcrypt refuses this salt
            bcrypt.checkpw(b"x", value.encode())
    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  alice: '{value}'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"web\.yml: basic_auth_users\.alice: ") as error:
        load_web_config(path)
    assert value not in str(error.value) and value[7:29] not in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"basic_auth_users: {{alice: !!int {GOOD}}}\n", r"line 1, column 27: .*not a valid int"),
        (
            f"basic_auth_users: {{alice: !!binary {GOOD}}}\n",
            r"line 1, column 27: failed to decode base64|alice: not a bcrypt hash",
        ),
        ("basic_auth_users: {alice: !!python/object:os.system [ls]}\n", r"line 1, column 27"),
        (f"basic_auth_users: {{alice: [{GOOD}]}}\n", r"basic_auth_users\.alice: not a bcrypt"),
    ],
    ids=["int", "binary", "python object", "list"],  # the hash is new at each run
)
def test_a_hash_under_a_tag_is_refused_without_quoting_it(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        load_web_config(path)
    assert str(path) in str(error.value)
    assert GOOD[7:29] not in str(error.value)


def test_a_web_config_that_is_not_utf8_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_bytes(f"basic_auth_users:\n  alice: '{GOOD}'\n  b\xe9b: x\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"web\.yml: not valid YAML: line 3, column 4: "
                                          r"a byte that is not UTF-8"):  # fmt: skip
        load_web_config(path)
