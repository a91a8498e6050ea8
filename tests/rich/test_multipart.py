"""Multipart messages: text, mentions and files in one message."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich_helpers import ALICE, BOB, PNG, calls, methods

import spectrum_sync as spectrum
from spectrum_sync import Part, Space, TextFormat
from spectrum_sync.emulator import Emulator


def test_text_mention_and_files_in_one_message(emu: Emulator, dm: Space,
                                               tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    emu.clear_requests()
    sent = dm.send_parts([
        "Look at this ",
        Part.mention("(555) 111-1111", "@Alice"),
        photo,
        Part.file(b"%PDF", name="doc.pdf"),
        Part.text("bye now", formatting=[TextFormat.italic(0, 3)]),
    ], subject="Pictures", effect="confetti")
    assert methods(emu) == ["UploadAttachment", "UploadAttachment", "SendMultipartMessage"]
    [request] = calls(emu, "SendMultipartMessage")
    uploads = calls(emu, "UploadAttachment")
    assert [u.file_name for u in uploads] == ["photo.png", "doc.pdf"]
    parts = list(request.parts)
    assert [p.bubble_index for p in parts] == [0, 1, 2, 3, 4]
    assert parts[0].text == "Look at this " and not parts[0].HasField("mentioned_address")
    assert (parts[1].text, parts[1].mentioned_address) == ("@Alice", ALICE)
    assert parts[2].attachment.attachment_name == "photo.png"
    assert parts[3].attachment.attachment_name == "doc.pdf"
    assert [(f.type, f.start, f.length) for f in parts[4].formatting] == [("italic", 0, 3)]
    assert request.subject == "Pictures"
    assert request.effect_id == "com.apple.messages.effect.CKConfettiEffect"
    # The emulator joins the texts into one, with the ranges moved along.
    assert sent.text == "Look at this @Alicebye now"
    assert sent.mentions == (spectrum.Mention(address=ALICE, start=13, length=6),)
    assert sent.formatting == (TextFormat.italic(19, 3),)
    assert [a.file_name for a in sent.attachments] == ["photo.png", "doc.pdf"]
    assert sent.subject == "Pictures" and sent.effect_name == "confetti"


def test_a_reply_with_parts_and_the_same_key_twice(emu: Emulator, dm: Space) -> None:
    first = dm.send("question?")
    answer = dm.send_parts(["answer", Part.file(PNG, name="a.png")], reply_to=first,
                           idempotency_key="answer-1")
    again = dm.send_parts(["answer", Part.file(PNG, name="a.png")], reply_to=first.guid,
                          idempotency_key="answer-1")
    assert again.guid == answer.guid and answer.reply_to_guid == first.guid
    assert [r.reply_to.message_guid for r in calls(emu, "SendMultipartMessage")] == [
        first.guid, first.guid]
    assert len(emu.messages(chat=dm.id)) == 2


def test_mention_of_a_user(emu: Emulator, dm: Space) -> None:
    bob = spectrum.User(address=BOB)
    dm.send_parts([Part.mention(bob, "@Bob"), " hi", Part.mention(ALICE)])
    [request] = calls(emu, "SendMultipartMessage")
    assert [(p.text, p.mentioned_address) for p in request.parts] == [
        ("@Bob", BOB), (" hi", ""), (ALICE, ALICE)]


def test_bad_parts_upload_nothing(emu: Emulator, dm: Space, tmp_path: Path) -> None:
    emu.clear_requests()
    for bad, message in [
        ([], "at least one part"),
        ("just text", "list of parts"),
        ([tmp_path / "missing.png"], "part 0 .*missing.png.*does not exist"),
        (["ok", Part.file(b"")], "empty"),
        ([""], "must not be empty"),
        ([42], "path, bytes or a binary file"),
        (["x"] * 101, "at most 100 parts"),
    ]:
        with pytest.raises(spectrum.ValidationError, match=message):
            dm.send_parts(bad)  # type: ignore[arg-type]
    with pytest.raises(spectrum.ValidationError, match="past the end"):
        Part.text("abc", formatting=[TextFormat.bold(1, 5)])
    with pytest.raises(spectrum.InvalidAddress):
        dm.send_parts([Part.mention("not an address", "@x")])
    with pytest.raises(spectrum.ValidationError, match="unknown effect"):
        dm.send_parts(["x"], effect="boom")
    assert emu.requests == []
