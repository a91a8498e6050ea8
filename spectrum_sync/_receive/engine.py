"""The receive engine: the one set of readers of a client, merged into one bounded queue.

Owned by the client's :class:`~.receiving.Receiving` component and alive while a consumer
receives. What it reads comes from a :class:`Feed`: the cloud feed (``cloud_feed.py``) gives
a :class:`~.reader.StreamReader` per line and event family and follows the line set as lines
come and go; the local feed gives one reader of Messages' chat.db. The engine keeps the
readers by source (a line), a bounded queue between them and the consumer (a slow consumer
slows reading, memory stays flat), the ledgers with their committer, the stall watchdog and
health. Threads: the readers, plus one ``spectrum-recv-commit`` thread that writes cursor
batches and runs the watchdog.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from .._state.base import StateStore
from .health import LineHealth
from .ledger import Ack, Committer, Fence, Ledger
from .options import ReceiveOptions

__all__ = ["Delivery", "Feed", "Reader", "ReceiveEngine", "Tenure"]

log = logging.getLogger("spectrum_sync.receive")

if TYPE_CHECKING:
    from .._events import Event
    from .._models import Space

    #: payload, space, sequence, ack -> the public event (None: a kind this version lacks)
    Decoder = Callable[[Any, Space, int, Ack], Event | None]


class InFlight:
    """Events of one reader taken by the consumer and not yet acknowledged.

    ``take``/``done`` run for every event, ``wait_idle`` only when a line is handed to
    another receiver: a plain lock and a counter, and an ``Event`` made only for a waiter."""

    __slots__ = ("_count", "_idle", "_lock")

    def __init__(self) -> None:
        self._count = 0
        self._idle: threading.Event | None = None
        self._lock = threading.Lock()

    def take(self) -> None:
        with self._lock:
            self._count += 1

    def done(self) -> None:
        with self._lock:
            self._count -= 1
            idle = self._idle if self._count <= 0 else None
        if idle is not None:
            idle.set()

    def wait_idle(self, timeout: float) -> bool:
        with self._lock:
            if self._count <= 0:
                return True
            if self._idle is None or self._idle.is_set():
                self._idle = threading.Event()
            idle = self._idle
        return idle.wait(timeout)


class Reader(Protocol):
    """One reading thread of a source (a stream of a line, chat.db)."""

    thread: threading.Thread
    in_flight: InFlight
    stopped: threading.Event
    covered: int | None  # where it stands: None until it knows where it starts
    last_frame: float  # time.monotonic() of its last sign of life (the stall watchdog)
    last_seen: float | None  # time.monotonic() of its last frame (health)
    phone: str  # the line its events belong to
    family_name: str
    decode: Decoder  # payload, space, sequence, ack -> a public event (or None)

    def stop(self) -> None: ...

    def stall_check(self, now: float) -> None: ...


class Tenure(Protocol):
    """The right to hand out a source's events (a line's lease held by this process, see
    ``leases.py``) from ``since`` (``time.monotonic()``); it may lapse while events read
    under it wait in the queue."""

    since: float

    def valid(self) -> bool: ...


class Feed(Protocol):
    """Where an engine's readers come from."""

    @property
    def fence(self) -> Fence | None:
        """What fences the commits of its sources' cursors (None: no other process reads
        them)."""

    def start(self, engine: ReceiveEngine) -> None:
        """Add the readers of every current source, and keep following the sources."""

    def stop(self) -> None:
        """Stop following the sources (the engine stops the readers)."""

    def finish(self) -> None:
        """After the last cursors were written (e.g. give leases up)."""


