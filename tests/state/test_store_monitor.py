"""The guard around best-effort store operations (docs/behaviour.md, "State store
failures"): bounded by the caller's deadline, skipped for a back-off period after a failure,
one probe at a time once that period has passed. Plain callables stand in for the store:
these tests are about the decision logic and run in milliseconds."""

from __future__ import annotations

import threading
import time

import pytest
from support.forking import pretend_uwsgi, threads_named
from support.receiving import wait_until

from spectrum_sync import StateStoreError
from spectrum_sync._state.monitor import StoreMonitor


def fail() -> int:
    raise StateStoreError("down", store="test")


def test_a_failure_is_recorded_and_the_store_skipped_until_the_back_off_passed() -> None:
    monitor = StoreMonitor(backoff_initial=0.05)
    calls: list[int] = []
    assert monitor.guard("op", fail, -1) == -1
    assert monitor.failures == 1 and (monitor.last_error or "").startswith("op: down")
    assert monitor.skipping
    assert monitor.guard("op", lambda: calls.append(1) or 1, -1) == -1  # skipped, not called
    assert calls == [] and monitor.skipped == 1
    time.sleep(0.06)
    assert monitor.guard("op", lambda: calls.append(1) or 1, -1) == 1  # the probe
    assert calls == [1] and not monitor.skipping and monitor.last_error is None


def test_a_failed_probe_doubles_the_back_off_up_to_its_maximum() -> None:
    monitor = StoreMonitor(backoff_initial=0.02, backoff_max=0.05)
    monitor.guard("op", fail, None)
    for expected in (0.04, 0.05, 0.05):
        time.sleep(monitor._open_until - time.monotonic() + 0.005)
        before = time.monotonic()
        monitor.guard("op", fail, None)  # the probe fails
        assert monitor._open_until - before == pytest.approx(expected, abs=0.01)


def test_one_probe_at_a_time_while_half_open() -> None:
    monitor = StoreMonitor(backoff_initial=0.01)
    monitor.guard("op", fail, None)
    time.sleep(0.02)
    entered, release = threading.Event(), threading.Event()

    def slow_probe() -> str:
        entered.set()
        release.wait(5)
        return "probe"

    probe = threading.Thread(target=lambda: monitor.guard("op", slow_probe, None))
    probe.start()
    assert entered.wait(5)
    assert monitor.guard("op", lambda: "other", "skipped") == "skipped"  # not a 2nd probe
    release.set()
    probe.join(5)
    assert monitor.guard("op", lambda: "other", "skipped") == "other"  # closed again


def test_an_operation_is_bounded_by_the_time_left() -> None:
    monitor = StoreMonitor()
    gate = threading.Event()
    started = time.monotonic()
    assert monitor.guard("op", lambda: gate.wait(5), False,
                         deadline=time.monotonic() + 0.05) is False
    assert time.monotonic() - started < 1  # not the operation's 5 s
    assert "did not answer" in (monitor.last_error or "") and monitor.skipping
    gate.set()


def test_answers_and_errors_come_back_through_the_bound() -> None:
    monitor = StoreMonitor()
    assert monitor.guard("op", lambda: 7, 0, deadline=time.monotonic() + 5) == 7
    assert monitor.guard("op", fail, 0, deadline=time.monotonic() + 5) == 0
    assert (monitor.last_error or "").startswith("op: down")


def test_with_no_time_left_the_operation_runs_in_the_background() -> None:
    monitor = StoreMonitor()
    done = threading.Event()
    assert monitor.guard("op", done.set, "late", deadline=time.monotonic() - 1) == "late"
    assert done.wait(5)  # still carried out
    assert not monitor.skipping and monitor.failures == 0  # no store failure


