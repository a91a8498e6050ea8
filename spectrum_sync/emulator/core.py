"""The emulator's core: the state every server of the emulator shares.

One :class:`EmulatorCore` holds the lock, the clock, the faults, the tokens and lines, the
address directory, the stream hub, the recorded calls, the typing log, the quotas and
throttles, the catch-up counters and the webhook queue. The gRPC gateway and services, the
web page's views and routes and the simulated parties (``simulate.py``, which the
services' helpers serve, so it sits above them) depend on it; the test-facing façade
(:class:`spectrum_sync.emulator.Emulator`) owns one, adds the servers' lifecycle (ports,
TLS, start and stop) and delegates the control API to it (docs/architecture.md, "The
emulator"). Nothing here starts a server.
"""

from __future__ import annotations

import collections
import logging
import math
import re
import secrets
import threading
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import grpc
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import locations_pb2
from spectrum_sync.emulator import eventlog, streams
from spectrum_sync.emulator.addresses import AddressDirectory, normalize_address
from spectrum_sync.emulator.auth import TokenRegistry
from spectrum_sync.emulator.clock import Clock, ClockSource, iso_timestamp
from spectrum_sync.emulator.errors import EmulatorError, control_errors
from spectrum_sync.emulator.faults import FaultInjector
from spectrum_sync.emulator.guids import parse_chat_guid
from spectrum_sync.emulator.quotas import Throttles
from spectrum_sync.emulator.state import ChatRecord, LineState
from spectrum_sync.emulator.webhook_payloads import webhook_event
from spectrum_sync.emulator.webhooks import WebhookDelivery, WebhookSender

log = logging.getLogger("spectrum_sync.emulator")

SHARED_INSTANCE = "shared"
_ADMIN_TOKEN = re.compile(r"^[\x21-\x7e]{8,256}$")
IDEMPOTENCY_WINDOW = 86_400.0  # a day: retries of one logical call come well within it
MAX_CONCURRENT_CATCHUPS = 16  # the service's limit, per server


class RecordedCall(NamedTuple):
    """One call the emulator received: short method name, request, invocation metadata."""

    method: str
    request: ProtoMessage | None  # None: the bytes did not parse
    metadata: dict[str, Any]

    def __repr__(self) -> str:  # never show bearer tokens
        shown = {k: ("<redacted>" if k == "authorization" else v)
                 for k, v in self.metadata.items()}
        return f"RecordedCall(method={self.method!r}, metadata={shown!r})"


class LineIdentity(NamedTuple):
    """An emulated line as the outside sees it: its instance id and number (``None`` for
    the shared pool and numberless lines). Not the client's ``spectrum_sync.LineInfo``."""

    instance_id: str
    number: str | None


