"""The JSON converter's edges: content a converter cannot read becomes a ``CustomContent``
holding the raw JSON (never an error), however deep inside a reply or a group it sits."""

from __future__ import annotations

from typing import Any

import pytest
from hook_helpers import body_of, envelope

import spectrum_sync as spectrum
from spectrum_sync.webhooks import CustomContent, parse

TEXT = {"type": "text", "text": "hi"}
POLL = {"type": "poll", "question": "?"}


@pytest.mark.parametrize("content", [
    {"type": "reply", "target": {"id": "M0"}, "content": POLL},
    {"type": "group", "items": [{"content": TEXT}, {"content": POLL}]},
    {"type": "reply", "target": {"id": "M0"},
     "content": {"type": "group", "items": [{"content": POLL}]}},
    {"type": "reaction", "emoji": "❤️"},  # no target
    {"type": "read"},  # no target
    {"type": "avatar", "action": {"kind": "crop"}},
    {"type": "group", "items": [{"content": {"type": ["text"], "text": "not a string"}}]},
    {"type": "reply", "content": {"type": {"nested": "object"}}},
])
def test_content_a_converter_cannot_read_is_custom(content: dict[str, Any]) -> None:
    [event] = parse(body_of(envelope(content)))
    assert isinstance(event, CustomContent)
    assert event.id == "M1" and event.content_type == content["type"]
    assert dict(event.raw)["type"] == content["type"]


def test_a_group_holds_every_part() -> None:
    content = {"type": "group", "items": [
        {"content": {"type": "reply", "target": {"id": "M0"}, "content": TEXT}},
        {"content": {"type": "voice", "id": "A1", "size": 12.0}},
    ]}
    [message] = parse(body_of(envelope(content)))
    assert isinstance(message, spectrum.Message)
    assert message.text == "hi"
    assert message.reply_to_guid == "M0"  # the reply item's target is the message's
    [voice] = message.attachments
    assert (voice.guid, voice.file_name, voice.size) == ("A1", "voice", 12)


def test_nesting_deeper_than_any_real_message_is_cut_not_fatal() -> None:
    content: dict[str, Any] = TEXT
    for _ in range(40):
        content = {"type": "reply", "target": {"id": "M0"}, "content": content}
    [message] = parse(body_of(envelope(content)))
    assert isinstance(message, spectrum.Message)
    assert message.text is None and message.reply_to_guid == "M0"
