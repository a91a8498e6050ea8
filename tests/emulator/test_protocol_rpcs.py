"""The RPCs added for the whole protocol, straight over gRPC: semantics and bad input."""

from __future__ import annotations

from typing import Any, Callable

import grpc
import pytest
from emu_helpers import ALICE, LINE_A, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import attachments_pb2, chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

DM = f"any;-;{ALICE}"
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)


@pytest.fixture
def dm(api: Api) -> str:
    api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md)
    return DM


def _send(api: Api, text: str = "hi") -> messages_pb2.Message:
    request = messages_pb2.SendTextMessageRequest(chat_guid=DM, text=text)
    return api.messages.SendTextMessage(request, metadata=api.md).message


def _get(api: Api, guid: str) -> messages_pb2.Message:
    request = messages_pb2.GetMessageRequest(message_guid=guid)
    return api.messages.GetMessage(request, metadata=api.md).message


def _code(err: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    return err.code(), trailers(err)["error-code"]


def test_held_deliveries_and_their_outcomes(emu: Emulator, api: Api, dm: str) -> None:
    emu.deliver_sends = False
    held = _send(api)
    assert held.is_sent and not held.is_delivered and not held.HasField("date_delivered")
    emu.mark_delivered(held.guid, quietly=True, line=LINE_A)
    fresh = _get(api, held.guid)
    assert fresh.is_delivered and fresh.is_delivered_quietly and fresh.HasField("date_delivered")
    failed = _send(api)
    emu.fail_delivery(failed.guid, 43, line=LINE_A)
    assert _get(api, failed.guid).send_error_code == 43
    inbound = emu.simulate_inbound(ALICE, "theirs", line=LINE_A)
    with pytest.raises(ValueError):
        emu.mark_delivered(inbound, line=LINE_A)
    with pytest.raises(ValueError):
        emu.fail_delivery(failed.guid, 0, line=LINE_A)


def test_place_sticker_semantics_and_errors(emu: Emulator, api: Api, dm: str,
                                            read_stream: Callable[[Any], StreamReader]) -> None:
    target = _send(api)
    upload = api.attachments.UploadAttachment(attachments_pb2.UploadAttachmentRequest(
        file_name="s.png", data=b"\x89PNG"), metadata=api.md).attachment
    stream = read_stream(api.messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(), metadata=api.md))
    assert emu.wait_for_subscribers(1)

    def place(**kw: Any) -> messages_pb2.MessageResponse:
        args: dict[str, Any] = {
            "target": messages_pb2.MessageTarget(chat_guid=DM, message_guid=target.guid),
            "sticker": messages_pb2.AttachmentRef(attachment_guid=upload.guid),
            "placement": messages_pb2.StickerPlacement(x=0.5, y=0.5), **kw}
        return api.messages.PlaceSticker(messages_pb2.PlaceStickerRequest(**args),
                                         metadata=api.md)

    row = place().message
    assert row.reaction_target_guid == target.guid and row.content.attachments[0].is_sticker
    frame = stream.next_event()
    placed = frame.message_changed.sticker_placed
    assert placed.message_guid == target.guid and placed.sticker.guid == upload.guid
    [on_message] = _get(api, target.guid).placed_stickers
    assert on_message.is_from_me and on_message.placement.x == 0.5
    assert _code(rpc_error(lambda: place(placement=messages_pb2.StickerPlacement(x=2)))) == (
        grpc.StatusCode.INVALID_ARGUMENT, "invalidArgument")
    assert _code(rpc_error(lambda: place(target=messages_pb2.MessageTarget(
        chat_guid=DM, message_guid="missing")))) == (grpc.StatusCode.NOT_FOUND,
                                                      "messageNotFound")
    assert _code(rpc_error(lambda: place(sticker=messages_pb2.AttachmentRef(
        attachment_guid="missing")))) == (grpc.StatusCode.NOT_FOUND, "attachmentNotFound")
    assert _code(rpc_error(lambda: place(target=messages_pb2.MessageTarget(
        chat_guid=DM, message_guid=target.guid, target_part_index=1)))) == (
        grpc.StatusCode.INVALID_ARGUMENT, "invalidArgument")


