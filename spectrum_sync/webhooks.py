"""Spectrum's native webhooks: verify the signature, parse the body, dispatch to handlers.

Spectrum Cloud can POST each inbound event to a URL instead of a stream. A delivery carries
``X-Spectrum-Timestamp: <unix seconds>`` and ``X-Spectrum-Signature: v0=<hex>``, the lowercase
hex ``HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)`` over the exact body bytes; the body
is JSON: ``{"event": "messages", "space": {...}, "message": {"id", "platform", "direction",
"timestamp", "sender", "space", "content": {"type", ...}}}``. A ``whsec_`` secret selects
Standard Webhooks instead (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64
HMAC-SHA256 over "<id>.<timestamp>.<body>">``, several signatures per header), the scheme
Spectrum's SDK is moving to.

- :func:`verify` checks a request (raises :class:`WebhookError` with the HTTP status to answer);
- :func:`parse` turns a body into the event types ``client.events()`` yields
  (:class:`~spectrum_sync.Message`, :class:`~spectrum_sync.Reaction`, ...), and
  :func:`parse_envelope` also keeps the whole JSON (:class:`WebhookEnvelope`);
- :class:`WebhookDispatcher` is the framework-free request handler behind the Flask and
  Django views: verify, parse, deduplicate by message id, call the handlers, answer.

Delivery is at-least-once and unordered, with up to six attempts: handlers must tolerate a
repeat, which the dispatcher's deduplication makes rare but cannot rule out (a process that
dies while its handlers run, or a state store that fails, lets a later copy run them again).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, TypeVar, Union, overload

import attrs

from ._errors import SpectrumError
from ._events import EVENT_KINDS, Event, GroupChanged, MessageRead
from ._models import Attachment, Message, Reaction, Received, Space, TextFormat, User

if TYPE_CHECKING:
    from ._client import Client
    from ._state.base import StateStore

__all__ = [
    "CLAIM_GROUP",
    "CLAIM_TTL",
    "CUSTOM_KIND",
    "MAX_BODY_BYTES",
    "SEEN_GROUP",
    "SEEN_TTL",
    "SIGNATURE_HEADER",
    "STANDARD_SECRET_PREFIX",
    "TIMESTAMP_HEADER",
    "TOLERANCE_SECONDS",
    "CustomContent",
    "Deduplicator",
    "WebhookDispatcher",
    "WebhookEnvelope",
    "WebhookError",
    "WebhookEvent",
    "WebhookResponse",
    "parse",
    "parse_envelope",
    "sign",
    "sign_standard",
    "signature_headers",
    "verify",
]

log = logging.getLogger("spectrum_sync.webhooks")

SIGNATURE_HEADER = "x-spectrum-signature"
TIMESTAMP_HEADER = "x-spectrum-timestamp"
#: A delivery signed further than this from now (either way) is refused: a captured request
#: cannot be replayed later.
TOLERANCE_SECONDS = 300
#: The state-store set that records the message ids already handled.
SEEN_GROUP = "webhook-seen"
#: How long a handled message id is remembered (Spectrum's retries end within hours).
SEEN_TTL = 7 * 86_400.0
#: The state-store set that records the message ids being handled right now (claims).
CLAIM_GROUP = "webhook-claim"
#: How long a claim holds when its process never releases it (it died mid-handler): copies of
#: that delivery are answered 409 until then, and the sender's next retry runs the handlers.
CLAIM_TTL = 300.0
#: The ``kind`` of :class:`CustomContent` (content types this version does not know).
CUSTOM_KIND = "custom"
#: Larger bodies are refused with 413 before any parsing (real ones are a few KiB).
MAX_BODY_BYTES = 4 * 1024 * 1024

_MESSAGES_EVENT = "messages"
_PLATFORM = "imessage"
_PREFIX = "v0="
_HEX = re.compile(r"[0-9a-fA-F]+")
# ASCII digits and blanks only: ``\d`` and ``float()`` would also take other scripts' digits.
_NUMBER = re.compile(r"[ \t]*-?[0-9]+(?:\.[0-9]+)?[ \t]*")
_CODES = {
    "missing-headers": "missingHeaders",
    "signature-mismatch": "signatureMismatch",
    "expired": "expired",
    "malformed-payload": "malformedPayload",
    "secret-not-configured": "secretNotConfigured",
    "body-too-large": "bodyTooLarge",
}

Json = Mapping[str, Any]
Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]


class WebhookError(SpectrumError):
    """A webhook request that must be refused. ``status`` is the HTTP status to answer (400
    for missing or unreadable headers and malformed bodies, 401 for a wrong signature or a
    timestamp outside the tolerance, 500 when no secret is configured) and ``reason`` a short
    token: ``missing-headers``, ``signature-mismatch``, ``expired``, ``malformed-payload``,
    ``secret-not-configured``, ``body-too-large``."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message, code=_CODES.get(reason, "invalidWebhook"), http_status=status)
        self.status = status
        self.reason = reason


