"""Events of a line as Spectrum's native webhook bodies.

The body is Spectrum's own message model in JSON (``{"event": "messages", "space", "message":
{"id", "platform", "direction", "timestamp", "sender", "space", "content": {"type", ...}}}``),
the same shapes the official TypeScript SDK yields on its message stream. So only what that
model surfaces becomes a webhook, from the other side of the conversation:

- a received message: ``text``, ``attachment`` or ``voice`` (audio messages), ``group`` when
  it has several parts, wrapped in ``reply`` when it answers a message;
- a tapback: ``reaction {emoji, target}``; a read receipt: ``read {target}``;
- group changes: ``rename``, ``addMember``, ``removeMember``, ``leaveSpace``, ``avatar``;
- polls: ``poll`` (created by someone else) and ``poll_option`` (a vote or its withdrawal).

Edits, unsends, removed tapbacks, new poll options and stickers have no form in that model
(the SDK consumes them without producing a message), and the line's own actions are not sent
back to it: none of them becomes a webhook.

Ids follow the SDK's conventions, so that a receiver deduplicating by id sees a retried
delivery as the same event: the message guid for a message,
``<message guid>:reaction:<sequence>``, ``<message guid>:read:<sequence>``,
``<chat guid>:group:<sequence>`` and ``<poll guid>:poll:<sequence>`` for the others.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from spectrum_sync._proto import common_pb2, groups_pb2, messages_pb2, polls_pb2
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.clock import iso_timestamp
from spectrum_sync.emulator.eventlog import Entry
from spectrum_sync.emulator.guids import GROUP
from spectrum_sync.emulator.reactions import reaction_emoji
from spectrum_sync.emulator.state import LineState

PLATFORM = "iMessage"
MESSAGES_EVENT = "messages"
_PREVIEW_LENGTH = 200
_SERVICES = {
    common_pb2.CHAT_SERVICE_TYPE_IMESSAGE: "iMessage",
    common_pb2.CHAT_SERVICE_TYPE_SMS: "SMS",
    common_pb2.CHAT_SERVICE_TYPE_RCS: "RCS",
}

Json = dict[str, Any]


class WebhookEvent(NamedTuple):
    """One webhook to deliver: its id, its content type (for reports) and its body."""

    event_id: str
    content_type: str
    envelope: Json


def webhook_event(line: LineState, entry: Entry) -> WebhookEvent | None:
    """The webhook for a logged event, or ``None`` when the event has none (see the module
    docstring). Called under the emulator's lock: it reads the line's messages and polls."""
    event = entry.event
    # A receipt's is_from_me describes the message read (ours), not who read it.
    receipt = (isinstance(event, messages_pb2.MessageChangeEvent)
               and event.WhichOneof("change") == "message_read")
    if event is None or (getattr(event, "is_from_me", True) and not receipt):
        return None
    if entry.family == eventlog.MESSAGE and isinstance(event, messages_pb2.MessageChangeEvent):
        built = _message_change(line, entry, event)
    elif entry.family == eventlog.GROUP and isinstance(event, groups_pb2.GroupChangeEvent):
        built = _group_change(line, entry, event)
    elif entry.family == eventlog.POLL and isinstance(event, polls_pb2.PollChangeEvent):
        built = _poll_change(line, entry, event)
    else:
        return None
    if built is None:
        return None
    event_id, sender, content = built
    space = _space(line, event.chat_guid)
    message: Json = {"id": event_id, "platform": PLATFORM, "direction": "inbound",
                     "timestamp": iso_timestamp(event.occurred_at)}
    if sender is not None:
        message["sender"] = sender
    message["space"] = space
    message["content"] = content
    envelope = {"event": MESSAGES_EVENT, "space": dict(space), "message": message}
    return WebhookEvent(event_id, str(content["type"]), envelope)


# ----- messages ------------------------------------------------------------------------------


def _message_change(line: LineState, entry: Entry, event: messages_pb2.MessageChangeEvent,
                    ) -> tuple[str, Json | None, Json] | None:
    change = event.WhichOneof("change")
    actor = _sender(event.actor) if event.HasField("actor") else None
    if change == "message_received":
        message = event.message_received.message
        if message.is_from_me:
            return None
        content = _message_content(line, message)
        if content is None:
            return None
        sender = _sender(message.sender) if message.HasField("sender") else actor
        return message.guid, sender, content
    if change == "reaction_added":
        added = event.reaction_added
        emoji = reaction_emoji(added.reaction)
        if emoji is None or actor is None:  # a tapback is nothing without who gave it
            return None
        event_id = f"{added.message_guid}:reaction:{entry.sequence}"
        if added.HasField("target_part_index"):
            event_id += f":{added.target_part_index}"
        return event_id, actor, {"type": "reaction", "emoji": emoji,
                                 "target": _target(line, added.message_guid)}
    if change == "message_read":
        read = event.message_read
        key = line.chat_key(event.chat_guid)
        if not event.is_from_me:
            return None  # our own read of their message: not an inbound event
        if key is not None and key.kind != GROUP:
            # The live service names our line as a DM receipt's actor: the reader is the peer.
            reader: Json | None = {"id": key.identifier, "platform": PLATFORM,
                                   "address": key.identifier}
        else:
            reader = actor if actor is not None and actor.get("id") != line.number else None
        return (f"{read.message_guid}:read:{entry.sequence}", reader,
                {"type": "read", "target": _target(line, read.message_guid)})
    return None  # edits, unsends, removed tapbacks, stickers: not in the webhook model


def _message_content(line: LineState, message: messages_pb2.Message) -> Json | None:
    parts: list[Json] = []
    if message.content.text:
        parts.append({"type": "text", "text": message.content.text})
    for info in message.content.attachments:
        kind = "voice" if message.is_audio_message else "attachment"
        parts.append({"type": kind, "id": info.guid, "name": info.file_name,
                      "mimeType": info.mime_type or "application/octet-stream",
                      "size": info.total_bytes})
    if not parts:
        return None
    if len(parts) == 1:
        content = parts[0]
    else:
        when = iso_timestamp(message.date_created)
        sender = _sender(message.sender) if message.HasField("sender") else None
        items = []
        for index, part in enumerate(parts):
            item: Json = {"id": f"{message.guid}:{index}", "content": part, "timestamp": when}
            if sender is not None:
                item["sender"] = sender
            items.append(item)
        content = {"type": "group", "items": items}
    if message.reply_target_guid:
        return {"type": "reply", "content": content,
                "target": _target(line, message.reply_target_guid)}
    return content


def _target(line: LineState, message_guid: str) -> Json:
    """A slim reference to a message: ``{id, contentPreview, sender, timestamp}``."""
    target: Json = {"id": message_guid}
    message = line.messages.get(message_guid)
    if message is None:
        return target
    text = message.content.text
    target["contentPreview"] = text if len(text) <= _PREVIEW_LENGTH else (
        text[:_PREVIEW_LENGTH - 1] + "…")
    if message.HasField("sender"):
        target["sender"] = _sender(message.sender)
    elif message.is_from_me and line.number:
        target["sender"] = {"id": line.number, "platform": PLATFORM}
    target["timestamp"] = iso_timestamp(message.date_created)
    return target


# ----- groups --------------------------------------------------------------------------------


def _group_change(line: LineState, entry: Entry, event: groups_pb2.GroupChangeEvent,
                  ) -> tuple[str, Json | None, Json] | None:
    change = event.WhichOneof("change")
    actor = _sender(event.actor) if event.HasField("actor") else None
    event_id = f"{event.chat_guid}:group:{entry.sequence}"
    if change == "display_name_changed":
        name = event.display_name_changed.display_name
        return (event_id, actor, {"type": "rename", "displayName": name}) if name else None
    if change == "participant_added":
        who = event.participant_added.participant.address
        return (event_id, actor, {"type": "addMember", "members": [who]}) if who else None
    if change == "participant_removed":
        who = event.participant_removed.participant.address
        return (event_id, actor, {"type": "removeMember", "members": [who]}) if who else None
    if change == "participant_left":
        # Nobody leaves on someone else's behalf: the sender is the one who left.
        left = event.participant_left.participant
        sender = _sender(left) if left.address else actor
        return event_id, sender, {"type": "leaveSpace"}
    if change == "icon_changed":
        key = line.chat_key(event.chat_guid)
        chat = line.chats.get(key) if key is not None else None
        mime = (chat.icon_mime if chat is not None else "") or "application/octet-stream"
        return event_id, actor, {"type": "avatar", "action": {"kind": "set", "mimeType": mime}}
    if change == "icon_removed":
        return event_id, actor, {"type": "avatar", "action": {"kind": "clear"}}
    return None


# ----- polls ---------------------------------------------------------------------------------


def _poll_change(line: LineState, entry: Entry, event: polls_pb2.PollChangeEvent,
                 ) -> tuple[str, Json | None, Json] | None:
    change = event.WhichOneof("change")
    actor = _sender(event.actor) if event.HasField("actor") else None
    event_id = f"{event.poll_message_guid}:poll:{entry.sequence}"
    poll = line.polls.get(event.poll_message_guid)
    if change == "created":
        created = event.created
        return event_id, actor, {"type": "poll", "title": created.title,
                                 "options": [{"title": o.text} for o in created.options]}
    if change in ("voted", "unvoted") and poll is not None and actor is not None:
        option_id = (event.voted if change == "voted" else event.unvoted).option_identifier
        chosen = next((o.text for o in poll.options if o.option_identifier == option_id), None)
        if chosen is None:
            return None
        summary = {"type": "poll", "title": poll.title,
                   "options": [{"title": o.text} for o in poll.options]}
        return event_id, actor, {"type": "poll_option", "title": chosen,
                                 "option": {"title": chosen}, "poll": summary,
                                 "selected": change == "voted"}
    return None


# ----- shared shapes -------------------------------------------------------------------------


def _space(line: LineState, chat_guid: str) -> Json:
    key = line.chat_key(chat_guid)
    space: Json = {"id": chat_guid, "platform": PLATFORM,
                   "type": "group" if key is not None and key.kind == GROUP else "dm"}
    if line.number:
        space["phone"] = line.number
    return space


def _sender(info: common_pb2.SingleServiceAddressInfo) -> Json:
    sender: Json = {"id": info.address, "platform": PLATFORM, "address": info.address,
                    "service": _SERVICES.get(info.service, "unknown")}
    if info.HasField("country") and info.country:
        sender["country"] = info.country
    return sender
