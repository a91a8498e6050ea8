"""InFlight: what a line hand-over waits for (events taken and not yet acknowledged)."""

from __future__ import annotations

import threading
import time

from spectrum_sync._receive.engine import InFlight


def test_idle_when_nothing_was_taken() -> None:
    assert InFlight().wait_idle(0) is True


def test_waits_until_every_taken_event_is_done() -> None:
    in_flight = InFlight()
    in_flight.take()
    in_flight.take()
    in_flight.done()
    assert in_flight.wait_idle(0.05) is False  # one is still being handled

    threading.Timer(0.1, in_flight.done).start()
    started = time.monotonic()
    assert in_flight.wait_idle(5) is True
    assert time.monotonic() - started < 2  # woken by done(), not by the timeout


def test_a_second_wait_after_more_work_waits_again() -> None:
    in_flight = InFlight()
    in_flight.take()
    threading.Timer(0.05, in_flight.done).start()
    assert in_flight.wait_idle(5) is True
    in_flight.take()  # busy again: the earlier wake-up must not count
    assert in_flight.wait_idle(0.05) is False
    in_flight.done()
    assert in_flight.wait_idle(0) is True


def test_several_waiters_are_all_woken() -> None:
    in_flight = InFlight()
    in_flight.take()
    results: list[bool] = []
    waiters = [threading.Thread(target=lambda: results.append(in_flight.wait_idle(5)))
               for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.05)
    in_flight.done()
    for waiter in waiters:
        waiter.join(5)
    assert results == [True, True, True]
