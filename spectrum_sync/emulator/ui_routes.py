"""The emulator's web page: its files, its JSON views, its actions and its event stream,
served under ``/_emulator/ui/`` on the emulator's HTTP port (README, "The emulator's web
page").

Routes (``line`` is a number or an instance id, ``chat`` a chat guid):

- ``GET /`` the page; ``GET /app.js``, ``/app.css``, ``/icon.svg`` its files (shipped in
  ``spectrum_sync/emulator/ui/``: no CDN, works offline).
- ``GET /api/overview``: lines, quota use, chats (:func:`ui_views.overview`).
- ``GET /api/chat?line=L&chat=GUID``: one chat's timeline (:func:`ui_views.conversation`).
- ``GET /api/attachment?line=L&guid=G``: a file's bytes (raster images inline, anything else
  as a download).
- ``GET /api/events``: Server-Sent Events; a ``change`` event whenever what the page shows
  may have changed (the page then fetches the views again).
- ``POST /api/<action>`` (JSON): the other side acts through the same ``simulate_*`` calls as
  the Python API: ``send react edit unsend typing read vote``, and ``fault`` (cut streams,
  fail the next call, revoke tokens).

Access is the admin API's (:meth:`RestServer._check_admin_access`): loopback callers, or the
admin token. A browser cannot add a header to a page load or an ``EventSource``, so the token
may also come as ``?token=`` on the page's address; the page then keeps it in an HttpOnly,
SameSite=Strict cookie for its own later requests, which other sites cannot make it send.
"""

from __future__ import annotations

import http.cookies
import logging
import time
import urllib.parse
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from spectrum_sync.emulator import ui_views
from spectrum_sync.emulator.rest import (
    ADMIN_TOKEN_HEADER,
    HttpError,
    OwnBody,
    Reply,
    RestServer,
    _call_emulator,
    _inbound_attachment,
    _json_object,
    _optional_str,
    _query,
)

if TYPE_CHECKING:
    from spectrum_sync.emulator.core import EmulatorCore
    from spectrum_sync.emulator.simulate import RemoteParties

log = logging.getLogger(__name__)

UI_PATH = "/_emulator/ui"
ASSET_DIR = Path(__file__).with_name("ui")
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/icon.svg": ("icon.svg", "image/svg+xml"),
}
_COOKIE = "spectrum_emulator_token"
# Only the page's own files run, and data never becomes markup: a message holding
# "<script>" that slipped into the DOM still could not execute.
_PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                "connect-src 'self'; base-uri 'none'; form-action 'none'; "
                "frame-ancestors 'none'")
_FILE_POLICY = "default-src 'none'; sandbox"  # a downloaded file opened in a tab runs nothing
_EVENT_CHECK_INTERVAL = 0.1  # how often the stream looks for changes (seconds)
_EVENT_PING_INTERVAL = 5.0  # a comment line keeps proxies from timing the stream out
_EVENT_RETRY_MS = 1000  # the browser reconnects this soon after the stream ends (a restart)


