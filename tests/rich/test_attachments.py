"""Attachments: send_file from paths, bytes and file objects; downloads; bad input."""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from rich_helpers import ALICE, LINE_1, PNG, calls, methods

import spectrum_sync as spectrum
from spectrum_sync import Client, Space
from spectrum_sync.emulator import Emulator

MIB = 1024 * 1024


def test_send_file_from_a_path_uploads_then_sends(emu: Emulator, dm: Space,
                                                 tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(PNG)
    emu.clear_requests()
    sent = dm.send_file(photo)
    assert methods(emu) == ["UploadAttachment", "SendAttachmentMessage"]
    [upload] = calls(emu, "UploadAttachment")
    assert upload.file_name == "photo.png" and upload.data == PNG
    [send] = calls(emu, "SendAttachmentMessage")
    [attachment] = sent.attachments
    assert send.chat_guid == dm.id and send.attachment.attachment_guid == attachment.guid
    assert not send.HasField("is_audio_message") and not send.HasField("effect_id")
    assert (attachment.file_name, attachment.mime_type, attachment.size) == (
        "photo.png", "image/png", len(PNG))
    assert attachment.uti == "public.png" and attachment.transfer_state == "finished"
    assert sent.is_from_me and sent.space == dm
    # One idempotency key per call; no client_message_id without a caller's key.
    keys = [c.metadata["x-idempotency-key"] for c in emu.requests]
    assert keys[0] != keys[1] and not send.HasField("client_message_id")


def test_send_file_from_str_path_bytes_and_file_objects(emu: Emulator, dm: Space,
                                                        tmp_path: Path) -> None:
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.4 report")
    assert dm.send_file(str(doc)).attachments[0].file_name == "report.pdf"
    assert dm.send_file(b"raw bytes").attachments[0].file_name == "attachment"
    named = dm.send_file(bytearray(b"notes"), name="notes.txt")
    assert named.attachments[0].mime_type == "text/plain"
    with open(doc, "rb") as handle:
        handle.read(5)  # read from the current position onwards
        from_handle = dm.send_file(handle)
    assert from_handle.attachments[0].file_name == "report.pdf"
    buffer = io.BytesIO(b"in memory")
    assert dm.send_file(buffer, name="memo.txt").attachments[0].size == 9
    uploads = calls(emu, "UploadAttachment")
    assert [u.data for u in uploads] == [b"%PDF-1.4 report", b"raw bytes", b"notes",
                                         b"1.4 report", b"in memory"]


def test_a_stream_that_cannot_seek_is_read_up_to_the_limit(dm: Space) -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"streamed")
    os.close(write_fd)
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        sent = dm.send_file(pipe, name="stream.bin")
    assert sent.attachments[0].size == 8


def test_name_mime_audio_effect_and_reply(emu: Emulator, dm: Space) -> None:
    first = dm.send("first")
    voice = dm.send_file(b"\x00" * 32, name="memo", mime="audio/mp4", audio=True,
                         effect="gentle", reply_to=first)
    assert voice.is_audio and voice.attachments[0].file_name == "memo.m4a"
    assert voice.effect == "com.apple.MobileSMS.expressivesend.gentle"
    assert voice.reply_to_guid == first.guid
    [send] = calls(emu, "SendAttachmentMessage")
    assert send.is_audio_message and send.reply_to.message_guid == first.guid
    assert send.effect_id == "com.apple.MobileSMS.expressivesend.gentle"
    # A name with an extension keeps it; a path in the name is reduced to its file name.
    assert dm.send_file(b"x", name="a.bin", mime="image/png").attachments[0].file_name == "a.bin"
    assert dm.send_file(b"x", name="../../etc/x.txt").attachments[0].file_name == "x.txt"


def test_download_to_a_path_and_to_a_file_object(dm: Space, tmp_path: Path) -> None:
    data = os.urandom(300_000)  # several chunks
    attachment = dm.send_file(data, name="blob.bin").attachments[0]
    target = tmp_path / "copy.bin"
    assert attachment.download(target) == len(data)
    assert target.read_bytes() == data
    assert os.listdir(tmp_path) == ["copy.bin"]  # no temporary file left behind
    buffer = io.BytesIO()
    assert attachment.download(buffer) == len(data) and buffer.getvalue() == data
    assert attachment.read() == data
    fresh = attachment.info()
    assert fresh == attachment and fresh.transfer_state == "finished"


