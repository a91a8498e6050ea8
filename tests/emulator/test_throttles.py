"""The service's throttles beyond the daily quotas (each off by default, each answered with
its official code and a context a client can act on) and the catch-up concurrency limit."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from emu_helpers import ALICE, BOB, LINE_A, Api, rpc_error, trailers

from spectrum_sync._proto import attachments_pb2, chats_pb2, events_pb2, messages_pb2
from spectrum_sync.emulator import Emulator, Throttles
from spectrum_sync.emulator.cli import build_parser, emulator_kwargs

Make = Callable[..., Emulator]
MakeApi = Callable[..., Api]


def dm(api: Api, address: str) -> str:
    return api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[address]),
                                metadata=api.md).chat.guid


def send(api: Api, chat: str, text: str = "hi") -> messages_pb2.Message:
    return api.messages.SendTextMessage(
        messages_pb2.SendTextMessageRequest(chat_guid=chat, text=text), metadata=api.md).message


def refused(api: Api, chat: str, text: str = "hi") -> dict[str, str]:
    err = rpc_error(lambda: send(api, chat, text))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    return trailers(err)


def test_off_by_default(api: Api) -> None:
    chat = dm(api, ALICE)
    for _ in range(30):
        send(api, chat, "same text")  # no burst, recipient, content or ratio limit


def test_per_recipient_limit_stops_only_that_recipient(make_emu: Make, make_api: MakeApi
                                                      ) -> None:
    api = make_api(make_emu(throttles=Throttles(per_recipient_per_day=2)), LINE_A)
    alice, bob = dm(api, ALICE), dm(api, BOB)
    send(api, alice, "1")
    send(api, alice, "2")
    t = refused(api, alice, "3")
    assert t["error-code"] == "recipientLimitExceeded" and t["x-retryable"] == "false"
    assert t["error-context-recipient"] == ALICE and t["error-context-resetsat"]
    send(api, bob, "to Bob")


def test_same_text_limit(make_emu: Make, make_api: MakeApi) -> None:
    api = make_api(make_emu(throttles=Throttles(same_text_per_day=1)), LINE_A)
    alice, bob = dm(api, ALICE), dm(api, BOB)
    send(api, alice, "promo")
    assert refused(api, bob, "promo")["error-code"] == "contentDuplicateExceeded"
    send(api, bob, "something else")


def test_burst_limit_is_retryable_with_a_wait(make_emu: Make, make_api: MakeApi) -> None:
    emu = make_emu(throttles=Throttles(burst_per_minute=2))
    api = make_api(emu, LINE_A)
    chat = dm(api, ALICE)
    send(api, chat, "1")
    send(api, chat, "2")
    t = refused(api, chat, "3")
    assert t["error-code"] == "burstRateExceeded" and t["x-retryable"] == "true"
    assert float(t["error-context-retryafter"]) == pytest.approx(60, abs=0.01)
    emu.advance_clock(61)
    send(api, chat, "3")


def test_cooling_down_until_the_recipient_answers(make_emu: Make, make_api: MakeApi) -> None:
    emu = make_emu(throttles=Throttles(unanswered_per_recipient=2))
    api = make_api(emu, LINE_A)
    chat = dm(api, ALICE)
    send(api, chat, "1")
    send(api, chat, "2")
    assert refused(api, chat, "3")["error-code"] == "recipientCoolingDown"
    emu.simulate_inbound(ALICE, "sorry, busy", line=LINE_A)
    send(api, chat, "3")


def test_locked_recipient(make_emu: Make, make_api: MakeApi) -> None:
    api = make_api(make_emu(throttles=Throttles(locked_recipients={BOB})), LINE_A)
    assert refused(api, dm(api, BOB))["error-code"] == "recipientLocked"
    send(api, dm(api, ALICE))


def test_send_receive_ratio(make_emu: Make, make_api: MakeApi) -> None:
    emu = make_emu(throttles=Throttles(send_receive_ratio=5))
    api = make_api(emu, LINE_A)
    chat = dm(api, ALICE)
    for i in range(10):
        send(api, chat, str(i))
    assert refused(api, chat)["error-code"] == "sendReceiveRatioExceeded"
    emu.simulate_inbound(ALICE, "one", line=LINE_A)
    emu.simulate_inbound(ALICE, "two", line=LINE_A)
    send(api, chat)  # 10 sent, 2 received: under 5 per received message


def test_upload_rate(make_emu: Make, make_api: MakeApi) -> None:
    api = make_api(make_emu(throttles=Throttles(uploads_per_minute=1)), LINE_A)

    def upload() -> object:
        return api.attachments.UploadAttachment(attachments_pb2.UploadAttachmentRequest(
            file_name="a.txt", data=b"x"), metadata=api.md)

    upload()
    err = rpc_error(upload)
    assert trailers(err)["error-code"] == "uploadRateExceeded"
    send(api, dm(api, ALICE))  # text sends are not throttled by uploads


def test_throttles_validate() -> None:
    with pytest.raises(ValueError, match="burst_per_minute"):
        Throttles(burst_per_minute=0)


def test_cli_flags_set_the_throttles() -> None:
    ns = build_parser().parse_args([
        "--lines", LINE_A, "--burst-per-minute", "30", "--per-recipient-per-day", "5",
        "--same-text-per-day", "3", "--uploads-per-minute", "4",
        "--unanswered-per-recipient", "2", "--send-receive-ratio", "7.5",
        "--locked-recipient", ALICE, "--locked-recipient", BOB, "--idempotency-window", "60",
        "--max-catchups", "4"])
    kwargs = emulator_kwargs(ns)
    assert kwargs["throttles"] == Throttles(
        burst_per_minute=30, per_recipient_per_day=5, same_text_per_day=3,
        uploads_per_minute=4, unanswered_per_recipient=2, send_receive_ratio=7.5,
        locked_recipients=frozenset({ALICE, BOB}))
    assert (kwargs["idempotency_window"], kwargs["max_concurrent_catchups"]) == (60, 4)
    default = emulator_kwargs(build_parser().parse_args(["--lines", LINE_A]))
    assert default["throttles"] == Throttles()
    assert default["max_concurrent_catchups"] == 16


def test_more_catch_ups_than_the_limit_are_refused(make_emu: Make, make_api: MakeApi) -> None:
    """Catch-ups still being read hold their places; one more is refused, retryable."""
    emu = make_emu(max_concurrent_catchups=2)
    api = make_api(emu, LINE_A)
    chat = dm(api, ALICE)
    big = "x" * 200_000
    for _ in range(40):  # 8 MB per replay: a stream not read stays in flight
        emu.simulate_inbound(ALICE, big, line=LINE_A)
    request = events_pb2.CatchUpEventsRequest(after_sequence=0)
    held = [api.events.CatchUpEvents(request, metadata=api.md) for _ in range(2)]
    for stream in held:
        next(stream)
    err = rpc_error(lambda: next(api.events.CatchUpEvents(request, metadata=api.md)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    t = trailers(err)
    assert (t["error-code"], t["x-retryable"], t["error-context-limit"]) == (
        "serviceUnavailable", "true", "2")
    for stream in held:
        stream.cancel()
    frames = list(api.events.CatchUpEvents(
        events_pb2.CatchUpEventsRequest(after_sequence=emu.head_sequence(LINE_A)),
        metadata=api.md))
    assert frames[-1].HasField("complete")
    assert chat
