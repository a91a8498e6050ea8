"""GroupService and PollService with real state, plus their simulated remote changes."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from emu_helpers import ALICE, BOB, LINE_A, Api, StreamReader, rpc_error, trailers

from spectrum_sync._proto import chats_pb2, groups_pb2, messages_pb2, polls_pb2
from spectrum_sync.emulator import Emulator

CAROL = "carol@example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.fixture
def group(api: Api) -> str:
    return api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE, BOB]),
                                metadata=api.md).chat.guid


def group_stream(api: Api, read_stream: Callable[..., StreamReader]) -> StreamReader:
    call = api.groups.SubscribeGroupEvents(groups_pb2.SubscribeGroupEventsRequest(),
                                           metadata=api.md)
    call.initial_metadata()
    return read_stream(call)


def test_group_management(api: Api, group: str,
                          read_stream: Callable[..., StreamReader]) -> None:
    stream = group_stream(api, read_stream)
    chat = api.groups.SetDisplayName(groups_pb2.SetDisplayNameRequest(
        chat_guid=group, display_name="Team"), metadata=api.md).chat
    assert chat.display_name == "Team"
    chat = api.groups.AddParticipants(groups_pb2.AddParticipantsRequest(
        chat_guid=group, addresses=["Carol@Example.com"]), metadata=api.md).chat
    assert CAROL in {p.address for p in chat.participants}
    chat = api.groups.RemoveParticipants(groups_pb2.RemoveParticipantsRequest(
        chat_guid=group, addresses=[BOB]), metadata=api.md).chat
    assert {p.address for p in chat.participants} == {LINE_A, ALICE, CAROL}
    api.groups.SetIcon(groups_pb2.SetIconRequest(chat_guid=group, data=PNG), metadata=api.md)
    icon = api.groups.GetIcon(groups_pb2.GetIconRequest(chat_guid=group), metadata=api.md)
    assert (icon.data, icon.mime_type) == (PNG, "image/png")
    api.groups.RemoveIcon(groups_pb2.RemoveIconRequest(chat_guid=group), metadata=api.md)
    err = rpc_error(lambda: api.groups.GetIcon(groups_pb2.GetIconRequest(chat_guid=group),
                                               metadata=api.md))
    assert trailers(err)["error-code"] == "groupIconNotFound"
    api.groups.LeaveGroup(groups_pb2.LeaveGroupRequest(chat_guid=group), metadata=api.md)
    events = [stream.next_event().group_changed for _ in range(6)]
    assert [e.WhichOneof("change") for e in events] == [
        "display_name_changed", "participant_added", "participant_removed", "icon_changed",
        "icon_removed", "participant_left"]
    assert all(e.is_from_me and e.actor.address == LINE_A for e in events)
    assert events[1].participant_added.participant.address == CAROL
    assert events[5].participant_left.participant.address == LINE_A
    err = rpc_error(lambda: api.messages.SendTextMessage(messages_pb2.SendTextMessageRequest(
        chat_guid=group, text="still here?"), metadata=api.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_group_errors(api: Api, group: str) -> None:
    for addresses in ([], ["bogus"]):
        err = rpc_error(lambda a=addresses: api.groups.AddParticipants(
            groups_pb2.AddParticipantsRequest(chat_guid=group, addresses=a), metadata=api.md))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = rpc_error(lambda: api.groups.RemoveParticipants(groups_pb2.RemoveParticipantsRequest(
        chat_guid=group, addresses=[CAROL]), metadata=api.md))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    dm = api.chats.CreateChat(chats_pb2.CreateChatRequest(addresses=[ALICE]),
                              metadata=api.md).chat.guid
    err = rpc_error(lambda: api.groups.SetDisplayName(groups_pb2.SetDisplayNameRequest(
        chat_guid=dm, display_name="x"), metadata=api.md))
    assert trailers(err)["error-code"] == "operationNotSupported"
    err = rpc_error(lambda: api.groups.SetDisplayName(groups_pb2.SetDisplayNameRequest(
        chat_guid="any;+;missing", display_name="x"), metadata=api.md))
    assert trailers(err)["error-code"] == "chatNotFound"


def test_simulated_group_changes(emu: Emulator, api: Api,
                                 read_stream: Callable[..., StreamReader]) -> None:
    chat = "iMessage;+;chat99"
    emu.simulate_inbound(ALICE, "hi", chat=chat)
    stream = group_stream(api, read_stream)
    emu.simulate_group_change(chat, "participant_added", actor=ALICE, participant=BOB)
    emu.simulate_group_change(chat, "participant_left", participant=ALICE)
    emu.simulate_group_change(chat, "icon_changed", actor=BOB, icon=PNG)
    emu.simulate_group_change(chat, "icon_removed", actor=BOB)
    emu.simulate_group_change(chat, "display_name_changed", actor=BOB, name="Crew")
    kinds = [stream.next_event().group_changed.WhichOneof("change") for _ in range(5)]
    assert kinds == ["participant_added", "participant_left", "icon_changed", "icon_removed",
                     "display_name_changed"]
    got = api.chats.GetChat(chats_pb2.GetChatRequest(chat_guid=chat), metadata=api.md).chat
    assert [p.address for p in got.participants] == [LINE_A, BOB]
    assert got.display_name == "Crew"
    with pytest.raises(ValueError):
        emu.simulate_group_change(chat, "explode")
    with pytest.raises(ValueError):
        emu.simulate_group_change(f"any;-;{ALICE}", "rename", name="x")


def test_polls(emu: Emulator, api: Api, group: str,
               read_stream: Callable[..., StreamReader]) -> None:
    call = api.polls.SubscribePollEvents(polls_pb2.SubscribePollEventsRequest(),
                                         metadata=api.md)
    call.initial_metadata()
    stream = read_stream(call)
    poll = api.polls.CreatePoll(polls_pb2.CreatePollRequest(
        chat_guid=group, title="Lunch?", options=["pizza", "sushi"]), metadata=api.md).poll
    assert [o.text for o in poll.options] == ["pizza", "sushi"]
    pizza = poll.options[0].option_identifier
    poll = api.polls.VotePoll(polls_pb2.VotePollRequest(
        poll_message_guid=poll.poll_message_guid, option_identifier=pizza),
        metadata=api.md).poll
    assert [(v.participant.address, v.option_identifier) for v in poll.votes] == [
        (LINE_A, pizza)]
    emu.simulate_poll_vote(ALICE, poll.poll_message_guid, "sushi")
    option = emu.simulate_poll_option(BOB, poll.poll_message_guid, "tacos")
    poll = api.polls.AddPollOption(polls_pb2.AddPollOptionRequest(
        poll_message_guid=poll.poll_message_guid, option_text="salad"), metadata=api.md).poll
    assert [o.text for o in poll.options] == ["pizza", "sushi", "tacos", "salad"]
    assert poll.options[2].option_identifier == option
    poll = api.polls.UnvotePoll(polls_pb2.UnvotePollRequest(
        poll_message_guid=poll.poll_message_guid), metadata=api.md).poll
    emu.simulate_poll_unvote(ALICE, poll.poll_message_guid)
    got = api.polls.GetPoll(polls_pb2.GetPollRequest(poll_message_guid=poll.poll_message_guid),
                            metadata=api.md).poll
    assert list(got.votes) == [] and got.title == "Lunch?"
    kinds = [stream.next_event().poll_changed.WhichOneof("change") for _ in range(7)]
    assert kinds == ["created", "voted", "voted", "option_added", "option_added", "unvoted",
                     "unvoted"]
    msg = api.messages.GetMessage(messages_pb2.GetMessageRequest(
        message_guid=poll.poll_message_guid), metadata=api.md).message
    assert msg.content.balloon_bundle_id.endswith("com.apple.Polls")


def test_poll_errors(api: Api, group: str) -> None:
    err = rpc_error(lambda: api.polls.GetPoll(polls_pb2.GetPollRequest(poll_message_guid="X"),
                                              metadata=api.md))
    assert trailers(err)["error-code"] == "pollNotFound"
    err = rpc_error(lambda: api.polls.CreatePoll(polls_pb2.CreatePollRequest(
        chat_guid=group, title="one option", options=["only"]), metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    poll = api.polls.CreatePoll(polls_pb2.CreatePollRequest(
        chat_guid=group, title="t", options=["a", "b"]), metadata=api.md).poll
    err = rpc_error(lambda: api.polls.VotePoll(polls_pb2.VotePollRequest(
        poll_message_guid=poll.poll_message_guid, option_identifier="nope"), metadata=api.md))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
