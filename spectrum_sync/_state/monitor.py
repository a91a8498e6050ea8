"""Store failures that must not fail or block the caller (docs/behaviour.md, "State
stores"): bounded, skipped while the store is failing, logged once per burst, kept for
health().

A send that the server accepted must return its message even when the quota bookkeeping
after it fails (a full disk, Redis down): raising would invite a retry and a duplicate
bubble. Routing learned from inbound traffic is likewise best effort. Such operations go
through :meth:`StoreMonitor.guard`, which

- bounds the operation by the time left in the caller's call (``deadline``): a store that
  does not answer in time is left to finish on a worker thread, and the caller goes on
  without it, so a stalled store never holds a call past its deadline;
- skips the store for a back-off period after a failure (a circuit breaker: 1 s, doubling
  up to 30 s while it keeps failing), then lets one call through to probe it (half-open)
  while the others keep skipping it; the first success closes the breaker again;
- logs the failure (at most every 30 s per kind of operation) and records the last one for
  ``client.health()``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, TypeVar

from .._errors import StateStoreError
from .._fork import ForkGuard, background_thread

__all__ = ["StoreMonitor"]

log = logging.getLogger("spectrum_sync.state")

T = TypeVar("T")

_LOG_EVERY = 30.0  # seconds between two log lines about the same kind of failure
BACKOFF_INITIAL = 1.0  # seconds the store is skipped after a first failure
BACKOFF_MAX = 30.0  # ...doubling while probes keep failing, up to this
_MAX_WORKERS = 8  # threads that run store calls; more calls at once wait in a queue


class _NoTimeLeft(Exception):
    """The caller's deadline had passed: its operation went on in the background."""


