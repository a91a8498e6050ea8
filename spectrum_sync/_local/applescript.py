"""Sending through Messages with AppleScript, run by ``osascript``.

Safety: the AppleScript program is a fixed constant (:data:`SEND_SCRIPT`). User data (texts,
handles, chat guids, file paths) reaches it only as ``argv`` items of its ``on run argv``
handler; nothing is ever interpolated into script source, and no shell is involved
(``subprocess`` with an argument list). The program goes to osascript on stdin, invoked as
``osascript - <items...>``: with ``-`` as the script name, osascript stops reading options, so
an item such as ``-e`` is data, not a flag, and the first item after ``-`` is always one of our
fixed keywords anyway. (The ``-e`` form would need ``--`` to get the same guarantee, and it
also puts the script into the process listing.)

Limits of argv: a single argument may not contain NUL and is capped by the OS (128 KiB per
argument on Linux, 1 MiB for all of argv and the environment on macOS). A text that contains
NUL or exceeds ``inline_text_limit`` bytes is therefore written to a private temporary file
whose *path* is passed instead; the script reads it as UTF-8. Either way the bytes arrive
unchanged and never as code.

Attachments: Messages runs in an app sandbox that may read only a few folders of the user's
home, ``~/Library/Messages`` among them; a file elsewhere (``/tmp``, ``~/Downloads``...) is
accepted by the script and then fails to send. So the file is first copied into a fresh
folder under ``~/Library/Messages/Attachments/spectrum-sync/`` (other tools that drive
Messages stage files in the same place), sent from there, and the copy deleted
``cleanup_delay`` seconds later: ``send`` returns once Messages has queued the transfer, not
when it has read or uploaded the file, so the copy must outlive the call. Ten minutes by
default leaves room for a large video on a slow link. Folders left behind by a process that
exited early are swept on a later send once they are a day old.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence

from .errors import (
    AUTOMATION_HINT,
    AutomationPermissionError,
    InvalidArgument,
    LocalError,
    MessagesUnavailable,
    NotAMacError,
    RecipientNotFound,
    ScriptError,
    ScriptTimeout,
)

__all__ = ["DEFAULT_STAGING_DIR", "SEND_SCRIPT", "MessagesSender"]

log = logging.getLogger("spectrum_sync.local")

DEFAULT_STAGING_DIR = "~/Library/Messages/Attachments/spectrum-sync"
_STALE_AFTER = 24 * 3600.0

# Error numbers raised by SEND_SCRIPT itself (AppleScript lets scripts pick their own).
_ERR_ARGUMENTS = 74000
_ERR_NO_ACCOUNT = 74001
_ERR_NO_PARTICIPANT = 74002
_ERR_NO_CHAT = 74003

# argv: target kind ("participant" | "chat"), target (handle | chat guid), service ("iMessage"
# | "SMS"; ignored for chats), payload kind ("text" | "text-file" | "file"), payload (the text,
# or a POSIX path). -1728 ("can't get") and -1719 ("invalid index") are Messages' answers for
# something that does not exist; other errors (permissions, Messages not running) pass through.
SEND_SCRIPT = """\
on run argv
    -- A fixed program: every value it uses comes from argv.
    if (count of argv) is not 5 then error "spectrum-sync: expected 5 arguments" number 74000
    set targetKind to item 1 of argv
    set targetId to item 2 of argv
    set serviceName to item 3 of argv
    set payloadKind to item 4 of argv
    set payloadValue to item 5 of argv
    if payloadKind is "file" then
        set thePayload to POSIX file payloadValue
    else if payloadKind is "text-file" then
        set thePayload to read (POSIX file payloadValue) as \u00abclass utf8\u00bb
    else
        set thePayload to payloadValue
    end if
    tell application "Messages"
        if targetKind is "chat" then
            try
                set theTarget to chat id targetId
                get id of theTarget
            on error errText number errNum
                if errNum is -1728 or errNum is -1719 then
                    error "Messages has no chat with id " & targetId number 74003
                end if
                error errText number errNum
            end try
        else
            try
                if serviceName is "SMS" then
                    set theAccount to first account whose service type is SMS
                else
                    set theAccount to first account whose service type is iMessage
                end if
            on error errText number errNum
                if errNum is -1728 or errNum is -1719 then
                    error "Messages has no " & serviceName & " account" number 74001
                end if
                error errText number errNum
            end try
            try
                set theTarget to participant targetId of theAccount
            on error errText number errNum
                if errNum is -1728 or errNum is -1719 then
                    set missing to serviceName & " participant " & targetId
                    error "Messages has no " & missing number 74002
                end if
                error errText number errNum
            end try
        end if
        send thePayload to theTarget
    end tell
