"""Change events of the streams (message, group, poll and chat families) -> public events.

Only receiving loads this module (with the event classes and the groups, polls and chats
generated modules); messages inside events are built by ``convert.py``.
"""

from __future__ import annotations

from typing import Any, Callable

from .._events import (
    ChatChanged,
    Event,
    GroupChanged,
    MessageEdited,
    MessageRead,
    MessageUnsent,
    PollChanged,
    StickerPlaced,
)
from .._feature_values import PollOption
from .._models import Reaction, Space
from .._proto import chats_pb2, groups_pb2, messages_pb2, polls_pb2
from .._values import Receipt, User
from .convert import (
    _poll_options,
    _sender,
    _sticker_parts,
    _user,
    _when,
    emoji_from_wire,
    message_decoded_on_read,
    user_from_info,
)

__all__ = ["decode_event", "decoder_for"]

Decoder = Callable[[Any, Space, int, Receipt], "Event | None"]

def decode_event(payload: Any, space: Space, sequence: int, receipt: Receipt) -> Event | None:
    """The typed event of a wire change event (message, group, poll or chat family); None for a
    change this version does not know."""
    decode = _BY_TYPE.get(type(payload))
    return None if decode is None else decode(payload, space, sequence, receipt)


def _actor(event: Any) -> User | None:
    return _user(event.actor) if event.HasField("actor") else None


def _reader(event: messages_pb2.MessageChangeEvent, space: Space) -> User | None:
    """Who read our message. The live service names our own line as the ``actor`` of a DM's
    receipt, so in a DM the reader is the other person, from the chat guid; in a group the
    actor is the only attribution, trusted when it is not our line."""
    if space.type == "dm":
        peer = space.id.split(";", 2)[-1]
        service = event.actor.service if event.HasField("actor") else 0
        return _sender(peer, service, None) if peer else None
    actor = _actor(event)
    return actor if actor is not None and actor.address != space.phone else None


def _message_change(
    event: messages_pb2.MessageChangeEvent, space: Space, sequence: int, receipt: Receipt
) -> Event | None:
    change = event.WhichOneof("change")
    if change == "message_received":  # the common case first, without the rest's set-up
        return message_decoded_on_read(event.message_received.message, space, sequence=sequence,
                                receipt=receipt, actor_of=event)
    mine = event.is_from_me
    common: dict[str, Any] = {"space": space, "is_from_me": mine, "sequence": sequence,
                              "receipt": receipt}
    if change in ("reaction_added", "reaction_removed"):
        body = event.reaction_added if change == "reaction_added" else event.reaction_removed
        return Reaction(
            message_guid=body.message_guid, emoji=emoji_from_wire(body.reaction),
            added=change == "reaction_added", sender=_actor(event),
            part_index=body.target_part_index if body.HasField("target_part_index") else None,
            occurred_at=_when(event, "occurred_at"), **common)
    if change == "message_edited":
        edited = event.message_edited
        text = edited.content.text if edited.content.HasField("text") else None
        return MessageEdited(
            message_guid=edited.message_guid, text=text, sender=_actor(event),
            edited_at=_when(edited, "edited_at") or _when(event, "occurred_at"), **common)
    if change == "message_unsent":
        unsent = event.message_unsent
        return MessageUnsent(
            message_guid=unsent.message_guid, sender=_actor(event),
            unsent_at=_when(unsent, "retracted_at") or _when(event, "occurred_at"), **common)
    if change == "message_read":
        read = event.message_read
        # On this change ``is_from_me`` describes the message read, not who read it: a
        # receipt for our message is someone else's action (docs/behaviour.md, "Receiving").
        common["is_from_me"] = not mine
        return MessageRead(
            message_guid=read.message_guid, reader=_reader(event, space) if mine else None,
            read_at=_when(read, "read_at") or _when(event, "occurred_at"), **common)
    if change == "sticker_placed":
        placed = event.sticker_placed
        return StickerPlaced(
            message_guid=placed.message_guid, sender=_actor(event),
            occurred_at=_when(event, "occurred_at"), **_sticker_parts(placed, space), **common)
    return None


def _chat_change(
    event: chats_pb2.ChatChangeEvent, space: Space, sequence: int, receipt: Receipt
) -> ChatChanged | None:
    which = event.WhichOneof("change")
    if which is None:
        return None
    return ChatChanged(space=space, change=which, actor=_actor(event),
                       is_from_me=event.is_from_me, occurred_at=_when(event, "occurred_at"),
                       sequence=sequence, receipt=receipt)


_GROUP_CHANGES = {
    "display_name_changed": "renamed",
    "participant_added": "participant_added",
    "participant_removed": "participant_removed",
    "participant_left": "participant_left",
    "icon_changed": "icon_changed",
    "icon_removed": "icon_removed",
}


def _group_change(
    event: groups_pb2.GroupChangeEvent, space: Space, sequence: int, receipt: Receipt
) -> GroupChanged | None:
    which = event.WhichOneof("change")
    change = _GROUP_CHANGES.get(which or "")
    if change is None:
        return None
    name = event.display_name_changed.display_name if which == "display_name_changed" else None
    participant = None
    if which in ("participant_added", "participant_removed", "participant_left"):
        participant = user_from_info(getattr(event, which).participant)
    return GroupChanged(
        space=space, change=change, display_name=name, participant=participant,
        actor=_actor(event), is_from_me=event.is_from_me,
        occurred_at=_when(event, "occurred_at"), sequence=sequence, receipt=receipt)


def _poll_change(
    event: polls_pb2.PollChangeEvent, space: Space, sequence: int, receipt: Receipt
) -> PollChanged | None:
    which = event.WhichOneof("change")
    title: str | None = None
    options: tuple[PollOption, ...] = ()
    option_id: str | None = None
    if which in ("created", "option_added"):
        body = getattr(event, which)
        title = body.title
        options = _poll_options(body.options)
    elif which in ("voted", "unvoted"):
        option_id = getattr(event, which).option_identifier
    else:
        return None
    return PollChanged(
        space=space, poll_guid=event.poll_message_guid, change=which, title=title,
        options=options, option_id=option_id, actor=_actor(event),
        is_from_me=event.is_from_me, occurred_at=_when(event, "occurred_at"),
        sequence=sequence, receipt=receipt)


#: The families: the oneof field that carries a family's change events in live and catch-up
#: frames, the wire type of those events, and their decoder.
_FAMILIES: tuple[tuple[str, type, Decoder], ...] = (
    ("message_changed", messages_pb2.MessageChangeEvent, _message_change),
    ("group_changed", groups_pb2.GroupChangeEvent, _group_change),
    ("poll_changed", polls_pb2.PollChangeEvent, _poll_change),
    ("chat_changed", chats_pb2.ChatChangeEvent, _chat_change),
)
_BY_FIELD = {field: decode for field, _, decode in _FAMILIES}
_BY_TYPE = {kind: decode for _, kind, decode in _FAMILIES}


def decoder_for(field: str) -> Decoder:
    """The decoder of one family's change events, by the oneof field that carries them
    (``message_changed``...): a reader knows its family, so it skips :func:`decode_event`'s
    lookup by type for every event."""
    return _BY_FIELD.get(field, decode_event)
