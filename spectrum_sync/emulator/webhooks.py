"""Delivery of Spectrum's native webhooks: signed POSTs, at-least-once, unordered, retried.

Each delivery is a ``POST`` of the JSON body with the headers Spectrum Cloud sends:
``Content-Type: application/json``, ``User-Agent: spectrum-webhook/...``,
``X-Spectrum-Event: messages``, ``X-Spectrum-Webhook-Id: <uuid>``, ``X-Spectrum-Timestamp:
<unix seconds>`` and ``X-Spectrum-Signature: v0=<hex>``, the lowercase hex
``HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)`` over the exact body bytes. A
``whsec_`` secret signs Standard Webhooks instead (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256, under the base64-decoded secret,
of ``id.timestamp.body``). The emulator signs on its own, as the service does, so that the
library's verification is checked against an independent signer.

A small pool of worker threads sends them, so a slow or hanging receiver never holds up the
emulator: :meth:`WebhookSender.submit` only queues. A non-2xx answer, a connection error or
a timeout (``webhook_timeout`` bounds the whole attempt: connecting, sending and reading the
answer's headers, however slowly the receiver trickles them) is retried with exponential
backoff (``retry_base * 2**n`` seconds, at most 60), up to six attempts in all; then the
delivery is dropped with one log line. Several workers and retries mean the receiver may see
events out of order and more than once: it must
deduplicate by message id, as with the cloud.
"""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import logging
import math
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

log = logging.getLogger("spectrum_sync.emulator.webhooks")

MAX_ATTEMPTS = 6
MAX_BACKOFF = 60.0
USER_AGENT = "spectrum-webhook/0.1.0 (spectrum_sync emulator)"
_MAX_PENDING = 100_000

PENDING = "pending"
DELIVERED = "delivered"
DROPPED = "dropped"


class WebhookDelivery(NamedTuple):
    """What happened to one webhook: attempts so far, the last HTTP status (``None`` when no
    answer came) or error, and ``state``: pending, delivered or dropped."""

    event_id: str
    content_type: str
    line: str
    attempts: int
    last_status: int | None
    last_error: str | None
    state: str

    @property
    def delivered(self) -> bool:
        """Whether a 2xx answer came."""
        return self.state == DELIVERED

    @property
    def dropped(self) -> bool:
        """Whether every attempt failed."""
        return self.state == DROPPED


@dataclass
class _Job:
    event_id: str
    content_type: str
    line: str
    envelope: dict[str, Any]
    body: bytes = b""
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    state: str = PENDING
    cancelled: bool = False

    def snapshot(self) -> WebhookDelivery:
        return WebhookDelivery(self.event_id, self.content_type, self.line, self.attempts,
                               self.last_status, self.last_error, self.state)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Spectrum-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), b"v0:" + timestamp.encode("ascii") + b":" + body,
                   hashlib.sha256)
    return "v0=" + mac.hexdigest()


STANDARD_PREFIX = "whsec_"


