"""The receive engine: resumable per-line event streams merged into one bounded queue.

Per line and per event family (messages, groups, polls) one reader thread keeps a live
``Subscribe*Events`` stream open and resumes it without gaps (DESIGN.md section 4):

1. open the live stream (gRPC buffers its frames while we are busy);
2. if a cursor is known, replay ``CatchUpEvents(after_sequence=cursor)`` up to ``complete``,
   keeping this family's events; everything up to ``head_sequence`` is now covered. Without a
   cursor the stream starts live; with a persistent store it first drains the catch-up log
   without delivering it, only to learn (and save) the head, so that a restart resumes from
   there even if this stream never saw an event (``history=True`` delivers that backlog);
3. read the live stream, dropping frames already covered. If the first live event jumps past
   what was covered, the subscription may have started after the catch-up captured its head, so
   the catch-up runs once more from the covered point (this closes that race for good);
4. on any break: back off (0.5 s doubling to 30 s, full jitter; reset by a healthy frame) and
   start again at 1. After 5 consecutive failures the token is force-refreshed.

Cursors are kept per (line, family), as the official SDK does: the families share one sequence
space but arrive on separate streams, so a single per-line cursor could skip an event that is
still in flight on a sibling stream. A cursor advances only when the consumer acknowledges the
event (the commit point); acknowledgements may come out of order (worker pools), so each stream
commits the longest fully acknowledged prefix.

This module knows frames, not user-facing models: decoding happens on the consumer side.
"""

from __future__ import annotations

import collections
import logging
import queue
import random
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Protocol

import attrs
import grpc
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync._proto import events_pb2, groups_pb2, messages_pb2, polls_pb2
from spectrum_sync.errors import RoutingError, SpectrumError
from spectrum_sync.state import StateStore

log = logging.getLogger(__name__)

MESSAGES, GROUPS, POLLS = "messages", "groups", "polls"


@attrs.frozen
class Family:
    """One event family: how to subscribe to it and where its payload sits in frames."""

    name: str
    method: str  # the Subscribe* method name
    request: Callable[[], ProtoMessage]
    field: str  # oneof field of the payload, in live frames and in CatchUpEventsResponse


FAMILIES: dict[str, Family] = {
    MESSAGES: Family(MESSAGES, "SubscribeMessageEvents",
                     messages_pb2.SubscribeMessageEventsRequest, "message_changed"),
    GROUPS: Family(GROUPS, "SubscribeGroupEvents",
                   groups_pb2.SubscribeGroupEventsRequest, "group_changed"),
    POLLS: Family(POLLS, "SubscribePollEvents",
                  polls_pb2.SubscribePollEventsRequest, "poll_changed"),
}


class StreamCall(Protocol):
    """A server-streaming call: an iterator of frames that can be cancelled from any thread."""

    def __iter__(self) -> Iterator[Any]: ...

    def __next__(self) -> Any: ...

    def cancel(self) -> bool: ...


class StreamLine(Protocol):
    """What the engine needs of a line (the client's line objects provide it)."""

    @property
    def key(self) -> str:
        """Stable identity, used in cursor keys (the phone number, or ``"shared"``)."""

    @property
    def phone(self) -> str: ...

    @property
    def shared(self) -> bool: ...

    def open_stream(self, method: str, request: ProtoMessage) -> StreamCall:
        """Start a server-streaming call with current credentials and no deadline."""


@attrs.define(eq=False)
class Delivery:
    """One event frame handed to the consumer; ``ack()`` once done with it (commit point)."""

    line: StreamLine
    family: str
    sequence: int
    payload: ProtoMessage  # MessageChangeEvent | GroupChangeEvent | PollChangeEvent
    _ack: Callable[[], None] = attrs.field(repr=False)

    def ack(self) -> None:
        self._ack()


_STATE_ORDER = ("backoff", "starting", "catching-up", "live", "stopped", "idle")


