"""Chat GUIDs (``<service>;<kind>;<identifier>``) and fresh identifiers."""

from __future__ import annotations

import uuid
from typing import NamedTuple

from spectrum_sync.emulator.errors import invalid

DM = "-"
GROUP = "+"
# The longest chat guid accepted; clients check the same limit before calling.
MAX_CHAT_GUID_LENGTH = 1024


class ChatKey(NamedTuple):
    """What identifies a chat on a line: the service part of a GUID is not significant."""

    kind: str
    identifier: str


def parse_chat_guid(guid: str) -> ChatKey:
    """Split on the first two ``;`` only; raise ``invalidArgument`` when malformed or longer
    than :data:`MAX_CHAT_GUID_LENGTH` characters."""
    if len(guid) > MAX_CHAT_GUID_LENGTH:
        raise invalid(f"chat guid is longer than {MAX_CHAT_GUID_LENGTH} characters",
                      field="chat_guid", length=str(len(guid)))
    parts = guid.split(";", 2)
    if len(parts) != 3 or not parts[0] or parts[1] not in (DM, GROUP) or not parts[2]:
        raise invalid(f"malformed chat guid {guid!r}", field="chat_guid")
    return ChatKey(parts[1], parts[2])


def dm_guid(address: str) -> str:
    """The GUID the emulator gives a direct chat with ``address``."""
    return f"any;{DM};{address}"


def new_group_identifier() -> str:
    """A fresh group identifier, ``chat<hex>``."""
    return f"chat{uuid.uuid4().hex[:16]}"


def new_guid() -> str:
    """A message/attachment/poll GUID in Apple's style (upper-case UUID)."""
    return str(uuid.uuid4()).upper()
