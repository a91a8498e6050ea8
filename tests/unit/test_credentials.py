"""The token scheduler: 80% renewal, backoff, forced refreshes, rejected tokens, delivery."""

from __future__ import annotations

import os
import sys
import threading
import time
import types

import pytest
from support.fakes import Clock

import spectrum_sync as spectrum
from spectrum_sync._clock import SystemClock
from spectrum_sync._transport.credentials import CloudAuth
from spectrum_sync._transport.token_exchange import Grant


class Exchanges:
    """A scripted token endpoint: grants with ``ttl`` or the next queued error."""

    def __init__(self, clock: Clock, ttl: float = 100.0) -> None:
        self.clock = clock
        self.ttl = ttl
        self.count = 0
        self.errors: list[spectrum.SpectrumError] = []

    def __call__(self, timeout: float) -> Grant:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return Grant("shared", {"shared": f"t{self.count}"}, {}, self.ttl, self.clock.now)


def make(ttl: float = 100.0) -> tuple[Clock, Exchanges, CloudAuth, list[Grant]]:
    clock = Clock()
    exchanges = Exchanges(clock, ttl)
    grants: list[Grant] = []
    auth = CloudAuth(exchanges, grants.append, clock=SystemClock(clock))
    return clock, exchanges, auth, grants


def test_schedule_follows_the_lifetime() -> None:
    clock, exchanges, auth, grants = make(ttl=100)
    auth.ensure_fresh(5)
    assert exchanges.count == 1 and len(grants) == 1
    assert auth.expires_at == clock.now + 100
    assert auth.refresh_due == clock.now + 90  # min(30 s, 10% of the lifetime) before
    assert auth._refresh_at == clock.now + 80  # the refresher's turn: 80%
    auth.close()


def test_a_valid_token_is_used_while_refreshes_fail() -> None:
    clock, exchanges, auth, _ = make(ttl=100)
    auth.ensure_fresh(5)
    clock.now += 95  # past refresh_due, before expiry
    exchanges.errors.append(spectrum.CloudError("down", http_status=503))
    auth.ensure_fresh(5)  # does not raise: the old token still works
    assert auth.last_error is not None
    assert clock.now < auth.refresh_due <= auth.expires_at  # retried soon, before expiry
    clock.now += 10  # expired now
    exchanges.errors.append(spectrum.CloudError("down", http_status=503))
    with pytest.raises(spectrum.CloudError):
        auth.ensure_fresh(5)
    auth.ensure_fresh(5)  # the endpoint is back
    assert auth.last_error is None
    auth.close()


def test_backoff_after_a_thousand_failures_does_not_overflow() -> None:
    clock, _, auth, _ = make()
    for _ in range(1100):
        auth._note_failure(spectrum.CloudError("down"))
    assert auth._refresh_at - clock.now <= 30.0
    auth.close()


def test_forced_refreshes_are_rate_limited() -> None:
    clock, exchanges, auth, _ = make()
    auth.ensure_fresh(5)
    assert auth.force_refresh() is False  # within 1 s of an exchange: pointless
    clock.now += 1.5
    assert auth.force_refresh() is True
    clock.now += 2
    assert auth.force_refresh() is False  # one forced refresh per 5 s
    clock.now += 3.5
    assert auth.force_refresh() is True
    assert exchanges.count == 3
    auth.close()


def test_a_rejected_token_is_replaced_before_the_retry() -> None:
    clock, exchanges, auth, _ = make()
    auth.ensure_fresh(5)
    generation = auth.generation
    assert auth.reject(generation) is False  # refused right after it was issued: real
    clock.now += 2
    assert auth.reject(generation) is True
    auth.ensure_fresh(5)  # the next call fetches a new one
    assert exchanges.count == 2 and auth.generation != generation
    assert auth.reject(generation) is True  # an old generation: a newer token is in
    assert exchanges.count == 2
    auth.close()


def test_a_token_the_server_had_accepted_is_replaced_whatever_its_age() -> None:
    """A server that restarts within a second of an exchange forgets a token it had
    accepted: the next call must fetch a new one, not fail as if the token were bad."""
    clock, exchanges, auth, _ = make()
    auth.ensure_fresh(5)
    generation = auth.generation
    auth.confirmed = generation  # a call succeeded with it
    clock.now += 0.3
    assert auth.reject(generation) is True
    auth.ensure_fresh(5)
    assert exchanges.count == 2 and auth.generation != generation
    assert auth.reject(auth.generation) is False  # the new one was never accepted
    auth.close()