class Delivery:
    """One event handed to the consumer. The consumer calls ``take()`` when it starts on
    it and ``settle()`` once done with it (the commit point)."""

    __slots__ = ("ack", "payload", "reader", "sequence", "state", "tenure")

    def __init__(self, reader: Reader, sequence: int, payload: Any, ack: Ack,
                 tenure: Tenure | None = None) -> None:
        self.reader = reader
        self.sequence = sequence
        self.payload = payload
        self.ack = ack
        self.tenure = tenure
        self.state = 0  # 0 queued, 1 taken, 2 settled

    @property
    def stale(self) -> bool:
        """Its reader was stopped (the line went to another receiver, or away), or the lease
        it was read under lapsed (a pause, a store stall: another receiver may have the line
        by now): leave it unacknowledged, so that whoever reads the line next delivers it."""
        tenure = self.tenure
        return self.reader.stopped.is_set() or (tenure is not None and not tenure.valid())

    def take(self) -> None:
        self.state = 1
        self.reader.in_flight.take()

    def settle(self) -> None:
        """Done with this event (idempotent): the cursor may move past it."""
        state = self.state
        if state == 2:
            return
        self.state = 2
        if state == 1:
            self.reader.in_flight.done()
        self.ack()

    @property
    def phone(self) -> str:
        return self.reader.phone

    @property
    def family(self) -> str:
        return self.reader.family_name


