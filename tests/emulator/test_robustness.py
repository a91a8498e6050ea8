"""Bad input never crashes the server; the shared plan end to end; constructor checks."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from emu_helpers import ALICE, LINE_A, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import (
    attachments_pb2,
    chats_pb2,
    events_pb2,
    messages_pb2,
)
from spectrum_sync.emulator import Emulator


def raw_call(api: Api, path: str, payload: bytes) -> bytes:
    call = api.channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    return call(payload, metadata=api.md)  # type: ignore[no-any-return]


def test_unparsable_request_is_invalid_argument(emu: Emulator, api: Api) -> None:
    path = "/photon.imessage.v1.MessageService/SendTextMessage"
    err = rpc_error(lambda: raw_call(api, path, b"\xff\xff\xff\xff"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"
    # invalid UTF-8 in a string field (field 2, text)
    err = rpc_error(lambda: raw_call(api, path, b"\x12\x02\xc3\x28"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert emu.requests[-1].request is None
    assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md).count == 0


def test_unknown_fields_are_ignored(api: Api) -> None:
    payload = chats_pb2.GetChatCountRequest().SerializeToString() + b"\xb8\x06\x01"  # field 103
    out = raw_call(api, "/photon.imessage.v1.ChatService/GetChatCount", payload)
    assert chats_pb2.GetChatCountResponse.FromString(out).count == 0


def test_oversized_payload_is_refused(make_emu: Callable[..., Emulator],
                                      make_api: Callable[..., Api]) -> None:
    emu = make_emu(max_message_bytes=64 * 1024)
    api = make_api(emu, LINE_A)
    err = rpc_error(lambda: api.attachments.UploadAttachment(
        attachments_pb2.UploadAttachmentRequest(file_name="big.bin", data=b"x" * 100_000),
        metadata=api.md))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md).count == 0


def test_bad_stream_filters(api: Api) -> None:
    err = rpc_error(lambda: list(api.messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(chat_guid="nonsense"), metadata=api.md)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(lambda: list(api.events.CatchUpEvents(
        events_pb2.CatchUpEventsRequest(after_sequence=5), metadata=api.md)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_shared_plan_end_to_end(make_emu: Callable[..., Emulator],
                                make_api: Callable[..., Api],
                                read_stream: Callable[..., StreamReader]) -> None:
    emu = make_emu(plan="shared")
    api = make_api(emu)
    call = api.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=api.md)
    call.initial_metadata()
    stream = read_stream(call)
    guid = emu.simulate_inbound(ALICE, "hello pool")
    frame = stream.next_event()
    assert frame.message_changed.message_received.message.guid == guid
    sent = api.messages.SendTextMessage(messages_pb2.SendTextMessageRequest(
        chat_guid=f"any;-;{ALICE}", text="hi back"), metadata=api.md).message
    echo = stream.next_event().message_changed
    assert echo.is_from_me and echo.message_received.message.guid == sent.guid
    assert not echo.HasField("actor")  # the pool's numbers are unknown to clients
    assert emu.quota_usage()["messages"] == 1
    assert emu.state()["lines"][0]["instance_id"] == "shared"
    with pytest.raises(ValueError):
        emu.add_line("+15550000009")


def test_typing_simulation_is_recorded(emu: Emulator) -> None:
    emu.simulate_typing(ALICE, line=LINE_A)
    emu.simulate_typing(ALICE, typing=False, line=LINE_A)
    assert emu.typing == [(LINE_A, f"any;-;{ALICE}", True, False),
                          (LINE_A, f"any;-;{ALICE}", False, False)]
    assert emu.head_sequence(LINE_A) == 0


def test_constructor_checks() -> None:
    with pytest.raises(ValueError):
        Emulator(plan="premium")
    with pytest.raises(ValueError):
        Emulator(heartbeat_interval=0)


def test_context_manager_and_env(make_api: Callable[..., Api]) -> None:
    with Emulator(lines=[LINE_A], heartbeat_interval=0.2) as emu:
        env = emu.env()
        assert env["SPECTRUM_IMESSAGE_ADDRESS"] == emu.grpc_address
        assert env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"] == emu.grpc_address
        assert env["SPECTRUM_IMESSAGE_TLS"] == "false"
        assert (env["SPECTRUM_PROJECT_ID"], env["SPECTRUM_PROJECT_SECRET"]) == ("proj", "secret")
        assert env["SPECTRUM_CLOUD_URL"] == emu.cloud_url
        api = make_api(emu)
        assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(),
                                      metadata=api.md).count == 0
    assert not emu.running
    err = rpc_error(lambda: api.chats.GetChatCount(chats_pb2.GetChatCountRequest(),
                                                   metadata=api.md, timeout=1))
    assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
