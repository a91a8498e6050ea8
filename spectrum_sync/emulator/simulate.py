"""The control API's "other side": inbound messages, reactions, edits, reads, group and poll
changes made by the people a line talks to, plus raw event injection for receive-loop tests.

:class:`RemoteParties` is owned by :class:`~spectrum_sync.emulator.Emulator`, which delegates
its ``simulate_*`` methods to it; every method takes ``line=`` (number or instance id;
default: the first line, or the shared pool).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Optional

from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import (
    chats_pb2,
    common_pb2,
    groups_pb2,
    messages_pb2,
    polls_pb2,
)
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.addresses import AddressDirectory, normalize_address
from spectrum_sync.emulator.clock import Clock
from spectrum_sync.emulator.errors import control_errors
from spectrum_sync.emulator.guids import DM, new_guid, parse_chat_guid
from spectrum_sync.emulator.reactions import reaction_for
from spectrum_sync.emulator.services.attachments import store_attachment
from spectrum_sync.emulator.services.common import apply_reply
from spectrum_sync.emulator.services.messages import apply_reaction, place_sticker
from spectrum_sync.emulator.services.polls import poll_info, publish_poll_change
from spectrum_sync.emulator.state import ChatRecord, LineState, PollRecord

GROUP_CHANGES = ("rename", "participant_added", "participant_removed", "participant_left",
                 "icon_changed", "icon_removed")


LineLookup = Callable[[Optional[str]], LineState]
TypingLog = Callable[[LineState, str, bool, bool], None]


class RemoteParties:
    """Acts as the people the lines talk to: every change is made under the emulator's lock
    and published on the line's event log, exactly as a change made through gRPC is.

    ``line`` finds a line by number or instance id (``None``: the first one);
    ``note_typing(line, chat_guid, is_typing, from_me)`` records a typing indicator.
    """

    def __init__(self, lock: threading.RLock, clock: Clock, directory: AddressDirectory,
                 line: LineLookup, note_typing: TypingLog) -> None:
        self.lock = lock
        self.clock = clock
        self.directory = directory
        self._line = line
        self._note_typing = note_typing

    # ----- helpers ------------------------------------------------------------------------

    def _chat_for(self, line: LineState, sender: str | None, chat: str | None) -> ChatRecord:
        """``chat`` (created when missing, sender joined to a group) or the sender's DM."""
        if chat is None:
            if sender is None:
                raise ValueError("either a chat or a sender is needed")
            return line.ensure_dm(sender)
        key = parse_chat_guid(chat)
        found = line.find_chat(key)
        if found is None:
            if key.kind == DM:
                found = line.ensure_dm(normalize_address(key.identifier))
            else:
                found = line.new_group([sender] if sender else [], key.identifier,
                                       chat.split(";", 1)[0])
        if sender and found.is_group and sender not in found.participants:
            found.participants.append(sender)
        return found

    def _locate(self, message_guid: str, line: str | None,
                ) -> tuple[LineState, ChatRecord, messages_pb2.Message]:
        ln = self._line(line)
        message = ln.message(message_guid)
        chat_guid = ln.message_chat[message_guid]
        return ln, ln.chat(parse_chat_guid(chat_guid), chat_guid), message

    def _sender(self, address: str) -> tuple[str, common_pb2.SingleServiceAddressInfo]:
        with control_errors():
            canonical = normalize_address(address)
        return canonical, self.directory.sender_info(canonical)

    # ----- messages -----------------------------------------------------------------------

    def simulate_inbound(
        self, from_: str, text: str | None = None, *, line: str | None = None,
        chat: str | None = None, attachment: tuple[str, bytes] | None = None,
        subject: str | None = None, reply_to: str | None = None,
        effect_id: str | None = None, forward_attachment: str | None = None,
        audio: bool = False, formatting: Sequence[tuple[str, int, int]] = (),
        mentions: Sequence[tuple[str, int, int]] = (),
    ) -> str:
        """A message from ``from_`` arrives on ``line``: in their DM, or in group ``chat``.

        ``attachment=(file_name, data)`` adds a file, ``forward_attachment=guid`` a copy of
        a file the line holds. Returns the message guid.
        """
        if not text and attachment is None and forward_attachment is None:
            raise ValueError("an inbound message needs text or an attachment")
        if (formatting or mentions) and not text:
            raise ValueError("formatting and mentions need a text")
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, sender, chat)
            now = self.clock.timestamp()
            message = messages_pb2.Message(
                guid=new_guid(), date_created=now, date_delivered=now, is_delivered=True,
                sender=info, part_count=1)
            if text:
                message.content.text = text
            if attachment is not None:
                stored = store_attachment(ln, attachment[0], attachment[1], outgoing=False)
                message.content.attachments.append(stored.info)
            if forward_attachment is not None:
                original = ln.attachments.get(forward_attachment)
                if original is None:
                    raise KeyError(f"no attachment {forward_attachment!r} on line {ln.name}")
                stored = store_attachment(ln, original.info.file_name, original.data,
                                          outgoing=False)
                message.content.attachments.append(stored.info)
            for kind, start, length in formatting:
                message.content.formatting.add(type=kind, start=start, length=length)
            for address, start, length in mentions:
                message.content.mentions.add(address=normalize_address(address), start=start,
                                             length=length)
            if audio:
                message.is_audio_message = True
            if subject:
                message.subject = subject
            if effect_id:
                message.content.expressive_send_style_id = effect_id
            if ln.number:
                message.destination_caller_id = ln.number
            if reply_to:
                apply_reply(ln, record, message,
                            messages_pb2.ReplyTarget(message_guid=reply_to))
            ln.add_message(record, message, info)
            return message.guid

    def simulate_reaction(self, from_: str, message_guid: str, emoji_or_kind: str | int,
                          remove: bool = False, *, line: str | None = None,
                          part: int | None = None) -> str:
        """``from_`` adds (or with ``remove=True`` removes) a tapback; returns its row guid."""
        _, info = self._sender(from_)
        reaction = reaction_for(emoji_or_kind)
        with self.lock, control_errors():
            ln, chat, message = self._locate(message_guid, line)
            row = apply_reaction(self.clock.timestamp(), ln, chat.guid, message, reaction, part,
                                 not remove, info)
            return row.guid

    def simulate_edit(self, message_guid: str, text: str, *, line: str | None = None) -> None:
        """The sender of an inbound message edits it."""
        with self.lock, control_errors():
            ln, chat, message = self._locate(message_guid, line)
            if message.is_from_me:
                raise ValueError("simulate_edit changes inbound messages; use EditMessage")
            now = self.clock.timestamp()
            message.content.text = text
            message.date_edited.CopyFrom(now)
            ln.publish_change(eventlog.MESSAGE, chat.guid, now, message.sender, False,
                              "message_edited", messages_pb2.MessageEdited(
                                  message_guid=message_guid, content=message.content,
                                  edited_at=now))

    def simulate_unsend(self, message_guid: str, *, line: str | None = None) -> None:
        """The sender of an inbound message unsends it."""
        with self.lock, control_errors():
            ln, chat, message = self._locate(message_guid, line)
            if message.is_from_me:
                raise ValueError("simulate_unsend retracts inbound messages; use UnsendMessage")
            now = self.clock.timestamp()
            message.content.Clear()
            message.date_retracted.CopyFrom(now)
            ln.publish_change(eventlog.MESSAGE, chat.guid, now, message.sender, False,
                              "message_unsent", messages_pb2.MessageUnsent(
                                  message_guid=message_guid, retracted_at=now))

    def simulate_read(self, message_guid: str, *, by: str | None = None,
                      line: str | None = None) -> None:
        """A recipient reads one of our messages (a read receipt: ``message_read``).

        As the live service sends it: ``is_from_me`` describes the message read (ours), and
        in a DM the ``actor`` is our own line, not the reader; in a group it is the reader.
        """
        with self.lock, control_errors():
            ln, chat, message = self._locate(message_guid, line)
            reader = normalize_address(by) if by else (
                chat.participants[0] if chat.participants else None)
            if chat.is_group:
                actor = self.directory.sender_info(reader) if reader else None
            else:
                actor = ln.self_info()
            now = self.clock.timestamp()
            message.date_read.CopyFrom(now)
            ln.publish_change(eventlog.MESSAGE, chat.guid, now, actor, message.is_from_me,
                              "message_read",
                              messages_pb2.MessageRead(message_guid=message_guid, read_at=now))

    def simulate_typing(self, from_: str, *, chat: str | None = None, typing: bool = True,
                        line: str | None = None) -> None:
        """``from_`` starts/stops typing. Typing is transient: it is only recorded."""
        sender, _ = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, sender, chat)
            self._note_typing(ln, record.guid, typing, False)

    # ----- groups -------------------------------------------------------------------------

    def simulate_group_change(
        self, chat: str, kind: str, *, actor: str | None = None,
        participant: str | None = None, name: str | None = None, icon: bytes | None = None,
        line: str | None = None,
    ) -> int:
        """A remote change of group ``chat`` (created when missing); returns its sequence.

        ``kind``: rename or display_name_changed (``name``), participant_added /
        participant_removed / participant_left (``participant``), icon_changed (``icon``),
        icon_removed.
        """
        kind = "rename" if kind == "display_name_changed" else kind
        if kind not in GROUP_CHANGES:
            raise ValueError(f"kind must be one of {GROUP_CHANGES}")
        actor_addr = self._sender(actor)[0] if actor else None
        who = self._sender(participant)[0] if participant else None
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, actor_addr, chat)
            if not record.is_group:
                raise ValueError(f"{chat!r} is not a group chat")
            change, payload = self._group_change(record, kind, who, name, icon)
            info = self.directory.sender_info(actor_addr) if actor_addr else None
            ln.publish_change(eventlog.GROUP, record.guid, self.clock.timestamp(), info, False,
                              change, payload)
            return ln.log.head

    def _group_change(self, record: ChatRecord, kind: str, who: str | None, name: str | None,
                      icon: bytes | None) -> tuple[str, ProtoMessage]:
        if kind == "rename":
            record.display_name = name or ""
            return "display_name_changed", groups_pb2.GroupDisplayNameChanged(
                display_name=record.display_name)
        if kind in ("icon_changed", "icon_removed"):
            record.icon = icon if kind == "icon_changed" else None
            record.icon_mime = "image/png" if icon else ""
            cls = groups_pb2.GroupIconChanged if icon else groups_pb2.GroupIconRemoved
            return kind, cls()
        if who is None:
            raise ValueError(f"{kind} needs participant=")
        info = self.directory.sender_info(who)
        if kind == "participant_added":
            if who not in record.participants:
                record.participants.append(who)
            return kind, groups_pb2.GroupParticipantAdded(participant=info)
        if who in record.participants:
            record.participants.remove(who)
        if kind == "participant_removed":
            return kind, groups_pb2.GroupParticipantRemoved(participant=info)
        return kind, groups_pb2.GroupParticipantLeft(participant=info)

    # ----- polls --------------------------------------------------------------------------

    def simulate_poll(self, from_: str, chat: str, title: str, options: Sequence[str], *,
                      line: str | None = None) -> str:
        """``from_`` creates a poll in ``chat``; returns the poll message guid."""
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, sender, chat)
            poll = PollRecord(new_guid(), record.guid, title, [
                polls_pb2.PollOption(text=t, option_identifier=new_guid(), creator_handle=sender)
                for t in options])
            ln.polls[poll.guid] = poll
            publish_poll_change(ln, self.clock, poll, info, False, "created",
                                polls_pb2.PollCreated(title=title, options=poll.options))
            return poll.guid

    def _poll(self, ln: LineState, poll_guid: str) -> PollRecord:
        poll = ln.polls.get(poll_guid)
        if poll is None:
            raise KeyError(f"no poll {poll_guid!r}")
        return poll

    def simulate_poll_vote(self, from_: str, poll_guid: str, option: str, *,
                           line: str | None = None) -> None:
        """``from_`` votes for ``option`` (its identifier or its text)."""
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            poll = self._poll(ln, poll_guid)
            option_id = _option_id(poll.options, option)
            poll.votes[sender] = option_id
            publish_poll_change(ln, self.clock, poll, info, False, "voted",
                                polls_pb2.PollVoted(option_identifier=option_id))

    def simulate_poll_unvote(self, from_: str, poll_guid: str, *,
                             line: str | None = None) -> None:
        """``from_`` withdraws their vote."""
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            poll = self._poll(ln, poll_guid)
            option_id = poll.votes.pop(sender, "")
            publish_poll_change(ln, self.clock, poll, info, False, "unvoted",
                                polls_pb2.PollUnvoted(option_identifier=option_id))

    def simulate_poll_option(self, from_: str, poll_guid: str, text: str, *,
                             line: str | None = None) -> str:
        """``from_`` adds an option; returns its identifier."""
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            poll = self._poll(ln, poll_guid)
            option = polls_pb2.PollOption(text=text, option_identifier=new_guid(),
                                          creator_handle=sender)
            poll.options.append(option)
            publish_poll_change(ln, self.clock, poll, info, False, "option_added",
                                polls_pb2.PollOptionAdded(title=poll.title, options=poll.options))
            return option.option_identifier

    def poll_info(self, poll_guid: str, *, line: str | None = None) -> polls_pb2.PollInfo:
        """The current state of a poll."""
        with self.lock, control_errors():
            ln = self._line(line)
            return poll_info(self._poll(ln, poll_guid), ln, self.directory)

    # ----- delivery state (no event: clients poll GetMessage) ------------------------------

    def set_delivery(self, message_guid: str, *, line: str | None = None,
                     delivered: bool = False, quietly: bool = False,
                     error_code: int | None = None, played: bool = False) -> None:
        """Change the delivery state of one of our messages, as Apple reports it."""
        with self.lock, control_errors():
            _, _, message = self._locate(message_guid, line)
            if not message.is_from_me:
                raise ValueError("delivery state belongs to messages the line sent")
            now = self.clock.timestamp()
            if delivered:
                message.is_delivered = True
                message.is_delivered_quietly = quietly
                message.date_delivered.CopyFrom(now)
            if error_code is not None:
                message.send_error_code = error_code
            if played:
                message.date_played.CopyFrom(now)

    # ----- stickers, cards, embedded media, chat events ----------------------------------

    def simulate_sticker(self, from_: str, message_guid: str, image: tuple[str, bytes], *,
                         part: int | None = None, x: float = 0.5, y: float = 0.5,
                         line: str | None = None) -> None:
        """``from_`` places the sticker ``image=(file_name, data)`` on a message."""
        _, info = self._sender(from_)
        with self.lock, control_errors():
            ln, chat, message = self._locate(message_guid, line)
            stored = store_attachment(ln, image[0], image[1], outgoing=False)
            stored.info.is_sticker = True
            place_sticker(self.clock.timestamp(), ln, chat.guid, message, stored.info,
                          messages_pb2.StickerPlacement(x=x, y=y), part, info)

    def simulate_app_card(self, from_: str, *, url: str, caption: str,
                          team_id: str = "TEAM123456", bundle_id: str = "com.example.app",
                          app_name: str = "Example", chat: str | None = None,
                          line: str | None = None) -> str:
        """``from_`` sends a mini-app card; returns the message guid."""
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, sender, chat)
            now = self.clock.timestamp()
            message = messages_pb2.Message(
                guid=new_guid(), date_created=now, sender=info, part_count=1,
                is_delivered=True, date_delivered=now)
            message.content.balloon_bundle_id = (
                f"com.apple.messages.MSMessageExtensionBalloonPlugin:{team_id}:{bundle_id}")
            message.content.mini_app.CopyFrom(messages_pb2.MiniAppContent(
                team_id=team_id, extension_bundle_id=bundle_id, app_name=app_name, url=url,
                session_id=new_guid(), layout=messages_pb2.MiniAppLayoutInfo(caption=caption)))
            ln.add_message(record, message, info)
            return message.guid

    def simulate_digital_touch(self, from_: str, data: bytes, mime_type: str = "image/png",
                               *, chat: str | None = None, line: str | None = None) -> str:
        """``from_`` sends a Digital Touch message (media embedded in the message, read
        with GetEmbeddedMedia); returns its guid."""
        sender, info = self._sender(from_)
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, sender, chat)
            now = self.clock.timestamp()
            message = messages_pb2.Message(
                guid=new_guid(), date_created=now, sender=info, part_count=1,
                is_delivered=True, date_delivered=now)
            message.content.balloon_bundle_id = "com.apple.DigitalTouchBalloonProvider"
            ln.embedded_media[message.guid] = (bytes(data), mime_type)
            ln.add_message(record, message, info)
            return message.guid

    def simulate_chat_event(self, chat: str, change: str, *, line: str | None = None) -> int:
        """A chat changes on one of the line's devices: ``change`` is marked_read,
        archived, unarchived, background_changed or background_removed. Returns its
        sequence."""
        payloads = {"marked_read": chats_pb2.ChatMarkedRead, "archived": chats_pb2.ChatArchived,
                    "unarchived": chats_pb2.ChatUnarchived,
                    "background_changed": chats_pb2.ChatBackgroundChanged,
                    "background_removed": chats_pb2.ChatBackgroundRemoved}
        if change not in payloads:
            raise ValueError(f"change must be one of {sorted(payloads)}")
        with self.lock, control_errors():
            ln = self._line(line)
            record = self._chat_for(ln, None, chat)
            if change in ("archived", "unarchived"):
                record.archived = change == "archived"
            elif change == "background_changed":
                record.background = record.background or b"background"
            elif change == "background_removed":
                record.background = None
            ln.publish_change(eventlog.CHAT, record.guid, self.clock.timestamp(),
                              ln.self_info(), True, change, payloads[change]())
            return ln.log.head

    # ----- raw events ---------------------------------------------------------------------

    def inject_raw_event(self, line: str | None = None, event: ProtoMessage | None = None, *,
                         family: str = eventlog.MESSAGE, chat_guid: str = "",
                         poll_guid: str = "") -> int:
        """Log any event as-is (e.g. a ``MessageChangeEvent`` with no ``change``; ``None``
        gives a frame with only a sequence). Returns its sequence."""
        if family not in eventlog.FAMILIES:
            raise ValueError(f"family must be one of {eventlog.FAMILIES}")
        with self.lock, control_errors():
            ln = self._line(line)
            return ln.publish(family, event, chat_guid, poll_guid).sequence


def _option_id(options: Iterable[polls_pb2.PollOption], option: str) -> str:
    for candidate in options:
        if option in (candidate.option_identifier, candidate.text):
            return candidate.option_identifier
    raise KeyError(f"no poll option {option!r}")
