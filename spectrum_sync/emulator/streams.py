"""Serving event streams: live subscriptions with heartbeats, catch-up replays, and cuts.

Every open stream is registered in a :class:`StreamHub` so that the emulator can end it at
once (``cut_streams``, line removal, ``stop``). Waiting happens on the line's condition, so a
new event, a cut, a cancelled call or a stop wakes the stream immediately.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import grpc
from google.protobuf.message import Message as ProtoMessage

from spectrum_sync.emulator.errors import unavailable
from spectrum_sync.emulator.eventlog import Entry
from spectrum_sync.emulator.state import LineState

CUT = "cut"
STOPPED = "stopped"
REMOVED = "removed"
BEHIND = "behind"
CANCELLED = "cancelled"

_REASONS = {
    CUT: "stream reset by the server",
    STOPPED: "server is shutting down",
    REMOVED: "line was removed",
    BEHIND: "stream fell behind the event log (a slow reader): reconnect and catch up",
}


class Subscription:
    """One open stream of one line."""

    __slots__ = ("cursor", "ended", "frames", "line", "live", "wake")

    def __init__(self, line: LineState, cursor: int, live: bool = False,
                 wake: threading.Condition | None = None) -> None:
        self.line = line
        self.cursor = cursor
        self.live = live  # a Subscribe* stream (not a finite catch-up replay)
        self.frames = 0
        self.ended: str | None = None
        self.wake = line.cond if wake is None else wake  # what the stream waits on


class StreamHub:
    """Registry of open streams; shares the emulator's lock."""

    def __init__(self, lock: threading.RLock, cut_every: Callable[[], int]) -> None:
        self._lock = lock
        self._cut_every = cut_every
        self._open: set[Subscription] = set()
        self.closed = False  # set while the server stops: late streams end at once

    def open(self, line: LineState, context: grpc.ServicerContext,
             live: bool = False, wake: threading.Condition | None = None) -> Subscription:
        """Register a stream starting at the line's current head (``wake``: the condition it
        waits on, the line's by default)."""
        with self._lock:
            sub = Subscription(line, line.log.head, live, wake)
            if line.removed:
                sub.ended = REMOVED
            elif self.closed:
                sub.ended = STOPPED
            self._open.add(sub)
        # Wakes the stream when the client goes away, so that its worker thread is freed.
        if not context.add_callback(lambda: self.end(sub, CANCELLED)):
            self.end(sub, CANCELLED)  # the call is already over
        return sub

    def close(self, sub: Subscription) -> None:
        """Forget a finished stream."""
        with self._lock:
            self._open.discard(sub)

    def end(self, sub: Subscription, reason: str) -> None:
        """Ask one stream to end."""
        with self._lock:
            if sub.ended is None:
                sub.ended = reason
            sub.wake.notify_all()

    def end_all(self, reason: str, line: LineState | None = None) -> int:
        """End every open stream (of ``line`` only, when given); returns how many."""
        with self._lock:
            subs = [s for s in self._open if line is None or s.line is line]
            for sub in subs:
                self.end(sub, reason)
            return len(subs)

    @property
    def open_count(self) -> int:
        """Number of open streams."""
        with self._lock:
            return len(self._open)

    @property
    def live_count(self) -> int:
        """Number of open live subscriptions (catch-up replays not counted)."""
        with self._lock:
            return sum(1 for sub in self._open if sub.live)

    def _count_frame(self, sub: Subscription) -> None:
        """Count a sent frame; a periodic cut ends the stream after every N frames."""
        sub.frames += 1
        every = self._cut_every()
        if every and sub.frames >= every:
            raise unavailable(_REASONS[CUT])

    def ended(self, sub: Subscription) -> bool:
        """For streams served outside this hub's loops: True when the client cancelled;
        raises UNAVAILABLE when the server ended the stream (cut, stop, line removed)."""
        return self._raise_if_ended(sub)

    @staticmethod
    def _raise_if_ended(sub: Subscription) -> bool:
        """True when the client cancelled; raise UNAVAILABLE for server-side ends."""
        if sub.ended is None:
            return False
        if sub.ended == CANCELLED:
            return True
        raise unavailable(_REASONS[sub.ended])

    def live(self, line: LineState, context: grpc.ServicerContext,
             frame: Callable[[Entry], ProtoMessage | None], heartbeat: Callable[[], ProtoMessage],
             interval: float, family: str | None = None) -> Iterator[ProtoMessage]:
        """Frames of events logged after the subscription started, plus heartbeats.

        ``frame`` maps an entry to the stream's response (``None`` = not for this stream).
        ``family``: the only event family it sends, if one: events of the others do not wake
        it (a burst of messages woke a line's idle group, poll and chat streams for every
        batch, each taking the lock and the GIL from the injection and the message stream).
        """
        wake = None if family is None else line.family_conds[family]
        sub = self.open(line, context, live=True, wake=wake)
        # Headers go out at once: a client that waits for them knows the stream is live.
        context.send_initial_metadata((("x-head-sequence", str(sub.cursor)),))
        try:
            last_sent = time.monotonic()
            while True:
                entries: list[Entry] = []
                with self._lock:
                    while sub.ended is None:
                        if line.log.dropped_after(sub.cursor, family):
                            # Events it has not sent left the bounded log: end the stream
                            # rather than skip them unseen (the client's catch-up then
                            # reports the gap). Only its own family's: an idle stream
                            # past which a burst of another family went is not behind.
                            sub.ended = BEHIND
                            break
                        entries = line.log.after(sub.cursor)
                        if entries:
                            sub.cursor = entries[-1].sequence
                            break
                        remaining = interval - (time.monotonic() - last_sent)
                        if remaining <= 0:
                            break
                        sub.wake.wait(remaining)
                if self._raise_if_ended(sub):
                    return
                frames = [f for f in map(frame, entries) if f is not None]
                if not entries:
                    frames = [heartbeat()]
                for out in frames:
                    if self._raise_if_ended(sub):
                        return
                    yield out
                    last_sent = time.monotonic()
                    self._count_frame(sub)
        finally:
            self.close(sub)

    def replay(self, line: LineState, context: grpc.ServicerContext, after: int | None,
               frame: Callable[[Entry], ProtoMessage], complete: Callable[[int], ProtoMessage],
               ) -> Iterator[ProtoMessage]:
        """Events with ``after < seq <= head`` (head taken now), then the complete frame."""
        with self._lock:
            head = line.log.head
            if after is not None:
                line.log.check_cursor(after)
            entries = line.log.after(line.log.oldest - 1 if after is None else after, head)
        sub = self.open(line, context)
        try:
            # Periodic cuts model the cloud resetting long-lived streams; a finite replay is
            # not cut that way, or a backlog longer than N frames could never complete.
            for entry in entries:
                if self._raise_if_ended(sub):
                    return
                yield frame(entry)
            if self._raise_if_ended(sub):
                return
            yield complete(head)
        finally:
            self.close(sub)