# ----- signatures ----------------------------------------------------------------------------


def _as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"a webhook body is bytes (the raw request body), not {type(body).__name__}")


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``X-Spectrum-Signature`` value of ``body`` sent at ``timestamp`` (unix seconds):
    for tests of your own handlers."""
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + _as_bytes(body)
    return _PREFIX + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


# Standard Webhooks (standardwebhooks.com), chosen by a ``whsec_`` secret: headers
# webhook-id / webhook-timestamp / webhook-signature; the MAC is base64 HMAC-SHA256 under the
# base64-decoded secret over "<id>.<timestamp>.<body>", sent as "v1,<mac>", several separated
# by spaces (a sender rotating its secret signs with both).
STANDARD_SECRET_PREFIX = "whsec_"
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
_STANDARD_VERSION = "v1,"


def _standard_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret[len(STANDARD_SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError(500, "secret-not-configured",
                           "the whsec_ webhook secret is not base64 after its prefix") from None


def _standard_mac(key: bytes, message_id: str, timestamp: str, raw: bytes) -> bytes:
    signed = message_id.encode("utf-8") + b"." + timestamp.encode("ascii") + b"." + raw
    return hmac.new(key, signed, hashlib.sha256).digest()


def sign_standard(secret: str, message_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) of a Standard Webhooks delivery
    signed with a ``whsec_`` secret: for tests of your own handlers."""
    mac = _standard_mac(_standard_key(secret), message_id, str(timestamp), _as_bytes(body))
    return _STANDARD_VERSION + base64.b64encode(mac).decode("ascii")


def signature_headers(secret: str, body: bytes | str, *, timestamp: int | str,
                      message_id: str) -> dict[str, str]:
    """The signature headers of a delivery, in the scheme the secret selects: Standard
    Webhooks for a ``whsec_`` secret, else Spectrum's ``X-Spectrum-*`` headers."""
    stamp = str(timestamp)
    if secret.startswith(STANDARD_SECRET_PREFIX):
        return {"webhook-id": message_id, "webhook-timestamp": stamp,
                "webhook-signature": sign_standard(secret, message_id, stamp, body)}
    return {"X-Spectrum-Timestamp": stamp, "X-Spectrum-Signature": sign(secret, stamp, body)}


def _header(headers: Headers, name: str) -> str | None:
    """A header by name in any case, from a plain dict, a framework's header object
    (Werkzeug's and Django's look names up without case) or a list of pairs."""
    get = getattr(headers, "get", None)
    if callable(get):
        value = get(name)
        if value is not None:
            return str(value)
    items = getattr(headers, "items", None)
    pairs: Iterable[tuple[str, str]] = items() if callable(items) else headers  # type: ignore[assignment]
    for key, value in pairs:
        if isinstance(key, str) and key.lower() == name:
            return str(value)
    return None


def _secrets(secret: str | Sequence[str] | None) -> list[str]:
    chosen = [secret] if isinstance(secret, str) else list(secret or ())
    if not chosen or not all(isinstance(s, str) and s for s in chosen):
        raise WebhookError(500, "secret-not-configured",
                           "no webhook secret configured (SPECTRUM_WEBHOOK_SECRET)")
    return chosen


def verify(body: bytes | str, headers: Headers, secret: str | Sequence[str] | None, *,
           now: float | None = None, tolerance: float = TOLERANCE_SECONDS) -> None:
    """Check a delivery's signature; returns None when it is genuine, else raises
    :class:`WebhookError`.

    ``body`` is the raw request body, exactly as received (never a re-encoded JSON: key order
    and spacing are signed). ``headers`` in any case. ``secret`` may be a list during a
    secret rotation (any one matching is enough). The secret chooses the scheme: a
    ``whsec_`` secret verifies Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
    ``webhook-signature``), any other Spectrum's ``X-Spectrum-*`` headers. ``now`` (unix
    seconds) is for tests."""
    raw = _as_bytes(body)
    keys = _secrets(secret)
    standard = [k for k in keys if k.startswith(STANDARD_SECRET_PREFIX)]
    spectrum = [k for k in keys if not k.startswith(STANDARD_SECRET_PREFIX)]
    if standard and (not spectrum or _header(headers, STANDARD_SIGNATURE_HEADER) is not None):
        _verify_standard(raw, headers, standard, now, tolerance)
        return
    _verify_spectrum(raw, headers, spectrum, now, tolerance)


def _check_time(stamp: str, name: str, now: float | None, tolerance: float) -> None:
    if not _NUMBER.fullmatch(stamp):
        raise WebhookError(400, "missing-headers", f"{name} is not a unix time: {stamp[:40]!r}")
    sent = float(stamp)
    current = math.floor(time.time() if now is None else now)
    if not math.isfinite(sent) or abs(current - sent) > tolerance:
        raise WebhookError(401, "expired",
                           "the delivery's timestamp is more than "
                           f"{tolerance:g} s away from now (replayed, or a clock is wrong)")


