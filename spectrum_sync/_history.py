"""Lazy paging through message lists (``space.history()``, ``client.recent()``).

Nothing is fetched until the first message is asked for; then one page at a time, each page
no larger than what is still wanted, so reading the newest five of ten thousand messages is
one request for five.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Callable, Optional, Protocol, TypeVar

__all__ = ["PAGE_SIZE", "merge_newest_first", "page_through"]

#: The service's largest page (its lists take a page size of 1 to 100).
PAGE_SIZE = 100



class Dated(Protocol):
    """What merging needs of a message: when it was created (None when not told)."""

    @property
    def created_at(self) -> datetime | None: ...


#: A message (or anything paged through); this module never imports the handles it pages.
Item = TypeVar("Item")
DatedItem = TypeVar("DatedItem", bound=Dated)

#: ``fetch(page_size, page_token) -> (items, next_token)``.
Fetch = Callable[[int, Optional[str]], "tuple[list[Item], str | None]"]
_OLDEST = datetime.min.replace(tzinfo=timezone.utc)


def page_through(fetch: Fetch[Item], limit: int | None) -> Iterator[Item]:
    """Messages from ``fetch(page_size, page_token) -> (messages, next_token)``, at most
    ``limit`` of them, requesting each page only when the previous one is used up."""
    remaining = limit
    token: str | None = None
    while remaining is None or remaining > 0:
        size = PAGE_SIZE if remaining is None else min(remaining, PAGE_SIZE)
        previous = token
        messages, token = fetch(size, token)
        for message in messages[:size]:
            yield message
            if remaining is not None:
                remaining -= 1
        # An empty page may still point further (its items were skipped); one that points
        # back where it started would loop forever.
        if not token or (not messages and token == previous):
            return


def merge_newest_first(sources: Iterable[Iterator[DatedItem]],
                       limit: int | None) -> Iterator[DatedItem]:
    """Several newest-first streams (one per line) as one, still newest first."""
    merged = heapq.merge(*sources, key=lambda m: m.created_at or _OLDEST, reverse=True)
    return merged if limit is None else itertools.islice(merged, limit)
