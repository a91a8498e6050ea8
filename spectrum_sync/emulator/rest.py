"""The emulator's HTTP side: Spectrum Cloud's REST endpoints plus the ``/_emulator/`` admin API.

Cloud endpoints, each answering the cloud's envelope ``{"succeed": true, "data": ...}`` or an
error body ``{"code", "message"}``. They are open to any client, as in the cloud:

- ``POST /projects/{id}/imessage/tokens`` (Basic auth): the token exchange.
- ``GET /projects/{id}/`` (Basic auth): project info, used to fail fast on bad credentials.
- ``GET /projects/{id}/imessage/``: the plan type.

Admin endpoints let other processes and languages drive a running emulator. They answer JSON;
bad input is a 400 with ``{"code": "INVALID_ARGUMENT", "message"}``.

Access (``RestServer.authorize_admin``). Another machine must not drive the emulator,
nor a web page open in a developer's browser (cross-site requests, DNS rebinding), so every
admin request needs either

- a connection from a loopback address (the peer of the TCP connection: headers alone prove
  nothing, a remote client can send ``Host: 127.0.0.1``), with a loopback ``Host`` header
  (``127.0.0.1``, ``localhost`` or ``[::1]``, any port) and, when an ``Origin`` header is
  sent, a loopback origin; or
- the header ``x-emulator-token: <emu.admin_token>`` (works from anywhere, e.g. when the
  emulator listens on 0.0.0.0 in a container); a wrong token is refused even from loopback.

Otherwise the answer is 403. Every admin ``POST`` must also carry ``Content-Type:
application/json`` (415 otherwise): a browser cannot send that cross-origin without a CORS
preflight, and the emulator never answers with CORS headers. A ``POST`` body may be empty
(same as ``{}``).

Routes:

- ``GET /_emulator/state``: plan, lines, chats, message counts, quota usage, open streams.
- ``GET /_emulator/messages[?line=L][&chat=GUID]``: ``{"messages": [{"guid", "chat", "line",
  "text", "is_from_me", "sender", "timestamp"}, ...]}``, what was sent and received, oldest
  first.
- ``GET /_emulator/webhooks``: ``{"url", "deliveries": [{"event_id", "content_type", "line",
  "attempts", "last_status", "last_error", "state"}, ...]}`` (``state``: pending, delivered or
  dropped; ``url`` is ``null`` without webhooks).
- ``POST /_emulator/inbound`` ``{"from", "text", "line"?, "chat"?, "reply_to"?, "count"?,
  "attachment"?}``: a message from ``from`` arrives; answers ``{"guid"}`` (``{"guids"}``
  with ``count`` > 1, texts suffixed `` #n``). ``attachment`` is ``{"name", "base64"}`` (a
  small file; ``text`` may then be left out) or ``{"copy_of": guid}`` (a copy of a file the
  line holds, e.g. one a client uploaded: large files without passing their bytes here).
- ``POST /_emulator/lines`` ``{"add": number|null}`` → ``{"instanceId"}``, or
  ``{"remove": number}``.
- ``POST /_emulator/fail-next`` ``{"count"?, "code"?, "retryable"?, "method"?, "error_code"?,
  "after"?, "context"?, "message"?}``: fail the next gRPC calls (``after: true``: the call is
  carried out and only its answer is lost).
- ``POST /_emulator/delay`` ``{"seconds", "method"?}``: hold calls (0 removes the delay).
- ``POST /_emulator/cut-streams``: end every open stream now.
- ``POST /_emulator/reset``: forget chats, messages, events, quotas, recorded requests, faults
  and webhook deliveries; lines, tokens, ports and the sequence counter stay.
- ``POST /_emulator/revoke-tokens``: every issued token stops working at once.
- ``POST /_emulator/restart``: restart both servers on the same ports, keeping state (open
  streams are cut). The gRPC server is back when the answer arrives; the HTTP server restarts
  just after answering, so for a moment its port refuses connections.

Every ``POST`` but ``inbound`` answers ``{"ok": true}`` (``lines`` add: ``{"instanceId"}``).

More routes can be mounted under a prefix (``RestServer.mount``), behind the same access
check: the emulator's web page under ``/_emulator/ui/`` (``emulator/ui_routes.py``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.utils
import hmac
import ipaddress
import json
import logging
import math
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, NamedTuple, Protocol

log = logging.getLogger(__name__)

_PROJECT_PATH = re.compile(r"^/projects/(?P<project>[^/]+)/(?P<rest>.*)$")
_MAX_BODY = 1 << 20  # admin requests are tiny; refuse anything larger
# After a refused body, what the client still sends is read and dropped for this long, up to
# this much, so that it gets its 413 rather than a reset connection.
_DRAIN_SECONDS = 2.0
_MAX_DRAIN = 64 << 20
_READ_SIZE = 64 * 1024
_MAX_LINE = 4096  # a chunk-size or trailer line longer than this is refused
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
ADMIN_TOKEN_HEADER = "x-emulator-token"
_MAX_DELAY = 3600.0
_MAX_FAIL_COUNT = 1_000_000


class EmulatorBackend(Protocol):
    """What the REST server needs from the emulator (``Emulator`` implements it)."""

    project_id: str
    project_secret: str
    plan: str
    admin_token: str

    def issue_token_payload(self) -> dict[str, Any]: ...

    def now(self) -> float: ...

    def simulate_inbound(
        self, from_: str, text: str | None = None, *, line: str | None = None,
        chat: str | None = None, attachment: tuple[str, bytes] | None = None,
        subject: str | None = None, reply_to: str | None = None,
        effect_id: str | None = None, forward_attachment: str | None = None,
    ) -> str: ...

    def cut_streams(self) -> None: ...

    def fail_next(
        self, count: int = 1, code: str = "UNAVAILABLE", retryable: bool = True,
        method: str | None = None, error_code: str | None = None, *, after: bool = False,
        message: str = "injected fault", context: dict[str, str] | None = None,
    ) -> None: ...

    def delay(self, seconds: float, method: str | None = None) -> None: ...

    def add_line(self, number: str | None) -> str: ...

    def remove_line(self, line: str) -> None: ...

    def state(self) -> dict[str, Any]: ...

    def messages(self, line: str | None = None, chat: str | None = None,
                 ) -> list[dict[str, Any]]: ...

    def webhook_report(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...

    def revoke_tokens(self) -> None: ...

    def restart_grpc(self) -> None: ...

    def restart_rest(self) -> None: ...


class HttpError(Exception):
    """An error answered with the cloud's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Reply(NamedTuple):
    """An answer: status, JSON body (or a raw ``str``), and an optional action to run once
    the answer has been written (e.g. restarting the HTTP server that carries it)."""

    status: int
    body: Any
    after: Callable[[], None] | None = None