def signature_headers(secret: str, timestamp: str, body: bytes, message_id: str,
                      ) -> dict[str, str]:
    """The signature headers of one delivery, in the scheme the secret selects."""
    if not secret.startswith(STANDARD_PREFIX):
        return {"X-Spectrum-Timestamp": timestamp,
                "X-Spectrum-Signature": sign(secret, timestamp, body)}
    key = base64.b64decode(secret[len(STANDARD_PREFIX):])
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {"webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode("ascii")}


@dataclass(order=True)
class _Due:
    at: float
    order: int
    job: _Job = field(compare=False)


def check_url(url: str) -> urllib.parse.SplitResult:
    """``url`` parsed, or ``ValueError`` unless it is an absolute http(s) URL."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"webhook_url must be an http:// or https:// URL, not {url!r}")
    try:
        parsed.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise ValueError(f"webhook_url has a bad port: {url!r}") from None
    if any(ch.isspace() for ch in url):
        raise ValueError(f"webhook_url must not contain spaces: {url!r}")
    return parsed


class WebhookSender:
    """Queues webhooks and delivers them from ``workers`` background threads."""

    def __init__(self, url: str, secret: str, *, retry_base: float = 0.5,
                 timeout: float = 5.0, max_attempts: int = MAX_ATTEMPTS, workers: int = 4,
                 record_limit: int = 10_000, name: str = "spectrum-emu-webhook") -> None:
        self._url = check_url(url)
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        if secret.startswith(STANDARD_PREFIX):
            try:
                base64.b64decode(secret[len(STANDARD_PREFIX):], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("a whsec_ webhook secret is base64 after its prefix") from None
        if not (math.isfinite(retry_base) and retry_base >= 0):
            raise ValueError("webhook_retry_base must be a finite number >= 0")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError("webhook_timeout must be a finite number > 0")
        if max_attempts < 1 or workers < 1:
            raise ValueError("max_attempts and workers must be at least 1")
        self.url = url
        self._secret = secret
        self.retry_base = retry_base
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.webhook_id = str(uuid.uuid4())
        self._workers = workers
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Due] = []
        self._order = itertools.count()
        self._records: collections.deque[_Job] = collections.deque(maxlen=record_limit)
        self._inflight: dict[int, http.client.HTTPConnection] = {}
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._busy = 0

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookSender(url={self.url!r})"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker threads (again after a stop; queued deliveries resume)."""
        with self._cond:
            if self._threads:
                return
            self._stopping = False
            self._threads = [
                threading.Thread(target=self._work, name=f"{self._name}-{n}", daemon=True)
                for n in range(self._workers)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the workers promptly: attempts in flight are cut (and retried after a
        restart); queued deliveries stay queued."""
        with self._cond:
            self._stopping = True
            threads, self._threads = self._threads, []
            inflight = list(self._inflight.values())
            self._cond.notify_all()
        for conn in inflight:
            _shutdown(conn)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    # -- queueing and inspection -----------------------------------------------------------

    def submit(self, event_id: str, content_type: str, line: str,
               envelope: dict[str, Any]) -> None:
        """Queue one webhook; returns at once."""
        job = _Job(event_id, content_type, line, envelope)
        with self._cond:
            if len(self._queue) >= _MAX_PENDING:
                log.warning("webhook %s not queued: %d deliveries already pending",
                            event_id, len(self._queue))
                return
            self._records.append(job)
            heapq.heappush(self._queue, _Due(time.monotonic(), next(self._order), job))
            self._cond.notify()

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        """Every webhook queued so far (bounded), oldest first."""
        with self._cond:
            return [job.snapshot() for job in self._records]

    def pending(self) -> int:
        """Deliveries queued or in flight."""
        with self._cond:
            return len(self._queue) + self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or in flight (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def clear(self) -> None:
        """Forget every delivery, queued ones included (attempts in flight finish)."""
        with self._cond:
            for due in self._queue:
                due.job.cancelled = True
            for job in self._records:
                job.cancelled = True
            self._queue.clear()
            self._records.clear()
            self._cond.notify_all()

    # -- the workers -----------------------------------------------------------------------

    def _next_job(self) -> _Job | None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                if self._queue and self._queue[0].at <= now:
                    self._busy += 1
                    return heapq.heappop(self._queue).job
                self._cond.wait(self._queue[0].at - now if self._queue else None)
            return None

    def _work(self) -> None:
        while True:
            job = self._next_job()
            if job is None:
                return
            try:
                status, error = self._attempt(job)
            except Exception as exc:  # a bug here must not kill the worker
                log.exception("webhook %s: attempt failed unexpectedly", job.event_id)
                status, error = None, repr(exc)
            self._settle(job, status, error)

    def _settle(self, job: _Job, status: int | None, error: str | None) -> None:
        with self._cond:
            self._busy -= 1
            if status is None and self._stopping and not job.cancelled:
                # Cut by stop(): not the receiver's fault, so not counted; sent again after
                # a restart (the receiver may then see it twice, which it must accept).
                heapq.heappush(self._queue, _Due(time.monotonic(), next(self._order), job))
                self._cond.notify_all()
                return
            job.attempts += 1
            job.last_status, job.last_error = status, error
            if status is not None and 200 <= status < 300:
                job.state = DELIVERED
            elif job.cancelled:
                pass
            elif job.attempts >= self.max_attempts:
                job.state = DROPPED
                log.warning("webhook %s to %s dropped after %d attempts (last: %s)",
                            job.event_id, self.url, job.attempts,
                            f"HTTP {status}" if status is not None else error)
            else:
                delay = min(self.retry_base * 2 ** min(job.attempts - 1, 32), MAX_BACKOFF)
                heapq.heappush(self._queue,
                               _Due(time.monotonic() + delay, next(self._order), job))
            self._cond.notify_all()

    def _attempt(self, job: _Job) -> tuple[int | None, str | None]:
        """One POST; (status, None) when an answer came, (None, error) otherwise."""
        if not job.body:
            job.body = json.dumps(job.envelope, ensure_ascii=False,
                                  separators=(",", ":")).encode("utf-8")
        # Signed at sending time with the real clock, as the cloud does: a receiver rejects
        # a timestamp five minutes off, and a retry may come minutes after the event.
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Spectrum-Event": str(job.envelope.get("event", "messages")),
            "X-Spectrum-Webhook-Id": self.webhook_id,
            **signature_headers(self._secret, timestamp, job.body, job.event_id),
        }
        conn = self._connection()
        key = threading.get_ident()
        with self._cond:
            if self._stopping:
                return None, "stopped"
            self._inflight[key] = conn
        # The socket timeout bounds each read only: a receiver sending one byte a second
        # would hold the attempt for ever. The watchdog cuts the connection at the deadline.
        expired = threading.Event()
        watchdog = threading.Timer(self.timeout, _cut, args=(conn, expired))
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.connect()  # bounded by the connect timeout, which is self.timeout
            if expired.is_set():
                raise TimeoutError
            target = self._url.path or "/"
            if self._url.query:
                target += "?" + self._url.query
            conn.request("POST", target, body=job.body, headers=headers)
            response = conn.getresponse()
            return response.status, None
        except (OSError, http.client.HTTPException) as exc:
            if expired.is_set():
                return None, f"timeout: no answer within webhook_timeout ({self.timeout:g} s)"
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        finally:
            watchdog.cancel()
            with self._cond:
                self._inflight.pop(key, None)
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._url.hostname or "", self._url.port
        if self._url.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(host, port, timeout=self.timeout)


def _shutdown(conn: http.client.HTTPConnection) -> None:
    """End a connection's socket under the thread blocked on it (it sees the stream end)."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _cut(conn: http.client.HTTPConnection, expired: threading.Event) -> None:
    """The watchdog of one attempt: its deadline passed."""
    expired.set()
    _shutdown(conn)
