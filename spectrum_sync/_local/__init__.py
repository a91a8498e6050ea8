"""Building blocks of local Mac mode: read Messages' chat.db, send through AppleScript.

Private and self-contained (nothing here imports the client): :class:`ChatDB` turns chat.db
rows into :class:`LocalEvent` values, :class:`MessagesSender` drives Messages with
``osascript``, and every failure is a :class:`LocalError` carrying a ``hint``. The client's
local backend wires them into the public API. Imported only when local mode is used.
"""

from __future__ import annotations

from .applescript import MessagesSender
from .chatdb import (
    ChatDB,
    EventKind,
    LocalAttachment,
    LocalChat,
    LocalEvent,
    LocalHandle,
    split_reaction_target,
)
from .dates import from_apple_date, to_apple_date
from .errors import (
    AutomationPermissionError,
    ChatDBBusy,
    ChatDBError,
    ChatDBNotFound,
    FullDiskAccessError,
    InvalidArgument,
    LocalError,
    MessagesUnavailable,
    NotAChatDB,
    NotAMacError,
    RecipientNotFound,
    ScriptError,
    ScriptTimeout,
)
from .typedstream import decode_attributed_body, encode_attributed_body

__all__ = [
    "AutomationPermissionError",
    "ChatDB",
    "ChatDBBusy",
    "ChatDBError",
    "ChatDBNotFound",
    "EventKind",
    "FullDiskAccessError",
    "InvalidArgument",
    "LocalAttachment",
    "LocalChat",
    "LocalError",
    "LocalEvent",
    "LocalHandle",
    "MessagesSender",
    "MessagesUnavailable",
    "NotAChatDB",
    "NotAMacError",
    "RecipientNotFound",
    "ScriptError",
    "ScriptTimeout",
    "decode_attributed_body",
    "encode_attributed_body",
    "from_apple_date",
    "split_reaction_target",
    "to_apple_date",
]
