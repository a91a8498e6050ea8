"""Errors of the local Mac mode building blocks.

Every failure of the reader and the sender is a :class:`LocalError`. Each carries a ``hint``
saying what the user can do about it, and ``retryable`` when calling again later may succeed;
the client maps these onto its public exception hierarchy.
"""

from __future__ import annotations

__all__ = [
    "AutomationPermissionError",
    "ChatDBBusy",
    "ChatDBError",
    "ChatDBNotFound",
    "FullDiskAccessError",
    "InvalidArgument",
    "LocalError",
    "MessagesUnavailable",
    "NotAChatDB",
    "NotAMacError",
    "RecipientNotFound",
    "ScriptError",
    "ScriptTimeout",
]

FULL_DISK_ACCESS_HINT = (
    "grant Full Disk Access to the app that runs Python (Terminal, iTerm, your IDE or the "
    "python binary itself) in System Settings → Privacy & Security → Full Disk Access, "
    "then restart that app"
)
AUTOMATION_HINT = (
    "allow the app that runs Python to control Messages in System Settings → "
    "Privacy & Security → Automation (macOS asks once; if you declined, enable it there)"
)


class LocalError(Exception):
    """Base of every local-mode failure: ``message`` plus a ``hint`` naming the fix."""

    retryable = False

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message if not hint else f"{message} ({hint})")
        self.message = message
        self.hint = hint


class NotAMacError(LocalError):
    """Local mode was asked for on a platform without Messages (no chat.db path, no osascript)."""


class ChatDBError(LocalError):
    """Reading chat.db failed (a generic SQLite error, reported with the file's path)."""


class ChatDBNotFound(ChatDBError):
    """The chat.db file does not exist."""


class NotAChatDB(ChatDBError):
    """The file is not an SQLite database, or not one written by Messages."""


class FullDiskAccessError(ChatDBError):
    """macOS refused to open chat.db: the process lacks Full Disk Access."""


class ChatDBBusy(ChatDBError):
    """chat.db stayed locked longer than the reader's busy timeout; call again later."""

    retryable = True


class InvalidArgument(LocalError, ValueError):
    """A value cannot be handed to Messages (empty handle, NUL character, missing file...)."""


class MessagesUnavailable(LocalError):
    """Messages is not running, could not be launched, or has no account for the service."""


class AutomationPermissionError(LocalError):
    """macOS refused the Apple events to Messages (AppleScript error -1743)."""


class RecipientNotFound(LocalError):
    """Messages knows no such chat or participant."""


class ScriptTimeout(LocalError):
    """osascript did not finish in time; the message may or may not have been sent."""

    retryable = True


class ScriptError(LocalError):
    """osascript failed for another reason; ``stderr`` and ``returncode`` say how."""

    def __init__(self, message: str, hint: str = "", *, stderr: str = "",
                 returncode: int | None = None) -> None:
        super().__init__(message, hint)
        self.stderr = stderr
        self.returncode = returncode
