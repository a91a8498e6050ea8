"""Leases: how receiving processes that share a store split the lines between them.

A store that can coordinate processes (Redis) offers, beside the :class:`StateStore`
methods, a registry of live receivers and one lease per line. At most one holder has a
lease at a time; it keeps it by renewing it within its TTL and loses it when it stops doing
so (SIGKILL, a lost host, a long pause). Each time a lease changes hands it gets a new
**fencing token**, larger than every earlier one, and cursor commits carry the token: a
holder that was paused past its TTL, and whose line another process has taken over, finds
its commit refused instead of moving the cursor back. The memory and SQLite stores have no
leases: a receive engine asks ``isinstance(store, LeaseStore)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["Fence", "LeaseStore"]


class Fence(NamedTuple):
    """Who must still hold a lease for a fenced write: its holder and fencing token.

    Any ``(holder, token)`` pair is accepted where a :class:`Fence` is expected."""

    holder: str
    token: int


@runtime_checkable
class LeaseStore(Protocol):
    """Receiver registry and fenced line leases (every method thread-safe; failures raise
    :class:`~spectrum_sync.StateStoreError`). TTLs are seconds, measured by the store's
    clock, so the clocks of the receiving hosts do not need to agree."""

    def register_receiver(self, receiver_id: str, ttl: float) -> list[str]:
        """Heartbeat: ``receiver_id`` is alive for ``ttl`` more seconds. Returns the ids of
        every live receiver (this one included), sorted; expired ones are dropped."""

    def unregister_receiver(self, receiver_id: str) -> None:
        """Leave the registry now (a clean shutdown), instead of expiring."""

    def live_receivers(self) -> list[str]:
        """The ids of the live receivers, sorted (no heartbeat)."""

    def acquire_lease(self, name: str, holder: str, ttl: float) -> int | None:
        """Take the lease ``name`` for ``ttl`` seconds if it is free or already held by
        ``holder`` (then its TTL is extended). Returns the fencing token: a new, larger one
        when the lease changes hands, the same one when ``holder`` already held it. None
        when another holder has it."""

    def renew_lease(self, name: str, holder: str, fence: int, ttl: float) -> bool:
        """Extend the lease to ``ttl`` seconds from now if ``holder`` still holds it with
        ``fence``; False when it was lost (expired, or taken over)."""

    def release_lease(self, name: str, holder: str, fence: int) -> bool:
        """Give the lease up if ``holder`` still holds it with ``fence``; True when it did."""

    def lease_holder(self, name: str) -> str | None:
        """Who holds the lease now, or None."""

    def lease_age(self, name: str) -> float | None:
        """Seconds since the store handed out its first token for ``name`` (None: unknown).
        A store that lost its data (a restart without persistence) starts again from 0:
        a holder from before may still be handing out the line's events for up to a TTL."""

    def set_cursors_fenced(
        self, cursors: Mapping[str, int], fences: Mapping[str, tuple[str, int]]
    ) -> bool:
        """Write ``cursors`` atomically, only if every lease in ``fences`` (lease name ->
        ``(holder, token)``, e.g. a :class:`Fence`) is still held by that holder with that
        token. False, and nothing written, otherwise."""
