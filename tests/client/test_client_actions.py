"""Space and message actions: send, reply, react, edit, unsend, typing, read, chat info."""

from __future__ import annotations

import pytest
from client_helpers import ALICE, BOB, LINE_1, calls

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync._proto import messages_pb2
from spectrum_sync.emulator import Emulator


@pytest.fixture
def space(client: Client) -> spectrum.Space:
    return client.space.create(ALICE, phone=LINE_1)


def test_send_returns_the_message(emu: Emulator, space: spectrum.Space) -> None:
    message = space.send("Hi Alice", subject="Greetings")
    assert message.text == "Hi Alice"
    assert message.subject == "Greetings"
    assert message.space == space and message.id == message.guid
    assert message.is_from_me and message.sender is None
    assert message.created_at is not None and message.created_at.tzinfo is not None
    (send,) = calls(emu, "SendTextMessage")
    assert send.request.chat_guid == space.id
    assert not send.request.HasField("client_message_id")  # only with a caller's key


def test_send_with_effect(emu: Emulator, space: spectrum.Space) -> None:
    space.send("boom", effect="com.apple.MobileSMS.expressivesend.impact")
    (send,) = calls(emu, "SendTextMessage")
    assert send.request.effect_id == "com.apple.MobileSMS.expressivesend.impact"


def test_reply_threads_to_the_message(emu: Emulator, space: spectrum.Space) -> None:
    first = space.send("question?")
    answer = first.reply("answer")
    assert answer.reply_to_guid == first.guid
    also = space.send("another", reply_to=first)
    assert also.reply_to_guid == first.guid
    sends = calls(emu, "SendTextMessage")
    assert [s.request.reply_to.message_guid for s in sends] == ["", first.guid, first.guid]


def test_empty_text_is_refused_without_rpc(emu: Emulator, space: spectrum.Space) -> None:
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError):
        space.send("")
    assert emu.requests == []


@pytest.mark.parametrize(
    ("emoji", "kind", "wire_emoji"),
    [
        ("❤️", messages_pb2.MESSAGE_REACTION_KIND_LOVE, None),
        ("👍", messages_pb2.MESSAGE_REACTION_KIND_LIKE, None),
        ("👎", messages_pb2.MESSAGE_REACTION_KIND_DISLIKE, None),
        ("😂", messages_pb2.MESSAGE_REACTION_KIND_LAUGH, None),
        ("‼️", messages_pb2.MESSAGE_REACTION_KIND_EMPHASIZE, None),
        ("❓", messages_pb2.MESSAGE_REACTION_KIND_QUESTION, None),
        ("love", messages_pb2.MESSAGE_REACTION_KIND_LOVE, None),
        ("🎉", messages_pb2.MESSAGE_REACTION_KIND_EMOJI, "🎉"),
    ],
)
def test_tapback_mapping(
    emu: Emulator, space: spectrum.Space, emoji: str, kind: int, wire_emoji: str | None
) -> None:
    message = space.send("react to me")
    message.react(emoji)
    message.unreact(emoji)
    added, removed = calls(emu, "SetReaction")
    for call, is_set in ((added, True), (removed, False)):
        request = call.request
        assert request.is_set is is_set
        assert request.target.message_guid == message.guid
        assert request.target.chat_guid == space.id
        assert request.reaction.kind == kind
        assert (request.reaction.emoji if request.reaction.HasField("emoji") else None) \
            == wire_emoji


def test_sticker_is_refused_client_side(emu: Emulator, space: spectrum.Space) -> None:
    message = space.send("no stickers")
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match="sticker"):
        message.react("sticker")
    with pytest.raises(spectrum.ValidationError):
        message.react("")
    assert emu.requests == []


def test_edit_and_unsend(emu: Emulator, space: spectrum.Space) -> None:
    message = space.send("Hi Alcie")
    edited = message.edit("Hi Alice")
    assert edited.guid == message.guid
    assert edited.text == "Hi Alice" and edited.edited_at is not None
    message.unsend()
    (unsend,) = calls(emu, "UnsendMessage")
    assert unsend.request.target.message_guid == message.guid
    with pytest.raises(spectrum.SpectrumError):
        message.edit("too late")  # the server refuses edits of retracted messages


def test_typing_context_manager_always_turns_typing_off(
    emu: Emulator, space: spectrum.Space
) -> None:
    with space.typing() as same:
        assert same is space
    with pytest.raises(RuntimeError, match="boom"), space.typing():
        raise RuntimeError("boom")
    space.set_typing(True)
    space.set_typing(False)
    states = [c.request.is_typing for c in calls(emu, "SetTyping")]
    assert states == [True, False, True, False, True, False]


def test_typing_off_failure_does_not_hide_the_block_error(
    emu: Emulator, space: spectrum.Space
) -> None:
    with pytest.raises(KeyError), space.typing():
        emu.fail_next(1, code="INTERNAL", retryable=False, method="SetTyping")
        raise KeyError("original")


def test_mark_read_participants_refresh(emu: Emulator, client: Client) -> None:
    group = client.space.create([ALICE, BOB], phone=LINE_1)
    group.mark_read()
    (read,) = calls(emu, "MarkChatRead")
    assert read.request.chat_guid == group.id
    assert sorted(u.address for u in group.participants()) == [ALICE, BOB]
    assert all(isinstance(u, spectrum.User) for u in group.participants())
    fresh = group.refresh()
    assert fresh == group and fresh.type == "group"
    assert len(calls(emu, "GetChat")) == 3


def test_unknown_message_gives_not_found(space: spectrum.Space) -> None:
    ghost = spectrum.Message(guid="00000000-0000-0000-0000-000000000000", space=space)
    with pytest.raises(spectrum.NotFoundError):
        ghost.edit("hello?")
