"""The generator front end: ``for msg in client.messages(): ...``.

Commit point (docs/behaviour.md, "Commit points"): an event is acknowledged when the caller
asks for the next one, or calls ``event.ack()`` / ``inbox.ack()``. Leaving a plain ``for``
loop (``break``, an exception, Ctrl-C) commits nothing more: a loop cannot tell a ``break``
from an exception, so the event in progress is delivered again after a restart
(at-least-once). ``with client.messages() as inbox:`` commits the current event on a clean
exit of the block (and writes the cursors before returning), and not on an exception.
Leaving the loop releases the streams, so a new ``messages()`` may start afterwards.

Waiting with a limit (docs/behaviour.md, "Receiving"): ``inbox.get(timeout=)`` raises
``TimeoutError`` when nothing came and leaves the inbox usable; an inbox made with
``idle_timeout=`` ends its loop (cleanly, as the end of a ``with`` block does) after that long
without an event.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from os import getpid
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

from .._errors import ClientClosed, ValidationError
from .._telemetry import received
from .._validate import MAX_TIMEOUT, check_timeout
from .consume import ConsumerStep
from .filters import Filter

if TYPE_CHECKING:
    from .._events import Event
    from .engine import Delivery, ReceiveEngine

__all__ = ["Inbox", "check_idle_timeout"]

log = logging.getLogger("spectrum_sync.receive")

E = TypeVar("E")

POLL = 0.25  # how often a waiting consumer wakes up (Ctrl-C, close())


class _Ended(Exception):
    """The inbox or its client was closed: iteration ends, ``get()`` raises ClientClosed."""


def check_idle_timeout(idle_timeout: object) -> float | None:
    """None, or seconds > 0 and at most a day (checked before any receiving starts)."""
    if idle_timeout is None:
        return None
    try:
        return check_timeout(idle_timeout)  # type: ignore[arg-type]
    except ValidationError:
        raise ValidationError(f"idle_timeout must be a number of seconds > 0 and <= "
                              f"{MAX_TIMEOUT:g}, or None, not {idle_timeout!r}") from None


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
        self._step = ConsumerStep(engine.get, decode, wanted)
        self._current = current
        self._release = release
        self._pending: Delivery | None = None
        self._idle_timeout: float | None = None
        self._pid = getpid()

    def stop_when_idle(self, idle_timeout: float | None) -> Inbox[E]:
        """End iteration after ``idle_timeout`` seconds without an event (None: never);
        returns this inbox. ``client.messages(idle_timeout=)`` calls it."""
        self._idle_timeout = check_idle_timeout(idle_timeout)
        return self

    def __iter__(self) -> Iterator[E]:
        return self

    def __next__(self) -> E:
        try:
            return self._receive(self._idle_timeout)
        except _Ended:
            raise StopIteration from None
        except TimeoutError:
            # Idle for idle_timeout: the loop ends as a clean ``with`` exit does.
            engine = self._engine
            if engine is not None:
                engine.flush()
            self.close()
            raise StopIteration from None

    def get(self, timeout: float | None = None) -> E:
        """The next event, waiting at most ``timeout`` seconds (None: as long as it takes).

        Like asking a ``for`` loop for the next one, it acknowledges the previous event.
        Raises ``TimeoutError`` when none arrived in time (the inbox stays usable: call
        again), :class:`~spectrum_sync.ClientClosed` when this inbox or its client was
        closed, and :class:`~spectrum_sync.ValidationError` for a timeout that is not a
        number of seconds > 0 and at most a day."""
        limit = check_timeout(timeout)
        try:
            return self._receive(limit)
        except _Ended:
            raise ClientClosed("this inbox is closed (or its client is): start a new "
                               "client.messages()") from None

    def _receive(self, timeout: float | None) -> E:
        """The next wanted event; ``TimeoutError`` after ``timeout`` s (None: never),
        ``_Ended`` once the inbox or the client is closed."""
        engine = self._engine
        if engine is None:
            raise _Ended
        pending = self._pending
        if pending is not None:  # as ack() does, without the call (this runs per event)
            self._pending = None
            pending.settle()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # The client was closed, or this is a forked child (its engine's readers are the
            # parent's: the pid check is the cheap part, current() forgets them).
            if engine.stopped.is_set() or (getpid() != self._pid
                                           and self._current() is not engine):
                self.close()
                raise _Ended
            wait = POLL if deadline is None else min(POLL, deadline - time.monotonic())
            if wait <= 0:
                raise TimeoutError(f"no event within {timeout:g} s")
            taken = self._step(wait)
            if taken is None:
                continue
            self._pending, event = taken
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
