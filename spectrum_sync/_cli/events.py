"""How ``listen`` shows a received event: one line of text, or one JSON object."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spectrum_sync import Event, User

__all__ = ["as_json", "as_text"]


def as_json(event: Event) -> str:
    """Every public field of the event, with ``kind`` first; times in ISO 8601."""
    import attrs

    def public(attribute: attrs.Attribute[Any], value: Any) -> bool:
        return not attribute.name.startswith("_")  # a space's line handle, ack callbacks

    def plain(instance: Any, attribute: Any, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    fields = attrs.asdict(event, filter=public, value_serializer=plain)
    return json.dumps({"kind": event.kind, **fields}, ensure_ascii=False, default=_fallback)


def _fallback(value: object) -> object:
    """JSON for what attrs leaves as it is: read-only mappings (a webhook's raw content)."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _who(user: User | None, is_from_me: bool) -> str:
    if is_from_me:
        return "me"
    return user.address if user is not None else "?"


def as_text(event: Event) -> str:
    """``[line] space sender: what happened``."""
    from spectrum_sync import (
        GroupChanged,
        Message,
        MessageEdited,
        MessageRead,
        MessageUnsent,
        PollChanged,
        Reaction,
        StickerPlaced,
    )

    where = f"[{event.space.phone}] {event.space.id}"
    if isinstance(event, Message):
        files = "".join(f" [file {a.file_name}, {a.size} bytes]" for a in event.attachments)
        reply = f" (reply to {event.reply_to_guid})" if event.reply_to_guid else ""
        return (f"{where} {_who(event.sender, event.is_from_me)}: {event.text or ''}"
                f"{files}{reply}")
    if isinstance(event, Reaction):
        verb = "reacted" if event.added else "removed the reaction"
        return (f"{where} {_who(event.sender, event.is_from_me)} {verb} {event.emoji} "
                f"on {event.message_guid}")
    if isinstance(event, MessageEdited):
        return (f"{where} {_who(event.sender, event.is_from_me)} edited "
                f"{event.message_guid}: {event.text or ''}")
    if isinstance(event, MessageUnsent):
        return f"{where} {_who(event.sender, event.is_from_me)} unsent {event.message_guid}"
    if isinstance(event, MessageRead):
        return f"{where} {_who(event.reader, event.is_from_me)} read {event.message_guid}"
    if isinstance(event, StickerPlaced):
        return (f"{where} {_who(event.sender, event.is_from_me)} placed a sticker on "
                f"{event.message_guid}")
    if isinstance(event, GroupChanged):
        detail = event.display_name or (event.participant.address if event.participant
                                        else "")
        return f"{where} {_who(event.actor, event.is_from_me)} {event.change} {detail}".rstrip()
    if isinstance(event, PollChanged):
        detail = event.title or event.option_id or ""
        return (f"{where} {_who(event.actor, event.is_from_me)} poll {event.poll_guid} "
                f"{event.change} {detail}").rstrip()
    return f"{where} {event.kind}"  # pragma: no cover - a kind added later
