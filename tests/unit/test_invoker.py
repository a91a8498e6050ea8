"""The call wrapper: idempotency keys, retry policy and timing, deadlines, outcomes."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from support.fakes import Clock, FakeLine, FakeRpcError, service_error

import spectrum_sync as spectrum
from spectrum_sync._proto import chats_pb2, messages_pb2
from spectrum_sync._transport.invoker import Invoker, RetryPolicy


def invoker(clock: Clock, policy: RetryPolicy | None = None, credentials: Any = None,
            timeout: float = 10.0) -> Invoker:
    return Invoker(credentials, policy or RetryPolicy(), timeout, sleep=clock.sleep,
                   clock=clock)


def send_request() -> messages_pb2.SendTextMessageRequest:
    return messages_pb2.SendTextMessageRequest(chat_guid="any;-;+15551111111", text="hi")


def test_one_key_for_every_attempt_of_a_mutating_call() -> None:
    clock = Clock()
    answers = iter([service_error("UNAVAILABLE", "serviceUnavailable", True),
                    service_error("UNAVAILABLE", "serviceUnavailable", True)])

    def answer(request: Any, timeout: float, metadata: Any) -> Any:
        error = next(answers, None)
        if error is not None:
            raise error
        return messages_pb2.MessageResponse()

    line = FakeLine(answer)
    request = send_request()
    invoker(clock).call(line, request)  # type: ignore[arg-type]
    keys = {c["metadata"]["x-idempotency-key"] for c in line.calls}
    assert len(line.calls) == 3 and len(keys) == 1
    # Without a caller's key there is no client_message_id (dedupe across restarts is opt-in).
    assert not request.HasField("client_message_id")
    assert len(clock.sleeps) == 2 and all(0 <= s <= 0.4 for s in clock.sleeps)


def test_reads_carry_no_key_and_a_caller_key_is_used_as_given() -> None:
    clock = Clock()
    line = FakeLine(lambda *a: chats_pb2.GetChatResponse())
    invoker(clock).call(line, chats_pb2.GetChatRequest(chat_guid="x"))  # type: ignore[arg-type]
    assert "x-idempotency-key" not in line.calls[0]["metadata"]
    line = FakeLine(lambda *a: messages_pb2.MessageResponse())
    request = send_request()
    invoker(clock).call(line, request, idempotency_key="order-7")  # type: ignore[arg-type]
    assert line.calls[0]["metadata"]["x-idempotency-key"] == "order-7"
    assert request.client_message_id == "order-7"


def test_max_attempts_and_non_retryable_errors() -> None:
    clock = Clock()
    line = FakeLine(lambda *a: (_ for _ in ()).throw(
        service_error("UNAVAILABLE", "serviceUnavailable", True)))
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock, RetryPolicy(max_attempts=3)).call(line, send_request())  # type: ignore[arg-type]
    assert len(line.calls) == 3 and info.value.outcome == "rejected"
    line = FakeLine(lambda *a: (_ for _ in ()).throw(
        service_error("INVALID_ARGUMENT", "invalidArgument")))
    with pytest.raises(spectrum.ValidationError):
        invoker(clock).call(line, send_request())  # type: ignore[arg-type]
    assert len(line.calls) == 1


def test_connection_failures_are_retried_until_the_deadline() -> None:
    clock = Clock()
    refused = FakeRpcError(grpc.StatusCode.UNAVAILABLE,
                           "failed to connect to all addresses; Connection refused")
    line = FakeLine(lambda *a: (_ for _ in ()).throw(refused))
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock, timeout=2.0).call(line, send_request())  # type: ignore[arg-type]
    assert len(line.calls) > 4  # more than max_attempts: nothing left the client
    assert (info.value.code, info.value.outcome, info.value.retryable) == (
        "serviceUnavailable", "not_sent", True)
    assert all(c["timeout"] <= 2.0 for c in line.calls)


def test_a_connection_that_comes_back_in_time_succeeds() -> None:
    clock = Clock()
    start = clock.now
    refused = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect")

    def answer(*args: Any) -> Any:
        if clock.now - start < 1.5:  # down for 1.5 s
            raise refused
        return messages_pb2.MessageResponse()

    invoker(clock).call(FakeLine(answer), send_request())  # type: ignore[arg-type]
    assert 1.5 <= clock.now - start < 2.5


def test_the_deadline_covers_every_attempt() -> None:
    clock = Clock()

    def slow(request: Any, timeout: float, metadata: Any) -> Any:
        clock.now += timeout  # the whole remaining budget, then the deadline passes
        raise FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")

    line = FakeLine(slow)
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock, timeout=3.0).call(line, send_request())  # type: ignore[arg-type]
    assert len(line.calls) == 1
    error = info.value
    assert (error.code, error.outcome) == ("timeout", "unknown")
    assert error.idempotency_key and error.idempotency_key in str(error)


class FakeCredentials:
    def __init__(self) -> None:
        self.refresh_due = float("inf")
        self.generation = 1.0
        self.confirmed = 0.0
        self.rejected: list[float] = []

    def ensure_fresh(self, timeout: float) -> None:
        pass

    def force_refresh(self) -> bool:
        return False

    def reject(self, generation: float) -> bool:
        self.rejected.append(generation)
        return True


def test_unauthenticated_rejects_the_token_and_retries_once() -> None:
    clock = Clock()
    credentials = FakeCredentials()
    line = FakeLine(lambda *a: (_ for _ in ()).throw(
        service_error("UNAUTHENTICATED", "unauthenticated")))
    with pytest.raises(spectrum.AuthenticationError):
        invoker(clock, credentials=credentials).call(line, send_request())  # type: ignore[arg-type]
    assert len(line.calls) == 2 and credentials.rejected == [1.0]
    assert len({c["metadata"]["x-idempotency-key"] for c in line.calls}) == 1


def failing(*errors: Exception) -> FakeLine:
    """A line that raises ``errors`` in turn, then answers."""
    answers = iter(errors)

    def answer(*args: Any) -> Any:
        error = next(answers, None)
        if error is not None:
            raise error
        return messages_pb2.MessageResponse()

    return FakeLine(answer)


def test_a_deadline_spent_before_the_first_attempt_sends_nothing() -> None:
    clock = Clock()
    line = failing()
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock).call(line, send_request(), timeout=0.0, idempotency_key="k-0")  # type: ignore[arg-type]
    assert line.calls == []
    assert (info.value.code, info.value.outcome, info.value.idempotency_key) == (
        "timeout", "unknown", "k-0")
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock).call(line, chats_pb2.GetChatRequest(chat_guid="x"), timeout=0.0)  # type: ignore[arg-type]
    assert (info.value.outcome, info.value.idempotency_key) == (None, None)


def test_a_retry_pause_that_would_pass_the_deadline_raises_the_services_error() -> None:
    clock = Clock()
    start = clock.now
    line = FakeLine(lambda *a: (_ for _ in ()).throw(
        service_error("UNAVAILABLE", "serviceUnavailable", True)))
    policy = RetryPolicy(max_attempts=100, base=5.0, cap=5.0)
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock, policy, timeout=6.0).call(line, send_request())  # type: ignore[arg-type]
    # The policy allowed more attempts: the budget ended them, before the deadline, with
    # the service's own error rather than a timeout.
    assert (info.value.code, info.value.outcome) == ("serviceUnavailable", "rejected")
    assert len(line.calls) == len(clock.sleeps) + 1 < 100 and clock.now - start < 6.0


def test_a_lost_connection_after_the_server_answered_times_out_as_unknown() -> None:
    clock = Clock()
    refused = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect; Connection refused")
    line = failing(service_error("UNAVAILABLE", "serviceUnavailable", True), *[refused] * 100)
    with pytest.raises(spectrum.ConnectionError) as info:
        invoker(clock, timeout=2.0).call(line, send_request())  # type: ignore[arg-type]
    # The first attempt reached the server: the request may have gone through.
    assert (info.value.code, info.value.outcome) == ("timeout", "unknown")
    assert info.value.idempotency_key == line.calls[0]["metadata"]["x-idempotency-key"]


def test_a_duplicate_is_raised_as_already_sent_naming_the_key() -> None:
    clock = Clock()
    line = failing(service_error("ALREADY_EXISTS", "duplicateMessage"))
    with pytest.raises(spectrum.AlreadySent) as info:
        invoker(clock).call(line, send_request(), idempotency_key="order-9")  # type: ignore[arg-type]
    assert len(line.calls) == 1 and info.value.outcome == "sent"
    assert info.value.idempotency_key == "order-9" and "'order-9'" in str(info.value)


def test_a_call_failing_after_close_or_removal_says_so() -> None:
    clock = Clock()
    closed = [False]
    calls = Invoker(None, RetryPolicy(), 10.0, is_closed=lambda: closed[0],
                    sleep=clock.sleep, clock=clock)
    unavailable = service_error("UNAVAILABLE", "serviceUnavailable", True)
    line = failing(unavailable)
    closed[0] = True
    with pytest.raises(spectrum.ClientClosed):
        calls.call(line, send_request())  # type: ignore[arg-type]
    closed[0] = False
    line = failing(unavailable)
    line.closed = True
    with pytest.raises(spectrum.RoutingError):
        calls.call(line, send_request())  # type: ignore[arg-type]
    # grpcio raises ValueError on a channel closed meanwhile: the line's removal is the cause.
    line = failing(ValueError("Cannot invoke RPC on closed channel!"))
    line.closed = True
    with pytest.raises(spectrum.RoutingError):
        calls.call(line, send_request())  # type: ignore[arg-type]
    # A ValueError with nothing closed is not ours to explain.
    with pytest.raises(ValueError, match="bad request"):
        calls.call(failing(ValueError("bad request")), send_request())  # type: ignore[arg-type]
    assert clock.sleeps == []
