"""Webhook JSON -> public types: one small function per content type.

The third converter beside ``_wire/convert.py`` (protobuf) and ``_local/convert.py`` (chat.db
rows); it lives in the webhook package because :class:`CustomContent`, the type of a content
this version does not map, is the package's own. Reading never fails on a field it does not
know or cannot read: that field is left out, and the raw JSON stays in the envelope.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any, Callable, NamedTuple, Optional

import attrs

from .._events import GroupChanged, MessageRead
from .._models import Attachment, Message, Reaction, Space, SpaceOperations
from .._values import User
from ._types import CustomContent, WebhookEvent

Json = Mapping[str, Any]

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


def json_text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def json_object(value: object) -> Json:
    return value if isinstance(value, Mapping) else MappingProxyType({})


_SERVICES = {"imessage": "iMessage", "sms": "SMS", "rcs": "RCS"}


def user_from_json(value: object) -> User | None:
    """A sender ``{id, platform, ...}`` as a :class:`User` (``address`` when given, else
    ``id``; ``service`` and ``country`` when the cloud names them)."""
    if not isinstance(value, Mapping):
        return None
    address = json_text(value.get("address")) or json_text(value.get("id"))
    if not address:
        return None
    service = _SERVICES.get((json_text(value.get("service")) or "").lower(), "unknown")
    return User(address=address, country=json_text(value.get("country")) or None, service=service)


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


# The content types that make a Message, one function each: each adds its part to ``out``
# and returns it, or returns None when the content cannot be part of a message.
_Flattener = Callable[[Json, _Content, int], Optional[_Content]]


def _flat_text(content: Json, out: _Content, depth: int) -> _Content | None:
    out.texts.append(json_text(content.get("text")) or "")
    return out


def _flat_richlink(content: Json, out: _Content, depth: int) -> _Content | None:
    out.texts.append(json_text(content.get("url")) or "")  # the URL is the text
    return out


def _flat_contact(content: Json, out: _Content, depth: int) -> _Content | None:
    return out  # no text: the card stays in the envelope's raw content


def _flat_file(content: Json, out: _Content, depth: int) -> _Content | None:
    """``attachment`` and ``voice``: a file of the message."""
    size = content.get("size")
    voice = content.get("type") == "voice"
    out.attachments.append(Attachment(
        guid=json_text(content.get("id")) or "",
        file_name=json_text(content.get("name")) or ("voice" if voice else "attachment"),
        mime_type=json_text(content.get("mimeType")) or "application/octet-stream",
        size=int(size) if isinstance(size, (int, float)) and not isinstance(size, bool)
        and math.isfinite(size) else 0))
    return out


def _flat_reply(content: Json, out: _Content, depth: int) -> _Content | None:
    """A reply: its inner content, answering ``target``."""
    target = json_text(json_object(content.get("target")).get("id"))
    inner = json_object(content.get("content"))
    result = _message_content(inner, out, depth + 1) if inner else out
    if result is None:
        return None
    return result._replace(reply_to=result.reply_to or target or None)


def _flat_group(content: Json, out: _Content, depth: int) -> _Content | None:
    """Several parts sent as one message: every item's content."""
    items = content.get("items")
    for item in items if isinstance(items, Sequence) else ():
        inner = json_object(json_object(item).get("content"))
        if not inner:
            continue
        found = _message_content(inner, out, depth + 1)
        if found is None:
            return None
        out = found  # a reply item returns a new value carrying its target
    return out


_FLATTENERS: dict[str, _Flattener] = {
    "text": _flat_text,
    "richlink": _flat_richlink,
    "contact": _flat_contact,
    "attachment": _flat_file,
    "voice": _flat_file,
    "reply": _flat_reply,
    "group": _flat_group,
}
#: The content types that make a Message (a ``reply`` or ``group`` made of them too).
_MESSAGE_TYPES = tuple(_FLATTENERS)


def _message_content(content: Json, found: _Content | None = None, depth: int = 0,
                     ) -> _Content | None:
    """Texts, files and reply target of message-like content; None for another type."""
    out = found or _Content([], [], None)
    if depth > 16:  # nested deeper than any real message: the rest is left out
        return out
    flatten = _FLATTENERS.get(json_text(content.get("type")) or "")
    return flatten(content, out, depth) if flatten is not None else None


