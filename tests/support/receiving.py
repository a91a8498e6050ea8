"""Helpers for tests that receive: bounded consumption, waiting for a condition."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from spectrum_sync import Client, ReceiveOptions

__all__ = ["ALICE", "BOB", "FAST", "LINE", "LINE_2", "all_live", "take", "wait_until"]

LINE, LINE_2 = "+15550000001", "+15550000002"
ALICE, BOB = "+15551111111", "+15552222222"
#: Fast reconnects, so that tests with faults stay short.
FAST = ReceiveOptions(backoff_initial=0.02, backoff_max=0.2)


def take(items: Any, count: int, within: float = 20.0) -> list[Any]:
    """The first ``count`` items of an inbox, consumed in this thread; fails the test if they
    do not arrive ``within`` seconds (the inbox is closed to end the wait)."""
    found: list[Any] = []
    timer = threading.Timer(within, items.close)
    timer.daemon = True
    timer.start()
    try:
        for item in items:
            found.append(item)
            if len(found) >= count:
                break
    finally:
        timer.cancel()
    assert len(found) == count, f"{len(found)} of {count} arrived within {within} s"
    return found


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def all_live(client: Client) -> bool:
    """Every stream of every line is live: the server holds each subscription."""
    return {h.state for h in client.health().values()} == {"live"}
