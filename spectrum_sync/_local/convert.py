"""Public types from chat.db rows: the local counterpart of ``_wire/convert.py``.

A :class:`~.chatdb.LocalEvent` becomes a :class:`~spectrum_sync.Message` or a
:class:`~spectrum_sync.Reaction`; other rows are not events of this version (None).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .._models import Attachment, Message, Reaction, Space
from .._values import Receipt, User
from .chatdb import LocalAttachment, LocalEvent

__all__ = ["attachment_from_local", "decode_local", "local_user", "message_from_local"]

_SERVICES = {"imessage": "iMessage", "sms": "SMS", "rcs": "RCS"}


def service_of(value: str) -> str:
    """chat.db's service column (``iMessage``, ``SMS``, ``RCS``...) as the library names it."""
    return _SERVICES.get(value.lower(), "unknown") if value else "unknown"


@functools.lru_cache(maxsize=4096)
def local_user(address: str, service: str) -> User:
    """The sender of a row: its handle as Messages stores it (e-mail addresses lower-cased,
    as the cloud reports them)."""
    if "@" in address:
        address = address.lower()
    return User(address=address, service=service_of(service))


def attachment_from_local(item: LocalAttachment, space: Space | None) -> Attachment:
    """An attachment row as the public type, bound to ``space`` (so that ``download()``
    reads the file Messages keeps on disk); ``transfer_state`` tells whether it is there."""
    name = item.transfer_name or (os.path.basename(item.path) if item.path else "")
    state = "finished" if item.path and os.path.isfile(item.path) else "unavailable"
    return Attachment(guid=item.guid, file_name=name,
                      mime_type=item.mime_type or "application/octet-stream",
                      size=item.total_bytes, is_sticker=item.is_sticker, uti=item.uti,
                      transfer_state=state, space=space)


def message_from_local(event: LocalEvent, space: Space, *, sequence: int = 0,
                       receipt: Receipt | None = None) -> Message:
    """A :class:`Message` for a ``message`` row of chat.db."""
    sender = None if event.is_from_me or not event.sender else local_user(
        event.sender, event.service)
    extra: dict[str, Any] = {} if receipt is None else {"receipt": receipt}
    return Message(
        guid=event.guid,
        space=space,
        text=event.text,
        sender=sender,
        is_from_me=event.is_from_me,
        created_at=event.date,
        edited_at=event.edited_at,
        retracted_at=event.retracted_at,
        thread_originator_guid=event.reply_to_guid,
        reply_to_guid=event.reply_to_guid,
        attachments=tuple(attachment_from_local(item, space) for item in event.attachments),
        sequence=sequence,
        **extra,
    )


def decode_local(payload: Any, space: Space, sequence: int,
                 receipt: Receipt) -> Message | Reaction | None:
    """The public event of a chat.db row (a receive engine decoder; the sequence is the
    row's ROWID)."""
    event: LocalEvent = payload
    if event.kind == "message":
        return message_from_local(event, space, sequence=sequence, receipt=receipt)
    if event.kind in ("reaction_added", "reaction_removed") and event.reaction_target_guid:
        sender = None if event.is_from_me or not event.sender else local_user(
            event.sender, event.service)
        return Reaction(
            message_guid=event.reaction_target_guid,
            emoji=event.reaction_emoji or event.reaction or "",
            space=space,
            added=event.kind == "reaction_added",
            sender=sender,
            is_from_me=event.is_from_me,
            part_index=event.reaction_part,
            occurred_at=event.date,
            sequence=sequence,
            receipt=receipt,
        )
    return None
