"""Public value types: users, spaces, messages, reactions, attachments.

They hold no generated protobuf type (conversion lives in :mod:`._wire.convert`). A
:class:`Space` carries a hidden reference to the backend operations (:class:`SpaceOperations`:
the cloud or the local backend), so that its actions and those of its messages run on the line
that serves the chat. Every received event has a ``kind``, a ``sequence`` (the line's event
sequence; 0 for objects that did not come from a stream) and ``ack()`` (see docs/behaviour.md,
"Commit points").
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Callable, ClassVar, Protocol

import attrs

from ._validate import check_idempotency_key, check_optional_text, check_text, check_timeout

__all__ = [
    "Attachment", "LineInfo", "Message", "Reaction", "Received", "Space", "SpaceOperations",
    "User",
]

log = logging.getLogger("spectrum_sync")

Receipt = Callable[[], None]


@attrs.frozen
class User:
    """A handle: ``address`` (E.164 or lower-case e-mail), ``country`` (ISO alpha-2 or None),
    ``service`` ("iMessage", "SMS", "RCS" or "unknown")."""

    address: str
    country: str | None = None
    service: str = "unknown"


class SpaceOperations(Protocol):
    """What a backend (cloud or local) does for a space and its messages.

    Arguments arrive validated; ``reaction`` is already a single emoji."""

    @property
    def mode(self) -> str:
        """ "shared", "dedicated", "explicit" or "local"."""

    def send_text(
        self, space: Space, text: str, *, reply_to: str | None, effect: str | None,
        subject: str | None, idempotency_key: str | None, timeout: float | None,
    ) -> Message: ...

    def set_typing(self, space: Space, typing: bool, *, timeout: float | None) -> None: ...

    def mark_read(
        self, space: Space, *, idempotency_key: str | None, timeout: float | None
    ) -> None: ...

    def get_chat(self, space: Space, *, timeout: float | None) -> tuple[Space, list[User]]: ...

    def edit(
        self, message: Message, text: str, *, idempotency_key: str | None,
        timeout: float | None,
    ) -> Message: ...

    def unsend(
        self, message: Message, *, idempotency_key: str | None, timeout: float | None
    ) -> None: ...

    def react(
        self, message: Message, reaction: str, on: bool, *, idempotency_key: str | None,
        timeout: float | None,
    ) -> None: ...


@attrs.frozen(kw_only=True)
class Space:
    """A conversation: ``id`` (the chat guid), ``type`` ("dm" or "group") and ``phone`` (the
    number of the line that serves it; "shared" in shared mode, "" in local mode)."""

    id: str
    type: str
    phone: str
    display_name: str | None = attrs.field(default=None, eq=False)
    _ops: SpaceOperations = attrs.field(eq=False, repr=False, alias="ops")
    # The client behind ``ops``: a space in use keeps its client open.
    _owner: object = attrs.field(default=None, eq=False, repr=False, alias="owner")

    def send(
        self,
        text: str,
        *,
        reply_to: Message | str | None = None,
        effect: str | None = None,
        subject: str | None = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Message:
        """Send a text; blocks until the server accepted it and returns the message.

        ``reply_to`` (a message or its guid) makes it a threaded reply; ``effect`` an
        expressive send effect id; ``subject`` a subject line. ``idempotency_key`` (your own,
        e.g. ``"order-42-shipped"``) makes the send safe to repeat from another process or a
        retried task: the server answers a repeat with the first message instead of sending
        a second bubble."""
        target = reply_to.guid if isinstance(reply_to, Message) else reply_to
        return self._ops.send_text(
            self,
            check_text("text", text),
            reply_to=check_optional_text("reply_to", target, limit=1024),
            effect=check_optional_text("effect", effect, limit=256),
            subject=check_optional_text("subject", subject),
            idempotency_key=_key(idempotency_key),
            timeout=check_timeout(timeout),
        )

    def set_typing(self, typing: bool, *, timeout: float | None = None) -> None:
        """Turn the typing indicator on or off."""
        self._ops.set_typing(self, bool(typing), timeout=check_timeout(timeout))

    @contextlib.contextmanager
    def typing(self, *, timeout: float | None = None) -> Iterator[Space]:
        """Typing indicator on for the block; always turned off afterwards."""
        self.set_typing(True, timeout=timeout)
        failed = False
        try:
            yield self
        except BaseException:
            failed = True
            raise
        finally:
            try:
                self.set_typing(False, timeout=timeout)
            except Exception:
                if not failed:
                    raise
                # Do not hide the block's own exception behind this one.
                log.warning("could not turn the typing indicator off", exc_info=True)

    def mark_read(
        self, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> None:
        """Mark every message of the space as read."""
        self._ops.mark_read(self, idempotency_key=_key(idempotency_key),
                            timeout=check_timeout(timeout))

    def participants(self, *, timeout: float | None = None) -> list[User]:
        """The other members of the space (from the server)."""
        return self._ops.get_chat(self, timeout=check_timeout(timeout))[1]

    def refresh(self, *, timeout: float | None = None) -> Space:
        """A fresh copy from the server (e.g. with its current display name)."""
        return self._ops.get_chat(self, timeout=check_timeout(timeout))[0]


def _key(idempotency_key: str | None) -> str | None:
    return check_idempotency_key(idempotency_key)


def _noop() -> None:
    pass


@attrs.frozen(kw_only=True)
class Received:
    """What every event has: ``sequence`` and ``ack()`` (the ``kind`` is a class constant)."""

    kind: ClassVar[str] = "event"

    sequence: int = attrs.field(default=0, eq=False)
    _receipt: Receipt = attrs.field(default=_noop, eq=False, repr=False, alias="receipt")

    def ack(self) -> None:
        """Done with this event: its cursor may advance (idempotent; a no-op for objects
        that did not come from a receive loop). See docs/behaviour.md, "Commit points"."""
        self._receipt()


@attrs.frozen(kw_only=True)
class LineInfo:
    """A line as ``client.lines`` describes it: ``phone``, ``instance_id`` (the cloud's id of
    the line; the phone for explicit lines), gRPC ``address`` and ``tls``."""

    phone: str
    instance_id: str
    address: str
    tls: bool


@attrs.frozen(kw_only=True)
class Attachment:
    """Metadata of a file carried by a message (the bytes stay on the server)."""

    guid: str
    file_name: str
    mime_type: str
    size: int
    is_sticker: bool = False


@attrs.frozen(kw_only=True)
class Message(Received):
    """A message in a space. ``sender`` is None for our own messages; ``attachments`` lists
    the files it carries (metadata only)."""

    kind: ClassVar[str] = "message"

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

    def reply(
        self, text: str, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> Message:
        """Threaded reply to this message in its space."""
        return self.space.send(text, reply_to=self.guid, idempotency_key=idempotency_key,
                               timeout=timeout)

    def react(
        self, emoji: str, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> None:
        """Add a tapback: ❤️ 👍 👎 😂 ‼️ ❓ (or their names: love, like, dislike, laugh,
        emphasize, question) or any single emoji."""
        self._react(emoji, True, idempotency_key, timeout)

    def unreact(
        self, emoji: str, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> None:
        """Remove a tapback added with :meth:`react`."""
        self._react(emoji, False, idempotency_key, timeout)

    def _react(
        self, emoji: str, on: bool, idempotency_key: str | None, timeout: float | None
    ) -> None:
        from ._reactions import check_reaction

        self.space._ops.react(self, check_reaction(emoji), on,
                              idempotency_key=_key(idempotency_key),
                              timeout=check_timeout(timeout))

    def edit(
        self, text: str, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> Message:
        """Replace the text; returns the edited message."""
        return self.space._ops.edit(self, check_text("text", text),
                                    idempotency_key=_key(idempotency_key),
                                    timeout=check_timeout(timeout))

    def unsend(
        self, *, idempotency_key: str | None = None, timeout: float | None = None
    ) -> None:
        """Retract the message."""
        self.space._ops.unsend(self, idempotency_key=_key(idempotency_key),
                               timeout=check_timeout(timeout))


@attrs.frozen(kw_only=True)
class Reaction(Received):
    """A tapback added to (``added``) or removed from the message ``message_guid``."""

    kind: ClassVar[str] = "reaction"

    message_guid: str
    emoji: str
    space: Space
    added: bool = True
    sender: User | None = None
    is_from_me: bool = False
    part_index: int | None = None
    occurred_at: datetime | None = None
