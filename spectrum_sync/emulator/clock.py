"""The emulator's injectable clock: token expiry, timestamps and quota days follow it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Union

from google.protobuf.timestamp_pb2 import Timestamp

ClockSource = Union[Callable[[], float], float, int, None]


def iso_timestamp(ts: Timestamp) -> str:
    """A protobuf ``Timestamp`` as ISO 8601 UTC with milliseconds (``...T12:00:00.000Z``)."""
    moment = datetime.fromtimestamp(ts.seconds + ts.nanos / 1e9, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Clock:
    """Epoch seconds from a source callable (default ``time.time``) plus an offset.

    ``set(value)`` freezes the clock at a number (``advance`` still moves it) or switches to
    another callable; ``advance(seconds)`` moves it forward (or back) without sleeping.
    """

    def __init__(self, source: ClockSource = None) -> None:
        self._lock = threading.Lock()
        self._source: Callable[[], float] = time.time
        self._offset = 0.0
        self.set(source)

    def set(self, source: ClockSource) -> None:
        """Use ``source``: a callable, a fixed epoch value, or ``None`` for ``time.time``."""
        with self._lock:
            self._offset = 0.0
            if source is None:
                self._source = time.time
            elif callable(source):
                self._source = source
            else:
                frozen = float(source)
                self._source = lambda: frozen

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds``."""
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
