"""MessageService: sends, replies, edits, unsends, reactions, lookups, listing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from emu_helpers import ALICE, BOB, LINE_A, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import attachments_pb2, chats_pb2, common_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

DM = f"any;-;{ALICE}"
K = messages_pb2.MessageReactionKind


@pytest.fixture
def dm(api: Api) -> str:
    api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md)
    return DM


def send(api: Api, text: str, chat: str = DM, **kw: Any) -> messages_pb2.Message:
    req = messages_pb2.SendTextMessageRequest(chat_guid=chat, text=text, **kw)
    return api.messages.SendTextMessage(req, metadata=api.md).message


def target(guid: str, chat: str = DM) -> messages_pb2.MessageTarget:
    return messages_pb2.MessageTarget(chat_guid=chat, message_guid=guid)


def test_send_text_returns_a_complete_message(emu: Emulator, api: Api, dm: str) -> None:
    msg = send(api, "hello", subject="subj", effect_id="com.apple.MobileSMS.expressivesend.loud",
               formatting=[messages_pb2.TextFormat(type="bold", start=0, length=5)])
    assert len(msg.guid) == 36 and msg.guid == msg.guid.upper()
    assert msg.content.text == "hello" and msg.subject == "subj"
    assert msg.content.expressive_send_style_id.endswith("loud")
    assert msg.content.formatting[0].type == "bold"
    assert msg.is_from_me and msg.is_sent and msg.is_delivered
    assert msg.sender.address == LINE_A
    assert list(msg.chat_guids) == [DM]
    assert msg.date_created.ToSeconds() == int(emu.now())
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=msg.guid),
                                  metadata=api.md).message
    assert got == msg


def test_own_send_is_echoed_with_is_from_me(api: Api, dm: str,
                                             read_stream: Callable[..., StreamReader]) -> None:
    call = api.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=api.md)
    stream = read_stream(call)
    call.initial_metadata()  # the subscription is live once headers arrived
    msg = send(api, "echo me")
    frame = stream.next_event()
    event = frame.message_changed
    assert frame.HasField("sequence") and frame.sequence >= 1
    assert event.is_from_me and event.actor.address == LINE_A and event.chat_guid == DM
    assert event.message_received.message.guid == msg.guid
    assert event.message_received.message.is_from_me


def test_send_errors(api: Api, dm: str) -> None:
    err = rpc_error(lambda: send(api, "x", chat="any;+;nosuchgroup"))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert trailers(err)["error-code"] == "chatNotFound"
    err = rpc_error(lambda: send(api, "x", chat="any;-;not-an-address"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(lambda: send(api, ""))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(lambda: send(api, "x", chat="garbage"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"
    err = rpc_error(lambda: send(api, "x", reply_to=messages_pb2.ReplyTarget(message_guid="N")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert trailers(err)["error-code"] == "messageNotFound"


def test_first_send_to_an_unknown_dm_opens_it(api: Api) -> None:
    """Shared-mode clients build ``any;-;<address>`` without CreateChat; the cloud accepts it."""
    guid = f"any;-;{BOB}"
    msg = send(api, "hello Bob", chat=guid)
    assert msg.chat_guids == [guid]
    chat = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=guid), metadata=api.md).chat
    assert [p.address for p in chat.participants] == [LINE_A, BOB]
    assert send(api, "again", chat=f"iMessage;-;{BOB}").chat_guids == [guid]  # same chat


def test_reply_threads(emu: Emulator, api: Api, dm: str) -> None:
    inbound = emu.simulate_inbound(ALICE, "question?", line=LINE_A)
    reply = send(api, "answer", reply_to=messages_pb2.ReplyTarget(message_guid=inbound))
    assert reply.reply_target_guid == inbound
    assert reply.thread_originator_guid == inbound
    second = send(api, "more", reply_to=messages_pb2.ReplyTarget(message_guid=reply.guid))
    assert second.reply_target_guid == reply.guid
    assert second.thread_originator_guid == inbound


def test_edit_and_unsend(api: Api, dm: str, read_stream: Callable[..., StreamReader]) -> None:
    msg = send(api, "typo")
    call = api.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=api.md)
    stream = read_stream(call)
    call.initial_metadata()
    edited = api.messages.EditMessage(messages_pb2.EditMessageRequest(
        target=target(msg.guid), new_text="fixed"), metadata=api.md).message
    assert edited.content.text == "fixed" and edited.HasField("date_edited")
    event = stream.next_event().message_changed
    assert event.message_edited.message_guid == msg.guid
    assert event.message_edited.content.text == "fixed" and event.is_from_me
    api.messages.UnsendMessage(messages_pb2.UnsendMessageRequest(target=target(msg.guid)),
                               metadata=api.md)
    event = stream.next_event().message_changed
    assert event.message_unsent.message_guid == msg.guid
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=msg.guid),
                                  metadata=api.md).message
    assert got.HasField("date_retracted") and not got.content.text
    err = rpc_error(lambda: api.messages.EditMessage(messages_pb2.EditMessageRequest(
        target=target(msg.guid), new_text="again"), metadata=api.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cannot_edit_inbound_or_unknown(emu: Emulator, api: Api, dm: str) -> None:
    inbound = emu.simulate_inbound(ALICE, "theirs", line=LINE_A)
    err = rpc_error(lambda: api.messages.EditMessage(messages_pb2.EditMessageRequest(
        target=target(inbound), new_text="mine now"), metadata=api.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    err = rpc_error(lambda: api.messages.UnsendMessage(messages_pb2.UnsendMessageRequest(
        target=target("NOPE")), metadata=api.md))
    assert trailers(err)["error-code"] == "messageNotFound"
    err = rpc_error(lambda: api.messages.GetMessage(
        messages_pb2.GetMessageRequest(message_guid="NOPE"), metadata=api.md))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def _react(api: Api, guid: str, reaction: messages_pb2.MessageReaction,
           is_set: bool = True) -> messages_pb2.Message:
    return api.messages.SetReaction(messages_pb2.SetReactionRequest(
        target=target(guid), reaction=reaction, is_set=is_set), metadata=api.md).message


def test_reactions(emu: Emulator, api: Api, dm: str,
                   read_stream: Callable[..., StreamReader]) -> None:
    inbound = emu.simulate_inbound(ALICE, "nice", line=LINE_A)
    call = api.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=api.md)
    stream = read_stream(call)
    call.initial_metadata()
    love = messages_pb2.MessageReaction()  # LOVE = 0: absent on the wire
    assert love.SerializeToString() == b""
    row = _react(api, inbound, love)
    assert row.reaction_target_guid == inbound and row.reaction_selected
    added = stream.next_event().message_changed
    assert added.reaction_added.message_guid == inbound
    assert added.reaction_added.reaction.kind == K.MESSAGE_REACTION_KIND_LOVE
    _react(api, inbound, messages_pb2.MessageReaction(kind=K.MESSAGE_REACTION_KIND_EMOJI,
                                                      emoji="🎉"))
    assert stream.next_event().message_changed.reaction_added.reaction.emoji == "🎉"
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=inbound),
                                  metadata=api.md).message
    assert sorted(r.reaction.kind for r in got.applied_reactions) == [
        K.MESSAGE_REACTION_KIND_LOVE, K.MESSAGE_REACTION_KIND_EMOJI]
    row = _react(api, inbound, love, is_set=False)
    assert not row.reaction_selected
    removed = stream.next_event().message_changed
    assert removed.WhichOneof("change") == "reaction_removed"
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=inbound),
                                  metadata=api.md).message
    assert [r.reaction.emoji for r in got.applied_reactions] == ["🎉"]


def test_reaction_validation(emu: Emulator, api: Api, dm: str) -> None:
    inbound = emu.simulate_inbound(ALICE, "nice", line=LINE_A)
    for bad in (messages_pb2.MessageReaction(kind=K.MESSAGE_REACTION_KIND_STICKER),
                messages_pb2.MessageReaction(kind=K.MESSAGE_REACTION_KIND_EMOJI)):
        err = rpc_error(lambda b=bad: _react(api, inbound, b))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert trailers(err)["error-code"] == "invalidArgument"
    err = rpc_error(lambda: _react(api, "NOPE", messages_pb2.MessageReaction()))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_multipart(emu: Emulator, api: Api, dm: str) -> None:
    up = api.attachments.UploadAttachment(attachments_pb2.UploadAttachmentRequest(
        file_name="pic.png", data=b"\x89PNG\r\n\x1a\n..."), metadata=api.md).attachment
    msg = api.messages.SendMultipartMessage(messages_pb2.SendMultipartMessageRequest(
        chat_guid=DM, parts=[
            messages_pb2.MessagePart(text="hi "),
            messages_pb2.MessagePart(text="Alice", mentioned_address=ALICE),
            messages_pb2.MessagePart(attachment=messages_pb2.AttachmentRef(
                attachment_guid=up.guid)),
        ]), metadata=api.md).message
    assert msg.content.text == "hi Alice" and msg.part_count == 3
    assert msg.content.mentions[0] == messages_pb2.MessageMention(address=ALICE, start=3,
                                                                  length=5)
    assert msg.content.attachments[0].guid == up.guid
    err = rpc_error(lambda: api.messages.SendMultipartMessage(
        messages_pb2.SendMultipartMessageRequest(chat_guid=DM), metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_messages_pages_newest_first(emu: Emulator, api: Api, dm: str) -> None:
    sent = [send(api, f"m{i}").guid for i in range(5)]
    emu.simulate_inbound(BOB, "other chat", line=LINE_A)
    seen: list[str] = []
    token = ""
    while True:
        out = api.messages.ListChatMessages(messages_pb2.ListChatMessagesRequest(
            chat_guid=DM, page_size=2, page_token=token or None), metadata=api.md)
        seen += [m.guid for m in out.messages]
        if not out.HasField("next_page_token"):
            break
        token = out.next_page_token
    assert seen == sent[::-1]
    recent = api.messages.ListRecentMessages(messages_pb2.ListRecentMessagesRequest(
        page_size=10), metadata=api.md)
    assert [m.content.text for m in recent.messages][:2] == ["other chat", "m4"]
    mine = api.messages.ListRecentMessages(messages_pb2.ListRecentMessagesRequest(
        is_from_me=False), metadata=api.md)
    assert [m.content.text for m in mine.messages] == ["other chat"]
    err = rpc_error(lambda: api.messages.ListRecentMessages(
        messages_pb2.ListRecentMessagesRequest(page_token="zzz"), metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_every_rpc_of_the_protocol_is_served(emu: Emulator) -> None:
    """Derived from the descriptors: a method added to the protos fails this test until the
    emulator serves it."""
    from spectrum_sync._wire.rpc import all_rpcs
    from spectrum_sync.emulator.services import (
        addresses,
        attachments,
        chats,
        events,
        groups,
        locations,
        messages,
        polls,
    )

    services = {cls.__name__: cls for cls in (
        addresses.AddressService, attachments.AttachmentService, chats.ChatService,
        events.EventService, groups.GroupService, locations.LocationService,
        messages.MessageService, polls.PollService)}
    missing = [rpc.path for rpc in all_rpcs()
               if not callable(getattr(services[rpc.service], rpc.name, None))]
    assert missing == []


def test_new_methods_check_their_input(api: Api, dm: str) -> None:
    err = rpc_error(lambda: api.messages.PlaceSticker(messages_pb2.PlaceStickerRequest(),
                                                      metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"


def test_sender_info_follows_the_directory(emu: Emulator, api: Api) -> None:
    emu.set_address(BOB, services=("SMS",), country="CA")
    guid = emu.simulate_inbound(BOB, "via sms", line=LINE_A)
    msg = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=guid),
                                  metadata=api.md).message
    assert msg.sender == common_pb2.SingleServiceAddressInfo(
        address=BOB, service=common_pb2.CHAT_SERVICE_TYPE_SMS, country="CA")
    assert not msg.is_from_me
