"""The state store protocol: what a client keeps beyond one call.

Routing (which line serves a chat), quota counters and the set of chats each line has
written to, and the receive cursors (one per line instance and event family). Memory is the
default; SQLite persists on one host; Redis shares state between processes and hosts. Every
method is thread-safe. Failures raise :class:`~spectrum_sync.StateStoreError` (or whatever a
custom store raises: callers treat any exception from a store as a store failure).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

__all__ = ["SentRecords", "StateStore"]


@runtime_checkable
class StateStore(Protocol):
    """Storage for routing, quota counters and receive cursors.

    Every method is thread-safe and raises :class:`~spectrum_sync.StateStoreError` when the
    store fails (a file that cannot be written, a server that does not answer in time). The
    library's stores name this protocol as their base, so these docstrings are theirs."""

    def get_cursor(self, key: str) -> int | None:
        """The committed event sequence of a stream (``<line instance>/<family>``), or None."""

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        """Store several stream cursors at once, atomically (commits are batched)."""

    def get_route(self, chat_guid: str) -> str | None:
        """Phone number of the line that serves a chat, or None."""

    def set_route(self, chat_guid: str, phone: str) -> None:
        """Remember which line serves a chat."""

    def get_counter(self, key: str) -> int:
        """Value of a counter (0 when unknown)."""

    def reserve(self, key: str, limit: int | None, ttl: float | None = None) -> bool:
        """Atomically add 1 to a counter unless that would pass ``limit`` (None: no limit);
        True when reserved. ``ttl`` lets a shared store expire day counters."""

    def release(self, key: str) -> None:
        """Give back one reserved unit (a send that failed before reaching the server)."""

    def raise_counter(self, key: str, value: int, ttl: float | None = None) -> int:
        """Set a counter to at least ``value``; returns the new value."""

    def add_member(self, group: str, member: str, ttl: float | None = None) -> bool:
        """Add to a set; True when the member was not there before. With ``ttl`` (seconds)
        the member may be forgotten after that long (a record kept for a while, such as the
        webhook ids already handled, must not grow forever)."""

    def has_member(self, group: str, member: str) -> bool:
        """Whether a set holds a member (an expired one no longer counts)."""

    def close(self) -> None:
        """Release resources (idempotent)."""


@runtime_checkable
class SentRecords(Protocol):
    """What a store may add: the message each idempotency key produced, so that a send
    repeated with the same key (answered ``duplicateMessage``) returns the original message,
    even in another process (docs/behaviour.md, "Idempotency"). Optional: a user's store
    without these methods works, and such a repeat raises ``AlreadySent`` instead."""

    def get_sent(self, key: str) -> str | None:
        """The guid of the message sent under an idempotency key, or None."""

    def set_sent(self, key: str, guid: str, ttl: float | None = None) -> None:
        """Remember the guid a send with this idempotency key produced (``ttl``: seconds,
        after which it may be forgotten)."""
