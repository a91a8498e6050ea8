"""Store failures that must not fail the caller: logged once per burst, kept for health().

A send that the server accepted must return its message even when the quota bookkeeping
after it fails (a full disk, Redis down): raising would invite a retry and a duplicate
bubble. Routing learned from inbound traffic is likewise best effort. Such failures go
through :meth:`StoreMonitor.guard`, which logs them and records the last one for
``client.health()``.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, TypeVar

__all__ = ["StoreMonitor"]

log = logging.getLogger("spectrum_sync.state")

T = TypeVar("T")

_LOG_EVERY = 30.0  # seconds between two log lines about the same kind of failure


class StoreMonitor:
    """Runs best-effort store operations and remembers the last failure."""

    def __init__(self) -> None:
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.failures = 0
        self._logged: dict[str, float] = {}

    def guard(self, what: str, action: Callable[[], T], default: T) -> T:
        """``action()``, or ``default`` when it raises (logged and recorded)."""
        try:
            result = action()
        except Exception as exc:
            self.record(what, exc)
            return default
        return result

    def record(self, what: str, exc: BaseException) -> None:
        """Note a store failure (logged at most every 30 s per operation kind)."""
        self.failures += 1
        self.last_error = f"{what}: {exc}"
        self.last_error_at = time.time()
        now = time.monotonic()
        if now - self._logged.get(what, -1e9) >= _LOG_EVERY:
            self._logged[what] = now
            log.warning("state store failure (%s): %s; carrying on without it", what, exc)

    def clear(self) -> None:
        """A store operation succeeded again."""
        self.last_error = None