@attrs.define
class LineHealth:
    """Health of one line's receiving, as reported by ``client.health()``.

    ``streams`` holds each family's state: starting, catching-up, live, backoff or stopped
    (``idle`` when the client is not receiving); ``state`` is the worst of them.
    """

    phone: str
    streams: dict[str, str] = attrs.Factory(dict)
    last_frame_at: float | None = None
    reconnects: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    gaps: list[dict[str, Any]] = attrs.Factory(list)

    @property
    def state(self) -> str:
        if not self.streams:
            return "starting"
        return min(self.streams.values(), key=_STATE_ORDER.index)


@attrs.frozen
class ReceiveOptions:
    """Tuning knobs; the defaults follow DESIGN.md section 4."""

    queue_size: int = 1000
    stall_timeout: float = 90.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    refresh_after_failures: int = 5
    dedupe_size: int = 10_000
    families: tuple[str, ...] = (MESSAGES, GROUPS, POLLS)
    #: With no cursor at all: deliver the events the server still holds (True), or start live.
    history: bool = False


class CursorRejected(Exception):
    """The server no longer knows our cursor (INVALID_ARGUMENT on catch-up)."""


class StreamBroken(Exception):
    """A stream ended in a way the protocol does not allow (e.g. catch-up without complete)."""


def cursor_key(line_key: str, family: str) -> str:
    return f"{line_key}/{family}"


class _Commits:
    """Per stream: the acknowledged prefix of what was handed out, written to the store."""

    def __init__(self, store: StateStore, key: str) -> None:
        self._store = store
        self._key = key
        self._pending: collections.deque[list[Any]] = collections.deque()  # [seq, done]
        self._lock = threading.Lock()
        self.committed = store.get_cursor(key)

    def issue(self, sequence: int) -> Callable[[], None]:
        """Register ``sequence`` as handed out (in order); returns its idempotent ack."""
        entry = [sequence, False]
        with self._lock:
            self._pending.append(entry)

        def ack() -> None:
            with self._lock:
                if entry[1]:
                    return
                entry[1] = True
                advanced = None
                while self._pending and self._pending[0][1]:
                    advanced = self._pending.popleft()[0]
                if advanced is None:
                    return
                self.committed = advanced
                # Written under the lock so that two acks cannot store out of order.
                self._store.set_cursors({self._key: advanced})

        return ack

    def reset(self) -> None:
        """Forget the cursor (the server rejected it); the next commit overwrites the stored one."""
        with self._lock:
            self.committed = None


