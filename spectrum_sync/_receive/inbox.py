"""The generator front end: ``for msg in client.messages(): ...``.

Commit point (docs/behaviour.md, "Commit points"): an event is acknowledged when the caller
asks for the next one, or calls ``event.ack()`` / ``inbox.ack()``. Leaving a plain ``for``
loop (``break``, an exception, Ctrl-C) commits nothing more: a loop cannot tell a ``break``
from an exception, so the event in progress is delivered again after a restart
(at-least-once). ``with client.messages() as inbox:`` commits the current event on a clean
exit of the block (and writes the cursors before returning), and not on an exception.
Leaving the loop releases the streams, so a new ``messages()`` may start afterwards.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

from .._telemetry import received
from .filters import Filter

if TYPE_CHECKING:
    from .._events import Event
    from .engine import Delivery, ReceiveEngine

__all__ = ["Inbox"]

log = logging.getLogger("spectrum_sync.receive")

E = TypeVar("E")

POLL = 0.25  # how often a waiting consumer wakes up (Ctrl-C, close())


class Inbox(Generic[E]):
    """An iterator over received events, and a context manager. Made by ``client.messages()``
    and ``client.events()``; it holds the client's receive engine until closed."""

    def __init__(
        self,
        engine: ReceiveEngine,
        wanted: Filter,
        decode: Callable[[Delivery], Event | None],
        current: Callable[[], ReceiveEngine | None],
        release: Callable[[ReceiveEngine], None],
    ) -> None:
        self._engine: ReceiveEngine | None = engine
        self._wanted = wanted
        self._decode = decode
        self._current = current
        self._release = release
        self._pending: Delivery | None = None

    def __iter__(self) -> Iterator[E]:
        return self

    def __next__(self) -> E:
        engine = self._engine
        if engine is None:
            raise StopIteration
        self.ack()
        while True:
            if self._current() is not engine or engine.stopped.is_set():
                self.close()  # the client was closed (or this is a forked child)
                raise StopIteration
            delivery = engine.get(POLL)
            if delivery is None or delivery.stale:
                continue  # stale: its line went elsewhere; left unacknowledged on purpose
            delivery.take()
            event = self._decode(delivery)
            if event is None or not self._wanted(event):
                delivery.settle()
                continue
            self._pending = delivery
            received(event)
            return event  # type: ignore[return-value]

    def ack(self) -> None:
        """Done with the current event: its cursor may advance (also implied by asking for
        the next one)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.settle()

    def close(self) -> None:
        """Stop receiving (cancels the streams); the current event is not committed."""
        engine, self._engine = self._engine, None
        self._pending = None
        if engine is not None:
            self._release(engine)

    def __enter__(self) -> Inbox[E]:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        engine = self._engine
        if exc_type is None and engine is not None:
            self.ack()  # a clean exit: done with the last event, durably
            engine.flush()
        self.close()

    def __del__(self) -> None:
        # A ``for`` loop left by ``break`` drops its iterator: end the streams now.
        with contextlib.suppress(Exception):  # at interpreter shutdown
            self.close()