class _Outcome:
    """The result of one operation run on a worker thread."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None

    def carry_out(self, action: Callable[[], Any]) -> None:
        """Run ``action`` and keep what it returned or raised (handed to the caller, who
        decides)."""
        try:
            self.value = action()
        except BaseException as exc:
            self.error = exc
        self.done.set()


#: What a worker takes from the queue to end (see :meth:`_Workers.stop`).
_STOP = None


class _Workers:
    """Daemon threads that run store operations for callers that wait a bounded time (a
    stuck store call must not keep the interpreter from exiting either). They live until
    :meth:`stop` (the client's ``close()``)."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], _Outcome] | None] = (
            queue.SimpleQueue())
        self._lock = threading.Lock()
        self._idle = 0
        self._count = 0  # workers started or being started
        self._threads: list[threading.Thread] = []
        self._stopped = False

    def submit(self, action: Callable[[], Any]) -> _Outcome:
        outcome = _Outcome()
        inline = spawn = False
        with self._lock:
            if self._stopped:
                inline = True  # after close(): no new thread; a late call runs here
            elif self._idle:
                self._idle -= 1
            elif self._count < _MAX_WORKERS:
                self._count += 1  # counted now: callers at the same time see it
                spawn = True
            # Else every worker is busy (many sends at once, or calls stuck on a stalled
            # store): it waits in the queue. The caller still waits only until its
            # deadline, and the breaker stops new calls once a stalled store made one fail.
        if spawn:
            thread = background_thread(self._work, "spectrum-store", action, outcome)
            with self._lock:
                if thread is None:
                    self._count -= 1
                else:
                    self._threads.append(thread)
                    return outcome
            # No thread may start here (a uWSGI master): on the calling thread, unbounded.
            inline = True
        if inline:
            outcome.carry_out(action)
        else:
            self._tasks.put((action, outcome))
        return outcome

    def _work(self, action: Callable[[], Any], outcome: _Outcome) -> None:
        while True:
            outcome.carry_out(action)
            with self._lock:
                self._idle += 1
            task = self._tasks.get()
            if task is _STOP:
                return
            action, outcome = task

    def stop(self, timeout: float) -> None:
        """End the threads once the operations queued so far are done, waiting up to
        ``timeout`` seconds for them (a call stuck on a stalled store is left to finish on
        its daemon thread)."""
        with self._lock:
            self._stopped = True
            count, threads = self._count, list(self._threads)
        for _ in range(count):  # one each, a worker still being started included
            self._tasks.put(_STOP)  # behind the queued operations: those still run
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class StoreMonitor:
    """Runs best-effort store operations (bounded, behind a circuit breaker) and remembers
    the last failure."""

    def __init__(self, *, backoff_initial: float = BACKOFF_INITIAL,
                 backoff_max: float = BACKOFF_MAX) -> None:
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failures = 0
        #: Operations not tried because the store was being skipped (the breaker was open).
        self.skipped = 0
        self._logged: dict[str, float] = {}
        self._lock = threading.Lock()
        self._open_until = 0.0  # time.monotonic() until which the store is skipped; 0: closed
        self._backoff = 0.0
        self._probing = False  # half-open: one call is finding out whether the store is back
        self._workers: _Workers | None = None
        self._fork = ForkGuard(self._forget_workers)

    def guard(self, what: str, action: Callable[[], T], default: T,
              deadline: float | None = None) -> T:
        """``action()``, or ``default`` when it raises, when it has not answered by
        ``deadline`` (a ``time.monotonic()`` value: the end of the caller's call; None runs
        it inline, unbounded), or when the store is being skipped after a failure. With the
        deadline already passed, the operation runs in the background, unawaited. In a
        uWSGI master, where no worker thread may start, a bounded operation runs on the
        calling thread, unbounded (with the deadline passed, before ``default`` is
        returned)."""
        admitted, probe = self._admit()
        if not admitted:
            self.skipped += 1
            return default
        try:
            result = (action() if deadline is None
                      else self._bounded(what, action, deadline))
        except _NoTimeLeft:
            if probe:
                with self._lock:
                    self._probing = False
            return default
        except Exception as exc:
            self._failed(probe)
            self.record(what, exc)
            return default
        except BaseException:
            if probe:
                with self._lock:
                    self._probing = False  # no verdict: the next call probes
            raise
        self._succeeded()
        return result

    @property
    def skipping(self) -> bool:
        """Whether the store is being skipped now (the breaker is open)."""
        return time.monotonic() < self._open_until

    def _admit(self) -> tuple[bool, bool]:
        """(whether to try the store, whether that try is the half-open probe)."""
        if self._open_until == 0.0:
            return True, False  # closed: no lock on the common path
        with self._lock:
            if self._open_until == 0.0:
                return True, False
            if time.monotonic() < self._open_until or self._probing:
                return False, False
            self._probing = True
            return True, True

    def _failed(self, probe: bool) -> None:
        with self._lock:
            if probe:
                self._probing = False
                self._backoff = min(self._backoff * 2, self.backoff_max)
            elif self._open_until == 0.0:
                self._backoff = self.backoff_initial
            else:
                return  # already open: a call under way when it opened
            self._open_until = time.monotonic() + self._backoff

    def _succeeded(self) -> None:
        if self._open_until == 0.0:
            return
        with self._lock:
            self._open_until = 0.0
            self._backoff = 0.0
            self._probing = False
        log.info("the state store answers again")
        self.clear()

    def close(self, timeout: float) -> None:
        """Stop the worker threads (the client's ``close()``): the operations already
        handed to them are carried out first, waited for up to ``timeout`` seconds. An
        operation guarded after this runs on the calling thread."""
        self._fork.check()  # a forked child stops none of its parent's threads
        workers = self._workers
        if workers is None:  # none started: later ones must not start either
            workers = self._workers = _Workers()
        workers.stop(timeout)

    def _forget_workers(self) -> None:
        self._workers = None  # a forked child has none of the parent's threads

    def _bounded(self, what: str, action: Callable[[], T], deadline: float) -> T:
        self._fork.check()
        if self._workers is None:
            self._workers = _Workers()
        left = deadline - time.monotonic()
        if left <= 0:
            # Nothing left to wait with: the operation still happens, in the background
            # (bookkeeping after a call that used its whole budget), and is no store failure.
            self._workers.submit(lambda: self._unattended(what, action))
            raise _NoTimeLeft
        outcome = self._workers.submit(action)
        if not outcome.done.wait(left):
            raise StateStoreError(
                f"the state store did not answer within the {left:.2f} s left in the call",
                store="state", retryable=True)
        if outcome.error is not None:
            raise outcome.error
        result: T = outcome.value
        return result

    def _unattended(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            self._failed(False)
            self.record(what, exc)

    def record(self, what: str, exc: BaseException) -> None:
        """Note a store failure (logged at most every 30 s per operation kind)."""
        self.failures += 1
        self.last_error = f"{what}: {exc}"
        self.last_error_at = time.time()
        now = time.monotonic()
        if now - self._logged.get(what, -1e9) >= _LOG_EVERY:
            self._logged[what] = now
            log.warning("state store failure (%s): %s; carrying on without it", what, exc)

    def clear(self) -> None:
        """A store operation succeeded again."""
        self.last_error = None
