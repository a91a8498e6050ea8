"""``webhooks.parse``: every content type of the native webhook becomes the event type the
stream yields; unknown content types and fields are kept; unknown event types give nothing;
malformed bodies are 400."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hook_helpers import SENDER, SPACE, WHEN, body_of, envelope

import spectrum_sync as spectrum
from spectrum_sync.webhooks import (
    CustomContent,
    WebhookError,
    parse,
    parse_envelope,
    parse_timestamp,
    thaw,
)

ALICE = spectrum.User("+15551111111", "US", "iMessage")
T = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=timezone.utc)
TARGET = {"id": "T1", "contentPreview": "earlier text", "timestamp": WHEN,
          "sender": {"id": "+15550000001", "platform": "iMessage"}}
GROUP_SPACE = {"id": "any;+;chat42", "platform": "iMessage", "type": "group",
               "phone": "+15550000001"}


def one(content: dict[str, Any], **kwargs: Any) -> Any:
    events = parse(body_of(envelope(content, **kwargs)))
    assert len(events) == 1, events
    return events[0]


def test_text() -> None:
    msg = one({"type": "text", "text": "hello 🙂"})
    assert isinstance(msg, spectrum.Message) and msg.kind == "message"
    assert (msg.guid, msg.text, msg.sender, msg.is_from_me, msg.created_at) == (
        "M1", "hello 🙂", ALICE, False, T)
    assert msg.space == spectrum.Space(id=SPACE["id"], type="dm", phone="+15550000001",
                                       ops=None)  # type: ignore[arg-type]
    assert msg.attachments == () and msg.reply_to_guid is None
    assert msg.sequence == 0
    msg.ack()  # a no-op: webhooks have no cursor


def test_richlink_is_a_message_with_the_url_as_text() -> None:
    msg = one({"type": "richlink", "url": "https://example.com/x"})
    assert isinstance(msg, spectrum.Message) and msg.text == "https://example.com/x"


def test_contact_is_a_message_whose_card_stays_in_the_raw_content() -> None:
    body = body_of(envelope({"type": "contact", "name": {"first": "Ann"},
                             "phones": ["+15553333333"]}))
    env = parse_envelope(body)
    [msg] = env.events
    assert isinstance(msg, spectrum.Message) and msg.text is None
    assert env.content_type == "contact"
    assert env.content["name"]["first"] == "Ann" and env.content["phones"] == ("+15553333333",)


def test_attachment_and_voice_carry_metadata() -> None:
    msg = one({"type": "attachment", "id": "A1", "name": "a.png", "mimeType": "image/png",
               "size": 1234})
    assert msg.attachments == (spectrum.Attachment(guid="A1", file_name="a.png",
                                                   mime_type="image/png", size=1234),)
    assert msg.text is None
    voice = one({"type": "voice", "id": "V1", "name": "memo.m4a", "mimeType": "audio/x-m4a",
                 "duration": 3.5, "size": 999})
    assert voice.attachments == (spectrum.Attachment(guid="V1", file_name="memo.m4a",
                                                     mime_type="audio/x-m4a", size=999),)
    bare = one({"type": "attachment", "id": "A2"})  # defaults as the official SDK's
    assert bare.attachments[0].file_name == "attachment"
    assert bare.attachments[0].mime_type == "application/octet-stream"
    assert bare.attachments[0].size == 0


def test_reply_names_the_message_it_answers() -> None:
    msg = one({"type": "reply", "content": {"type": "text", "text": "yes"}, "target": TARGET})
    assert isinstance(msg, spectrum.Message)
    assert (msg.text, msg.reply_to_guid) == ("yes", "T1")
    with_file = one({"type": "reply", "target": TARGET,
                     "content": {"type": "attachment", "id": "A1", "name": "a.png",
                                 "mimeType": "image/png", "size": 1}})
    assert with_file.reply_to_guid == "T1" and with_file.attachments[0].guid == "A1"


def test_group_is_one_message_with_every_part() -> None:
    items = [{"id": "M1:0", "content": {"type": "text", "text": "look"}},
             {"id": "M1:1", "content": {"type": "attachment", "id": "A1", "name": "a.jpg",
                                        "mimeType": "image/jpeg", "size": 10}},
             {"id": "M1:2", "content": {"type": "voice", "id": "V1", "mimeType": "audio/amr",
                                        "size": 5}}]
    msg = one({"type": "group", "items": items})
    assert isinstance(msg, spectrum.Message) and msg.text == "look"
    assert [a.guid for a in msg.attachments] == ["A1", "V1"]
    replied = one({"type": "reply", "target": TARGET, "content": {"type": "group",
                                                                  "items": items}})
    assert replied.reply_to_guid == "T1" and len(replied.attachments) == 2


def test_reaction() -> None:
    reaction = one({"type": "reaction", "emoji": "👍", "target": TARGET},
                   message_id="T1:reaction:7")
    assert isinstance(reaction, spectrum.Reaction) and reaction.kind == "reaction"
    assert (reaction.message_guid, reaction.emoji, reaction.added, reaction.sender,
            reaction.occurred_at) == ("T1", "👍", True, ALICE, T)


def test_read() -> None:
    read = one({"type": "read", "target": TARGET}, message_id="T1:read:8")
    assert isinstance(read, spectrum.MessageRead) and read.kind == "read"
    assert (read.message_guid, read.reader, read.read_at) == ("T1", ALICE, T)


def test_members_added_and_removed_give_one_event_each() -> None:
    body = body_of(envelope({"type": "addMember", "members": ["+15552222222", "bob@x.com"]},
                            space=GROUP_SPACE))
    added = parse(body)
    assert [type(e) for e in added] == [spectrum.GroupChanged] * 2
    assert [(e.change, e.participant.address, e.actor) for e in added] == [  # type: ignore[union-attr]
        ("participant_added", "+15552222222", ALICE), ("participant_added", "bob@x.com", ALICE)]
    assert added[0].space.type == "group"
    removed = one({"type": "removeMember", "members": ["+15552222222"]}, space=GROUP_SPACE)
    assert (removed.change, removed.participant.address) == ("participant_removed",
                                                             "+15552222222")


def test_leave_rename_and_avatar() -> None:
    left = one({"type": "leaveSpace"}, space=GROUP_SPACE)
    assert (left.change, left.participant, left.actor) == ("participant_left", ALICE, ALICE)
    renamed = one({"type": "rename", "displayName": "Book club"}, space=GROUP_SPACE)
    assert (renamed.change, renamed.display_name) == ("renamed", "Book club")
    icon = one({"type": "avatar", "action": {"kind": "set", "mimeType": "image/png"}},
               space=GROUP_SPACE)
    assert icon.change == "icon_changed" and icon.kind == "group"
    cleared = one({"type": "avatar", "action": {"kind": "clear"}}, space=GROUP_SPACE)
    assert cleared.change == "icon_removed"


@pytest.mark.parametrize("content", [
    {"type": "poll", "title": "Lunch?", "options": [{"title": "a"}, {"title": "b"}]},
    {"type": "hologram", "depth": 3, "nested": {"list": [1, {"x": None}]}},
    {"type": "avatar", "action": {"kind": "spin"}},
    {"type": "group", "items": [{"content": {"type": "text", "text": "a"}},
                                {"content": {"type": "sticker-3d"}}]},
])
def test_unknown_content_types_are_custom_events_with_the_raw_json(
        content: dict[str, Any]) -> None:
    event = one(content, message_id="X1")
    assert isinstance(event, CustomContent) and event.kind == "custom"
    assert (event.id, event.content_type, event.sender) == ("X1", content["type"], ALICE)
    assert thaw(event.raw) == content
    assert json.loads(json.dumps(thaw(event.raw))) == content


def test_unknown_event_types_give_no_events() -> None:
    assert parse(body_of({"event": "space.archived", "space": {"id": "x"}})) == []
    assert parse(b'{"event": "typing"}') == []
    env = parse_envelope(b'{"event": "future", "extra": [1, 2]}')
    assert env.events == () and env.event == "future" and env.raw["extra"] == (1, 2)


def test_unknown_fields_are_kept_read_only() -> None:
    data = envelope({"type": "text", "text": "hi", "formatting": {"bold": [0, 2]}},
                    deliveryAttempt=3)
    data["message"]["space"]["iconUrl"] = "https://x"
    data["message"]["sender"]["displayName"] = "Alice"
    env = parse_envelope(body_of(data))
    assert env.raw["deliveryAttempt"] == 3
    assert env.message["sender"]["displayName"] == "Alice"
    assert env.content["formatting"]["bold"] == (0, 2)
    assert thaw(env.raw) == data
    with pytest.raises(TypeError):
        env.raw["event"] = "x"  # type: ignore[index]
    assert (env.id, env.platform, env.direction, env.timestamp) == ("M1", "iMessage",
                                                                    "inbound", T)


@pytest.mark.parametrize("platform", ["iMessage", "imessage", "IMESSAGE", None])
def test_the_platform_is_compared_without_case(platform: str | None) -> None:
    data = envelope({"type": "text", "text": "hi"})
    data["message"].pop("platform")
    data["message"]["space"].pop("platform")
    if platform is not None:
        data["message"]["space"]["platform"] = platform
    [msg] = parse(body_of(data))
    assert msg.text == "hi"  # type: ignore[union-attr]


def test_another_platform_gives_no_events() -> None:
    data = envelope({"type": "text", "text": "hi"})
    data["message"]["platform"] = "slack"
    env = parse_envelope(body_of(data))
    assert env.events == () and env.platform == "slack"


def test_our_own_messages() -> None:
    msg = one({"type": "text", "text": "sent by us"}, direction="outbound",
              sender={"id": "+15550000001"})
    assert msg.is_from_me is True and msg.sender is None


def test_missing_optional_fields() -> None:
    data = {"event": "messages", "message": {"id": "M9", "space": {"id": "any;+;g7"},
                                             "content": {"type": "text"}}}
    [msg] = parse(json.dumps(data))
    assert isinstance(msg, spectrum.Message)
    assert (msg.text, msg.sender, msg.created_at, msg.space.type, msg.space.phone) == (
        "", None, None, "group", "")
    [also] = parse(data)  # a mapping (already decoded JSON) works too
    assert also == msg


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-03-01T12:00:00Z", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("2026-03-01T12:00:00.123456789Z", datetime(2026, 3, 1, 12, 0, 0, 123456,
                                                tzinfo=timezone.utc)),
    ("2026-03-01T14:00:00+02:00", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("2026-03-01T12:00:00", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("2026-03-01 07:00-0500", datetime(2026, 3, 1, 12, tzinfo=timezone.utc)),
    ("not a date", None), ("2026-13-01T00:00:00Z", None), (12345, None), (None, None),
])
def test_timestamps(text: object, expected: datetime | None) -> None:
    found = parse_timestamp(text)
    assert found == expected
    if found is not None:
        assert found.utcoffset() is not None
        assert found - expected == timedelta(0)  # type: ignore[operator]


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[1, 2]", b'"text"', b"null", b"\xff\xfe\x00garbage",
    b'{"message": {}}',                                   # no event
    b'{"event": 7}',                                      # event not a string
    b'{"event": "messages"}',                             # no message
    b'{"event": "messages", "message": []}',
    b'{"event": "messages", "message": {"space": {"id": "s"}, "content": {"type": "text"}}}',
    b'{"event": "messages", "message": {"id": 5, "space": {"id": "s"}, '
    b'"content": {"type": "text"}}}',
    b'{"event": "messages", "message": {"id": "m", "content": {"type": "text"}}}',
    b'{"event": "messages", "message": {"id": "m", "space": {}, "content": {"type": "t"}}}',
    b'{"event": "messages", "message": {"id": "m", "space": {"id": "s"}}}',
    b'{"event": "messages", "message": {"id": "m", "space": {"id": "s"}, "content": {}}}',
    b"[" * 100_000 + b"]" * 100_000,                     # deeper than the parser goes
], ids=lambda b: b[:40].decode(errors="replace"))
def test_malformed_bodies_are_400(body: bytes) -> None:
    with pytest.raises(WebhookError) as caught:
        parse(body)
    assert (caught.value.status, caught.value.reason) == (400, "malformed-payload")


def test_spaces_without_a_client_explain_themselves() -> None:
    [msg] = parse(body_of(envelope({"type": "text", "text": "hi"})))
    assert isinstance(msg, spectrum.Message)
    for action in (lambda: msg.reply("x"), lambda: msg.space.send("x"),
                   lambda: msg.react("👍"), msg.space.mark_read, msg.space.participants,
                   lambda: msg.edit("y"), msg.unsend):
        with pytest.raises(spectrum.SpectrumError, match="pass client= to parse"):
            action()


def test_sender_without_address_uses_its_id() -> None:
    msg = one({"type": "text", "text": "hi"}, sender={"id": "bob@example.com",
                                                      "platform": "iMessage"})
    assert msg.sender == spectrum.User("bob@example.com")
    assert SENDER["address"] == "+15551111111"
