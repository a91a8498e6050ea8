"""Event streams: global sequence, live-only subscriptions, heartbeats, filters, catch-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from emu_helpers import ALICE, BOB, LINE_A, LINE_B, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import (
    chats_pb2,
    events_pb2,
    groups_pb2,
    messages_pb2,
    polls_pb2,
)
from spectrum_sync.emulator import Emulator


def catch_up(api: Api, after: int | None = None) -> list[Any]:
    req = events_pb2.CatchUpEventsRequest()
    if after is not None:
        req.after_sequence = after
    return list(api.events.CatchUpEvents(req, metadata=api.md))


def subscribe(api: Api, read_stream: Callable[..., StreamReader], chat: str | None = None,
              ) -> StreamReader:
    call = api.messages.SubscribeMessageEvents(
        messages_pb2.SubscribeMessageEventsRequest(chat_guid=chat), metadata=api.md)
    call.initial_metadata()
    return read_stream(call)


def test_catch_up_replays_in_order_then_completes(emu: Emulator, api: Api) -> None:
    guids = [emu.simulate_inbound(ALICE, f"m{i}", line=LINE_A) for i in range(4)]
    chat = f"any;-;{ALICE}"
    api.chats.MarkChatRead(chats_pb2.MarkChatReadRequest(chat_guid=chat), metadata=api.md)
    frames = catch_up(api, 1)
    assert [f.sequence for f in frames[:-1]] == [2, 3, 4, 5]
    assert [f.message_changed.message_received.message.guid for f in frames[:3]] == guids[1:]
    assert frames[3].chat_changed.WhichOneof("change") == "marked_read"
    assert frames[-1].WhichOneof("payload") == "complete"
    assert frames[-1].complete.head_sequence == 5 and not frames[-1].HasField("sequence")
    everything = catch_up(api)
    assert [f.sequence for f in everything[:-1]] == [1, 2, 3, 4, 5]
    at_head = catch_up(api, 5)
    assert len(at_head) == 1 and at_head[0].complete.head_sequence == 5


def test_catch_up_on_an_empty_log(api: Api) -> None:
    frames = catch_up(api, 0)
    assert len(frames) == 1 and frames[0].complete.head_sequence == 0


def test_sequences_are_per_line(emu: Emulator, make_api: Callable[..., Api]) -> None:
    emu.simulate_inbound(ALICE, "a", line=LINE_A)
    emu.simulate_inbound(ALICE, "b", line=LINE_A)
    emu.simulate_inbound(ALICE, "c", line=LINE_B)
    assert emu.head_sequence(LINE_A) == 2 and emu.head_sequence(LINE_B) == 1
    frames = catch_up(make_api(emu, LINE_B), 0)
    assert [f.message_changed.message_received.message.content.text
            for f in frames[:-1]] == ["c"]


@pytest.mark.parametrize("cursor", [1, 2, 99])
def test_pruned_or_unknown_cursor_is_invalid_argument(
        make_emu: Callable[..., Emulator], make_api: Callable[..., Api], cursor: int) -> None:
    emu = make_emu(event_log_size=3)
    for i in range(6):
        emu.simulate_inbound(ALICE, f"m{i}", line=LINE_A)
    api = make_api(emu, LINE_A)
    err = rpc_error(lambda: catch_up(api, cursor))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert trailers(err)["error-code"] == "invalidArgument"
    frames = catch_up(api, 3)  # the oldest cursor still covered
    assert [f.sequence for f in frames[:-1]] == [4, 5, 6]
    assert [f.sequence for f in catch_up(api)[:-1]] == [4, 5, 6]


def test_subscriptions_are_live_only(emu: Emulator, api: Api,
                                     read_stream: Callable[..., StreamReader]) -> None:
    emu.simulate_inbound(ALICE, "before", line=LINE_A)
    stream = subscribe(api, read_stream)
    emu.simulate_inbound(ALICE, "after", line=LINE_A)
    frame = stream.next_event()
    assert frame.sequence == 2
    assert frame.message_changed.message_received.message.content.text == "after"
    assert not frame.message_changed.is_from_me
    assert frame.message_changed.actor.address == ALICE


def test_heartbeats_on_quiet_streams(api: Api, read_stream: Callable[..., StreamReader]
                                     ) -> None:
    stream = subscribe(api, read_stream)
    beats = [stream.next(2.0) for _ in range(3)]
    assert all(b.WhichOneof("payload") == "heartbeat" for b in beats)
    assert not any(b.HasField("sequence") for b in beats)


def test_chat_filter(emu: Emulator, api: Api, read_stream: Callable[..., StreamReader]) -> None:
    stream = subscribe(api, read_stream, chat=f"iMessage;-;{BOB}")
    emu.simulate_inbound(ALICE, "not for you", line=LINE_A)
    emu.simulate_inbound(BOB, "for you", line=LINE_A)
    frame = stream.next_event()
    assert frame.message_changed.message_received.message.content.text == "for you"
    assert frame.sequence == 2


def test_families_go_to_their_streams(emu: Emulator, api: Api,
                                      read_stream: Callable[..., StreamReader]) -> None:
    group_call = api.groups.SubscribeGroupEvents(groups_pb2.SubscribeGroupEventsRequest(),
                                                 metadata=api.md)
    poll_call = api.polls.SubscribePollEvents(polls_pb2.SubscribePollEventsRequest(),
                                              metadata=api.md)
    group_call.initial_metadata()
    poll_call.initial_metadata()
    groups, polls = read_stream(group_call), read_stream(poll_call)
    messages = subscribe(api, read_stream)
    chat = "any;+;chat42"
    emu.simulate_inbound(ALICE, "hi all", chat=chat, line=LINE_A)
    emu.simulate_group_change(chat, "rename", actor=ALICE, name="Team", line=LINE_A)
    poll = emu.simulate_poll(ALICE, chat, "Lunch?", ["pizza", "sushi"], line=LINE_A)
    assert messages.next_event().sequence == 1
    group_frame = groups.next_event()
    assert group_frame.sequence == 2
    assert group_frame.group_changed.display_name_changed.display_name == "Team"
    assert group_frame.group_changed.actor.address == ALICE
    poll_frame = polls.next_event()
    assert poll_frame.sequence == 3 and poll_frame.poll_changed.poll_message_guid == poll
    assert [o.text for o in poll_frame.poll_changed.created.options] == ["pizza", "sushi"]
    replay = catch_up(api, 0)
    assert [f.WhichOneof("payload") for f in replay] == [
        "message_changed", "group_changed", "poll_changed", "complete"]


def test_shared_plan_refuses_group_events(make_emu: Callable[..., Emulator],
                                          make_api: Callable[..., Api]) -> None:
    api = make_api(make_emu(plan="shared"))
    err = rpc_error(lambda: list(api.groups.SubscribeGroupEvents(
        groups_pb2.SubscribeGroupEventsRequest(), metadata=api.md)))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert trailers(err)["error-code"] == "operationNotSupported"


def test_injected_raw_events(emu: Emulator, api: Api,
                             read_stream: Callable[..., StreamReader]) -> None:
    stream = subscribe(api, read_stream)
    seq = emu.inject_raw_event(LINE_A, messages_pb2.MessageChangeEvent(chat_guid="x;y"))
    empty = emu.inject_raw_event(LINE_A, None)
    frame = stream.next_event()
    assert frame.sequence == seq
    assert frame.message_changed.WhichOneof("change") is None
    bare = stream.next_event()
    assert bare.sequence == empty and bare.WhichOneof("payload") is None
    emu.simulate_inbound(ALICE, "still flowing", line=LINE_A)
    assert stream.next_event().message_changed.message_received.message.content.text == (
        "still flowing")
    with pytest.raises(ValueError):
        emu.inject_raw_event(LINE_A, None, family="nonsense")


def test_simulated_edit_unsend_read_and_reaction(emu: Emulator, api: Api,
                                                 read_stream: Callable[..., StreamReader]
                                                 ) -> None:
    inbound = emu.simulate_inbound(ALICE, "helo", line=LINE_A)
    mine = api.messages.SendTextMessage(messages_pb2.SendTextMessageRequest(
        chat_guid=f"any;-;{ALICE}", text="hi"), metadata=api.md).message
    stream = subscribe(api, read_stream)
    emu.simulate_edit(inbound, "hello", line=LINE_A)
    emu.simulate_reaction(ALICE, mine.guid, "👍", line=LINE_A)
    emu.simulate_reaction(ALICE, mine.guid, "👍", remove=True, line=LINE_A)
    emu.simulate_read(mine.guid, line=LINE_A)
    emu.simulate_unsend(inbound, line=LINE_A)
    events = [stream.next_event().message_changed for _ in range(5)]
    assert [e.WhichOneof("change") for e in events] == [
        "message_edited", "reaction_added", "reaction_removed", "message_read",
        "message_unsent"]
    assert events[0].message_edited.content.text == "hello"
    assert events[1].reaction_added.reaction.kind == messages_pb2.MESSAGE_REACTION_KIND_LIKE
    assert events[1].actor.address == ALICE and not events[1].is_from_me
    assert events[3].message_read.message_guid == mine.guid
    # As the live service: a DM receipt's actor is our own line; is_from_me is our message's.
    assert events[3].actor.address == LINE_A and events[3].is_from_me
    with pytest.raises(KeyError):
        emu.simulate_edit("NOPE", "x", line=LINE_A)
    with pytest.raises(ValueError):
        emu.simulate_edit(mine.guid, "not theirs", line=LINE_A)