class ReceiveEngine:
    """See the module docstring. ``start()`` once, ``stop()`` once."""

    def __init__(
        self,
        feed: Feed,
        store: StateStore,
        options: ReceiveOptions,
        *,
        on_store_error: Callable[[BaseException], None] = lambda exc: None,
    ) -> None:
        self.feed = feed
        self.store = store
        self.options = options
        # A C-implemented queue: put and get cost well under a microsecond. The bound is kept
        # by the readers (they wait while it is full), which only costs when the consumer is
        # slower than the sources anyway.
        # ``None`` in it is a wake-up (see ``wake``), which consumers read as "nothing came".
        self.queue: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()
        self._bound = options.queue_size
        self.committer = Committer(store, options.commit_interval, on_store_error,
                                   feed.fence)
        self._readers: dict[str, list[Reader]] = {}
        self._tenures: dict[Reader, Tenure] = {}  # readers of leased lines only
        self._retired: list[Reader] = []
        self._ledgers: dict[str, Ledger] = {}
        self._parked: dict[str, int] = {}  # positions of streams of lines dropped for now
        self._source_ledgers: dict[str, list[str]] = {}
        self._health: dict[str, LineHealth] = {}
        self._lock = threading.Lock()
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the feed's readers and the committer thread."""
        self.feed.start(self)
        tick = max(0.05, min(1.0, self.options.stall_timeout / 4))
        self._thread = threading.Thread(
            target=self.committer.run_until_stopped, args=(self.stopped, self._watch, tick),
            name="spectrum-recv-commit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every reader, write the last cursors; returns within about ``timeout`` s."""
        deadline = time.monotonic() + timeout
        self.feed.stop()
        with self._lock:
            self._stamp_last_frames(self._health)  # kept for health() after the loop
            readers = [r for rs in self._readers.values() for r in rs] + self._retired
            self._readers.clear()
            self._retired = []
        self.stopped.set()
        self.wake()  # a consumer waiting for an event sees the stop now
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
        self.feed.finish()

    def wait_until_anchored(self, timeout: float) -> bool:
        """Wait (bounded) until every reader knows where it starts (its stored cursor, or
        the source's head for a new client), so that whatever happens after this returns
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

    # -- sources (used by feeds) ---------------------------------------------------------

    def has_source(self, key: str) -> bool:
        with self._lock:
            return key in self._readers

    def health_for(self, key: str, phone: str) -> LineHealth:
        """The health record of a source (created on first use)."""
        with self._lock:
            return self._health.setdefault(key, LineHealth(phone=phone))

    def ledger(self, name: str, source: str) -> Ledger:
        """The ledger of one cursor of a source (created on first use, loaded from the store
        by its reader; a source read again after a pause loads it afresh, and a parked one
        starts from its own position when that is further on, its commit still due)."""
        with self._lock:
            found = self._ledgers.get(name)
            if found is not None:
                return found
            found = self._ledgers[name] = Ledger(name, self.committer)
            self._source_ledgers.setdefault(source, []).append(name)
            found.committed = self._parked.pop(name, None)
        if found.committed is not None:
            self.committer.mark(found)  # written under the new lease's token...
            self.committer.wake()  # ...now, not after a back-off from the outage
        return found

    def load_cursor(self, ledger: Ledger) -> int | None:
        """The stored cursor of a stream, read once per engine (by its reader's thread, so
        that a failing store delays that stream, with retries, and nothing else); for a
        parked ledger, the further of the stored cursor and its own position."""
        if not ledger.loaded:
            ledger.load(self.store.get_cursor(ledger.key))
        return ledger.committed

    def add_readers(self, key: str, readers: list[Reader],
                    tenure: Tenure | None = None) -> None:
        """Start the readers of a source (ignored when the source is read already); their
        events are handed out only while ``tenure`` (if any) is valid."""
        with self._lock:
            if key in self._readers or self.stopped.is_set():
                return
            self._readers[key] = readers
            if tenure is not None:
                for reader in readers:
                    self._tenures[reader] = tenure
        for reader in readers:
            reader.thread.start()

    def remove_readers(self, key: str, *, settle_within: float = 0.0,
                       park: bool = False) -> None:
        """Stop reading a source (its cursors stay in the store). With ``settle_within``,
        wait (bounded) for its events being handled right now and write their cursors, so
        that the next reader of the source starts where this one stopped. With ``park``
        (a leased line), its ledgers keep their position and unwritten commits for when
        this process reads the source again."""
        with self._lock:
            readers = self._readers.pop(key, [])
            self._health.pop(key, None)
            self._retired.extend(readers)  # joined by stop()
            for reader in readers:
                self._tenures.pop(reader, None)
        for reader in readers:
            reader.stop()
        if settle_within > 0 and readers:
            deadline = time.monotonic() + settle_within
            for reader in readers:
                reader.in_flight.wait_idle(max(0.0, deadline - time.monotonic()))
            self.flush()
        with self._lock:
            ledgers = [self._ledgers.pop(name) for name in self._source_ledgers.pop(key, [])
                       if name in self._ledgers]
        for ledger in ledgers:
            ledger.retire()  # the next reader of this source starts from the store...
            if park and ledger.committed is not None:
                with self._lock:  # ...or from here, if further on (see ``ledger``)
                    self._parked[ledger.key] = ledger.committed

    # -- used by readers ---------------------------------------------------------------

    def put(self, reader: Reader, seq: int, payload: Any, ack: Ack) -> None:
        """Queue an event for the consumer; waits while the queue is full (backpressure: a
        slow consumer slows reading, memory stays bounded; the wait is no network stall)."""
        queue_ = self.queue
        while queue_.qsize() >= self._bound:
            if reader.stopped.wait(0.002):
                return
            reader.last_frame = time.monotonic()  # waiting on the consumer is no stall
        tenure = self._tenures.get(reader)
        if tenure is not None:
            # A lease taken from a store that lost its data: wait until it may be used.
            while time.monotonic() < tenure.since:
                if reader.stopped.wait(min(0.05, tenure.since - time.monotonic())):
                    return
                reader.last_frame = time.monotonic()
        queue_.put(Delivery(reader, seq, payload, ack, tenure))

    def _watch(self) -> None:
        now = time.monotonic()
        with self._lock:
            readers = [r for rs in self._readers.values() for r in rs]
        for reader in readers:
            reader.stall_check(now)

    # -- consumer side -----------------------------------------------------------------

    def wake(self) -> None:
        """Wake a consumer waiting in :meth:`get` (it returns None), so that it looks at its
        stop flags now rather than after its poll interval."""
        self.queue.put(None)

    def get(self, timeout: float) -> Delivery | None:
        """The next event, or None after ``timeout`` s (or when woken)."""
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
        """Copies of each source's health, by source key."""
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
