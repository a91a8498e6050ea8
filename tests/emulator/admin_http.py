"""A small HTTP helper for the admin API tests: full control over the request headers."""

from __future__ import annotations

import http.client
import json
from typing import Any

from spectrum_sync.emulator import Emulator

JSON = {"Content-Type": "application/json"}


class Answer:
    """Status, headers (lower-case names) and the parsed JSON body of one response."""

    def __init__(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.body!r})"


def call(emu: Emulator, method: str, path: str, body: Any = None, *,
         headers: dict[str, str] | None = None, raw: bytes | None = None,
         conn: http.client.HTTPConnection | None = None) -> Answer:
    """One request to the emulator's HTTP port; ``headers`` default to JSON content."""
    own = conn is None
    connection = conn or http.client.HTTPConnection("127.0.0.1", emu.http_port, timeout=10)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        connection.request(method, path, body=data,
                           headers=dict(JSON if headers is None else headers))
        response = connection.getresponse()
        payload = response.read()
        parsed = json.loads(payload) if payload else None
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                      parsed)
    finally:
        if own:
            connection.close()


def admin(emu: Emulator, route: str, body: Any = None, **kwargs: Any) -> Answer:
    """POST to ``/_emulator/<route>`` with JSON."""
    return call(emu, "POST", f"/_emulator/{route}", {} if body is None else body, **kwargs)
