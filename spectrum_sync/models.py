"""Public value types (attrs) and their mapping from the wire types.

``User``, ``Space``, ``Message`` and ``Reaction`` are what callers see; no
generated protobuf type appears in their fields. A ``Space`` carries a hidden
reference to the backend operations (:class:`SpaceOperations`) so that its
actions (``send``, ``typing``...) and those of its messages run on the line
that serves the chat. The ``*_from_*`` functions at the bottom build models
from wire messages; a receive loop uses them too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Protocol

import attrs

from ._proto import common_pb2, messages_pb2
from .errors import ValidationError

if TYPE_CHECKING:
    from google.protobuf.timestamp_pb2 import Timestamp

__all__ = [
    "Attachment",
    "Message",
    "Reaction",
    "Space",
    "SpaceOperations",
    "User",
    "emoji_from_wire",
    "message_from_event",
    "message_from_proto",
    "parse_chat_guid",
    "reaction_from_event",
    "reaction_to_wire",
    "space_type",
    "user_from_info",
]

log = logging.getLogger("spectrum_sync.models")

DM, GROUP = "dm", "group"


@attrs.frozen
class User:
    """A handle: ``address`` (E.164 or lower-case e-mail), ``country`` (ISO alpha-2
    or None), ``service`` ("iMessage", "SMS", "RCS" or "unknown")."""

    address: str
    country: str | None = None
    service: str = "unknown"


class SpaceOperations(Protocol):
    """What a backend does for a space and its messages (cloud or local)."""

    def send_text(
        self,
        space: Space,
        text: str,
        *,
        reply_to: str | None,
        effect: str | None,
        subject: str | None,
        timeout: float | None,
    ) -> Message: ...

    def set_typing(self, space: Space, typing: bool, timeout: float | None) -> None: ...

    def mark_read(self, space: Space, timeout: float | None) -> None: ...

    def get_chat(self, space: Space, timeout: float | None) -> tuple[Space, list[User]]: ...

    def edit(self, message: Message, text: str, timeout: float | None) -> Message: ...

    def unsend(self, message: Message, timeout: float | None) -> None: ...

    def react(self, message: Message, emoji: str, on: bool, timeout: float | None) -> None: ...


@attrs.frozen
class Space:
    """A conversation: ``id`` (the chat guid), ``type`` ("dm" or "group") and
    ``phone`` (the line's number; "shared" in shared mode)."""

    id: str
    type: str
    phone: str
    display_name: str | None = attrs.field(default=None, eq=False)
    _ops: SpaceOperations = attrs.field(eq=False, repr=False, kw_only=True, alias="ops")

    def send(
        self,
        text: str,
        *,
        reply_to: Message | str | None = None,
        effect: str | None = None,
        subject: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send a text; blocks until the server accepted it and returns the message.

        ``reply_to`` (a message or its guid) makes it a threaded reply; ``effect``
        is an expressive send effect id; ``subject`` a subject line."""
        target = reply_to.guid if isinstance(reply_to, Message) else reply_to
        return self._ops.send_text(
            self, text, reply_to=target, effect=effect, subject=subject, timeout=timeout
        )

    def set_typing(self, typing: bool, *, timeout: float | None = None) -> None:
        """Turn the typing indicator on or off."""
        self._ops.set_typing(self, typing, timeout)

    @contextlib.contextmanager
    def typing(self, *, timeout: float | None = None) -> Iterator[Space]:
        """Typing indicator on for the block; always turned off afterwards."""
        self._ops.set_typing(self, True, timeout)
        failed = False
        try:
            yield self
        except BaseException:
            failed = True
            raise
        finally:
            try:
                self._ops.set_typing(self, False, timeout)
            except Exception:
                if not failed:
                    raise
                # Do not hide the block's own exception behind this one.
                log.warning("could not turn the typing indicator off", exc_info=True)

    def mark_read(self, *, timeout: float | None = None) -> None:
        """Mark every message of the space as read."""
        self._ops.mark_read(self, timeout)

    def participants(self, *, timeout: float | None = None) -> list[User]:
        """The other members of the space (from the server)."""
        return self._ops.get_chat(self, timeout)[1]

    def refresh(self, *, timeout: float | None = None) -> Space:
        """A fresh copy from the server (e.g. with its current display name)."""
        return self._ops.get_chat(self, timeout)[0]


@attrs.frozen
class Attachment:
    """Metadata of a file carried by a message (the bytes stay on the server)."""

    guid: str
    file_name: str
    mime_type: str
    size: int
    is_sticker: bool = False


@attrs.frozen
class Message:
    """A message in a space. ``sender`` is None for our own messages; ``attachments`` lists
    the files it carries (metadata only)."""

    guid: str
    space: Space
    text: str | None = None
    sender: User | None = None
    is_from_me: bool = False
    created_at: datetime | None = None
    edited_at: datetime | None = attrs.field(default=None, eq=False)
    retracted_at: datetime | None = attrs.field(default=None, eq=False)
    subject: str | None = None
    effect: str | None = None
    reply_to_guid: str | None = None
    thread_originator_guid: str | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def id(self) -> str:
        """Same as ``guid``."""
        return self.guid

    def reply(self, text: str, *, timeout: float | None = None) -> Message:
        """Threaded reply to this message in its space."""
        return self.space.send(text, reply_to=self.guid, timeout=timeout)

    def react(self, emoji: str, *, timeout: float | None = None) -> None:
        """Add a tapback (❤️ 👍 👎 😂 ‼️ ❓ or any emoji)."""
        self.space._ops.react(self, emoji, True, timeout)

    def unreact(self, emoji: str, *, timeout: float | None = None) -> None:
        """Remove a tapback added with :meth:`react`."""
        self.space._ops.react(self, emoji, False, timeout)

    def edit(self, text: str, *, timeout: float | None = None) -> Message:
        """Replace the text; returns the edited message."""
        return self.space._ops.edit(self, text, timeout)

    def unsend(self, *, timeout: float | None = None) -> None:
        """Retract the message."""
        self.space._ops.unsend(self, timeout)


@attrs.frozen
class Reaction:
    """A tapback added to (``added``) or removed from a message."""

    message_guid: str
    emoji: str
    space: Space
    added: bool = True
    sender: User | None = None
    is_from_me: bool = False
    part_index: int | None = None
    occurred_at: datetime | None = None


# ----- chat guids ----------------------------------------------------------------


def parse_chat_guid(guid: str) -> tuple[str, str, str]:
    """Split ``<service>;<kind>;<identifier>`` (on the first two ``;`` only)."""
    parts = guid.split(";", 2) if isinstance(guid, str) else []
    if len(parts) != 3 or not parts[0] or parts[1] not in ("-", "+") or not parts[2]:
        raise ValidationError(
            f"invalid chat guid {guid!r}: expected '<service>;-;<address>' or "
            "'<service>;+;<identifier>'"
        )
    return parts[0], parts[1], parts[2]


def space_type(guid: str) -> str:
    """ "dm" or "group" from a chat guid."""
    return GROUP if parse_chat_guid(guid)[1] == "+" else DM


def dm_guid(address: str) -> str:
    """The guid the library uses for a direct chat with ``address``."""
    return f"any;-;{address}"


# ----- users -----------------------------------------------------------------------

_SERVICE_NAMES = {
    common_pb2.CHAT_SERVICE_TYPE_IMESSAGE: "iMessage",
    common_pb2.CHAT_SERVICE_TYPE_SMS: "SMS",
    common_pb2.CHAT_SERVICE_TYPE_RCS: "RCS",
}


def service_name(services: Sequence[int]) -> str:
    """iMessage if offered, else SMS, else RCS, else "unknown"."""
    for kind in (
        common_pb2.CHAT_SERVICE_TYPE_IMESSAGE,
        common_pb2.CHAT_SERVICE_TYPE_SMS,
        common_pb2.CHAT_SERVICE_TYPE_RCS,
    ):
        if kind in services:
            return _SERVICE_NAMES[kind]
    return "unknown"


def user_from_info(
    info: common_pb2.SingleServiceAddressInfo | common_pb2.MultiServiceAddressInfo,
    fallback_country: str | None = None,
) -> User:
    """A :class:`User` from a single- or multi-service address description."""
    if isinstance(info, common_pb2.MultiServiceAddressInfo):
        service = service_name(list(info.services))
    else:
        service = service_name([info.service])
    country = info.country if info.HasField("country") else fallback_country
    return User(address=info.address, country=country, service=service)


# ----- reactions -------------------------------------------------------------------

_R = messages_pb2
_KIND_BY_EMOJI = {
    "❤️": _R.MESSAGE_REACTION_KIND_LOVE,
    "❤": _R.MESSAGE_REACTION_KIND_LOVE,
    "👍": _R.MESSAGE_REACTION_KIND_LIKE,
    "👎": _R.MESSAGE_REACTION_KIND_DISLIKE,
    "😂": _R.MESSAGE_REACTION_KIND_LAUGH,
    "‼️": _R.MESSAGE_REACTION_KIND_EMPHASIZE,
    "‼": _R.MESSAGE_REACTION_KIND_EMPHASIZE,
    "❓": _R.MESSAGE_REACTION_KIND_QUESTION,
}
_EMOJI_BY_KIND = {
    _R.MESSAGE_REACTION_KIND_LOVE: "❤️",
    _R.MESSAGE_REACTION_KIND_LIKE: "👍",
    _R.MESSAGE_REACTION_KIND_DISLIKE: "👎",
    _R.MESSAGE_REACTION_KIND_LAUGH: "😂",
    _R.MESSAGE_REACTION_KIND_EMPHASIZE: "‼️",
    _R.MESSAGE_REACTION_KIND_QUESTION: "❓",
}


def reaction_to_wire(emoji: str) -> messages_pb2.MessageReaction:
    """The wire reaction for an emoji: a classic tapback kind, else EMOJI."""
    if not isinstance(emoji, str) or not emoji.strip():
        raise ValidationError("a reaction needs a non-empty emoji")
    kind = _KIND_BY_EMOJI.get(emoji)
    if kind is not None:
        return messages_pb2.MessageReaction(kind=kind)
    return messages_pb2.MessageReaction(kind=_R.MESSAGE_REACTION_KIND_EMOJI, emoji=emoji)


def emoji_from_wire(reaction: messages_pb2.MessageReaction) -> str:
    """The emoji of a wire reaction ("" for a sticker)."""
    if reaction.kind == _R.MESSAGE_REACTION_KIND_EMOJI or reaction.HasField("emoji"):
        return reaction.emoji
    return _EMOJI_BY_KIND.get(reaction.kind, "")


# ----- messages --------------------------------------------------------------------


def _time(message: object, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[attr-defined]
        return None
    stamp: Timestamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=timezone.utc)


def _opt(message: object, field: str) -> str | None:
    return getattr(message, field) if message.HasField(field) else None  # type: ignore[attr-defined]


def message_from_proto(message: messages_pb2.Message, space: Space) -> Message:
    """A :class:`Message` in ``space`` from a wire ``Message``."""
    content = message.content
    sender = None
    if message.HasField("sender") and not message.is_from_me:
        sender = user_from_info(message.sender)
    return Message(
        guid=message.guid,
        space=space,
        text=content.text if content.HasField("text") else None,
        sender=sender,
        is_from_me=message.is_from_me,
        created_at=_time(message, "date_created"),
        edited_at=_time(message, "date_edited"),
        retracted_at=_time(message, "date_retracted"),
        subject=_opt(message, "subject"),
        effect=_opt(content, "expressive_send_style_id"),
        reply_to_guid=_opt(message, "reply_target_guid"),
        thread_originator_guid=_opt(message, "thread_originator_guid"),
        attachments=tuple(
            Attachment(a.guid, a.file_name, a.mime_type, a.total_bytes, a.is_sticker)
            for a in content.attachments
        ),
    )


def message_from_event(event: messages_pb2.MessageChangeEvent, space: Space) -> Message | None:
    """The received message of a ``MessageChangeEvent`` (None for other changes).

    ``space`` is the space of ``event.chat_guid`` on the line the event came from."""
    if event.WhichOneof("change") != "message_received":
        return None
    message = message_from_proto(event.message_received.message, space)
    if message.sender is None and not message.is_from_me and event.HasField("actor"):
        # Some frames name the sender only as the event's actor.
        message = attrs.evolve(message, sender=user_from_info(event.actor))
    return message


def reaction_from_event(event: messages_pb2.MessageChangeEvent, space: Space) -> Reaction | None:
    """The tapback of a ``reaction_added`` / ``reaction_removed`` event, else None."""
    change = event.WhichOneof("change")
    if change not in ("reaction_added", "reaction_removed"):
        return None
    body = event.reaction_added if change == "reaction_added" else event.reaction_removed
    return Reaction(
        message_guid=body.message_guid,
        emoji=emoji_from_wire(body.reaction),
        space=space,
        added=change == "reaction_added",
        sender=user_from_info(event.actor) if event.HasField("actor") else None,
        is_from_me=event.is_from_me,
        part_index=body.target_part_index if body.HasField("target_part_index") else None,
        occurred_at=_time(event, "occurred_at"),
    )
