"""Dedupe as the service does: a repeated x-idempotency-key gets the original answer; a
repeated client_message_id is refused with duplicateMessage. Either way, one message."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from emu_helpers import ALICE, LINE_A, Api, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

DM = f"any;-;{ALICE}"


def dm(api: Api) -> str:
    api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md)
    return DM


@pytest.fixture(name="dm")
def dm_fixture(api: Api) -> str:
    return dm(api)


def messages_in(api: Api) -> int:
    return len(api.messages.ListChatMessages(messages_pb2.ListChatMessagesRequest(
        chat_guid=DM), metadata=api.md).messages)


def send(api: Api, text: str, key: str | None = None, cmid: str | None = None,
         ) -> messages_pb2.Message:
    md = api.metadata(("x-idempotency-key", key)) if key else api.md
    return api.messages.SendTextMessage(messages_pb2.SendTextMessageRequest(
        chat_guid=DM, text=text, client_message_id=cmid), metadata=md).message


def test_same_idempotency_key_same_message(emu: Emulator, api: Api, dm: str) -> None:
    key = str(uuid.uuid4())
    first, second = send(api, "once", key=key), send(api, "once", key=key)
    assert first == second
    assert messages_in(api) == 1
    assert send(api, "once", key=str(uuid.uuid4())).guid != first.guid
    assert messages_in(api) == 2
    assert emu.head_sequence(LINE_A) == 2  # no event for the replay


def test_same_client_message_id_is_a_duplicate_message(emu: Emulator, api: Api, dm: str
                                                      ) -> None:
    cmid = str(uuid.uuid4())
    send(api, "once", cmid=cmid)
    err = rpc_error(lambda: send(api, "once", cmid=cmid, key=str(uuid.uuid4())))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert trailers(err)["error-code"] == "duplicateMessage"
    assert trailers(err)["x-retryable"] == "false"
    assert messages_in(api) == 1
    assert emu.head_sequence(LINE_A) == 1


def test_a_repeated_header_outside_the_window_meets_the_client_message_id(
        make_emu: Callable[..., Emulator], make_api: Callable[..., Api]) -> None:
    """Within the window a retry (same header) gets the original answer even with its
    client_message_id; after it, only the client_message_id is remembered."""
    emu = make_emu(idempotency_window=60)
    api = make_api(emu, LINE_A)
    dm(api)
    key = cmid = str(uuid.uuid4())
    first = send(api, "once", key=key, cmid=cmid)
    assert send(api, "once", key=key, cmid=cmid) == first
    emu.advance_clock(emu.idempotency_window + 1)
    err = rpc_error(lambda: send(api, "once", key=key, cmid=cmid))
    assert trailers(err)["error-code"] == "duplicateMessage"
    assert messages_in(api) == 1


def test_keys_are_per_line(emu: Emulator, make_api: Callable[..., Api], api: Api, dm: str
                           ) -> None:
    other = make_api(emu, "+15550000002")
    other.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=other.md)
    key = str(uuid.uuid4())
    assert send(api, "a", key=key).guid != send(other, "a", key=key).guid


def test_retry_after_a_lost_answer_gives_one_message(emu: Emulator, api: Api, dm: str) -> None:
    key, cmid = str(uuid.uuid4()), str(uuid.uuid4())
    emu.fail_next(2, code="UNAVAILABLE", retryable=True, method="SendTextMessage", after=True)
    for _ in range(2):
        rpc_error(lambda: send(api, "retried", key=key, cmid=cmid))
    final = send(api, "retried", key=key, cmid=cmid)
    assert messages_in(api) == 1
    assert final.content.text == "retried"
    assert emu.quota_usage(LINE_A)["messages"] == 1


def test_retry_after_failure_before_running(emu: Emulator, api: Api, dm: str) -> None:
    key = str(uuid.uuid4())
    emu.fail_next(3, method="SendTextMessage")
    for _ in range(3):
        rpc_error(lambda: send(api, "later", key=key))
    assert messages_in(api) == 0
    send(api, "later", key=key)
    send(api, "later", key=key)
    assert messages_in(api) == 1


def test_idempotent_create_chat_with_initial_message(emu: Emulator, api: Api) -> None:
    key = str(uuid.uuid4())
    req = chats_pb2.CreateChatRequest(addresses=[ALICE, "+15552222222"],
                                      initial_message=chats_pb2.CreateChatInitialMessage(
                                          text="welcome"))
    a = api.chats.CreateChat(req, metadata=api.metadata(("x-idempotency-key", key)))
    b = api.chats.CreateChat(req, metadata=api.metadata(("x-idempotency-key", key)))
    assert a == b
    assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md).count == 1
    assert emu.quota_usage(LINE_A)["messages"] == 1
