"""``client.user(address)``: address normalisation, resolution, caching (DESIGN.md 2.5)."""

from __future__ import annotations

import functools
import re
import threading
from typing import TYPE_CHECKING, Callable

import attrs
import cachetools

from .errors import InvalidAddress
from .models import User

if TYPE_CHECKING:
    import phonenumbers

__all__ = ["CacheStats", "UserDirectory", "normalize_address"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _country_of(number: phonenumbers.PhoneNumber) -> str | None:
    import phonenumbers

    region = phonenumbers.region_code_for_number(number)
    if not region or region == "ZZ":
        region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return None if region in (None, "ZZ", "001") else str(region)


def normalize_address(address: str, default_region: str = "US") -> tuple[str, str | None]:
    """E.164 phone number or lower-case e-mail, plus the number's country.

    Raises :class:`InvalidAddress` for anything else (before any network call)."""
    if not isinstance(address, str):
        raise InvalidAddress(repr(address), "an address must be a string")
    return _normalize(address, default_region)


@functools.lru_cache(maxsize=4096)
def _normalize(address: str, default_region: str) -> tuple[str, str | None]:
    # Pure, and a parse costs ~40 us: repeated addresses (space.create(str), unresolved
    # users) become a dict hit. Errors are raised, never cached.
    text = address.strip()
    if not text:
        raise InvalidAddress(address, "empty address")
    # Imported on first use: phonenumbers adds ~10 ms to ``import spectrum_sync``.
    import phonenumbers

    if "@" in text:
        email = text.lower()
        if not _EMAIL.match(email) or ".." in email:
            raise InvalidAddress(address, "not a valid e-mail address")
        return email, None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidAddress(address, "not a phone number or e-mail address") from None
    # is_possible (length per region) rather than is_valid: test and fictional
    # ranges such as +1 555 are legitimate handles here.
    if not phonenumbers.is_possible_number(number):
        raise InvalidAddress(address, "not a possible phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, _country_of(number)


@attrs.frozen
class CacheStats:
    """Counters of the user cache."""

    hits: int
    misses: int
    size: int


class UserDirectory:
    """Normalises, resolves (``resolve(address, timeout)``) and caches users.

    The cache is keyed by the caller's raw input too, so a repeated lookup is
    one dictionary hit without parsing.
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
        self._lock = threading.Lock()  # TTLCache is not thread-safe; never held across an RPC
        self.hits = 0
        self.misses = 0

    def stats(self) -> CacheStats:
        return CacheStats(self.hits, self.misses, len(self._cache))

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def user(self, address: str, resolve: bool = True, timeout: float | None = None) -> User:
        """See :meth:`spectrum_sync.Client.user`."""
        with self._lock:
            cached = self._cache.get(address)
            if cached is not None:
                self.hits += 1
                return cached
        normalized, country = normalize_address(address, self.default_region)
        if normalized != address:
            with self._lock:
                cached = self._cache.get(normalized)
                if cached is not None:
                    self.hits += 1
                    self._cache[address] = cached
                    return cached
        if not resolve:
            return User(address=normalized, country=country, service="unknown")
        with self._lock:
            self.misses += 1
        found = self._resolve(normalized, timeout)
        if found is None:
            user = User(address=normalized, country=country, service="unknown")
        else:
            user = User(address=normalized, country=found.country or country, service=found.service)
        with self._lock:
            self._cache[normalized] = user
            self._cache[address] = user
        return user
