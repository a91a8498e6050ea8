"""Decoding a received message: every field the protocol's Message carries reaches the public
:class:`Message` (docs/behaviour.md, "Every field of the protocol's Message"), and a message
that carries nothing but its guid gets every default. The decoder reads and passes the
fields that are rare only when present: these tests hold each of them to its value.

A message read from a stream (or a call's answer about one message) decodes its fields when
they are first read (``message_decoded_on_read``; docs/architecture.md, "Decoding on first
read"): it must equal the message decoded at once, whichever field is read first, from any
thread."""

from __future__ import annotations

import copy
import logging
import threading
from datetime import datetime, timezone
from typing import Any, Callable

import attrs
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

import spectrum_sync as spectrum
from spectrum_sync._proto import attachments_pb2, common_pb2, messages_pb2
from spectrum_sync._wire import convert
from spectrum_sync._wire.convert import message_decoded_on_read, message_from_proto
from spectrum_sync._wire.events import decode_event, decoder_for

SPACE = spectrum.Space(id="iMessage;-;+15551111111", type="dm", phone="+15550000001",
                       ops=None)  # type: ignore[arg-type]
PEER = common_pb2.SingleServiceAddressInfo(
    address="+15551111111", service=common_pb2.CHAT_SERVICE_TYPE_IMESSAGE, country="US")


def _at(seconds: int) -> Timestamp:
    return Timestamp(seconds=1_700_000_000 + seconds)


def _when(seconds: int) -> datetime:
    return datetime.fromtimestamp(1_700_000_000 + seconds, timezone.utc)


def _full() -> messages_pb2.Message:
    """A message with every exposed field set to a value other than its default."""
    return messages_pb2.Message(
        guid="G", subject="S", reply_target_guid="R", thread_originator_guid="T",
        destination_caller_id="+15550000001", group_title="Team", chat_action_type=3,
        item_type=2, part_count=3, send_error_code=22, sender=PEER,
        is_audio_message=True, is_sent=True, is_delivered=True, is_delivered_quietly=True,
        did_notify_recipient=True, is_spam=True, is_forward=True,
        date_created=_at(1), date_edited=_at(2), date_retracted=_at(3),
        date_delivered=_at(4), date_read=_at(5), date_played=_at(6),
        date_expressive_send_played=_at(7),
        content=messages_pb2.MessageContent(
            text="hi", expressive_send_style_id="com.apple.messages.effect.CKConfettiEffect",
            balloon_bundle_id="com.example.balloon",
            attachments=[attachments_pb2.AttachmentInfo(guid="A", file_name="a.png",
                                                        mime_type="image/png",
                                                        total_bytes=10)],
            formatting=[messages_pb2.TextFormat(type="bold", start=0, length=2)],
            mentions=[messages_pb2.MessageMention(address="+15552222222", start=0,
                                                  length=2)],
            mini_app=messages_pb2.MiniAppContent(team_id="TEAM",
                                                 extension_bundle_id="com.example.app")),
        applied_reactions=[messages_pb2.MessageAppliedReaction(
            message_guid="G", sender=PEER, date_created=_at(8))],
        placed_stickers=[messages_pb2.MessagePlacedSticker(message_guid="G", sender=PEER)])


def _received(wire: messages_pb2.Message, space: spectrum.Space = SPACE, *,
              sequence: int = 0, actor_of: Any = None) -> spectrum.Message:
    return message_decoded_on_read(wire, space, sequence=sequence, receipt=lambda: None,
                                   actor_of=actor_of)


#: Both ways of making a Message from the wire: every field at once, and on first read.
BUILDERS = pytest.mark.parametrize("build", [message_from_proto, _received],
                                   ids=["at-once", "on-first-read"])
Build = Callable[..., spectrum.Message]
FIELDS = tuple(f.name for f in attrs.fields(spectrum.Message) if f.name != "_wire")


