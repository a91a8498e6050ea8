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
from .lines import Line
from .models import Message, Reaction, Space, User
from .quotas import QuotaLimits, QuotaUsage
from .state import MemoryStore, SQLiteStore, StateStore
from .transport import RetryPolicy

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "Client",
    "ClientClosed",
    "CloudError",
    "ConfigurationError",
    "ConnectionError",
    "InvalidAddress",
    "Line",
    "MemoryStore",
    "Message",
    "NotFoundError",
    "QuotaExceeded",
    "QuotaLimits",
    "QuotaUsage",
    "RateLimitError",
    "Reaction",
    "RetryPolicy",
    "RoutingError",
    "SQLiteStore",
    "Space",
    "SpectrumError",
    "StateStore",
    "UnsupportedError",
    "User",
    "ValidationError",
    "__version__",
]
