"""Lines at runtime (auto-scale), state snapshots, recorded requests, concurrency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import grpc
import pytest
from emu_helpers import ALICE, LINE_A, LINE_B, Api, StreamReader, rpc_error

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator

LINE_C = "+15550000003"


def test_add_line_at_runtime(emu: Emulator, make_api: Callable[..., Api]) -> None:
    instance = emu.add_line(LINE_C)
    payload = emu.issue_token_payload()
    assert payload["numbers"][instance] == LINE_C
    api = make_api(emu, token=payload["auth"][instance])
    api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md)
    assert emu.state()["lines"][-1]["chats"][0]["guid"] == f"any;-;{ALICE}"
    with pytest.raises(ValueError):
        emu.add_line(LINE_C)
    with pytest.raises(ValueError):
        emu.add_line("not a number")


def test_add_line_without_number(emu: Emulator, make_api: Callable[..., Api]) -> None:
    instance = emu.add_line(None)
    payload = emu.issue_token_payload()
    assert payload["numbers"][instance] is None
    api = make_api(emu, token=payload["auth"][instance])
    assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md).count == 0
    assert emu.line_for_token(payload["auth"][instance]).number is None


def test_remove_line_ends_its_streams_only(emu: Emulator, make_api: Callable[..., Api],
                                           read_stream: Callable[..., StreamReader]) -> None:
    a, b = make_api(emu, LINE_A), make_api(emu, LINE_B)
    calls = [x.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=x.md) for x in (a, b)]
    for call in calls:
        call.initial_metadata()
    stream_a, stream_b = (read_stream(c) for c in calls)
    emu.remove_line(LINE_B)
    err = stream_b.wait_end()
    assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
    assert stream_a.next().WhichOneof("payload") == "heartbeat"
    assert not stream_a.done.is_set()
    assert sorted(emu.issue_token_payload()["numbers"].values()) == [LINE_A]
    assert rpc_error(lambda: b.chats.GetChatCount(
        chats_pb2.GetChatCountRequest(), metadata=b.md)).code() == (
        grpc.StatusCode.UNAUTHENTICATED)
    with pytest.raises(KeyError):
        emu.remove_line(LINE_B)


def test_state_is_json(emu: Emulator) -> None:
    emu.simulate_inbound(ALICE, "hi", line=LINE_A)
    emu.simulate_inbound(ALICE, "hi all", chat="any;+;chat42")
    state = json.loads(json.dumps(emu.state()))
    assert state["plan"] == "dedicated"
    line_a = state["lines"][0]
    assert line_a["number"] == LINE_A and line_a["head_sequence"] == 2
    assert line_a["messages"] == 2
    assert {c["guid"] for c in line_a["chats"]} == {f"any;-;{ALICE}", "any;+;chat42"}
    assert line_a["quota"]["messages"] == 0


def test_requests_are_recorded_without_leaking_tokens(emu: Emulator, api: Api) -> None:
    api.chats.GetChatCount(chats_pb2.GetChatCountRequest(include_archived=True),
                           metadata=api.metadata(("x-idempotency-key", "k1")))
    method, request, metadata = emu.requests[-1]
    assert method == "GetChatCount"
    assert request == chats_pb2.GetChatCountRequest(include_archived=True)
    assert metadata["x-idempotency-key"] == "k1"
    assert metadata["authorization"] == f"Bearer {api.token}"
    assert api.token not in repr(emu.requests)
    emu.clear_requests()
    assert emu.requests == []


def test_inbound_to_a_group_creates_it_on_the_first_line(emu: Emulator, api: Api) -> None:
    guid = emu.simulate_inbound(ALICE, "hi all", chat="any;+;chat42")
    emu.simulate_inbound("+15552222222", "hello", chat="any;+;chat42")
    chat = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid="any;+;chat42"),
                             metadata=api.md).chat
    assert chat.is_group and {p.address for p in chat.participants} == {
        LINE_A, ALICE, "+15552222222"}
    assert chat.last_message.content.text == "hello"
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=guid),
                                  metadata=api.md).message
    assert list(got.chat_guids) == ["any;+;chat42"]
    with pytest.raises(ValueError):
        emu.simulate_inbound("nobody", "x")
    with pytest.raises(KeyError):
        emu.simulate_inbound(ALICE, "x", line="+15559999999")


def test_many_concurrent_calls(emu: Emulator, make_api: Callable[..., Api],
                               read_stream: Callable[..., StreamReader]) -> None:
    api = make_api(emu, LINE_A)
    api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md)
    call = api.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=api.md)
    call.initial_metadata()
    stream = read_stream(call)
    errors: list[BaseException] = []
    per_thread = 63  # 16 threads x 63 sends, plus a lookup each: 2,016 calls

    def work(n: int) -> None:
        try:
            for i in range(per_thread):
                msg = api.messages.SendTextMessage(messages_pb2.SendTextMessageRequest(
                    chat_guid=f"any;-;{ALICE}", text=f"{n}-{i}"), metadata=api.md).message
                api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=msg.guid),
                                        metadata=api.md)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    total = 16 * per_thread
    assert emu.head_sequence(LINE_A) == total
    seqs: list[int] = []
    deadline = time.monotonic() + 10
    while len(seqs) < total and time.monotonic() < deadline:
        frame = stream.next_event()
        seqs.append(frame.sequence)
    assert seqs == list(range(1, total + 1))