def test_grants_reach_the_listener_outside_the_lock_in_order() -> None:
    clock = Clock()
    exchanges = Exchanges(clock)
    seen: list[str] = []
    auth: CloudAuth

    def listener(grant: Grant) -> None:
        # A listener may call back in (the receive engine asks for refreshes): no deadlock.
        assert auth._lock.acquire(timeout=1)
        auth._lock.release()
        seen.append(grant.tokens["shared"])

    auth = CloudAuth(exchanges, listener, clock=SystemClock(clock))
    auth.ensure_fresh(5)
    clock.now += 6
    auth.refresh(force=True)
    assert seen == ["t1", "t2"]
    auth.close()


def test_the_first_exchange_returns_once_the_refresher_sleeps() -> None:
    """A server that forks right after the first call (uWSGI's master, a client made before
    the fork) must not fork while the new refresher thread holds the GIL: each worker would
    wait for it forever. Here the refresher's first steps are slow and hold the GIL."""
    clock = Clock()
    exchanges = Exchanges(clock)
    slowed = threading.Event()

    def now() -> float:
        if threading.current_thread().name == "spectrum-refresh" and not slowed.is_set():
            slowed.set()
            end = time.perf_counter() + 0.2
            while time.perf_counter() < end:  # busy: keeps the GIL, as a starting thread does
                pass
        return clock.now

    auth = CloudAuth(exchanges, lambda grant: None, clock=SystemClock(now))
    auth.refresh()
    thread = auth._thread
    assert thread is not None and slowed.is_set()
    frame = sys._current_frames()[thread.ident]  # type: ignore[index]
    assert frame.f_code.co_name == "wait", frame.f_code  # blocked in Condition.wait
    auth.close()


def test_no_refresher_in_a_uwsgi_master(monkeypatch: pytest.MonkeyPatch) -> None:
    """uWSGI's master loads the app, then forks its workers from C: a thread of ours there
    could hold the GIL at the fork and hang the workers. A call refreshes when due instead;
    a worker (worker_id > 0) starts its refresher."""
    worker = [0]
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace(
        worker_id=lambda: worker[0], masterpid=os.getpid))
    clock, exchanges, auth, _ = make(ttl=100)
    auth.ensure_fresh(5)
    assert exchanges.count == 1 and auth._thread is None
    clock.now += 95  # past refresh_due: the call refreshes itself
    auth.ensure_fresh(5)
    assert exchanges.count == 2 and auth._thread is None
    worker[0] = 1  # as in a worker
    auth.refresh()
    assert auth._thread is not None and auth._thread.is_alive()
    auth.close()


def test_an_unrelated_uwsgi_module_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uwsgi", types.SimpleNamespace())  # no worker_id
    _, _, auth, _ = make()
    auth.refresh()
    assert auth._thread is not None
    auth.close()


def test_concurrent_callers_share_one_exchange() -> None:
    _clock, exchanges, auth, _ = make()
    barrier = threading.Barrier(8)

    def first_use() -> None:
        barrier.wait()
        auth.ensure_fresh(5)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert exchanges.count == 1
    auth.close()


def test_a_closed_source_refuses() -> None:
    _, exchanges, auth, _ = make()
    auth.close()
    with pytest.raises(spectrum.ClientClosed):
        auth.ensure_fresh(5)
    assert auth.force_refresh() is False and exchanges.count == 0


def test_callers_waiting_on_a_failing_exchange_share_its_failure() -> None:
    clock = Clock()
    started, release = threading.Event(), threading.Event()
    calls = [0]

    def slow_failure(timeout: float) -> Grant:
        calls[0] += 1
        started.set()
        release.wait(5)
        clock.now += 1  # the failure is recorded after the others began to wait
        raise spectrum.CloudError("down", http_status=503)

    auth = CloudAuth(slow_failure, lambda grant: None, clock=SystemClock(clock))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            auth.ensure_fresh(5)
        except spectrum.SpectrumError as exc:
            errors.append(exc)

    first = threading.Thread(target=call)
    first.start()
    assert started.wait(5)
    others = [threading.Thread(target=call) for _ in range(5)]
    for thread in others:
        thread.start()
    time.sleep(0.2)  # let them queue behind the first attempt
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert len(errors) == 6 and calls[0] == 1  # one attempt, its outcome shared
    auth.close()
