"""Catch-ups shared by the families of a line, and bounded per client.

``CatchUpEvents`` replays every family of a line, and the service serves a limited number
at once (16 per server: docs/behaviour.md, "Start"). So the readers of one line share them:

- a **head round**: readers starting without a cursor learn the server's head from one
  drain (nothing delivered);
- a **replay round**: readers whose live stream the server has just confirmed take their
  events after their cursors from one replay, started after every member's subscription was
  confirmed, so that what comes after its head is on their live streams (gap-free).

A round is led by its first member. The leader waits, up to :data:`GATHER` seconds, for the
line's other readers that are on their way to the same round (their phase says so), then
closes the round and runs the call; latecomers form the next round. At (re)start a line
therefore makes at most two catch-ups: one head drain, one replay. Every catch-up of the
client takes one of :data:`MAX_IN_FLIGHT` slots first; the rest wait their turn.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Callable, Generic, TypeVar

from .._errors import ClientClosed

__all__ = ["GATHER", "MAX_IN_FLIGHT", "CatchUpRounds"]

#: Catch-ups one client runs at once (the service's limit per server).
MAX_IN_FLIGHT = 16
#: How long a round's leader waits for the line's other readers on their way to it.
GATHER = 2.0

HEAD, REPLAY = "head", "replay"
# Phases of a reader, as the rounds see them: which rounds it is still on its way to.
STARTING, NEEDS_HEAD, SUBSCRIBING, IDLE = "starting", "needs-head", "subscribing", "idle"
_ON_THE_WAY = {
    HEAD: {STARTING, NEEDS_HEAD},
    REPLAY: {STARTING, NEEDS_HEAD, HEAD, SUBSCRIBING},
}

M = TypeVar("M")
R = TypeVar("R")


class RoundLost(Exception):
    """The round's leader stopped before its call completed: the members try again."""


class _Round(Generic[M]):
    __slots__ = ("done", "error", "members", "result")

    def __init__(self) -> None:
        self.members: list[M] = []
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None


class CatchUpRounds(Generic[M]):
    """Rounds per (line, kind) and the client's catch-up slots. Thread-safe."""

    def __init__(self, max_in_flight: int = MAX_IN_FLIGHT, gather: float = GATHER) -> None:
        self._cond = threading.Condition()
        self._phases: dict[str, dict[M, str]] = {}
        self._open: dict[tuple[str, str], _Round[M]] = {}
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._gather = gather

    def expect(self, line: str, members: list[M]) -> None:
        """Readers created together: each is on its way to the line's first rounds."""
        with self._cond:
            phases = self._phases.setdefault(line, {})
            for member in members:
                phases[member] = STARTING

    def phase(self, line: str, member: M, phase: str) -> None:
        """Where ``member`` is now (``IDLE`` once it is live, failed or stopped)."""
        with self._cond:
            phases = self._phases.setdefault(line, {})
            if phase == IDLE:
                phases.pop(member, None)
            else:
                phases[member] = phase
            self._cond.notify_all()

    def forget(self, line: str) -> None:
        """The line's readers were removed."""
        with self._cond:
            self._phases.pop(line, None)
            self._cond.notify_all()

    def share(self, line: str, kind: str, member: M, run: Callable[[list[M]], R],
              stopped: threading.Event) -> R:
        """Join the open round of ``kind`` on ``line`` (leading it when there is none) and
        return its result; ``run(members)`` is called by the leader only."""
        while True:
            with self._cond:
                self._phases.setdefault(line, {})[member] = kind
                found = self._open.get((line, kind))
                leading = found is None
                current: _Round[M] = _Round() if found is None else found
                if leading:
                    self._open[(line, kind)] = current
                current.members.append(member)
                self._cond.notify_all()
            if leading:
                return self._lead(line, kind, current, run, stopped)
            while not current.done.wait(0.05):
                if stopped.is_set():
                    raise ClientClosed("receiving stopped")
            if isinstance(current.error, RoundLost):
                continue  # the leader went away: lead (or join) the next round
            if current.error is not None:
                raise current.error
            return current.result  # type: ignore[return-value]

    def _lead(self, line: str, kind: str, current: _Round[M], run: Callable[[list[M]], R],
              stopped: threading.Event) -> R:
        deadline = time.monotonic() + self._gather
        with self._cond:
            while not stopped.is_set():
                phases = self._phases.get(line, {})
                waiting = [m for m, p in phases.items()
                           if p in _ON_THE_WAY[kind] and m not in current.members]
                left = deadline - time.monotonic()
                if not waiting or left <= 0:
                    break
                self._cond.wait(min(left, 0.05))
            del self._open[(line, kind)]  # closed: latecomers form the next round
        try:
            with self.slot(stopped):
                result = run(current.members)
        except BaseException as exc:
            current.error = RoundLost() if stopped.is_set() else exc
            raise
        else:
            current.result = result
            return result
        finally:
            current.done.set()

    @contextlib.contextmanager
    def slot(self, stopped: threading.Event) -> Iterator[None]:
        """Hold one of the client's catch-up slots (waiting for one, until ``stopped``)."""
        while not self._slots.acquire(timeout=0.05):
            if stopped.is_set():
                raise ClientClosed("receiving stopped")
        try:
            yield
        finally:
            self._slots.release()
