"""Stickers, "notify anyway", embedded media (Digital Touch) and the chat count."""

from __future__ import annotations

import pytest
from rich_helpers import ALICE, BOB, LINE_1, PNG, calls
from support.receiving import take

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator


def test_place_a_sticker_on_a_message(emu: Emulator, client: Client, dm: Space) -> None:
    guid = emu.simulate_inbound(ALICE, "nice", line=LINE_1)
    received = client.message(guid)
    emu.clear_requests()
    after = received.place_sticker(PNG, x=0.25, y=0.75, scale=1.5, rotation=0.3)
    [request] = calls(emu, "PlaceSticker")
    assert (request.target.message_guid, request.target.chat_guid) == (guid, dm.id)
    assert not request.target.HasField("target_part_index")
    assert (request.placement.x, request.placement.y, request.placement.scale) == (
        0.25, 0.75, 1.5)
    assert request.sticker.attachment_guid  # uploaded first
    [sticker] = after.stickers
    assert sticker.is_from_me and sticker.placement is not None
    assert (sticker.placement.x, sticker.placement.y) == (0.25, 0.75)
    assert sticker.sticker is not None and sticker.sticker.read() == PNG


def test_a_sticker_on_a_missing_message_is_not_found(emu: Emulator, dm: Space) -> None:
    ghost = spectrum.Message(guid="no-such-message", space=dm)
    with pytest.raises(spectrum.NotFoundError) as caught:
        ghost.place_sticker(PNG)
    assert caught.value.code == "messageNotFound"


@pytest.mark.parametrize("bad", [{"x": 1.5}, {"y": -0.1}, {"scale": 0}, {"width": -3},
                                 {"x": "left"}, {"rotation": float("nan")}])
def test_bad_sticker_placements_are_refused_before_any_call(
        emu: Emulator, dm: Space, bad: dict[str, object]) -> None:
    sent = dm.send("x")
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError):
        sent.place_sticker(PNG, **bad)  # type: ignore[arg-type]
    assert emu.requests == []


def test_inbound_stickers_are_received(emu: Emulator, client: Client, dm: Space) -> None:
    sent = dm.send("look")
    with client.events("sticker", include_own=True) as events:
        emu.simulate_sticker(ALICE, sent.guid, ("s.png", PNG), x=0.1, y=0.2, line=LINE_1)
        [event] = take(events, 1)
    assert isinstance(event, spectrum.StickerPlaced)
    assert event.message_guid == sent.guid and event.sender is not None
    assert event.sender.address == ALICE and not event.is_from_me
    assert event.placement == spectrum.StickerPlacement(x=0.1, y=0.2)
    assert event.sticker is not None and event.sticker.read() == PNG
    assert [s.sender.address for s in sent.refresh().stickers if s.sender] == [ALICE]


def test_notify_anyway(emu: Emulator, dm: Space) -> None:
    sent = dm.send("urgent")
    assert not sent.notified
    emu.clear_requests()
    sent.notify_anyway()
    [request] = calls(emu, "NotifySilencedMessage")
    assert (request.chat_guid, request.message_guid) == (dm.id, sent.guid)
    assert sent.refresh().notified


def test_notify_anyway_only_for_our_messages(emu: Emulator, client: Client) -> None:
    received = client.message(emu.simulate_inbound(ALICE, "hi", line=LINE_1))
    with pytest.raises(spectrum.ValidationError) as caught:
        received.notify_anyway()
    assert caught.value.code == "preconditionFailed"


def test_embedded_media_of_a_digital_touch(emu: Emulator, client: Client) -> None:
    guid = emu.simulate_digital_touch(ALICE, PNG, "image/png", line=LINE_1)
    message = client.message(guid)
    assert message.balloon_bundle_id == "com.apple.DigitalTouchBalloonProvider"
    media = message.embedded_media()
    assert media == spectrum.EmbeddedMedia(data=PNG, mime_type="image/png")
    plain = client.message(emu.simulate_inbound(ALICE, "plain", line=LINE_1))
    with pytest.raises(spectrum.ValidationError):
        plain.embedded_media()


def test_chat_count(emu: Emulator, client: Client) -> None:
    client.space.create(ALICE, phone=LINE_1)
    bob = client.space.create(BOB, phone=LINE_1)
    assert client.chat_count(phone=LINE_1) == 2
    emu.simulate_chat_event(bob.id, "archived", line=LINE_1)
    assert client.chat_count(phone=LINE_1) == 1
    assert client.chat_count(phone=LINE_1, include_archived=True) == 2
    assert client.chat_count(include_archived=True) == 2  # line 2 holds none
    with pytest.raises(spectrum.ValidationError):
        client.chat_count(include_archived="yes")  # type: ignore[arg-type]
