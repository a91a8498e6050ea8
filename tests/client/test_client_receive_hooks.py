"""The interfaces a receive loop builds on: stream stubs, routing.learn, model mapping."""

from __future__ import annotations

import grpc
import pytest
from client_helpers import ALICE, LINE_2

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync._proto import events_pb2, messages_pb2
from spectrum_sync.emulator import Emulator
from spectrum_sync.errors import from_rpc_error
from spectrum_sync.models import message_from_event, reaction_from_event


def _replay(client: Client, phone: str) -> list[messages_pb2.MessageChangeEvent]:
    """Every message event of a line, read like a receiver would (stream channel)."""
    line = client._lines.get(phone)
    call = line.stream_stubs.events.CatchUpEvents(
        events_pb2.CatchUpEventsRequest(after_sequence=0), metadata=line.metadata, timeout=10
    )
    events = []
    for frame in call:
        if frame.WhichOneof("payload") == "complete":
            break
        if frame.WhichOneof("payload") == "message_changed":
            events.append(frame.message_changed)
    return events


def test_stream_stubs_use_their_own_channel(client: Client) -> None:
    client.phones  # noqa: B018 - lines attached
    line = client._lines.get(LINE_2)
    assert line.stubs is not line.stream_stubs
    assert line.stubs is line.stubs  # created once, not per call


def test_inbound_events_map_to_models(emu: Emulator, client: Client) -> None:
    guid = emu.simulate_inbound(ALICE, "hello there", line=LINE_2)
    mine = client.space.create(ALICE, phone=LINE_2).send("answer")
    emu.simulate_reaction(ALICE, mine.guid, "😂", line=LINE_2)
    events = _replay(client, LINE_2)
    received = [e for e in events if e.WhichOneof("change") == "message_received"]
    inbound = next(e for e in received if e.message_received.message.guid == guid)
    client._backend.learn_route(inbound.chat_guid, LINE_2)  # what a receiver does
    space = client.space.get(inbound.chat_guid)
    assert space.phone == LINE_2
    message = message_from_event(inbound, space)
    assert message is not None
    assert (message.guid, message.text, message.is_from_me) == (guid, "hello there", False)
    assert message.sender == spectrum.User(ALICE, "US", "iMessage")
    assert message.created_at is not None
    reply = message.reply("got it")  # actions work on received messages
    assert reply.reply_to_guid == guid and reply.space.phone == LINE_2
    reaction_event = next(e for e in events if e.WhichOneof("change") == "reaction_added")
    reaction = reaction_from_event(reaction_event, space)
    assert reaction is not None
    assert (reaction.message_guid, reaction.emoji, reaction.added) == (mine.guid, "😂", True)
    assert message_from_event(reaction_event, space) is None


def test_stream_without_token_is_refused(client: Client) -> None:
    client.phones  # noqa: B018
    line = client._lines.get(LINE_2)
    call = line.stream_stubs.events.CatchUpEvents(events_pb2.CatchUpEventsRequest(), timeout=5)
    with pytest.raises(grpc.RpcError) as info:
        list(call)
    assert isinstance(from_rpc_error(info.value), spectrum.AuthenticationError)
