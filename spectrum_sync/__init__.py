"""spectrum_sync: a synchronous, thread-based client for Spectrum's iMessage platform.

Only the public names live here, each loaded on first use: ``import spectrum_sync`` costs
next to nothing, and a process that only sends never loads the receive machinery. The
modules behind these names are private (``spectrum_sync._*``). Public modules of their own:
``spectrum_sync.emulator`` (the embedded emulator), ``spectrum_sync.webhooks`` (verify and
parse Spectrum's webhooks), ``spectrum_sync.flask`` and ``spectrum_sync.django`` (the
integrations), ``spectrum_sync.pytest_plugin`` (fixtures, loaded by pytest) and
``spectrum_sync.cli`` (the ``spectrum-sync`` command).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # the whole protocol: delivery state, cards, contacts, stickers, chat events
    from ._app_cards import AppCard, CardLayout
    from ._backend.quotas import QuotaUsage
    from ._client import Client
    from ._config import Line, QuotaLimits, RetryPolicy
    from ._contacts import Contact
    from ._delivery import DeliveryFailed, DeliveryTimeout
    from ._doctor import CheckResult
    from ._errors import (
        AlreadyReceiving,
        AlreadySent,
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
        StateStoreError,
        UnsupportedError,
        ValidationError,
    )
    from ._events import (
        EVENT_KINDS,
        ChatChanged,
        Event,
        GroupChanged,
        MessageEdited,
        MessageRead,
        MessageUnsent,
        PollChanged,
        StickerPlaced,
    )
    from ._feature_values import (
        EmbeddedMedia,
        FocusStatus,
        FriendLocation,
        LineInfo,
        LocationRequest,
        PollOption,
        PollVote,
        StickerPlacement,
    )
    from ._models import Attachment, Message, Reaction, Space
    from ._parts import Part
    from ._polls import Poll
    from ._receive.dispatch import Handle
    from ._receive.health import LineHealth
    from ._receive.inbox import Inbox
    from ._receive.options import ReceiveOptions
    from ._state.base import StateStore
    from ._state.memory import MemoryStore
    from ._state.redis import RedisStore
    from ._state.sqlite import SQLiteStore
    from ._values import Icon, Mention, TextFormat, User
# The one source of the version: pyproject.toml reads it from here, CHANGELOG.md names it.
__version__ = "0.1.0"

# Public name -> private module that defines it.
_WHERE = {
    "Client": "_client",
    "AlreadyReceiving": "_errors",
    "AlreadySent": "_errors",
    "AuthenticationError": "_errors",
    "ClientClosed": "_errors",
    "CloudError": "_errors",
    "ConfigurationError": "_errors",
    "ConnectionError": "_errors",
    "InvalidAddress": "_errors",
    "NotFoundError": "_errors",
    "QuotaExceeded": "_errors",
    "RateLimitError": "_errors",
    "RoutingError": "_errors",
    "SpectrumError": "_errors",
    "StateStoreError": "_errors",
    "UnsupportedError": "_errors",
    "ValidationError": "_errors",
    "EVENT_KINDS": "_events",
    "Event": "_events",
    "GroupChanged": "_events",
    "MessageEdited": "_events",
    "MessageRead": "_events",
    "MessageUnsent": "_events",
    "PollChanged": "_events",
    "PollOption": "_feature_values",
    "StickerPlaced": "_events",
    "CheckResult": "_doctor",
    "Attachment": "_models",
    "FocusStatus": "_feature_values",
    "FriendLocation": "_feature_values",
    "Icon": "_values",
    "LineInfo": "_feature_values",
    "LocationRequest": "_feature_values",
    "Mention": "_values",
    "Message": "_models",
    "Reaction": "_models",
    "Space": "_models",
    "TextFormat": "_values",
    "User": "_values",
    "Part": "_parts",
    "Poll": "_polls",
    "PollVote": "_feature_values",
    "Handle": "_receive.dispatch",
    "LineHealth": "_receive.health",
    "Inbox": "_receive.inbox",
    "ReceiveOptions": "_receive.options",
    "QuotaLimits": "_config",
    "QuotaUsage": "_backend.quotas",
    "StateStore": "_state.base",
    "MemoryStore": "_state.memory",
    "RedisStore": "_state.redis",
    "SQLiteStore": "_state.sqlite",
    "RetryPolicy": "_config",
    "Line": "_config",
    # the whole protocol: delivery state, cards, contacts, stickers, chat events
    "AppCard": "_app_cards",
    "CardLayout": "_app_cards",
    "ChatChanged": "_events",
    "Contact": "_contacts",
    "DeliveryFailed": "_delivery",
    "DeliveryTimeout": "_delivery",
    "EmbeddedMedia": "_feature_values",
    "StickerPlacement": "_feature_values",
}

__all__ = [
    "EVENT_KINDS",
    "AlreadyReceiving",
    "AlreadySent",
    "AppCard",
    "Attachment",
    "AuthenticationError",
    "CardLayout",
    "ChatChanged",
    "CheckResult",
    "Client",
    "ClientClosed",
    "CloudError",
    "ConfigurationError",
    "ConnectionError",
    "Contact",
    "DeliveryFailed",
    "DeliveryTimeout",
    "EmbeddedMedia",
    "Event",
    "FocusStatus",
    "FriendLocation",
    "GroupChanged",
    "Handle",
    "Icon",
    "Inbox",
    "InvalidAddress",
    "Line",
    "LineHealth",
    "LineInfo",
    "LocationRequest",
    "MemoryStore",
    "Mention",
    "Message",
    "MessageEdited",
    "MessageRead",
    "MessageUnsent",
    "NotFoundError",
    "Part",
    "Poll",
    "PollChanged",
    "PollOption",
    "PollVote",
    "QuotaExceeded",
    "QuotaLimits",
    "QuotaUsage",
    "RateLimitError",
    "Reaction",
    "ReceiveOptions",
    "RedisStore",
    "RetryPolicy",
    "RoutingError",
    "SQLiteStore",
    "Space",
    "SpectrumError",
    "StateStore",
    "StateStoreError",
    "StickerPlaced",
    "StickerPlacement",
    "TextFormat",
    "UnsupportedError",
    "User",
    "ValidationError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'spectrum_sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    if isinstance(value, type):
        # The name users see (reprs, tracebacks, pickles), not the private module behind it.
        value.__module__ = __name__
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
