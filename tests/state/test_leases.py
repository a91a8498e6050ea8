"""Line leases, fencing tokens, fenced cursor commits and the receiver registry, on a real
Redis: among threads of one process and among processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest
from support.redis_server import RedisServer

from spectrum_sync._state.leases import Fence, LeaseStore
from spectrum_sync._state.redis import RedisStore

WORKER = Path(__file__).with_name("_worker.py")


def check_one_holder_at_a_time(held: list[tuple[float, float, int]]) -> None:
    """Holding intervals never overlap, and tokens grow with each new holding."""
    held = sorted(held)
    assert len(held) > 5
    for (_, end, fence), (start, _, next_fence) in zip(held, held[1:]):
        assert start >= end, "two holders at once"
        assert next_fence > fence, "a fencing token did not increase"
    assert len({fence for _, _, fence in held}) == len(held)


def test_the_redis_store_is_a_lease_store(redis_store: RedisStore) -> None:
    assert isinstance(redis_store, LeaseStore)


def test_acquire_renew_release(redis_store: RedisStore) -> None:
    store = redis_store
    assert store.lease_holder("line-1") is None
    fence = store.acquire_lease("line-1", "a", ttl=5)
    assert isinstance(fence, int)
    assert store.lease_holder("line-1") == "a"
    assert store.acquire_lease("line-1", "a", ttl=5) == fence  # ours already: same token
    assert store.acquire_lease("line-1", "b", ttl=5) is None
    assert store.renew_lease("line-1", "a", fence, ttl=5) is True
    assert store.renew_lease("line-1", "a", fence + 1, ttl=5) is False  # wrong token
    assert store.renew_lease("line-1", "b", fence, ttl=5) is False  # not the holder
    # Only the holder, with its token, can give it up.
    assert store.release_lease("line-1", "b", fence) is False
    assert store.release_lease("line-1", "a", fence - 1) is False
    assert store.lease_holder("line-1") == "a"
    assert store.release_lease("line-1", "a", fence) is True
    assert store.lease_holder("line-1") is None
    assert store.release_lease("line-1", "a", fence) is False  # already released
    again = store.acquire_lease("line-1", "b", ttl=5)
    assert again is not None and again > fence
    # Leases are independent of each other.
    assert store.acquire_lease("line-2", "a", ttl=5) is not None


def test_renew_fails_after_expiry_and_after_takeover(redis_store: RedisStore) -> None:
    store = redis_store
    first = store.acquire_lease("line", "a", ttl=0.1)
    assert first is not None
    time.sleep(0.2)
    assert store.lease_holder("line") is None  # expired: nobody holds it
    assert store.renew_lease("line", "a", first, ttl=5) is False
    mine_again = store.acquire_lease("line", "a", ttl=0.1)
    assert mine_again is not None and mine_again > first  # lapsed: a new token, even for a
    time.sleep(0.2)
    taken = store.acquire_lease("line", "b", ttl=5)
    assert taken is not None and taken > mine_again
    assert store.renew_lease("line", "a", mine_again, ttl=5) is False
    assert store.release_lease("line", "a", mine_again) is False
    assert store.lease_holder("line") == "b"


def test_renewal_keeps_the_lease(redis_store: RedisStore) -> None:
    store = redis_store
    fence = store.acquire_lease("line", "a", ttl=0.5)
    assert fence is not None
    for _ in range(8):  # 0.8 s in all: longer than the TTL
        time.sleep(0.1)
        assert store.renew_lease("line", "a", fence, ttl=0.5)
        assert store.acquire_lease("line", "b", ttl=0.5) is None
    assert store.lease_holder("line") == "a"


def test_fenced_commit_refuses_a_stale_holder(redis_store: RedisStore) -> None:
    store = redis_store
    old = store.acquire_lease("line-1", "paused", ttl=0.1)
    assert old is not None
    assert store.set_cursors_fenced({"inst/message": 10}, {"line-1": Fence("paused", old)})
    time.sleep(0.2)  # the holder is paused past its TTL...
    new = store.acquire_lease("line-1", "successor", ttl=5)  # ...and another takes over
    assert new is not None and new > old
    assert store.set_cursors_fenced({"inst/message": 20}, {"line-1": ("successor", new)})
    # The paused holder wakes up and commits what it had: refused, nothing written.
    assert store.set_cursors_fenced({"inst/message": 15}, {"line-1": ("paused", old)}) \
        is False
    assert store.get_cursor("inst/message") == 20
    # The right holder with a wrong token is refused too.
    assert store.set_cursors_fenced({"inst/message": 21}, {"line-1": ("successor", old)}) \
        is False
    assert store.get_cursor("inst/message") == 20


def test_fenced_commit_is_all_or_nothing(redis_store: RedisStore) -> None:
    store = redis_store
    one = store.acquire_lease("line-1", "me", ttl=5)
    two = store.acquire_lease("line-2", "me", ttl=5)
    assert one is not None and two is not None
    store.set_cursors({"a/message": 1, "b/message": 1})
    both = {"line-1": ("me", one), "line-2": ("me", two)}
    assert store.set_cursors_fenced({"a/message": 2, "b/message": 2}, both)
    assert store.release_lease("line-2", "me", two)
    assert store.set_cursors_fenced({"a/message": 3, "b/message": 3}, both) is False
    assert (store.get_cursor("a/message"), store.get_cursor("b/message")) == (2, 2)
    # No fences: a plain atomic batch. No cursors: just the check.
    assert store.set_cursors_fenced({"c/message": 1}, {})
    assert store.get_cursor("c/message") == 1
    assert store.set_cursors_fenced({}, {"line-1": ("me", one)}) is True
    assert store.set_cursors_fenced({}, {"line-2": ("me", two)}) is False


def test_fenced_commit_of_a_large_batch(redis_store: RedisStore) -> None:
    fence = redis_store.acquire_lease("line", "me", ttl=5)
    assert fence is not None
    batch = {f"instance-{i}/message": i for i in range(2000)}
    assert redis_store.set_cursors_fenced(batch, {"line": ("me", fence)})
    assert redis_store.get_cursor("instance-1999/message") == 1999
    assert redis_store.get_cursor("instance-0/message") == 0


def test_one_holder_at_a_time_among_threads(redis_store: RedisStore) -> None:
    store = redis_store
    held: list[tuple[float, float, int]] = []
    inside = [0]
    lock = threading.Lock()
    errors: list[BaseException] = []

    def contend(holder: str) -> None:
        try:
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                fence = store.acquire_lease("line", holder, ttl=10)
                if fence is None:
                    time.sleep(0.001)
                    continue
                start = time.monotonic()
                with lock:
                    inside[0] += 1
                    assert inside[0] == 1
                time.sleep(0.002)
                with lock:
                    inside[0] -= 1
                stop = time.monotonic()
                assert store.release_lease("line", holder, fence)
                with lock:
                    held.append((start, stop, fence))
                time.sleep(0.001)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=contend, args=(f"thread-{i}",)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    check_one_holder_at_a_time(held)


def test_one_holder_at_a_time_among_processes(
        redis_server: RedisServer, namespace: str,
        run_workers: Callable[..., list[Any]]) -> None:
    results = run_workers([("leases", "redis", redis_server.url, namespace, "line", "1.5",
                            f"process-{i}") for i in range(3)])
    assert all(results), "every process got the lease at least once"
    check_one_holder_at_a_time([tuple(item) for result in results for item in result])


def test_a_stopped_process_cannot_commit_after_a_takeover(
        redis_server: RedisServer, redis_store: RedisStore, namespace: str) -> None:
    """SIGSTOP a holder past its TTL; another takes over and commits; SIGCONT: the old
    holder's commit is refused and the cursor keeps the new holder's value."""
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "paused-holder", "redis", redis_server.url, namespace,
         "line", "inst/message", "15"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.stdin.write("go\n")
        proc.stdin.flush()
        old = json.loads(proc.stdout.readline())
        os.kill(proc.pid, signal.SIGSTOP)
        time.sleep(0.5)  # past the 0.3 s TTL
        new = redis_store.acquire_lease("line", "successor", ttl=10)
        assert new is not None and new > old
        assert redis_store.set_cursors_fenced({"inst/message": 20},
                                              {"line": ("successor", new)})
        os.kill(proc.pid, signal.SIGCONT)
        out, err = proc.communicate("commit\n", timeout=30)
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1]) is False
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait()
    assert redis_store.get_cursor("inst/message") == 20
    assert redis_store.lease_holder("line") == "successor"


# --- receivers ----------------------------------------------------------------------------


def test_receivers_register_expire_and_leave(redis_server: RedisServer,
                                             redis_store: RedisStore, namespace: str) -> None:
    store = redis_store
    assert store.live_receivers() == []
    assert store.register_receiver("r-b", ttl=0.3) == ["r-b"]
    assert store.register_receiver("r-a", ttl=10) == ["r-a", "r-b"]  # sorted
    assert store.register_receiver("r-a", ttl=10) == ["r-a", "r-b"]  # a heartbeat
    time.sleep(0.45)
    assert store.live_receivers() == ["r-a"]  # r-b missed its heartbeat
    assert store.register_receiver("r-c", ttl=10) == ["r-a", "r-c"]
    store.unregister_receiver("r-a")
    store.unregister_receiver("never-registered")
    assert store.live_receivers() == ["r-c"]


def test_heartbeats_keep_a_receiver_alive(redis_store: RedisStore) -> None:
    for _ in range(8):  # 0.8 s in all: longer than the TTL
        assert redis_store.register_receiver("steady", ttl=0.5) == ["steady"]
        time.sleep(0.1)
    assert redis_store.live_receivers() == ["steady"]


def test_the_registry_leaves_no_key_behind(redis_server: RedisServer,
                                           redis_store: RedisStore, namespace: str) -> None:
    import redis

    client = redis.Redis(port=redis_server.port)
    redis_store.register_receiver("long", ttl=0.4)
    redis_store.register_receiver("short", ttl=0.1)  # must not shorten the key's life
    time.sleep(0.2)
    assert redis_store.live_receivers() == ["long"]
    time.sleep(0.35)
    assert client.exists(f"spectrum:{{{namespace}}}:receivers") == 0
    client.close()


def test_lease_ttls_must_be_positive(redis_store: RedisStore) -> None:
    for call in (lambda: redis_store.register_receiver("r", 0),
                 lambda: redis_store.acquire_lease("l", "h", -1),
                 lambda: redis_store.renew_lease("l", "h", 1, float("inf"))):
        with pytest.raises(ValueError, match="ttl"):
            call()
