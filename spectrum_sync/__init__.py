"""spectrum_sync: a synchronous, thread-based client for Spectrum's iMessage platform.

Only the public names live here. Heavy or optional parts (the emulator, local
Mac mode, the command line) are imported lazily by their own modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .client import Client
from .errors import (
    AuthenticationError,
    ClientClosed,
    CloudError,
    ConfigurationError,
    ConnectionError,
    InvalidAddress,
    NotFoundError,
    QuotaExceeded,
    RateLimitError,
    RoutingError,
    SpectrumError,
    UnsupportedError,
    ValidationError,
)
from .lines import Line
from .models import Attachment, Message, Reaction, Space, User
from .quotas import QuotaLimits, QuotaUsage
from .state import MemoryStore, SQLiteStore, StateStore
from .transport import RetryPolicy

if TYPE_CHECKING:
    from .events import (
        GroupChanged,
        MessageEdited,
        MessageRead,
        MessageUnsent,
        PollChanged,
        PollOption,
        StickerPlaced,
    )
    from .inbox import Handle
    from .receive import LineHealth, ReceiveOptions

# Receive-side names load on first use: senders (a web view, a cron job) never pay for them.
_LAZY = {
    "GroupChanged": "events",
    "MessageEdited": "events",
    "MessageRead": "events",
    "MessageUnsent": "events",
    "PollChanged": "events",
    "PollOption": "events",
    "StickerPlaced": "events",
    "Handle": "inbox",
    "LineHealth": "receive",
    "ReceiveOptions": "receive",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'spectrum_sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "Attachment",
    "AuthenticationError",
    "Client",
    "ClientClosed",
    "CloudError",
    "ConfigurationError",
    "ConnectionError",
    "GroupChanged",
    "Handle",
    "InvalidAddress",
    "Line",
    "LineHealth",
    "MemoryStore",
    "Message",
    "MessageEdited",
    "MessageRead",
    "MessageUnsent",
    "NotFoundError",
    "PollChanged",
    "PollOption",
    "QuotaExceeded",
    "QuotaLimits",
    "QuotaUsage",
    "RateLimitError",
    "Reaction",
    "ReceiveOptions",
    "RetryPolicy",
    "RoutingError",
    "SQLiteStore",
    "Space",
    "SpectrumError",
    "StateStore",
    "StickerPlaced",
    "UnsupportedError",
    "User",
    "ValidationError",
    "__version__",
]
