"""History: lazy paging over a chat and over recent messages; one message by guid."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from rich_helpers import ALICE, BOB, LINE_1, LINE_2, calls

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator


def test_the_first_five_of_ten_thousand_cost_one_small_page(emu: Emulator, dm: Space) -> None:
    for i in range(10_000):
        emu.simulate_inbound(ALICE, f"m{i}", line=LINE_1)
    emu.clear_requests()
    history = dm.history()
    assert calls(emu, "ListChatMessages") == []  # nothing until the first message is asked
    first = [next(history) for _ in range(5)]
    assert [m.text for m in first] == ["m9999", "m9998", "m9997", "m9996", "m9995"]
    assert len(calls(emu, "ListChatMessages")) == 1
    limited = list(dm.history(limit=5))
    assert [m.text for m in limited] == [m.text for m in first]
    pages = calls(emu, "ListChatMessages")
    assert len(pages) == 2 and pages[1].page_size == 5  # sized to the limit
    assert all(m.space == dm and m.sender and m.sender.address == ALICE for m in limited)


def test_paging_through_everything_in_order(emu: Emulator, dm: Space) -> None:
    sent = [dm.send(f"out {i}") for i in range(3)]
    for i in range(250):
        emu.simulate_inbound(ALICE, f"in {i}", line=LINE_1)
    emu.clear_requests()
    everything = list(dm.history())
    assert len(everything) == 253
    assert [m.text for m in everything[:2]] == ["in 249", "in 248"]
    assert [m.guid for m in everything[-3:]] == [m.guid for m in reversed(sent)]
    requests = calls(emu, "ListChatMessages")
    assert [r.page_size for r in requests] == [100, 100, 100]
    assert requests[0].page_token == ""
    assert list(dm.history(limit=120))[-1].text == "in 130"
    assert [r.page_size for r in calls(emu, "ListChatMessages")[3:]] == [100, 20]


def test_time_window(emu: Emulator, dm: Space) -> None:
    # Close to now: tokens are checked against the emulator's clock.
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=60)
    emu.set_clock(start.timestamp())
    for i in range(10):
        emu.simulate_inbound(ALICE, f"t{i}", line=LINE_1)
        emu.advance_clock(60)
    after, before = start + timedelta(minutes=3), start + timedelta(minutes=6)
    window = [m.text for m in dm.history(after=after, before=before)]
    assert window == ["t5", "t4", "t3"]  # [after, before)
    [request] = calls(emu, "ListChatMessages")
    assert request.after.seconds == int(after.timestamp())
    assert request.before.seconds == int(before.timestamp())
    # Any timezone works: it is the same instant.
    eastern = timezone(timedelta(hours=-5))
    assert [m.text for m in dm.history(after=after.astimezone(eastern), limit=1)] == ["t9"]
    newest = next(dm.history())
    assert newest.created_at is not None
    assert [m.text for m in dm.history(before=newest.created_at, limit=2)] == ["t8", "t7"]


def test_bad_arguments_are_refused_before_any_call(emu: Emulator, dm: Space) -> None:
    emu.clear_requests()
    for kwargs, message in [
        ({"limit": 0}, "limit"), ({"limit": -1}, "limit"), ({"limit": 2.5}, "limit"),
        ({"limit": True}, "limit"),
        ({"before": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"after": "yesterday"}, "datetime"),
        ({"timeout": 0}, "timeout"),
    ]:
        with pytest.raises(spectrum.ValidationError, match=message):
            dm.history(**kwargs)  # type: ignore[arg-type]
    assert emu.requests == []


def test_recent_merges_the_lines_newest_first(emu: Emulator, client: Client) -> None:
    emu.set_clock(datetime.now(timezone.utc).timestamp() + 60)
    for i in range(6):
        emu.simulate_inbound(ALICE if i % 2 else BOB, f"r{i}", line=LINE_1 if i % 2 else LINE_2)
        emu.advance_clock(1)
    emu.clear_requests()
    recent = client.recent(4)
    assert calls(emu, "ListRecentMessages") == []
    messages = list(recent)
    assert [m.text for m in messages] == ["r5", "r4", "r3", "r2"]
    assert [(m.space.phone, m.space.id) for m in messages[:2]] == [
        (LINE_1, f"any;-;{ALICE}"), (LINE_2, f"any;-;{BOB}")]
    assert [r.page_size for r in calls(emu, "ListRecentMessages")] == [4, 4]
    only_two = [m.text for m in client.recent(phone=LINE_2)]
    assert only_two == ["r4", "r2", "r0"]
    # A message from the list is a full message: reply to it on its own line.
    reply = messages[1].reply("thanks")
    assert reply.space.phone == LINE_2


def test_message_by_guid_on_any_line(emu: Emulator, client: Client) -> None:
    guid = emu.simulate_inbound(BOB, "on line two", line=LINE_2)
    found = client.message(guid)
    assert found.text == "on line two" and found.space.phone == LINE_2
    assert found.space.id == f"any;-;{BOB}" and found.sender is not None
    assert client.message(guid, phone=LINE_2) == found
    with pytest.raises(spectrum.NotFoundError):
        client.message(guid, phone=LINE_1)
    with pytest.raises(spectrum.NotFoundError) as info:
        client.message("no-such-guid")
    assert info.value.code == "messageNotFound"
    with pytest.raises(spectrum.ValidationError):
        client.message("")
    group = client.space.create([ALICE, BOB], phone=LINE_1)
    sent = group.send("to the group")
    again = client.message(sent.guid)
    assert again.space == group and again.is_from_me
