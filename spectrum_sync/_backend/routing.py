"""Which line serves which chat: learned from chat creation and from inbound traffic.

The state store is the record (so that routing survives restarts and, with Redis, is shared
by every process). In front of a store that is not in memory, a bounded LRU map answers
repeated lookups without a store round trip; learning a chat that is already known writes
nothing. Store failures are logged and reported, never raised: a route is an optimisation
of ``space.get``, not a reason to fail a receive or a send. A caller with a deadline gets
the store's answer within it or goes on without (docs/behaviour.md, "State stores").
"""

from __future__ import annotations

from collections import OrderedDict

from .._fork import ProcessLock
from .._state.base import StateStore
from .._state.monitor import StoreMonitor

__all__ = ["Routing"]


class Routing:
    """chat guid -> phone number of the line that serves the chat."""

    def __init__(self, store: StateStore, monitor: StoreMonitor, max_size: int = 100_000
                 ) -> None:
        self._store = store
        self._monitor = monitor
        # A memory store is already a bounded map: caching it again would hold every
        # route twice.
        self._cache: OrderedDict[str, str] | None = (
            None if getattr(store, "in_memory", False) else OrderedDict())
        self._max_size = max_size
        self._lock = ProcessLock()  # a forked child gets its own

    def _remember(self, chat_guid: str, phone: str) -> None:
        cache = self._cache
        if cache is None:
            return
        with self._lock:
            cache[chat_guid] = phone
            cache.move_to_end(chat_guid)
            if len(cache) > self._max_size:
                cache.popitem(last=False)  # O(1), unlike deleting the first key of a dict

    def known(self, chat_guid: str) -> str | None:
        """The remembered line of a chat, from the cache (or the memory store) only."""
        cache = self._cache
        if cache is None:
            return self._store.get_route(chat_guid)
        return cache.get(chat_guid)

    def learn(self, chat_guid: str, phone: str, deadline: float | None = None) -> bool:
        """Remember that ``phone``'s line serves ``chat_guid``; True when that is news.
        ``deadline`` (``time.monotonic()``) bounds the store write."""
        if self.known(chat_guid) == phone:
            return False
        self._remember(chat_guid, phone)
        # A memory store (no cache in front) answers at once: asked inline.
        bound = deadline if self._cache is not None else None
        self._monitor.guard("routing", lambda: self._store.set_route(chat_guid, phone), None,
                            bound)
        return True

    def lookup(self, chat_guid: str, deadline: float | None = None) -> str | None:
        """The line remembered for a chat (cache, then store), or None; ``deadline``
        bounds the store read."""
        phone = self.known(chat_guid)
        if phone is None and self._cache is not None:
            phone = self._monitor.guard(
                "routing", lambda: self._store.get_route(chat_guid), None, deadline)
            if phone is not None:
                self._remember(chat_guid, phone)
        return phone
