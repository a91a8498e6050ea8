"""The default store: in this process, bounded, gone when the process ends."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping

from .._fork import ProcessLock
from .base import SentRecords, StateStore

__all__ = ["MemoryStore"]


def _expired(expires: float | None) -> bool:
    return expires is not None and expires <= time.monotonic()


class MemoryStore(StateStore, SentRecords):
    """In-process state. Routes and per-line chat sets are bounded LRU maps (``max_routes``,
    ``max_members``), so a long-running process that talks to millions of chats keeps a
    flat footprint; what falls out is relearned from traffic."""

    #: Reads are dictionary hits: callers need no cache in front of this store.
    in_memory = True

    def __init__(self, *, max_routes: int = 100_000, max_members: int = 100_000) -> None:
        self._lock = ProcessLock()  # a forked child gets its own
        self._max_routes = max_routes
        self._max_members = max_members
        self._cursors: dict[str, int] = {}
        self._routes: OrderedDict[str, str] = OrderedDict()
        self._counters: dict[str, int] = {}
        # (group, member) -> when it expires (time.monotonic()), None for never.
        self._members: OrderedDict[tuple[str, str], float | None] = OrderedDict()
        # idempotency key -> (guid of the message it sent, when that is forgotten).
        self._sent: OrderedDict[str, tuple[str, float | None]] = OrderedDict()

    def __repr__(self) -> str:
        return "MemoryStore()"

    def get_cursor(self, key: str) -> int | None:
        return self._cursors.get(key)

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        with self._lock:
            self._cursors.update(cursors)

    def get_route(self, chat_guid: str) -> str | None:
        return self._routes.get(chat_guid)

    def set_route(self, chat_guid: str, phone: str) -> None:
        with self._lock:
            routes = self._routes
            routes[chat_guid] = phone
            routes.move_to_end(chat_guid)
            if len(routes) > self._max_routes:
                routes.popitem(last=False)

    def get_counter(self, key: str) -> int:
        return self._counters.get(key, 0)

    def reserve(self, key: str, limit: int | None, ttl: float | None = None) -> bool:
        with self._lock:
            value = self._counters.get(key, 0)
            if limit is not None and value >= limit:
                return False
            self._counters[key] = value + 1
            return True

    def release(self, key: str) -> None:
        with self._lock:
            value = self._counters.get(key, 0)
            if value > 0:
                self._counters[key] = value - 1

    def raise_counter(self, key: str, value: int, ttl: float | None = None) -> int:
        with self._lock:
            value = max(self._counters.get(key, 0), value)
            self._counters[key] = value
            return value

    def add_member(self, group: str, member: str, ttl: float | None = None) -> bool:
        key = (group, member)
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            members = self._members
            if key in members and not _expired(members[key]):
                members.move_to_end(key)
                return False
            members[key] = expires
            members.move_to_end(key)
            if len(members) > self._max_members:
                members.popitem(last=False)
            return True

    def has_member(self, group: str, member: str) -> bool:
        key = (group, member)
        if key not in self._members:
            return False
        return not _expired(self._members.get(key))

    def remove_member(self, group: str, member: str) -> None:
        """Remove from a set (a webhook claim given up); nothing when absent."""
        with self._lock:
            self._members.pop((group, member), None)

    def get_sent(self, key: str) -> str | None:
        found = self._sent.get(key)
        if found is None or _expired(found[1]):
            return None
        return found[0]

    def set_sent(self, key: str, guid: str, ttl: float | None = None) -> None:
        expires = None if ttl is None else time.monotonic() + ttl
        with self._lock:
            sent = self._sent
            sent[key] = (guid, expires)
            sent.move_to_end(key)
            if len(sent) > self._max_members:
                sent.popitem(last=False)

    def close(self) -> None:
        pass
