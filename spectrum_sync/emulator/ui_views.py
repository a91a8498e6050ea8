"""What the emulator's web page shows, as JSON: the lines with their chats, and one chat's
timeline (messages as iMessage shows them, group changes, polls, typing).

Every function reads the emulator's state under its lock and returns plain JSON-able values;
nothing here changes state (the page acts through the ``simulate_*`` calls, see
:mod:`spectrum_sync.emulator.ui_routes`).
"""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from google.protobuf.timestamp_pb2 import Timestamp

from spectrum_sync._proto import groups_pb2, messages_pb2, polls_pb2
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.clock import iso_timestamp
from spectrum_sync.emulator.errors import control_errors
from spectrum_sync.emulator.guids import parse_chat_guid
from spectrum_sync.emulator.reactions import reaction_emoji
from spectrum_sync.emulator.state import AttachmentRecord, ChatRecord, LineState, PollRecord

if TYPE_CHECKING:
    from spectrum_sync.emulator.core import EmulatorCore

#: Image types a browser shows inline. Others (SVG and HTML among them: they can carry
#: scripts) are only offered as downloads.
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp",
                                "image/bmp"})

_PREVIEW_CHARS = 80

#: Message effects by the names the library's users write, and Apple's ids that travel on the
#: wire. The emulator imports none of the client's modules (so that it cannot share their
#: mistakes), hence its own copy; tests/ui/test_page_http.py checks that both agree.
EFFECTS: dict[str, str] = {
    "balloons": "com.apple.messages.effect.CKBalloonEffect",
    "celebration": "com.apple.messages.effect.CKHappyBirthdayEffect",
    "confetti": "com.apple.messages.effect.CKConfettiEffect",
    "echo": "com.apple.messages.effect.CKEchoEffect",
    "fireworks": "com.apple.messages.effect.CKFireworksEffect",
    "gentle": "com.apple.MobileSMS.expressivesend.gentle",
    "heart": "com.apple.messages.effect.CKHeartEffect",
    "invisible": "com.apple.MobileSMS.expressivesend.invisibleink",
    "lasers": "com.apple.messages.effect.CKLasersEffect",
    "loud": "com.apple.MobileSMS.expressivesend.loud",
    "slam": "com.apple.MobileSMS.expressivesend.impact",
    "sparkles": "com.apple.messages.effect.CKSparklesEffect",
    "spotlight": "com.apple.messages.effect.CKSpotlightEffect",
}
_EFFECT_NAMES = {wire: name for name, wire in EFFECTS.items()}


def fingerprint(emu: EmulatorCore) -> tuple[Any, ...]:
    """A value that changes whenever what the page shows may have changed: every event
    logged, message stored, chat opened, typing change, line added or removed, stream opened
    or closed. The event stream compares it to decide when to tell the page."""
    with emu.lock:
        lines = tuple((ln.instance_id, ln.log.head, len(ln.order), len(ln.chats))
                      for ln in (emu.line(info.instance_id) for info in emu.lines))
        return lines, len(emu.typing), emu.hub.open_count


def overview(emu: EmulatorCore) -> dict[str, Any]:
    """The plan, faults, open streams, and each line with its quota use and chats (most
    recently active first)."""
    with emu.lock:
        typing = _typing_states(emu)
        lines = []
        for info in emu.lines:
            ln = emu.line(info.instance_id)
            chats = [_chat_summary(ln, chat, typing) for chat in ln.chats.values()]
            chats.sort(key=lambda c: c["last_at"] or "", reverse=True)
            lines.append({"id": ln.instance_id, "number": ln.number, "name": ln.name,
                          "quota": emu.quota_usage(ln.instance_id), "chats": chats})
    return {"plan": emu.plan, "project_id": emu.project_id, "open_streams": emu.hub.open_count,
            "limits": {"messages": emu.daily_message_limit,
                       "new_conversations": emu.daily_new_conversation_limit},
            "effects": sorted(EFFECTS), "lines": lines}


