"""The wire layer: the RPC table, conversions, error classification."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from support.fakes import FakeRpcError, service_error

import spectrum_sync as spectrum
from spectrum_sync._proto import (
    chats_pb2,
    common_pb2,
    events_pb2,
    groups_pb2,
    messages_pb2,
    polls_pb2,
)
from spectrum_sync._wire.convert import emoji_from_wire, message_from_proto, reaction_to_wire
from spectrum_sync._wire.errors import classify
from spectrum_sync._wire.events import decode_event
from spectrum_sync._wire.rpc import all_rpcs, rpc_for


def test_the_table_knows_every_method_once() -> None:
    rpcs = all_rpcs()
    assert len({r.path for r in rpcs}) == len(rpcs) == 50  # LocationService included
    send = rpc_for(messages_pb2.SendTextMessageRequest())
    assert (send.path, send.mutating, send.streaming, send.sets_client_message_id) == (
        "/photon.imessage.v1.MessageService/SendTextMessage", True, False, True)
    typing = rpc_for(chats_pb2.SetTypingRequest())
    assert typing.mutating and not typing.sets_client_message_id
    assert not rpc_for(chats_pb2.GetChatRequest()).mutating
    catch_up = rpc_for(events_pb2.CatchUpEventsRequest())
    assert catch_up.streaming and not catch_up.mutating
    with pytest.raises(KeyError):
        rpc_for(messages_pb2.Message())  # not a request


@pytest.mark.parametrize("emoji,kind", [("❤️", 0), ("❤", 0), ("👍", 1), ("‼️", 4),
                                        ("🎉", 6)])
def test_reactions_on_the_wire(emoji: str, kind: int) -> None:
    wire = reaction_to_wire(emoji)
    assert wire.kind == kind
    assert emoji_from_wire(wire) in (emoji, "❤️", "‼️")


def _space() -> spectrum.Space:
    return spectrum.Space(id="any;-;+15551111111", type="dm", phone="+15550000001", ops=None)  # type: ignore[arg-type]


def test_messages_map_without_protobuf_types() -> None:
    stamp = Timestamp(seconds=1_700_000_000)
    wire = messages_pb2.Message(
        guid="g", is_from_me=False, date_created=stamp, subject="s",
        sender=common_pb2.SingleServiceAddressInfo(
            address="+15551111111", service=common_pb2.CHAT_SERVICE_TYPE_IMESSAGE,
            country="US"),
        content=messages_pb2.MessageContent(text="hello"), reply_target_guid="r")
    message = message_from_proto(wire, _space(), sequence=7)
    assert (message.guid, message.text, message.subject, message.reply_to_guid) == (
        "g", "hello", "s", "r")
    assert message.sender == spectrum.User("+15551111111", "US", "iMessage")
    assert message.created_at is not None and message.created_at.tzinfo == timezone.utc
    assert (message.kind, message.sequence) == ("message", 7)


def test_message_times_flags_and_service_decode_per_message() -> None:
    """The decoder's per-event shortcuts (the last timestamp reused, flags decided by one
    check, the service from the sender or else the chat) give each message its own values."""

    def wire(created: int, delivered: int, nanos: int = 0, **extra: Any) -> messages_pb2.Message:
        return messages_pb2.Message(
            guid="g", date_created=Timestamp(seconds=created, nanos=nanos),
            date_delivered=Timestamp(seconds=delivered, nanos=nanos), **extra)

    same = message_from_proto(wire(1_700_000_000, 1_700_000_000, 5_000), _space())
    assert same.created_at == same.delivered_at == datetime.fromtimestamp(
        1_700_000_000.000005, timezone.utc)
    later = message_from_proto(wire(1_700_000_000, 1_700_000_009), _space())
    assert later.created_at == datetime.fromtimestamp(1_700_000_000, timezone.utc)
    assert later.delivered_at == datetime.fromtimestamp(1_700_000_009, timezone.utc)
    assert (later.flags, later.service) == (frozenset(), None)  # "any;" names no service
    flagged = message_from_proto(wire(1, 2, is_spam=True, is_expirable=True,
                                      sender=common_pb2.SingleServiceAddressInfo(
                                          address="+15551111111",
                                          service=common_pb2.CHAT_SERVICE_TYPE_SMS)),
                                 _space())
    assert flagged.flags == {"spam", "expirable"}
    assert flagged.service == "SMS"
    in_sms_chat = spectrum.Space(id="SMS;-;+15551111111", type="dm", phone="+15550000001",
                                 ops=None)  # type: ignore[arg-type]
    assert message_from_proto(wire(1, 1), in_sms_chat).service == "SMS"


def test_every_family_decodes_with_kind_and_sequence() -> None:
    acks: list[int] = []
    space = _space()
    payloads = [
        messages_pb2.MessageChangeEvent(chat_guid=space.id, reaction_added=(
            messages_pb2.MessageReactionAdded(message_guid="m", reaction=reaction_to_wire("👍")))),
        messages_pb2.MessageChangeEvent(chat_guid=space.id, message_read=(
            messages_pb2.MessageRead(message_guid="m"))),
        groups_pb2.GroupChangeEvent(chat_guid=space.id, display_name_changed=(
            groups_pb2.GroupDisplayNameChanged(display_name="Team"))),
        polls_pb2.PollChangeEvent(chat_guid=space.id, poll_message_guid="p", voted=(
            polls_pb2.PollVoted(option_identifier="o"))),
    ]
    events = [decode_event(p, space, n, lambda n=n: acks.append(n))  # type: ignore[misc]
              for n, p in enumerate(payloads, 1)]
    assert [e.kind for e in events if e] == ["reaction", "read", "group", "poll"]
    assert [e.sequence for e in events if e] == [1, 2, 3, 4]
    for e in events:
        assert e is not None
        e.ack()
    assert acks == [1, 2, 3, 4]
    assert decode_event(messages_pb2.MessageChangeEvent(), space, 5, lambda: None) is None


def test_error_classification() -> None:
    failure = classify(service_error("NOT_FOUND", "chatNotFound"))
    assert isinstance(failure.error, spectrum.NotFoundError) and failure.from_service
    refused = classify(FakeRpcError(grpc.StatusCode.UNAVAILABLE,
                                    "failed to connect to all addresses"))
    assert refused.never_sent and refused.error.retryable
    dropped = classify(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "Socket closed"))
    assert not dropped.never_sent and dropped.error.retryable
    too_big = classify(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    "Sent message larger than max (1 vs. 0)"))
    assert isinstance(too_big.error, spectrum.ValidationError)
    throttled = classify(service_error("RESOURCE_EXHAUSTED", "burstRateExceeded", True))
    assert isinstance(throttled.error, spectrum.RateLimitError) and throttled.error.retryable
    deadline = classify(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
    assert deadline.error.code == "timeout"