def space_from_json(space: Json, outer: Json, ops: SpaceOperations) -> Space:
    """The ``message.space`` object (falling back on the top-level ``space`` for its phone,
    type and name) as a :class:`Space` acting through ``ops``."""
    space_id = str(space["id"])
    return Space(id=space_id,
                 type=_space_type(space_id, space.get("type") or outer.get("type")),
                 phone=json_text(space.get("phone")) or json_text(outer.get("phone")) or "",
                 display_name=json_text(space.get("displayName"))
                 or json_text(outer.get("displayName")),
                 ops=ops)


class _Origin(NamedTuple):
    """What every event of one delivery shares."""

    message_id: str
    space: Space
    sender: User | None
    is_from_me: bool
    when: datetime | None


def _target(content: Json) -> str | None:
    return json_text(json_object(content.get("target")).get("id"))


# Each converter returns the events of one content type, or None when the content cannot be
# mapped (it then becomes a CustomContent).
_Converter = Callable[[Json, _Origin], Optional[list[WebhookEvent]]]


def _message(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
    flat = _message_content(content)
    if flat is None:
        return None
    return [Message(guid=origin.message_id, space=origin.space,
                    text="\n".join(flat.texts) if flat.texts else None,
                    sender=None if origin.is_from_me else origin.sender,
                    is_from_me=origin.is_from_me, created_at=origin.when,
                    reply_to_guid=flat.reply_to,
                    # Bound to the space, so that attachment.download() works (through
                    # the client given to parse()).
                    attachments=tuple(attrs.evolve(a, space=origin.space)
                                      for a in flat.attachments))]


def _reaction(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
    target = _target(content)
    if not target:
        return None
    return [Reaction(message_guid=target, emoji=json_text(content.get("emoji")) or "",
                     space=origin.space, added=True, sender=origin.sender,
                     is_from_me=origin.is_from_me, occurred_at=origin.when)]


def _read(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
    target = _target(content)
    if not target:
        return None
    return [MessageRead(message_guid=target, space=origin.space, reader=origin.sender,
                        is_from_me=origin.is_from_me, read_at=origin.when)]


def _member_change(change: str) -> _Converter:
    """``addMember`` / ``removeMember``: one event per member named."""

    def convert(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
        members = content.get("members")
        listed = members if isinstance(members, Sequence) and not isinstance(members, str) \
            else ()
        users = [user_from_json({"id": m}) for m in listed if isinstance(m, str) and m]
        return [GroupChanged(space=origin.space, change=change, participant=user,
                             actor=origin.sender, is_from_me=origin.is_from_me,
                             occurred_at=origin.when)
                for user in users]

    return convert


def _leave(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
    return [GroupChanged(space=origin.space, change="participant_left",
                         participant=origin.sender, actor=origin.sender,
                         is_from_me=origin.is_from_me, occurred_at=origin.when)]


def _rename(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
    return [GroupChanged(space=origin.space, change="renamed",
                         display_name=json_text(content.get("displayName")) or "",
                         actor=origin.sender, is_from_me=origin.is_from_me,
                         occurred_at=origin.when)]


def _avatar(content: Json, origin: _Origin) -> list[WebhookEvent] | None:
    action = json_text(json_object(content.get("action")).get("kind"))
    if action not in ("set", "clear"):
        return None
    return [GroupChanged(space=origin.space,
                         change="icon_changed" if action == "set" else "icon_removed",
                         actor=origin.sender, is_from_me=origin.is_from_me,
                         occurred_at=origin.when)]


_CONVERTERS: dict[str, _Converter] = {
    **dict.fromkeys(_MESSAGE_TYPES, _message),
    "reaction": _reaction,
    "read": _read,
    "addMember": _member_change("participant_added"),
    "removeMember": _member_change("participant_removed"),
    "leaveSpace": _leave,
    "rename": _rename,
    "avatar": _avatar,
}


def events_from_message(content: Json, message: Json, space: Space, sender: User | None,
                        is_from_me: bool, when: datetime | None) -> list[WebhookEvent]:
    """The events of one message's ``content``; a :class:`CustomContent` for a content type
    this version does not map (or cannot read)."""
    kind = json_text(content.get("type")) or ""
    origin = _Origin(json_text(message.get("id")) or "", space, sender, is_from_me, when)
    convert = _CONVERTERS.get(kind)
    events = convert(content, origin) if convert is not None else None
    if events is not None:
        return events
    return [CustomContent(id=origin.message_id, content_type=kind, space=space, sender=sender,
                          is_from_me=is_from_me, occurred_at=when, raw=content)]
