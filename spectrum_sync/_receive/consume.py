"""The consumer's step, shared by the generator (``inbox.py``) and the callbacks
(``dispatch.py``): take the next delivery, skip a stale one, decode it, filter it, and settle
at once what the consumer will not see (docs/behaviour.md, "Receiving": commit points).

A stale delivery (its reader stopped, or the lease it was read under lapsed) is neither
taken nor settled: whoever reads its line next delivers it again. A wanted event is taken
and returned unsettled: the consumer settles it once done with it (the commit point).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .._events import Event
    from .engine import Delivery

__all__ = ["ConsumerStep"]


class ConsumerStep:
    """One step of a consumer over a delivery source (the engine's ``get``)."""

    __slots__ = ("_decode", "_get", "_wanted")

    def __init__(
        self,
        get: Callable[[float], Delivery | None],
        decode: Callable[[Delivery], Event | None],
        wanted: Callable[[Event], bool],
    ) -> None:
        self._get = get
        self._decode = decode
        self._wanted = wanted

    def __call__(self, wait: float) -> tuple[Delivery, Event] | None:
        """The next wanted event with its delivery (taken, not settled), waiting at most
        ``wait`` seconds; None when nothing came, or what came was stale, undecodable (a
        kind this version lacks) or not wanted."""
        delivery = self._get(wait)
        if delivery is None or delivery.stale:
            return None  # stale: its line went elsewhere; left unacknowledged on purpose
        delivery.take()
        event = self._decode(delivery)
        if event is None or not self._wanted(event):
            delivery.settle()
            return None
        return delivery, event
