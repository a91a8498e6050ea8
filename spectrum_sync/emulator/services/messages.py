"""MessageService: sends, edits, unsends, reactions, lookups and the message event stream."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import empty_pb2
from google.protobuf.message import Message as ProtoMessage
from google.protobuf.timestamp_pb2 import Timestamp

from spectrum_sync._proto import attachments_pb2, common_pb2, messages_pb2
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.errors import invalid, not_found, precondition
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.guids import new_guid
from spectrum_sync.emulator.services.common import (
    Service,
    chat_filter,
    chat_of,
    check_formatting,
    live_frames,
    matches_chat,
    message_in_chat,
    outgoing_message,
    page,
    writable_chat,
)
from spectrum_sync.emulator.state import ChatRecord, LineState, copy

_KIND = messages_pb2.MessageReactionKind
#: The balloon of a rich link preview, and the links it previews.
URL_BALLOON = "com.apple.messages.URLBalloonProvider"
_LINK = re.compile(r"https?://\S", re.IGNORECASE)


def _reply(request: ProtoMessage) -> messages_pb2.ReplyTarget | None:
    return getattr(request, "reply_to") if request.HasField("reply_to") else None  # noqa: B009


def attachment_for(line: LineState, ref: messages_pb2.AttachmentRef,
                   ) -> attachments_pb2.AttachmentInfo:
    """The info of an uploaded attachment named by ``ref`` (as sent: outgoing)."""
    source = ref.WhichOneof("source")
    if source == "attachment_path":
        raise invalid("attachment_path is not available here: upload the file first",
                      field="attachment")
    if source != "attachment_guid" or not ref.attachment_guid:
        raise invalid("attachment_guid is required", field="attachment")
    record = line.attachments.get(ref.attachment_guid)
    if record is None:
        raise not_found("attachmentNotFound", f"attachment {ref.attachment_guid!r} not found",
                        attachmentGuid=ref.attachment_guid)
    info = copy(record.info)
    info.is_outgoing = True
    if ref.HasField("attachment_name") and ref.attachment_name:
        info.file_name = ref.attachment_name
    return info


class MessageService(Service):
    """photon.imessage.v1.MessageService."""

    def SendTextMessage(self, request: messages_pb2.SendTextMessageRequest, call: Call,
                        ) -> messages_pb2.MessageResponse:
        chat = writable_chat(call.line, request.chat_guid)
        if not request.text:
            raise invalid("text is empty", field="text")
        check_formatting(request.text, request.formatting, "formatting")
        content = messages_pb2.MessageContent(text=request.text, formatting=request.formatting)
        if request.enable_link_preview and _LINK.search(request.text):
            # A rich link is Apple's URL balloon (docs/behaviour.md, "Link previews").
            content.balloon_bundle_id = URL_BALLOON
        message = outgoing_message(
            self.emu, call.line, chat, content, subject=request.subject or None,
            effect_id=request.effect_id or None, reply_to=_reply(request))
        return messages_pb2.MessageResponse(message=message)

    def SendAttachmentMessage(self, request: messages_pb2.SendAttachmentMessageRequest,
                              call: Call) -> messages_pb2.MessageResponse:
        chat = writable_chat(call.line, request.chat_guid)
        info = attachment_for(call.line, request.attachment)
        content = messages_pb2.MessageContent(attachments=[info])
        message = outgoing_message(self.emu, call.line, chat, content,
                                   effect_id=request.effect_id or None, reply_to=_reply(request),
                                   audio=request.is_audio_message)
        return messages_pb2.MessageResponse(message=message)

    def SendMultipartMessage(self, request: messages_pb2.SendMultipartMessageRequest,
                             call: Call) -> messages_pb2.MessageResponse:
        chat = writable_chat(call.line, request.chat_guid)
        if not request.parts:
            raise invalid("parts is empty", field="parts")
        content = messages_pb2.MessageContent()
        text = ""
        for index, part in enumerate(request.parts):
            if part.HasField("attachment"):
                content.attachments.append(attachment_for(call.line, part.attachment))
            elif part.HasField("text") and part.text:
                check_formatting(part.text, part.formatting, f"parts[{index}].formatting")
                offset = len(text.encode("utf-16-le")) // 2
                for fmt in part.formatting:
                    shifted = content.formatting.add()
                    shifted.CopyFrom(fmt)
                    shifted.start += offset
                if part.HasField("mentioned_address") and part.mentioned_address:
                    content.mentions.add(address=part.mentioned_address, start=offset,
                                         length=len(part.text.encode("utf-16-le")) // 2)
                text += part.text
            else:
                raise invalid(f"part {index} has neither text nor attachment", field="parts")
        if text:
            content.text = text
        message = outgoing_message(
            self.emu, call.line, chat, content, subject=request.subject or None,
            effect_id=request.effect_id or None, part_count=len(request.parts),
            reply_to=_reply(request))
        call.line.parts[message.guid] = [p.text if p.HasField("text") else ""
                                         for p in request.parts]
        return messages_pb2.MessageResponse(message=message)

    def _own_message(self, call: Call, target: messages_pb2.MessageTarget,
                     ) -> tuple[str, messages_pb2.Message]:
        chat = chat_of(call.line, target.chat_guid)
        message = message_in_chat(call.line, chat, target.message_guid)
        if not message.is_from_me:
            raise precondition("only messages sent by this line can be changed")
        if message.HasField("date_retracted"):
            raise precondition("the message was unsent")
        target_part(message, target)
        return chat.guid, message

    def EditMessage(self, request: messages_pb2.EditMessageRequest, call: Call,
                    ) -> messages_pb2.MessageResponse:
        if not request.new_text:
            raise invalid("new_text is empty", field="new_text")
        chat_guid, message = self._own_message(call, request.target)
        now = self.emu.clock.timestamp()
        part = target_part(message, request.target)
        bubbles = call.line.parts.get(message.guid)
        if part is not None and bubbles is not None:
            if not bubbles[part]:
                raise precondition(f"part {part} is not a text bubble (or was unsent)")
            bubbles[part] = request.new_text
            message.content.text = "".join(bubbles)
        else:
            message.content.text = request.new_text
        message.date_edited.CopyFrom(now)
        call.line.publish_change(
            eventlog.MESSAGE, chat_guid, now, call.line.self_info(), True, "message_edited",
            messages_pb2.MessageEdited(message_guid=message.guid, content=message.content,
                                       edited_at=now))
        return messages_pb2.MessageResponse(message=copy(message))

    def UnsendMessage(self, request: messages_pb2.UnsendMessageRequest, call: Call,
                      ) -> empty_pb2.Empty:
        chat_guid, message = self._own_message(call, request.target)
        now = self.emu.clock.timestamp()
        part = target_part(message, request.target)
        bubbles = call.line.parts.get(message.guid)
        if part is not None and bubbles is not None and sum(map(bool, bubbles)) > 1:
            # One bubble retracted: the others stay, seen as an edit of the message.
            bubbles[part] = ""
            message.content.text = "".join(bubbles)
            message.date_edited.CopyFrom(now)
            call.line.publish_change(
                eventlog.MESSAGE, chat_guid, now, call.line.self_info(), True,
                "message_edited", messages_pb2.MessageEdited(
                    message_guid=message.guid, content=message.content, edited_at=now))
            return empty_pb2.Empty()
        message.content.Clear()
        message.date_retracted.CopyFrom(now)
        call.line.publish_change(
            eventlog.MESSAGE, chat_guid, now, call.line.self_info(), True, "message_unsent",
            messages_pb2.MessageUnsent(message_guid=message.guid, retracted_at=now))
        return empty_pb2.Empty()

    def SetReaction(self, request: messages_pb2.SetReactionRequest, call: Call,
                    ) -> messages_pb2.MessageResponse:
        reaction = request.reaction
        if reaction.kind == _KIND.MESSAGE_REACTION_KIND_STICKER:
            raise invalid("STICKER is not a tapback: use PlaceSticker", field="reaction")
        if reaction.kind == _KIND.MESSAGE_REACTION_KIND_EMOJI and not reaction.emoji:
            raise invalid("an EMOJI reaction needs its emoji", field="reaction")
        if reaction.kind not in _KIND.values():
            raise invalid(f"unknown reaction kind {reaction.kind}", field="reaction")
        target = request.target
        chat = chat_of(call.line, target.chat_guid)
        message = message_in_chat(call.line, chat, target.message_guid)
        part = target_part(message, target)
        row = apply_reaction(self.emu.clock.timestamp(), call.line, chat.guid, message,
                             reaction, part, request.is_set)
        return messages_pb2.MessageResponse(message=row)

    def PlaceSticker(self, request: messages_pb2.PlaceStickerRequest, call: Call,
                     ) -> messages_pb2.MessageResponse:
        target = request.target
        chat = chat_of(call.line, target.chat_guid)
        message = message_in_chat(call.line, chat, target.message_guid)
        part = target_part(message, target)
        if not request.HasField("placement"):
            raise invalid("placement is required", field="placement")
        info = attachment_for(call.line, request.sticker)
        info.is_sticker = True
        row = place_sticker(self.emu.clock.timestamp(), call.line, chat.guid, message, info,
                            request.placement, part)
        return messages_pb2.MessageResponse(message=row)

    def NotifySilencedMessage(self, request: messages_pb2.NotifySilencedMessageRequest,
                              call: Call) -> empty_pb2.Empty:
        chat = chat_of(call.line, request.chat_guid)
        message = message_in_chat(call.line, chat, request.message_guid)
        if not message.is_from_me:
            raise precondition("only messages sent by this line can notify anyway")
        message.did_notify_recipient = True
        return empty_pb2.Empty()

    def GetEmbeddedMedia(self, request: messages_pb2.GetEmbeddedMediaRequest, call: Call,
                         ) -> messages_pb2.GetEmbeddedMediaResponse:
        chat = chat_of(call.line, request.chat_guid)
        message = message_in_chat(call.line, chat, request.message_guid)
        media = call.line.embedded_media.get(message.guid)
        if media is None:
            raise precondition(f"message {message.guid!r} carries no embedded media")
        return messages_pb2.GetEmbeddedMediaResponse(
            media=messages_pb2.EmbeddedMedia(data=media[0], mime_type=media[1]))

    def SendCustomizedMiniAppMessage(
        self, request: messages_pb2.SendCustomizedMiniAppMessageRequest, call: Call,
    ) -> messages_pb2.MessageResponse:
        chat = writable_chat(call.line, request.chat_guid)
        return self._card(call, chat, request, None)

    def UpdateCustomizedMiniAppMessage(
        self, request: messages_pb2.UpdateCustomizedMiniAppMessageRequest, call: Call,
    ) -> messages_pb2.MessageResponse:
        session = request.session
        chat = writable_chat(call.line, session.chat_guid)
        first = call.line.card_sessions.get(session.session_id)
        if first is None or first != (session.target_message_guid or first):
            raise not_found("messageNotFound", f"no app card session {session.session_id!r}",
                            sessionId=session.session_id)
        message_in_chat(call.line, chat, session.message_guid)
        return self._card(call, chat, request, session.session_id)

    def _card(self, call: Call, chat: ChatRecord,
              request: messages_pb2.SendCustomizedMiniAppMessageRequest
              | messages_pb2.UpdateCustomizedMiniAppMessageRequest,
              session_id: str | None) -> messages_pb2.MessageResponse:
        check_card(request)
        session = session_id or new_guid()
        layout: Any = request.layout
        shown = messages_pb2.MiniAppLayoutInfo(**{
            name: getattr(layout, name) for name in _LAYOUT_TEXT if layout.HasField(name)})
        mini_app = messages_pb2.MiniAppContent(
            team_id=request.team_id, extension_bundle_id=request.extension_bundle_id,
            app_name=request.app_name, url=request.url, session_id=session,
            live=request.live, layout=shown)
        if request.HasField("app_store_id"):
            mini_app.app_store_id = request.app_store_id
        content = messages_pb2.MessageContent(
            mini_app=mini_app, balloon_bundle_id=(
                f"{_BALLOON_PLUGIN}:{request.team_id}:{request.extension_bundle_id}"))
        message = outgoing_message(self.emu, call.line, chat, content)
        first = call.line.card_sessions.setdefault(session, message.guid)
        return messages_pb2.MessageResponse(
            message=message, mini_app_card_session=messages_pb2.MiniAppCardSession(
                message_guid=message.guid, chat_guid=chat.guid, session_id=session,
                target_message_guid=first))

    def GetMessage(self, request: messages_pb2.GetMessageRequest, call: Call,
                   ) -> messages_pb2.GetMessageResponse:
        return messages_pb2.GetMessageResponse(message=copy(call.line.message(
            request.message_guid)))

    def ListRecentMessages(self, request: messages_pb2.ListRecentMessagesRequest, call: Call,
                           ) -> messages_pb2.ListRecentMessagesResponse:
        line = call.line
        items = _filtered((line.messages[g] for g in reversed(line.order)), request)
        messages, token = page(items, _page_size(request), request.page_token, line.arrival)
        out = messages_pb2.ListRecentMessagesResponse(messages=messages)
        if token:
            out.next_page_token = token
        return out

    def ListChatMessages(self, request: messages_pb2.ListChatMessagesRequest, call: Call,
                         ) -> messages_pb2.ListChatMessagesResponse:
        line = call.line
        chat = chat_of(line, request.chat_guid)
        items = _filtered((line.messages[g] for g in reversed(chat.message_guids)), request)
        messages, token = page(items, _page_size(request), request.page_token, line.arrival)
        out = messages_pb2.ListChatMessagesResponse(messages=messages)
        if token:
            out.next_page_token = token
        return out

    def SubscribeMessageEvents(self, request: messages_pb2.SubscribeMessageEventsRequest,
                               call: Call) -> Iterable[ProtoMessage]:
        key = chat_filter(request.chat_guid if request.HasField("chat_guid") else None)
        return live_frames(self.emu, call, eventlog.MESSAGE,
                           messages_pb2.SubscribeMessageEventsResponse, "message_changed",
                           lambda e: matches_chat(e, key))


def _page_size(request: messages_pb2.ListRecentMessagesRequest
               | messages_pb2.ListChatMessagesRequest) -> int | None:
    return request.page_size if request.HasField("page_size") else None


def _filtered(messages: Iterable[messages_pb2.Message],
              request: messages_pb2.ListRecentMessagesRequest
              | messages_pb2.ListChatMessagesRequest) -> list[messages_pb2.Message]:
    out = []
    for m in messages:
        if request.HasField("is_from_me") and m.is_from_me != request.is_from_me:
            continue
        if request.HasField("is_read") and m.HasField("date_read") != request.is_read:
            continue
        created = m.date_created.ToNanoseconds()
        if request.HasField("before") and created >= request.before.ToNanoseconds():
            continue
        if request.HasField("after") and created < request.after.ToNanoseconds():
            continue
        out.append(m)
    return out


def apply_reaction(now: Timestamp, line: LineState, chat_guid: str,
                   message: messages_pb2.Message, reaction: messages_pb2.MessageReaction,
                   part: int | None, is_set: bool,
                   sender: common_pb2.SingleServiceAddressInfo | None = None,
                   ) -> messages_pb2.Message:
    """Add or remove a tapback on ``message``; publish the event; return the tapback row.

    ``sender=None`` means the line itself reacts; otherwise that participant does.
    """
    from_me = sender is None
    who = "" if sender is None else sender.address
    if sender is None:
        sender = line.self_info()

    def same(r: messages_pb2.MessageAppliedReaction) -> bool:
        owner = "" if r.is_from_me else r.sender.address
        return owner == who and r.reaction.kind == reaction.kind and (
            r.reaction.emoji == reaction.emoji)

    kept = [r for r in message.applied_reactions if not same(r)]
    del message.applied_reactions[:]
    message.applied_reactions.extend(kept)
    if is_set:
        applied = message.applied_reactions.add(message_guid=message.guid, reaction=reaction,
                                                is_from_me=from_me, date_created=now)
        if part is not None:
            applied.target_part_index = part
        if sender is not None:
            applied.sender.CopyFrom(sender)
    change = messages_pb2.MessageReactionAdded if is_set else messages_pb2.MessageReactionRemoved
    payload = change(message_guid=message.guid, reaction=reaction)
    if part is not None:
        payload.target_part_index = part
    line.publish_change(eventlog.MESSAGE, chat_guid, now, sender, from_me,
                        "reaction_added" if is_set else "reaction_removed", payload)
    # Real servers always fill `content` (empty for a tapback row); clients rely on it.
    row = messages_pb2.Message(
        guid=new_guid(), content=messages_pb2.MessageContent(), date_created=now,
        is_from_me=from_me, is_sent=from_me, reaction_target_guid=message.guid,
        reaction=reaction, reaction_selected=is_set, chat_guids=[chat_guid])
    if part is not None:
        row.reaction_target_part_index = part
    if sender is not None:
        row.sender.CopyFrom(sender)
    line.messages[row.guid] = row
    line.message_chat[row.guid] = chat_guid
    return copy(row)


_LAYOUT_TEXT = ("caption", "subcaption", "trailing_caption", "trailing_subcaption",
                "image_title", "image_subtitle", "summary")
_BALLOON_PLUGIN = "com.apple.messages.MSMessageExtensionBalloonPlugin"


def check_card(request: messages_pb2.SendCustomizedMiniAppMessageRequest
               | messages_pb2.UpdateCustomizedMiniAppMessageRequest) -> None:
    """The service's rules for a card: its app named, a URL, and a layout with a caption or
    an image (JPEG), ``image`` with ``image_title``, ``image_subtitle`` only with an image."""
    for name in ("extension_bundle_id", "app_name", "url"):
        if not getattr(request, name):
            raise invalid(f"{name} is required", field=name)
    if not re.fullmatch(r"[A-Z0-9]{10}", request.team_id):
        raise invalid("team_id must be a 10-character upper-case Apple team id",
                      field="team_id")
    if ":" in request.extension_bundle_id:
        raise invalid("extension_bundle_id must not contain ':'", field="extension_bundle_id")
    if not request.HasField("layout"):
        raise invalid("layout is required", field="layout")
    layout: Any = request.layout
    for name in _LAYOUT_TEXT:
        if layout.HasField(name) and not getattr(layout, name):
            raise invalid(f"layout.{name} is empty", field=f"layout.{name}")
    has_image = layout.HasField("image")
    if not (has_image or any(layout.HasField(n) for n in (
            "caption", "subcaption", "trailing_caption", "trailing_subcaption"))):
        raise invalid("layout must set at least one of caption, subcaption, "
                      "trailing_caption, trailing_subcaption, image", field="layout")
    if has_image != layout.HasField("image_title"):
        raise invalid("layout.image and layout.image_title must be set together",
                      field="layout.image_title")
    if layout.HasField("image_subtitle") and not has_image:
        raise invalid("layout.image_subtitle requires layout.image",
                      field="layout.image_subtitle")
    if has_image and not layout.image.startswith(b"\xff\xd8"):
        raise invalid("layout.image must be a JPEG", field="layout.image")


def target_part(message: messages_pb2.Message,
                target: messages_pb2.MessageTarget) -> int | None:
    """The bubble a target names (INVALID_ARGUMENT past the message's parts)."""
    if not target.HasField("target_part_index"):
        return None
    part = target.target_part_index
    count = message.part_count if message.HasField("part_count") else 1
    if not 0 <= part < max(count, 1):
        raise invalid(f"target_part_index {part} is outside the message's {count} part(s)",
                      field="target_part_index")
    return part


def place_sticker(now: Timestamp, line: LineState, chat_guid: str,
                  message: messages_pb2.Message, sticker: attachments_pb2.AttachmentInfo,
                  placement: messages_pb2.StickerPlacement, part: int | None,
                  sender: common_pb2.SingleServiceAddressInfo | None = None,
                  ) -> messages_pb2.Message:
    """Put a sticker on ``message`` (by the line, or by ``sender``); publish the event;
    return the sticker's own row."""
    if not (0.0 <= placement.x <= 1.0 and 0.0 <= placement.y <= 1.0):
        raise invalid("placement x and y must be between 0 and 1", field="placement")
    from_me = sender is None
    who = line.self_info() if sender is None else sender
    placed = message.placed_stickers.add(message_guid=message.guid, is_from_me=from_me,
                                         date_created=now, sticker=sticker,
                                         placement=placement)
    body = messages_pb2.StickerPlaced(message_guid=message.guid, sticker=sticker,
                                      placement=placement)
    if part is not None:
        placed.target_part_index = part
        body.target_part_index = part
    if who is not None:
        placed.sender.CopyFrom(who)
    line.publish_change(eventlog.MESSAGE, chat_guid, now, who, from_me, "sticker_placed", body)
    row = messages_pb2.Message(
        guid=new_guid(), content=messages_pb2.MessageContent(attachments=[sticker]),
        date_created=now, is_from_me=from_me, is_sent=from_me, chat_guids=[chat_guid],
        reaction_target_guid=message.guid, reaction=messages_pb2.MessageReaction(
            kind=_KIND.MESSAGE_REACTION_KIND_STICKER), reaction_selected=True)
    if who is not None:
        row.sender.CopyFrom(who)
    line.messages[row.guid] = row
    line.message_chat[row.guid] = chat_guid
    return copy(row)
