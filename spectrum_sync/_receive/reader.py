"""One resumable stream: a line's events of one family, without gaps (docs/behaviour.md).

Each :class:`StreamReader` runs in its own thread (``spectrum-recv-<phone>-<family>``) and
repeats sessions until stopped. A session:

1. without any cursor (a new client), learn the server's head first: drain
   ``CatchUpEvents`` without delivering anything and take its ``complete`` head as the
   cursor. From then on this reader always has a cursor, so a break before the first event
   loses nothing;
2. open the live ``Subscribe*Events`` stream (gRPC buffers its frames while we are busy) and
   wait until the server confirms the subscription (response headers, or the first frame);
3. replay ``CatchUpEvents(after_sequence=cursor)`` up to ``complete``, handing out this
   family's events: what happened while we were away. The replay starts after the
   subscription was confirmed, so every event after its head is on the live stream (with
   ``history=True`` and no cursor, the replay delivers everything the server holds). Only
   now is the stream ``live``;
4. read live frames, dropping those already covered; on any break back off (0.5 s doubling
   to 30 s, jittered, reset by a healthy session) and start again at 2. Every 5 consecutive
   failures force a token refresh, and so does an UNAUTHENTICATED answer at once.

The catch-ups of 1 and 3 are shared by the line's families that get there together, and
take one of the client's catch-up slots (``heads.py``): a line makes at most two at start.

A cursor the server rejects (INVALID_ARGUMENT: too old, or ahead of a restarted server) is a
gap: logged and reported in health. The reader then starts over at 2 and its replay delivers
everything the server still holds, so that only the events the server no longer has are
missed (starting at the head would skip those it still has).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

import grpc
from google.protobuf.message import Message as ProtoMessage

from .._backoff import jittered
from .._errors import ClientClosed, RoutingError, SpectrumError
from .._logfields import fields
from .._transport.lines import LineConnection
from .._wire.events import decoder_for
from .engine import InFlight
from .heads import HEAD, IDLE, NEEDS_HEAD, REPLAY, STARTING, SUBSCRIBING, CatchUpRounds
from .health import LineHealth
from .ledger import Ledger
from .options import Family

if TYPE_CHECKING:
    from .engine import Decoder, ReceiveEngine

__all__ = ["CursorRejected", "StreamPort", "StreamReader"]

log = logging.getLogger("spectrum_sync.receive")


class CursorRejected(Exception):
    """The server no longer knows our cursor (INVALID_ARGUMENT on catch-up)."""

    def __init__(self, message: str, after: int | None) -> None:
        super().__init__(message)
        self.after = after


class StreamBroken(Exception):
    """A stream ended in a way the protocol does not allow (catch-up without complete)."""


class StreamPort(Protocol):
    """What a reader needs from whoever opens its streams (the cloud feed): the streams
    themselves, the catch-up rounds it shares with its line's other families, and the
    token state (a refused stream asks for a new token)."""

    rounds: CatchUpRounds[Any]

    def open_stream(self, line: LineConnection, request: Any) -> Any:
        """Open a server stream (live subscription or catch-up) on ``line``."""

    def force_refresh(self) -> None:
        """Fetch a new token soon (rate-limited): repeated failures may be a stale one."""

    def token_generation(self) -> float:
        """The generation of the token the next stream opens with."""

    def token_rejected(self, generation: float) -> None:
        """A stream opened with the token of ``generation`` was refused UNAUTHENTICATED."""

    def token_accepted(self, generation: float) -> None:
        """The server took a subscription opened with the token of ``generation``."""


class StreamReader:
    """Reads one family of one line until stopped; see the module docstring."""

    def __init__(self, engine: ReceiveEngine, port: StreamPort, line: LineConnection,
                 family: Family, ledger: Ledger, health: LineHealth) -> None:
        self.engine = engine
        self.port = port
        self.line = line
        self.family = family
        self.phone = line.phone
        self.family_name = family.name
        self.decode: Decoder = decoder_for(family.field)
        self.ledger = ledger
        self.health = health
        self.stopped = threading.Event()
        self.in_flight = InFlight()
        self.call: Any = None  # the call being read (cancelled by stop() and the watchdog)
        # The call whose response headers this thread waits for, if any (see _cancel).
        self._awaiting_headers: Any = None
        self._cancel_lock = threading.Lock()
        self.last_frame = time.monotonic()  # for the stall watchdog
        self.last_seen: float | None = None  # when a frame last arrived (health)
        # Recently handed-out sequences (keys only, bounded): a redelivered frame is dropped.
        self._seen: set[int] = set()
        self._seen_order: collections.deque[int] = collections.deque()
        self._dedupe_size = engine.options.dedupe_size
        #: Highest sequence handed out, or known to hold nothing of ours (catch-up heads).
        self.covered: int | None = ledger.committed if ledger.loaded else None
        self.had_frames = False
        self._after_gap = False  # the next replay delivers all the server holds
        self.thread = threading.Thread(
            target=self._run, name=f"spectrum-recv-{line.phone}-{family.name}", daemon=True)

    def _state(self, state: str) -> None:
        self.health.streams[self.family.name] = state

    # -- thread body -------------------------------------------------------------------

    def _run(self) -> None:
        self._state("starting")
        failures = 0
        options = self.engine.options
        while not self.stopped.is_set():
            self.had_frames = False
            generation = self.port.token_generation()
            try:
                self._session(generation)
            except CursorRejected as exc:
                self._gap(str(exc))
                continue  # start over at once, replaying all the server holds
            except (RoutingError, ClientClosed):
                break  # the line was detached or the client closed: nothing more to read
            except (grpc.RpcError, StreamBroken, SpectrumError) as exc:
                if self.stopped.is_set():
                    break
                self._note_error(exc)
                if isinstance(exc, grpc.Call) and exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    # The server forgot or revoked our token (a restart, a secret rotation):
                    # get a new one before reconnecting rather than after five failures.
                    self.port.token_rejected(generation)
            except Exception as exc:  # a bug must not end receiving silently
                if self.stopped.is_set():
                    break
                log.exception("receive: %s %s failed", self.line.phone, self.family.name,
                              extra=fields(line=self.line.phone, family=self.family.name))
                self.health.last_error = type(exc).__name__
            if self.stopped.is_set():
                break
            # A stream that delivered frames was healthy: the cloud resets long streams now
            # and then, which is normal. Only sessions that gave nothing count as failures.
            failures = 0 if self.had_frames else failures + 1
            self.health.reconnects += 1
            self.health.consecutive_failures = failures
            if failures and failures % options.refresh_after_failures == 0:
                self.port.force_refresh()
            if failures:
                self._state("backoff")
                self.stopped.wait(jittered(failures - 1, options.backoff_initial,
                                           options.backoff_max, floor=0.5))
        self._state("stopped")

    def _session(self, generation: float) -> None:
        """One connection: head, live stream, one replay, then live reading until it
        breaks. ``generation``: the token's, as the stream opens."""
        self.last_frame = time.monotonic()
        rounds, key = self.port.rounds, self.line.key
        rounds.phase(key, self, STARTING)
        try:
            if not self.ledger.loaded:
                self.covered = self.engine.load_cursor(self.ledger)
            if self.covered is None and not (self.engine.options.history or self._after_gap):
                self._state("starting")
                rounds.phase(key, self, NEEDS_HEAD)
                # The head only, from one drain for the line's families starting together.
                head = rounds.share(key, HEAD, self, lambda _: self._replay(None, None),
                                    self.stopped)
                self._hand_out(head, None)
            rounds.phase(key, self, SUBSCRIBING)
            call = self.port.open_stream(self.line, self.family.request())
            self._use(call)
            try:
                if self.stopped.is_set():
                    return
                self._state("subscribing")
                self._await_headers(call)  # returns once the server holds the subscription
                self.port.token_accepted(generation)
                if self.stopped.is_set():
                    return
                self._state("catching-up")
                self._replay_together()
                self._after_gap = False
                rounds.phase(key, self, IDLE)
                self._state("live")
                self._read_live(call)
            finally:
                self.call = None
                call.cancel()
        finally:
            rounds.phase(key, self, IDLE)

    def _replay_together(self) -> None:
        """Step 3: one replay for the line's families confirmed together."""
        while True:
            try:
                self.port.rounds.share(self.line.key, REPLAY, self, _replay_for,
                                       self.stopped)
                return
            except CursorRejected as exc:
                if exc.after == self.covered:
                    raise
                # Another family's older cursor spoiled the shared replay: again, anew.

    def _read_live(self, call: Any) -> None:
        # The hot loop of receiving: attribute lookups hoisted, one WhichOneof per frame.
        field = self.family.field
        hand_out = self._hand_out
        monotonic = time.monotonic
        first, checked = True, False
        for frame in call:
            self.last_frame = self.last_seen = monotonic()
            if first:
                first = False  # a live frame, heartbeats included: this stream is healthy
                self.had_frames = True
                self.health.consecutive_failures = 0
            which = frame.WhichOneof("payload")
            if which == "heartbeat" or not frame.HasField("sequence"):
                continue
            if not checked:
                checked = True
                covered = self.covered
                # Belt and braces: a first live event that jumps past what the replays
                # covered means the subscription began later than its headers said.
                if covered is not None and frame.sequence > covered + 1:
                    self._catch_up(covered)
            seq = frame.sequence
            covered = self.covered
            if covered is not None and seq <= covered:
                continue  # replayed already, or a redelivery
            hand_out(seq, getattr(frame, field) if which == field else None)

    def _replay(self, after: int | None, on_event: Callable[[Any, str], None] | None) -> int:
        """Run ``CatchUpEvents`` after ``after`` (None: everything the server holds), passing
        every event frame and its payload field to ``on_event``; returns the head of the
        ``complete`` frame. The caller holds a catch-up slot."""
        from .._proto import events_pb2

        request = events_pb2.CatchUpEventsRequest()
        if after is not None:
            request.after_sequence = after
        replay = self.port.open_stream(self.line, request)
        live = self.call
        self._use(replay)
        try:
            for frame in replay:
                self._frame_seen(live=False)
                which = frame.WhichOneof("payload")
                if which == "complete":
                    return int(frame.complete.head_sequence)
                if on_event is not None and which is not None and frame.HasField("sequence"):
                    on_event(frame, which)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:  # type: ignore[attr-defined]
                raise CursorRejected(
                    f"cursor {after} rejected: {exc.details()}",  # type: ignore[attr-defined]
                    after) from None
            raise
        finally:
            self._use(live)
            replay.cancel()
        raise StreamBroken("catch-up ended without its complete frame")

    def _catch_up(self, after: int | None) -> None:
        """This family alone: hand out its events after ``after`` (in a slot of its own)."""
        with self.port.rounds.slot(self.stopped):
            _replay_for([self], after)

    def _take(self, frame: Any, which: str) -> None:
        """A replayed frame: handed out if it is of this family and not covered yet."""
        if which == self.family.field and (self.covered is None or frame.sequence > self.covered):
            self.health.replayed += 1
            self._hand_out(frame.sequence, getattr(frame, which))

    def _covered_to(self, head: int) -> None:
        if self.covered is None or head > self.covered:
            # Nothing more of ours up to the head: commit it once what came before is
            # consumed, so that an idle family does not replay its history forever.
            self._hand_out(head, None)

    def _hand_out(self, seq: int, payload: ProtoMessage | None) -> None:
        """Register ``seq`` in the ledger and queue the event (``None``: a marker that only
        moves the cursor, or an event of a kind this version does not know)."""
        self.covered = seq
        ack = self.ledger.issue(seq)
        # A sequence handed out recently is a redelivery (sequences are unique per line, and
        # this reader is its line's only reader of its family): remembered here, bounded.
        seen = self._seen
        if payload is None or seq in seen:
            # Nothing for the consumer. Acknowledging now is safe: the cursor only moves over
            # the acknowledged prefix, so it cannot pass an event still waiting in the queue.
            ack()
            return
        seen.add(seq)
        order = self._seen_order
        order.append(seq)
        if len(order) > self._dedupe_size:
            seen.discard(order.popleft())
        self.engine.put(self, seq, payload, ack)

    # -- helpers -----------------------------------------------------------------------

    def _frame_seen(self, live: bool = True) -> None:
        self.last_frame = self.last_seen = time.monotonic()
        if live and not self.had_frames:  # replays prove nothing about the live stream
            self.had_frames = True
            self.health.consecutive_failures = 0

    def _note_error(self, exc: BaseException) -> None:
        code = exc.code() if isinstance(exc, grpc.Call) else None
        if isinstance(code, grpc.StatusCode):
            name = code.name
        elif isinstance(exc, SpectrumError):
            name = exc.code
        else:
            name = type(exc).__name__
        self.health.last_error = name
        log.info("receive: %s %s stream ended (%s); reconnecting", self.line.phone,
                 self.family.name, name,
                 extra=fields(line=self.line.phone, family=self.family.name, code=name))

    def _gap(self, why: str) -> None:
        """The server rejected the cursor: note the gap and start over."""
        self._note_gap(why)
        self.ledger.reset()
        self.covered = None
        self._after_gap = True

    def _note_gap(self, why: str) -> None:
        """Log and record (``health().gaps``) that events after the cursor may be lost."""
        log.warning("receive: %s %s: %s; events may have been missed: replaying what the "
                    "server still holds",
                    self.line.phone, self.family.name, why,
                    extra=fields(line=self.line.phone, family=self.family.name,
                                 sequence=self.covered))
        self.health.gaps.append({"family": self.family.name, "cursor": self.covered,
                                 "at": time.time(), "reason": why})

    def _use(self, call: Any) -> None:
        """Make ``call`` the one stop() cancels. stop() may run between any two lines of
        this thread: a call taken up after it must be cancelled here, or the thread would
        go on reading a stream nobody will cancel."""
        self.call = call
        if call is not None and self.stopped.is_set():
            call.cancel()

    def _await_headers(self, call: Any) -> None:
        with self._cancel_lock:
            if self.stopped.is_set():
                return
            self._awaiting_headers = call
        try:
            call.initial_metadata()
        finally:
            with self._cancel_lock:
                self._awaiting_headers = None

    def _cancel(self, call: Any) -> None:
        """Cancel ``call`` from another thread (stop, the watchdog) without waiting on it.

        Streams run in grpcio's single-threaded mode (``_transport/channels.py``), whose
        ``initial_metadata()`` keeps the call's lock while it waits for the server: a
        ``cancel()`` made meanwhile would wait for the server too. That one case is left to a
        short-lived thread; closing the channel (``client.close()``) ends the wait at once."""
        with self._cancel_lock:
            if call is not self._awaiting_headers:
                call.cancel()
                return
        threading.Thread(target=call.cancel, name="spectrum-cancel", daemon=True).start()

    def stall_check(self, now: float) -> None:
        """Cancel the call when no frame (heartbeats included) came for too long."""
        call = self.call
        if call is not None and now - self.last_frame > self.engine.options.stall_timeout:
            log.info("receive: %s %s stalled; reconnecting", self.line.phone, self.family.name,
                     extra=fields(line=self.line.phone, family=self.family.name))
            self.last_frame = now
            self._cancel(call)

    def stop(self) -> None:
        """Ask the thread to end (cancels the call in progress); does not wait."""
        self.stopped.set()
        call = self.call
        if call is not None:
            self._cancel(call)


_UNSET: Any = object()


def _replay_for(members: list[StreamReader], after: int | None = _UNSET) -> int:
    """One replay serving ``members`` (readers of one line): from the oldest cursor among
    them (everything, when one has none), each taking its own family's frames past its own
    cursor; run by the first member's thread. Returns the head."""
    if after is _UNSET:
        cursors = [m.covered for m in members]
        after = None if None in cursors else min(c for c in cursors if c is not None)
    # Replaying everything, the server checks no cursor: the members that have one check
    # theirs against the oldest event it holds (its first frame; head + 1 when it holds
    # none), as it would have, so that a cursor older than its log is still a gap.
    unchecked = [m for m in members if m.covered is not None] if after is None else []

    def check(oldest: int) -> None:
        for member in unchecked:
            if member.covered is not None and member.covered < oldest - 1:
                member._note_gap(f"cursor {member.covered} is older than the event log "
                                 f"(oldest {oldest})")
        unchecked.clear()

    def dispatch(frame: Any, which: str) -> None:
        if unchecked:
            check(frame.sequence)
        for member in members:
            member._take(frame, which)

    head = members[0]._replay(after, dispatch)
    if unchecked:
        check(head + 1)
    for member in members:
        member._covered_to(head)
    return head
