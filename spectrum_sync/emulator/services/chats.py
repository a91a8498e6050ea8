"""ChatService: chat creation and lookup, read state, typing, backgrounds, chat events."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import empty_pb2
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.errors import unsupported
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.services.common import (
    Service,
    addresses,
    chat_filter,
    chat_of,
    live_frames,
    matches_chat,
    outgoing_message,
)
from spectrum_sync.emulator.state import ChatRecord


class ChatService(Service):
    """photon.imessage.v1.ChatService."""

    def CreateChat(self, request: chats_pb2.CreateChatRequest, call: Call,
                   ) -> chats_pb2.CreateChatResponse:
        line = call.line
        wanted = [a for a in addresses(request.addresses) if a != line.number]
        if not wanted:
            raise unsupported("a chat needs someone other than the line itself")
        known = len(line.chats)
        if len(wanted) == 1:
            chat = line.ensure_dm(wanted[0])
        elif self.emu.plan == "shared":
            raise unsupported("shared mode cannot create group chats")
        else:
            chat = line.new_group(wanted)
        if len(line.chats) > known and request.service:
            chat.service = request.service  # a new chat takes the service asked for
        out = chats_pb2.CreateChatResponse()
        if request.HasField("initial_message"):
            initial = request.initial_message
            message = outgoing_message(
                self.emu, line, chat, messages_pb2.MessageContent(text=initial.text),
                subject=initial.subject or None, effect_id=initial.effect_id or None)
            out.initial_message.CopyFrom(message)
        out.chat.CopyFrom(line.chat_proto(chat, self.emu.directory))
        return out

    def GetChat(self, request: chats_pb2.GetChatRequest, call: Call,
                ) -> chats_pb2.GetChatResponse:
        chat = chat_of(call.line, request.chat_guid)
        return chats_pb2.GetChatResponse(chat=call.line.chat_proto(chat, self.emu.directory))

    def GetChatCount(self, request: chats_pb2.GetChatCountRequest, call: Call,
                     ) -> chats_pb2.GetChatCountResponse:
        chats = call.line.chats.values()
        return chats_pb2.GetChatCountResponse(count=sum(
            1 for chat in chats if request.include_archived or not chat.archived))

    def MarkChatRead(self, request: chats_pb2.MarkChatReadRequest, call: Call,
                     ) -> empty_pb2.Empty:
        line = call.line
        chat = chat_of(line, request.chat_guid)
        now = self.emu.clock.timestamp()
        for guid in chat.message_guids:
            message = line.messages[guid]
            if not message.is_from_me and not message.HasField("date_read"):
                message.date_read.CopyFrom(now)
        chat.unread = 0
        self._chat_event(call, chat, "marked_read", chats_pb2.ChatMarkedRead())
        return empty_pb2.Empty()

    def SetTyping(self, request: chats_pb2.SetTypingRequest, call: Call) -> empty_pb2.Empty:
        chat = chat_of(call.line, request.chat_guid)
        self.emu.note_typing(call.line, chat.guid, request.is_typing, from_me=True)
        return empty_pb2.Empty()

    def ShareContactInfo(self, request: chats_pb2.ShareContactInfoRequest, call: Call,
                         ) -> empty_pb2.Empty:
        chat_of(call.line, request.chat_guid)
        return empty_pb2.Empty()

    def SetBackground(self, request: chats_pb2.SetBackgroundRequest, call: Call,
                      ) -> empty_pb2.Empty:
        chat = chat_of(call.line, request.chat_guid)
        chat.background = bytes(request.data)
        self._chat_event(call, chat, "background_changed", chats_pb2.ChatBackgroundChanged())
        return empty_pb2.Empty()

    def RemoveBackground(self, request: chats_pb2.RemoveBackgroundRequest, call: Call,
                         ) -> empty_pb2.Empty:
        chat = chat_of(call.line, request.chat_guid)
        chat.background = None
        self._chat_event(call, chat, "background_removed", chats_pb2.ChatBackgroundRemoved())
        return empty_pb2.Empty()

    def HasBackground(self, request: chats_pb2.HasBackgroundRequest, call: Call,
                      ) -> chats_pb2.HasBackgroundResponse:
        chat = chat_of(call.line, request.chat_guid)
        return chats_pb2.HasBackgroundResponse(background_present=chat.background is not None)

    def SubscribeChatEvents(self, request: chats_pb2.SubscribeChatEventsRequest, call: Call,
                            ) -> Iterable[ProtoMessage]:
        key = chat_filter(request.chat_guid if request.HasField("chat_guid") else None)
        return live_frames(self.emu, call, eventlog.CHAT, chats_pb2.SubscribeChatEventsResponse,
                           "chat_changed", lambda e: matches_chat(e, key))

    def _chat_event(self, call: Call, chat: ChatRecord, change: str,
                    payload: ProtoMessage) -> None:
        call.line.publish_change(eventlog.CHAT, chat.guid, self.emu.clock.timestamp(),
                                 call.line.self_info(), True, change, payload)
