"""The REST token exchange: project id and secret -> gRPC bearer tokens (one HTTP call).

``POST {cloud}/projects/{id}/imessage/tokens`` with Basic auth answers
``{"succeed": true, "data": {...}}``: a shared token, or one token per dedicated line
instance with its phone number, and ``expiresIn`` seconds (docs/behaviour.md, "Tokens").

It is an ordinary network call under the caller's deadline: the whole request (connect,
TLS, send, every read) ends within ``timeout``, enforced by a timer that shuts the socket
down, because per-read socket timeouts let a server that trickles a byte every half second
hold the call forever. Redirects are never followed (the Basic credentials must not go to
another URL), at most 1 MiB is read, and every failure is a :class:`SpectrumError`.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import http.client
import json
import logging
import math
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote, urlsplit

from .._clock import SYSTEM, Clock
from .._errors import AuthenticationError, CloudError, ConfigurationError, ConnectionError

if TYPE_CHECKING:
    import ssl

__all__ = ["Grant", "exchange_token", "validate_cloud_url"]

log = logging.getLogger("spectrum_sync.auth")

MAX_BODY = 1 << 20
MIN_TTL, MAX_TTL = 5.0, 86_400.0


class Grant(NamedTuple):
    """The result of one token exchange.

    ``kind`` is ``"shared"`` or ``"dedicated"``; ``tokens`` maps instance ids to tokens (the
    shared pool uses the key ``"shared"``); ``numbers`` maps instance ids to the line's phone
    number (None while it has none); ``obtained_at`` is the token clock's ``now()``
    (``time.monotonic()`` unless a test clock is given) when the request was sent;
    ``clock_skew`` is the server's clock (its ``Date`` header) minus ours, in seconds, when
    the answer had a readable one (1 s resolution: the header has no more). A named tuple,
    not an attrs class: cheaper to create for a one-shot script.
    """

    kind: str
    tokens: Mapping[str, str]
    numbers: Mapping[str, str | None]
    expires_in: float
    obtained_at: float
    clock_skew: float | None = None

    def __repr__(self) -> str:  # never the tokens
        return (f"Grant(kind={self.kind!r}, numbers={self.numbers!r}, "
                f"expires_in={self.expires_in!r}, obtained_at={self.obtained_at!r}, "
                f"clock_skew={self.clock_skew!r})")


def validate_cloud_url(url: object) -> str:
    """The cloud base URL, or :class:`ConfigurationError` for anything that cannot be one."""
    if not isinstance(url, str):
        raise ConfigurationError(f"the cloud URL must be a string, not {type(url).__name__}")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise ConfigurationError(f"the cloud URL {url!r} contains spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(f"cloud URL {url!r} must start with http:// or https://")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"cloud URL {url!r} has an invalid port") from None
    if not parts.hostname or port == 0:
        raise ConfigurationError(f"cloud URL {url!r} has no host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigurationError(
            f"cloud URL {url!r} must be a plain base URL (no credentials, query or fragment)"
        )
    return url.rstrip("/")


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def camel_code(rest_code: str) -> str:
    """The REST API's ``UPPER_SNAKE`` code in the camelCase every other code uses
    (``INVALID_CREDENTIALS`` -> ``invalidCredentials``); camelCase input is kept."""
    if not rest_code.isupper():
        return rest_code
    first, *rest = rest_code.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def _rest_error(status: int, body: bytes) -> CloudError | AuthenticationError:
    payload = _decode(body)
    rest_code, message = "UNKNOWN", f"token exchange failed with HTTP {status}"
    if isinstance(payload, dict):
        rest_code = str(payload.get("code") or rest_code)[:100]
        detail = payload.get("message")
        if isinstance(detail, str) and detail:
            message = f"token exchange failed: {detail[:500]} (HTTP {status})"
    error: CloudError | AuthenticationError
    if status in (401, 403):
        error = AuthenticationError(
            message + "; check SPECTRUM_PROJECT_ID / SPECTRUM_PROJECT_SECRET",
            code=camel_code(rest_code), http_status=status,
        )
    else:
        error = CloudError(message, code=camel_code(rest_code), http_status=status,
                           retryable=status >= 500)
    error.rest_code = rest_code  # the REST API's own spelling, as earlier versions gave it
    return error


def _ttl(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError("expiresIn is not a number")
    ttl = float(raw)
    if math.isfinite(ttl) and MIN_TTL <= ttl <= MAX_TTL:
        return ttl
    # NaN, zero and negative values would schedule refreshes in a tight loop; infinity would
    # overflow the scheduler: both are mistakes of the server, not lifetimes.
    clamped = MAX_TTL if ttl > MAX_TTL else MIN_TTL
    log.warning("the token exchange returned expiresIn=%r; using %g s (allowed: %g s to %g s)",
                raw, clamped, MIN_TTL, MAX_TTL)
    return clamped


def _malformed(what: str) -> CloudError:
    return CloudError(f"token exchange returned a malformed grant ({what})",
                      code="invalidResponse")


def _parse_grant(data: Any, obtained_at: float) -> Grant:
    if not isinstance(data, dict):
        raise CloudError("token exchange returned no data", code="invalidResponse")
    kind = data.get("type")
    try:
        expires_in = _ttl(data["expiresIn"])
    except KeyError:
        raise _malformed("no expiresIn") from None
    except (TypeError, ValueError, OverflowError):
        raise _malformed("expiresIn is not a number") from None
    if kind == "shared":
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise _malformed("no token")
        return Grant("shared", {"shared": token}, {}, expires_in, obtained_at)
    if kind == "dedicated":
        auth, numbers = data.get("auth"), data.get("numbers") or {}
        if not isinstance(auth, dict) or not isinstance(numbers, dict):
            raise _malformed("auth and numbers must be objects")
        tokens: dict[str, str] = {}
        phones: dict[str, str | None] = {}
        for instance, token in auth.items():
            if not isinstance(token, str) or not token:
                raise _malformed(f"the token of line instance {instance!r} is not a string")
            number = numbers.get(instance)
            if number is not None and not isinstance(number, str):
                raise _malformed(f"the number of line instance {instance!r} is not a string")
            tokens[str(instance)] = token
            phones[str(instance)] = number or None
        return Grant("dedicated", tokens, phones, expires_in, obtained_at)
    raise CloudError(f"unknown project type {str(kind)[:50]!r}", code="invalidResponse")


class _Deadline:
    """Shuts the connection's socket down when the time is up, unblocking any read or write;
    a response read after that is not trusted (a cut may look like the end of the headers)."""

    def __init__(self, conn: http.client.HTTPConnection, timeout: float) -> None:
        self._conn = conn
        self.passed = False
        self._timer = threading.Timer(timeout, self._abort)
        self._timer.daemon = True
        self._timer.start()

    def _abort(self) -> None:
        self.passed = True
        sock = self._conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _post(url: str, headers: dict[str, str], timeout: float,
          ssl_context: ssl.SSLContext | None) -> tuple[int, dict[str, str], bytes]:
    """One POST without redirects, all of it within ``timeout``: (status, headers, body)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    path = parts.path or "/"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout,
                                           context=ssl_context)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    deadline = _Deadline(conn, timeout)
    try:
        conn.request("POST", path, body=b"", headers=headers)
        response = conn.getresponse()
        body = response.read(MAX_BODY + 1)
        answer = response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        deadline.cancel()
        conn.close()
    if deadline.passed:
        raise TimeoutError("the deadline passed")
    return answer


