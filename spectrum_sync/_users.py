"""``client.user(address)``: normalisation, resolution (service, country), caching."""

from __future__ import annotations

from typing import Callable

import attrs
import cachetools

from ._addresses import normalize_address
from ._fork import ProcessLock
from ._records import field_methods
from ._values import User

__all__ = ["CacheStats", "UserDirectory"]


@field_methods
@attrs.frozen(repr=False, eq=False)
class CacheStats:
    """Counters of the user cache."""

    hits: int
    misses: int
    size: int


class UserDirectory:
    """Normalises, resolves (``resolve(address, timeout)``) and caches users.

    The cache is keyed by the caller's raw input too, so a repeated lookup is one dictionary
    hit without parsing. The lock is never held across a network call.
    """

    def __init__(
        self,
        resolve: Callable[[str, float | None], User | None],
        *,
        default_region: str = "US",
        ttl: float = 3600.0,
        maxsize: int = 10_000,
    ) -> None:
        self._resolve = resolve
        self.default_region = default_region
        self._cache: cachetools.TTLCache[str, User] = cachetools.TTLCache(maxsize, ttl)
        self._lock = ProcessLock()  # TTLCache is not thread-safe; a forked child gets its own
        self.hits = 0
        self.misses = 0

    def stats(self) -> CacheStats:
        return CacheStats(self.hits, self.misses, len(self._cache))

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def user(self, address: str, resolve: bool = True, timeout: float | None = None) -> User:
        """See :meth:`spectrum_sync.Client.user`."""
        lock = self._lock
        if isinstance(address, str):
            with lock:
                cached = self._cache.get(address)
                if cached is not None:
                    self.hits += 1
                    return cached
        normalized, country = normalize_address(address, self.default_region)
        if normalized != address:
            with lock:
                cached = self._cache.get(normalized)
                if cached is not None:
                    self.hits += 1
                    self._cache[address] = cached
                    return cached
        if not resolve:
            return User(address=normalized, country=country, service="unknown")
        with lock:
            self.misses += 1
        found = self._resolve(normalized, timeout)
        if found is None:
            user = User(address=normalized, country=country, service="unknown")
        else:
            user = User(address=normalized, country=found.country or country,
                        service=found.service)
        with lock:
            self._cache[normalized] = user
            self._cache[address] = user
        return user