def test_in_a_uwsgi_master_operations_run_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """uWSGI's master forks its workers from C: a worker thread of ours there could hold the
    GIL at the fork and hang a worker. There, bounded operations run on the caller's thread
    (with no time left too, before the default is returned, as elsewhere); in a worker they
    go to the worker threads again."""
    worker = [0]
    pretend_uwsgi(monkeypatch, worker)
    monitor = StoreMonitor()
    ran_on: list[str] = []

    def note() -> str:
        ran_on.append(threading.current_thread().name)
        return "done"

    before = set(threading.enumerate())
    assert monitor.guard("op", note, "skipped", deadline=time.monotonic() + 5) == "done"
    assert monitor.guard("op", note, "late", deadline=time.monotonic() - 1) == "late"
    assert ran_on == [threading.current_thread().name] * 2
    assert set(threading.enumerate()) == before  # no worker thread was started
    worker[0] = 1  # as in a worker
    assert monitor.guard("op", note, "skipped", deadline=time.monotonic() + 5) == "done"
    assert ran_on[-1] == "spectrum-store"


def test_a_keyboard_interrupt_is_no_verdict_on_the_store() -> None:
    monitor = StoreMonitor(backoff_initial=0.01)
    monitor.guard("op", fail, None)
    time.sleep(0.02)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        monitor.guard("op", interrupted, None)
    assert monitor.guard("op", lambda: "again", None) == "again"  # the next call probes


def test_many_calls_at_once_wait_their_turn_instead_of_failing() -> None:
    # More sends at once than store workers (16 request threads on SQLite or Redis): the
    # extra calls queue within their deadlines; none is counted as a store failure.
    before = len(_store_threads())
    monitor = StoreMonitor()
    results: list[object] = []
    most = [0]

    def work(n: int) -> int:
        most[0] = max(most[0], len(_store_threads()) - before)
        time.sleep(0.02)
        return n

    def call(n: int) -> None:
        results.append(monitor.guard("quota check", lambda: work(n), None,
                                     time.monotonic() + 5.0))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == list(range(32))  # type: ignore[type-var]
    assert monitor.failures == 0 and monitor.last_error is None and not monitor.skipping
    assert 1 <= most[0] <= 8  # the callers at the same time started no more workers than 8
    monitor.close(5.0)


def _store_threads() -> list[threading.Thread]:
    return threads_named("spectrum-store")


def test_close_ends_the_workers_after_the_operations_handed_to_them() -> None:
    # A closed client's workers used to wait on their queue for ever: a process that made
    # and closed clients one after another (a task per job) kept 8 threads of each.
    before = len(_store_threads())
    monitor = StoreMonitor()
    release = threading.Event()
    done: list[int] = []
    for n in range(20):  # more than there are workers: some wait in the queue
        # No time left: each goes to the workers in the background (no store failure).
        monitor.guard("op", lambda n=n: release.wait(5) and done.append(n), None,
                      deadline=time.monotonic() - 1)
    assert len(_store_threads()) == before + 8
    release.set()
    monitor.close(5.0)
    assert sorted(done) == list(range(20))  # the queued ones ran before the threads ended
    assert len(_store_threads()) == before
    # After close, an operation runs on the calling thread; no thread starts again.
    assert monitor.guard("op", lambda: 7, -1, deadline=time.monotonic() + 1) == 7
    assert len(_store_threads()) == before


def test_close_waits_only_its_timeout_for_a_stuck_operation() -> None:
    before = len(_store_threads())
    monitor = StoreMonitor()
    release = threading.Event()
    assert monitor.guard("op", lambda: release.wait(10), None,
                         deadline=time.monotonic() - 1) is None
    assert len(_store_threads()) == before + 1
    start = time.monotonic()
    monitor.close(0.1)
    assert time.monotonic() - start < 1.0
    release.set()  # the stuck operation finishes; then its thread ends too
    assert wait_until(lambda: len(_store_threads()) == before, 5)


def test_a_monitor_closed_before_any_operation_starts_no_thread_after() -> None:
    monitor = StoreMonitor()
    monitor.close(1.0)
    before = len(_store_threads())
    assert monitor.guard("op", lambda: 3, -1, deadline=time.monotonic() + 1) == 3
    assert len(_store_threads()) == before