class OwnBody:
    """A reply body that writes its own answer (a page, a file, an event stream) instead of
    being sent as JSON: ``write`` gets the request handler and the status."""

    def write(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        """Write the status line, headers and body on ``handler``."""
        raise NotImplementedError


class Mount(Protocol):
    """Routes served under a path prefix of the admin API (e.g. the web page of
    ``spectrum_sync.emulator.ui_routes``), behind the same admin access check."""

    def admin_headers(self, query: str, headers: Mapping[str, str]) -> Mapping[str, str]:
        """``headers`` with the admin token the request carries elsewhere (a cookie, the
        query) moved into the ``x-emulator-token`` header, for the access check."""
        ...

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes) -> Reply:
        """Answer a request; ``path`` is what follows the prefix."""
        ...


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        #: How many times the server started (a restart adds one): tests wait on it.
        self.starts = 0
        self._mounts: dict[str, Mount] = {}

    def mount(self, prefix: str, routes: Mount) -> None:
        """Serve ``routes`` under ``prefix`` (e.g. ``/_emulator/ui``)."""
        self._mounts[prefix.rstrip("/")] = routes

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL (``http://host:port`` or ``https://...``)."""
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server accepts connections."""
        return self._server is not None

    def start(self) -> None:
        """Start serving (again) on ``self.port``; port 0 picks a free port the first time."""
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)
        server.rest = self
        if self.ssl_context is not None:
            # The handshake then happens in the connection's own thread, on its first read:
            # a client that connects and stays silent cannot stall the accept loop.
            server.socket = self.ssl_context.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},  # stop() waits one tick
            name="spectrum-emulator-http", daemon=True,
        )
        self._thread.start()
        self.starts += 1

    def stop(self) -> None:
        """Stop serving and cut open connections; idempotent. The port is kept so that
        ``start()`` reuses it."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    # -- fault injection (token exchange) --------------------------------------------------

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
        """Remove scripted token-exchange failures and the delay."""
        with self._lock:
            self._faults.clear()
        self._delay = 0.0

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

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

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes,
               *, peer: str | None = None) -> Reply:
        """Answer one request (``headers`` keys lower-case; ``peer`` the client's IP address,
        None when unknown: admin routes then need the token)."""
        path, _, query = target.partition("?")
        with self._lock:
            self.requests.append((method, path))
        for prefix, mounted in self._mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                self.authorize_admin(peer, mounted.admin_headers(query, headers))
                _check_json_post(method, headers)
                return mounted.handle(method, path[len(prefix):], query, headers, body)
        if path.startswith("/_emulator/"):
            self.authorize_admin(peer, headers)
            _check_json_post(method, headers)
            return self._admin(method, path[len("/_emulator/"):].rstrip("/"), query, body)
        match = _PROJECT_PATH.match(path)
        if not match:
            raise HttpError(404, "NOT_FOUND", f"no route for {path}")
        project, rest = match.group("project"), match.group("rest").rstrip("/")
        if project != self.emulator.project_id:
            raise HttpError(404, "PROJECT_NOT_FOUND", f"project {project!r} does not exist")
        route: dict[tuple[str, str], Callable[[Mapping[str, str]], Reply]] = {
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

    def _tokens(self, headers: Mapping[str, str]) -> Reply:
        self._check_basic(headers)
        if self._delay:
            time.sleep(self._delay)
        fault = self._take_fault()
        if fault is not None:
            if fault.body is not None:
                return Reply(fault.status, fault.body)
            return Reply(fault.status, {"code": fault.code, "message": "injected fault"})
        return Reply(200, {"succeed": True, "data": self.emulator.issue_token_payload()})

    def _project(self, headers: Mapping[str, str]) -> Reply:
        self._check_basic(headers)
        pid = self.emulator.project_id
        data = {"id": pid, "name": f"Emulated project {pid}", "slug": pid, "profile": {}}
        return Reply(200, {"succeed": True, "data": data})

    def _imessage_info(self, headers: Mapping[str, str]) -> Reply:
        return Reply(200, {"succeed": True, "data": {"type": self.emulator.plan}})

    # -- admin API -------------------------------------------------------------------------

    def authorize_admin(self, peer: str | None, headers: Mapping[str, str]) -> None:
        """Raise a 403 :class:`HttpError` unless an admin request may go on: it carries the
        admin token, or it comes from a loopback peer address with loopback ``Host`` (and
        ``Origin``) headers. ``peer`` is the connection's IP address (None: unknown), headers
        have lower-case names. Every admin route, pages included, calls this first."""
        token = headers.get(ADMIN_TOKEN_HEADER)
        if token is not None:
            expected = self.emulator.admin_token
            if not hmac.compare_digest(token.strip().encode(), expected.encode()):
                raise HttpError(403, "FORBIDDEN", "invalid admin token")
            return
        # The peer decides where the request comes from; the headers then guard against a
        # browser on this machine sent here by another site (DNS rebinding, cross-origin).
        if not is_loopback_peer(peer):
            raise HttpError(403, "FORBIDDEN", "the admin API answers other machines only "
                            f"with the {ADMIN_TOKEN_HEADER} header")
        if not is_loopback_host(headers.get("host", "")):
            raise HttpError(403, "FORBIDDEN", "the admin API needs a loopback Host header "
                            f"or the {ADMIN_TOKEN_HEADER} header")
        origin = headers.get("origin")
        if origin is not None and not is_loopback_origin(origin):
            raise HttpError(403, "FORBIDDEN", "cross-origin admin requests are refused")

    def _admin(self, method: str, name: str, query: str, body: bytes) -> Reply:
        emu = self.emulator
        if method == "GET":
            if name == "state":
                return Reply(200, emu.state())
            if name == "messages":
                params = _query(query, ("line", "chat"))
                found = _call_emulator(lambda: emu.messages(params.get("line"),
                                                            params.get("chat")))
                return Reply(200, {"messages": found})
            if name == "webhooks":
                return Reply(200, emu.webhook_report())
        if method != "POST":
            raise HttpError(404, "NOT_FOUND", f"no admin route {method} {name}")
        routes: dict[str, Callable[[dict[str, Any]], Reply]] = {
            "inbound": self._inbound,
            "fail-next": self._fail_next,
            "delay": self._set_delay,
            "lines": self._lines,
            "cut-streams": lambda args: _ok(emu.cut_streams),
            "reset": lambda args: _ok(self._reset),
            "revoke-tokens": lambda args: _ok(emu.revoke_tokens),
            "restart": self._restart,
        }
        route = routes.get(name)
        if route is None:
            raise HttpError(404, "NOT_FOUND", f"no admin route {method} {name}")
        return route(_json_object(body))

    def _inbound(self, args: dict[str, Any]) -> Reply:
        emu = self.emulator
        sender, text = args.get("from"), args.get("text")
        attachment = _inbound_attachment(args.get("attachment"))
        if attachment is not None and text is None:
            text = ""
        if not isinstance(sender, str) or not isinstance(text, str):
            raise HttpError(400, "INVALID_ARGUMENT", '"from" and "text" must be strings')
        line, chat = _optional_str(args, "line"), _optional_str(args, "chat")
        reply_to = _optional_str(args, "reply_to")
        count = args.get("count", 1)
        if not _is_int(count) or not 1 <= count <= 100_000:
            raise HttpError(400, "INVALID_ARGUMENT", '"count" must be an int in 1..100000')
        # With "count", texts get " #<n>" appended (bulk load for benchmarks and demos).
        texts = [text] if count == 1 else [f"{text} #{i}" for i in range(count)]

        upload, forward = attachment if attachment is not None else (None, None)

        def inbound_all() -> list[str]:
            return [emu.simulate_inbound(sender, t or None, line=line, chat=chat,
                                         reply_to=reply_to, attachment=upload,
                                         forward_attachment=forward)
                    for t in texts]

        guids: list[str] = _call_emulator(inbound_all)
        return Reply(200, {"guid": guids[0]} if count == 1 else {"guids": guids})

    def _fail_next(self, args: dict[str, Any]) -> Reply:
        count, retryable, after = (args.get("count", 1), args.get("retryable", True),
                                   args.get("after", False))
        if not _is_int(count) or not 1 <= count <= _MAX_FAIL_COUNT:
            raise HttpError(400, "INVALID_ARGUMENT",
                            f'"count" must be an int in 1..{_MAX_FAIL_COUNT}')
        if not isinstance(retryable, bool) or not isinstance(after, bool):
            raise HttpError(400, "INVALID_ARGUMENT", '"retryable" and "after" must be booleans')
        code = _optional_str(args, "code") or "UNAVAILABLE"
        rpc, error_code = _optional_str(args, "method"), _optional_str(args, "error_code")
        message = _optional_str(args, "message") or "injected fault"
        context = args.get("context")
        if context is not None and not (
                isinstance(context, dict)
                and all(isinstance(v, str) for v in context.values())):
            raise HttpError(400, "INVALID_ARGUMENT",
                            '"context" must be an object of string values')
        _call_emulator(lambda: self.emulator.fail_next(
            count, code, retryable, rpc, error_code, after=after, message=message,
            context=context))
        return Reply(200, {"ok": True})

    def _set_delay(self, args: dict[str, Any]) -> Reply:
        seconds = args.get("seconds")
        if (not isinstance(seconds, (int, float)) or isinstance(seconds, bool)
                or not math.isfinite(seconds) or not 0 <= seconds <= _MAX_DELAY):
            raise HttpError(400, "INVALID_ARGUMENT",
                            f'"seconds" must be a number in 0..{_MAX_DELAY:g}')
        rpc = _optional_str(args, "method")
        _call_emulator(lambda: self.emulator.delay(float(seconds), rpc))
        return Reply(200, {"ok": True})

    def _lines(self, args: dict[str, Any]) -> Reply:
        emu = self.emulator
        if "add" in args:
            number = _optional_str(args, "add")
            return Reply(200, {"instanceId": _call_emulator(lambda: emu.add_line(number))})
        removed = _optional_str(args, "remove")
        if removed is None:
            raise HttpError(400, "INVALID_ARGUMENT", 'give {"add": number} or {"remove": number}')
        _call_emulator(lambda: emu.remove_line(removed))
        return Reply(200, {"ok": True})

    def _reset(self) -> None:
        self.emulator.reset()

    def _restart(self, args: dict[str, Any]) -> Reply:
        # gRPC restarts now, so that it serves again when the caller gets the answer; this
        # HTTP server can only restart once the answer carrying the news has been written.
        self.emulator.restart_grpc()
        return Reply(200, {"ok": True}, after=self.emulator.restart_rest)


def _check_json_post(method: str, headers: Mapping[str, str]) -> None:
    """415 for an admin POST that is not JSON: a browser cannot send JSON cross-origin
    without a CORS preflight, which the emulator never answers."""
    if method == "POST":
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise HttpError(415, "UNSUPPORTED_MEDIA_TYPE",
                            "admin requests must be Content-Type: application/json")


def is_loopback_peer(peer: str | None) -> bool:
    """Whether a connection's peer IP address is on this machine's loopback (127.0.0.0/8,
    ::1, or an IPv4-mapped loopback address); False when unknown or unreadable."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine: 127.0.0.1, localhost or [::1], any port.

    Names that merely resolve to a loopback address are refused: that is what DNS rebinding
    relies on.
    """
    value = host.strip().lower()
    if value.startswith("["):
        name, sep, rest = value[1:].partition("]")
        if not sep:
            return False
        port = rest[1:] if rest.startswith(":") else rest
        return name == "::1" and (not rest or (rest.startswith(":") and port.isdigit()))
    name, sep, port = value.partition(":")
    return name in _LOOPBACK_NAMES and name != "::1" and (not sep or port.isdigit())


def is_loopback_origin(origin: str) -> bool:
    """Whether an ``Origin`` header is a web origin on this machine (``null`` is not)."""
    parsed = urllib.parse.urlsplit(origin.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    return is_loopback_host(parsed.netloc)


def _inbound_attachment(value: Any) -> tuple[tuple[str, bytes] | None, str | None] | None:
    """``{"name", "base64"}`` (a small file) or ``{"copy_of": guid}`` (a copy of a file the
    line holds, however big) -> simulate_inbound's ``attachment`` / ``forward_attachment``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise HttpError(400, "INVALID_ARGUMENT", '"attachment" must be an object')
    copy_of = value.get("copy_of")
    if copy_of is not None:
        if not isinstance(copy_of, str) or not copy_of:
            raise HttpError(400, "INVALID_ARGUMENT", '"attachment.copy_of" must be a guid')
        return None, copy_of
    name, encoded = value.get("name"), value.get("base64")
    if not isinstance(name, str) or not name or not isinstance(encoded, str):
        raise HttpError(400, "INVALID_ARGUMENT",
                        '"attachment" needs "name" and "base64" strings, or "copy_of"')
    try:
        data = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise HttpError(400, "INVALID_ARGUMENT", '"attachment.base64" is not base64') from None
    return (name, data), None


def _ok(action: Callable[[], object]) -> Reply:
    action()
    return Reply(200, {"ok": True})


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise HttpError(400, "INVALID_ARGUMENT", "body is not JSON") from None
    if not isinstance(value, dict):
        raise HttpError(400, "INVALID_ARGUMENT", "body must be a JSON object")
    return value


def _optional_str(args: Mapping[str, Any], key: str) -> str | None:
    value = args.get(key)
    if value is not None and not isinstance(value, str):
        raise HttpError(400, "INVALID_ARGUMENT", f'"{key}" must be a string')
    return value


def _query(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """Query parameters, each given at most once and all among ``allowed``."""
    try:
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise HttpError(400, "INVALID_ARGUMENT", "malformed query string") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise HttpError(400, "INVALID_ARGUMENT",
                            f"unknown query parameter {key!r} (allowed: {', '.join(allowed)})")
        if key in out:
            raise HttpError(400, "INVALID_ARGUMENT", f"query parameter {key!r} repeated")
        out[key] = value
    return out


def _call_emulator(action: Callable[[], Any]) -> Any:
    """Run an emulator control call; its bad-input errors become HTTP 400, not a crash."""
    try:
        return action()
    except (ValueError, KeyError, LookupError) as exc:
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        raise HttpError(400, "INVALID_ARGUMENT", str(text) or type(exc).__name__) from None


class _TooLarge(Exception):
    """A request body over ``_MAX_BODY`` (no more than one byte past it was read)."""


class _LineReader(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


def _read_chunked(stream: _LineReader, limit: int) -> bytes:
    """A ``Transfer-Encoding: chunked`` body, its trailers skipped: :class:`_TooLarge` once the
    chunks pass ``limit`` bytes (at most ``limit + 1`` body bytes read, whatever size a chunk
    claims), ``ValueError`` for a malformed encoding or a body that ends early.
    ``http.server`` leaves chunked bodies to the handler."""
    parts: list[bytes] = []
    size = 0
    while True:
        line = _chunk_line(stream)
        try:
            length = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ValueError("malformed chunk size") from None
        if length < 0:
            raise ValueError("malformed chunk size")
        if length == 0:
            break
        take = min(length, limit + 1 - size)
        while take > 0:
            data = stream.read(min(_READ_SIZE, take))
            if not data:
                raise ValueError("the body ended inside a chunk")
            parts.append(data)
            size += len(data)
            take -= len(data)
        if size > limit:
            raise _TooLarge
        if _chunk_line(stream) != b"":
            raise ValueError("a chunk is longer than its size")
    while _chunk_line(stream):  # trailers, up to the blank line
        pass
    return b"".join(parts)


def _chunk_line(stream: _LineReader) -> bytes:
    line = stream.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ValueError("a chunked-encoding line is too long")
    if not line.endswith(b"\n"):
        raise ValueError("the body ended inside the chunked encoding")
    return line.rstrip(b"\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    rest: RestServer

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 ) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        # Small answers must leave at once: with Nagle's algorithm a kept-alive connection
        # waits for the client's delayed ACK (~40 ms) before sending the next response.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(conn)
        return conn, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection (kept-alive ones would otherwise outlive a stop)."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            # The plain-socket shutdown, also for TLS sockets: the handler thread still
            # reading on it just sees the end of the stream.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that disconnects mid-request is not worth a traceback on stderr.
        log.debug("emulator http: connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Buffered writes: status line, headers and body leave in one send, flushed by the
    # request loop (unbuffered, each header line and the body were separate writes).
    wbufsize = 64 * 1024
    timeout = 120  # an idle kept-alive connection frees its thread after this

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("emulator http: " + format, *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the emulator's clock, as the service's follows its own: a
        # client measures its clock skew against it (spectrum-sync doctor).
        moment = self.server.rest.emulator.now() if timestamp is None else timestamp
        return email.utils.formatdate(moment, usegmt=True)

    def _serve(self) -> None:
        after = None
        try:
            body = self._body()
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, after = self.server.rest.handle(
                self.command, self.path, headers, body, peer=str(self.client_address[0]))
        except HttpError as exc:
            status, payload = exc.status, {"code": exc.code, "message": exc.message}
        except ValueError:
            status, payload = 400, {"code": "INVALID_ARGUMENT", "message": "bad request"}
        except Exception:  # the emulator must answer, never die, on a bug
            log.exception("emulator http handler failed")
            status, payload = 500, {"code": "INTERNAL", "message": "internal error"}
        if isinstance(payload, OwnBody):
            payload.write(self, status)
            return
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        data = raw.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if self._unread:
            self._discard_unread()
        if after is not None:
            self.wfile.flush()
            threading.Thread(target=after, name="spectrum-emulator-admin", daemon=True).start()

    _unread = False  # a body left unread: the connection ends after the answer

    def _body(self) -> bytes:
        """The request body, chunked or not, never more than ``_MAX_BODY`` + 1 byte read."""
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        try:
            if encoding:
                if encoding != "chunked":
                    self._unread = self.close_connection = True
                    raise HttpError(501, "NOT_IMPLEMENTED",
                                    f"Transfer-Encoding {encoding!r} is not supported")
                return _read_chunked(self.rfile, _MAX_BODY)
            text = (self.headers.get("Content-Length") or "0").strip()
            if not text.isdigit():
                self.close_connection = True  # where this body ends is unknown
                raise HttpError(400, "INVALID_ARGUMENT", "bad Content-Length")
            length = int(text)
            if length > _MAX_BODY:
                raise _TooLarge
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                self.close_connection = True
                raise HttpError(400, "INVALID_ARGUMENT", "the body ended early")
            return body
        except _TooLarge:
            self._unread = self.close_connection = True
            raise HttpError(413, "PAYLOAD_TOO_LARGE", "request body too large") from None
        except ValueError as exc:
            self.close_connection = True
            raise HttpError(400, "INVALID_ARGUMENT", f"bad chunked body: {exc}") from None

    def _discard_unread(self) -> None:
        """Read and drop what the client still sends (bounded in time and size) before the
        connection closes: closing on unread data resets it, and the client would lose the
        answer (typically a 413) it is owed."""
        self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_DRAIN_SECONDS)
            deadline = time.monotonic() + _DRAIN_SECONDS
            drained = 0
            while drained < _MAX_DRAIN and time.monotonic() < deadline:
                chunk = self.rfile.read1(_READ_SIZE)
                if not chunk:
                    break
                drained += len(chunk)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_PATCH = _serve
    do_DELETE = _serve
    do_OPTIONS = _serve