def _mismatch() -> WebhookError:
    return WebhookError(401, "signature-mismatch",
                        "the signature does not match the body (wrong secret, or a body "
                        "changed on the way)")


def _verify_standard(raw: bytes, headers: Headers, keys: list[str], now: float | None,
                     tolerance: float) -> None:
    message_id = _header(headers, STANDARD_ID_HEADER)
    stamp = _header(headers, STANDARD_TIMESTAMP_HEADER)
    provided = _header(headers, STANDARD_SIGNATURE_HEADER)
    if not message_id or not stamp or not provided:
        raise WebhookError(400, "missing-headers",
                           "the webhook-id, webhook-timestamp and webhook-signature headers "
                           "are required (the secret is a whsec_ one: Standard Webhooks)")
    _check_time(stamp, "webhook-timestamp", now, tolerance)
    given: list[bytes] = []
    for item in provided.split():
        if item.startswith(_STANDARD_VERSION):  # other versions are skipped, never fatal
            with contextlib.suppress(binascii.Error, ValueError):
                given.append(base64.b64decode(item[len(_STANDARD_VERSION):], validate=True))
    for key in keys:
        expected = _standard_mac(_standard_key(key), message_id, stamp.strip(), raw)
        if any(hmac.compare_digest(expected, mac) for mac in given):
            return
    raise _mismatch()


def _verify_spectrum(raw: bytes, headers: Headers, keys: list[str], now: float | None,
                     tolerance: float) -> None:
    provided = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not provided or not stamp:
        raise WebhookError(400, "missing-headers",
                           "the X-Spectrum-Signature and X-Spectrum-Timestamp headers are "
                           "required")
    _check_time(stamp, "X-Spectrum-Timestamp", now, tolerance)
    digest = provided.strip()
    if digest.startswith(_PREFIX):
        digest = digest[len(_PREFIX):]
    # The official verifier treats an unreadable signature as a wrong one (401), not as a
    # malformed request.
    if len(digest) % 2 or not _HEX.fullmatch(digest):
        raise WebhookError(401, "signature-mismatch", "the signature is not a hex digest")
    given = bytes.fromhex(digest)
    base = b"v0:" + stamp.encode("utf-8") + b":" + raw
    for key in keys:
        expected = hmac.new(key.encode("utf-8"), base, hashlib.sha256).digest()
        if hmac.compare_digest(expected, given):
            return
    raise _mismatch()


# ----- read-only JSON ------------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable copy (dicts and lists) of frozen webhook JSON: for ``json.dumps``."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [thaw(v) for v in value]
    return value


# ----- events --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CustomContent(Received):
    """A webhook whose content type this version does not map (e.g. ``poll``): ``raw`` is
    the content object as it came (read-only), ``content_type`` its ``type``."""

    kind: ClassVar[str] = CUSTOM_KIND

    id: str
    content_type: str
    space: Space
    sender: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None
    raw: Mapping[str, Any] = attrs.field(factory=lambda: MappingProxyType({}), eq=False,
                                         repr=False)


#: What a webhook yields: the stream's event types, or :class:`CustomContent`.
WebhookEvent = Union[Event, CustomContent]


@attrs.frozen(kw_only=True)
class WebhookEnvelope:
    """One delivery: its ``events``, and everything else it carried. ``id`` is the message id
    (the deduplication key), ``raw`` the whole body as read-only JSON (unknown fields
    included); ``message`` and ``content`` are parts of ``raw``."""

    event: str
    id: str
    platform: str | None
    direction: str | None
    timestamp: datetime | None
    content_type: str | None
    events: tuple[WebhookEvent, ...]
    raw: Mapping[str, Any] = attrs.field(eq=False, repr=False)

    @property
    def message(self) -> Mapping[str, Any]:
        """The ``message`` object ({} for an event type without one)."""
        found = self.raw.get("message")
        return found if isinstance(found, Mapping) else MappingProxyType({})

    @property
    def content(self) -> Mapping[str, Any]:
        """The message's ``content`` object."""
        found = self.message.get("content")
        return found if isinstance(found, Mapping) else MappingProxyType({})


_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?")


def parse_timestamp(value: object) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when no offset is given); None when
    absent or unreadable (never fatal)."""
    if not isinstance(value, str):
        return None
    match = _ISO.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz = timezone.utc
    if zone and zone not in ("Z", "z"):
        sign_ = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        try:
            tz = timezone(sign_ * offset)
        except ValueError:
            return None
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute),
                        int(second or 0), micros, tzinfo=tz)
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: object) -> Json:
    return value if isinstance(value, Mapping) else MappingProxyType({})


_SERVICES = {"imessage": "iMessage", "sms": "SMS", "rcs": "RCS"}


def _user(value: object) -> User | None:
    """A sender ``{id, platform, ...}`` as a :class:`User` (``address`` when given, else
    ``id``; ``service`` and ``country`` when the cloud names them)."""
    if not isinstance(value, Mapping):
        return None
    address = _text(value.get("address")) or _text(value.get("id"))
    if not address:
        return None
    service = _SERVICES.get((_text(value.get("service")) or "").lower(), "unknown")
    return User(address=address, country=_text(value.get("country")) or None, service=service)


def _space_type(guid: str, given: object) -> str:
    if given in ("dm", "group"):
        return str(given)
    parts = guid.split(";", 2)
    return "group" if len(parts) == 3 and parts[1] == "+" else "dm"


class _Content(NamedTuple):
    """A message's content, flattened: texts, files and the message it answers."""

    texts: list[str]
    attachments: list[Attachment]
    reply_to: str | None


