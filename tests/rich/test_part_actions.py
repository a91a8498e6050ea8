"""Part-indexed actions on multipart messages: react, reply, edit and unsend one bubble."""

from __future__ import annotations

import pytest
from rich_helpers import PNG, calls

import spectrum_sync as spectrum
from spectrum_sync import Space
from spectrum_sync.emulator import Emulator


@pytest.fixture
def multipart(dm: Space) -> spectrum.Message:
    return dm.send_parts(["first ", PNG, "third"])


def test_react_to_one_part(emu: Emulator, multipart: spectrum.Message) -> None:
    assert multipart.part_count == 3
    multipart.react("👍", part=2)
    multipart.unreact("👍", part=2)
    targets = [r.target for r in calls(emu, "SetReaction")]
    assert [t.target_part_index for t in targets] == [2, 2]
    multipart.react("❤️", part=0)
    [love] = multipart.refresh().reactions
    assert (love.emoji, love.part_index, love.is_from_me) == ("❤️", 0, True)


def test_reply_to_one_part(emu: Emulator, multipart: spectrum.Message) -> None:
    reply = multipart.reply("about the third", part=2)
    [request] = calls(emu, "SendTextMessage")
    assert request.reply_to.message_guid == multipart.guid
    assert request.reply_to.target_part_index == 2
    assert reply.reply_to_guid == multipart.guid
    multipart.reply("to all of it")
    assert not calls(emu, "SendTextMessage")[-1].reply_to.HasField("target_part_index")


def test_edit_and_unsend_one_part(emu: Emulator, multipart: spectrum.Message) -> None:
    edited = multipart.edit("FIRST ", part=0)
    assert calls(emu, "EditMessage")[0].target.target_part_index == 0
    assert edited.text == "FIRST third"
    multipart.unsend(part=2)
    assert calls(emu, "UnsendMessage")[0].target.target_part_index == 2
    after = multipart.refresh()
    assert after.text == "FIRST " and after.retracted_at is None  # the rest stays
    with pytest.raises(spectrum.ValidationError):
        multipart.edit("a picture is no text", part=1)


@pytest.mark.parametrize("part", [3, -1, True, "0", 1.0])
def test_bad_part_indexes_are_refused_before_any_call(
        emu: Emulator, multipart: spectrum.Message, part: object) -> None:
    emu.clear_requests()
    for action in (lambda: multipart.react("👍", part=part),  # type: ignore[arg-type]
                   lambda: multipart.edit("x", part=part),  # type: ignore[arg-type]
                   lambda: multipart.unsend(part=part),  # type: ignore[arg-type]
                   lambda: multipart.reply("x", part=part)):  # type: ignore[arg-type]
        with pytest.raises(spectrum.ValidationError):
            action()
    assert emu.requests == []


def test_the_service_checks_part_indexes_too(emu: Emulator, dm: Space) -> None:
    single = dm.send("one bubble")
    # A message made by hand does not know its part count: the service does.
    unknown = spectrum.Message(guid=single.guid, space=dm, part_count=5)
    with pytest.raises(spectrum.ValidationError) as caught:
        unknown.react("👍", part=4)
    assert caught.value.code == "invalidArgument"