class EmulatorCore:
    """The shared state of one emulator and the operations on it (all thread-safe).

    ``webhooks`` is the queue that POSTs inbound events (``None``: no webhooks); its
    lifecycle belongs to the façade.
    """

    def __init__(
        self,
        plan: str = "dedicated",
        lines: Sequence[str | None] | None = None,
        project_id: str = "proj",
        project_secret: str = "secret",
        token_ttl: float = 3600,
        heartbeat_interval: float = 30.0,
        clock: ClockSource = None,
        daily_message_limit: int = 5000,
        daily_new_conversation_limit: int = 50,
        event_log_size: int = 10000,
        record_limit: int = 100_000,
        admin_token: str | None = None,
        webhooks: WebhookSender | None = None,
        idempotency_window: float = IDEMPOTENCY_WINDOW,
        throttles: Throttles | None = None,
        max_concurrent_catchups: int = MAX_CONCURRENT_CATCHUPS,
        catchup_delay: float = 0.0,
    ) -> None:
        _check_settings(plan, token_ttl, heartbeat_interval, idempotency_window,
                        max_concurrent_catchups, catchup_delay, admin_token)
        self.plan = plan
        self.project_id = project_id
        self.project_secret = project_secret
        self.token_ttl = token_ttl
        self.heartbeat_interval = heartbeat_interval
        self.daily_message_limit = daily_message_limit
        self.daily_new_conversation_limit = daily_new_conversation_limit
        self.event_log_size = event_log_size
        #: How long (emulator clock) a repeated ``x-idempotency-key`` gets the original
        #: response; a repeated ``client_message_id`` is refused with duplicateMessage
        #: for as long as the line remembers it.
        self.idempotency_window = float(idempotency_window)
        #: The service's throttles beyond the daily quotas (all off by default).
        self.throttles = throttles or Throttles()
        #: CatchUpEvents calls served at once, server-wide, before the next is refused.
        self.max_concurrent_catchups = int(max_concurrent_catchups)
        #: Seconds each catch-up takes before its first frame (the service's are expensive).
        self.catchup_delay = float(catchup_delay)
        #: Catch-ups in flight now, the most at once so far, and how many were refused.
        self.catchups_in_flight = self.catchups_peak = self.catchups_refused = 0
        #: Secret that opens the ``/_emulator/`` admin API from any host (header
        #: ``x-emulator-token``); loopback clients do not need it.
        self.admin_token: str = admin_token or secrets.token_urlsafe(24)
        self.webhooks = webhooks
        #: Outgoing messages are reported delivered at once; False leaves them undelivered
        #: until ``mark_delivered`` / ``fail_delivery`` (docs/behaviour.md, "Delivery state").
        self.deliver_sends = True
        self.lock = threading.RLock()
        self.clock = Clock(clock)
        self.directory = AddressDirectory()
        self.faults = FaultInjector()
        self.tokens = TokenRegistry()
        self.hub = streams.StreamHub(self.lock, lambda: self.faults.cut_every)
        self.typing: list[tuple[str, str, bool, bool]] = []
        self._requests: collections.deque[RecordedCall] = collections.deque(maxlen=record_limit)
        self._lines: dict[str, LineState] = {}
        #: Set while the gRPC server stops: injected delays end early.
        self.stopping = threading.Event()
        if plan == "shared":
            self._new_line(None, SHARED_INSTANCE)
        else:
            for number in (["+15550000001"] if lines is None else lines):
                self._new_line(number)

    def sleep(self, seconds: float) -> None:
        """Sleep that a stop interrupts (used by injected delays)."""
        self.stopping.wait(seconds)

    def now(self) -> float:
        """The emulator's current time (epoch seconds)."""
        return self.clock.now()

    # ----- lines and tokens ---------------------------------------------------------------

    def _new_line(self, number: str | None, instance_id: str | None = None) -> LineState:
        with control_errors():
            canonical = normalize_address(number) if number else None
        with self.lock:
            if canonical and any(ln.number == canonical for ln in self._lines.values()):
                raise ValueError(f"line {canonical} already exists")
            line = LineState(instance_id or f"i{uuid.uuid4().hex[:12]}", canonical,
                             self.event_log_size, self.lock)
            if self.webhooks is not None:
                line.listener = self._on_event
            self._lines[line.instance_id] = line
        return line

    def line(self, line: str | None = None) -> LineState:
        """A line by number or instance id; ``None`` = the first line. On the shared plan
        the pool is the only line, whatever is asked for."""
        with self.lock:
            if line is None or self.plan == "shared":
                if not self._lines:
                    raise KeyError("the emulator has no lines")
                return next(iter(self._lines.values()))
            found = self._lines.get(line)
            if found is not None:
                return found
            try:
                canonical = normalize_address(line)
            except EmulatorError:
                canonical = line
            for candidate in self._lines.values():
                if candidate.number == canonical:
                    return candidate
            known = ", ".join(ln.name for ln in self._lines.values())
            raise KeyError(f"no line {line!r} (lines: {known})")

    @property
    def lines(self) -> list[LineIdentity]:
        """Current lines, in creation order."""
        with self.lock:
            return [LineIdentity(ln.instance_id, ln.number) for ln in self._lines.values()]

    def add_line(self, number: str | None) -> str:
        """Add a dedicated line (``None``: an instance without a number); returns its id."""
        if self.plan == "shared":
            raise ValueError("the shared plan has a single pool line")
        return self._new_line(number).instance_id

    def remove_line(self, line: str) -> None:
        """Remove a line: its tokens stop working and its open streams end."""
        with self.lock:
            found = self.line(line)
            found.removed = True
            del self._lines[found.instance_id]
        self.hub.end_all(streams.REMOVED, found)

    def issue_token_payload(self) -> dict[str, Any]:
        """The ``data`` object of a token exchange (new tokens each time)."""
        now = self.clock.now()
        ttl = self.token_ttl
        with self.lock:
            lines = list(self._lines.values())
        if self.plan == "shared":
            token = self.tokens.issue(SHARED_INSTANCE, now, ttl)
            return {"type": "shared", "token": token, "expiresIn": ttl}
        auth = {ln.instance_id: self.tokens.issue(ln.instance_id, now, ttl) for ln in lines}
        numbers = {ln.instance_id: ln.number for ln in lines}
        return {"type": "dedicated", "auth": auth, "numbers": numbers, "expiresIn": ttl}

    def token(self, line: str | None = None) -> str:
        """A fresh bearer token for one line (``None``: the first / the pool)."""
        return self.tokens.issue(self.line(line).instance_id, self.clock.now(), self.token_ttl)

    def revoke_tokens(self) -> None:
        """Make every token issued so far stop working at once (calls with them get
        UNAUTHENTICATED until the client exchanges its credentials again)."""
        self.tokens.revoke_all()

    def authenticate(self, authorization: str | None) -> LineState:
        """The line a ``Bearer`` header value is for, or UNAUTHENTICATED."""
        instance_id = self.tokens.resolve(authorization, self.clock.now())
        with self.lock:
            found = self._lines.get(instance_id)
        if found is None:
            raise EmulatorError(grpc.StatusCode.UNAUTHENTICATED, "unauthenticated",
                                "the token's line no longer exists")
        return found

    def line_for_token(self, token: str) -> LineIdentity:
        """Instance id and number of the line a valid token is for; ``KeyError`` for
        unknown/expired tokens."""
        try:
            found = self.authenticate(f"Bearer {token}")
        except EmulatorError as exc:
            raise KeyError(exc.message) from None
        return LineIdentity(found.instance_id, found.number)

    # ----- faults -------------------------------------------------------------------------

    def fail_next(self, count: int = 1, code: str | grpc.StatusCode = "UNAVAILABLE",
                  retryable: bool = True, method: str | None = None,
                  error_code: str | None = None, *, after: bool = False,
                  message: str = "injected fault", context: dict[str, str] | None = None,
                  ) -> None:
        """Fail the next ``count`` calls (of ``method``; default: any unary call)."""
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be an int of at least 1")
        self.faults.fail_next(count, code, retryable, method, error_code, message, after,
                              context)

    def delay(self, seconds: float, method: str | None = None) -> None:
        """Delay every call (or every ``method`` call) by ``seconds``; 0 removes it."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("seconds must be a finite number >= 0")
        self.faults.delay(seconds, method)

    def cut_streams(self) -> None:
        """End every open stream now (clients see UNAVAILABLE)."""
        self.hub.end_all(streams.CUT)

    # ----- recorded calls -----------------------------------------------------------------

    def record(self, method: str, request: ProtoMessage | None, metadata: dict[str, Any],
               ) -> None:
        """Remember a received call (bounded)."""
        self._requests.append(RecordedCall(method, request, metadata))

    @property
    def requests(self) -> list[RecordedCall]:
        """The calls received so far, oldest first: ``(method, request, metadata)``."""
        return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded calls."""
        self._requests.clear()

    # ----- address directory --------------------------------------------------------------

    def set_friend_location(
        self, address: str, latitude: float | None = None, longitude: float | None = None, *,
        name: str | None = None, accuracy: float | None = None,
        long_address: str | None = None, short_address: str | None = None,
        kind: str = "live", line: str | None = None,
    ) -> None:
        """``address`` shares its location with the line (Find My); without coordinates it
        is still being located. ``kind``: live, legacy or shallow. Watchers get the update."""
        kinds = {"legacy": 1, "live": 2, "shallow": 3}
        if kind not in kinds:
            raise ValueError(f"kind must be one of {sorted(kinds)}")
        with self.lock, control_errors():
            found = self.line(line)
            who = normalize_address(address)
            location = locations_pb2.SharedFriendLocation(
                address=who, name=name, latitude=latitude, longitude=longitude,
                accuracy=accuracy, long_address=long_address, short_address=short_address,
                is_locating_in_progress=latitude is None or longitude is None,
                location_type=kinds[kind])  # type: ignore[arg-type]
            location.location_timestamp.CopyFrom(self.clock.timestamp())
            found.friend_locations[who] = location
            found.location_feed_total += 1
            found.location_feed.append(locations_pb2.SharedFriendLocationUpdated(
                source_sequence=found.location_feed_total, location=location))
            found.cond.notify_all()

    def remove_friend_location(self, address: str, line: str | None = None) -> None:
        """``address`` stops sharing its location with the line."""
        with self.lock, control_errors():
            self.line(line).friend_locations.pop(normalize_address(address), None)

    def location_requests(self, line: str | None = None) -> list[tuple[str, str]]:
        """(chat guid, address) of every Find My request the line sent."""
        with self.lock:
            return list(self.line(line).location_requests)

    def set_address(self, address: str, services: Sequence[str] = ("iMessage",),
                    country: str | None = None, focused: bool = False) -> None:
        """Describe ``address`` in the directory (services, country, focus state)."""
        with control_errors():
            self.directory.set(address, services, country, focused)

    # ----- quotas and state ---------------------------------------------------------------

    def charge(self, line: LineState, chat: ChatRecord, text: str = "") -> None:
        """Count one sent message against the line's daily quotas and throttles (or
        raise)."""
        line.quota.charge(chat.recipient, self.clock, line.name, self.daily_message_limit,
                          self.daily_new_conversation_limit, self.throttles, text)

    def quota_usage(self, line: str | None = None) -> dict[str, Any]:
        """Today's usage and limits of a line."""
        with self.lock:
            found = self.line(line)
            usage = found.quota.usage(self.clock)
        usage.update(line=found.name, message_limit=self.daily_message_limit,
                     new_conversation_limit=self.daily_new_conversation_limit)
        return usage

    def head_sequence(self, line: str | None = None) -> int:
        """The line's latest event sequence."""
        with self.lock:
            return self.line(line).log.head

    def note_typing(self, line: LineState, chat_guid: str, is_typing: bool,
                    from_me: bool) -> None:
        """Record a typing indicator (typing is transient: nothing is logged as an event)."""
        with self.lock:
            self.typing.append((line.name, chat_guid, is_typing, from_me))

    def messages(self, line: str | None = None, chat: str | None = None,
                 ) -> list[dict[str, Any]]:
        """What was sent and received, oldest first, as JSON-able records ``{"guid", "chat",
        "line", "text", "is_from_me", "sender", "timestamp"}``; ``line`` (number or instance
        id) and ``chat`` (a chat guid) narrow it down."""
        with self.lock, control_errors():
            lines = list(self._lines.values()) if line is None else [self.line(line)]
            key = parse_chat_guid(chat) if chat is not None else None
            rows: list[tuple[int, dict[str, Any]]] = []
            for ln in lines:
                for guid in ln.order:
                    chat_guid = ln.message_chat[guid]
                    if key is not None and ln.chat_key(chat_guid) != key:
                        continue
                    message = ln.messages[guid]
                    rows.append((ln.arrival[guid], {
                        "guid": guid, "chat": chat_guid, "line": ln.name,
                        "text": message.content.text, "is_from_me": message.is_from_me,
                        "sender": message.sender.address or None,
                        "timestamp": iso_timestamp(message.date_created),
                    }))
        rows.sort(key=lambda row: row[0])
        return [record for _, record in rows]

    def clear(self) -> None:
        """Forget chats, messages, attachments, polls, events, quota usage, idempotency keys,
        typing, recorded gRPC calls, faults and webhooks; lines, tokens, the directory, the
        clock and sequence numbers stay."""
        with self.lock:
            for ln in self._lines.values():
                ln.clear()
            self.typing.clear()
            self._requests.clear()
        self.faults.clear()
        if self.webhooks is not None:
            self.webhooks.clear()

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot: plan, lines, chats, message counts, quotas, open streams."""
        with self.lock:
            lines = []
            for ln in self._lines.values():
                chats = [{
                    "guid": c.guid, "is_group": c.is_group, "participants": list(c.participants),
                    "display_name": c.display_name, "messages": len(c.message_guids),
                    "unread": c.unread,
                } for c in ln.chats.values()]
                lines.append({
                    "instance_id": ln.instance_id, "number": ln.number,
                    "head_sequence": ln.log.head, "oldest_sequence": ln.log.oldest,
                    "messages": len(ln.order), "chats": chats,
                    "quota": ln.quota.usage(self.clock),
                })
            return {
                "plan": self.plan, "project_id": self.project_id, "lines": lines,
                "limits": {"daily_messages": self.daily_message_limit,
                           "daily_new_conversations": self.daily_new_conversation_limit},
                "open_streams": self.hub.open_count,
            }

    # ----- webhooks -----------------------------------------------------------------------

    def _on_event(self, line: LineState, entry: eventlog.Entry) -> None:
        """Queue the webhook of a logged event (runs under the lock; never raises)."""
        try:
            built = webhook_event(line, entry)
        except Exception:  # a mapping bug must not fail the call that logged the event
            log.exception("no webhook for event %d of line %s", entry.sequence, line.name)
            return
        if built is not None and self.webhooks is not None:
            self.webhooks.submit(built.event_id, built.content_type, line.name,
                                 built.envelope)

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook so far, oldest first; empty without webhooks."""
        return [] if self.webhooks is None else self.webhooks.deliveries


def _check_settings(plan: str, token_ttl: float, heartbeat_interval: float,
                    idempotency_window: float, max_concurrent_catchups: int,
                    catchup_delay: float, admin_token: str | None) -> None:
    """``ValueError`` naming the first bad setting of :class:`EmulatorCore`."""
    if plan not in ("shared", "dedicated"):
        raise ValueError("plan must be 'shared' or 'dedicated'")
    if heartbeat_interval <= 0 or token_ttl <= 0:
        raise ValueError("heartbeat_interval and token_ttl must be positive")
    if not idempotency_window >= 0:
        raise ValueError("idempotency_window must be a number of seconds >= 0")
    if isinstance(max_concurrent_catchups, bool) or max_concurrent_catchups < 1:
        raise ValueError("max_concurrent_catchups must be an integer >= 1")
    if not catchup_delay >= 0:
        raise ValueError("catchup_delay must be a number of seconds >= 0")
    if admin_token is not None and not _ADMIN_TOKEN.match(admin_token):
        raise ValueError("admin_token must be 8 to 256 printable ASCII characters "
                         "without spaces")
