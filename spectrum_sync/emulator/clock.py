"""The emulator's injectable clock: token expiry, timestamps and quota days follow it.

It may follow a test clock (:class:`~spectrum_sync._clock.ManualClock`, offered here as
``ManualClock``) that the client's token schedule follows too: one ``advance`` then moves
both sides (docs/architecture.md, "Time in tests").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Union

from google.protobuf.timestamp_pb2 import Timestamp

from spectrum_sync._clock import ManualClock

__all__ = ["Clock", "ClockSource", "ManualClock", "iso_timestamp"]

ClockSource = Union[ManualClock, Callable[[], float], float, int, None]


def iso_timestamp(ts: Timestamp) -> str:
    """A protobuf ``Timestamp`` as ISO 8601 UTC with milliseconds (``...T12:00:00.000Z``)."""
    moment = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Clock:
    """Epoch seconds from a source callable (default ``time.time``) plus an offset.

    ``set(value)`` freezes the clock at a number (``advance`` still moves it), switches to
    another callable, or follows a :class:`ManualClock` (its ``epoch()``);
    ``advance(seconds)`` moves it forward (or back) without sleeping, and when it follows
    a manual clock, moves that clock (forward only), so that the client's tokens age too.
    """

    def __init__(self, source: ClockSource = None) -> None:
        self._lock = threading.Lock()
        self._source: Callable[[], float] = time.time
        self._offset = 0.0
        #: The test clock this one follows (``None``: it does not).
        self.follows: ManualClock | None = None
        self.set(source)

    def set(self, source: ClockSource) -> None:
        """Use ``source``: a :class:`ManualClock` to follow, a callable, a fixed epoch value,
        or ``None`` for ``time.time``."""
        with self._lock:
            self._offset = 0.0
            self.follows = None
            if source is None:
                self._source = time.time
            elif isinstance(source, ManualClock):
                self.follows = source
                self._source = source.epoch
            elif callable(source):
                self._source = source
            else:
                frozen = float(source)
                self._source = lambda: frozen

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds`` (the manual clock it follows, if any)."""
        follows = self.follows
        if follows is not None:
            follows.advance(seconds)
            return
        with self._lock:
            self._offset += seconds

    def now(self) -> float:
        """Current epoch seconds."""
        return self._source() + self._offset

    def timestamp(self) -> Timestamp:
        """Current time as a protobuf ``Timestamp``."""
        ts = Timestamp()
        ts.FromNanoseconds(int(self.now() * 1e9))
        return ts

    def utc_day(self) -> str:
        """The current UTC day, ``YYYY-MM-DD`` (the quota period)."""
        return datetime.fromtimestamp(self.now(), timezone.utc).strftime("%Y-%m-%d")

    def next_midnight_iso(self) -> str:
        """ISO-8601 instant of the next UTC midnight (when daily quotas reset)."""
        day = datetime.fromtimestamp(self.now(), timezone.utc).date() + timedelta(days=1)
        return f"{day.isoformat()}T00:00:00Z"
