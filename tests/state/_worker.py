"""A separate process for the multi-process state store tests (run as a script).

``python _worker.py <job> <store kind> <target> <namespace> [arguments...]``: opens the
store, prints ``ready``, waits for a line on stdin (so that every worker starts the race
at the same moment), runs the job and prints its result as one JSON line.

Jobs:
- ``reserve <key> <limit> <n>``: n reservations; prints how many succeeded.
- ``leases <name> <seconds> <holder>``: for that long, take the lease whenever it is free,
  hold it briefly, give it back; prints ``[[start, end, fence], ...]`` (monotonic clock,
  which is system-wide on Linux, so intervals of several processes can be compared).
- ``set-route <chat> <phone>``: remember a route.
- ``paused-holder <lease> <stream> <value>``: take the lease (short TTL), print its fence,
  wait for a second stdin line (the test stops this process in between), then try a fenced
  cursor commit; prints whether it was accepted.
"""

from __future__ import annotations

import json
import sys
import time

from spectrum_sync._state.base import StateStore
from spectrum_sync._state.redis import RedisStore
from spectrum_sync._state.sqlite import SQLiteStore


def _store(kind: str, target: str, namespace: str) -> StateStore:
    if kind == "sqlite":
        return SQLiteStore(target)
    return RedisStore(target, namespace=namespace)


def _leases(store: RedisStore, name: str, seconds: float, holder: str) -> object:
    held: list[tuple[float, float, int]] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fence = store.acquire_lease(name, holder, ttl=10)
        if fence is None:
            time.sleep(0.001)
            continue
        start = time.monotonic()
        time.sleep(0.003)
        stop = time.monotonic()
        assert store.release_lease(name, holder, fence)
        held.append((start, stop, fence))
        time.sleep(0.002)  # let the others in
    return held


def main(argv: list[str]) -> None:
    job, kind, target, namespace, *args = argv
    store = _store(kind, target, namespace)
    if job == "reserve":
        store.get_counter("warm-up")  # connect before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    result: object
    if job == "reserve":
        key, limit, count = args[0], int(args[1]), int(args[2])
        result = sum(store.reserve(key, limit) for _ in range(count))
    elif job == "leases":
        assert isinstance(store, RedisStore)
        result = _leases(store, args[0], float(args[1]), args[2])
    elif job == "set-route":
        store.set_route(args[0], args[1])
        result = True
    elif job == "paused-holder":
        assert isinstance(store, RedisStore)
        lease, stream, value = args[0], args[1], int(args[2])
        fence = store.acquire_lease(lease, "paused", ttl=0.3)
        assert fence is not None
        print(json.dumps(fence), flush=True)
        sys.stdin.readline()
        result = store.set_cursors_fenced({stream: value}, {lease: ("paused", fence)})
    else:
        raise SystemExit(f"unknown job {job!r}")
    print(json.dumps(result), flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
