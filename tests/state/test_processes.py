"""What processes share through a store: exact quotas across processes (Redis and, on one
host, SQLite), routing learned by one process used by another, and fork safety."""

from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any, Callable

from support.redis_server import RedisServer

from spectrum_sync._state.redis import RedisStore
from spectrum_sync._state.sqlite import SQLiteStore

Workers = Callable[..., list[Any]]


def test_quotas_are_exact_across_processes_on_redis(
        redis_server: RedisServer, namespace: str, run_workers: Workers) -> None:
    results = run_workers([("reserve", "redis", redis_server.url, namespace,
                            "quota:new_conversations:+1:2024-01-01", "10", "25")] * 4)
    assert sum(results) == 10
    store = RedisStore(redis_server.url, namespace=namespace)
    assert store.get_counter("quota:new_conversations:+1:2024-01-01") == 10
    store.close()


def test_quotas_are_exact_across_processes_on_sqlite(tmp_path: Path,
                                                     run_workers: Workers) -> None:
    path = str(tmp_path / "state.db")
    SQLiteStore(path).close()  # the schema exists before the race
    results = run_workers([("reserve", "sqlite", path, "-", "quota", "10", "25")] * 4)
    assert sum(results) == 10
    store = SQLiteStore(path)
    assert store.get_counter("quota") == 10
    store.close()


def test_a_route_learned_in_one_process_is_used_in_another(
        redis_server: RedisServer, redis_store: RedisStore, namespace: str,
        run_workers: Workers) -> None:
    assert redis_store.get_route("iMessage;+;chat1") is None
    run_workers([("set-route", "redis", redis_server.url, namespace, "iMessage;+;chat1",
                  "+15550002222")])
    assert redis_store.get_route("iMessage;+;chat1") == "+15550002222"


def _in_child(store: RedisStore) -> None:
    """What a forked child does with its parent's store; exits 0 when all went well."""
    code = 1
    try:
        store.set_route("from-child", "+2")
        assert store.get_route("from-parent") == "+1"
        assert store.reserve("shared", None)
        fence = store.acquire_lease("child-line", "child", ttl=10)
        assert fence is not None
        assert store.set_cursors_fenced({"child/message": 7}, {"child-line": ("child", fence)})
        pool = store._client.connection_pool  # type: ignore[union-attr]
        assert pool.pid == os.getpid()  # the pool was rebuilt for this process
        store.close()  # closes the child's connections only
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


def test_fork_after_use(redis_store: RedisStore) -> None:
    """A prefork server (gunicorn, Celery) forks after the parent used the store: both
    processes keep using it, each on its own connections."""
    store = redis_store
    store.set_route("from-parent", "+1")
    assert store.reserve("shared", None)
    client = store._client
    assert client is not None
    parent_connections = list(client.connection_pool._available_connections)
    assert parent_connections  # the parent holds an open connection across the fork
    pid = os.fork()
    if pid == 0:
        _in_child(store)
    # The parent goes on meanwhile, on its own connection.
    for _ in range(50):
        assert store.get_route("from-parent") == "+1"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.get_route("from-child") == "+2"
    assert store.get_counter("shared") == 2
    assert store.get_cursor("child/message") == 7
    assert store.lease_holder("child-line") == "child"
    # The child closing its store did not shut the parent's sockets down.
    assert store.reserve("shared", None)
    assert client.connection_pool._available_connections[0] in parent_connections
