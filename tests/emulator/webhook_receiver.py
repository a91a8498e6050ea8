"""A real HTTP server that receives the emulator's webhooks, for the webhook tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

HANG = -1  # an answer that never comes (until the test ends)
TRICKLE = -2  # a 200 sent one byte every TRICKLE_DELAY seconds
TRICKLE_DELAY = 0.3


class Received(NamedTuple):
    """One POST as it arrived: path, headers (lower-case names), exact body bytes."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server that records POSTs; ``answer(request, n)`` picks each status (``n``:
    how many times this body's message id was received before)."""

    def __init__(self, answer: Callable[[Received, int], int] | None = None) -> None:
        self.answer = answer or (lambda request, n: 200)
        self.received: list[Received] = []
        self.cond = threading.Condition()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                   body)
                with receiver.cond:
                    wanted = message_id(request)
                    seen = sum(1 for r in receiver.received if message_id(r) == wanted)
                    receiver.received.append(request)
                    receiver.cond.notify_all()
                status = receiver.answer(request, seen)
                if status == HANG:
                    receiver.release.wait(30)
                    status = 200
                if status == TRICKLE:
                    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                    self.close_connection = True
                    try:
                        for n in range(len(answer)):
                            if receiver.release.wait(TRICKLE_DELAY):
                                return
                            self.wfile.write(answer[n:n + 1])
                            self.wfile.flush()
                    except OSError:
                        pass  # the sender gave up: what this receiver is for
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/spectrum/webhook?x=1"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} of {count} webhooks received")
            return list(self.received)

    def bodies(self) -> list[Any]:
        with self.cond:
            return [r.json() for r in self.received]

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def message_id(request: Received) -> str:
    """The ``message.id`` of a received webhook."""
    return str(json.loads(request.body)["message"]["id"])


def verify(request: Received, secret: str) -> None:
    """Check the signature the way a receiver must: HMAC over the exact body bytes."""
    timestamp = request.headers["x-spectrum-timestamp"]
    assert timestamp.isdigit()
    assert abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + request.body,
                        hashlib.sha256).hexdigest()
    signature = request.headers["x-spectrum-signature"]
    assert signature.startswith("v0=")
    assert hmac.compare_digest(signature, "v0=" + expected)
