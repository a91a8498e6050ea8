"""Daily quotas per line (5,000 messages, 50 new conversations) with the injectable clock."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from emu_helpers import LINE_A, LINE_B, T0, Api, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

PEOPLE = [f"+1555123000{i}" for i in range(6)]


def dm(api: Api, address: str) -> str:
    return api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[address]),
                                metadata=api.md).chat.guid


def send(api: Api, chat: str, text: str = "hi") -> messages_pb2.Message:
    return api.messages.SendTextMessage(
        messages_pb2.SendTextMessageRequest(chat_guid=chat, text=text), metadata=api.md).message


def test_daily_message_limit(make_emu: Callable[..., Emulator],
                             make_api: Callable[..., Api]) -> None:
    emu = make_emu(daily_message_limit=3)
    api = make_api(emu, LINE_A)
    chat = dm(api, PEOPLE[0])
    for _ in range(3):
        send(api, chat)
    err = rpc_error(lambda: send(api, chat))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    t = trailers(err)
    assert t["error-code"] == "dailyLimitExceeded" and t["x-retryable"] == "false"
    assert t["error-context-limit"] == "3" and t["error-context-line"] == LINE_A
    assert t["error-context-resetsat"] == "2026-03-02T00:00:00Z"
    usage = emu.quota_usage(LINE_A)
    assert (usage["messages"], usage["message_limit"]) == (3, 3)
    other = make_api(emu, LINE_B)  # the quota is per line
    send(other, dm(other, PEOPLE[0]))


def test_new_conversation_limit(make_emu: Callable[..., Emulator],
                                make_api: Callable[..., Api]) -> None:
    emu = make_emu(daily_new_conversation_limit=2)
    api = make_api(emu, LINE_A)
    first, second, third = (dm(api, p) for p in PEOPLE[:3])
    send(api, first)
    send(api, second)
    send(api, first, "follow-up")  # existing conversations do not count
    err = rpc_error(lambda: send(api, third))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert trailers(err)["error-code"] == "newContactThrottled"
    assert trailers(err)["error-context-limit"] == "2"
    usage = emu.quota_usage(LINE_A)
    assert (usage["messages"], usage["new_conversations"]) == (3, 2)
    group = api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=PEOPLE[:2]),
                                 metadata=api.md).chat.guid
    assert trailers(rpc_error(lambda: send(api, group)))["error-code"] == "newContactThrottled"


def test_quotas_reset_at_utc_midnight(make_emu: Callable[..., Emulator],
                                      make_api: Callable[..., Api]) -> None:
    emu = make_emu(daily_message_limit=1, daily_new_conversation_limit=1, token_ttl=10 ** 6)
    api = make_api(emu, LINE_A)
    a, b = dm(api, PEOPLE[0]), dm(api, PEOPLE[1])
    send(api, a)
    assert rpc_error(lambda: send(api, a)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    emu.set_clock(T0 + 12 * 3600 - 1)  # 23:59:59 UTC the same day
    assert rpc_error(lambda: send(api, a)).code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    emu.advance_clock(1)  # midnight
    send(api, a)
    assert emu.quota_usage(LINE_A)["day"] == "2026-03-02"
    emu.advance_clock(86400)
    send(api, b)  # a new contact again allowed on a new day
    assert trailers(rpc_error(lambda: send(api, b)))["error-code"] == "dailyLimitExceeded"


def test_failed_sends_and_reactions_do_not_count(emu: Emulator, api: Api) -> None:
    chat = dm(api, PEOPLE[0])
    rpc_error(lambda: send(api, "any;+;nosuchgroup"))  # a failed send
    msg = send(api, chat)
    api.messages.SetReaction(messages_pb2.SetReactionRequest(
        target=messages_pb2.MessageTarget(chat_guid=chat, message_guid=msg.guid), is_set=True),
        metadata=api.md)
    assert emu.quota_usage(LINE_A)["messages"] == 1
    state = emu.state()
    line = next(ln for ln in state["lines"] if ln["number"] == LINE_A)
    assert line["quota"]["messages"] == 1
