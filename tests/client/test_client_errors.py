"""Error translation, retries, idempotency keys, deadlines."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest
from client_helpers import ALICE, LINE_1, ClientFactory, calls, message_count

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator


@pytest.fixture
def space(client: Client) -> spectrum.Space:
    return client.space.create(ALICE, phone=LINE_1)


def test_retryable_faults_are_retried_and_deliver_once(
    emu: Emulator, client: Client, space: spectrum.Space
) -> None:
    emu.clear_requests()
    # after=True: the server performs the send and only the answer is lost, the worst case.
    emu.fail_next(2, code="UNAVAILABLE", retryable=True, method="SendTextMessage", after=True)
    message = space.send("exactly once")
    sends = calls(emu, "SendTextMessage")
    assert len(sends) == 3
    keys = {call.metadata["x-idempotency-key"] for call in sends}
    # One header key for the logical call; no client_message_id without a caller's key.
    assert len(keys) == 1
    assert not any(call.request.HasField("client_message_id") for call in sends)
    assert message_count(emu, space.id) == 1
    assert message.text == "exactly once"


def test_each_logical_send_has_its_own_keys(emu: Emulator, space: spectrum.Space) -> None:
    emu.clear_requests()
    space.send("one")
    space.send("two")
    sends = calls(emu, "SendTextMessage")
    keys = {c.metadata["x-idempotency-key"] for c in sends}
    assert len(keys) == 2
    for value in keys:
        assert uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    assert not any(c.request.HasField("client_message_id") for c in sends)


def test_a_callers_key_is_the_client_message_id(emu: Emulator, space: spectrum.Space) -> None:
    emu.clear_requests()
    emu.fail_next(1, code="UNAVAILABLE", retryable=True, method="SendTextMessage", after=True)
    space.send("keyed", idempotency_key="order-42")
    sends = calls(emu, "SendTextMessage")
    assert [c.request.client_message_id for c in sends] == ["order-42", "order-42"]
    assert {c.metadata["x-idempotency-key"] for c in sends} == {"order-42"}
    assert message_count(emu, space.id) == 1


def test_non_retryable_faults_raise_at_once(emu: Emulator, space: spectrum.Space) -> None:
    emu.clear_requests()
    emu.fail_next(1, code="INVALID_ARGUMENT", retryable=False, method="SendTextMessage",
                  error_code="invalidArgument", context={"field": "text"})
    with pytest.raises(spectrum.ValidationError) as info:
        space.send("nope")
    error = info.value
    assert isinstance(error, ValueError)
    assert (error.code, error.retryable, error.grpc_code) == (
        "invalidArgument", False, grpc.StatusCode.INVALID_ARGUMENT)
    assert error.context == {"field": "text"}
    assert len(calls(emu, "SendTextMessage")) == 1


@pytest.mark.parametrize(
    ("status", "error_code", "expected"),
    [
        ("UNAUTHENTICATED", "tokenBlocked", spectrum.AuthenticationError),
        ("PERMISSION_DENIED", "unauthorized", spectrum.AuthenticationError),
        ("NOT_FOUND", "chatNotFound", spectrum.NotFoundError),
        ("RESOURCE_EXHAUSTED", "burstRateExceeded", spectrum.RateLimitError),
        ("FAILED_PRECONDITION", "preconditionFailed", spectrum.ValidationError),
        ("FAILED_PRECONDITION", "operationNotSupported", spectrum.UnsupportedError),
        ("FAILED_PRECONDITION", "privateApiUnavailable", spectrum.UnsupportedError),
        ("ALREADY_EXISTS", "duplicateMessage", spectrum.AlreadySent),
        ("UNAVAILABLE", "serviceUnavailable", spectrum.ConnectionError),
        ("DEADLINE_EXCEEDED", "timeout", spectrum.ConnectionError),
        ("INTERNAL", "databaseError", spectrum.SpectrumError),
        ("UNKNOWN", "somethingNew", spectrum.SpectrumError),
    ],
)
def test_status_codes_map_to_classes(
    emu: Emulator, space: spectrum.Space, status: str, error_code: str,
    expected: type[spectrum.SpectrumError],
) -> None:
    emu.fail_next(1, code=status, retryable=False, method="SendTextMessage",
                  error_code=error_code)
    with pytest.raises(expected) as info:
        space.send("x")
    assert type(info.value) is expected
    assert info.value.code == error_code
    assert info.value.grpc_code == getattr(grpc.StatusCode, status)


def test_retries_give_up_after_max_attempts(
    emu: Emulator, make_client: ClientFactory
) -> None:
    client = make_client(emu, retry=spectrum.RetryPolicy(max_attempts=3, base=0.01, cap=0.02))
    space = client.space.create(ALICE, phone=LINE_1)
    emu.clear_requests()
    emu.fail_next(5, code="UNAVAILABLE", retryable=True, method="SendTextMessage")
    with pytest.raises(spectrum.ConnectionError) as info:
        space.send("x")
    assert info.value.retryable
    assert len(calls(emu, "SendTextMessage")) == 3
    emu.clear_faults()


def test_deadline_covers_the_whole_call(emu: Emulator, space: spectrum.Space) -> None:
    emu.delay(2.0, method="SendTextMessage")
    started = time.monotonic()
    with pytest.raises(spectrum.ConnectionError):
        space.send("slow", timeout=0.5)
    assert time.monotonic() - started < 1.9
    emu.delay(0)


def test_server_down_gives_a_connection_error_not_a_hang(
    emu: Emulator, client: Client, space: spectrum.Space
) -> None:
    space.send("warm up")  # channel connected, token fetched
    emu.stop()
    started = time.monotonic()
    with pytest.raises(spectrum.ConnectionError) as info:
        space.send("into the void", timeout=3)
    assert time.monotonic() - started < 3.5
    assert isinstance(info.value, ConnectionError)  # also the built-in
    emu.start()
    # The channel reconnects with backoff (bounded by the client to a few seconds);
    # until then calls fail fast instead of hanging.
    deadline = time.monotonic() + 15
    while True:
        try:
            assert space.send("back").text == "back"
            break
        except spectrum.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def test_unreachable_cloud_is_a_connection_error(make_client: ClientFactory) -> None:
    client = make_client(None, project_id="p", project_secret="s",
                         cloud_url="http://127.0.0.1:9", env={}, timeout=3)
    started = time.monotonic()
    with pytest.raises(spectrum.ConnectionError):
        client.space.get("any;-;+15551111111")
    assert time.monotonic() - started < 3.5


def test_no_raw_grpc_error_escapes(emu: Emulator, space: spectrum.Space) -> None:
    emu.fail_next(1, code="DATA_LOSS", retryable=False, method="SetTyping")
    with pytest.raises(spectrum.SpectrumError) as info:
        space.set_typing(True)
    assert not isinstance(info.value, grpc.RpcError)
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, grpc.RpcError)
