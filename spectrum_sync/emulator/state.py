"""In-memory state of one emulated line (one iMessage account): chats, messages, events.

Nothing here locks: the emulator holds its single lock around every use, so that a call's
reads, writes and event publication are atomic. Stored protobufs are never handed out;
callers copy them (:func:`copy`) before returning them from a call.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf.message import Message as ProtoMessage
from google.protobuf.timestamp_pb2 import Timestamp

from spectrum_sync._proto import (
    attachments_pb2,
    chats_pb2,
    common_pb2,
    groups_pb2,
    locations_pb2,
    messages_pb2,
    polls_pb2,
)
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.addresses import AddressDirectory
from spectrum_sync.emulator.errors import not_found
from spectrum_sync.emulator.guids import DM, GROUP, ChatKey, dm_guid, new_group_identifier
from spectrum_sync.emulator.quotas import QuotaCounter

P = TypeVar("P", bound=ProtoMessage)

IDEMPOTENCY_CACHE_SIZE = 10_000

# Arrival order of messages across all lines (each line keeps its own order list).
_ARRIVALS = itertools.count()


def copy(message: P) -> P:
    """A deep copy of a protobuf message."""
    out = type(message)()
    out.CopyFrom(message)
    return out


@dataclass
class ChatRecord:
    """One chat on a line. ``participants`` excludes the line itself."""

    guid: str
    key: ChatKey
    participants: list[str]
    display_name: str | None = None
    icon: bytes | None = None
    icon_mime: str = ""
    background: bytes | None = None
    archived: bool = False
    has_left: bool = False
    unread: int = 0
    message_guids: list[str] = field(default_factory=list)
    #: The ``ChatServiceType`` the chat was created on (iMessage unless asked otherwise).
    service: int = common_pb2.CHAT_SERVICE_TYPE_IMESSAGE

    @property
    def is_group(self) -> bool:
        """Whether this is a group chat (kind ``+``)."""
        return self.key.kind == GROUP

    @property
    def recipient(self) -> str:
        """Who a send in this chat goes to, for the new-conversation quota."""
        return f"group:{self.key.identifier}" if self.is_group else self.key.identifier


@dataclass
class AttachmentRecord:
    """An uploaded or received file."""

    info: attachments_pb2.AttachmentInfo
    data: bytes
    companion: bytes | None = None
    companion_info: attachments_pb2.CompanionInfo | None = None


@dataclass
class PollRecord:
    """A poll; ``votes`` maps voter address (``""`` = the line itself) -> option id."""

    guid: str
    chat_guid: str
    title: str
    options: list[polls_pb2.PollOption]
    votes: dict[str, str] = field(default_factory=dict)


class LineState:
    """One line: a dedicated instance with its number, or the shared pool."""

    def __init__(self, instance_id: str, number: str | None, log_size: int,
                 lock: threading.RLock) -> None:
        self.instance_id = instance_id
        self.number = number
        self.cond = threading.Condition(lock)
        #: One per event family, on the same lock: a live stream waits on its family's only,
        #: so that an event wakes the streams that send it and not every stream of the line.
        self.family_conds = {f: threading.Condition(lock) for f in eventlog.FAMILIES}
        self.log = eventlog.EventLog(log_size)
        self.chats: dict[ChatKey, ChatRecord] = {}
        self.messages: dict[str, messages_pb2.Message] = {}
        self.message_chat: dict[str, str] = {}
        self.order: list[str] = []
        self.arrival: dict[str, int] = {}
        self.attachments: dict[str, AttachmentRecord] = {}
        self.polls: dict[str, PollRecord] = {}
        self.quota = QuotaCounter()
        # (kind, method, key) -> (response, when it was stored on the emulator's clock).
        self.idempotency: collections.OrderedDict[
            tuple[str, str, str], tuple[ProtoMessage, float]] = collections.OrderedDict()
        self.removed = False
        #: Friends' shared locations (Find My), by address, and the live feed of their
        #: updates (the last ones, with the total ever published).
        self.friend_locations: dict[str, locations_pb2.SharedFriendLocation] = {}
        self.location_feed: collections.deque[locations_pb2.SharedFriendLocationUpdated] = (
            collections.deque(maxlen=1000))
        self.location_feed_total = 0
        self.location_requests: list[tuple[str, str]] = []
        #: The bubbles of multipart messages (text, "" for a file), for part-indexed edits.
        self.parts: dict[str, list[str]] = {}
        #: Media embedded in messages (Digital Touch...), as (data, MIME type).
        self.embedded_media: dict[str, tuple[bytes, str]] = {}
        #: App-card sessions: session id -> guid of the card's first message.
        self.card_sessions: dict[str, str] = {}
        #: Called with every event logged on this line, under the emulator's lock (webhooks).
        self.listener: Callable[[LineState, eventlog.Entry], None] | None = None

    def clear(self) -> None:
        """Forget chats, messages, attachments, polls, events, quota usage and idempotency
        keys; the identity of the line and its sequence counter stay."""
        self.log.clear()
        self.chats.clear()
        self.messages.clear()
        self.message_chat.clear()
        self.order.clear()
        self.arrival.clear()
        self.attachments.clear()
        self.polls.clear()
        self.quota = QuotaCounter()
        self.idempotency.clear()
        self.friend_locations.clear()
        self.location_requests.clear()
        self.parts.clear()
        self.embedded_media.clear()
        self.card_sessions.clear()

    @property
    def name(self) -> str:
        """The number, or the instance id for a line without one (quota context, logs)."""
        return self.number or self.instance_id

    def self_info(self) -> common_pb2.SingleServiceAddressInfo | None:
        """How the line appears as a sender/actor (``None`` when it has no number)."""
        if not self.number:
            return None
        return common_pb2.SingleServiceAddressInfo(
            address=self.number, service=common_pb2.CHAT_SERVICE_TYPE_IMESSAGE)

    # ----- events -------------------------------------------------------------------------

    def publish(self, family: str, event: ProtoMessage | None, chat_guid: str = "",
                poll_guid: str = "") -> eventlog.Entry:
        """Log an event and wake this line's streams."""
        entry = self.log.append(family, event, chat_guid, poll_guid)
        self.cond.notify_all()
        self.family_conds[family].notify_all()
        if self.listener is not None:
            self.listener(self, entry)
        return entry

    def publish_change(self, family: str, chat_guid: str, occurred_at: Timestamp,
                       actor: common_pb2.SingleServiceAddressInfo | None, is_from_me: bool,
                       change: str, payload: ProtoMessage, poll_guid: str = "") -> None:
        """Build the family's ``*ChangeEvent`` with one ``change`` case set, and publish it."""
        cls = _EVENT_CLASSES[family]
        kwargs: dict[str, Any] = {"chat_guid": chat_guid, "occurred_at": occurred_at,
                                  "is_from_me": is_from_me, change: payload}
        if poll_guid:
            kwargs["poll_message_guid"] = poll_guid
        if actor is not None:
            kwargs["actor"] = actor
        self.publish(family, cls(**kwargs), chat_guid, poll_guid)

    # ----- chats --------------------------------------------------------------------------

    def find_chat(self, key: ChatKey) -> ChatRecord | None:
        """The chat with this (kind, identifier), if any."""
        return self.chats.get(key)

    def chat_key(self, guid: str) -> ChatKey | None:
        """The key of a chat guid stored on this line (``None`` if it is not a chat here)."""
        parts = guid.split(";", 2)
        return ChatKey(parts[1], parts[2]) if len(parts) == 3 else None

    def chat(self, key: ChatKey, guid: str) -> ChatRecord:
        """The chat with this key, or NOT_FOUND ``chatNotFound``."""
        found = self.chats.get(key)
        if found is None:
            raise not_found("chatNotFound", f"chat {guid!r} not found", chatGuid=guid)
        return found

    def ensure_dm(self, address: str) -> ChatRecord:
        """The direct chat with ``address`` (created when missing)."""
        key = ChatKey(DM, address)
        found = self.chats.get(key)
        if found is None:
            found = self.chats[key] = ChatRecord(dm_guid(address), key, [address])
        return found

    def new_group(self, participants: Sequence[str], identifier: str | None = None,
                  service: str = "any") -> ChatRecord:
        """A new group chat with ``participants``."""
        ident = identifier or new_group_identifier()
        key = ChatKey(GROUP, ident)
        record = ChatRecord(f"{service};{GROUP};{ident}", key, list(dict.fromkeys(participants)))
        self.chats[key] = record
        return record

    def chat_proto(self, chat: ChatRecord, directory: AddressDirectory) -> chats_pb2.Chat:
        """The wire form of ``chat`` (a fresh message). Its participants include the line's
        own number, as the service lists them (docs/behaviour.md, "Participants")."""
        own = self.self_info()
        out = chats_pb2.Chat(
            guid=chat.guid, chat_identifier=chat.key.identifier, is_group=chat.is_group,
            service=chat.service, unread_count=chat.unread,
            participants=([own] if own is not None else [])
            + [directory.sender_info(a) for a in chat.participants],
        )
        if chat.is_group:
            out.group_id = chat.key.identifier
        if chat.display_name is not None:
            out.display_name = chat.display_name
        if chat.message_guids:
            out.last_message.CopyFrom(self.messages[chat.message_guids[-1]])
        return out

    # ----- messages -----------------------------------------------------------------------

    def message(self, guid: str) -> messages_pb2.Message:
        """The stored message ``guid``, or NOT_FOUND ``messageNotFound``."""
        found = self.messages.get(guid) if guid else None
        if found is None:
            raise not_found("messageNotFound", f"message {guid!r} not found", messageGuid=guid)
        return found

    def add_message(self, chat: ChatRecord, message: messages_pb2.Message,
                    actor: common_pb2.SingleServiceAddressInfo | None) -> messages_pb2.Message:
        """Store a complete message in ``chat`` and publish ``message_received``."""
        message.chat_guids[:] = [chat.guid]
        self.messages[message.guid] = message
        self.message_chat[message.guid] = chat.guid
        self.order.append(message.guid)
        self.arrival[message.guid] = next(_ARRIVALS)
        chat.message_guids.append(message.guid)
        if not message.is_from_me:
            chat.unread += 1
            self.quota.note_inbound(chat.recipient)
        # publish_change's event, built in place: a MessageReceived made first would copy the
        # message twice (a fifth of a bulk injection's time).
        event = messages_pb2.MessageChangeEvent(
            chat_guid=chat.guid, occurred_at=message.date_created, is_from_me=message.is_from_me)
        if actor is not None:
            event.actor.CopyFrom(actor)
        event.message_received.message.CopyFrom(message)
        self.publish(eventlog.MESSAGE, event, chat.guid)
        return message

    # ----- idempotency --------------------------------------------------------------------

    def remember(self, key: tuple[str, str, str], response: ProtoMessage,
                 now: float) -> None:
        """Cache a response for an idempotency key (bounded, oldest dropped first)."""
        self.idempotency[key] = (response, now)
        while len(self.idempotency) > IDEMPOTENCY_CACHE_SIZE:
            self.idempotency.popitem(last=False)


_EVENT_CLASSES: dict[str, type[ProtoMessage]] = {
    eventlog.MESSAGE: messages_pb2.MessageChangeEvent,
    eventlog.GROUP: groups_pb2.GroupChangeEvent,
    eventlog.POLL: polls_pb2.PollChangeEvent,
    eventlog.CHAT: chats_pb2.ChatChangeEvent,
}
