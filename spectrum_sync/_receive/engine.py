"""The receive engine: the one set of streams of a client, merged into one bounded queue.

Owned by the client's :class:`~.receiving.Receiving` component and alive while a consumer
receives. It keeps a :class:`~.reader.StreamReader` per line and family (following the line
set as lines are attached and detached), a bounded queue between the readers and the
consumer (a slow consumer slows reading, memory stays flat), a window of recently delivered
event keys (keys only, never payloads), the ledgers with their committer, the stall watchdog,
and health. Threads: the readers, plus one ``spectrum-recv-commit`` thread that writes cursor
batches and runs the watchdog.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable

from .._state.base import StateStore
from .._transport.credentials import Credentials
from .._transport.invoker import Invoker
from .._transport.lines import LineConnection, LineSet
from .health import LineHealth
from .ledger import Ack, Committer, Ledger
from .options import GROUPS, ReceiveOptions, family
from .reader import StreamReader

__all__ = ["Delivery", "ReceiveEngine"]

log = logging.getLogger("spectrum_sync.receive")


class Delivery:
    """One event handed to the consumer; ``ack()`` once done with it (the commit point)."""

    __slots__ = ("ack", "payload", "reader", "sequence")

    def __init__(self, reader: StreamReader, sequence: int, payload: Any, ack: Ack) -> None:
        self.reader = reader
        self.sequence = sequence
        self.payload = payload
        self.ack = ack

    @property
    def phone(self) -> str:
        return self.reader.line.phone

    @property
    def family(self) -> str:
        return self.reader.family.name


def cursor_key(line_key: str, family_name: str) -> str:
    """Cursors are kept per line instance and family: the families share one sequence but
    arrive on separate streams, so one cursor per line could skip an event still in flight
    on a sibling stream."""
    return f"{line_key}/{family_name}"


class ReceiveEngine:
    """See the module docstring. ``start()`` once, ``stop()`` once."""

    def __init__(
        self,
        lines: LineSet,
        invoker: Invoker,
        store: StateStore,
        options: ReceiveOptions,
        *,
        on_store_error: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self.lines = lines
        self.invoker = invoker
        self.store = store
        self.options = options
        # A C-implemented queue: put and get cost well under a microsecond. The bound is kept
        # by the readers (they wait while it is full), which only costs when the consumer is
        # slower than the streams anyway.
        self.queue: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._bound = options.queue_size
        self.committer = Committer(store, options.commit_interval, on_store_error)
        self._readers: dict[str, list[StreamReader]] = {}
        self._retired: list[StreamReader] = []
        self._ledgers: dict[str, Ledger] = {}
        self._health: dict[str, LineHealth] = {}
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Read every current line, and follow the line set from now on."""
        self._unsubscribe = self.lines.add_listener(self._lines_changed)
        for line in self.lines.all():
            self.add_line(line)
        tick = max(0.05, min(1.0, self.options.stall_timeout / 4))
        self._thread = threading.Thread(
            target=self.committer.run_until_stopped, args=(self.stopped, self._watch, tick),
            name="spectrum-recv-commit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every reader, write the last cursors; returns within about ``timeout`` s."""
        deadline = time.monotonic() + timeout
        if self._unsubscribe is not None:
            self._unsubscribe()
        with self._lock:
            self._stamp_last_frames(self._health)  # kept for health() after the loop
            readers = [r for rs in self._readers.values() for r in rs] + self._retired
            self._readers.clear()
            self._retired = []
        self.stopped.set()
        for reader in readers:
            reader.stop()
        current = threading.current_thread()
        for reader in readers:
            if reader.thread is not current and reader.thread.ident is not None:
                reader.thread.join(max(0.0, deadline - time.monotonic()))
        self.committer.wake()
        if self._thread is not None and self._thread is not current:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        self.committer.closed = True
        self.flush()

    def wait_until_anchored(self, timeout: float) -> bool:
        """Wait (bounded) until every stream knows where it starts (its stored cursor, or
        the server's head for a new client), so that whatever happens after this returns
        is delivered. False on timeout: the readers keep trying in the background."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                readers = [r for rs in self._readers.values() for r in rs]
            if all(r.covered is not None or r.stopped.is_set() for r in readers):
                return True
            self.stopped.wait(0.005)
        return False

    def flush(self) -> bool:
        """Write acknowledged cursors now (a clean exit, or ``close()``); True on success."""
        return self.committer.write_once()

    # -- lines -------------------------------------------------------------------------

    def _lines_changed(self, added: list[LineConnection],
                       removed: list[LineConnection]) -> None:
        # Called by a token refresh: signal, never wait (the refresh must not block on us).
        for line in removed:
            self.remove_line(line.key)
        for line in added:
            self.add_line(line)

    def add_line(self, line: LineConnection) -> None:
        """Start reading a line (idempotent); shared lines get no group stream."""
        with self._lock:
            if line.key in self._readers or self.stopped.is_set():
                return
            health = self._health.setdefault(line.key, LineHealth(phone=line.phone))
            readers = []
            for name in self.options.families:
                if name == GROUPS and line.shared:
                    continue
                ledger = self._ledger(cursor_key(line.key, name))
                readers.append(StreamReader(self, line, family(name), ledger, health))
            self._readers[line.key] = readers
        for reader in readers:
            reader.thread.start()

    def _ledger(self, key: str) -> Ledger:
        ledger = self._ledgers.get(key)
        if ledger is None:
            ledger = self._ledgers[key] = Ledger(key, self.committer)
        return ledger

    def load_cursor(self, ledger: Ledger) -> int | None:
        """The stored cursor of a stream, read once per engine (by its reader's thread, so
        that a failing store delays that stream, with retries, and nothing else)."""
        if not ledger.loaded:
            ledger.load(self.store.get_cursor(ledger.key))
        return ledger.committed

    def remove_line(self, key: str) -> None:
        """Stop reading a line (its cursors stay in the store); does not wait."""
        with self._lock:
            readers = self._readers.pop(key, [])
            self._health.pop(key, None)
            self._retired.extend(readers)  # joined by stop()
        for reader in readers:
            reader.stop()

    # -- used by readers ---------------------------------------------------------------

    def put(self, reader: StreamReader, seq: int, payload: Any, ack: Ack) -> None:
        """Queue an event for the consumer; waits while the queue is full (backpressure: a
        slow consumer slows reading, memory stays bounded; the wait is no network stall)."""
        queue_ = self.queue
        while queue_.qsize() >= self._bound:
            if reader.stopped.wait(0.002):
                return
            reader.last_frame = time.monotonic()
        queue_.put(Delivery(reader, seq, payload, ack))

    def force_refresh(self) -> None:
        credentials: Credentials | None = self.invoker.credentials
        if credentials is not None:
            credentials.force_refresh()  # rate-limited by the credentials

    def token_generation(self) -> float:
        credentials = self.invoker.credentials
        return 0.0 if credentials is None else credentials.generation

    def token_rejected(self, generation: float) -> None:
        """A stream was refused with UNAUTHENTICATED: the next opening fetches a new token."""
        credentials = self.invoker.credentials
        if credentials is not None:
            credentials.reject(generation)

    def _watch(self) -> None:
        now = time.monotonic()
        with self._lock:
            readers = [r for rs in self._readers.values() for r in rs]
        for reader in readers:
            reader.stall_check(now)

    # -- consumer side -----------------------------------------------------------------

    def get(self, timeout: float) -> Delivery | None:
        """The next event, or None after ``timeout`` s."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def _stamp_last_frames(self, report: dict[str, LineHealth]) -> None:
        """Readers keep monotonic times of their last frame; health shows wall-clock time."""
        offset = time.time() - time.monotonic()
        for key, readers in self._readers.items():
            seen = [r.last_seen for r in readers if r.last_seen is not None]
            if seen and key in report:
                report[key].last_frame_at = max(seen) + offset

    def health(self) -> dict[str, LineHealth]:
        """Copies of each line's health, by line key."""
        store_error = self.committer.last_error
        with self._lock:
            report = {key: h.copy() for key, h in self._health.items()}
            self._stamp_last_frames(report)
        for health in report.values():
            if store_error:
                health.store_error = store_error
        return report

    @property
    def threads(self) -> list[threading.Thread]:
        """Threads still alive (diagnostics and tests)."""
        with self._lock:
            found = [r.thread for rs in self._readers.values() for r in rs]
            found += [r.thread for r in self._retired]
        if self._thread is not None:
            found.append(self._thread)
        return [t for t in found if t.is_alive()]
