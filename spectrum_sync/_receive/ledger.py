"""Commit points: which events are done, and writing that down (docs/behaviour.md).

A :class:`Ledger` per stream (line instance x family) records the sequences handed out, in
order, and which of them the consumer acknowledged; its cursor is the end of the longest
acknowledged prefix, so acknowledgements may arrive out of order (worker pools) and the
cursor never passes an event still being processed. The :class:`Committer` writes advanced
cursors to the state store in batches (one write per ``commit_interval`` for all streams),
retries a failed write with backoff, and reports failures; nothing is ever written for an
event that was not acknowledged.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import Callable

from .._backoff import jittered
from .._state.base import StateStore

__all__ = ["Committer", "Fence", "LeaseLost", "Ledger", "commit_time_key", "cursor_key",
           "cursor_source"]

log = logging.getLogger("spectrum_sync.receive")

#: A cursor key -> the lease its commit is fenced by, ``(lease name, (holder, token))``, or
#: None when this process does not hold the cursor's line (its commit waits).
Fence = Callable[[str], "tuple[str, tuple[str, int]] | None"]


def cursor_key(source_key: str, family_name: str) -> str:
    """The store key of a cursor: ``<source>/<family>`` (a cloud line's instance id, or
    ``local:<chat.db path>``). Cursors are kept per source and family: the families share
    one sequence but arrive on separate streams, so one cursor per line could skip an
    event still in flight on a sibling stream."""
    return f"{source_key}/{family_name}"


def commit_time_key(key: str) -> str:
    """The store key beside a cursor that holds when it was last written (epoch seconds, an
    integer like the cursors), so that ``spectrum-sync doctor`` can say how old it is."""
    return f"{key}@written"


def cursor_source(key: str) -> str:
    """The source (line) key of a cursor key made by :func:`cursor_key`."""
    return key.rsplit("/", 1)[0]

Ack = Callable[[], None]


class LeaseLost(Exception):
    """A fenced commit was refused: another receiver holds the line now."""


class Ledger:
    """The acknowledged prefix of one stream. Thread-safe."""

    def __init__(self, key: str, committer: Committer) -> None:
        self.key = key
        #: Highest sequence of the acknowledged prefix (in memory; the committer persists it).
        self.committed: int | None = None
        self.loaded = False
        self._committer = committer
        self._pending: collections.deque[list[int | bool]] = collections.deque()
        self._epoch = 0
        self._lock = threading.Lock()

    def load(self, stored: int | None) -> None:
        """Start from the cursor read from the store, or from the position this ledger was
        given when that is further on (a line read here before: every event up to either
        was handled)."""
        with self._lock:
            if not self.loaded:
                if self.committed is None or (stored is not None and stored > self.committed):
                    self.committed = stored
                self.loaded = True

    def issue(self, sequence: int) -> Ack:
        """Register ``sequence`` as handed out (in order); returns its idempotent ack."""
        entry: list[int | bool] = [sequence, False]
        with self._lock:
            self._pending.append(entry)
            epoch = self._epoch

        def ack() -> None:
            with self._lock:
                if entry[1] or epoch != self._epoch:
                    entry[1] = True
                    return  # done already, or issued before a reset: no cursor to move
                entry[1] = True
                advanced = None
                pending = self._pending
                while pending and pending[0][1]:
                    advanced = pending.popleft()[0]
                if advanced is None:
                    return
                if self.committed is None or advanced > self.committed:
                    self.committed = int(advanced)
            self._committer.mark(self)

        return ack

    def retire(self) -> None:
        """Its source is no longer read here (the line went to another receiver, or away):
        acknowledgements of events handed out before must not move any cursor any more."""
        with self._lock:
            self._epoch += 1
            self._pending = collections.deque()
        self._committer.forget(self)

    def reset(self) -> None:
        """The server rejected the cursor (a gap): start over. Acks of events handed out
        before the reset no longer move the cursor; the next commit replaces the stored one."""
        with self._lock:
            self._epoch += 1
            self._pending = collections.deque()
            self.committed = None

    @property
    def outstanding(self) -> int:
        """Events handed out and not yet acknowledged (or blocked behind one that is not)."""
        return len(self._pending)


class Committer:
    """Writes advanced cursors to the store, batched, retried, reported.

    It knows every ledger that ever advanced and writes those whose cursor differs from what
    it last wrote: marking a ledger is one dictionary store on the consumer's path, and no
    advance can be missed however acknowledgements and writes interleave."""

    def __init__(
        self,
        store: StateStore,
        interval: float,
        on_error: Callable[[BaseException], None],
        fence: Fence | None = None,
    ) -> None:
        self._store = store
        self._interval = interval
        self._on_error = on_error
        self._known: dict[str, Ledger] = {}
        self._written: dict[str, int] = {}
        self._cond = threading.Condition(threading.Lock())
        self._write_lock = threading.Lock()  # one write at a time: values never regress
        self._failures = 0
        self._signalled = False  # the thread was told there is work (cleared when it looks)
        self._retry = threading.Event()  # cuts a retry's back-off short (see ``wake``)
        self.closed = False  # the engine stopped: no thread writes batches any more
        self.last_error: str | None = None
        #: With shared lines: the lease a cursor's commit is fenced by (None: not ours).
        self.fence = fence

    def mark(self, ledger: Ledger) -> None:
        """A ledger's cursor advanced: write it with the next batch (at once when the
        receive loop has ended: a late ``event.ack()`` still counts)."""
        self._known[ledger.key] = ledger
        if self.closed:
            self.write_once()
        elif not self._signalled:
            with self._cond:
                self._signalled = True
                self._cond.notify()

    def forget(self, ledger: Ledger) -> None:
        """Stop writing a retired ledger's cursor (another may hold the same key now)."""
        if self._known.get(ledger.key) is ledger:
            self._known.pop(ledger.key, None)

    def _unwritten(self) -> dict[str, int]:
        written = self._written
        return {key: ledger.committed for key, ledger in list(self._known.items())
                if ledger.committed is not None and ledger.committed != written.get(key)}

    @property
    def pending(self) -> int:
        """Streams whose acknowledged cursor is not written yet."""
        return len(self._unwritten())

    def _write(self, batch: dict[str, int]) -> None:
        fence = self.fence
        if fence is None:
            self._store.set_cursors(_with_times(batch))
            return
        fences: dict[str, tuple[str, int]] = {}
        for key in list(batch):
            held = fence(key)
            if held is None:
                # This process does not hold that line now: its commit waits (written under
                # the new token if the line comes back here; superseded otherwise).
                batch.pop(key)
                continue
            fences[held[0]] = held[1]
        if batch and not self._store.set_cursors_fenced(  # type: ignore[attr-defined]
                _with_times(batch), fences):
            raise LeaseLost("a line's lease was lost: its cursor is not ours to write")

    def write_once(self) -> bool:
        """Write every advanced cursor now, in one call; True on success (or nothing to do)."""
        with self._write_lock:
            batch = self._unwritten()
            if not batch:
                return True
            try:
                self._write(batch)
            except Exception as exc:
                self._failures += 1
                self.last_error = f"cursor commit failed: {exc}"
                if self._failures == 1 or self._failures % 20 == 0:
                    log.warning("receive: %s (attempt %d); events stay uncommitted and "
                                "will be retried", self.last_error, self._failures)
                try:
                    self._on_error(exc)
                except Exception:
                    log.exception("receive: the error handler failed")
                return False
            self._written.update(batch)
            if self._failures:
                log.info("receive: cursor commits work again")
            self._failures = 0
            self.last_error = None
            return True

    def run_until_stopped(self, stopped: threading.Event, tick: Callable[[], None],
                          tick_every: float) -> None:
        """The committer's thread body: write batches as cursors advance, and call ``tick``
        (the stall watchdog) about every ``tick_every`` seconds."""
        next_tick = time.monotonic() + tick_every
        while not stopped.is_set():
            with self._cond:
                if not self._signalled:
                    self._cond.wait(max(0.0, min(next_tick - time.monotonic(), tick_every)))
                work = self._signalled
            if stopped.is_set():
                break
            if work or self._failures:
                if self._interval:
                    stopped.wait(self._interval)  # gather more acknowledgements in one write
                # Cleared only now: the acknowledgements of the interval found the flag set
                # and did not signal again (a lock and a notify each). One made from here on
                # sets it again, for the next batch: none is missed.
                with self._cond:
                    self._signalled = False
                if not self.write_once():
                    self._retry.wait(jittered(self._failures - 1, 0.1, 5.0, floor=0.5))
                    self._retry.clear()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + tick_every
                tick()

    def wake(self) -> None:
        """Look for work now, even in the middle of a retry's back-off (the engine stops,
        or a line was taken again and its commits may be written under its new lease)."""
        self._retry.set()
        with self._cond:
            self._signalled = True
            self._cond.notify()


def _with_times(batch: dict[str, int]) -> dict[str, int]:
    """``batch`` and, beside each cursor, the time it is written (:func:`commit_time_key`)."""
    now = int(time.time())
    return {**batch, **{commit_time_key(key): now for key in batch}}
