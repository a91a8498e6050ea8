"""Learning where a line's log ends, once for the families that start together.

A reader without a cursor (a new client, or after a gap) learns the server's head by
draining ``CatchUpEvents`` without delivering anything (docs/behaviour.md, "Start"). That
drain costs as much as the log the server still holds (10,000 events in the emulator), and a
line's three families start at the same moment: :class:`HeadLearner` lets them share one
drain. It shares only drains in progress (single flight): a reader that asks later, after a
gap for instance, drains afresh, so a head is never older than the request that uses it
by more than one drain.
"""

from __future__ import annotations

import threading
from typing import Callable

from .._errors import ClientClosed

__all__ = ["HeadLearner"]


class _Flight:
    __slots__ = ("done", "head")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.head: int | None = None


class HeadLearner:
    """Single-flight head drains, per line key. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}

    def head(self, key: str, drain: Callable[[], int], stopped: threading.Event) -> int:
        """The head of line ``key``: from a drain in progress, or from ``drain()`` run here.

        A caller that joined another's drain runs its own when that one failed (its own
        errors then reach it); ``stopped`` ends the wait with :class:`ClientClosed`."""
        while True:
            with self._lock:
                flight = self._flights.get(key)
                leading = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if leading:
                try:
                    flight.head = drain()
                    return flight.head
                finally:
                    with self._lock:
                        self._flights.pop(key, None)
                    flight.done.set()
            while not flight.done.wait(0.05):
                if stopped.is_set():
                    raise ClientClosed("receiving stopped")
            if flight.head is not None:
                return flight.head
            # The drain we joined failed: lead (or join) the next one.
