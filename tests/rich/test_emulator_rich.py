"""The emulator's side of rich messaging, over raw generated stubs: paging, formatting
checks, voice flags, forwarded inbound files and the admin route for them."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from rich_helpers import ALICE, LINE_1, PNG

from spectrum_sync._proto import (
    attachments_pb2,
    attachments_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    messages_pb2,
    messages_pb2_grpc,
)
from spectrum_sync.emulator import Emulator

DM = f"any;-;{ALICE}"


class Stubs:
    def __init__(self, emu: Emulator) -> None:
        self.channel = grpc.insecure_channel(emu.grpc_address)
        self.messages = messages_pb2_grpc.MessageServiceStub(self.channel)
        self.attachments = attachments_pb2_grpc.AttachmentServiceStub(self.channel)
        self.events = events_pb2_grpc.EventServiceStub(self.channel)
        self.md = (("authorization", f"Bearer {emu.token(LINE_1)}"),)


@pytest.fixture
def api(emu: Emulator) -> Iterator[Stubs]:
    stubs = Stubs(emu)
    yield stubs
    stubs.channel.close()


def _page(api: Stubs, size: int | None, token: str | None = None,
          ) -> messages_pb2.ListChatMessagesResponse:
    response: messages_pb2.ListChatMessagesResponse = api.messages.ListChatMessages(
        messages_pb2.ListChatMessagesRequest(chat_guid=DM, page_size=size, page_token=token),
        metadata=api.md)
    return response


def test_pages_neither_repeat_nor_skip_when_messages_arrive(emu: Emulator, api: Stubs) -> None:
    for i in range(5):
        emu.simulate_inbound(ALICE, f"m{i}", line=LINE_1)
    first = _page(api, 2)
    assert [m.content.text for m in first.messages] == ["m4", "m3"]
    emu.simulate_inbound(ALICE, "late", line=LINE_1)  # lands before the pages already read
    second = _page(api, 2, first.next_page_token)
    assert [m.content.text for m in second.messages] == ["m2", "m1"]
    third = _page(api, 2, second.next_page_token)
    assert [m.content.text for m in third.messages] == ["m0"]
    assert not third.HasField("next_page_token")
    assert len(_page(api, None).messages) == 6  # no size: a default page


@pytest.mark.parametrize("size", [0, -1, 101])
def test_page_size_outside_1_to_100_is_invalid(emu: Emulator, api: Stubs, size: int) -> None:
    emu.simulate_inbound(ALICE, "x", line=LINE_1)
    with pytest.raises(grpc.RpcError) as info:
        _page(api, size)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as info:
        _page(api, 10, "3")  # an offset is not a token
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_formatting_is_checked(emu: Emulator, api: Stubs) -> None:
    emu.simulate_inbound(ALICE, "open the chat", line=LINE_1)

    def send(*formats: messages_pb2.TextFormat) -> grpc.StatusCode:
        try:
            api.messages.SendTextMessage(messages_pb2.SendTextMessageRequest(
                chat_guid=DM, text="hi 👋", formatting=list(formats)), metadata=api.md)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
        return grpc.StatusCode.OK

    fmt = messages_pb2.TextFormat
    assert send(fmt(type="bold", start=0, length=5)) == grpc.StatusCode.OK  # 👋 is 2 units
    assert send(fmt(type="bold", start=0, length=6)) == grpc.StatusCode.INVALID_ARGUMENT
    assert send(fmt(type="blink", start=0, length=1)) == grpc.StatusCode.INVALID_ARGUMENT
    assert send(fmt(type="effect", start=0, length=1)) == grpc.StatusCode.INVALID_ARGUMENT
    assert send(fmt(type="effect", start=0, length=2,
                    effect_name="bloom")) == grpc.StatusCode.OK


def test_a_voice_message_is_published_as_one(emu: Emulator, api: Stubs) -> None:
    emu.simulate_inbound(ALICE, "open the chat", line=LINE_1)
    head = emu.head_sequence(LINE_1)
    upload = api.attachments.UploadAttachment(attachments_pb2.UploadAttachmentRequest(
        file_name="memo.m4a", data=b"\0" * 64), metadata=api.md)
    sent = api.messages.SendAttachmentMessage(messages_pb2.SendAttachmentMessageRequest(
        chat_guid=DM, attachment=messages_pb2.AttachmentRef(
            attachment_guid=upload.attachment.guid), is_audio_message=True), metadata=api.md)
    assert sent.message.is_audio_message
    replay = list(api.events.CatchUpEvents(events_pb2.CatchUpEventsRequest(
        after_sequence=head), metadata=api.md))
    published = [f.message_changed.message_received.message for f in replay
                 if f.WhichOneof("payload") == "message_changed"]
    assert [m.is_audio_message for m in published] == [True]


def test_inbound_copies_of_held_files(emu: Emulator, api: Stubs) -> None:
    upload = api.attachments.UploadAttachment(attachments_pb2.UploadAttachmentRequest(
        file_name="cat.png", data=PNG), metadata=api.md)
    guid = emu.simulate_inbound(ALICE, line=LINE_1,
                                forward_attachment=upload.attachment.guid)
    message = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=guid),
                                      metadata=api.md).message
    [copy] = message.content.attachments
    assert copy.guid != upload.attachment.guid and not copy.is_outgoing
    assert (copy.file_name, copy.total_bytes) == ("cat.png", len(PNG))
    with pytest.raises(KeyError):
        emu.simulate_inbound(ALICE, line=LINE_1, forward_attachment="no-such-file")
    with pytest.raises(ValueError, match="need a text"):
        emu.simulate_inbound(ALICE, line=LINE_1, forward_attachment=upload.attachment.guid,
                             formatting=[("bold", 0, 1)])


def _admin(emu: Emulator, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{emu.cloud_url}/_emulator/inbound", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_admin_inbound_with_an_attachment(emu: Emulator, api: Stubs) -> None:
    status, out = _admin(emu, {"from": ALICE, "line": LINE_1, "attachment": {
        "name": "a.png", "base64": base64.b64encode(PNG).decode()}})
    assert status == 200
    message = api.messages.GetMessage(messages_pb2.GetMessageRequest(
        message_guid=out["guid"]), metadata=api.md).message
    held = message.content.attachments[0]
    assert not message.content.HasField("text") and held.file_name == "a.png"
    status, out = _admin(emu, {"from": ALICE, "line": LINE_1, "text": "again",
                               "attachment": {"copy_of": held.guid}})
    assert status == 200
    again = api.messages.GetMessage(messages_pb2.GetMessageRequest(
        message_guid=out["guid"]), metadata=api.md).message
    assert again.content.text == "again" and again.content.attachments[0].total_bytes == len(PNG)
    for bad in ({"name": "a"}, {"base64": "AA=="}, {"name": "a", "base64": "%%%"},
                {"copy_of": ""}, "file"):
        status, out = _admin(emu, {"from": ALICE, "line": LINE_1, "attachment": bad})
        assert status == 400, bad
    status, out = _admin(emu, {"from": ALICE, "line": LINE_1,
                               "attachment": {"copy_of": "no-such-file"}})
    assert status == 400 and "no-such-file" in json.dumps(out)
