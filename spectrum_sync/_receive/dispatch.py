"""The callback front end: handlers called for each event, inline or in a worker pool.

Commit point: an event is acknowledged when every handler for it has returned, or raised an
``Exception`` (logged, passed to ``on_error``; the loop goes on). ``KeyboardInterrupt`` or
``SystemExit`` raised by a handler stop the loop cleanly, without committing that event, and
reach the caller of ``run_forever()`` (or the :class:`Handle` of ``start()``): nothing stops
silently. With ``workers > 1`` the events of one space always go to the same worker, so
order within a space is kept while spaces run in parallel.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from .._logfields import fields
from .._telemetry import mask, processing
from .consume import ConsumerStep
from .filters import Filter

if TYPE_CHECKING:
    from .._events import Event
    from .engine import Delivery, ReceiveEngine

__all__ = ["CallbackLoop", "ErrorHandler", "Handle", "Handler"]

log = logging.getLogger("spectrum_sync.receive")

Handler = Callable[[Any], object]
ErrorHandler = Callable[[BaseException, Optional["Event"]], object]

POLL = 0.25


def log_handler_error(exc: BaseException, event: Event | None) -> None:
    """The default ``on_error``: log with the traceback."""
    if event is None:
        log.error("handler failed while receiving", exc_info=(type(exc), exc, exc.__traceback__))
        return
    space = event.space
    log.error("handler failed for a %s event in %s", event.kind, mask(space.id),
              exc_info=(type(exc), exc, exc.__traceback__),
              extra=fields(line=space.phone, chat=space.id))


class _Fatal:
    """The first BaseException that must end the loop (set once, by any thread)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def set(self, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = error


def _call_handlers(event: Event, handlers: list[Handler], report: ErrorHandler) -> None:
    """Run each handler (inside the event's trace span, when tracing is set up); an
    Exception goes to ``report``, a BaseException propagates."""
    with processing(event) as failed:
        for handler in handlers:
            try:
                handler(event)
            except Exception as exc:
                failed(exc)
                try:
                    report(exc, event)
                except Exception:
                    log.exception("the on_error handler failed")


class _Workers:
    """N worker threads; events of one space always go to the same worker (order kept)."""

    def __init__(self, count: int, report: ErrorHandler, stop: threading.Event,
                 fatal: _Fatal) -> None:
        self._report = report
        self._stop = stop
        self._fatal = fatal
        self._queues: list[queue.Queue[tuple[Event, list[Handler], Callable[[], None]] | None]]
        self._queues = [queue.Queue(maxsize=64) for _ in range(count)]
        self._threads = [
            threading.Thread(target=self._work, args=(q,), name=f"spectrum-worker-{i}",
                             daemon=True)
            for i, q in enumerate(self._queues)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, event: Event, handlers: list[Handler], ack: Callable[[], None]) -> None:
        target = self._queues[hash(event.space.id) % len(self._queues)]
        while not self._stop.is_set():
            try:
                target.put((event, handlers, ack), timeout=POLL)
                return
            except queue.Full:
                continue
        # Stopping: not acknowledged, so it is delivered again next time.

    def _work(self, jobs: queue.Queue[tuple[Event, list[Handler], Callable[[], None]] | None],
              ) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            if self._fatal.error is not None:
                continue  # the loop is ending: leave the rest uncommitted
            event, handlers, ack = job
            try:
                _call_handlers(event, handlers, self._report)
            except BaseException as exc:  # KeyboardInterrupt / SystemExit from a handler
                self._fatal.set(exc)
                self._stop.set()
                continue
            ack()

    def close(self, timeout: float = 5.0) -> None:
        """Let the workers finish what they hold, then end them."""
        deadline = time.monotonic() + timeout
        for jobs in self._queues:
            try:
                jobs.put(None, timeout=max(0.01, deadline - time.monotonic()))
            except queue.Full:
                log.warning("receive: a worker is stuck in a handler; not waiting for it")
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class CallbackLoop:
    """Dispatches events of an engine to handlers until stopped (see module docstring)."""

    def __init__(
        self,
        engine: ReceiveEngine,
        decode: Callable[[Delivery], Event | None],
        handlers_for: Callable[[Event], list[Handler]],
        wanted: Filter,
        report: ErrorHandler,
        workers: int,
        current: Callable[[], ReceiveEngine | None],
    ) -> None:
        self._engine = engine
        self._step = ConsumerStep(engine.get, decode, wanted)
        self._handlers_for = handlers_for
        self._report = report
        self._workers = workers
        self._current = current

    def run(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set or the client closes; re-raises a handler's
        ``KeyboardInterrupt`` / ``SystemExit``."""
        engine = self._engine
        fatal = _Fatal()
        pool = _Workers(self._workers, self._report, stop, fatal) if self._workers > 1 else None
        try:
            while not stop.is_set() and fatal.error is None:
                if self._current() is not engine or engine.stopped.is_set():
                    break  # the client was closed
                taken = self._step(POLL)
                if taken is None:
                    continue
                self._dispatch(*taken, pool, fatal)
        finally:
            if pool is not None:
                pool.close()
        if fatal.error is not None:
            raise fatal.error

    def _dispatch(self, delivery: Delivery, event: Event, pool: _Workers | None,
                  fatal: _Fatal) -> None:
        """Hand an event to its handlers: here, or on the pool's worker of its space."""
        handlers = self._handlers_for(event)
        if not handlers:
            delivery.settle()  # no handler for its kind: nothing to wait for
        elif pool is None:
            try:
                _call_handlers(event, handlers, self._report)
            except BaseException as exc:
                fatal.set(exc)  # not acknowledged: it comes again next time; the loop ends
                return
            delivery.settle()
        else:
            pool.submit(event, handlers, delivery.settle)


class Handle:
    """A receive loop running in a background thread (from ``client.start()``)."""

    def __init__(self, thread: threading.Thread, stop: threading.Event,
                 wake: Callable[[], None]) -> None:
        self._thread = thread
        self._stop = stop
        self._wake = wake  # ends the loop's wait for an event, so stop() is prompt
        self._error: BaseException | None = None
        self._reported = False

    def _finished_with(self, error: BaseException) -> None:
        self._error = error

    @property
    def running(self) -> bool:
        """True while the dispatch thread runs (until ``stop()`` or a fatal error)."""
        return self._thread.is_alive()

    @property
    def exception(self) -> BaseException | None:
        """What ended the loop, if it did not end by ``stop()``: a handler's
        ``KeyboardInterrupt`` / ``SystemExit``, or an unexpected error."""
        return self._error

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop receiving; True when everything stopped within ``timeout`` s. Re-raises what
        ended the loop early (see :attr:`exception`)."""
        self._stop.set()
        self._wake()
        self._thread.join(timeout)
        self._raise()
        return not self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the loop to end; re-raises what ended it early."""
        self._thread.join(timeout)
        self._raise()

    def _raise(self) -> None:
        if self._error is not None and not self._reported:
            self._reported = True  # once: stop() then join() must not raise it twice
            raise self._error
