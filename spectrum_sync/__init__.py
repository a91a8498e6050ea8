"""spectrum_sync: a synchronous, thread-based client for Spectrum's iMessage platform.

Only the public names live here. Heavy or optional parts (the emulator, local
Mac mode, the command line) are imported lazily by their own modules.
"""

from __future__ import annotations

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
from .lines import Line
from .models import Attachment, Message, Reaction, Space, User
from .quotas import QuotaLimits, QuotaUsage
from .receive import LineHealth, ReceiveOptions
from .state import MemoryStore, SQLiteStore, StateStore
from .transport import RetryPolicy

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
