"""Fault injection (failures, delays, stream cuts), restart, and prompt shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc
from emu_helpers import ALICE, LINE_A, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, events_pb2, messages_pb2
from spectrum_sync.emulator import Emulator


def count(api: Api) -> int:
    return api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md).count


def subscribe(api: Api, read_stream: Callable[..., StreamReader]) -> StreamReader:
    call = api.messages.SubscribeMessageEvents(messages_pb2.SubscribeMessageEventsRequest(),
                                               metadata=api.md)
    call.initial_metadata()
    return read_stream(call)


def test_fail_next_with_retryable_trailers(emu: Emulator, api: Api) -> None:
    emu.fail_next(2, code="UNAVAILABLE", retryable=True)
    for _ in range(2):
        err = rpc_error(lambda: count(api))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert trailers(err)["x-retryable"] == "true"
        assert trailers(err)["error-code"] == "serviceUnavailable"
    assert count(api) == 0


def test_fail_next_for_one_method_with_code_and_context(emu: Emulator, api: Api) -> None:
    emu.fail_next(1, code="RESOURCE_EXHAUSTED", retryable=False, method="CreateChat",
                  error_code="burstRateExceeded", context={"retryAfter": "2"})
    assert count(api) == 0  # another method: untouched
    err = rpc_error(lambda: api.chats.CreateChat(
        chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    t = trailers(err)
    assert (t["error-code"], t["x-retryable"], t["error-context-retryafter"]) == (
        "burstRateExceeded", "false", "2")
    assert count(api) == 0  # failed before running
    api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]), metadata=api.md)
    assert count(api) == 1


def test_unnamed_faults_spare_streams(emu: Emulator, api: Api,
                                      read_stream: Callable[..., StreamReader]) -> None:
    emu.fail_next(1)
    stream = subscribe(api, read_stream)
    assert stream.next().WhichOneof("payload") == "heartbeat"
    assert rpc_error(lambda: count(api)).code() == grpc.StatusCode.UNAVAILABLE
    emu.fail_next(1, method="SubscribeMessageEvents")
    err = rpc_error(lambda: list(api.messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(), metadata=api.md)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE


def test_delay_and_clear_faults(emu: Emulator, api: Api) -> None:
    emu.delay(0.3, method="GetChatCount")
    err = rpc_error(lambda: api.chats.GetChatCount(
        chats_pb2.GetChatCountRequest(), metadata=api.md, timeout=0.1))
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    emu.clear_faults()
    assert api.chats.GetChatCount(chats_pb2.GetChatCountRequest(), metadata=api.md,
                                  timeout=2).count == 0


def test_cut_streams_now(emu: Emulator, api: Api,
                         read_stream: Callable[..., StreamReader]) -> None:
    streams = [subscribe(api, read_stream) for _ in range(3)]
    assert emu.wait_for_streams(3)
    emu.cut_streams()
    for stream in streams:
        err = stream.wait_end()
        assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
        assert trailers(err)["x-retryable"] == "true"
    deadline = time.monotonic() + 5
    while emu.open_streams and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.open_streams == 0
    again = subscribe(api, read_stream)  # reconnecting works
    emu.simulate_inbound(ALICE, "after the cut", line=LINE_A)
    assert again.next_event().sequence == 1


def test_cut_streams_every_n_frames(emu: Emulator, api: Api,
                                    read_stream: Callable[..., StreamReader]) -> None:
    emu.cut_streams_every(3)
    stream = subscribe(api, read_stream)
    for i in range(5):
        emu.simulate_inbound(ALICE, f"m{i}", line=LINE_A)
    got = [stream.next_event().sequence for _ in range(3)]
    assert got == [1, 2, 3]
    err = stream.wait_end()
    assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
    replay = list(api.events.CatchUpEvents(events_pb2.CatchUpEventsRequest(after_sequence=3),
                                           metadata=api.md))
    assert [f.sequence for f in replay if f.HasField("sequence")] == [4, 5]
    # a replay longer than N frames is not cut: it must be able to complete
    full = list(api.events.CatchUpEvents(events_pb2.CatchUpEventsRequest(after_sequence=0),
                                         metadata=api.md))
    assert len(full) == 6 and full[-1].complete.head_sequence == 5


def test_stop_ends_streams_quickly(make_emu: Callable[..., Emulator],
                                   make_api: Callable[..., Api],
                                   read_stream: Callable[..., StreamReader]) -> None:
    emu = make_emu(heartbeat_interval=30.0)
    api = make_api(emu, LINE_A)
    streams = [subscribe(api, read_stream) for _ in range(4)]
    before = {t.name for t in threading.enumerate()}
    assert any(n.startswith("spectrum-emu-") for n in before)
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 3.0
    for stream in streams:
        assert stream.wait_end(3.0) is not None
    prefix = emu.thread_name_prefix
    assert not [t for t in threading.enumerate() if t.name.startswith(prefix)]


def test_restart_keeps_ports_and_state(emu: Emulator, api: Api,
                                       read_stream: Callable[..., StreamReader]) -> None:
    guid = emu.simulate_inbound(ALICE, "persisted", line=LINE_A)
    stream = subscribe(api, read_stream)
    address = emu.grpc_address
    emu.restart()
    assert emu.grpc_address == address
    err = stream.wait_end()
    assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=guid),
                                  metadata=api.md, wait_for_ready=True, timeout=5).message
    assert got.content.text == "persisted"