def _message_content(content: Json, found: _Content | None = None, depth: int = 0,
                     ) -> _Content | None:
    """Texts, files and reply target of message-like content; None for another type."""
    out = found or _Content([], [], None)
    kind = content.get("type")
    if depth > 16:
        return out
    if kind == "text":
        out.texts.append(_text(content.get("text")) or "")
    elif kind == "richlink":
        out.texts.append(_text(content.get("url")) or "")
    elif kind == "contact":
        pass  # no text: the card stays in the envelope's raw content
    elif kind in ("attachment", "voice"):
        size = content.get("size")
        out.attachments.append(Attachment(
            guid=_text(content.get("id")) or "",
            file_name=_text(content.get("name")) or ("voice" if kind == "voice"
                                                     else "attachment"),
            mime_type=_text(content.get("mimeType")) or "application/octet-stream",
            size=int(size) if isinstance(size, (int, float)) and not isinstance(size, bool)
            and math.isfinite(size) else 0))
    elif kind == "reply":
        target = _text(_mapping(content.get("target")).get("id"))
        inner = _mapping(content.get("content"))
        result = _message_content(inner, out, depth + 1) if inner else out
        if result is None:
            return None
        return result._replace(reply_to=result.reply_to or target or None)
    elif kind == "group":
        items = content.get("items")
        for item in items if isinstance(items, Sequence) else ():
            inner = _mapping(_mapping(item).get("content"))
            if inner and _message_content(inner, out, depth + 1) is None:
                return None
    else:
        return None
    return out


_GROUP_CHANGES = {"addMember": "participant_added", "removeMember": "participant_removed"}


def _events(content: Json, message: Json, space: Space, sender: User | None,
            is_from_me: bool, when: datetime | None) -> list[WebhookEvent]:
    kind = _text(content.get("type")) or ""
    message_id = _text(message.get("id")) or ""
    flat = _message_content(content)
    if flat is not None:
        text = "\n".join(flat.texts) if flat.texts else None
        return [Message(guid=message_id, space=space, text=text,
                        sender=None if is_from_me else sender, is_from_me=is_from_me,
                        created_at=when, reply_to_guid=flat.reply_to,
                        # Bound to the space, so that attachment.download() works
                        # (through the client given to parse()).
                        attachments=tuple(attrs.evolve(a, space=space)
                                          for a in flat.attachments))]
    target = _text(_mapping(content.get("target")).get("id"))
    if kind == "reaction" and target:
        return [Reaction(message_guid=target, emoji=_text(content.get("emoji")) or "",
                         space=space, added=True, sender=sender, is_from_me=is_from_me,
                         occurred_at=when)]
    if kind == "read" and target:
        return [MessageRead(message_guid=target, space=space, reader=sender,
                            is_from_me=is_from_me, read_at=when)]
    if kind in _GROUP_CHANGES:
        members = content.get("members")
        users = [_user({"id": m}) for m in (members if isinstance(members, Sequence)
                                            and not isinstance(members, str) else ())
                 if isinstance(m, str) and m]
        return [GroupChanged(space=space, change=_GROUP_CHANGES[kind], participant=user,
                             actor=sender, is_from_me=is_from_me, occurred_at=when)
                for user in users]
    if kind == "leaveSpace":
        return [GroupChanged(space=space, change="participant_left", participant=sender,
                             actor=sender, is_from_me=is_from_me, occurred_at=when)]
    if kind == "rename":
        return [GroupChanged(space=space, change="renamed",
                             display_name=_text(content.get("displayName")) or "",
                             actor=sender, is_from_me=is_from_me, occurred_at=when)]
    if kind == "avatar":
        action = _text(_mapping(content.get("action")).get("kind"))
        if action in ("set", "clear"):
            return [GroupChanged(space=space,
                                 change="icon_changed" if action == "set" else "icon_removed",
                                 actor=sender, is_from_me=is_from_me, occurred_at=when)]
    return [CustomContent(id=message_id, content_type=kind, space=space, sender=sender,
                          is_from_me=is_from_me, occurred_at=when, raw=content)]


def _malformed(detail: str) -> WebhookError:
    return WebhookError(400, "malformed-payload", f"malformed webhook payload: {detail}")


