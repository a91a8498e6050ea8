"""The AppleScript sender, against a fake ``osascript`` first on PATH."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_osascript import FakeOsascript, path_with

from spectrum_sync._local.applescript import DEFAULT_STAGING_DIR, SEND_SCRIPT, MessagesSender
from spectrum_sync._local.errors import (
    AutomationPermissionError,
    InvalidArgument,
    LocalError,
    MessagesUnavailable,
    NotAMacError,
    RecipientNotFound,
    ScriptError,
    ScriptTimeout,
)

SCRIPT = SEND_SCRIPT.encode()
HANDLE = "+15551110000"
CHAT = "iMessage;+;chat123456789"

HOSTILE = [
    'He said "hi"',
    "back\\slash \\\" and \\\\ twice",
    "line one\nline two\r\nline three\rend",
    '"; do shell script "touch /tmp/pwned"',
    '" & (do shell script "id") & "',
    "end tell\nend run\non run argv\ndo shell script \"id\"",
    "\u2028line separator\u2029paragraph separator\u0085next line",
    "$(touch /tmp/pwned) `id` ; | & > < * ? ~ !",
    "'single' quotes and «class utf8» and ¬ continuation",
    "-e",
    "--",
    "-",
    "tab\there, bell\a, escape\x1b[31m, DEL\x7f",
    "emoji 😀👍🏽👨‍👩‍👧 RTL مرحبا \u202e reversed",
]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeOsascript:
    fake = FakeOsascript(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(fake.folder))
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


@pytest.fixture
def sender(tmp_path: Path) -> Iterator[MessagesSender]:
    with MessagesSender(staging_dir=tmp_path / "staging", cleanup_delay=60, timeout=20) as s:
        yield s


def assert_only_data(call_stdin: bytes, *values: str) -> None:
    assert call_stdin == SCRIPT  # always the fixed program, byte for byte
    for value in values:
        if value.strip() and value not in ("-", "--", "-e"):
            assert value.encode() not in call_stdin


# -- argv, never source ------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_to_a_handle_is_plain_argv(fake: FakeOsascript, sender: MessagesSender,
                                                text: str) -> None:
    sender.send_text(HANDLE, text)
    call = fake.last()
    assert call.args == [b"-", b"participant", HANDLE.encode(), b"iMessage", b"text",
                         text.encode()]
    assert_only_data(call.stdin, text)


def test_hostile_values_everywhere(fake: FakeOsascript, sender: MessagesSender) -> None:
    for value in HOSTILE:
        sender.send_text_to_chat(value, value)
        call = fake.last()
        assert call.args == [b"-", b"chat", value.encode(), b"", b"text", value.encode()]
        assert_only_data(call.stdin, value)
        sender.send_text(value, "hi", service="SMS")
        assert fake.last().args == [b"-", b"participant", value.encode(), b"SMS", b"text", b"hi"]
    assert len(fake.calls()) == 2 * len(HOSTILE)
    assert not Path("/tmp/pwned").exists()


def test_script_is_fixed_and_has_a_run_handler() -> None:
    assert SEND_SCRIPT.startswith("on run argv\n")
    assert SEND_SCRIPT.rstrip().endswith("end run")
    assert "do shell script" not in SEND_SCRIPT


def test_one_megabyte_text_arrives_byte_for_byte(fake: FakeOsascript,
                                                 sender: MessagesSender) -> None:
    text = ('1 MB of "quotes", \\backslashes\\, 😀 and\nnewlines ' * 20_000)[:1_000_000]
    sender.send_text(HANDLE, text)
    call = fake.last()
    assert call.args[:5] == [b"-", b"participant", HANDLE.encode(), b"iMessage", b"text-file"]
    (path,) = call.args[5:]
    assert call.files[path] == text.encode()  # the script reads these bytes as UTF-8
    assert not os.path.exists(path)  # the temporary file is gone after the send
    assert_only_data(call.stdin, text[:200])


def test_text_at_the_inline_limit(fake: FakeOsascript, tmp_path: Path) -> None:
    sender = MessagesSender(inline_text_limit=100, staging_dir=tmp_path / "s")
    sender.send_text(HANDLE, "é" * 50)  # 100 bytes: still inline
    assert fake.last().args[4:] == [b"text", ("é" * 50).encode()]
    sender.send_text(HANDLE, "é" * 50 + "x")
    assert fake.last().args[4] == b"text-file"


def test_nul_characters_travel_in_a_file(fake: FakeOsascript, sender: MessagesSender) -> None:
    text = "before\x00after"
    sender.send_text_to_chat(CHAT, text)
    call = fake.last()
    assert call.args[4] == b"text-file"
    assert call.files[call.args[5]] == text.encode()


def test_file_names_with_quotes(fake: FakeOsascript, sender: MessagesSender,
                                tmp_path: Path) -> None:
    source = tmp_path / "in" / 'my "quoted" file\'s \\ name; $(id)\n.txt'
    source.parent.mkdir()
    source.write_bytes(b"attachment bytes \x00\xff")
    sender.send_file(HANDLE, source)
    call = fake.last()
    assert call.args[:5] == [b"-", b"participant", HANDLE.encode(), b"iMessage", b"file"]
    staged = call.args[5]
    assert os.path.basename(staged) == os.fsencode(source.name)
    assert call.files[staged] == b"attachment bytes \x00\xff"
    assert_only_data(call.stdin, source.name)


# -- attachments staging -----------------------------------------------------------------------


def test_attachment_copy_is_made_in_the_staging_folder_and_removed_later(
        fake: FakeOsascript, tmp_path: Path) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"\xff\xd8jpeg")
    staging = tmp_path / "staging"
    sender = MessagesSender(staging_dir=staging, cleanup_delay=0.3)
    sender.send_file_to_chat(CHAT, source)
    call = fake.last()
    assert call.args[:5] == [b"-", b"chat", CHAT.encode(), b"", b"file"]
    staged = Path(os.fsdecode(call.args[5]))
    assert staged.parent.parent == staging and staged.name == "photo.jpg"
    assert call.files[call.args[5]] == b"\xff\xd8jpeg"
    assert staged.exists()  # Messages reads it after send returns: kept for a while
    assert sender.pending_cleanups() == 1
    deadline = time.monotonic() + 5
    while staged.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not staged.parent.exists()
    assert staging.exists() and sender.pending_cleanups() == 0
    assert source.exists()  # the original is never touched


def test_close_removes_pending_copies(fake: FakeOsascript, tmp_path: Path) -> None:
    source = tmp_path / "doc.pdf"
    source.write_bytes(b"%PDF")
    sender = MessagesSender(staging_dir=tmp_path / "staging", cleanup_delay=600)
    sender.send_file(HANDLE, source)
    sender.send_file(HANDLE, source)
    assert sender.pending_cleanups() == 2
    assert len(list((tmp_path / "staging").iterdir())) == 2
    sender.close()
    assert sender.pending_cleanups() == 0
    assert list((tmp_path / "staging").iterdir()) == []


def test_failed_send_removes_the_copy_at_once(fake: FakeOsascript, sender: MessagesSender,
                                              monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_text("x")
    monkeypatch.setenv("FAKE_OSASCRIPT_EXIT", "1")
    monkeypatch.setenv("FAKE_OSASCRIPT_STDERR",
                       "0:1: execution error: Messages has no chat with id nope (74003)\n")
    with pytest.raises(RecipientNotFound):
        sender.send_file_to_chat("nope", source)
    assert list((tmp_path / "staging").iterdir()) == []
    assert sender.pending_cleanups() == 0


def test_stale_staging_folders_are_swept(fake: FakeOsascript, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    old, recent = staging / "old-process", staging / "other-live-process"
    old.mkdir(parents=True)
    recent.mkdir()
    (old / "left.jpg").write_bytes(b"x")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    source = tmp_path / "new.jpg"
    source.write_bytes(b"y")
    with MessagesSender(staging_dir=staging) as sender:
        sender.send_file(HANDLE, source)
        assert not old.exists() and recent.exists()


def test_default_staging_folder_is_under_messages(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert DEFAULT_STAGING_DIR.startswith("~/Library/Messages/")
    assert MessagesSender().staging_dir() == str(
        tmp_path / "Library" / "Messages" / "Attachments" / "spectrum-sync")


def test_staging_folder_that_cannot_be_created(fake: FakeOsascript, tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    source = tmp_path / "a.jpg"
    source.write_bytes(b"z")
    sender = MessagesSender(staging_dir=blocker / "staging")
    with pytest.raises(LocalError, match="staging folder") as info:
        sender.send_file(HANDLE, source)
    assert "Full Disk Access" in info.value.hint
    assert fake.calls() == []


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("stderr", "error", "hint"), [
    ("0:512: execution error: Not authorized to send Apple events to Messages. (-1743)\n",
     AutomationPermissionError, "Automation"),
    ("0:512: execution error: Messages got an error: Application isn't running. (-600)\n",
     MessagesUnavailable, "open Messages"),
    ("execution error: Messages got an error: Connection is invalid. (-609)\n",
     MessagesUnavailable, "open Messages"),
    ("0:700: execution error: Messages has no SMS account (74001)\n",
     MessagesUnavailable, "Text Message Forwarding"),
    ("0:900: execution error: Messages has no iMessage participant x@y (74002)\n",
     RecipientNotFound, "existing chat"),
    ("0:300: execution error: Messages has no chat with id iMessage;+;chat1 (74003)\n",
     RecipientNotFound, "existing chat"),
    ("0:1000: execution error: Messages got an error: Can\u2019t get participant \"x\". (-1728)\n",
     RecipientNotFound, "existing chat"),
    ("0:1000: execution error: Messages got an error: AppleEvent timed out. (-1712)\n",
     ScriptTimeout, "may or may not"),
])
def test_error_mapping(fake: FakeOsascript, sender: MessagesSender,
                       monkeypatch: pytest.MonkeyPatch, stderr: str, error: type[LocalError],
                       hint: str) -> None:
    monkeypatch.setenv("FAKE_OSASCRIPT_EXIT", "1")
    monkeypatch.setenv("FAKE_OSASCRIPT_STDERR", stderr)
    with pytest.raises(error) as info:
        sender.send_text(HANDLE, "hi")
    assert type(info.value) is error
    assert hint in info.value.hint
    assert "execution error" not in info.value.message  # the position prefix is dropped


def test_automation_hint_names_the_settings_pane(fake: FakeOsascript, sender: MessagesSender,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_OSASCRIPT_EXIT", "1")
    monkeypatch.setenv("FAKE_OSASCRIPT_STDERR",
                       "execution error: Not authorized to send Apple events to Messages. (-1743)")
    with pytest.raises(AutomationPermissionError) as info:
        sender.send_text_to_chat(CHAT, "hi")
    assert "System Settings → Privacy & Security → Automation" in str(info.value)
    assert "-1743" in info.value.message


def test_generic_failure_keeps_stderr(fake: FakeOsascript, sender: MessagesSender,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = "0:20: execution error: Messages got an error: Something odd. (-2700)\n"
    monkeypatch.setenv("FAKE_OSASCRIPT_EXIT", "1")
    monkeypatch.setenv("FAKE_OSASCRIPT_STDERR", stderr)
    with pytest.raises(ScriptError) as info:
        sender.send_text(HANDLE, "hi")
    assert info.value.stderr == stderr and info.value.returncode == 1
    assert "Something odd. (-2700)" in info.value.message


def test_failure_without_stderr(fake: FakeOsascript, sender: MessagesSender,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_OSASCRIPT_EXIT", "3")
    with pytest.raises(ScriptError, match="exit status 3"):
        sender.send_text(HANDLE, "hi")


def test_timeout(fake: FakeOsascript, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_OSASCRIPT_SLEEP", "30")
    sender = MessagesSender(timeout=0.5, staging_dir=tmp_path / "s")
    started = time.monotonic()
    with pytest.raises(ScriptTimeout) as info:
        sender.send_text(HANDLE, "hi")
    assert time.monotonic() - started < 10
    assert info.value.retryable and "0.5 s" in info.value.message


def test_timeout_of_a_file_send_keeps_the_copy_for_later(
        fake: FakeOsascript, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_OSASCRIPT_SLEEP", "30")
    source = tmp_path / "a.jpg"
    source.write_bytes(b"z")
    sender = MessagesSender(timeout=0.5, staging_dir=tmp_path / "s", cleanup_delay=600)
    with pytest.raises(ScriptTimeout):
        sender.send_file(HANDLE, source)
    assert sender.pending_cleanups() == 1  # Messages may still be reading it
    sender.close()


def test_no_osascript_means_not_a_mac(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(NotAMacError) as info:
        MessagesSender().send_text(HANDLE, "hi")
    assert "macOS" in info.value.message


@pytest.mark.parametrize(("call", "match"), [
    (lambda s: s.send_text("", "hi"), "handle"),
    (lambda s: s.send_text("   ", "hi"), "handle"),
    (lambda s: s.send_text("a\x00b", "hi"), "NUL"),
    (lambda s: s.send_text(HANDLE, ""), "text"),
    (lambda s: s.send_text(HANDLE, "bad \ud800 surrogate"), "Unicode"),
    (lambda s: s.send_text(HANDLE, "hi", service="Carrier pigeon"), "service"),
    (lambda s: s.send_text_to_chat("", "hi"), "chat guid"),
    (lambda s: s.send_file(HANDLE, "/no/such/file.jpg"), "no file"),
    (lambda s: s.send_file_to_chat(CHAT, "/"), "no file"),
])
def test_invalid_arguments(fake: FakeOsascript, sender: MessagesSender, call: object,
                           match: str) -> None:
    with pytest.raises(InvalidArgument, match=match) as info:
        call(sender)  # type: ignore[operator]
    assert isinstance(info.value, ValueError)
    assert fake.calls() == []


@pytest.mark.parametrize(("service", "passed"), [
    ("iMessage", b"iMessage"), ("imessage", b"iMessage"), ("SMS", b"SMS"), ("RCS", b"SMS")])
def test_services(fake: FakeOsascript, sender: MessagesSender, service: str,
                  passed: bytes) -> None:
    sender.send_text(HANDLE, "hi", service=service)
    assert fake.last().args[3] == passed


def test_bad_settings() -> None:
    with pytest.raises(ValueError):
        MessagesSender(timeout=0)
    with pytest.raises(ValueError):
        MessagesSender(cleanup_delay=-1)