end run
"""

_SERVICES = {"imessage": "iMessage", "sms": "SMS", "rcs": "SMS"}
_NOT_RUNNING = (-600, -609, -10810)  # not running, connection invalid, launch failed
_MESSAGES_HINT = (
    "open Messages and sign in to iMessage (for SMS, also turn on Text Message Forwarding for "
    "this Mac on your iPhone)"
)
_RECIPIENT_HINT = (
    "send to a chat by the guid of an existing chat (as received messages report it), or to a "
    "person by a phone number or email address that Messages can reach"
)
_TRAILING_NUMBER = re.compile(r"\((-?\d+)\)\s*$")
_POSITION_PREFIX = re.compile(r"^(\d+:\d+:\s*)?(execution error:\s*)?")


def _check_item(name: str, value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{name} must be a non-empty string")
    if "\x00" in value:
        raise InvalidArgument(f"{name} must not contain NUL characters")
    _utf8(name, value)
    return value


def _utf8(name: str, value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(f"{name} is not valid Unicode (it has lone surrogates)") from None


def _service(value: str) -> str:
    service = _SERVICES.get(value.lower()) if isinstance(value, str) else None
    if service is None:
        raise InvalidArgument(f"unknown service {value!r}: use 'iMessage', 'SMS' or 'RCS'")
    return service


def _failure(returncode: int, stderr: str) -> LocalError:
    """Map osascript's exit and stderr (``N:M: execution error: text (number)``) to an error."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = _POSITION_PREFIX.sub("", lines[-1]) if lines else f"exit status {returncode}"
    match = _TRAILING_NUMBER.search(detail)
    number = int(match.group(1)) if match else None
    lower = detail.lower()
    if number == -1743 or "not authorized to send apple events" in lower:
        return AutomationPermissionError(
            f"macOS does not allow this process to control Messages ({detail})", AUTOMATION_HINT)
    if number in _NOT_RUNNING or "isn't running" in lower or "is not running" in lower:
        return MessagesUnavailable(f"Messages is not running or not reachable ({detail})",
                                   _MESSAGES_HINT)
    if number == _ERR_NO_ACCOUNT:
        return MessagesUnavailable(detail, _MESSAGES_HINT)
    if number in (_ERR_NO_PARTICIPANT, _ERR_NO_CHAT, -1728):
        return RecipientNotFound(detail, _RECIPIENT_HINT)
    if number == -1712:
        return ScriptTimeout(f"Messages did not answer in time ({detail})",
                             "Messages may be busy or showing a dialog; the message may or may "
                             "not have been sent")
    return ScriptError(f"osascript failed: {detail}", stderr=stderr, returncode=returncode)