def _load(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Json:
    if isinstance(body, Mapping):
        return _freeze(thaw(body))  # type: ignore[no-any-return]
    try:
        data = json.loads(_as_bytes(body))
        if not isinstance(data, dict):
            raise _malformed("the body is not a JSON object")
        return _freeze(data)  # type: ignore[no-any-return]
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep to read
        raise _malformed(f"not readable JSON ({type(exc).__name__})") from None


def _require(obj: Json, key: str, what: str) -> Json:
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise _malformed(f"{what} is missing or not an object")
    found = value.get("id") if key != "content" else value.get("type")
    if not isinstance(found, str):
        raise _malformed(f"{what} has no string {'type' if key == 'content' else 'id'}")
    return value


def parse_envelope(body: bytes | str | Mapping[str, Any], *,
                   client: Client | None = None) -> WebhookEnvelope:
    """The whole delivery: its events (see :func:`parse`) and its read-only JSON.

    Raises :class:`WebhookError` (400, ``malformed-payload``) for a body that is not a JSON
    object with an ``event`` string and, for ``messages``, a ``message`` with an ``id``, a
    ``space`` with an ``id`` and a ``content`` with a ``type``. Unknown fields never fail."""
    data = _load(body)
    event = data.get("event")
    if not isinstance(event, str):
        raise _malformed("no 'event' string")
    if event != _MESSAGES_EVENT:
        # A future event type: acknowledged and ignored, since a retry cannot fix it.
        return WebhookEnvelope(event=event, id="", platform=None, direction=None,
                               timestamp=None, content_type=None, events=(), raw=data)
    if not isinstance(data.get("message"), Mapping):
        raise _malformed("'message' is missing or not an object")
    message: Json = data["message"]
    if not isinstance(message.get("id"), str):
        raise _malformed("'message' has no string 'id'")
    space_json = _require(message, "space", "'message.space'")
    content = _require(message, "content", "'message.content'")
    outer = _mapping(data.get("space"))
    platform = _text(message.get("platform")) or _text(space_json.get("platform"))
    direction = _text(message.get("direction"))
    when = parse_timestamp(message.get("timestamp"))
    envelope = dict(event=event, id=message["id"], platform=platform, direction=direction,
                    timestamp=when, content_type=str(content["type"]), raw=data)
    # One client serves iMessage: another platform's deliveries (the same webhook URL can
    # carry several) are acknowledged without events. The official SDK looks the platform up
    # by its exact lower-case name; the cloud spells it "iMessage": compare without case.
    if platform is not None and platform.lower() != _PLATFORM:
        return WebhookEnvelope(events=(), **envelope)
    space_id = str(space_json["id"])
    phone = _text(space_json.get("phone")) or _text(outer.get("phone")) or ""
    space = Space(id=space_id,
                  type=_space_type(space_id, space_json.get("type") or outer.get("type")),
                  phone=phone,
                  display_name=_text(space_json.get("displayName"))
                  or _text(outer.get("displayName")),
                  ops=_ClientOps(client, phone) if client is not None else _DETACHED)
    events = _events(content, message, space, _user(message.get("sender")),
                     direction == "outbound", when)
    return WebhookEnvelope(events=tuple(events), **envelope)


def parse(body: bytes | str | Mapping[str, Any], *,
          client: Client | None = None) -> list[WebhookEvent]:
    """The events of a webhook body, as ``client.events()`` yields them.

    ``text``, ``richlink`` (the URL as text), ``contact``, ``attachment``, ``voice``,
    ``group`` (one message with every part) and ``reply`` (``reply_to_guid``) give a
    :class:`~spectrum_sync.Message`; ``reaction`` a :class:`~spectrum_sync.Reaction`;
    ``read`` a :class:`~spectrum_sync.MessageRead`; ``addMember``, ``removeMember`` (one
    event per member), ``leaveSpace``, ``rename`` and ``avatar`` a
    :class:`~spectrum_sync.GroupChanged`. Any other content type gives a
    :class:`CustomContent` holding the raw JSON; an unknown event type (or another platform)
    gives ``[]``. With ``client=``, the spaces act through it (``msg.reply(...)``); without,
    their actions raise :class:`~spectrum_sync.SpectrumError`. Events from a webhook have
    ``sequence == 0`` and ``ack()`` does nothing."""
    return list(parse_envelope(body, client=client).events)


# ----- the spaces' backends ------------------------------------------------------------------


class _DetachedOps:
    """The backend of spaces parsed without a client: every action explains itself."""

    mode = "webhook"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise SpectrumError("this space came from a webhook without a client; pass client= "
                            "to parse() to act on it", code="noClient")

    send_text = set_typing = mark_read = get_chat = edit = unsend = react = _refuse
    send_file = send_parts = attachment_info = download_attachment = share_contact = _refuse
    history_page = rename_group = change_members = leave_group = set_group_icon = _refuse
    group_icon = create_poll = get_poll = change_poll = _refuse
    refresh_message = place_sticker = notify_anyway = embedded_media = _refuse
    send_app_card = update_app_card = set_background = has_background = _refuse


_DETACHED = _DetachedOps()


def _forward(name: str) -> Callable[..., Any]:
    """An operation on a webhook's space, carried out by the client's own space."""

    def forward(self: _ClientOps, space: Space, *args: Any, **kwargs: Any) -> Any:
        real = self._real(space, kwargs.get("timeout"))
        return getattr(real._ops, name)(real, *args, **kwargs)

    forward.__name__ = name
    return forward


def _forward_message(name: str) -> Callable[..., Any]:
    """An operation on a webhook's message, carried out in the client's own space."""

    def forward(self: _ClientOps, message: Message, *args: Any, **kwargs: Any) -> Any:
        real = self._message(message, kwargs.get("timeout"))
        return getattr(real.space._ops, name)(real, *args, **kwargs)

    forward.__name__ = name
    return forward


class _ClientOps:
    """Acts for a webhook's space through a client: the client's own space is looked up on
    the first action (not while parsing, which must never need the network), on the line
    the webhook named."""

    mode = "webhook"

    def __init__(self, client: Client, phone: str) -> None:
        self._client = client
        self._phone = phone or None

    def _real(self, space: Space, timeout: float | None) -> Space:
        return self._client.space.get(space.id, phone=self._phone, timeout=timeout)

    def _message(self, message: Message, timeout: float | None) -> Message:
        return attrs.evolve(message, space=self._real(message.space, timeout))

    def send_text(self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
                  subject: str | None, formatting: tuple[TextFormat, ...] = (),
                  idempotency_key: str | None, timeout: float | None,
                  reply_part: int | None = None) -> Message:
        real = self._real(space, timeout)
        return real._ops.send_text(real, text, reply_to=reply_to, effect=effect,
                                   subject=subject, formatting=formatting,
                                   idempotency_key=idempotency_key, timeout=timeout,
                                   reply_part=reply_part)

    send_file = _forward("send_file")
    send_parts = _forward("send_parts")
    attachment_info = _forward("attachment_info")
    download_attachment = _forward("download_attachment")
    share_contact = _forward("share_contact")
    history_page = _forward("history_page")
    rename_group = _forward("rename_group")
    change_members = _forward("change_members")
    leave_group = _forward("leave_group")
    set_group_icon = _forward("set_group_icon")
    group_icon = _forward("group_icon")
    create_poll = _forward("create_poll")
    get_poll = _forward("get_poll")
    send_app_card = _forward("send_app_card")
    set_background = _forward("set_background")
    has_background = _forward("has_background")
    refresh_message = _forward_message("refresh_message")
    place_sticker = _forward_message("place_sticker")
    notify_anyway = _forward_message("notify_anyway")
    embedded_media = _forward_message("embedded_media")
    update_app_card = _forward_message("update_app_card")

    def change_poll(self, poll: Any, action: str, value: str | None, *,
                    idempotency_key: str | None, timeout: float | None) -> Any:
        real = attrs.evolve(poll, space=self._real(poll.space, timeout))
        return real.space._ops.change_poll(real, action, value,
                                           idempotency_key=idempotency_key, timeout=timeout)

    def set_typing(self, space: Space, typing: bool, *, timeout: float | None) -> None:
        real = self._real(space, timeout)
        real._ops.set_typing(real, typing, timeout=timeout)

    def mark_read(self, space: Space, *, idempotency_key: str | None,
                  timeout: float | None) -> None:
        real = self._real(space, timeout)
        real._ops.mark_read(real, idempotency_key=idempotency_key, timeout=timeout)

    def get_chat(self, space: Space, *, timeout: float | None) -> tuple[Space, list[User]]:
        real = self._real(space, timeout)
        return real._ops.get_chat(real, timeout=timeout)

    def edit(self, message: Message, text: str, *, part: int | None = None,
             idempotency_key: str | None, timeout: float | None) -> Message:
        real = self._message(message, timeout)
        return real.space._ops.edit(real, text, part=part, idempotency_key=idempotency_key,
                                    timeout=timeout)

    def unsend(self, message: Message, *, part: int | None = None,
               idempotency_key: str | None, timeout: float | None) -> None:
        real = self._message(message, timeout)
        real.space._ops.unsend(real, part=part, idempotency_key=idempotency_key,
                               timeout=timeout)

    def react(self, message: Message, reaction: str, on: bool, *, part: int | None = None,
              idempotency_key: str | None, timeout: float | None) -> None:
        real = self._message(message, timeout)
        real.space._ops.react(real, reaction, on, part=part, idempotency_key=idempotency_key,
                              timeout=timeout)


# ----- deduplication -------------------------------------------------------------------------


class Deduplicator:
    """Which message ids were handled already, or are being handled, in a state store: the
    cloud delivers at least once, so a retried or repeated delivery must not run the
    handlers twice.

    :meth:`claim` decides with one atomic store operation first (set-if-absent of the id in
    the set ``webhook-claim``, with a lifetime of ``claim_ttl``): of two copies arriving at
    once, in one process or several sharing the store, exactly one gets the claim. The id is
    marked handled (set ``webhook-seen``, for ``ttl``) only once its handlers succeeded; a
    failure releases the claim, so the sender's retry runs them again. A store that fails is
    logged and treated as "not seen" (a claim in this process only): running a handler
    twice beats losing an event."""

    CLAIMED = "claimed"  #: run the handlers, then :meth:`mark` or :meth:`release`
    DONE = "done"  #: handled already: acknowledge
    BUSY = "busy"  #: another copy holds the claim: have the sender come back later

    def __init__(self, store: StateStore | Callable[[], StateStore], *,
                 group: str = SEEN_GROUP, ttl: float = SEEN_TTL,
                 claim_group: str = CLAIM_GROUP, claim_ttl: float = CLAIM_TTL) -> None:
        self._store = store
        self.group = group
        self.ttl = ttl  # ids are forgotten after this long: the record stays bounded
        self.claim_group = claim_group
        self.claim_ttl = claim_ttl
        self._lock = threading.Lock()
        self._active: set[str] = set()

    @property
    def store(self) -> StateStore:
        """The state store in use."""
        store = self._store
        if callable(store) and not hasattr(store, "add_member"):
            return store()
        return store  # type: ignore[return-value]

    def seen(self, message_id: str) -> bool:
        """Whether the id was handled already (a store failure is logged and counts as not
        seen: running a handler twice beats losing an event)."""
        try:
            return bool(self.store.has_member(self.group, message_id))
        except Exception:
            log.warning("webhook deduplication: the state store failed to answer",
                        exc_info=True)
            return False

    def claim(self, message_id: str) -> str:
        """Claim the id before its handlers run: :attr:`CLAIMED`, :attr:`DONE` or
        :attr:`BUSY`. The claim itself is one set-if-absent in the store."""
        with self._lock:
            # Copies in this process are told apart without a store round trip.
            if message_id in self._active:
                return self.BUSY
            self._active.add(message_id)
        try:
            claimed = bool(self.store.add_member(self.claim_group, message_id,
                                                 ttl=self.claim_ttl))
        except TypeError:
            # A store of the user's own whose sets take no lifetime: a claim there could
            # never lapse, so copies are told apart in this process only.
            claimed = True
        except Exception:
            log.warning("webhook deduplication: could not claim message %s in the state "
                        "store (handled as new)", message_id, exc_info=True)
            claimed = True
        if claimed and not self.seen(message_id):
            return self.CLAIMED
        # Either another copy holds the claim, or an earlier one handled the id and its
        # claim has lapsed since.
        done = claimed or self.seen(message_id)
        with self._lock:
            self._active.discard(message_id)
        return self.DONE if done else self.BUSY

    def mark(self, message_id: str) -> bool:
        """Record the id as handled and end this process's claim; True when it was not
        recorded before. A store failure is logged (the handlers ran: failing now would only
        cause a repeat). The store's claim is left to lapse: the mark answers copies now."""
        store = self.store
        try:
            try:
                return bool(store.add_member(self.group, message_id, ttl=self.ttl))
            except TypeError:
                # A store of the user's own written before add_member took a TTL.
                return bool(store.add_member(self.group, message_id))
        except Exception:
            log.warning("webhook deduplication: could not record message %s", message_id,
                        exc_info=True)
            return False
        finally:
            with self._lock:
                self._active.discard(message_id)

    def release(self, message_id: str) -> None:
        """Give up a claim whose handlers failed, so that the sender's retry runs them again
        (a store without ``remove_member`` lets the claim lapse after ``claim_ttl``)."""
        with self._lock:
            self._active.discard(message_id)
        remove = getattr(self.store, "remove_member", None)
        if remove is None:
            return
        try:
            remove(self.claim_group, message_id)
        except Exception:
            log.warning("webhook deduplication: could not release the claim on message %s "
                        "(it lapses in %g s)", message_id, self.claim_ttl, exc_info=True)


# ----- dispatching ---------------------------------------------------------------------------


class WebhookResponse(NamedTuple):
    """What to answer: an HTTP status and a short text body."""

    status: int
    text: str


H = TypeVar("H", bound=Callable[..., object])
_KINDS = (*EVENT_KINDS, CUSTOM_KIND)


def _check_kinds(kinds: Iterable[str]) -> frozenset[str] | None:
    chosen = frozenset(kinds)
    unknown = sorted(k for k in chosen if k not in _KINDS)
    if unknown or any(not isinstance(k, str) for k in chosen):
        raise ValueError(f"unknown event kind(s) {unknown}: choose from {', '.join(_KINDS)}")
    return chosen or None


class _Handler(NamedTuple):
    kinds: frozenset[str] | None
    func: Callable[..., object]
    with_envelope: bool


class WebhookDispatcher:
    """The webhook endpoint without a web framework: ``handle(body, headers)`` verifies,
    parses, deduplicates and calls the handlers, and returns the answer the official handler
    gives (500 without a secret, 400 malformed, 401 bad signature or expired, 200 otherwise,
    also for an event type this version does not know; 500 when a handler raises, so that
    the sender retries).

    ``secret``, ``store`` and ``client`` may be callables, resolved on each request, so a
    framework can make them lazily. Without a store, ids are remembered in this process.
    ``handlers_from`` shares another dispatcher's handlers (one registry, several apps)."""

    def __init__(
        self,
        secret: str | Sequence[str] | Callable[[], str | Sequence[str] | None] | None = None,
        *,
        store: StateStore | Callable[[], StateStore] | None = None,
        client: Client | Callable[[], Client | None] | None = None,
        max_body: int = MAX_BODY_BYTES,
        handlers_from: WebhookDispatcher | None = None,
    ) -> None:
        self._secret = secret
        self._client = client
        if store is None:
            from ._state.memory import MemoryStore

            store = MemoryStore()
        self.dedupe = Deduplicator(store)
        self.max_body = max_body
        # Dispatchers made for several apps share one registry of handlers.
        self._handlers: list[_Handler] = (
            [] if handlers_from is None else handlers_from._handlers)

    @overload
    def on_webhook(self, func: H, /) -> H: ...

    @overload
    def on_webhook(self, *kinds: str, with_envelope: bool = False) -> Callable[[H], H]: ...

    def on_webhook(self, *kinds: Any, with_envelope: bool = False) -> Any:
        """Decorator: call the handler with each webhook event (``@on_webhook``), or only
        with events of ``kinds`` (``@on_webhook("message", "reaction")``; ``"custom"`` for
        :class:`CustomContent`). ``with_envelope=True`` calls ``handler(event, envelope)``
        with the :class:`WebhookEnvelope` (raw JSON, unknown fields)."""
        if len(kinds) == 1 and callable(kinds[0]):
            self._handlers.append(_Handler(None, kinds[0], with_envelope))
            return kinds[0]
        chosen = _check_kinds(kinds)

        def register(func: H) -> H:
            self._handlers.append(_Handler(chosen, func, with_envelope))
            return func

        return register

    @property
    def handlers(self) -> list[Callable[..., object]]:
        """The registered handlers, in order."""
        return [h.func for h in self._handlers]

    def _resolve_secret(self) -> str | Sequence[str] | None:
        secret = self._secret
        return secret() if callable(secret) else secret

    def _resolve_client(self) -> Client | None:
        from ._client import Client

        client = self._client
        if client is None or isinstance(client, Client):
            return client
        return client()

    def handle(self, body: bytes, headers: Headers, *,
               now: float | None = None) -> WebhookResponse:
        """Process one request; never raises for anything a request can contain."""
        if len(body) > self.max_body:
            return WebhookResponse(413, "body-too-large")
        secret = self._resolve_secret()
        if not secret:
            log.error("received a Spectrum webhook but no secret is configured "
                      "(SPECTRUM_WEBHOOK_SECRET)")
            return WebhookResponse(500, "webhook secret not configured")
        try:
            verify(body, headers, secret, now=now)
            envelope = parse_envelope(body, client=self._resolve_client())
        except WebhookError as exc:
            if exc.status >= 500:
                log.error("webhook refused: %s", exc.message)
            else:
                log.warning("webhook refused (%d %s): %s", exc.status, exc.reason, exc.message)
            return WebhookResponse(exc.status, exc.reason)
        if not envelope.events:
            return WebhookResponse(200, "ok")
        return self.dispatch(envelope)

    def dispatch(self, envelope: WebhookEnvelope) -> WebhookResponse:
        """Deduplicate and run the handlers for a verified, parsed delivery: the id is
        claimed first (one atomic store operation), then the answer decided."""
        key = envelope.id
        if key:
            claim = self.dedupe.claim(key)
            if claim == Deduplicator.DONE:
                log.debug("webhook %s already handled", key)
                return WebhookResponse(200, "ok (duplicate)")
            if claim == Deduplicator.BUSY:
                # Another copy is being handled right now: have the sender come back later,
                # when it is either marked (then acknowledged) or failed (then run again).
                return WebhookResponse(409, "in progress")
        handled = False
        try:
            for event in envelope.events:
                for handler in list(self._handlers):
                    if handler.kinds is not None and event.kind not in handler.kinds:
                        continue
                    try:
                        if handler.with_envelope:
                            handler.func(event, envelope)
                        else:
                            handler.func(event)
                    except Exception:
                        log.exception("webhook handler %s failed on message %s",
                                      getattr(handler.func, "__qualname__", handler.func), key)
                        return WebhookResponse(500, "handler failed")
            handled = True
            return WebhookResponse(200, "ok")
        finally:
            if key and handled:
                self.dedupe.mark(key)
            elif key:
                self.dedupe.release(key)
