"""send(url, link_preview=True): enable_link_preview on the wire, Apple's URL balloon in the
emulator, and bad input."""

from __future__ import annotations

from typing import Any

import pytest

import spectrum_sync as spectrum
from spectrum_sync import Space
from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.services.messages import URL_BALLOON


def requests(emu: Emulator) -> list[Any]:
    return [c.request for c in emu.requests if c.method == "SendTextMessage"]


def balloon(emu: Emulator, message: spectrum.Message) -> str | None:
    stored = emu.line(message.space.phone).message(message.guid)
    return stored.content.balloon_bundle_id if stored.content.HasField(
        "balloon_bundle_id") else None


def test_link_preview_asks_for_a_rich_link(emu: Emulator, dm: Space) -> None:
    message = dm.send("https://example.com/order/42", link_preview=True)
    [request] = requests(emu)
    assert request.HasField("enable_link_preview") and request.enable_link_preview
    assert balloon(emu, message) == URL_BALLOON == "com.apple.messages.URLBalloonProvider"


def test_without_it_the_flag_is_not_sent(emu: Emulator, dm: Space) -> None:
    message = dm.send("https://example.com/order/42")
    [request] = requests(emu)
    assert not request.HasField("enable_link_preview")
    assert balloon(emu, message) is None


def test_reply_and_markdown_take_it_too(emu: Emulator, dm: Space) -> None:
    question = dm.send("where is it?")
    answer = question.reply("Here: https://e.com/t", link_preview=True)
    rendered = dm.send(markdown="**Track** [it](https://e.com/t)", link_preview=True)
    assert rendered.text == "Track it (https://e.com/t)"
    assert [r.enable_link_preview for r in requests(emu)] == [False, True, True]
    assert answer.reply_to_guid == question.guid
    assert balloon(emu, answer) == balloon(emu, rendered) == URL_BALLOON


@pytest.mark.parametrize(("text", "value", "needle"), [
    ("no link here", True, "needs a text with an http:// or https:// link"),
    ("ftp://e.com/file", True, "needs a text with an http:// or https:// link"),
    ("https://e.com", "yes", "link_preview must be True or False"),
    ("https://e.com", 1, "link_preview must be True or False"),
])
def test_bad_link_preview_sends_nothing(emu: Emulator, dm: Space, text: str, value: Any,
                                        needle: str) -> None:
    with pytest.raises(spectrum.ValidationError, match=needle):
        dm.send(text, link_preview=value)
    assert requests(emu) == []


class _Local:
    """What a space's backend says of itself on a Mac (nothing else is reached)."""

    mode = "local"


def test_local_mode_refuses_it_clearly() -> None:
    space = Space(id="iMessage;-;+15551111111", type="dm", phone="", ops=_Local())
    with pytest.raises(spectrum.UnsupportedError, match=r"link previews.*local mode"):
        space.send("https://e.com", link_preview=True)
