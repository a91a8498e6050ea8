"""Admin routes for fault tests driven from another process: messages, reset, delay,
fail-next with after/context, revoke-tokens and restart (plus their Python counterparts)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from admin_http import admin, call
from emu_helpers import ALICE, BOB, LINE_A, LINE_B, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync.emulator import Emulator


def _send(api: Api, text: str, to: str = ALICE, **request: Any) -> messages_pb2.Message:
    reply = api.messages.SendTextMessage(
        messages_pb2.SendTextMessageRequest(chat_guid=f"any;-;{to}", text=text, **request),
        metadata=api.md, timeout=5)
    return reply.message


def _get_chat(api: Api, guid: str = f"any;-;{ALICE}") -> chats_pb2.GetChatResponse:
    return api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=guid), metadata=api.md,
                             timeout=5)


# -- messages ---------------------------------------------------------------------------------


def test_messages_lists_sent_and_received_in_order(emu: Emulator, api: Api) -> None:
    first = emu.simulate_inbound(ALICE, "hello", line=LINE_A)
    sent = _send(api, "hi Alice")
    other = emu.simulate_inbound(BOB, "on the other line", line=LINE_B)
    group = emu.simulate_inbound(BOB, "group hi", line=LINE_A, chat="any;+;chat42")

    answer = call(emu, "GET", "/_emulator/messages")
    assert answer.status == 200
    records = answer.body["messages"]
    assert [r["guid"] for r in records] == [first, sent.guid, other, group]
    assert records[0] == {
        "guid": first, "chat": f"any;-;{ALICE}", "line": LINE_A, "text": "hello",
        "is_from_me": False, "sender": ALICE, "timestamp": "2026-03-01T12:00:00.000Z",
    }
    assert records[1]["is_from_me"] is True
    assert records[1]["sender"] == LINE_A
    assert records[2]["line"] == LINE_B
    assert records == emu.messages()


def test_messages_filters(emu: Emulator, api: Api) -> None:
    emu.simulate_inbound(ALICE, "a", line=LINE_A)
    emu.simulate_inbound(BOB, "b", line=LINE_B)
    emu.simulate_inbound(BOB, "g", line=LINE_A, chat="any;+;chat42")
    by_line = call(emu, "GET", f"/_emulator/messages?line={LINE_B.replace('+', '%2B')}").body
    assert [m["text"] for m in by_line["messages"]] == ["b"]
    by_chat = call(emu, "GET", "/_emulator/messages?chat=iMessage%3B%2B%3Bchat42").body
    assert [m["text"] for m in by_chat["messages"]] == ["g"]  # service part not significant
    both = call(emu, "GET", f"/_emulator/messages?line=%2B{LINE_A[1:]}&chat=any;-;%2B"
                f"{ALICE[1:]}").body
    assert [m["text"] for m in both["messages"]] == ["a"]
    assert [m["text"] for m in emu.messages(line=LINE_A)] == ["a", "g"]
    assert emu.messages(chat="any;+;nothing") == []


@pytest.mark.parametrize("query", ["line=%2B19999999999", "chat=not-a-guid", "page=2",
                                   "line=a&line=b", "chat=" + "x" * 2000])
def test_messages_bad_filters_are_400(emu: Emulator, query: str) -> None:
    answer = call(emu, "GET", f"/_emulator/messages?{query}")
    assert answer.status == 400, answer
    assert answer.body["code"] == "INVALID_ARGUMENT"
    assert answer.body["message"]


# -- reset ------------------------------------------------------------------------------------


def test_reset_forgets_traffic_but_keeps_lines_tokens_and_sequences(
        emu: Emulator, api: Api, read_stream: Callable[[Any], StreamReader]) -> None:
    emu.simulate_inbound(ALICE, "before", line=LINE_A)
    sent = _send(api, "sent before")
    emu.fail_next(5, "UNAVAILABLE", method="GetChat")
    emu.delay(2.0, "GetMessage")
    assert emu.rest is not None
    emu.rest.fail_next(3)  # token exchanges would fail
    head = emu.head_sequence(LINE_A)
    assert head >= 2
    reader = read_stream(api.messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(), metadata=api.md, timeout=30))
    assert emu.wait_for_streams(1)

    answer = admin(emu, "reset")
    assert (answer.status, answer.body) == (200, {"ok": True})

    assert emu.messages() == []
    assert emu.requests == []
    assert emu.rest.requests == []
    assert _exchange(emu)  # the token-exchange fault is gone too
    state = emu.state()
    assert [ln["number"] for ln in state["lines"]] == [LINE_A, LINE_B]
    line_a = state["lines"][0]
    assert (line_a["chats"], line_a["messages"]) == ([], 0)
    assert line_a["quota"]["messages"] == 0
    assert line_a["head_sequence"] == head
    # The old message is gone; faults and delays too; the token still works.
    err = rpc_error(lambda: api.messages.GetMessage(
        messages_pb2.GetMessageRequest(message_guid=sent.guid), metadata=api.md, timeout=1))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    again = _send(api, "after reset")
    assert _get_chat(api).chat.guid == f"any;-;{ALICE}"
    # Sequences keep counting up: a client holding a cursor sees the new event.
    frame = reader.next_event()
    assert frame.sequence == head + 1
    assert frame.message_changed.message_received.message.guid == again.guid
    assert emu.quota_usage(LINE_A)["new_conversations"] == 1


def test_python_reset_clears_typing_and_catch_up(emu: Emulator, api: Api) -> None:
    emu.simulate_typing(ALICE, line=LINE_A)
    emu.simulate_inbound(ALICE, "x", line=LINE_A)
    emu.reset()
    assert emu.typing == []
    head = emu.head_sequence(LINE_A)
    from spectrum_sync._proto import events_pb2

    # Events before the reset are gone: a cursor from before it is older than the log now,
    # which the cloud answers like any cursor it no longer knows.
    err = rpc_error(lambda: list(api.events.CatchUpEvents(
        events_pb2.CatchUpEventsRequest(after_sequence=0), metadata=api.md, timeout=5)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    last = list(api.events.CatchUpEvents(events_pb2.CatchUpEventsRequest(after_sequence=head),
                                         metadata=api.md, timeout=5))
    assert last[-1].complete.head_sequence == head


# -- delay ------------------------------------------------------------------------------------


def test_delay_route_holds_calls(emu: Emulator, api: Api) -> None:
    _send(api, "open the chat")
    assert admin(emu, "delay", {"seconds": 0.4, "method": "GetChat"}).status == 200
    started = time.monotonic()
    _get_chat(api)
    assert time.monotonic() - started >= 0.38
    started = time.monotonic()
    _send(api, "not delayed")
    assert time.monotonic() - started < 0.3
    assert admin(emu, "delay", {"seconds": 0, "method": "GetChat"}).status == 200
    started = time.monotonic()
    _get_chat(api)
    assert time.monotonic() - started < 0.3
    assert admin(emu, "delay", {"seconds": 0.3}).status == 200  # every method
    started = time.monotonic()
    _send(api, "delayed")
    assert time.monotonic() - started >= 0.28
    admin(emu, "delay", {"seconds": 0})


@pytest.mark.parametrize("body", [
    {}, {"seconds": "1"}, {"seconds": True}, {"seconds": -1}, {"seconds": 1e9},
    {"seconds": None}, {"seconds": 1, "method": 5}, {"seconds": [1]},
])
def test_delay_bad_input_is_400(emu: Emulator, body: dict[str, Any]) -> None:
    answer = admin(emu, "delay", body)
    assert answer.status == 400, answer
    assert answer.body["code"] == "INVALID_ARGUMENT"


def test_delay_nan_is_400(emu: Emulator) -> None:
    answer = admin(emu, "delay", raw=b'{"seconds": NaN}')
    assert answer.status == 400


# -- fail-next with after and context ---------------------------------------------------------


def test_fail_next_after_carries_out_the_call_and_loses_the_answer(emu: Emulator,
                                                                   api: Api) -> None:
    answer = admin(emu, "fail-next", {
        "count": 1, "code": "UNAVAILABLE", "retryable": True, "method": "SendTextMessage",
        "after": True, "context": {"reason": "lost answer"}, "error_code": "networkError"})
    assert answer.status == 200
    err = rpc_error(lambda: _send(api, "did it arrive?", client_message_id="cmid-1"))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    meta = trailers(err)
    assert meta["error-code"] == "networkError"
    assert meta["error-context-reason"] == "lost answer"
    assert meta["x-retryable"] == "true"
    # Carried out server-side: the message exists; a repeat is refused as a duplicate
    # (the original went through), no second one.
    texts = [m["text"] for m in emu.messages()]
    assert texts == ["did it arrive?"]
    err = rpc_error(lambda: _send(api, "did it arrive?", client_message_id="cmid-1"))
    assert trailers(err)["error-code"] == "duplicateMessage"
    assert len(emu.messages()) == 1


def test_fail_next_before_does_not_carry_out_the_call(emu: Emulator, api: Api) -> None:
    assert admin(emu, "fail-next", {"method": "SendTextMessage", "code": "INTERNAL",
                                    "retryable": False, "after": False}).status == 200
    err = rpc_error(lambda: _send(api, "never"))
    assert err.code() == grpc.StatusCode.INTERNAL
    assert trailers(err)["x-retryable"] == "false"
    assert emu.messages() == []


@pytest.mark.parametrize("body", [
    {"count": "two"}, {"count": 0}, {"count": True}, {"retryable": "yes"}, {"after": 1},
    {"context": ["a"]}, {"context": {"a": 1}}, {"code": "BOGUS"}, {"code": 14},
    {"method": ["SendTextMessage"]}, {"message": 5},
])
def test_fail_next_bad_input_is_400(emu: Emulator, body: dict[str, Any]) -> None:
    answer = admin(emu, "fail-next", body)
    assert answer.status == 400, answer
    assert answer.body["code"] == "INVALID_ARGUMENT"


# -- revoke-tokens ----------------------------------------------------------------------------


def _exchange(emu: Emulator) -> dict[str, str]:
    import base64

    basic = "Basic " + base64.b64encode(b"proj:secret").decode()
    answer = call(emu, "POST", "/projects/proj/imessage/tokens",
                  headers={"Authorization": basic})
    assert answer.status == 200
    auth: dict[str, str] = answer.body["data"]["auth"]
    return auth


def test_revoke_tokens_route(emu: Emulator, make_api: Callable[..., Api]) -> None:
    api = make_api(emu, LINE_A)
    _send(api, "works")
    assert admin(emu, "revoke-tokens").status == 200
    err = rpc_error(lambda: _send(api, "revoked"))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert trailers(err)["error-code"] == "unauthenticated"
    fresh = _exchange(emu)
    token = next(t for t in fresh.values() if emu.line_for_token(t).number == LINE_A)
    _send(make_api(emu, token=token), "works again")


def test_revoke_tokens_in_python(emu: Emulator, make_api: Callable[..., Api]) -> None:
    a, b = make_api(emu, LINE_A), make_api(emu, LINE_B)
    emu.revoke_tokens()
    for api in (a, b):
        err = rpc_error(lambda api=api: _get_chat(api))  # type: ignore[misc]
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(KeyError):
        emu.line_for_token(a.token)
    assert emu.lines  # lines stay


# -- restart ----------------------------------------------------------------------------------


def _wait_http_restarted(emu: Emulator, starts: int, timeout: float = 5.0) -> None:
    """Wait until the HTTP server, which restarts a moment after answering "restart", has
    started once more than ``starts`` and answers. (Answering alone proves nothing: the old
    server may still be up, and a connection it accepts is then reset by its stop.)"""
    assert emu.rest is not None
    deadline = time.monotonic() + timeout
    while emu.rest.starts == starts and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.rest.starts == starts + 1
    while True:
        try:
            with urllib.request.urlopen(f"{emu.cloud_url}/_emulator/state", timeout=2) as r:
                json.loads(r.read())
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_restart_route_keeps_ports_and_state_and_cuts_streams(
        emu: Emulator, api: Api, read_stream: Callable[[Any], StreamReader]) -> None:
    sent = _send(api, "before the restart")
    grpc_port, http_port = emu.grpc_port, emu.http_port
    reader = read_stream(api.messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(), metadata=api.md, timeout=30))
    assert emu.wait_for_streams(1)
    assert emu.rest is not None
    starts = emu.rest.starts

    answer = admin(emu, "restart")
    assert (answer.status, answer.body) == (200, {"ok": True})

    err = reader.wait_end()
    assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
    # gRPC serves again at once, with the same token and the same data.
    got = api.messages.GetMessage(messages_pb2.GetMessageRequest(message_guid=sent.guid),
                                  metadata=api.md, timeout=5, wait_for_ready=True)
    assert got.message.content.text == "before the restart"
    _wait_http_restarted(emu, starts)
    assert (emu.grpc_port, emu.http_port) == (grpc_port, http_port)
    assert emu.running
    assert [m["guid"] for m in call(emu, "GET", "/_emulator/messages").body["messages"]] == [
        sent.guid]


def test_restart_route_cuts_kept_alive_connections(emu: Emulator) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", emu.http_port, timeout=5)
    assert emu.rest is not None
    starts = emu.rest.starts
    try:
        assert admin(emu, "restart", conn=conn).status == 200
        _wait_http_restarted(emu, starts)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            admin(emu, "cut-streams", conn=conn)  # the old connection was closed
    finally:
        conn.close()
    assert admin(emu, "cut-streams").status == 200


def test_restart_route_after_stop_does_not_revive(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu()
    emu.restart_grpc()
    emu.stop()
    emu.restart_grpc()
    emu.restart_rest()
    assert not emu.running


@pytest.mark.parametrize("count", [0, -1, True])
def test_python_fail_next_needs_a_positive_count(emu: Emulator, count: int) -> None:
    with pytest.raises(ValueError, match="count"):
        emu.fail_next(count)


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf")])
def test_python_delay_needs_a_finite_non_negative_number(emu: Emulator, seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        emu.delay(seconds)


# -- request bodies ---------------------------------------------------------------------------


def _raw_request(emu: Emulator, head: bytes, frames: Any) -> bytes:
    """Send a request head, then body frames until the server answers; the whole answer."""
    import select
    import socket

    with socket.create_connection(("127.0.0.1", emu.http_port), timeout=20) as sock:
        sock.sendall(head)
        try:
            for frame in frames:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered early
                sock.sendall(frame)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while data := sock.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer and b'"}' in answer:
                break
    return answer


def _chunked_head(emu: Emulator) -> bytes:
    return (f"POST /_emulator/inbound HTTP/1.1\r\nHost: 127.0.0.1:{emu.http_port}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n").encode()


def test_a_chunked_admin_body_is_read(emu: Emulator) -> None:
    body = json.dumps({"from": ALICE, "text": "chunked hello", "line": LINE_A}).encode()
    frames = [b"%x;ext=1\r\n%s\r\n" % (len(body[:10]), body[:10]),
              b"%X\r\n%s\r\n" % (len(body[10:]), body[10:]), b"0\r\nX-Trailer: t\r\n\r\n"]
    answer = _raw_request(emu, _chunked_head(emu), frames)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert [m["text"] for m in emu.messages()] == ["chunked hello"]


def test_a_huge_chunked_admin_body_is_413_after_reading_the_limit(emu: Emulator) -> None:
    from pathlib import Path

    def peak() -> int:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) * 1024

    mib = 1024 * 1024
    frame = b"%x\r\n" % mib + b"{" * mib + b"\r\n"
    before = peak()
    answer = _raw_request(emu, _chunked_head(emu), (frame for _ in range(128)))
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"PAYLOAD_TOO_LARGE" in answer
    assert peak() - before < 32 * mib
    # One chunk claiming more than the limit is refused the same way.
    claim = b"%x\r\n" % (64 * mib) + b"{" * (2 * mib)
    assert _raw_request(emu, _chunked_head(emu), [claim]).startswith(b"HTTP/1.1 413 ")
    assert emu.messages() == []


@pytest.mark.parametrize("frames", [[b"zz\r\n{}\r\n0\r\n\r\n"], [b"5\r\n{}\r\n0\r\n\r\n"]])
def test_a_malformed_chunked_body_is_400(emu: Emulator, frames: list[bytes]) -> None:
    answer = _raw_request(emu, _chunked_head(emu), frames)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
