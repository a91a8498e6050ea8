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
