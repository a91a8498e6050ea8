"""Typed inbound events and their decoding from wire change events.

``client.messages()`` yields :class:`~spectrum_sync.models.Message` objects; ``client.events()``
yields every kind below. Each event has a ``kind`` (a short string also accepted by
``@client.on_event(kind)``), the ``space`` it happened in, ``is_from_me`` and a ``sequence``
(the line's event sequence, for logging).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Union

import attrs
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import groups_pb2, messages_pb2, polls_pb2
from spectrum_sync.models import (
    Message,
    Reaction,
    Space,
    User,
    message_from_event,
    reaction_from_event,
    user_from_info,
)

__all__ = [
    "EVENT_KINDS",
    "Event",
    "GroupChanged",
    "MessageEdited",
    "MessageRead",
    "MessageUnsent",
    "PollChanged",
    "PollOption",
    "StickerPlaced",
    "decode",
    "kind_of",
]


def _when(message: Any, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    stamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=timezone.utc)  # type: ignore[no-any-return]


def _actor(event: Any) -> User | None:
    return user_from_info(event.actor) if event.HasField("actor") else None


@attrs.frozen
class MessageEdited:
    """A message's text was edited (``text`` is the new text)."""

    message_guid: str
    space: Space
    text: str | None
    sender: User | None = None
    is_from_me: bool = False
    edited_at: datetime | None = None
    sequence: int = attrs.field(default=0, eq=False)
    kind = "edit"


@attrs.frozen
class MessageUnsent:
    """A message was retracted."""

    message_guid: str
    space: Space
    sender: User | None = None
    is_from_me: bool = False
    unsent_at: datetime | None = None
    sequence: int = attrs.field(default=0, eq=False)
    kind = "unsend"


@attrs.frozen
class MessageRead:
    """A message we sent was read (a read receipt)."""

    message_guid: str
    space: Space
    reader: User | None = None
    is_from_me: bool = False
    read_at: datetime | None = None
    sequence: int = attrs.field(default=0, eq=False)
    kind = "read"


@attrs.frozen
class StickerPlaced:
    """A sticker was placed on a message."""

    message_guid: str
    space: Space
    sender: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None
    sequence: int = attrs.field(default=0, eq=False)
    kind = "sticker"


@attrs.frozen
class GroupChanged:
    """A group chat changed. ``change`` is one of ``renamed``, ``participant_added``,
    ``participant_removed``, ``participant_left``, ``icon_changed``, ``icon_removed``."""

    space: Space
    change: str
    display_name: str | None = None
    participant: User | None = None
    actor: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None
    sequence: int = attrs.field(default=0, eq=False)
    kind = "group"


@attrs.frozen
class PollOption:
    id: str
    text: str
    creator: str | None = None


@attrs.frozen
class PollChanged:
    """A poll changed. ``change`` is one of ``created``, ``option_added``, ``voted``,
    ``unvoted``; ``title``/``options`` are set for the first two, ``option_id`` for votes."""

    space: Space
    poll_guid: str
    change: str
    title: str | None = None
    options: tuple[PollOption, ...] = ()
    option_id: str | None = None
    actor: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None
    sequence: int = attrs.field(default=0, eq=False)
    kind = "poll"


Event = Union[
    Message, Reaction, MessageEdited, MessageUnsent, MessageRead, StickerPlaced,
    GroupChanged, PollChanged,
]

#: Every event kind, as accepted by ``client.on_event(kind)`` and ``events(kinds=...)``.
EVENT_KINDS = ("message", "reaction", "edit", "unsend", "read", "sticker", "group", "poll")


def kind_of(event: Event) -> str:
    """The kind string of an event (``Message`` → "message", ``Reaction`` → "reaction")."""
    if isinstance(event, Message):
        return "message"
    if isinstance(event, Reaction):
        return "reaction"
    return event.kind


def chat_guid_of(payload: ProtoMessage) -> str:
    """The chat a wire change event happened in."""
    return payload.chat_guid  # type: ignore[attr-defined, no-any-return]


def decode(payload: ProtoMessage, space: Space, sequence: int = 0) -> Event | None:
    """The typed event of a wire change event; None for a change this version does not know."""
    if isinstance(payload, messages_pb2.MessageChangeEvent):
        return _message_change(payload, space, sequence)
    if isinstance(payload, groups_pb2.GroupChangeEvent):
        return _group_change(payload, space, sequence)
    if isinstance(payload, polls_pb2.PollChangeEvent):
        return _poll_change(payload, space, sequence)
    return None


def _message_change(
    event: messages_pb2.MessageChangeEvent, space: Space, sequence: int
) -> Event | None:
    change = event.WhichOneof("change")
    if change == "message_received":
        return message_from_event(event, space)
    if change in ("reaction_added", "reaction_removed"):
        return reaction_from_event(event, space)
    actor, mine = _actor(event), event.is_from_me
    if change == "message_edited":
        body = event.message_edited
        text = body.content.text if body.content.HasField("text") else None
        return MessageEdited(body.message_guid, space, text, actor, mine,
                             _when(body, "edited_at") or _when(event, "occurred_at"), sequence)
    if change == "message_unsent":
        unsent = event.message_unsent
        return MessageUnsent(unsent.message_guid, space, actor, mine,
                             _when(unsent, "retracted_at") or _when(event, "occurred_at"),
                             sequence)
    if change == "message_read":
        read = event.message_read
        return MessageRead(read.message_guid, space, actor, mine,
                           _when(read, "read_at") or _when(event, "occurred_at"), sequence)
    if change == "sticker_placed":
        return StickerPlaced(event.sticker_placed.message_guid, space, actor, mine,
                             _when(event, "occurred_at"), sequence)
    return None


_GROUP_CHANGES = {
    "display_name_changed": "renamed",
    "participant_added": "participant_added",
    "participant_removed": "participant_removed",
    "participant_left": "participant_left",
    "icon_changed": "icon_changed",
    "icon_removed": "icon_removed",
}


def _group_change(
    event: groups_pb2.GroupChangeEvent, space: Space, sequence: int
) -> GroupChanged | None:
    which = event.WhichOneof("change")
    change = _GROUP_CHANGES.get(which or "")
    if change is None:
        return None
    name = event.display_name_changed.display_name if which == "display_name_changed" else None
    participant = None
    if which in ("participant_added", "participant_removed", "participant_left"):
        participant = user_from_info(getattr(event, which).participant)
    return GroupChanged(space, change, name, participant, _actor(event), event.is_from_me,
                        _when(event, "occurred_at"), sequence)


def _poll_change(
    event: polls_pb2.PollChangeEvent, space: Space, sequence: int
) -> PollChanged | None:
    which = event.WhichOneof("change")
    title: str | None = None
    options: tuple[PollOption, ...] = ()
    option_id: str | None = None
    if which in ("created", "option_added"):
        body = getattr(event, which)
        title = body.title
        options = tuple(
            PollOption(o.option_identifier, o.text,
                       o.creator_handle if o.HasField("creator_handle") else None)
            for o in body.options
        )
    elif which in ("voted", "unvoted"):
        option_id = getattr(event, which).option_identifier
    else:
        return None
    return PollChanged(space, event.poll_message_guid, which, title, options, option_id,
                       _actor(event), event.is_from_me, _when(event, "occurred_at"), sequence)
