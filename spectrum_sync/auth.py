"""Cloud credentials: the REST token exchange and the background refresher.

:func:`exchange_token` trades the project id and secret for gRPC bearer
tokens (DESIGN.md 2.1) with the standard library's HTTP client.
:class:`CloudAuth` keeps the tokens fresh: a daemon thread re-exchanges at
80% of the lifetime, a call that finds the token close to expiry refreshes
first (coalesced: one exchange at a time), failures back off while the old
token stays in use until it has really expired, and every new grant is handed
to a listener (the line set reconciles its lines from it).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable

import attrs

from .errors import (
    AuthenticationError,
    CloudError,
    ConnectionError,
    SpectrumError,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["CloudAuth", "Grant", "exchange_token"]

log = logging.getLogger("spectrum_sync.auth")

DEFAULT_CLOUD_URL = "https://spectrum.photon.codes"
MIN_REFRESH_INTERVAL = 5.0  # seconds between two exchanges, when the lifetime allows
REFRESH_MARGIN = 30.0  # a call within this of expiry refreshes first
MAX_BACKOFF = 30.0


@attrs.frozen
class Grant:
    """The result of one token exchange.

    ``kind`` is ``"shared"`` or ``"dedicated"``. ``tokens`` maps instance ids
    to tokens (shared mode uses the single key ``"shared"``); ``numbers``
    maps instance ids to the line's phone number (None when it has none).
    """

    kind: str
    tokens: Mapping[str, str] = attrs.field(repr=False)
    numbers: Mapping[str, str | None]
    expires_in: float
    obtained_at: float  # time.monotonic() when the request was sent


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else None
    except (UnicodeDecodeError, ValueError):
        return None


def _rest_error(status: int, body: bytes) -> SpectrumError:
    payload = _decode(body)
    code, message = "UNKNOWN", f"token exchange failed with HTTP {status}"
    if isinstance(payload, dict):
        code = str(payload.get("code") or code)
        if payload.get("message"):
            message = f"token exchange failed: {payload['message']} (HTTP {status})"
    if status in (401, 403):
        return AuthenticationError(
            message + "; check SPECTRUM_PROJECT_ID / SPECTRUM_PROJECT_SECRET",
            code=code,
            http_status=status,
        )
    return CloudError(message, code=code, http_status=status, retryable=status >= 500)


def _parse_grant(data: Any, obtained_at: float) -> Grant:
    if not isinstance(data, dict):
        raise CloudError("token exchange returned no data", code="invalidResponse")
    try:
        expires_in = float(data["expiresIn"])
        if data.get("type") == "shared":
            return Grant("shared", {"shared": str(data["token"])}, {}, expires_in, obtained_at)
        if data.get("type") == "dedicated":
            tokens = {str(k): str(v) for k, v in dict(data["auth"]).items()}
            raw_numbers = dict(data.get("numbers") or {})
            numbers = {
                k: (None if raw_numbers.get(k) is None else str(raw_numbers[k])) for k in tokens
            }
            return Grant("dedicated", tokens, numbers, expires_in, obtained_at)
    except (KeyError, TypeError, ValueError) as exc:
        raise CloudError(
            f"token exchange returned a malformed grant ({type(exc).__name__})",
            code="invalidResponse",
        ) from None
    raise CloudError(f"unknown project type {data.get('type')!r}", code="invalidResponse")


def exchange_token(
    cloud_url: str,
    project_id: str,
    project_secret: str,
    timeout: float,
    ssl_context: ssl.SSLContext | None = None,
) -> Grant:
    """``POST /projects/{id}/imessage/tokens`` with Basic auth; returns the grant.

    ``ssl_context`` overrides the trust store for an ``https`` URL."""
    # Imported here: urllib.request is slow to import and needed once per refresh.
    import urllib.error
    import urllib.parse
    import urllib.request

    project = urllib.parse.quote(project_id, safe="")
    url = f"{cloud_url.rstrip('/')}/projects/{project}/imessage/tokens"
    basic = base64.b64encode(f"{project_id}:{project_secret}".encode()).decode("ascii")
    request = urllib.request.Request(
        url,
        data=b"",
        method="POST",
        headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=ssl_context) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        exc.close()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(
            f"cannot reach Spectrum Cloud at {cloud_url}: {reason}", code="networkError"
        ) from None
    payload = _decode(body)
    if (
        not (200 <= status < 300)
        or not isinstance(payload, dict)
        or payload.get("succeed") is not True
    ):
        raise _rest_error(status, body)
    return _parse_grant(payload.get("data"), started)


class CloudAuth:
    """Keeps a :class:`Grant` fresh; see the module docstring.

    ``exchange(timeout)`` performs one exchange; ``on_grant(grant)`` receives
    every new grant (called with no lock of this class held by other threads
    waiting on it, from the thread that did the exchange).
    """

    def __init__(
        self,
        exchange: Callable[[float], Grant],
        on_grant: Callable[[Grant], None],
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._exchange = exchange
        self._on_grant = on_grant
        self._timeout = timeout
        self._clock = clock
        self._closed = False
        self._reset_runtime()
        self.grant: Grant | None = None
        self.expires_at = 0.0
        self.refresh_due = 0.0  # read lock-free by the call path
        self._refresh_at = 0.0  # when the background thread renews
        self._last_exchange = -1e9
        self._failures = 0
        self.last_error: SpectrumError | None = None

    def _reset_runtime(self) -> None:
        # Locks and threads: recreated after fork (a lock may be held by a
        # thread that does not exist in the child).
        self._lock = threading.Lock()
        self._wake = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        kind = self.grant.kind if self.grant else "none"
        return f"CloudAuth(kind={kind!r}, failures={self._failures})"

    # ----- refreshing ------------------------------------------------------

    def _min_interval(self) -> float:
        ttl = self.grant.expires_in if self.grant else 0.0
        return min(MIN_REFRESH_INTERVAL, ttl / 2) if ttl else 0.0

    def _exchange_locked(self) -> Grant:
        grant = self._exchange(self._timeout)
        ttl = max(grant.expires_in, 0.001)
        self._last_exchange = grant.obtained_at
        self.grant = grant
        self.expires_at = grant.obtained_at + ttl
        self._refresh_at = grant.obtained_at + max(0.8 * ttl, min(MIN_REFRESH_INTERVAL, ttl / 2))
        self.refresh_due = self.expires_at - min(REFRESH_MARGIN, 0.1 * ttl)
        self._failures = 0
        self.last_error = None
        if not self._closed:  # a late refresh must not revive a closed client's lines
            self._on_grant(grant)
        return grant

    def _note_failure(self, error: SpectrumError) -> float:
        self._failures += 1
        self.last_error = error
        backoff = min(0.5 * float(2 ** (self._failures - 1)), MAX_BACKOFF)
        retry_at = self._clock() + backoff
        # Keep using a valid token, but retry no later than shortly before it expires.
        self._refresh_at = retry_at
        self.refresh_due = min(retry_at, self.expires_at) if self.grant else 0.0
        log.warning(
            "token refresh failed (%s, attempt %d); retrying in %.1f s",
            error.code,
            self._failures,
            backoff,
        )
        return backoff

    def refresh(self, *, force: bool = False) -> bool:
        """Exchange now (coalesced with concurrent callers); True if a new grant came in."""
        start_generation = self._last_exchange
        with self._lock:
            if self._last_exchange != start_generation:
                return True  # another thread refreshed while we waited
            if force and self._clock() - self._last_exchange < self._min_interval():
                return False
            try:
                self._exchange_locked()
            except SpectrumError as exc:
                self._note_failure(exc)
                raise
        self._start_thread()
        return True

    def ensure_fresh(self, timeout: float) -> None:
        """Called by a call that found ``refresh_due`` passed."""
        now = self._clock()
        if self.grant is not None and now < self.expires_at:
            # Still valid: refresh only if nobody else is, and never fail the call.
            if self._lock.acquire(blocking=False):
                try:
                    if self._clock() >= self.refresh_due:
                        self._exchange_locked()
                except SpectrumError as exc:
                    self._note_failure(exc)
                finally:
                    self._lock.release()
                self._start_thread()
            return
        # No usable token: the call must wait for one.
        start_generation = self._last_exchange
        if not self._lock.acquire(timeout=max(timeout, 0.001)):
            raise ConnectionError("timed out waiting for a token refresh", code="timeout")
        try:
            if self._last_exchange == start_generation or self._clock() >= self.expires_at:
                try:
                    self._exchange_locked()
                except SpectrumError as exc:
                    self._note_failure(exc)
                    raise
        finally:
            self._lock.release()
        self._start_thread()

    def force_refresh(self) -> bool:
        """Re-exchange now unless one ran within the rate limit; never raises."""
        try:
            return self.refresh(force=True)
        except SpectrumError:
            return False

    # ----- the background thread ------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is not None or self._closed:
            return
        with self._wake:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name="spectrum-refresh", daemon=True)
            self._thread = thread
        thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._closed:
                    return
                delay = self._refresh_at - self._clock()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
            try:
                self.refresh()
            except SpectrumError:
                pass  # logged by _note_failure; the next try is scheduled there
            except Exception:  # never let the refresher die silently
                log.exception("unexpected error in the token refresher")
                self._note_failure(CloudError("unexpected refresher error"))

    def close(self, timeout: float = 5.0) -> None:
        """Stop the refresher thread and wait for it (bounded)."""
        with self._wake:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def after_fork_in_child(self) -> None:
        """The refresher thread did not survive fork: start over lazily."""
        self._reset_runtime()