def test_download_replaces_an_existing_file_and_keeps_normal_permissions(
        dm: Space, tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    dm.send_file(PNG, name="x.png").attachments[0].download(str(target))
    assert target.read_bytes() == PNG
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_inbound_attachment_metadata_and_download(emu: Emulator, client: Client,
                                                  dm: Space, tmp_path: Path) -> None:
    with client.messages() as inbox:
        guid = emu.simulate_inbound(ALICE, "look", line=LINE_1,
                                    attachment=("cat.png", PNG))
        message = next(iter(inbox))
    assert message.guid == guid and message.text == "look"
    [attachment] = message.attachments
    assert (attachment.file_name, attachment.mime_type, attachment.size) == (
        "cat.png", "image/png", len(PNG))
    assert attachment.download(tmp_path / "cat.png") == len(PNG)
    assert (tmp_path / "cat.png").read_bytes() == PNG


@pytest.mark.parametrize(("raw", "safe"), [
    ("../../outside.txt", "outside.txt"), ("/tmp/abs/path.png", "path.png"),
    ("..\\..\\win.txt", "win.txt"), ("..", "attachment"), (".hidden", "hidden"),
    ("bell\a\x1b[2J.png", "bell[2J.png"), ("photo\u202egnp.exe", "photognp.exe"),
])
def test_inbound_file_names_are_safe_base_names(emu: Emulator, client: Client,
                                                tmp_path: Path, raw: str, safe: str) -> None:
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    with client.messages() as inbox:
        emu.simulate_inbound(ALICE, "look", line=LINE_1, attachment=("cat.png", PNG))
        message = next(iter(inbox))
    # The emulator cleans names as the real server does; a hostile or buggy server need not.
    emu.line(LINE_1).attachments[message.attachments[0].guid].info.file_name = raw
    attachment = message.attachments[0].info()
    assert (attachment.file_name, attachment.raw_file_name) == (safe, raw)
    # The folder form, and the README's own idiom, both stay inside the folder.
    assert attachment.download(into=inbox_dir) == len(PNG)
    assert attachment.download(to=inbox_dir / attachment.file_name) == len(PNG)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "inbox", f"inbox/{safe}"]
    assert (inbox_dir / safe).read_bytes() == PNG


def test_every_way_in_gives_a_safe_file_name() -> None:
    from spectrum_sync import webhooks
    from spectrum_sync._local.chatdb import LocalAttachment
    from spectrum_sync._local.convert import attachment_from_local

    body = ('{"event": "messages", "message": {"id": "M1", "platform": "imessage", '
            '"sender": {"id": "+15551111111"}, "space": {"id": "any;-;+15551111111"}, '
            '"content": {"type": "attachment", "id": "A1", "name": "../../../etc/cron.d/x", '
            '"mimeType": "text/plain", "size": 3}}}')
    [hooked] = webhooks.parse(body)
    assert (hooked.attachments[0].file_name, hooked.attachments[0].raw_file_name) == (
        "x", "../../../etc/cron.d/x")
    row = LocalAttachment(guid="L1", path=None, mime_type=None, transfer_name="/etc/passwd",
                          total_bytes=1, uti=None, is_sticker=False)
    assert attachment_from_local(row, None).file_name == "passwd"
    made = spectrum.Attachment(guid="g", file_name="a/../../b\x00.txt", mime_type="x/y",
                               size=1)
    assert (made.file_name, made.raw_file_name) == ("b.txt", "a/../../b\x00.txt")
    assert spectrum.Attachment(guid="g", file_name="", mime_type="x/y",
                               size=1).file_name == "attachment"
    long = spectrum.Attachment(guid="g", file_name="é" * 300 + ".jpeg", mime_type="x/y", size=1)
    assert long.file_name.endswith(".jpeg") and len(long.file_name.encode()) <= 255