def test_notify_silenced_and_embedded_media(emu: Emulator, api: Api, dm: str) -> None:
    ours = _send(api)
    api.messages.NotifySilencedMessage(messages_pb2.NotifySilencedMessageRequest(
        chat_guid=DM, message_guid=ours.guid), metadata=api.md)
    assert _get(api, ours.guid).did_notify_recipient
    theirs = emu.simulate_inbound(ALICE, "hi", line=LINE_A)
    err = rpc_error(lambda: api.messages.NotifySilencedMessage(
        messages_pb2.NotifySilencedMessageRequest(chat_guid=DM, message_guid=theirs),
        metadata=api.md))
    assert _code(err) == (grpc.StatusCode.FAILED_PRECONDITION, "preconditionFailed")
    touch = emu.simulate_digital_touch(ALICE, b"sketch", "image/heic", line=LINE_A)
    media = api.messages.GetEmbeddedMedia(messages_pb2.GetEmbeddedMediaRequest(
        chat_guid=DM, message_guid=touch), metadata=api.md).media
    assert (media.data, media.mime_type) == (b"sketch", "image/heic")
    err = rpc_error(lambda: api.messages.GetEmbeddedMedia(messages_pb2.GetEmbeddedMediaRequest(
        chat_guid="any;-;+15559999999", message_guid=touch), metadata=api.md))
    assert _code(err) == (grpc.StatusCode.NOT_FOUND, "chatNotFound")


def _card(**kw: Any) -> messages_pb2.SendCustomizedMiniAppMessageRequest:
    args: dict[str, Any] = {
        "chat_guid": DM, "team_id": "ABCDE12345", "extension_bundle_id": "com.example.ext",
        "app_name": "Example", "url": "https://x.example",
        "layout": messages_pb2.MiniAppLayout(caption="hello"), **kw}
    return messages_pb2.SendCustomizedMiniAppMessageRequest(**args)


def test_cards_and_their_sessions(api: Api, dm: str) -> None:
    sent = api.messages.SendCustomizedMiniAppMessage(_card(), metadata=api.md)
    session = sent.mini_app_card_session
    assert session.target_message_guid == sent.message.guid and session.session_id
    assert sent.message.content.mini_app.layout.caption == "hello"
    assert sent.message.content.balloon_bundle_id.endswith(":ABCDE12345:com.example.ext")
    update = messages_pb2.UpdateCustomizedMiniAppMessageRequest(
        session=session, team_id="ABCDE12345", extension_bundle_id="com.example.ext",
        app_name="Example", url="https://x.example",
        layout=messages_pb2.MiniAppLayout(caption="changed"))
    again = api.messages.UpdateCustomizedMiniAppMessage(update, metadata=api.md)
    assert again.mini_app_card_session.session_id == session.session_id
    assert again.mini_app_card_session.target_message_guid == sent.message.guid
    update.session.session_id = "unknown"
    err = rpc_error(lambda: api.messages.UpdateCustomizedMiniAppMessage(update,
                                                                        metadata=api.md))
    assert _code(err) == (grpc.StatusCode.NOT_FOUND, "messageNotFound")


@pytest.mark.parametrize("bad", [
    {"layout": messages_pb2.MiniAppLayout(summary="no caption")},
    {"layout": messages_pb2.MiniAppLayout(caption="x", image=JPEG)},
    {"layout": messages_pb2.MiniAppLayout(caption="x", image=b"\x89PNG", image_title="t")},
    {"layout": messages_pb2.MiniAppLayout(caption="x", image_subtitle="s")},
    {"layout": messages_pb2.MiniAppLayout(caption="")},
    {"team_id": "lower12345"}, {"extension_bundle_id": "a:b"}, {"url": ""},
])
def test_bad_cards_are_invalid(api: Api, dm: str, bad: dict[str, Any]) -> None:
    err = rpc_error(lambda: api.messages.SendCustomizedMiniAppMessage(_card(**bad),
                                                                      metadata=api.md))
    assert _code(err) == (grpc.StatusCode.INVALID_ARGUMENT, "invalidArgument")


def test_chat_count_backgrounds_and_chat_events(emu: Emulator, api: Api, dm: str,
                                                read_stream: Callable[[Any], StreamReader],
                                                ) -> None:
    stream = read_stream(api.chats.SubscribeChatEvents(
        chats_pb2.SubscribeChatEventsRequest(chat_guid=DM), metadata=api.md))
    assert emu.wait_for_subscribers(1)
    api.chats.SetBackground(chats_pb2.SetBackgroundRequest(chat_guid=DM, data=JPEG),
                            metadata=api.md)
    assert stream.next_event().chat_changed.WhichOneof("change") == "background_changed"
    emu.simulate_chat_event(DM, "archived", line=LINE_A)
    assert stream.next_event().chat_changed.WhichOneof("change") == "archived"

    def count(archived: bool) -> int:
        return api.chats.GetChatCount(chats_pb2.GetChatCountRequest(
            include_archived=archived), metadata=api.md).count

    assert (count(False), count(True)) == (0, 1)
    emu.simulate_chat_event(DM, "unarchived", line=LINE_A)
    assert (count(False), count(True)) == (1, 1)
