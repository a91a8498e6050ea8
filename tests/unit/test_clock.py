"""The clocks token lifetimes follow: the manual test clock wakes its waiters itself."""

from __future__ import annotations

import threading
import time

import pytest
from support.receiving import wait_until

from spectrum_sync._clock import SYSTEM, ManualClock
from spectrum_sync.emulator.clock import Clock as EmulatorClock


class Waiter:
    """``clock.wait(event, timeout)`` on a thread, begun when the constructor returns (its
    deadline is set); ``result`` once it returned."""

    def __init__(self, clock: ManualClock, event: threading.Event, timeout: float) -> None:
        self.result: bool | None = None
        self.thread = threading.Thread(target=self._run, args=(clock, event, timeout),
                                       daemon=True)
        before = clock.waiters
        self.thread.start()
        assert wait_until(lambda: clock.waiters > before, 5)

    def _run(self, clock: ManualClock, event: threading.Event, timeout: float) -> None:
        self.result = clock.wait(event, timeout)

    def returned(self, within: float = 5.0) -> bool:
        self.thread.join(within)
        return not self.thread.is_alive()


def test_advance_past_the_deadline_wakes_a_waiter() -> None:
    clock = ManualClock()
    waiter = Waiter(clock, clock.event(), 10)
    clock.advance(6)
    assert not waiter.returned(within=0.1)  # 6 of its 10 s
    clock.advance(4)
    assert waiter.returned()
    assert waiter.result is False  # timed out: the event was not set
    assert clock.now() == 10 and clock.waiters == 0


def test_setting_the_event_wakes_a_waiter() -> None:
    clock = ManualClock()
    event = clock.event()
    waiter = Waiter(clock, event, 3600)
    event.set()
    assert waiter.returned()
    assert waiter.result is True
    assert clock.now() == 0  # no time passed on the clock


def test_a_wait_times_out_only_through_advance() -> None:
    clock = ManualClock()
    waiter = Waiter(clock, clock.event(), 0.01)
    assert not waiter.returned(within=0.2)  # 20 times its timeout of real time: still waits
    clock.advance(0.01)
    assert waiter.returned()
    assert waiter.result is False


def test_an_event_set_before_the_wait_returns_at_once() -> None:
    clock = ManualClock()
    event = clock.event()
    event.set()
    assert clock.wait(event, 3600) is True


def test_the_manual_clock_refuses_going_back_and_foreign_events() -> None:
    clock = ManualClock(start=100.0, epoch=1_700_000_000.0)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(float("nan"))
    with pytest.raises(ValueError, match="event"):
        clock.wait(threading.Event(), 1)  # nothing would wake it when set
    with pytest.raises(ValueError, match="event"):
        clock.wait(ManualClock().event(), 1)
    clock.advance(2.5)
    assert (clock.now(), clock.epoch()) == (102.5, 1_700_000_002.5)


def test_the_emulator_clock_follows_a_manual_clock() -> None:
    clock = ManualClock(epoch=1_700_000_000.0)
    emulator_clock = EmulatorClock(clock)
    assert emulator_clock.follows is clock and emulator_clock.now() == 1_700_000_000.0
    clock.advance(60)
    assert emulator_clock.now() == 1_700_000_060.0
    emulator_clock.advance(40)  # moves the manual clock: both sides age together
    assert (clock.now(), emulator_clock.now()) == (100.0, 1_700_000_100.0)
    emulator_clock.set(None)
    assert emulator_clock.follows is None
    assert abs(emulator_clock.now() - time.time()) < 5


def test_the_system_clock_is_real_time() -> None:
    event = SYSTEM.event()
    assert SYSTEM.wait(event, 0.01) is False
    event.set()
    assert SYSTEM.wait(event, 0) is True
    assert not SYSTEM.manual and abs(SYSTEM.epoch() - time.time()) < 1