def test_download_needs_one_target(dm: Space, tmp_path: Path) -> None:
    attachment = dm.send_file(PNG, name="x.png").attachments[0]
    with pytest.raises(spectrum.ValidationError, match=r"either to= .* or into="):
        attachment.download()
    with pytest.raises(spectrum.ValidationError, match="either"):
        attachment.download(tmp_path / "a.png", into=tmp_path)
    with pytest.raises(spectrum.ValidationError, match="does not exist"):
        attachment.download(into=tmp_path / "missing")
    assert not list(tmp_path.iterdir())


def test_a_failed_download_leaves_nothing_behind(emu: Emulator, dm: Space,
                                                 tmp_path: Path) -> None:
    attachment = dm.send_file(PNG, name="x.png").attachments[0]
    target = tmp_path / "x.png"
    emu.fail_next(1, code="NOT_FOUND", retryable=False, method="DownloadAttachment",
                  error_code="attachmentNotFound")
    with pytest.raises(spectrum.NotFoundError) as info:
        attachment.download(target)
    assert info.value.code == "attachmentNotFound"
    assert os.listdir(tmp_path) == []
    # A retryable failure before the first byte is retried within the deadline.
    emu.fail_next(1, code="UNAVAILABLE", retryable=True, method="DownloadAttachment")
    assert attachment.download(target) == len(PNG)
    assert len(calls(emu, "DownloadAttachment")) == 3


def test_a_failing_write_is_a_spectrum_error_naming_the_target(dm: Space) -> None:
    attachment = dm.send_file(PNG, name="x.png").attachments[0]

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(spectrum.SpectrumError, match="No space left") as info:
        attachment.download(Full())
    assert not isinstance(info.value, OSError) and info.value.code == "fileUnwritable"


# ----- bad input: refused before anything is uploaded ------------------------------------


@pytest.fixture
def nothing_sent(emu: Emulator) -> object:
    emu.clear_requests()
    yield None
    assert calls(emu, "UploadAttachment") == []
    assert calls(emu, "SendAttachmentMessage") == []


@pytest.mark.usefixtures("nothing_sent")
def test_missing_file_names_it(dm: Space, tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(spectrum.ValidationError, match=r"nope\.png.*does not exist"):
        dm.send_file(missing)
    with pytest.raises(spectrum.ValidationError, match="is a directory"):
        dm.send_file(tmp_path)
    plain = tmp_path / "plain.txt"
    plain.write_bytes(b"x")
    with pytest.raises(spectrum.ValidationError, match=r"cannot read file .*Not a directory"):
        dm.send_file(plain / "inside.png")


@pytest.mark.usefixtures("nothing_sent")
def test_paths_that_are_not_regular_files_are_refused_at_once(dm: Space,
                                                              tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # no writer: opening it for reading would block for ever
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "sock"))
    outcome: dict[str, BaseException] = {}

    def attempt(path: Path | str, key: str) -> None:
        try:
            dm.send_file(path, timeout=1)
        except BaseException as exc:  # collected for the assertions below
            outcome[key] = exc

    try:
        cases = {"fifo": fifo, "socket": tmp_path / "sock", "device": "/dev/zero"}
        threads = [threading.Thread(target=attempt, args=(path, key), daemon=True)
                   for key, path in cases.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        hung = [key for key, thread in zip(cases, threads) if thread.is_alive()]
        assert not hung, f"send_file blocked on {hung}"
    finally:
        listening.close()
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # frees a blocked reader
    kinds = {"fifo": "named pipe", "socket": "a socket", "device": "a character device"}
    for key, kind in kinds.items():
        error = outcome[key]
        assert isinstance(error, spectrum.ValidationError), (key, error)
        assert kind in str(error) and "not a regular file" in str(error)


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    """Checked before any call. Run in a child process without the capabilities that let
    root ignore file modes (CI runs as root)."""
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"x")
    secret.chmod(0)
    script = ("import sys\n"
              "import spectrum_sync as spectrum\n"
              "from spectrum_sync._attachments import file_source\n"
              "try:\n"
              "    file_source(sys.argv[1])\n"
              "except spectrum.ValidationError as exc:\n"
              "    print(exc)\n")
    demote = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    command = [*(demote if os.geteuid() == 0 else []), sys.executable, "-c", script,
               str(secret)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"cannot read file .*secret\.txt", proc.stdout), proc.stdout