def conversation(emu: EmulatorCore, line: str, chat_guid: str) -> dict[str, Any]:
    """One chat of a line: its participants and its timeline, oldest first.

    Items are ``{"kind": "message", ...}`` (see :func:`_message`), ``{"kind": "event",
    "text", "time"}`` for group changes, and ``{"kind": "poll", ...}`` for polls that no
    message of the chat carries (polls created by the other side). ``KeyError`` when the
    line or the chat is unknown.
    """
    with emu.lock:
        ln, chat = _line_chat(emu, line, chat_guid)
        polls = {p.guid: p for p in ln.polls.values() if p.chat_guid == chat.guid}
        rows: list[tuple[tuple[int, int], dict[str, Any]]] = []
        for guid in chat.message_guids:
            message = ln.messages[guid]
            item = _message(ln, message, emu)
            poll = polls.pop(guid, None)
            if poll is not None:
                item["poll"] = _poll(ln, poll)
            rows.append((_key(message.date_created), item))
        for entry in ln.log.after(ln.log.oldest - 1):
            if entry.chat_guid != chat.guid or entry.event is None:
                continue
            if entry.family == eventlog.GROUP:
                assert isinstance(entry.event, groups_pb2.GroupChangeEvent)
                rows.append((_key(entry.event.occurred_at), {
                    "kind": "event", "text": _group_change_text(ln, entry.event),
                    "time": iso_timestamp(entry.event.occurred_at)}))
            elif entry.family == eventlog.POLL and entry.poll_guid in polls:
                assert isinstance(entry.event, polls_pb2.PollChangeEvent)
                poll = polls.pop(entry.poll_guid)
                rows.append((_key(entry.event.occurred_at), {
                    "kind": "poll", "poll": _poll(ln, poll), "from_me": entry.event.is_from_me,
                    "sender": entry.event.actor.address or None,
                    "time": iso_timestamp(entry.event.occurred_at)}))
        rows.extend(((1 << 62, 0), {"kind": "poll", "poll": _poll(ln, poll), "from_me": False,
                                    "sender": None, "time": None})
                    for poll in polls.values())  # created before the oldest logged event
        rows.sort(key=lambda row: row[0])  # stable: same-instant rows keep arrival order
        typing = _typing_states(emu).get((ln.name, chat.guid), {})
        return {"line": ln.name, "line_id": ln.instance_id, "chat": _chat_header(chat),
                "items": [item for _, item in rows],
                "typing": {"them": typing.get(False, False), "us": typing.get(True, False)}}


def attachment(emu: EmulatorCore, line: str, guid: str) -> AttachmentRecord:
    """A file a line holds (``KeyError`` when unknown)."""
    with emu.lock:
        found = emu.line(line).attachments.get(guid)
    if found is None:
        raise KeyError(f"no attachment {guid!r}")
    return found


def chat_of_message(emu: EmulatorCore, line: str, message_guid: str) -> str:
    """The guid of the chat holding a message."""
    with emu.lock:
        return emu.line(line).message_chat[message_guid]


def unread_from_me(emu: EmulatorCore, line: str, chat_guid: str) -> list[str]:
    """Our messages in a chat that the other side has not read yet (``KeyError`` when the
    line or chat is unknown)."""
    with emu.lock:
        ln, chat = _line_chat(emu, line, chat_guid)
        return [guid for guid in chat.message_guids
                if ln.messages[guid].is_from_me and not ln.messages[guid].HasField("date_read")
                and not ln.messages[guid].HasField("date_retracted")]


def effect_id(name: str | None) -> str | None:
    """Apple's id of an effect named as the library names it (``None`` stays ``None``);
    ``ValueError`` for an unknown name."""
    if not name:
        return None
    found = EFFECTS.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown effect {name!r}: use one of {', '.join(EFFECTS)}")
    return found


def title(chat: ChatRecord) -> str:
    """How a chat is named in the list: its group name, else its participants."""
    return chat.display_name or ", ".join(chat.participants) or chat.key.identifier


def _line_chat(emu: EmulatorCore, line: str, chat_guid: str) -> tuple[LineState, ChatRecord]:
    ln = emu.line(line)
    with control_errors():
        chat = ln.find_chat(parse_chat_guid(chat_guid))
    if chat is None:
        raise KeyError(f"no chat {chat_guid!r} on line {ln.name}")
    return ln, chat


def _chat_header(chat: ChatRecord) -> dict[str, Any]:
    return {"guid": chat.guid, "title": title(chat), "is_group": chat.is_group,
            "participants": list(chat.participants), "display_name": chat.display_name,
            "has_left": chat.has_left}


