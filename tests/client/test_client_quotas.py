"""Daily quotas: server errors become QuotaExceeded, client-side counting and refusal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from client_helpers import ALICE, LINE_1, LINE_2, ClientFactory, EmulatorFactory, calls

import spectrum_sync as spectrum


def _next_utc_midnight() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def _open_conversations(client: spectrum.Client, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        client.space.create(f"+1555800{i:04d}", phone=LINE_1).send("hello")


def test_51st_new_conversation_is_refused_before_the_rpc(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1, LINE_2])
    client = make_client(emu)
    _open_conversations(client, 50)
    known = client.space.get("any;-;+15558000000")
    space = client.space.create(ALICE, phone=LINE_1)
    emu.clear_requests()
    with pytest.raises(spectrum.QuotaExceeded) as info:
        space.send("one too many")
    error = info.value
    assert isinstance(error, spectrum.RateLimitError)
    assert (error.kind, error.limit, error.line) == ("new_conversations", 50, LINE_1)
    assert error.resets_at == _next_utc_midnight()
    assert calls(emu, "SendTextMessage") == []
    # Existing conversations go on; the other line is not affected.
    known.send("still talking")
    client.space.create(ALICE, phone=LINE_2).send("other line")
    usage = client.quota(LINE_1)
    assert (usage.messages, usage.new_conversations) == (51, 50)
    assert usage.new_conversations_remaining == 0 and usage.messages_remaining == 4949


def test_server_side_new_conversation_limit_becomes_quota_exceeded(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1], daily_new_conversation_limit=3)
    client = make_client(emu)  # the client believes 50: the server decides
    _open_conversations(client, 3)
    space = client.space.create(ALICE)
    with pytest.raises(spectrum.QuotaExceeded) as info:
        space.send("fourth new conversation")
    error = info.value
    assert (error.kind, error.limit, error.line, error.code) == (
        "new_conversations", 3, LINE_1, "newContactThrottled")
    assert error.resets_at == _next_utc_midnight()
    # Known to be spent now: the next attempt is refused without an RPC.
    emu.clear_requests()
    with pytest.raises(spectrum.QuotaExceeded):
        client.space.create("+15559990000").send("again")
    assert calls(emu, "SendTextMessage") == []


def test_daily_message_limit_client_side(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu, quota_limits=spectrum.QuotaLimits(messages_per_day=5))
    space = client.space.create(ALICE)
    for i in range(5):
        space.send(f"message {i}")
    emu.clear_requests()
    with pytest.raises(spectrum.QuotaExceeded) as info:
        space.send("sixth")
    assert (info.value.kind, info.value.limit) == ("messages", 5)
    assert emu.requests == []
    assert client.quota().messages == 5  # one line: phone may be omitted


def test_daily_message_limit_server_side(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1], daily_message_limit=4)
    client = make_client(emu)
    space = client.space.create(ALICE)
    for i in range(4):
        space.send(f"message {i}")
    with pytest.raises(spectrum.QuotaExceeded) as info:
        space.send("fifth")
    assert (info.value.kind, info.value.limit, info.value.code) == (
        "messages", 4, "dailyLimitExceeded")
    emu.clear_requests()
    with pytest.raises(spectrum.QuotaExceeded):
        space.send("sixth")
    assert emu.requests == []


def test_quota_without_phone_needs_a_single_line(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    client = make_client(make_emulator(plan="dedicated", lines=[LINE_1, LINE_2]))
    with pytest.raises(spectrum.RoutingError):
        client.quota()
    with pytest.raises(spectrum.RoutingError):
        client.quota("+15559999999")


def test_a_recipient_throttle_stops_only_that_recipient(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    """recipientLimitExceeded is scoped to one recipient: other people, new ones included,
    still get messages, and the reset time comes from the error's context."""
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    alice = client.space.create(ALICE)
    emu.fail_next(1, code="RESOURCE_EXHAUSTED", retryable=False, method="SendTextMessage",
                  error_code="recipientLimitExceeded",
                  context={"resetsAt": "2030-01-02T03:04:05Z", "retryAfter": "90"})
    with pytest.raises(spectrum.RateLimitError) as info:
        alice.send("too many")
    error = info.value
    assert not isinstance(error, spectrum.QuotaExceeded)
    assert (error.code, error.scope, error.retry_after) == ("recipientLimitExceeded",
                                                            "recipient", 90.0)
    assert error.resets_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    bob = client.space.create("+15552222222")  # a new conversation: not refused
    assert bob.send("hello Bob").text == "hello Bob"
    assert alice.send("later").text == "later"  # the next call goes to the server again


def test_a_new_contact_throttle_keeps_existing_conversations(
    make_emulator: EmulatorFactory, make_client: ClientFactory
) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    alice = client.space.create(ALICE)
    alice.send("hi")
    emu.fail_next(1, code="RESOURCE_EXHAUSTED", retryable=False, method="SendTextMessage",
                  error_code="newContactThrottled")
    with pytest.raises(spectrum.QuotaExceeded) as info:
        client.space.create("+15552222222").send("hello")
    assert (info.value.kind, info.value.scope) == ("new_conversations", "new_conversations")
    assert alice.send("still fine").text == "still fine"
    emu.clear_requests()
    with pytest.raises(spectrum.QuotaExceeded):
        client.space.get("any;-;+15553333333", phone=LINE_1).send("refused before a call")
    assert calls(emu, "SendTextMessage") == []
