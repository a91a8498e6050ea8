"""Interop: the official TypeScript SDK drives the emulator.

`sdk_driver.mjs` uses `@photon-ai/advanced-imessage@2.2.0` (installed with npm into a cached
folder) to exchange a token over REST, then calls the emulator over gRPC and asserts what it
gets back. This test then asserts what the emulator recorded. Together they prove that our
hand-written protos and the emulator speak the real protocol: field numbers, metadata, error
trailers, event sequences.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.factories import EmulatorFactory
from support.tools import npm_folder

from spectrum_sync.emulator import Emulator

HERE = Path(__file__).resolve().parent
SDK_PACKAGES = (
    "@photon-ai/advanced-imessage@2.2.0",
    "nice-grpc@2.1.18",
    "nice-grpc-common@2.0.4",
    "@grpc/grpc-js@1.14.7",
)
LINE, OTHER_LINE, PEER = "+15550000001", "+15550000002", "+15551111111"
OTHER, THIRD = "+15552222222", "+15553333333"

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def sdk_dir() -> Path:
    """A folder with the official SDK installed; npm runs only when the cache is empty."""
    return npm_folder("interop-node", SDK_PACKAGES)


def _drive(sdk_dir: Path, emu: Emulator) -> dict[str, Any]:
    script = sdk_dir / "sdk_driver.mjs"
    shutil.copyfile(HERE / "sdk_driver.mjs", script)
    env = {**os.environ, **emu.env(), "INTEROP_LINE": LINE, "INTEROP_PEER": PEER,
           "INTEROP_OTHER": OTHER, "INTEROP_THIRD": THIRD}
    proc = subprocess.run(
        ["node", str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"driver failed:\n{proc.stderr}\n{proc.stdout}"
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _calls(emu: Emulator, method: str) -> list[tuple[Any, dict[str, str]]]:
    """(request, metadata) of every recorded call to ``method``, in arrival order."""
    found = []
    for name, request, metadata in emu.requests:
        if name.rsplit("/", 1)[-1] == method:
            found.append((request, dict(metadata)))
    return found


def test_official_sdk_round_trip(sdk_dir: Path, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE, OTHER_LINE], heartbeat_interval=1.0)
    emu.set_address(PEER, ["iMessage"], focused=True)
    out = _drive(sdk_dir, emu)
    _check_recorded(emu, out)
    _check_rich(emu, out)


def _check_recorded(emu: Emulator, out: dict[str, Any]) -> None:
    # Every call carried the line's bearer token.
    tokens = {meta.get("authorization") for _, _, meta in emu.requests}
    assert len(tokens) == 1
    token = tokens.pop()
    assert token is not None and token.startswith("Bearer ")
    assert emu.line_for_token(token.split(" ", 1)[1]).number == LINE

    # The formatted send: every field arrived under the right number; sent twice with one
    # clientMessageId, one message: the repeat is answered duplicateMessage.
    hello = [(r, m) for r, m in _calls(emu, "SendTextMessage") if r.text == "Hello interop"]
    assert len(hello) == 2
    assert [m["guid"] for m in emu.messages() if m["text"].startswith("Hello interop")] == [
        out["sent"]]  # (edited to "Hello interop!" later)
    assert out["duplicate"] == {"name": "IMessageError", "code": "duplicateMessage",
                                "retryable": False}
    request, meta = hello[0]
    assert request.chat_guid == out["chat"]
    assert request.client_message_id == "interop-cmid-1"
    assert request.subject == "Greeting"
    assert request.effect_id == "com.apple.messages.effect.CKConfettiEffect"
    assert [(f.type, f.start, f.length) for f in request.formatting] == [("bold", 0, 5)]
    assert meta.get("x-idempotency-key")

    reply = [r for r, _ in _calls(emu, "SendTextMessage") if r.text == "a threaded reply"]
    assert [r.reply_to.message_guid for r in reply] == [out["inbound"][0]]

    # The injected retryable fault, then the resend with the same client message id.
    faulted = [r for r, _ in _calls(emu, "SendTextMessage") if r.text == "after a fault"]
    assert [r.client_message_id for r in faulted] == ["interop-cmid-fault"] * 2
    assert out["fault"] == {"name": "ConnectionError", "code": "serviceUnavailable",
                            "retryable": True}

    # Reads carry no idempotency key.
    assert all("x-idempotency-key" not in m for _, m in _calls(emu, "GetChat"))

    reactions = [
        (r.target.message_guid, r.reaction.kind, r.reaction.emoji, r.is_set)
        for r, _ in _calls(emu, "SetReaction") if r.target.message_guid == out["inbound"][0]
    ]
    assert reactions == [
        (out["inbound"][0], 0, "", True),  # LOVE is 0: nothing on the wire
        (out["inbound"][0], 6, "🎉", True),  # EMOJI
        (out["inbound"][0], 0, "", False),
    ]
    edits = [r for r, _ in _calls(emu, "EditMessage")]
    assert [(e.target.message_guid, e.new_text) for e in edits] == [(out["sent"], "Hello interop!")]
    unsends = [r for r, _ in _calls(emu, "UnsendMessage")]
    assert [u.target.message_guid for u in unsends] == [out["reply"]]
    assert [r.is_typing for r, _ in _calls(emu, "SetTyping")] == [True, False]
    assert [r.after_sequence for r, _ in _calls(emu, "CatchUpEvents")] == [out["catchUpFrom"]]
    assert [r.address for r, _ in _calls(emu, "GetAddressInfo")] == [PEER, "not an address"]
    assert [list(r.addresses) for r, _ in _calls(emu, "CreateChat")] == [[PEER], [PEER, OTHER]]

    # The SDK saw the same sequence space the emulator keeps.
    assert out["headSequence"] >= max(out["liveSequences"])
    assert out["errors"]["unknownChat"] == {
        "name": "NotFoundError", "code": "chatNotFound", "retryable": False,
    }


def _check_rich(emu: Emulator, out: dict[str, Any]) -> None:
    """Attachments, multipart, history, groups, polls and lookups as the SDK sent them."""
    rich, chat = out["rich"], out["chat"]
    [(upload, meta)] = _calls(emu, "UploadAttachment")
    assert upload.file_name == "blob.bin" and len(upload.data) == 200_000
    assert meta.get("x-idempotency-key")  # a write
    assert [r.attachment_guid for r, _ in _calls(emu, "GetAttachmentInfo")] == [rich["upload"]]
    assert [r.attachment_guid for r, _ in _calls(emu, "DownloadAttachment")] == [rich["upload"]]
    [(voice, _)] = _calls(emu, "SendAttachmentMessage")
    assert voice.attachment.attachment_guid == rich["upload"] and voice.is_audio_message
    assert voice.effect_id == "com.apple.MobileSMS.expressivesend.gentle"
    [(multi, _)] = _calls(emu, "SendMultipartMessage")
    assert [(p.text, p.mentioned_address, p.attachment.attachment_name) for p in multi.parts] == [
        ("hi ", "", ""), ("@Peer", PEER, ""), ("", "", "renamed.bin")]
    assert [(f.type, f.start, f.length) for f in multi.parts[0].formatting] == [("bold", 0, 2)]
    assert multi.subject == "Parts"
    pages = [r for r, _ in _calls(emu, "ListChatMessages")]
    assert [(p.chat_guid, p.page_size, p.page_token) for p in pages] == [
        (chat, 2, ""), (chat, 2, rich["pageToken"]), (chat, 101, "")]
    assert rich["badPageSize"]["code"] == "invalidArgument"
    assert [r.page_size for r, _ in _calls(emu, "ListRecentMessages")] == [1]
    assert [r.message_guid for r, _ in _calls(emu, "GetMessage")] == [rich["voice"]]

    group = rich["group"]
    assert [(r.chat_guid, r.display_name) for r, _ in _calls(emu, "SetDisplayName")] == [
        (group, "Interop"), (chat, "no")]
    assert [list(r.addresses) for r, _ in _calls(emu, "AddParticipants")] == [[THIRD]]
    assert [list(r.addresses) for r, _ in _calls(emu, "RemoveParticipants")] == [[OTHER]]
    assert [r.data[:8] for r, _ in _calls(emu, "SetIcon")] == [b"\x89PNG\r\n\x1a\n"]
    assert len(_calls(emu, "GetIcon")) == 2 and len(_calls(emu, "RemoveIcon")) == 1
    assert [r.chat_guid for r, _ in _calls(emu, "LeaveGroup")] == [group]
    assert rich["noIcon"]["code"] == "groupIconNotFound"
    assert rich["dmRename"]["code"] == "operationNotSupported"

    [(create, _)] = _calls(emu, "CreatePoll")
    assert (create.chat_guid, create.title, list(create.options)) == (
        chat, "Lunch?", ["Sushi", "Pizza"])
    assert [(r.poll_message_guid, r.option_identifier) for r, _ in _calls(emu, "VotePoll")] == [
        (rich["poll"], rich["pizza"])]
    assert [r.poll_message_guid for r, _ in _calls(emu, "UnvotePoll")] == [rich["poll"]]
    assert [r.option_text for r, _ in _calls(emu, "AddPollOption")] == ["Tacos"]
    assert [r.poll_message_guid for r, _ in _calls(emu, "GetPoll")] == [rich["poll"]]

    assert rich["focus"] is True
    assert [r.address for r, _ in _calls(emu, "GetFocusStatus")] == [PEER]
    assert [r.chat_guid for r, _ in _calls(emu, "ShareContactInfo")] == [chat]
    _check_protocol(emu, out)


def _check_protocol(emu: Emulator, out: dict[str, Any]) -> None:
    """The RPCs added for the whole protocol, as the official SDK sends them."""
    rich, chat = out["rich"], out["chat"]
    protocol = rich["protocol"]
    [(background, meta)] = _calls(emu, "SetBackground")
    assert background.chat_guid == chat and background.data[:2] == b"\xff\xd8"
    assert meta.get("x-idempotency-key")  # a write
    assert [r.chat_guid for r, _ in _calls(emu, "RemoveBackground")] == [chat]
    assert [r.chat_guid for r, _ in _calls(emu, "HasBackground")] == [chat] * 3
    assert [r.include_archived for r, _ in _calls(emu, "GetChatCount")] == [False, True]
    assert protocol["count"] == protocol["countArchived"] == 2  # the DM and the group
    [(sticker, _)] = _calls(emu, "PlaceSticker")
    assert (sticker.target.message_guid, sticker.target.target_part_index) == (
        rich["multipart"], 0)
    assert sticker.sticker.attachment_guid == rich["upload"]
    assert (sticker.placement.x, sticker.placement.y, sticker.placement.scale) == (
        0.25, 0.75, 2.0)
    assert [(r.chat_guid, r.message_guid) for r, _ in _calls(emu, "NotifySilencedMessage")] == [
        (chat, rich["multipart"])]
    like = [r for r, _ in _calls(emu, "SetReaction") if r.target.message_guid == rich["multipart"]]
    assert [(r.reaction.kind, r.target.target_part_index) for r in like] == [(1, 2)]
    [(card, _)] = _calls(emu, "SendCustomizedMiniAppMessage")
    assert (card.team_id, card.extension_bundle_id, card.app_name, card.layout.caption) == (
        "ABCDE12345", "com.example.pizza.ext", "Pizza", "Order #42")
    [(update, _)] = _calls(emu, "UpdateCustomizedMiniAppMessage")
    assert (update.session.session_id, update.session.target_message_guid) == (
        protocol["session"], protocol["card"])
    assert update.layout.subcaption == "On its way"