def exchange_token(
    cloud_url: str,
    project_id: str,
    project_secret: str,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
    clock: Clock = SYSTEM,
) -> Grant:
    """Exchange the project credentials for tokens; raises only :class:`SpectrumError`.

    ``ssl_context`` overrides the trust store for an ``https`` URL. The grant's
    ``obtained_at`` and ``clock_skew`` are read from ``clock`` (the token schedule's); the
    ``timeout`` is real time."""
    base = validate_cloud_url(cloud_url)
    url = f"{base}/projects/{quote(project_id, safe='')}/imessage/tokens"
    basic = base64.b64encode(f"{project_id}:{project_secret}".encode()).decode("ascii")
    headers = {
        "Authorization": f"Basic {basic}",
        "Accept": "application/json",
        "Content-Length": "0",
        "User-Agent": "spectrum-sync",
    }
    started, obtained_at = time.monotonic(), clock.now()
    try:
        status, response_headers, body = _post(url, headers, timeout, ssl_context)
    except (http.client.HTTPException, OSError, ValueError) as exc:
        if time.monotonic() - started >= timeout * 0.99:
            raise ConnectionError(
                f"Spectrum Cloud at {base} did not answer the token exchange within "
                f"{timeout:g} s", code="timeout", retryable=True,
            ) from None
        reason = str(exc) or type(exc).__name__
        raise ConnectionError(
            f"cannot reach Spectrum Cloud at {base}: {reason[:200]}", code="networkError",
            retryable=True,
        ) from None
    if len(body) > MAX_BODY:
        raise CloudError("the token exchange answer is larger than 1 MiB",
                         code="invalidResponse", http_status=status)
    if 300 <= status < 400:
        target = response_headers.get("location", "?")[:200]
        raise CloudError(
            f"the token endpoint answered HTTP {status} (a redirect to {target}); redirects "
            "are not followed, so that the credentials never go to another URL: set the "
            "cloud URL (SPECTRUM_CLOUD_URL) to the final address",
            code="redirect", http_status=status,
        )
    payload = _decode(body)
    if not (200 <= status < 300) or not isinstance(payload, dict) or payload.get(
            "succeed") is not True:
        raise _rest_error(status, body)
    grant = _parse_grant(payload.get("data"), obtained_at)
    return grant._replace(clock_skew=_clock_skew(response_headers.get("date"), clock))


def _clock_skew(date: str | None, clock: Clock = SYSTEM) -> float | None:
    """Server time minus ours from an HTTP ``Date`` header; None when it is absent or odd."""
    if not date:
        return None
    try:
        server = email.utils.parsedate_to_datetime(date[:100]).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # The header drops the fraction of its second: its middle is the best guess.
    return server + 0.5 - clock.epoch() if math.isfinite(server) else None
