"""Fixtures for the receive tests: an emulator, clients bound to it, bounded consumption."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from spectrum_sync import ReceiveOptions
from spectrum_sync.emulator import Emulator

LINES = ["+15550000001", "+15550000002"]
ALICE, BOB = "+15551111111", "+15552222222"
T = TypeVar("T")

#: Fast reconnects so that tests with faults stay short.
FAST = ReceiveOptions(backoff_initial=0.02, backoff_max=0.2)


@pytest.fixture
def emulator_options() -> dict[str, Any]:
    """Two dedicated lines, heartbeats every 0.5 s."""
    return {"plan": "dedicated", "lines": LINES, "heartbeat_interval": 0.5}


@pytest.fixture
def client_options() -> dict[str, Any]:
    """Fast reconnects."""
    return {"receive": FAST}


class Kit:
    """Helpers for receive tests, handed out by the ``kit`` fixture."""

    @staticmethod
    def take(items: Iterator[T], count: int, *, within: float = 20.0,
         stop: Callable[[], Any] | None = None) -> list[T]:
        """The first ``count`` items, consumed in this thread; ``stop()`` is called if they
        do not arrive ``within`` seconds (it must end the iteration, e.g. ``client.close``)."""
        timer = threading.Timer(within, stop) if stop is not None else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        found: list[T] = []
        try:
            for item in items:
                found.append(item)
                if len(found) >= count:
                    break
        finally:
            if timer is not None:
                timer.cancel()
        return found

    @staticmethod
    def receiving(emu: Emulator, streams: int, timeout: float = 10.0) -> None:
        """Wait until ``streams`` event streams are open (the consumer is live)."""
        assert emu.wait_for_subscribers(streams, timeout), (
            f"only {emu.live_subscriptions} subscriptions open")

    @classmethod
    def start_pinged_script(cls, emu: Emulator, code: str, streams: int,
                            line: str) -> subprocess.Popen[str]:
        """Run a receiving script (it prints "ready", then "got <text>" per message) against
        ``emu`` and check that a first message ("ping") got through; returns the process."""
        proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **emu.env()},
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
            cls.receiving(emu, streams)
            emu.simulate_inbound("+15551111111", "ping", line=line)
            assert proc.stdout.readline().strip() == "got ping"
        except BaseException:
            cls.end(proc)
            raise
        return proc

    @staticmethod
    def end(proc: subprocess.Popen[str]) -> None:
        """Kill ``proc`` if it is still running and collect it."""
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    @staticmethod
    def recv_threads() -> list[str]:
        return [t.name for t in threading.enumerate() if t.is_alive() and t.name.startswith(
            ("spectrum-recv", "spectrum-worker", "spectrum-dispatch"))]

    @staticmethod
    def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


@pytest.fixture
def kit() -> Kit:
    return Kit()
