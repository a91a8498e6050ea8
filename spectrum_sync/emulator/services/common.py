"""Helpers shared by the service modules: lookups, validation, frames, outgoing messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import common_pb2, messages_pb2
from spectrum_sync.emulator.addresses import normalize_address
from spectrum_sync.emulator.errors import invalid, not_found, precondition
from spectrum_sync.emulator.eventlog import Entry
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.guids import DM, ChatKey, new_guid, parse_chat_guid
from spectrum_sync.emulator.state import ChatRecord, LineState

if TYPE_CHECKING:
    from spectrum_sync.emulator.core import EmulatorCore


class Service:
    """Base of the service objects: they all work on the one emulator."""

    def __init__(self, core: EmulatorCore) -> None:
        self.emu = core


def chat_of(line: LineState, guid: str) -> ChatRecord:
    """The chat named by ``guid`` (INVALID_ARGUMENT if malformed, NOT_FOUND if unknown)."""
    if not guid:
        raise invalid("chat_guid is required", field="chat_guid")
    return line.chat(parse_chat_guid(guid), guid)


def writable_chat(line: LineState, guid: str) -> ChatRecord:
    """A chat the line may send to (not a group it has left).

    A direct chat the line does not know yet is opened by the first send to it, as in the
    cloud: shared-mode clients build ``any;-;<address>`` without calling CreateChat. The
    identifier must then be a valid address (INVALID_ARGUMENT otherwise).
    """
    if guid:
        key = parse_chat_guid(guid)
        if key.kind == DM and line.find_chat(key) is None:
            line.ensure_dm(normalize_address(key.identifier))
    chat = chat_of(line, guid)
    if chat.has_left:
        raise precondition(f"the line has left {guid!r}")
    return chat


def message_in_chat(line: LineState, chat: ChatRecord, guid: str) -> messages_pb2.Message:
    """A message of ``chat`` (NOT_FOUND ``messageNotFound`` otherwise)."""
    if not guid:
        raise invalid("message_guid is required", field="message_guid")
    message = line.message(guid)
    if line.message_chat.get(guid) != chat.guid:
        raise not_found("messageNotFound", f"message {guid!r} is not in {chat.guid!r}",
                        messageGuid=guid)
    return message


def addresses(raw: Iterable[str]) -> list[str]:
    """Normalised, de-duplicated addresses (INVALID_ARGUMENT when empty or malformed)."""
    out = list(dict.fromkeys(normalize_address(a) for a in raw))
    if not out:
        raise invalid("at least one address is required", field="addresses")
    return out


def chat_filter(guid: str | None) -> ChatKey | None:
    """The parsed ``chat_guid`` filter of a subscription (``None``: every chat)."""
    return parse_chat_guid(guid) if guid else None


def matches_chat(entry: Entry, key: ChatKey | None) -> bool:
    """Whether an event belongs to the filtered chat (service part ignored)."""
    if key is None:
        return True
    parts = entry.chat_guid.split(";", 2)
    return len(parts) == 3 and (parts[1], parts[2]) == key


def live_frames(
    emu: EmulatorCore, call: Call, family: str, response: Callable[..., ProtoMessage],
    payload_field: str,
    accept: Callable[[Entry], bool],
) -> Iterable[ProtoMessage]:
    """A ``Subscribe*Events`` stream: events of ``family`` that ``accept`` keeps.

    ``response`` is the stream's generated response class, called with its field keywords.
    """

    def frame(entry: Entry) -> ProtoMessage | None:
        if entry.family != family or not accept(entry):
            return None
        out = response(sequence=entry.sequence)
        if entry.event is not None:
            getattr(out, payload_field).CopyFrom(entry.event)
        return out

    def heartbeat() -> ProtoMessage:
        return response(heartbeat=common_pb2.Heartbeat())

    return emu.hub.live(call.line, call.context, frame, heartbeat, emu.heartbeat_interval,
                        family)


def outgoing_message(emu: EmulatorCore, line: LineState, chat: ChatRecord,
                     content: messages_pb2.MessageContent, *, subject: str | None = None,
                     effect_id: str | None = None, part_count: int = 1,
                     reply_to: messages_pb2.ReplyTarget | None = None, audio: bool = False,
                     ) -> messages_pb2.Message:
    """Build, charge (quota), store and publish a message the line sends to ``chat``."""
    now = emu.clock.timestamp()
    message = messages_pb2.Message(
        guid=new_guid(), content=content, date_created=now, is_from_me=True, is_sent=True,
        part_count=part_count, is_audio_message=audio,
    )
    # Delivered at once unless a test holds deliveries to report them itself.
    if emu.deliver_sends:
        message.is_delivered = True
        message.date_delivered.CopyFrom(now)
    if subject:
        message.subject = subject
    if effect_id:
        message.content.expressive_send_style_id = effect_id
    if reply_to is not None:
        apply_reply(line, chat, message, reply_to)
    sender = line.self_info()
    if sender is not None:
        message.sender.CopyFrom(sender)
        message.destination_caller_id = sender.address
    emu.charge(line, chat, content.text)
    return line.add_message(chat, message, sender)


def apply_reply(line: LineState, chat: ChatRecord, message: messages_pb2.Message,
                reply_to: messages_pb2.ReplyTarget) -> None:
    """Point ``message`` at the message it answers (and that message's thread)."""
    target = message_in_chat(line, chat, reply_to.message_guid)
    part = reply_to.target_part_index if reply_to.HasField("target_part_index") else 0
    message.reply_target_guid = target.guid
    message.reply_to_guid = target.guid
    if target.HasField("thread_originator_guid"):
        message.thread_originator_guid = target.thread_originator_guid
        message.thread_originator_part = target.thread_originator_part
    else:
        message.thread_originator_guid = target.guid
        message.thread_originator_part = f"{part}:0:{len(target.content.text)}"


MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
_TOKEN_PREFIX = "before-arrival:"


def page(items: list[messages_pb2.Message], page_size: int | None, token: str | None,
         arrival: Mapping[str, int]) -> tuple[list[messages_pb2.Message], str | None]:
    """One page of ``items`` (newest first; copies) and the token of the next page.

    ``page_size`` (None: absent) must be 1 to 100, as the service requires. A token names
    the last message handed out (by arrival), not an offset, so that messages arriving
    between two page requests neither repeat nor skip an item.
    """
    if page_size is None:
        size = DEFAULT_PAGE_SIZE
    elif not 1 <= page_size <= MAX_PAGE_SIZE:
        raise invalid(f"page_size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}",
                      field="page_size")
    else:
        size = page_size
    start = 0
    if token:
        marker = _page_marker(token)
        start = next((i for i, m in enumerate(items) if arrival.get(m.guid, -1) < marker),
                     len(items))
    chunk = items[start:start + size]
    out = []
    for m in chunk:
        c = messages_pb2.Message()
        c.CopyFrom(m)
        out.append(c)
    more = chunk and start + size < len(items)
    return out, (f"{_TOKEN_PREFIX}{arrival[chunk[-1].guid]}" if more else None)


def _page_marker(token: str) -> int:
    if token.startswith(_TOKEN_PREFIX):
        try:
            return int(token[len(_TOKEN_PREFIX):])
        except ValueError:
            pass
    raise invalid(f"bad page token {token!r}", field="page_token")


FORMAT_TYPES = ("bold", "italic", "underline", "strikethrough", "effect")


def check_formatting(text: str, formats: Iterable[messages_pb2.TextFormat], field: str,
                     ) -> None:
    """Formatting ranges must name a known style and lie inside ``text`` (UTF-16 units)."""
    total = len(text.encode("utf-16-le")) // 2
    for fmt in formats:
        if fmt.type not in FORMAT_TYPES:
            raise invalid(f"unknown text format type {fmt.type!r}", field=field)
        if fmt.type == "effect" and not fmt.effect_name:
            raise invalid("an 'effect' format needs its effect_name", field=field)
        if fmt.start < 0 or fmt.length < 1 or fmt.start + fmt.length > total:
            raise invalid(f"{fmt.type} range start={fmt.start} length={fmt.length} is outside "
                          f"the text ({total} UTF-16 code units)", field=field)
