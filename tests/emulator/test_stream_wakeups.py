"""Live streams wait for events of their own family only (a burst of messages does not wake
a line's group, poll and chat streams), and the event log's reads near the head, which every
wake-up makes: what each stream is sent, and how it ends, stay the same."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from spectrum_sync._proto import (
    chats_pb2,
    groups_pb2,
    messages_pb2,
    polls_pb2,
)
from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.eventlog import GROUP, MESSAGE, POLL, EventLog

from .emu_helpers import ALICE, LINE_A, Api, StreamReader


def _subscribe_all(api: Api, read_stream: Callable[[Any], StreamReader],
                   ) -> dict[str, StreamReader]:
    calls = {
        "messages": api.messages.SubscribeMessageEvents(
            messages_pb2.SubscribeMessageEventsRequest(), metadata=api.md),
        "groups": api.groups.SubscribeGroupEvents(
            groups_pb2.SubscribeGroupEventsRequest(), metadata=api.md),
        "polls": api.polls.SubscribePollEvents(
            polls_pb2.SubscribePollEventsRequest(), metadata=api.md),
        "chats": api.chats.SubscribeChatEvents(
            chats_pb2.SubscribeChatEventsRequest(), metadata=api.md),
    }
    for call in calls.values():
        call.initial_metadata()  # the server holds the subscription
    return {name: read_stream(call) for name, call in calls.items()}


def test_an_idle_stream_is_not_behind_when_another_familys_events_leave_the_log(
        make_emu: Callable[..., Emulator], make_api: Callable[..., Api],
        read_stream: Callable[[Any], StreamReader]) -> None:
    """30 messages go through a log of 20 while the poll stream sleeps: none was the poll
    stream's to send, so it stays open and sends the next poll event."""
    emu = make_emu(heartbeat_interval=0.2, event_log_size=20)
    streams = _subscribe_all(make_api(emu, LINE_A), read_stream)
    with emu.lock:
        for n in range(30):
            emu.simulate_inbound(ALICE, f"burst {n}", line=LINE_A)
    time.sleep(0.6)  # heartbeats: every stream woke and looked at the log
    poll = emu.inject_raw_event(LINE_A, polls_pb2.PollChangeEvent(chat_guid="p"),
                                family=POLL)
    frame = streams["polls"].next_event()
    assert frame.sequence == poll == 31
    error = streams["messages"].wait_end()  # its own 10 left unsent: behind
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    for name in ("groups", "polls", "chats"):
        assert not streams[name].done.is_set(), name


def test_the_log_knows_which_family_lost_events() -> None:
    log = EventLog(3)
    for family in (MESSAGE, GROUP, MESSAGE, MESSAGE, MESSAGE):  # seq 1..5: 1 and 2 leave
        log.append(family, None)
    assert log.dropped_after(0, MESSAGE) and not log.dropped_after(1, MESSAGE)
    assert log.dropped_after(1, GROUP) and not log.dropped_after(2, GROUP)
    assert not log.dropped_after(0, POLL)
    assert log.dropped_after(1) and not log.dropped_after(2)  # a stream of every family
    log.clear()  # a restart forgets 3..5, all messages
    assert log.dropped_after(4, MESSAGE) and not log.dropped_after(5, MESSAGE)
    assert not log.dropped_after(2, GROUP)


def test_each_stream_gets_its_own_family_after_a_burst_of_another(
        make_emu: Callable[..., Emulator], make_api: Callable[..., Api],
        read_stream: Callable[[Any], StreamReader]) -> None:
    emu = make_emu(heartbeat_interval=30)
    streams = _subscribe_all(make_api(emu, LINE_A), read_stream)
    for n in range(300):
        emu.simulate_inbound(ALICE, f"burst {n}", line=LINE_A)
    group = emu.inject_raw_event(LINE_A, groups_pb2.GroupChangeEvent(chat_guid="g"),
                                 family=GROUP)
    got = [streams["messages"].next_event().sequence for _ in range(300)]
    assert got == list(range(1, 301))
    frame = streams["groups"].next_event()
    assert frame.sequence == group == 301 and frame.WhichOneof("payload") == "group_changed"
    assert streams["polls"].frames.empty() and streams["chats"].frames.empty()


def test_a_cut_ends_idle_streams_of_every_family_at_once(
        make_emu: Callable[..., Emulator], make_api: Callable[..., Api],
        read_stream: Callable[[Any], StreamReader]) -> None:
    # Heartbeats every 30 s: a stream that waited on a condition the cut does not notify
    # would only notice at its next heartbeat.
    emu = make_emu(heartbeat_interval=30)
    streams = _subscribe_all(make_api(emu, LINE_A), read_stream)
    emu.simulate_inbound(ALICE, "one message", line=LINE_A)
    assert streams["messages"].next_event().sequence == 1
    started = time.monotonic()
    emu.cut_streams()
    for stream in streams.values():
        err = stream.wait_end(timeout=10)
        assert err is not None and err.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 10


def test_event_log_reads_from_either_end_agree() -> None:
    for size in (1, 7, 64):
        log = EventLog(size)
        for _ in range(size * 3):
            log.append(MESSAGE, None)
            for after in range(max(0, log.head - size - 2), log.head + 1):
                for upto in (None, *range(after, log.head + 1)):
                    limit = log.head if upto is None else upto
                    want = [s for s in range(log.oldest, log.head + 1) if after < s <= limit]
                    assert [e.sequence for e in log.after(after, upto)] == want


def test_a_live_stream_that_falls_behind_the_event_log_ends_instead_of_skipping(
        make_emu: Callable[..., Emulator], make_api: Callable[..., Api],
        read_stream: Callable[[Any], StreamReader]) -> None:
    """Events a live stream has not sent yet may leave the bounded log (a reader slower than
    the events). The stream ends with UNAVAILABLE then, so that the client's catch-up finds
    and reports the gap, instead of going on past events nobody will ever see."""
    emu = make_emu(heartbeat_interval=30, event_log_size=20)
    call = make_api(emu, LINE_A).messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(), metadata=make_api(emu, LINE_A).md)
    call.initial_metadata()
    stream = read_stream(call)
    with emu.lock:  # the stream cannot send while these are logged: 30 > the log's 20
        for n in range(30):
            emu.simulate_inbound(ALICE, f"burst {n}", line=LINE_A)
    error = stream.wait_end()
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    assert "fell behind" in (error.details() or "")
    assert stream.frames.empty()  # nothing from past the gap
