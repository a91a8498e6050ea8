"""Sending iMessages from Celery tasks, safely retried.

Run a worker with the prefork pool::

    export CELERY_BROKER_URL=redis://localhost:6379/0      # plus SPECTRUM_PROJECT_ID/SECRET
    celery -A celery_app worker --pool=prefork --concurrency=4 --max-tasks-per-child=1000

and queue work from your app::

    from celery_app import send_text
    send_text.delay("+15551111111", "Your order has shipped", key="order-42-shipped")

Why it is safe:

- **One client per worker process**, made on first use (``get_client()``): nothing is made
  at import, so the worker starts without touching the network, and each prefork child has
  its own channels. (A client made before the fork would also work: it rebuilds itself in
  each child.) ``--max-tasks-per-child`` replaces children now and then: the client is
  closed when its process shuts down.
- **Retries never double-send.** A task can run twice: it is retried after an error whose
  outcome is unknown (a timeout, a connection lost after the request left: the message may
  have gone out), and with ``acks_late`` a task whose worker died is delivered again. Each
  send therefore carries an idempotency key that is the same on every run of the task: the
  caller's business key (``key="order-42-shipped"``, best: it also covers the same job queued
  twice), else the task id, which Celery keeps across retries. The server answers a repeated
  key with the first message instead of a second bubble.
- **The same line every time.** Keys are remembered per line, so a retry must use the line
  of the first attempt: the line is derived from the recipient (stable, and a customer keeps
  hearing from the same number), unless the caller names one.
"""

from __future__ import annotations

import os
import threading
import zlib
from typing import Any

from celery import Celery
from celery.signals import worker_process_shutdown

import spectrum_sync as spectrum

app = Celery("spectrum_example",
             broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0"),
             backend=os.environ.get("CELERY_RESULT_BACKEND") or None)
app.conf.update(
    task_acks_late=True,              # a task lost with its worker runs again...
    task_reject_on_worker_lost=True,  # ...which the idempotency key makes harmless
    worker_prefetch_multiplier=1,
    task_serializer="json",
    accept_content=["json"],
    broker_connection_retry_on_startup=True,
)

#: Deadline of one send (seconds): short, so a stuck call ends as a retry, not a hung task.
SEND_TIMEOUT = float(os.environ.get("SPECTRUM_SEND_TIMEOUT", "10"))
#: First retry delay (seconds); doubled on each retry, at most 5 minutes.
RETRY_DELAY = float(os.environ.get("SPECTRUM_RETRY_DELAY", "2"))
MAX_RETRIES = 6

_client: spectrum.Client | None = None
_lock = threading.Lock()


def get_client() -> spectrum.Client:
    """This worker process's client, made on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = spectrum.Client()  # credentials from the environment
        return _client


@worker_process_shutdown.connect
def _close_client(**kwargs: Any) -> None:
    global _client
    with _lock:
        client, _client = _client, None
    if client is not None:
        client.close()


def line_for(client: spectrum.Client, address: str) -> str | None:
    """A line chosen from the recipient alone, so every run of a task uses the same one."""
    phones = sorted(client.phones)
    if client.mode == "shared" or not phones:
        return None
    return phones[zlib.crc32(address.encode()) % len(phones)]


# Worth retrying: the call's outcome is unknown or the service asked us to slow down. Not a
# spent daily quota (a retry today cannot succeed), nor bad input or credentials.
_RETRY = (spectrum.ConnectionError, spectrum.RateLimitError)


@app.task(bind=True, max_retries=MAX_RETRIES)
def send_text(self: Any, to: str, text: str, key: str | None = None,
              phone: str | None = None) -> str:
    """Send ``text`` to ``to``; returns the message guid. ``key``: your idempotency key
    (printable ASCII, at most 200 characters here), e.g. ``"order-42-shipped"``."""
    key = key or f"celery-{self.request.id}"
    client = get_client()
    try:
        user = client.user(to, resolve=False)
        space = client.space.create(user, phone=phone or line_for(client, user.address),
                                    idempotency_key=f"{key}:chat", timeout=SEND_TIMEOUT)
        return space.send(text, idempotency_key=key, timeout=SEND_TIMEOUT).guid
    except spectrum.QuotaExceeded:
        raise
    except _RETRY as exc:
        delay = min(RETRY_DELAY * 2 ** self.request.retries, 300.0)
        raise self.retry(exc=exc, countdown=delay) from exc
