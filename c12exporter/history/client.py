"""The commands' side of the history's HTTP API: one request to the running exporter, its
JSON answer, or a :class:`ClientError` saying why not in words."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

HEADER = "X-C12-History"
PASSWORD_ENV = "C12_PASSWORD"
TIMEOUT_S = 30.0


class ClientError(Exception):
    """The exporter refused the request (``status``) or could not be reached (0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def call(
    url: str,
    method: str,
    path: str,
    body: dict[str, object] | None = None,
    auth: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """``method`` ``path`` on the exporter at ``url``, with ``body`` as JSON (a ``POST``
    carries the :data:`HEADER` the API asks for); returns the JSON answer."""
    request = urllib.request.Request(
        url.rstrip("/") + urllib.parse.quote(path),
        data=None if body is None else json.dumps(body).encode(),
        method=method,
    )
    if body is not None:
        request.add_header("Content-Type", "application/json")
        request.add_header(HEADER, "1")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        with error:
            text = error.read().decode(errors="replace")
        try:
            message = str(json.loads(text)["message"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {error.code}: {text.strip()[:200]}"
        if error.code == 401:
            message = f"wrong or no basic auth: give --user and ${PASSWORD_ENV} ({message})"
        raise ClientError(message, error.code) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise ClientError(f"cannot reach the exporter at {url}: {reason}") from None
