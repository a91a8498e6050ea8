"""Typed inbound events other than messages and reactions, and the event kinds.

``client.messages()`` yields :class:`~spectrum_sync.Message` objects; ``client.events()``
yields every kind below too. Each event has a ``kind`` (the string accepted by
``@client.on_event(kind)`` and ``events(kinds=...)``), the ``space`` it happened in,
``is_from_me``, a ``sequence`` and ``ack()`` (from :class:`~._values.Received`). No generated
protobuf type appears here; decoding lives in :mod:`._wire.convert`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Union

import attrs

from ._feature_values import PollOption, StickerPlacement
from ._models import Attachment, Message, Reaction, Space
from ._values import Received, User

if TYPE_CHECKING:
    from ._polls import Poll

__all__ = [
    "EVENT_KINDS",
    "ChatChanged",
    "Event",
    "GroupChanged",
    "MessageEdited",
    "MessageRead",
    "MessageUnsent",
    "PollChanged",
    "PollOption",
    "StickerPlaced",
    "StickerPlacement",
]


@attrs.frozen(kw_only=True)
class MessageEdited(Received):
    """A message's text was edited (``text`` is the new text)."""

    kind: ClassVar[str] = "edit"

    message_guid: str
    space: Space
    text: str | None = None
    sender: User | None = None
    is_from_me: bool = False
    edited_at: datetime | None = None


@attrs.frozen(kw_only=True)
class MessageUnsent(Received):
    """A message was retracted."""

    kind: ClassVar[str] = "unsend"

    message_guid: str
    space: Space
    sender: User | None = None
    is_from_me: bool = False
    unsent_at: datetime | None = None


@attrs.frozen(kw_only=True)
class MessageRead(Received):
    """A message we sent was read (a read receipt)."""

    kind: ClassVar[str] = "read"

    message_guid: str
    space: Space
    reader: User | None = None
    is_from_me: bool = False
    read_at: datetime | None = None


@attrs.frozen(kw_only=True)
class StickerPlaced(Received):
    """A sticker was placed on a message (bubble ``part_index`` of a multipart one);
    ``sticker`` is its image (download it like any attachment), ``placement`` where it
    sits. Also the items of ``Message.stickers``."""

    kind: ClassVar[str] = "sticker"

    message_guid: str
    space: Space
    sender: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None
    part_index: int | None = None
    sticker: Attachment | None = None
    placement: StickerPlacement | None = None


@attrs.frozen(kw_only=True)
class ChatChanged(Received):
    """A chat changed. ``change`` is one of ``marked_read`` (read on one of the line's
    devices), ``archived``, ``unarchived``, ``background_changed``,
    ``background_removed``."""

    kind: ClassVar[str] = "chat"

    space: Space
    change: str
    actor: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None


@attrs.frozen(kw_only=True)
class GroupChanged(Received):
    """A group chat changed. ``change`` is one of ``renamed``, ``participant_added``,
    ``participant_removed``, ``participant_left``, ``icon_changed``, ``icon_removed``."""

    kind: ClassVar[str] = "group"

    space: Space
    change: str
    display_name: str | None = None
    participant: User | None = None
    actor: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None


@attrs.frozen(kw_only=True)
class PollChanged(Received):
    """A poll changed. ``change`` is one of ``created``, ``option_added``, ``voted``,
    ``unvoted``; ``title``/``options`` are set for the first two; for votes ``actor`` is the
    voter and ``option_id`` the option (:meth:`poll` fetches the poll with every vote and
    option text)."""

    kind: ClassVar[str] = "poll"

    space: Space
    poll_guid: str
    change: str
    title: str | None = None
    options: tuple[PollOption, ...] = ()
    option_id: str | None = None
    actor: User | None = None
    is_from_me: bool = False
    occurred_at: datetime | None = None

    def poll(self, *, timeout: float | None = None) -> Poll:
        """The poll as it is now (title, options, who voted for what), from the server."""
        return self.space.poll(self.poll_guid, timeout=timeout)


Event = Union[
    Message, Reaction, MessageEdited, MessageUnsent, MessageRead, StickerPlaced,
    GroupChanged, PollChanged, ChatChanged,
]

#: Every event kind, as accepted by ``client.on_event(kind)`` and ``events(kinds=...)``.
EVENT_KINDS = tuple(cls.kind for cls in (
    Message, Reaction, MessageEdited, MessageUnsent, MessageRead, StickerPlaced,
    GroupChanged, PollChanged, ChatChanged,
))
