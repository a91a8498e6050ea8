"""The emulator's HTTP side: Spectrum Cloud's REST endpoints plus the ``/_emulator/`` admin API.

Cloud endpoints, each answering the cloud's envelope
``{"succeed": true, "data": ...}`` or an error body ``{"code", "message"}``:

- ``POST /projects/{id}/imessage/tokens`` (Basic auth): the token exchange.
- ``GET /projects/{id}/`` (Basic auth): project info, used to fail fast on bad credentials.
- ``GET /projects/{id}/imessage/``: the plan type.

Admin endpoints let other processes and languages drive a running emulator
(``inbound`` takes ``{"from", "text", "line", "chat", "count"}``):
``POST /_emulator/inbound``, ``POST /_emulator/cut-streams``, ``POST /_emulator/lines``,
``POST /_emulator/fail-next``, ``GET /_emulator/state``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)

_PROJECT_PATH = re.compile(r"^/projects/(?P<project>[^/]+)/(?P<rest>.*)$")
_MAX_BODY = 1 << 20  # admin requests are tiny; refuse anything larger


class EmulatorBackend(Protocol):
    """What the REST server needs from the emulator (``Emulator`` implements it)."""

    project_id: str
    project_secret: str
    plan: str

    def issue_token_payload(self) -> dict[str, Any]: ...

    def simulate_inbound(
        self, from_: str, text: str, *, line: str | None = None, chat: str | None = None
    ) -> str: ...

    def cut_streams(self) -> None: ...

    def fail_next(
        self, count: int = 1, *, code: str = "UNAVAILABLE", retryable: bool = True,
        method: str | None = None, error_code: str | None = None,
    ) -> None: ...

    def add_line(self, number: str | None) -> str: ...

    def remove_line(self, number: str) -> None: ...

    def state(self) -> dict[str, Any]: ...


class HttpError(Exception):
    """An error answered with the cloud's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _Fault:
    """A scripted failure of the next token exchanges."""

    def __init__(self, count: int, status: int, code: str, body: str | None) -> None:
        self.remaining = count
        self.status = status
        self.code = code
        self.body = body