def _chat_summary(ln: LineState, chat: ChatRecord,
                  typing: dict[tuple[str, str], dict[bool, bool]]) -> dict[str, Any]:
    last = ln.messages[chat.message_guids[-1]] if chat.message_guids else None
    out = _chat_header(chat)
    out.update(unread=chat.unread, messages=len(chat.message_guids),
               last=_preview(last) if last is not None else "",
               last_at=iso_timestamp(last.date_created) if last is not None else None,
               typing=typing.get((ln.name, chat.guid), {}).get(False, False))
    return out


def _message(ln: LineState, message: messages_pb2.Message, emu: EmulatorCore) -> dict[str, Any]:
    """A message as a bubble: who, text and its ranges, effect, reply, tapbacks, state."""
    content = message.content
    effect = content.expressive_send_style_id or None
    reply_guid = message.reply_target_guid or message.thread_originator_guid or None
    reply = None
    if reply_guid:
        target = ln.messages.get(reply_guid)
        reply = {"guid": reply_guid, "text": _preview(target) if target else "",
                 "from_me": bool(target and target.is_from_me),
                 "sender": target.sender.address if target else None}
    return {
        "kind": "message", "guid": message.guid, "from_me": message.is_from_me,
        "sender": message.sender.address or None, "text": content.text,
        "subject": message.subject or None,
        "formatting": [{"type": f.type, "start": f.start, "length": f.length,
                        "effect": f.effect_name or None} for f in content.formatting],
        "mentions": [{"address": m.address, "start": m.start, "length": m.length}
                     for m in content.mentions],
        "effect": _EFFECT_NAMES.get(effect, effect) if effect else None, "reply_to": reply,
        "reactions": [{"emoji": reaction_emoji(r.reaction) or "?",
                       "sender": None if r.is_from_me else (r.sender.address or None),
                       "from_me": r.is_from_me} for r in message.applied_reactions],
        "attachments": [_attachment(ln, a.guid, a.file_name, a.mime_type, a.total_bytes)
                        for a in content.attachments],
        "edited": message.HasField("date_edited"),
        "unsent": message.HasField("date_retracted"),
        "audio": message.is_audio_message,
        "delivered": message.is_delivered, "read": message.HasField("date_read"),
        "time": iso_timestamp(message.date_created),
    }


def _attachment(ln: LineState, guid: str, name: str, mime: str, size: int) -> dict[str, Any]:
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    return {"guid": guid, "name": name, "mime": mime, "size": size,
            "image": mime in INLINE_IMAGE_TYPES, "stored": guid in ln.attachments}


def _poll(ln: LineState, poll: PollRecord) -> dict[str, Any]:
    votes: dict[str, list[str]] = {}
    for voter, option in poll.votes.items():
        votes.setdefault(option, []).append(voter or (ln.number or "me"))
    return {"guid": poll.guid, "title": poll.title,
            "options": [{"id": o.option_identifier, "text": o.text,
                         "voters": votes.get(o.option_identifier, [])} for o in poll.options]}


def _group_change_text(ln: LineState, event: groups_pb2.GroupChangeEvent) -> str:
    who = "You" if event.is_from_me else (event.actor.address or "Someone")
    change = event.WhichOneof("change")
    if change == "display_name_changed":
        return f"{who} named the conversation “{event.display_name_changed.display_name}”"
    if change == "participant_added":
        return f"{who} added {event.participant_added.participant.address}"
    if change == "participant_removed":
        return f"{who} removed {event.participant_removed.participant.address}"
    if change == "participant_left":
        return f"{event.participant_left.participant.address or who} left the conversation"
    if change == "icon_changed":
        return f"{who} changed the group photo"
    if change == "icon_removed":
        return f"{who} removed the group photo"
    return f"{who} changed the group"


def _preview(message: messages_pb2.Message) -> str:
    if message.HasField("date_retracted"):
        return "(unsent)"
    text = message.content.text
    if not text and message.content.attachments:
        text = "📎 " + message.content.attachments[0].file_name
    return text if len(text) <= _PREVIEW_CHARS else text[:_PREVIEW_CHARS - 1] + "…"


def _typing_states(emu: EmulatorCore) -> dict[tuple[str, str], dict[bool, bool]]:
    """(line name, chat guid) -> {from_me: typing now}: the latest indicator of each side."""
    out: dict[tuple[str, str], dict[bool, bool]] = {}
    for line_name, chat_guid, is_typing, from_me in emu.typing:
        out.setdefault((line_name, chat_guid), {})[from_me] = is_typing
    return out


def _key(stamp: Timestamp) -> tuple[int, int]:
    return stamp.seconds, stamp.nanos
