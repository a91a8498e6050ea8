"""Reading a delivery: the body as read-only JSON, its envelope checked, its events made."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._backend.webhook import DETACHED, ClientOps
from ._convert import (
    Json,
    events_from_message,
    json_object,
    json_text,
    parse_timestamp,
    space_from_json,
    user_from_json,
)
from ._errors import WebhookError
from ._signatures import body_bytes
from ._types import WebhookEnvelope, WebhookEvent

if TYPE_CHECKING:
    from .._client import Client

_MESSAGES_EVENT = "messages"
_PLATFORM = "imessage"


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


def _malformed(detail: str) -> WebhookError:
    return WebhookError(400, "malformed-payload", f"malformed webhook payload: {detail}")


def _load(body: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Json:
    if isinstance(body, Mapping):
        return _freeze(thaw(body))  # type: ignore[no-any-return]
    try:
        data = json.loads(body_bytes(body))
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
    outer = json_object(data.get("space"))
    platform = json_text(message.get("platform")) or json_text(space_json.get("platform"))
    direction = json_text(message.get("direction"))
    when = parse_timestamp(message.get("timestamp"))
    envelope = dict(event=event, id=message["id"], platform=platform, direction=direction,
                    timestamp=when, content_type=str(content["type"]), raw=data)
    # One client serves iMessage: another platform's deliveries (the same webhook URL can
    # carry several) are acknowledged without events. The official SDK looks the platform up
    # by its exact lower-case name; the cloud spells it "iMessage": compare without case.
    if platform is not None and platform.lower() != _PLATFORM:
        return WebhookEnvelope(events=(), **envelope)
    phone = json_text(space_json.get("phone")) or json_text(outer.get("phone")) or ""
    space = space_from_json(space_json, outer,
                            ClientOps(client, phone) if client is not None else DETACHED)
    events = events_from_message(content, message, space, user_from_json(message.get("sender")),
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