class RestServer:
    """A threaded HTTP server in front of an emulator; restartable on the same port."""

    def __init__(
        self,
        emulator: EmulatorBackend,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        #: Every request received: (HTTP method, path). Credentials are not kept.
        self.requests: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._delay = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def start(self) -> None:
        """Start serving (again) on ``self.port``; port 0 picks a free port the first time."""
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)
        server.rest = self
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},  # stop() waits one tick
            name="spectrum-emulator-http", daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; idempotent. The port is kept so that ``start()`` reuses it."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self, count: int = 1, *, status: int = 503, code: str = "SERVICE_UNAVAILABLE",
        body: str | None = None,
    ) -> None:
        """Fail the next ``count`` token exchanges with ``status`` and ``{"code": code}``.

        ``body`` replaces the JSON error body verbatim (e.g. non-JSON text, or a 200 with
        ``{"succeed": false}``) to exercise a client's handling of odd answers.
        """
        with self._lock:
            self._faults.append(_Fault(count, status, code, body))

    def delay(self, seconds: float) -> None:
        """Delay every later token exchange by ``seconds`` (0 turns it off)."""
        self._delay = seconds

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
        self._delay = 0.0

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.pop(0)
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            return fault

    # -- routing ---------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any]:
        """Answer one request (``headers`` keys lower-case): (status, JSON body or raw ``str``)."""
        with self._lock:
            self.requests.append((method, path))
        path = path.split("?", 1)[0]
        if path.startswith("/_emulator/"):
            return self._admin(method, path[len("/_emulator/"):].rstrip("/"), body)
        match = _PROJECT_PATH.match(path)
        if not match:
            raise HttpError(404, "NOT_FOUND", f"no route for {path}")
        project, rest = match.group("project"), match.group("rest").rstrip("/")
        if project != self.emulator.project_id:
            raise HttpError(404, "PROJECT_NOT_FOUND", f"project {project!r} does not exist")
        route: dict[tuple[str, str], Callable[[Mapping[str, str]], tuple[int, Any]]] = {
            ("POST", "imessage/tokens"): self._tokens,
            ("GET", ""): self._project,
            ("GET", "imessage"): self._imessage_info,
        }
        handler = route.get((method, rest))
        if handler is None:
            raise HttpError(404, "NOT_FOUND", f"no route for {method} {path}")
        return handler(headers)

    def _check_basic(self, headers: Mapping[str, str]) -> None:
        header = headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            raise HttpError(401, "UNAUTHORIZED", "Basic authentication required")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise HttpError(401, "UNAUTHORIZED", "malformed Basic credentials") from None
        project, _, secret = decoded.partition(":")
        if project != self.emulator.project_id or secret != self.emulator.project_secret:
            raise HttpError(401, "INVALID_CREDENTIALS", "invalid project credentials")

    def _tokens(self, headers: Mapping[str, str]) -> tuple[int, Any]:
        self._check_basic(headers)
        if self._delay:
            time.sleep(self._delay)
        fault = self._take_fault()
        if fault is not None:
            if fault.body is not None:
                return fault.status, fault.body
            return fault.status, {"code": fault.code, "message": "injected fault"}
        return 200, {"succeed": True, "data": self.emulator.issue_token_payload()}

    def _project(self, headers: Mapping[str, str]) -> tuple[int, Any]:
        self._check_basic(headers)
        pid = self.emulator.project_id
        data = {"id": pid, "name": f"Emulated project {pid}", "slug": pid, "profile": {}}
        return 200, {"succeed": True, "data": data}

    def _imessage_info(self, headers: Mapping[str, str]) -> tuple[int, Any]:
        return 200, {"succeed": True, "data": {"type": self.emulator.plan}}

    def _admin(self, method: str, name: str, body: bytes) -> tuple[int, Any]:
        emu = self.emulator
        if (method, name) == ("GET", "state"):
            return 200, emu.state()
        if method != "POST":
            raise HttpError(404, "NOT_FOUND", f"no admin route {method} {name}")
        args = _json_object(body)
        if name == "inbound":
            sender, text = args.get("from"), args.get("text")
            if not isinstance(sender, str) or not isinstance(text, str):
                raise HttpError(400, "INVALID_ARGUMENT", '"from" and "text" must be strings')
            line, chat = _optional_str(args, "line"), _optional_str(args, "chat")
            count = args.get("count", 1)
            if not isinstance(count, int) or not 1 <= count <= 100_000:
                raise HttpError(400, "INVALID_ARGUMENT", '"count" must be an int in 1..100000')
            # With "count", texts get " #<n>" appended (bulk load for benchmarks and demos).
            texts = [text] if count == 1 else [f"{text} #{i}" for i in range(count)]

            def inbound_all() -> list[str]:
                return [emu.simulate_inbound(sender, t, line=line, chat=chat) for t in texts]

            guids: list[str] = _call_emulator(inbound_all)
            return 200, {"guid": guids[0]} if count == 1 else {"guids": guids}
        if name == "fail-next":
            count, retryable = args.get("count", 1), args.get("retryable", True)
            if not isinstance(count, int) or not isinstance(retryable, bool):
                hint = '"count" must be an int, "retryable" a bool'
                raise HttpError(400, "INVALID_ARGUMENT", hint)
            code = _optional_str(args, "code") or "UNAVAILABLE"
            rpc, error_code = _optional_str(args, "method"), _optional_str(args, "error_code")
            _call_emulator(lambda: emu.fail_next(
                count, code=code, retryable=retryable, method=rpc, error_code=error_code
            ))
            return 200, {"ok": True}
        if name == "cut-streams":
            emu.cut_streams()
            return 200, {"ok": True}
        if name == "lines":
            if "add" in args:
                number = _optional_str(args, "add")
                return 200, {"instanceId": _call_emulator(lambda: emu.add_line(number))}
            removed = _optional_str(args, "remove")
            if removed is None:
                hint = 'give {"add": number} or {"remove": number}'
                raise HttpError(400, "INVALID_ARGUMENT", hint)
            _call_emulator(lambda: emu.remove_line(removed))
            return 200, {"ok": True}
        raise HttpError(404, "NOT_FOUND", f"no admin route {method} {name}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise HttpError(400, "INVALID_ARGUMENT", "body is not JSON") from None
    if not isinstance(value, dict):
        raise HttpError(400, "INVALID_ARGUMENT", "body must be a JSON object")
    return value


def _optional_str(args: Mapping[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is not None and not isinstance(value, str):
        raise HttpError(400, "INVALID_ARGUMENT", f'"{key}" must be a string')
    return value


def _call_emulator(action: Callable[[], Any]) -> Any:
    """Run an emulator control call; its bad-input errors become HTTP 400, not a crash."""
    try:
        return action()
    except (ValueError, KeyError, LookupError) as exc:
        raise HttpError(400, "INVALID_ARGUMENT", str(exc) or type(exc).__name__) from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    rest: RestServer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator http: " + format, *args)

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                raise HttpError(413, "PAYLOAD_TOO_LARGE", "request body too large")
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload = self.server.rest.handle(self.command, self.path, headers, body)
        except HttpError as exc:
            status, payload = exc.status, {"code": exc.code, "message": exc.message}
        except ValueError:
            status, payload = 400, {"code": "INVALID_ARGUMENT", "message": "bad request"}
        except Exception:  # the emulator must answer, never die, on a bug
            log.exception("emulator http handler failed")
            status, payload = 500, {"code": "INTERNAL", "message": "internal error"}
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        data = raw.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
