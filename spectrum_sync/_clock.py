"""The clock that token lifetimes follow: real time, or a test clock that moves when told.

A :class:`Clock` gives monotonic seconds (``now()``) and lets a thread wait until a deadline
on that clock or until an event is set (``wait(event, timeout)``); the events are made by the
clock (``event()``), so that a test clock can wake its waiters when they are set.

:data:`SYSTEM` is ``time.monotonic`` with real waits: the default everywhere. A
:class:`ManualClock` stands still until ``advance(seconds)`` moves it, which wakes every
waiter whose deadline it passes; the emulator's epoch clock can follow it
(``Emulator(clock=ManualClock())``), so that one ``advance`` moves token expiry on both
sides. See docs/architecture.md, "Time in tests".
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

__all__ = ["SYSTEM", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Monotonic seconds, and waits measured on them."""

    manual: bool
    """True when ``now()`` moves only when told (a test clock), not with real time."""

    def now(self) -> float:
        """The current time, in seconds (only differences mean anything)."""

    def epoch(self) -> float:
        """The current wall-clock time, in epoch seconds."""

    def event(self) -> threading.Event:
        """A new event that :meth:`wait` can wait on."""

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until ``event`` is set or ``timeout`` seconds of this clock have passed;
        True when the event is set."""


class SystemClock:
    """Real time: ``now`` (default ``time.monotonic``) and :meth:`threading.Event.wait`.

    ``now`` may be replaced for a unit test of a schedule that does not wait."""

    manual = False

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self.now = now

    def epoch(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()" if self.now is time.monotonic else f"SystemClock({self.now!r})"

    def event(self) -> threading.Event:
        return threading.Event()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)


SYSTEM = SystemClock()
"""The default clock: ``time.monotonic`` and real waits."""


class _ClockEvent(threading.Event):
    """An event that wakes its :class:`ManualClock`'s waiters when it is set."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def set(self) -> None:
        super().set()
        self.clock._wake()


class ManualClock:
    """A test clock: it stands still until :meth:`advance` moves it.

    ``now()`` starts at ``start``; ``epoch()`` is the matching wall-clock time (``epoch`` at
    the start, default ``time.time()`` then), which an emulator made with
    ``Emulator(clock=this)`` uses, so that its token expiry, timestamps and quota days move
    with the client's token schedule. A :meth:`wait` ends only when its event is set or when
    :meth:`advance` carries the clock to its deadline: a test that never advances never sees
    a timeout. Thread-safe.
    """

    manual = True

    def __init__(self, start: float = 0.0, *, epoch: float | None = None) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._start = float(start)
        self._now = self._start
        self._epoch = time.time() if epoch is None else float(epoch)
        self._waiters = 0

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"

    def now(self) -> float:
        """The current time, in seconds since an arbitrary start."""
        return self._now

    def epoch(self) -> float:
        """The current time as epoch seconds (the emulator's clock follows it)."""
        return self._epoch + (self._now - self._start)

    @property
    def waiters(self) -> int:
        """How many threads are in :meth:`wait` now. A test that advanced the clock to a
        background thread's deadline waits for this to come back up: the thread is then
        done with its turn (the token refresher has exchanged and delivered the grant)."""
        return self._waiters

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (at once; nothing sleeps) and wake the
        waiters whose deadline that reaches. A clock never goes back: ``ValueError`` for a
        negative number."""
        if not seconds >= 0:  # also refuses NaN
            raise ValueError(f"a clock only moves forward, not by {seconds!r} s")
        with self._changed:
            self._now += seconds
            self._changed.notify_all()

    def event(self) -> threading.Event:
        return _ClockEvent(self)

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait until ``event`` (made by :meth:`event`) is set or the clock has advanced by
        ``timeout``; True when the event is set. Real time passing does not end it."""
        if not isinstance(event, _ClockEvent) or event.clock is not self:
            # A plain event could be set without waking this wait: it would hang.
            raise ValueError("ManualClock.wait takes an event made by this clock's event()")
        with self._changed:
            deadline = self._now + timeout
            self._waiters += 1
            try:
                while not event.is_set() and self._now < deadline:
                    self._changed.wait()
            finally:
                self._waiters -= 1
            return event.is_set()

    def _wake(self) -> None:
        with self._changed:
            self._changed.notify_all()
