"""Which feed a receive engine reads, made from what the client's backend exposes: a cloud
backend its line set and call invoker (``cloud_feed.py``), the local one a way to open
chat.db (``local_feed.py``). The backends know nothing of receiving."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .._errors import ConfigurationError

if TYPE_CHECKING:
    from .._local.chatdb import ChatDB
    from .._state.base import StateStore
    from .._transport.invoker import Invoker
    from .._transport.lines import LineSet
    from .engine import Feed

__all__ = ["ChatDBSource", "LineSource", "make_feed"]


@runtime_checkable
class LineSource(Protocol):
    """A backend of cloud lines: where their streams are opened."""

    lines: LineSet
    invoker: Invoker


@runtime_checkable
class ChatDBSource(Protocol):
    """A backend on a Mac's Messages: its chat.db."""

    def open_chat_db(self) -> ChatDB:
        """A connection of the feed's own to chat.db."""


def make_feed(backend: object, store: StateStore, lease_ttl: float) -> Feed:
    """The feed of ``backend``'s sources; cloud lines are shared with the other receiving
    processes when ``store`` coordinates them (under leases of ``lease_ttl`` s)."""
    if isinstance(backend, LineSource):
        from .cloud_feed import CloudFeed

        return CloudFeed(backend.lines, backend.invoker, store, lease_ttl)
    if isinstance(backend, ChatDBSource):
        from .local_feed import ChatDBFeed

        return ChatDBFeed(backend.open_chat_db)
    raise ConfigurationError(f"{type(backend).__name__} has nothing to receive from")
