"""GroupService: names, membership and icons of group chats, and group events."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import empty_pb2
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import chats_pb2, groups_pb2
from spectrum_sync.emulator import eventlog
from spectrum_sync.emulator.errors import invalid, not_found, precondition, unsupported
from spectrum_sync.emulator.gateway import Call
from spectrum_sync.emulator.services.common import (
    Service,
    addresses,
    chat_filter,
    chat_of,
    live_frames,
    matches_chat,
    writable_chat,
)
from spectrum_sync.emulator.state import ChatRecord

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def sniff_image(data: bytes) -> str:
    """The MIME type of an icon from its first bytes (HEIC/WebP included)."""
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class GroupService(Service):
    """photon.imessage.v1.GroupService (dedicated lines only, as in the cloud)."""

    def _group(self, call: Call, guid: str) -> ChatRecord:
        if self.emu.plan == "shared":
            raise unsupported("shared mode does not manage group chats")
        chat = writable_chat(call.line, guid)
        if not chat.is_group:
            raise unsupported(f"{guid!r} is not a group chat")
        return chat

    def _changed(self, call: Call, chat: ChatRecord, change: str,
                 payload: ProtoMessage) -> None:
        call.line.publish_change(eventlog.GROUP, chat.guid, self.emu.clock.timestamp(),
                                 call.line.self_info(), True, change, payload)

    def _chat(self, call: Call, chat: ChatRecord) -> chats_pb2.Chat:
        return call.line.chat_proto(chat, self.emu.directory)

    def SetDisplayName(self, request: groups_pb2.SetDisplayNameRequest, call: Call,
                       ) -> groups_pb2.SetDisplayNameResponse:
        chat = self._group(call, request.chat_guid)
        chat.display_name = request.display_name
        self._changed(call, chat, "display_name_changed",
                      groups_pb2.GroupDisplayNameChanged(display_name=request.display_name))
        return groups_pb2.SetDisplayNameResponse(chat=self._chat(call, chat))

    def AddParticipants(self, request: groups_pb2.AddParticipantsRequest, call: Call,
                        ) -> groups_pb2.AddParticipantsResponse:
        chat = self._group(call, request.chat_guid)
        for address in addresses(request.addresses):
            if address in chat.participants or address == call.line.number:
                continue
            chat.participants.append(address)
            self._changed(call, chat, "participant_added", groups_pb2.GroupParticipantAdded(
                participant=self.emu.directory.sender_info(address)))
        return groups_pb2.AddParticipantsResponse(chat=self._chat(call, chat))

    def RemoveParticipants(self, request: groups_pb2.RemoveParticipantsRequest, call: Call,
                           ) -> groups_pb2.RemoveParticipantsResponse:
        chat = self._group(call, request.chat_guid)
        wanted = addresses(request.addresses)
        missing = [a for a in wanted if a not in chat.participants]
        if missing:
            raise precondition(f"not in the group: {', '.join(missing)}")
        for address in wanted:
            chat.participants.remove(address)
            self._changed(call, chat, "participant_removed", groups_pb2.GroupParticipantRemoved(
                participant=self.emu.directory.sender_info(address)))
        return groups_pb2.RemoveParticipantsResponse(chat=self._chat(call, chat))

    def LeaveGroup(self, request: groups_pb2.LeaveGroupRequest, call: Call) -> empty_pb2.Empty:
        chat = self._group(call, request.chat_guid)
        chat.has_left = True
        me = groups_pb2.GroupParticipantLeft()
        own = call.line.self_info()
        if own is not None:
            me.participant.CopyFrom(own)
        self._changed(call, chat, "participant_left", me)
        return empty_pb2.Empty()

    def SetIcon(self, request: groups_pb2.SetIconRequest, call: Call) -> empty_pb2.Empty:
        chat = self._group(call, request.chat_guid)
        if not request.data:
            raise invalid("icon data is empty", field="data")
        chat.icon, chat.icon_mime = bytes(request.data), sniff_image(request.data)
        self._changed(call, chat, "icon_changed", groups_pb2.GroupIconChanged())
        return empty_pb2.Empty()

    def RemoveIcon(self, request: groups_pb2.RemoveIconRequest, call: Call) -> empty_pb2.Empty:
        chat = self._group(call, request.chat_guid)
        if chat.icon is not None:  # removing a missing icon is a no-op, without an event
            chat.icon, chat.icon_mime = None, ""
            self._changed(call, chat, "icon_removed", groups_pb2.GroupIconRemoved())
        return empty_pb2.Empty()

    def GetIcon(self, request: groups_pb2.GetIconRequest, call: Call,
                ) -> groups_pb2.GetIconResponse:
        if self.emu.plan == "shared":
            raise unsupported("shared mode does not manage group chats")
        chat = chat_of(call.line, request.chat_guid)
        if chat.icon is None:
            raise not_found("groupIconNotFound", f"{chat.guid!r} has no icon",
                            chatGuid=chat.guid)
        return groups_pb2.GetIconResponse(data=chat.icon, mime_type=chat.icon_mime)

    def SubscribeGroupEvents(self, request: groups_pb2.SubscribeGroupEventsRequest, call: Call,
                             ) -> Iterable[ProtoMessage]:
        if self.emu.plan == "shared":
            raise unsupported("shared mode does not get group events")
        key = chat_filter(request.chat_guid if request.HasField("chat_guid") else None)
        return live_frames(self.emu, call, eventlog.GROUP,
                           groups_pb2.SubscribeGroupEventsResponse, "group_changed",
                           lambda e: matches_chat(e, key))