class MessagesSender:
    """Sends texts and files through the Mac's Messages app.

    ``timeout`` bounds each osascript run (seconds). ``staging_dir`` is where attachments are
    copied for Messages to read (default ``~/Library/Messages/Attachments/spectrum-sync``),
    kept ``cleanup_delay`` seconds after the send. Texts longer than ``inline_text_limit``
    UTF-8 bytes travel through a temporary file. ``osascript`` names the program (looked up on
    ``PATH`` at each call).

    The methods return when Messages has accepted the send; they do not wait for delivery.
    Thread-safe.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        staging_dir: str | os.PathLike[str] | None = None,
        cleanup_delay: float = 600.0,
        inline_text_limit: int = 64 * 1024,
        osascript: str = "osascript",
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if cleanup_delay < 0:
            raise ValueError("cleanup_delay must not be negative")
        self.timeout = timeout
        self.cleanup_delay = cleanup_delay
        self.inline_text_limit = inline_text_limit
        self.osascript = osascript
        self._staging_dir = staging_dir
        self._lock = threading.Lock()
        self._timers: dict[str, threading.Timer] = {}
        self._swept = False

    # -- sending ---------------------------------------------------------------------------

    def send_text(self, handle: str, text: str, *, service: str = "iMessage",
                  timeout: float | None = None) -> None:
        """Send ``text`` to the person ``handle`` (phone number or email) on ``service``.

        ``"SMS"`` (and ``"RCS"``, which Messages relays the same way) uses the SMS account,
        which needs Text Message Forwarding from an iPhone. ``timeout`` replaces the
        sender's own for this call.
        """
        self._send_text(["participant", _check_item("handle", handle), _service(service)], text,
                        timeout)

    def send_text_to_chat(self, chat_guid: str, text: str, *,
                          timeout: float | None = None) -> None:
        """Send ``text`` to the existing chat ``chat_guid`` (DM or group)."""
        self._send_text(["chat", _check_item("chat guid", chat_guid), ""], text, timeout)

    def send_file(self, handle: str, path: str | os.PathLike[str], *,
                  service: str = "iMessage", timeout: float | None = None) -> None:
        """Send the file at ``path`` to the person ``handle`` on ``service``."""
        self._send_file(["participant", _check_item("handle", handle), _service(service)], path,
                        timeout)

    def send_file_to_chat(self, chat_guid: str, path: str | os.PathLike[str], *,
                          timeout: float | None = None) -> None:
        """Send the file at ``path`` to the existing chat ``chat_guid``."""
        self._send_file(["chat", _check_item("chat guid", chat_guid), ""], path, timeout)

    def _send_text(self, target: list[str], text: str, timeout: float | None) -> None:
        if not isinstance(text, str) or text == "":
            raise InvalidArgument("text must be a non-empty string")
        data = _utf8("text", text)
        if "\x00" not in text and len(data) <= self.inline_text_limit:
            self._run([*target, "text", text], timeout)
            return
        fd, path = tempfile.mkstemp(prefix="spectrum-sync-", suffix=".txt")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            self._run([*target, "text-file", path], timeout)
        finally:
            os.unlink(path)

    def _send_file(self, target: list[str], path: str | os.PathLike[str],
                   timeout: float | None) -> None:
        source = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if not os.path.isfile(source):
            raise InvalidArgument(f"no file to send at {source}")
        _check_item("file path", source)
        staged, folder = self._stage(source)
        try:
            self._run([*target, "file", staged], timeout)
        except ScriptTimeout:
            self._schedule_cleanup(folder)  # Messages may still pick it up
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # Messages refused it: nothing to keep
            raise
        self._schedule_cleanup(folder)

    def _run(self, items: Sequence[str], timeout: float | None = None) -> None:
        timeout = self.timeout if timeout is None else timeout
        executable = shutil.which(self.osascript)
        if executable is None:
            raise NotAMacError(
                f"{self.osascript} was not found: sending in local mode needs macOS, where "
                "Messages is scripted with osascript",
                "run on a Mac signed in to Messages",
            )
        # Bytes, so the items reach osascript as UTF-8 whatever the locale says.
        argv = [os.fsencode(executable), b"-", *(item.encode("utf-8") for item in items)]
        try:
            proc = subprocess.run(argv, input=SEND_SCRIPT.encode("utf-8"), capture_output=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ScriptTimeout(
                f"osascript did not finish within {timeout:g} s",
                "Messages may be hung or waiting on a permission prompt; the message may or may "
                "not have been sent",
            ) from None
        except OSError as exc:
            raise ScriptError(f"could not run {executable}: {exc}") from None
        if proc.returncode != 0:
            raise _failure(proc.returncode, proc.stderr.decode("utf-8", "replace"))

    # -- staging of attachments ----------------------------------------------------------------

    def staging_dir(self) -> str:
        """The folder that receives the attachment copies (``~`` expanded)."""
        configured = self._staging_dir if self._staging_dir is not None else DEFAULT_STAGING_DIR
        return os.path.abspath(os.path.expanduser(os.fspath(configured)))

    def _stage(self, source: str) -> tuple[str, str]:
        root = self.staging_dir()
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
            self._sweep(root)
            folder = os.path.join(root, uuid.uuid4().hex)
            os.mkdir(folder, 0o700)
        except OSError as exc:
            raise LocalError(
                f"cannot create the attachment staging folder {root}: {exc}",
                "local mode needs Full Disk Access to write under ~/Library/Messages; or pass "
                "another folder Messages can read",
            ) from None
        staged = os.path.join(folder, os.path.basename(source))
        try:
            shutil.copyfile(source, staged)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise LocalError(f"cannot copy {source} to {staged}: {exc}") from None
        return staged, folder

    def _sweep(self, root: str) -> None:
        """Remove staging folders of earlier processes, once per sender."""
        with self._lock:
            if self._swept:
                return
            self._swept = True
        cutoff = time.time() - max(_STALE_AFTER, 2 * self.cleanup_delay)
        for entry in os.scandir(root):
            try:
                if entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry.path, ignore_errors=True)
            except OSError:
                continue

    def _schedule_cleanup(self, folder: str) -> None:
        if self.cleanup_delay == 0:
            shutil.rmtree(folder, ignore_errors=True)
            return
        timer = threading.Timer(self.cleanup_delay, self._remove, args=(folder,))
        timer.daemon = True
        with self._lock:
            self._timers[folder] = timer
        timer.start()

    def _remove(self, folder: str) -> None:
        with self._lock:
            self._timers.pop(folder, None)
        shutil.rmtree(folder, ignore_errors=True)

    def pending_cleanups(self) -> int:
        """How many staged copies are waiting for their delayed removal."""
        with self._lock:
            return len(self._timers)

    def close(self) -> None:
        """Remove every staged copy now (an attachment still uploading may then fail)."""
        with self._lock:
            timers, self._timers = self._timers, {}
        for folder, timer in timers.items():
            timer.cancel()
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> MessagesSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