@pytest.mark.usefixtures("nothing_sent")
def test_oversized_and_empty_files_are_refused(dm: Space, tmp_path: Path) -> None:
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as handle:  # sparse: the size is checked, nothing is read
        handle.truncate(100 * MIB + 1)
    with pytest.raises(spectrum.ValidationError, match=r"huge\.bin.*larger than 100 MiB"):
        dm.send_file(huge)
    # At the limit the file fits, but not with the request around it.
    edge = tmp_path / "edge.bin"
    with open(edge, "wb") as handle:
        handle.truncate(100 * MIB)
    with pytest.raises(spectrum.ValidationError, match="100 MiB message limit"):
        dm.send_file(edge)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(spectrum.ValidationError, match="empty"):
        dm.send_file(empty)
    with pytest.raises(spectrum.ValidationError, match="empty"):
        dm.send_file(b"")

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            view = memoryview(buffer)  # type: ignore[arg-type]
            view[:] = b"\0" * len(view)
            return len(view)

    with pytest.raises(spectrum.ValidationError, match="larger than 100 MiB"):
        dm.send_file(io.BufferedReader(Endless()))


@pytest.mark.usefixtures("nothing_sent")
def test_wrong_kinds_of_input(dm: Space, tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_text("hello")
    with open(text) as handle, pytest.raises(spectrum.ValidationError, match="binary mode"):
        dm.send_file(handle)  # type: ignore[arg-type]
    with pytest.raises(spectrum.ValidationError, match="path, bytes or a binary file"):
        dm.send_file(42)  # type: ignore[arg-type]
    closed = io.BytesIO(b"gone")
    closed.close()
    with pytest.raises(spectrum.ValidationError, match="closed file"):
        dm.send_file(closed)
    with pytest.raises(spectrum.ValidationError, match="name"):
        dm.send_file(b"x", name="")
    with pytest.raises(spectrum.ValidationError, match="MIME type"):
        dm.send_file(b"x", mime="png")
    with pytest.raises(spectrum.ValidationError, match="audio"):
        dm.send_file(b"x", audio="yes")  # type: ignore[arg-type]
    with pytest.raises(spectrum.ValidationError, match="unknown effect"):
        dm.send_file(b"x", effect="boom")


def test_download_targets_are_checked_first(emu: Emulator, dm: Space, tmp_path: Path) -> None:
    attachment = dm.send_file(PNG, name="x.png").attachments[0]
    emu.clear_requests()
    with pytest.raises(spectrum.ValidationError, match="is a directory"):
        attachment.download(tmp_path)
    with pytest.raises(spectrum.ValidationError, match="does not exist"):
        attachment.download(tmp_path / "no" / "such" / "x.png")
    with open(tmp_path / "t.txt", "w") as handle, pytest.raises(spectrum.ValidationError):
        attachment.download(handle)  # type: ignore[arg-type]
    unbound = spectrum.Attachment(guid=attachment.guid, file_name="x", mime_type="x", size=1)
    with pytest.raises(spectrum.ValidationError, match="not bound to a space"):
        unbound.download(tmp_path / "x")
    assert emu.requests == []


def test_an_upload_that_fails_gives_the_quota_back(emu: Emulator, client: Client,
                                                   dm: Space) -> None:
    before = client.quota(LINE_1).messages
    emu.fail_next(1, code="INVALID_ARGUMENT", retryable=False, method="UploadAttachment")
    with pytest.raises(spectrum.ValidationError):
        dm.send_file(b"data", name="a.bin")
    assert client.quota(LINE_1).messages == before
    assert calls(emu, "SendAttachmentMessage") == []
    dm.send_file(b"data", name="a.bin")
    assert client.quota(LINE_1).messages == before + 1


def test_a_repeated_send_with_the_same_key_makes_one_message(emu: Emulator, dm: Space) -> None:
    first = dm.send_file(b"invoice", name="invoice.pdf", idempotency_key="invoice-7")
    again = dm.send_file(b"invoice", name="invoice.pdf", idempotency_key="invoice-7")
    assert again.guid == first.guid
    assert len(emu.messages(chat=dm.id)) == 1
