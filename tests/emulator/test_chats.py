"""ChatService: creation (DM / group / shared refusal), lookup, read, typing, backgrounds."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from emu_helpers import ALICE, BOB, LINE_A, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, common_pb2
from spectrum_sync.emulator import Emulator


def _create(api: Api, *addresses: str) -> chats_pb2.CreateChatResponse:
    return api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=list(addresses)),
                                metadata=api.md)


def test_create_dm_is_idempotent(api: Api) -> None:
    first = _create(api, ALICE)
    assert first.chat.guid == f"any;-;{ALICE}"
    assert not first.chat.is_group
    # The service lists the line's own number among the participants.
    assert [p.address for p in first.chat.participants] == [LINE_A, ALICE]
    assert first.chat.participants[1].service == common_pb2.CHAT_SERVICE_TYPE_IMESSAGE
    assert first.chat.service == common_pb2.CHAT_SERVICE_TYPE_IMESSAGE
    assert _create(api, ALICE).chat.guid == first.chat.guid
    assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md).count == 1


def test_create_dm_normalises_the_address(api: Api) -> None:
    assert _create(api, "+1 (555) 111-1111").chat.guid == f"any;-;{ALICE}"
    assert _create(api, " Bob@Example.COM ").chat.guid == "any;-;bob@example.com"


def test_create_group(api: Api) -> None:
    chat = _create(api, ALICE, BOB).chat
    assert chat.is_group
    service, kind, ident = chat.guid.split(";")
    assert (service, kind) == ("any", "+") and ident.startswith("chat")
    assert chat.group_id == ident
    assert {p.address for p in chat.participants} == {LINE_A, ALICE, BOB}


def test_create_keeps_the_service_asked_for(api: Api) -> None:
    request = chats_pb2.CreateChatRequest(addresses=[ALICE],
                                          service=common_pb2.CHAT_SERVICE_TYPE_SMS)
    chat = api.chats.CreateChat(request, metadata=api.md).chat
    assert chat.service == common_pb2.CHAT_SERVICE_TYPE_SMS
    got = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=chat.guid), metadata=api.md)
    assert got.chat.service == common_pb2.CHAT_SERVICE_TYPE_SMS


def test_shared_plan_refuses_groups(make_emu: Callable[..., Emulator],
                                    make_api: Callable[..., Api]) -> None:
    emu = make_emu(plan="shared")
    api = make_api(emu)
    err = rpc_error(lambda: _create(api, ALICE, BOB))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(err)["error-code"] == "operationNotSupported"
    assert _create(api, ALICE).chat.guid == f"any;-;{ALICE}"


@pytest.mark.parametrize("addresses", [[], [""], ["not an address"], ["+1"], ["a@b"]])
def test_bad_addresses_are_invalid_argument(api: Api, addresses: list[str]) -> None:
    err = rpc_error(lambda: _create(api, *addresses))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"


def test_create_with_initial_message(api: Api) -> None:
    out = api.chats.CreateChat(chats_pb2.CreateChatRequest(
        addresses=[ALICE], initial_message=chats_pb2.CreateChatInitialMessage(text="hey")),
        metadata=api.md)
    assert out.initial_message.content.text == "hey"
    assert out.initial_message.is_from_me
    assert out.chat.last_message.guid == out.initial_message.guid


def test_get_chat_matches_on_kind_and_identifier(emu: Emulator, api: Api) -> None:
    _create(api, ALICE)
    for guid in (f"any;-;{ALICE}", f"iMessage;-;{ALICE}", f"SMS;-;{ALICE}"):
        got = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=guid), metadata=api.md)
        assert got.chat.guid == f"any;-;{ALICE}"


def test_get_unknown_chat_is_not_found(api: Api) -> None:
    err = rpc_error(lambda: api.chats.GetChat(
        chats_pb2.GetChatRequest(chat_guid=f"any;-;{BOB}"), metadata=api.md))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert trailers(err)["error-code"] == "chatNotFound"
    assert trailers(err)["x-retryable"] == "false"


@pytest.mark.parametrize("guid", ["", "nonsense", "any;x;+1555", ";-;+1555", "any;-;"])
def test_malformed_chat_guid_is_invalid_argument(api: Api, guid: str) -> None:
    err = rpc_error(lambda: api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=guid),
                                              metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"


def test_group_identifier_may_contain_semicolons(emu: Emulator, api: Api) -> None:
    emu.simulate_inbound(ALICE, "hi", chat="iMessage;+;chat;odd", line=LINE_A)
    got = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid="any;+;chat;odd"),
                            metadata=api.md)
    assert got.chat.is_group and got.chat.chat_identifier == "chat;odd"


def test_mark_read_clears_unread_and_emits_chat_event(
        emu: Emulator, api: Api, read_stream: Callable[..., StreamReader]) -> None:
    emu.simulate_inbound(ALICE, "one", line=LINE_A)
    emu.simulate_inbound(ALICE, "two", line=LINE_A)
    guid = f"any;-;{ALICE}"
    chat = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=guid), metadata=api.md).chat
    assert chat.unread_count == 2
    stream = read_stream(api.chats.SubscribeChatEvents(
        chats_pb2.SubscribeChatEventsRequest(), metadata=api.md))
    assert stream.next().WhichOneof("payload") == "heartbeat"
    api.chats.MarkChatRead(chats_pb2.MarkChatReadRequest(chat_guid=guid), metadata=api.md)
    frame = stream.next_event()
    assert frame.chat_changed.WhichOneof("change") == "marked_read"
    assert frame.chat_changed.is_from_me and frame.chat_changed.chat_guid == guid
    chat = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=guid), metadata=api.md).chat
    assert chat.unread_count == 0
    assert chat.last_message.HasField("date_read")


def test_typing_is_recorded_and_not_logged(emu: Emulator, api: Api) -> None:
    _create(api, ALICE)
    head = emu.head_sequence(LINE_A)
    for on in (True, False):
        api.chats.SetTyping(chats_pb2.SetTypingRequest(chat_guid=f"any;-;{ALICE}", is_typing=on),
                            metadata=api.md)
    assert emu.typing[-2:] == [(LINE_A, f"any;-;{ALICE}", True, True),
                               (LINE_A, f"any;-;{ALICE}", False, True)]
    assert emu.head_sequence(LINE_A) == head
    err = rpc_error(lambda: api.chats.SetTyping(
        chats_pb2.SetTypingRequest(chat_guid=f"any;-;{BOB}", is_typing=True), metadata=api.md))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_share_contact_info_and_backgrounds(api: Api) -> None:
    guid = _create(api, ALICE).chat.guid
    api.chats.ShareContactInfo(chats_pb2.ShareContactInfoRequest(chat_guid=guid),
                               metadata=api.md)

    def has() -> bool:
        return api.chats.HasBackground(chats_pb2.HasBackgroundRequest(chat_guid=guid),
                                       metadata=api.md).background_present

    assert not has()
    api.chats.SetBackground(chats_pb2.SetBackgroundRequest(chat_guid=guid, data=b"png"),
                            metadata=api.md)
    assert has()
    api.chats.RemoveBackground(chats_pb2.RemoveBackgroundRequest(chat_guid=guid),
                               metadata=api.md)
    assert not has()