class Answer(OwnBody):
    """A complete non-JSON answer: bytes of a given type, with extra headers."""

    def __init__(self, data: bytes, content_type: str,
                 headers: Mapping[str, str] | None = None) -> None:
        self.data = data
        self.content_type = content_type
        self.headers = dict(headers or {})

    def write(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        """Send the status, the headers and the bytes."""
        handler.send_response(status)
        handler.send_header("Content-Type", self.content_type)
        handler.send_header("Content-Length", str(len(self.data)))
        _common_headers(handler)
        for name, value in self.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(self.data)


class EventStream(OwnBody):
    """Server-Sent Events: ``change`` whenever :func:`ui_views.fingerprint` moves, until
    the client leaves or this HTTP server stops (each connection has its own thread: the
    server is a ``ThreadingHTTPServer``, so a stream blocks no other request)."""

    def __init__(self, emu: EmulatorCore, server: RestServer) -> None:
        self.emu = emu
        self.server = server

    def write(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        """Stream events on ``handler``'s connection; returns when it is over."""
        rest = self.server
        serving = rest.starts
        handler.close_connection = True  # the stream is the last answer on this connection
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
        _common_headers(handler)
        handler.end_headers()
        last: object = None
        changes = 0
        pinged = time.monotonic()
        try:
            self._send(handler, f"retry: {_EVENT_RETRY_MS}\n\n")
            # A restart of the HTTP server cuts this connection; a stop ends the loop here.
            while rest.running and rest.starts == serving:
                current = ui_views.fingerprint(self.emu)
                if current != last:
                    last, changes = current, changes + 1
                    self._send(handler, f"event: change\ndata: {changes}\n\n")
                    pinged = time.monotonic()
                elif time.monotonic() - pinged >= _EVENT_PING_INTERVAL:
                    self._send(handler, ": ping\n\n")
                    pinged = time.monotonic()
                time.sleep(_EVENT_CHECK_INTERVAL)
        except OSError:  # the page went away, or the server cut the connection
            log.debug("emulator page: event stream closed")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, text: str) -> None:
        handler.wfile.write(text.encode("utf-8"))
        handler.wfile.flush()


class UiRoutes:
    """The page's routes, mounted on the emulator's :class:`RestServer` at ``UI_PATH``."""

    def __init__(self, emu: EmulatorCore, parties: RemoteParties, server: RestServer) -> None:
        self.emu = emu
        self.parties = parties  # the page's actions play the other side
        self.server = server  # the HTTP server the routes are mounted on
        self._actions: dict[str, Callable[[dict[str, Any]], Any]] = {
            "send": self._send, "react": self._react, "edit": self._edit,
            "unsend": self._unsend, "typing": self._typing, "read": self._read,
            "vote": self._vote, "fault": self._fault,
        }

    # -- access ----------------------------------------------------------------------------

    def admin_headers(self, query: str, headers: Mapping[str, str]) -> Mapping[str, str]:
        """``headers``, plus the admin token from ``?token=`` or the page's cookie as the
        ``x-emulator-token`` header (for the admin access check)."""
        if ADMIN_TOKEN_HEADER in headers:
            return headers
        token = _token_from_query(query) or _token_from_cookie(headers.get("cookie", ""))
        if token is None:
            return headers
        return {**headers, ADMIN_TOKEN_HEADER: token}

    # -- routing ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes) -> Reply:
        """Answer a request under ``UI_PATH`` (``path`` is the rest of the path)."""
        if method == "GET":
            if path == "":
                # Relative asset addresses need the trailing slash.
                location = UI_PATH + "/" + (f"?{query}" if query else "")
                return Reply(308, Answer(b"", "text/plain", {"Location": location}))
            if path in _ASSETS:
                return Reply(200, self._asset(path, query))
            views: dict[str, Callable[[str], Reply]] = {
                "/api/overview": self._overview, "/api/chat": self._chat,
                "/api/attachment": self._attachment, "/api/events": self._events,
            }
            view = views.get(path)
            if view is not None:
                return view(query)
        elif method == "POST" and path.startswith("/api/"):
            action = self._actions.get(path[len("/api/"):])
            if action is not None:
                args = _json_object(body)
                return Reply(200, _call_emulator(lambda: action(args)))
        raise HttpError(404, "NOT_FOUND", f"no page route {method} {UI_PATH}{path}")

    def _asset(self, path: str, query: str) -> Answer:
        name, content_type = _ASSETS[path]
        try:
            data = (ASSET_DIR / name).read_bytes()
        except OSError:
            raise HttpError(500, "INTERNAL", f"the page's file {name} is missing from "
                                             "the installed package") from None
        extra = {"Content-Security-Policy": _PAGE_POLICY}
        token = _token_from_query(query)
        if path == "/" and token is not None:
            # Reached only once the access check accepted the token.
            extra["Set-Cookie"] = (f"{_COOKIE}={urllib.parse.quote(token, safe='')}; "
                                   f"Path={UI_PATH}; HttpOnly; SameSite=Strict")
        return Answer(data, content_type, extra)

    # -- views -----------------------------------------------------------------------------

    def _overview(self, query: str) -> Reply:
        _query(query, ("token",))
        return Reply(200, ui_views.overview(self.emu))

    def _chat(self, query: str) -> Reply:
        params = _query(query, ("line", "chat", "token"))
        line, chat = _required(params, "line"), _required(params, "chat")
        return Reply(200, _call_emulator(lambda: ui_views.conversation(self.emu, line, chat)))

    def _attachment(self, query: str) -> Reply:
        params = _query(query, ("line", "guid", "token"))
        line, guid = _required(params, "line"), _required(params, "guid")
        record = _call_emulator(lambda: ui_views.attachment(self.emu, line, guid))
        mime = record.info.mime_type
        quoted = urllib.parse.quote(record.info.file_name, safe="")
        headers = {"Content-Security-Policy": _FILE_POLICY}
        if mime in ui_views.INLINE_IMAGE_TYPES:
            headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quoted}"
        else:
            mime = "application/octet-stream"
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quoted}"
        return Reply(200, Answer(record.data, mime, headers))

    def _events(self, query: str) -> Reply:
        _query(query, ("token",))
        return Reply(200, EventStream(self.emu, self.server))

    # -- actions (the other side) ----------------------------------------------------------

    def _send(self, args: dict[str, Any]) -> dict[str, Any]:
        sender, line = _required(args, "from"), _required(args, "line")
        chat, text = _optional_str(args, "chat") or None, _optional_str(args, "text") or None
        reply_to, effect = _optional_str(args, "reply_to"), _optional_str(args, "effect")
        attachment = _inbound_attachment(args.get("attachment"))
        upload, forward = attachment if attachment is not None else (None, None)
        guid = self.parties.simulate_inbound(
            sender, text, line=line, chat=chat, attachment=upload, forward_attachment=forward,
            reply_to=reply_to or None, effect_id=ui_views.effect_id(effect))
        return {"guid": guid, "chat": ui_views.chat_of_message(self.emu, line, guid)}

    def _react(self, args: dict[str, Any]) -> dict[str, Any]:
        remove = args.get("remove", False)
        if not isinstance(remove, bool):
            raise HttpError(400, "INVALID_ARGUMENT", '"remove" must be a boolean')
        row = self.parties.simulate_reaction(
            _required(args, "from"), _required(args, "message"), _required(args, "reaction"),
            remove, line=_required(args, "line"))
        return {"guid": row}

    def _edit(self, args: dict[str, Any]) -> dict[str, Any]:
        self.parties.simulate_edit(_required(args, "message"), _required(args, "text"),
                               line=_required(args, "line"))
        return {"ok": True}

    def _unsend(self, args: dict[str, Any]) -> dict[str, Any]:
        self.parties.simulate_unsend(_required(args, "message"), line=_required(args, "line"))
        return {"ok": True}

    def _typing(self, args: dict[str, Any]) -> dict[str, Any]:
        typing = args.get("typing", True)
        if not isinstance(typing, bool):
            raise HttpError(400, "INVALID_ARGUMENT", '"typing" must be a boolean')
        self.parties.simulate_typing(_required(args, "from"), chat=_optional_str(args, "chat"),
                                 typing=typing, line=_required(args, "line"))
        return {"ok": True}

    def _read(self, args: dict[str, Any]) -> dict[str, Any]:
        line, chat = _required(args, "line"), _required(args, "chat")
        reader = _optional_str(args, "from")
        guids = ui_views.unread_from_me(self.emu, line, chat)
        for guid in guids:
            self.parties.simulate_read(guid, by=reader or None, line=line)
        return {"read": len(guids)}

    def _vote(self, args: dict[str, Any]) -> dict[str, Any]:
        sender, line, poll = _required(args, "from"), _required(args, "line"), _required(
            args, "poll")
        option = _optional_str(args, "option")
        if option:
            self.parties.simulate_poll_vote(sender, poll, option, line=line)
        else:
            self.parties.simulate_poll_unvote(sender, poll, line=line)
        return {"ok": True}

    def _fault(self, args: dict[str, Any]) -> dict[str, Any]:
        kind = _required(args, "kind")
        faults: dict[str, Callable[[], None]] = {
            "cut-streams": self.emu.cut_streams,
            "fail-next": lambda: self.emu.fail_next(1, "UNAVAILABLE", retryable=True),
            "revoke-tokens": self.emu.revoke_tokens,
        }
        fault = faults.get(kind)
        if fault is None:
            raise HttpError(400, "INVALID_ARGUMENT", f'"kind" must be one of {", ".join(faults)}')
        fault()
        return {"ok": True}


def _required(args: Mapping[str, Any], key: str) -> str:
    value = _optional_str(args, key)
    if not value:
        raise HttpError(400, "INVALID_ARGUMENT", f'"{key}" is required')
    return value


def _common_headers(handler: BaseHTTPRequestHandler) -> None:
    handler.send_header("Cache-Control", "no-store")
    handler.send_header("X-Content-Type-Options", "nosniff")
    handler.send_header("Referrer-Policy", "no-referrer")


def _token_from_query(query: str) -> str | None:
    values = urllib.parse.parse_qs(query).get("token")
    return values[0] if values else None


def _token_from_cookie(header: str) -> str | None:
    cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
    try:
        cookies.load(header)
    except http.cookies.CookieError:
        return None
    morsel = cookies.get(_COOKIE)
    return urllib.parse.unquote(morsel.value) if morsel is not None else None

