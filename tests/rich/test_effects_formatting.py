"""Effects by name, text formatting ranges, subjects, inbound formatting and mentions."""

from __future__ import annotations

import pytest
from rich_helpers import ALICE, LINE_1, calls

import spectrum_sync as spectrum
from spectrum_sync import Client, Space, TextFormat
from spectrum_sync.emulator import Emulator

# The names and ids of Spectrum's official iMessage provider.
OFFICIAL = {
    "balloons": "com.apple.messages.effect.CKBalloonEffect",
    "celebration": "com.apple.messages.effect.CKHappyBirthdayEffect",
    "confetti": "com.apple.messages.effect.CKConfettiEffect",
    "echo": "com.apple.messages.effect.CKEchoEffect",
    "fireworks": "com.apple.messages.effect.CKFireworksEffect",
    "gentle": "com.apple.MobileSMS.expressivesend.gentle",
    "heart": "com.apple.messages.effect.CKHeartEffect",
    "invisible": "com.apple.MobileSMS.expressivesend.invisibleink",
    "lasers": "com.apple.messages.effect.CKLasersEffect",
    "loud": "com.apple.MobileSMS.expressivesend.loud",
    "slam": "com.apple.MobileSMS.expressivesend.impact",
    "sparkles": "com.apple.messages.effect.CKSparklesEffect",
    "spotlight": "com.apple.messages.effect.CKSpotlightEffect",
}


def test_every_official_effect_name_maps_to_its_id(emu: Emulator, dm: Space) -> None:
    for name, effect_id in OFFICIAL.items():
        sent = dm.send(f"with {name}", effect=name)
        assert sent.effect == effect_id and sent.effect_name == name
    assert [r.effect_id for r in calls(emu, "SendTextMessage")] == list(OFFICIAL.values())


def test_names_ignore_case_and_ids_pass_through(emu: Emulator, dm: Space) -> None:
    assert dm.send("a", effect=" Confetti ").effect_name == "confetti"
    newer = "com.apple.messages.effect.CKFutureEffect"
    sent = dm.send("b", effect=newer)
    assert sent.effect == newer and sent.effect_name is None
    assert dm.send("c").effect is None


def test_unknown_effect_lists_the_valid_names(emu: Emulator, dm: Space) -> None:
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError) as info:
        dm.send("x", effect="boom")
    for name in OFFICIAL:
        assert name in str(info.value)
    for bad in ("", "not an id", "com..x", 7):
        with pytest.raises(spectrum.ValidationError):
            dm.send("x", effect=bad)  # type: ignore[arg-type]
    assert emu.requests == []


def test_formatting_ranges_travel_in_utf16_units(emu: Emulator, dm: Space) -> None:
    text = "Hi 👋 bold italic under strike big"
    formats = [
        TextFormat.find(text, "bold"),
        TextFormat.find(text, "italic", "italic"),
        TextFormat.find(text, "under", "underline"),
        TextFormat.find(text, "strike", "strikethrough"),
        TextFormat.find(text, "big", "effect", effect="bloom"),
    ]
    # The wave takes two UTF-16 units: "bold" starts at string index 5, unit 6.
    assert formats[0] == TextFormat("bold", 6, 4)
    sent = dm.send(text, formatting=formats, subject="Styles")
    [request] = calls(emu, "SendTextMessage")
    assert [(f.type, f.start, f.length, f.effect_name) for f in request.formatting] == [
        ("bold", 6, 4, ""), ("italic", 11, 6, ""), ("underline", 18, 5, ""),
        ("strikethrough", 24, 6, ""), ("effect", 31, 3, "bloom")]
    assert request.subject == "Styles"
    assert sent.formatting == tuple(formats) and sent.subject == "Styles"


def test_formatting_out_of_range_or_malformed_is_refused(emu: Emulator, dm: Space) -> None:
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match="past the end"):
        dm.send("short", formatting=[TextFormat.bold(2, 4)])
    with pytest.raises(spectrum.ValidationError, match="past the end"):
        dm.send("👋", formatting=[TextFormat.bold(0, 3)])  # two units, not three
    with pytest.raises(spectrum.ValidationError, match="type must be one of"):
        TextFormat("blink", 0, 1)
    with pytest.raises(spectrum.ValidationError, match="length"):
        TextFormat.bold(0, 0)
    with pytest.raises(spectrum.ValidationError, match="start"):
        TextFormat.bold(-1, 2)
    with pytest.raises(spectrum.ValidationError, match="text effect"):
        TextFormat("effect", 0, 1, "wobble")
    with pytest.raises(spectrum.ValidationError, match="goes with type 'effect'"):
        TextFormat("bold", 0, 1, "bloom")
    with pytest.raises(spectrum.ValidationError, match="does not occur"):
        TextFormat.find("abc", "z")
    with pytest.raises(spectrum.ValidationError, match="TextFormat values"):
        dm.send("abc", formatting=[("bold", 0, 1)])  # type: ignore[list-item]
    assert emu.requests == []


def test_inbound_formatting_mentions_effect_and_voice(emu: Emulator, client: Client,
                                                      dm: Space) -> None:
    with client.messages() as inbox:
        emu.simulate_inbound(ALICE, "hey @You look", line=LINE_1, effect_id=OFFICIAL["slam"],
                             subject="Re", formatting=[("bold", 0, 3), ("sparkle", 0, 1)],
                             mentions=[(str(LINE_1), 4, 4)])
        message = next(iter(inbox))
        emu.simulate_inbound(ALICE, line=LINE_1, attachment=("memo.m4a", b"\0" * 10),
                             audio=True)
        voice = next(iter(inbox))
    # An unknown style is skipped: the text still reads fine.
    assert message.formatting == (TextFormat.bold(0, 3),)
    assert message.mentions == (spectrum.Mention(address=LINE_1, start=4, length=4),)
    assert message.effect_name == "slam" and message.subject == "Re"
    assert voice.is_audio and voice.text is None
    assert voice.attachments[0].file_name == "memo.m4a"
