"""What ``client.health()`` reports for each line."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["STATES", "LineHealth"]

#: Stream states, worst first: a line's ``state`` is the worst of its streams'.
STATES = ("backoff", "starting", "catching-up", "subscribing", "live", "stopped", "standby",
          "idle")


@attrs.define(kw_only=True)
class LineHealth:
    """Receive health of one line.

    ``streams`` maps each event family to its state: ``starting`` (connecting, learning the
    head), ``catching-up`` (replaying what was missed), ``subscribing`` (waiting for the
    server to confirm the live subscription), ``live`` (the server holds the subscription:
    anything that happens from now on is delivered), ``backoff`` (waiting to reconnect),
    ``stopped``; ``idle`` when the client is not receiving. ``state`` is the worst of them.
    ``replayed`` counts the events catch-ups handed out (what happened while a stream was
    down); ``gaps`` lists cursors the server rejected (events may have been missed);
    ``store_error`` the last state-store failure (cursor commits, routing, quota
    bookkeeping), if any. With receivers sharing lines through Redis, ``held`` says whether
    this process reads the line (``standby``: another receiver does); None otherwise.
    """

    phone: str
    streams: dict[str, str] = attrs.Factory(dict)
    last_frame_at: float | None = None
    reconnects: int = 0
    replayed: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None
    gaps: list[dict[str, Any]] = attrs.Factory(list)
    store_error: str | None = None
    held: bool | None = None

    @property
    def state(self) -> str:
        """The line's state: that of its least advanced stream (``starting`` before any)."""
        if not self.streams:
            return "starting"
        return min(self.streams.values(), key=STATES.index)

    def copy(self) -> LineHealth:
        """A snapshot (reader threads keep updating the original)."""
        return attrs.evolve(self, streams=dict(self.streams), gaps=list(self.gaps))
