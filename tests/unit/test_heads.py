"""HeadLearner: the families of a line starting together share one head drain."""

from __future__ import annotations

import threading
import time

import pytest

from spectrum_sync._errors import ClientClosed
from spectrum_sync._receive.heads import HeadLearner


def _run_together(learner: HeadLearner, drain: object, count: int,
                  stopped: threading.Event | None = None) -> list[object]:
    results: list[object] = []
    lock = threading.Lock()

    def ask() -> None:
        try:
            got: object = learner.head("line", drain, stopped or threading.Event())  # type: ignore[arg-type]
        except Exception as exc:
            got = exc
        with lock:
            results.append(got)

    threads = [threading.Thread(target=ask) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_callers_asking_together_share_one_drain() -> None:
    drains = []

    def drain() -> int:
        drains.append(1)
        time.sleep(0.2)
        return 42

    assert _run_together(HeadLearner(), drain, 3) == [42, 42, 42]
    assert len(drains) == 1


def test_a_later_caller_drains_afresh() -> None:
    learner = HeadLearner()
    heads = iter([10, 20])
    assert learner.head("line", lambda: next(heads), threading.Event()) == 10
    # After a gap the head must be new: a finished drain is never reused.
    assert learner.head("line", lambda: next(heads), threading.Event()) == 20


def test_lines_do_not_share() -> None:
    learner = HeadLearner()
    assert learner.head("a", lambda: 1, threading.Event()) == 1
    assert learner.head("b", lambda: 2, threading.Event()) == 2


def test_when_the_shared_drain_fails_each_waiter_tries_its_own() -> None:
    calls = []

    def drain() -> int:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(0.2)
            raise RuntimeError("stream cut")
        return 7

    results = _run_together(HeadLearner(), drain, 3)
    assert sorted(map(repr, results)) == sorted(
        [repr(RuntimeError("stream cut")), "7", "7"])


def test_a_stopped_waiter_stops_waiting() -> None:
    learner = HeadLearner()
    release = threading.Event()
    leader = threading.Thread(
        target=lambda: learner.head("line", lambda: int(release.wait(10)), threading.Event()))
    leader.start()
    time.sleep(0.05)
    stopped = threading.Event()
    stopped.set()
    started = time.monotonic()
    with pytest.raises(ClientClosed):
        learner.head("line", lambda: 0, stopped)
    assert time.monotonic() - started < 1
    release.set()
    leader.join(5)