def _values(message: spectrum.Message) -> dict[str, Any]:
    """Every field, those equality leaves out included (the receipt is compared apart)."""
    return {name: getattr(message, name) for name in FIELDS if name != "_receipt"}


@BUILDERS
def test_every_field_of_a_message_decoded_on_read_is_decoded(build: Build) -> None:
    message = build(_full(), SPACE, sequence=9)
    assert (message.guid, message.text, message.subject, message.reply_to_guid,
            message.thread_originator_guid, message.destination) == (
        "G", "hi", "S", "R", "T", "+15550000001")
    assert message.sender == spectrum.User("+15551111111", "US", "iMessage")
    assert (message.created_at, message.edited_at, message.retracted_at,
            message.delivered_at, message.read_at, message.played_at,
            message.effect_played_at) == tuple(_when(n) for n in range(1, 8))
    assert (message.is_audio, message.is_sent, message.is_delivered,
            message.delivered_quietly, message.notified, message.send_error_code) == (
        True, True, True, True, True, 22)
    assert (message.item_type, message.group_title, message.chat_action) == (
        "group_name_change", "Team", 3)
    assert message.flags == {"spam", "forward"}
    assert (message.part_count, message.service, message.sequence) == (3, "iMessage", 9)
    assert message.effect == "com.apple.messages.effect.CKConfettiEffect"
    assert message.balloon_bundle_id == "com.example.balloon"
    assert [a.guid for a in message.attachments] == ["A"]
    assert [(f.start, f.length) for f in message.formatting] == [(0, 2)]
    assert [m.address for m in message.mentions] == ["+15552222222"]
    assert message.app_card is not None and message.app_card.team_id == "TEAM"
    assert [(r.message_guid, r.occurred_at) for r in message.reactions] == [("G", _when(8))]
    assert [s.message_guid for s in message.stickers] == ["G"]


@BUILDERS
def test_a_bare_message_gets_every_default(build: Build) -> None:
    bare = build(messages_pb2.Message(guid="G"), SPACE)
    assert bare == spectrum.Message(guid="G", space=SPACE, service="iMessage")
    defaults = spectrum.Message(guid="G", space=SPACE, service="iMessage")
    for field in ("edited_at", "retracted_at", "is_sent", "is_delivered",
                  "delivered_quietly", "notified", "send_error_code", "delivered_at",
                  "read_at", "played_at", "effect_played_at", "app_card", "reactions",
                  "stickers"):  # the fields equality leaves out
        assert getattr(bare, field) == getattr(defaults, field), field
    # Present but empty is not absent: an empty subject stays "", an explicit part count
    # of 0 or 1 is one part.
    empty = build(messages_pb2.Message(guid="G", subject="", part_count=0), SPACE)
    assert (empty.subject, empty.part_count) == ("", 1)


def test_a_message_without_sender_is_attributed_to_the_events_actor() -> None:
    event = messages_pb2.MessageChangeEvent(
        chat_guid=SPACE.id, actor=PEER, message_received=messages_pb2.MessageReceived(
            message=messages_pb2.Message(guid="G")))
    decode = decoder_for("message_changed")
    for decoded in (decode(event, SPACE, 1, lambda: None),
                    decode_event(event, SPACE, 1, lambda: None)):
        assert isinstance(decoded, spectrum.Message)
        assert decoded.sender == spectrum.User("+15551111111", "US", "iMessage")
    own = messages_pb2.MessageChangeEvent(
        chat_guid=SPACE.id, actor=PEER, message_received=messages_pb2.MessageReceived(
            message=messages_pb2.Message(guid="G", is_from_me=True)))
    decoded = decode(own, SPACE, 1, lambda: None)
    assert isinstance(decoded, spectrum.Message) and decoded.sender is None


# -- decoding on first read ------------------------------------------------------------------

_WIRES = {
    "full": _full(),
    "bare": messages_pb2.Message(guid="G"),
    "own": messages_pb2.Message(guid="G", is_from_me=True, sender=PEER,
                                content=messages_pb2.MessageContent(text="mine")),
}