class _Reader:
    """Reads one family of one line until stopped, resuming without gaps."""

    def __init__(self, engine: Receiver, line: StreamLine, family: Family) -> None:
        self.engine = engine
        self.line = line
        self.family = family
        self.commits = engine.commits_for(line, family.name)
        self.health = engine.health_for(line)
        self.stopped = threading.Event()
        self.call: StreamCall | None = None
        self.last_frame = time.monotonic()
        # Highest sequence handed out, or known to hold nothing of ours (catch-up heads).
        self.covered: int | None = self.commits.committed
        self.had_frames = False
        self.thread = threading.Thread(
            target=self._run, name=f"spectrum-recv-{line.phone}-{family.name}", daemon=True
        )

    def _state(self, state: str) -> None:
        self.health.streams[self.family.name] = state

    # -- thread body ---------------------------------------------------------------------

    def _run(self) -> None:
        self._state("starting")
        failures = 0
        while not self.stopped.is_set():
            self.had_frames = False
            try:
                self._session()
            except CursorRejected as exc:
                self._gap(str(exc))
                continue  # go live at once
            except RoutingError:
                break  # the line was detached (token refresh): nothing more to read
            except (grpc.RpcError, StreamBroken, SpectrumError) as exc:
                if self.stopped.is_set():
                    break
                self._note_error(exc)
            except Exception as exc:  # a bug must not end receiving silently
                if self.stopped.is_set():
                    break
                log.exception("receive: %s %s failed", self.line.phone, self.family.name)
                self.health.last_error = type(exc).__name__
            if self.stopped.is_set():
                break
            # A stream that delivered frames was healthy: the cloud resets long streams now
            # and then, which is normal. Only streams that gave nothing count as failures.
            failures = 0 if self.had_frames else failures + 1
            self.health.reconnects += 1
            self.health.consecutive_failures = failures
            if failures and failures % self.engine.options.refresh_after_failures == 0:
                self.engine.on_repeated_failures(self.line)
            self._backoff(failures)
        self._state("stopped")

    def _session(self) -> None:
        """One connection: live stream, catch-up, then live reading until it breaks."""
        call = self.line.open_stream(self.family.method, self.family.request())
        self.call = call
        self.last_frame = time.monotonic()
        try:
            if self.stopped.is_set():
                return
            if self.covered is not None:
                self._state("catching-up")
                self._catch_up(self.covered)
            elif self.engine.options.history:
                self._state("catching-up")
                self._catch_up(None)
            elif self.engine.persistent:
                self._baseline()
            self._state("live")
            unchecked = self.covered is not None
            for frame in call:
                self._frame_seen()
                if frame.WhichOneof("payload") == "heartbeat" or not frame.HasField("sequence"):
                    continue
                seq = frame.sequence
                if unchecked:
                    unchecked = False
                    # The first live event jumps past what the catch-up covered: the
                    # subscription may have begun after the catch-up took its head.
                    covered = self.covered
                    if covered is not None and seq > covered + 1:
                        self._catch_up(covered)
                if self.covered is not None and seq <= self.covered:
                    continue  # replayed by catch-up already, or a re-delivery
                self._hand_out(seq, self._payload(frame))
        finally:
            self.call = None
            call.cancel()

    def _payload(self, frame: Any) -> ProtoMessage | None:
        return getattr(frame, self.family.field) if frame.HasField(self.family.field) else None

    def _replay(self, after: int | None, on_event: Callable[[Any], None]) -> int:
        """Run ``CatchUpEvents`` after ``after`` (None: all the server holds), passing this
        family's frames to ``on_event``; returns the head of the ``complete`` frame."""
        request = events_pb2.CatchUpEventsRequest()
        if after is not None:
            request.after_sequence = after
        replay = self.line.open_stream("CatchUpEvents", request)
        live, self.call = self.call, replay
        try:
            for frame in replay:
                self._frame_seen()
                which = frame.WhichOneof("payload")
                if which == "complete":
                    return int(frame.complete.head_sequence)
                if which == self.family.field and frame.HasField("sequence"):
                    on_event(frame)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise CursorRejected(f"cursor {after} rejected: {exc.details()}") from None
            raise
        finally:
            self.call = live
            replay.cancel()
        raise StreamBroken("catch-up ended without its complete frame")

    def _catch_up(self, after: int | None) -> None:
        """Hand out this family's events after ``after``; then all to the head is covered."""

        def deliver(frame: Any) -> None:
            if self.covered is None or frame.sequence > self.covered:
                self._hand_out(frame.sequence, self._payload(frame))

        head = self._replay(after, deliver)
        if self.covered is None or head > self.covered:
            # Nothing more of ours up to the head: commit it once what came before is
            # consumed, so that an idle family does not replay its history forever.
            self._hand_out(head, None, marker=True)

    def _baseline(self) -> None:
        """First start with a persistent store: save the server's head as the cursor without
        delivering history, so that a restart resumes from here. Live filtering is left
        alone: events that arrive while this runs still come through the live stream."""
        head = self._replay(None, lambda frame: None)
        self.commits.issue(head)()

    def _hand_out(
        self, seq: int, payload: ProtoMessage | None, marker: bool = False
    ) -> None:
        self.covered = seq
        ack = self.commits.issue(seq)
        if payload is None and not marker:
            # An event kind this version does not know: skip it, but commit past it.
            log.warning("receive: skipping an event of unknown kind at %s/%s seq %d",
                        self.line.phone, self.family.name, seq)
        if payload is None or self.engine.seen_before(self.line, self.family.name, payload):
            # Nothing for the consumer. Acknowledging now is safe: the cursor only moves over
            # the acknowledged prefix, so it cannot pass an event still waiting to be consumed.
            ack()
        else:
            self.engine.put(Delivery(self.line, self.family.name, seq, payload, ack), self)

    # -- helpers -------------------------------------------------------------------------

    def _frame_seen(self) -> None:
        self.last_frame = time.monotonic()
        self.health.last_frame_at = time.time()
        self.had_frames = True
        self.health.consecutive_failures = 0

    def _note_error(self, exc: Exception) -> None:
        code = exc.code() if isinstance(exc, grpc.RpcError) and hasattr(exc, "code") else None
        if isinstance(code, grpc.StatusCode):
            name = code.name
        elif isinstance(exc, SpectrumError):
            name = exc.code
        else:
            name = type(exc).__name__
        self.health.last_error = name
        log.info("receive: %s %s stream ended (%s); reconnecting",
                 self.line.phone, self.family.name, name)

    def _gap(self, why: str) -> None:
        log.warning("receive: %s %s: %s; events may have been missed, going live",
                    self.line.phone, self.family.name, why)
        self.health.gaps.append({"family": self.family.name, "cursor": self.covered,
                                 "at": time.time(), "reason": why})
        self.engine.on_gap(self.line, self.family.name, why)
        self.commits.reset()
        self.covered = None

    def _backoff(self, failures: int) -> None:
        if failures == 0:
            return
        self._state("backoff")
        opts = self.engine.options
        cap = min(opts.backoff_max, opts.backoff_initial * (2 ** (failures - 1)))
        self.stopped.wait(random.uniform(cap / 2, cap))

    def stall_check(self, now: float) -> None:
        """Cancel the call when no frame (heartbeats included) came for too long."""
        call = self.call
        if call is not None and now - self.last_frame > self.engine.options.stall_timeout:
            log.info("receive: %s %s stalled; reconnecting", self.line.phone, self.family.name)
            self.last_frame = now
            call.cancel()

    def stop(self) -> None:
        self.stopped.set()
        call = self.call
        if call is not None:
            call.cancel()


class Receiver:
    """Readers for a set of lines, one bounded queue, a stall watchdog, health and dedupe."""

    def __init__(
        self,
        store: StateStore,
        options: ReceiveOptions = ReceiveOptions(),
        *,
        persistent: bool = False,
        on_repeated_failures: Callable[[StreamLine], None] = lambda line: None,
        on_gap: Callable[[StreamLine, str, str], None] = lambda line, family, why: None,
    ) -> None:
        self.store = store
        self.options = options
        self.persistent = persistent  # cursors outlive the process: learn a baseline
        self.queue: queue.Queue[Delivery] = queue.Queue(options.queue_size)
        self._on_repeated_failures = on_repeated_failures
        self._on_gap = on_gap
        self._readers: dict[str, list[_Reader]] = {}
        self._commits: dict[str, _Commits] = {}
        self._health: dict[str, LineHealth] = {}
        self._seen: collections.OrderedDict[tuple[str, str, bytes], None] = (
            collections.OrderedDict()
        )
        self._lock = threading.RLock()  # readers are built under it and look up their state
        self._stopped = threading.Event()
        self._watchdog: threading.Thread | None = None

    # -- lines ---------------------------------------------------------------------------

    def add_line(self, line: StreamLine) -> None:
        """Start reading a line (idempotent); shared lines get no group stream."""
        with self._lock:
            if line.key in self._readers or self._stopped.is_set():
                return
            families = [FAMILIES[f] for f in self.options.families
                        if not (f == GROUPS and line.shared)]
            readers = [_Reader(self, line, family) for family in families]
            self._readers[line.key] = readers
            if self._watchdog is None:
                self._watchdog = threading.Thread(
                    target=self._watch, name="spectrum-recv-watchdog", daemon=True
                )
                self._watchdog.start()
        for reader in readers:
            reader.thread.start()

    def remove_line(self, key: str, timeout: float = 2.0) -> None:
        """Stop reading a line (its cursors stay in the store)."""
        with self._lock:
            readers = self._readers.pop(key, [])
        with self._lock:
            self._health.pop(key, None)
        self._stop_readers(readers, timeout)

    def sync_lines(self, lines: Iterable[StreamLine]) -> None:
        """Make the set of read lines equal ``lines`` (after a token refresh reconcile)."""
        wanted = {line.key: line for line in lines}
        for key in [k for k in list(self._readers) if k not in wanted]:
            self.remove_line(key)
        for line in wanted.values():
            self.add_line(line)

    @property
    def line_keys(self) -> list[str]:
        with self._lock:
            return list(self._readers)

    # -- consumer side -------------------------------------------------------------------

    def get(self, timeout: float) -> Delivery | None:
        """The next event, or ``None`` after ``timeout`` s."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def health(self) -> dict[str, LineHealth]:
        with self._lock:
            # Copies: reader threads keep updating the originals.
            return {key: attrs.evolve(h, streams=dict(h.streams), gaps=list(h.gaps))
                    for key, h in self._health.items()}

    def stop(self, timeout: float = 2.0) -> None:
        """Stop every reader and the watchdog; returns within about ``timeout`` s."""
        self._stopped.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            readers = [r for rs in self._readers.values() for r in rs]
            self._readers.clear()
        self._stop_readers(readers, timeout)
        if self._watchdog is not None:
            self._watchdog.join(max(0.0, deadline - time.monotonic()))

    @staticmethod
    def _stop_readers(readers: list[_Reader], timeout: float) -> None:
        for reader in readers:
            reader.stop()
        deadline = time.monotonic() + timeout
        current = threading.current_thread()
        for reader in readers:
            # A reader may be the caller (a forced refresh it triggered removed its line).
            if reader.thread is not current:
                reader.thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def threads(self) -> list[threading.Thread]:
        """Threads still alive (for tests and diagnostics)."""
        with self._lock:
            found = [r.thread for rs in self._readers.values() for r in rs]
        if self._watchdog is not None:
            found.append(self._watchdog)
        return [t for t in found if t.is_alive()]

    # -- used by readers -----------------------------------------------------------------

    def commits_for(self, line: StreamLine, family: str) -> _Commits:
        key = cursor_key(line.key, family)
        with self._lock:
            commits = self._commits.get(key)
            if commits is None:
                commits = self._commits[key] = _Commits(self.store, key)
            return commits

    def health_for(self, line: StreamLine) -> LineHealth:
        with self._lock:
            health = self._health.get(line.key)
            if health is None:
                health = self._health[line.key] = LineHealth(phone=line.phone)
            return health

    def put(self, item: Delivery, reader: _Reader) -> None:
        """Queue an event for the consumer; blocks while the queue is full.

        Blocking is the backpressure: a slow consumer slows reading and memory stays bounded.
        Time spent waiting here is not a network stall.
        """
        while not reader.stopped.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                reader.last_frame = time.monotonic()

    def seen_before(self, line: StreamLine, family: str, payload: ProtoMessage) -> bool:
        """True when this exact change was already delivered (at-least-once servers)."""
        ident = (line.key, family, payload.SerializeToString(deterministic=True))
        with self._lock:
            if ident in self._seen:
                return True
            self._seen[ident] = None
            if len(self._seen) > self.options.dedupe_size:
                self._seen.popitem(last=False)
            return False

    def on_repeated_failures(self, line: StreamLine) -> None:
        try:
            self._on_repeated_failures(line)
        except Exception:
            log.exception("receive: forced refresh failed")

    def on_gap(self, line: StreamLine, family: str, why: str) -> None:
        try:
            self._on_gap(line, family, why)
        except Exception:
            log.exception("receive: gap handler failed")

    def _watch(self) -> None:
        interval = max(0.05, min(1.0, self.options.stall_timeout / 4))
        while not self._stopped.wait(interval):
            now = time.monotonic()
            with self._lock:
                readers = [r for rs in self._readers.values() for r in rs]
            for reader in readers:
                reader.stall_check(now)


def stored_cursors(store: StateStore, lines: Mapping[str, StreamLine]) -> dict[str, int]:
    """The cursors stored for ``lines``, by cursor key (diagnostics and tests)."""
    found = {}
    for key in lines:
        for family in FAMILIES:
            value = store.get_cursor(cursor_key(key, family))
            if value is not None:
                found[cursor_key(key, family)] = value
    return found