@pytest.mark.parametrize("wire", list(_WIRES), ids=list(_WIRES))
@pytest.mark.parametrize("first", FIELDS)
def test_a_message_decoded_on_read_equals_the_one_decoded_at_once_whatever_is_read_first(
    wire: str, first: str
) -> None:
    event = messages_pb2.MessageChangeEvent(actor=PEER)
    at_once = message_from_proto(_WIRES[wire], SPACE, sequence=4, actor_of=event)
    received = _received(_WIRES[wire], sequence=4, actor_of=event)
    getattr(received, first)
    assert _values(received) == _values(at_once)
    assert received == at_once and hash(received) == hash(at_once)
    assert repr(received) == repr(at_once)


def test_every_field_is_set_at_once_or_decoded_in_exactly_one_group() -> None:
    grouped = [name for names, _ in convert._GROUPS for name in names]
    assert len(grouped) == len(set(grouped))
    assert sorted(grouped + sorted(convert._EAGER)) == sorted(
        f.name for f in attrs.fields(spectrum.Message))


def _is_set(message: spectrum.Message, name: str) -> bool:
    try:
        object.__getattribute__(message, name)  # no fallback to decoding
    except AttributeError:
        return False
    return True


def test_reading_a_field_decodes_its_group_only() -> None:
    received = _received(_full())
    assert [name for name in FIELDS if _is_set(received, name)] == [
        "sequence", "_receipt", "guid", "space", "is_from_me"]
    assert received.created_at == _when(1)
    assert _is_set(received, "created_at") and not _is_set(received, "text")
    assert received.text == "hi"
    assert _is_set(received, "attachments") and not _is_set(received, "sender")


def test_a_missing_attribute_is_an_attribute_error_for_either_kind() -> None:
    for message in (message_from_proto(_full(), SPACE), _received(_full())):
        with pytest.raises(AttributeError, match="'Message' object has no attribute 'txt'"):
            message.txt  # type: ignore[attr-defined]  # noqa: B018
        assert not hasattr(message, "txt")


def test_evolve_and_copy_of_a_message_decoded_on_read_are_whole_messages() -> None:
    received = _received(_full())
    changed = attrs.evolve(received, text="changed")
    assert changed.text == "changed" and changed.created_at == _when(1)
    assert _is_set(changed, "flags")  # made by __init__: every field set
    assert _values(copy.copy(_received(_full()))) == _values(message_from_proto(_full(), SPACE))


def _read_at_once(message: spectrum.Message, threads: int) -> list[dict[str, Any]]:
    """Every field of ``message`` as each of ``threads`` threads read it, all starting
    together, each from another field."""
    start = threading.Barrier(threads)
    seen: list[dict[str, Any]] = []

    def read(offset: int) -> None:
        start.wait()
        names = FIELDS[offset % len(FIELDS):] + FIELDS[:offset % len(FIELDS)]
        seen.append({name: getattr(message, name) for name in names if name != "_receipt"})

    running = [threading.Thread(target=read, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return seen


def test_threads_reading_one_message_decoded_on_read_all_see_the_decoded_values() -> None:
    expected = _values(message_from_proto(_full(), SPACE))
    for _ in range(20):
        seen = _read_at_once(_received(_full()), 32)
        assert len(seen) == 32 and all(values == expected for values in seen)


@BUILDERS
def test_a_field_that_cannot_be_decoded_keeps_its_default_and_is_logged(
    build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    # A creation time past year 9999: a datetime cannot hold it.
    wire = messages_pb2.Message(guid="G", date_created=Timestamp(seconds=2**40),
                                content=messages_pb2.MessageContent(text="still here"))
    with caplog.at_level(logging.WARNING, logger="spectrum_sync"):
        message = build(wire, SPACE)
        assert (message.text, message.created_at) == ("still here", None)
    [record] = [r for r in caplog.records if "could not decode" in r.getMessage()]
    assert "created_at" in record.getMessage() and "G" in record.getMessage()
