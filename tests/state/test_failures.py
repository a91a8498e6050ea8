"""Redis down, slow, restarted, refusing the password, or behind TLS: every failure is a
quick StateStoreError that names the URL without the password, and the same store object
works again once Redis is back."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import redis
from support.redis_server import RedisServer

from spectrum_sync import StateStoreError
from spectrum_sync._state.redis import RedisStore

PASSWORD = "s3cret-pa55word"


def every_call(store: RedisStore) -> list[tuple[str, Callable[[], Any]]]:
    """One call of each method, StateStore and LeaseStore alike."""
    return [
        ("get_cursor", lambda: store.get_cursor("s")),
        ("set_cursors", lambda: store.set_cursors({"s": 1})),
        ("get_route", lambda: store.get_route("c")),
        ("set_route", lambda: store.set_route("c", "+1")),
        ("get_counter", lambda: store.get_counter("k")),
        ("reserve", lambda: store.reserve("k", 10, ttl=60)),
        ("release", lambda: store.release("k")),
        ("raise_counter", lambda: store.raise_counter("k", 5, ttl=60)),
        ("add_member", lambda: store.add_member("g", "m")),
        ("has_member", lambda: store.has_member("g", "m")),
        ("register_receiver", lambda: store.register_receiver("r", 10)),
        ("unregister_receiver", lambda: store.unregister_receiver("r")),
        ("live_receivers", lambda: store.live_receivers()),
        ("acquire_lease", lambda: store.acquire_lease("l", "h", 10)),
        ("renew_lease", lambda: store.renew_lease("l", "h", 1, 10)),
        ("release_lease", lambda: store.release_lease("l", "h", 1)),
        ("lease_holder", lambda: store.lease_holder("l")),
        ("set_cursors_fenced", lambda: store.set_cursors_fenced({"s": 2}, {"l": ("h", 1)})),
    ]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A server of this test's own (it gets stopped), keeping its data across restarts."""
    with RedisServer(password=PASSWORD, appendonly=True) as own:
        yield own


def test_redis_down_fails_fast_and_safely(server: RedisServer) -> None:
    store = RedisStore(server.url + "?timeout=1", namespace="down")
    store.set_route("c", "+1")  # a pooled connection exists when Redis goes away
    server.stop()
    for name, call in every_call(store):
        start = time.monotonic()
        with pytest.raises(StateStoreError) as caught:
            call()
        assert time.monotonic() - start < 1.0, name
        error = caught.value
        text = f"{error} {error!r} {error.store}"
        assert f"redis://127.0.0.1:{server.port}/0" in str(error), name
        assert PASSWORD not in text, name
        assert "cannot reach Redis" in str(error), name
        assert error.retryable is True
        assert error.__cause__ is None and error.__suppress_context__
    assert PASSWORD not in repr(store)
    server.start()
    assert store.get_route("c") == "+1"  # the same object recovers by itself
    store.close()


def test_restart_keeps_working_scripts_included(server: RedisServer) -> None:
    store = RedisStore(server.url, namespace="restart")
    for _, call in every_call(store):
        call()  # every script is loaded once
    fence = store.acquire_lease("line", "me", ttl=30)
    assert fence is not None
    store.set_cursors({"inst/message": 41})
    server.restart()  # a new process: pooled sockets dead, script cache empty
    admin = redis.Redis(port=server.port, password=PASSWORD)
    assert admin.script_exists(store._acquire.sha) == [False]
    # Data survived (append-only file); the scripts are loaded again on first use.
    assert store.get_cursor("inst/message") == 41
    assert store.acquire_lease("line", "me", ttl=30) == fence
    assert store.set_cursors_fenced({"inst/message": 42}, {"line": ("me", fence)})
    assert store.get_cursor("inst/message") == 42
    for _, call in every_call(store):
        call()  # NOSCRIPT is handled for every script
    assert admin.script_exists(store._acquire.sha, store._reserve.sha) == [True, True]
    admin.close()
    store.close()


def test_a_crash_and_restart(server: RedisServer) -> None:
    store = RedisStore(server.url, namespace="crash")
    assert store.reserve("quota", 3)
    server.kill()
    with pytest.raises(StateStoreError):
        store.reserve("quota", 3)
    server.start()
    assert store.get_counter("quota") == 1  # fsync always: the write was on disk
    assert [store.reserve("quota", 3) for _ in range(3)] == [True, True, False]
    store.close()


def test_fencing_tokens_grow_even_when_redis_lost_its_data() -> None:
    with RedisServer() as server:  # no persistence
        store = RedisStore(server.url, namespace="amnesia")
        before = store.acquire_lease("line", "a", ttl=30)
        assert before is not None
        server.restart()
        assert store.lease_holder("line") is None  # everything is gone...
        after = store.acquire_lease("line", "b", ttl=30)
        assert after is not None and after > before  # ...but tokens still grow
        store.close()


def test_wrong_password(server: RedisServer) -> None:
    url = server.url.replace(PASSWORD, "not-the-password")
    store = RedisStore(url, namespace="auth")
    with pytest.raises(StateStoreError, match="authentication failed") as caught:
        store.get_route("c")
    assert "not-the-password" not in str(caught.value)
    assert caught.value.retryable is False
    anonymous = RedisStore(f"redis://127.0.0.1:{server.port}/0", namespace="auth")
    with pytest.raises(StateStoreError, match="authentication failed"):
        anonymous.reserve("k", 1)
    store.close()
    anonymous.close()


def test_refusals_are_explained(server: RedisServer, redis_server: RedisServer) -> None:
    """Redis answers but refuses: each refusal says what to fix, and is not retryable."""
    admin = redis.Redis(port=server.port, password=PASSWORD, decode_responses=True)
    store = RedisStore(server.url, namespace="refusals")
    admin.set("spectrum:{refusals}:route:chat", "x")
    admin.lpush("spectrum:{refusals}:route:list", "x")
    with pytest.raises(StateStoreError, match="holds another type of value") as caught:
        store.get_route("list")
    assert caught.value.retryable is False
    admin.set("spectrum:{refusals}:counter:bad", "not a number")
    with pytest.raises(StateStoreError, match="unexpected value"):
        store.get_counter("bad")
    for call in (lambda: store.reserve("bad", 10), lambda: store.release("bad"),
                 lambda: store.raise_counter("bad", 3)):
        with pytest.raises(StateStoreError,
                           match=r"unexpected value.*spectrum:\{refusals\}:counter:bad"):
            call()
    admin.acl_setuser("reader", enabled=True, passwords=["+reader-pw"], keys=["*"],
                      commands=["+get", "+hget", "+sismember"])
    reader = RedisStore(f"redis://reader:reader-pw@127.0.0.1:{server.port}/0",
                        namespace="refusals")
    assert reader.get_route("chat") == "x"
    with pytest.raises(StateStoreError, match="lacks a permission") as caught:
        reader.reserve("k", 1)
    assert "reader-pw" not in str(caught.value)
    assert f"redis://reader@127.0.0.1:{server.port}/0" in str(caught.value)
    reader.close()
    admin.config_set("maxmemory", "1")
    with pytest.raises(StateStoreError, match="out of memory"):
        store.set_route("chat", "+1")
    admin.config_set("maxmemory", "0")
    admin.replicaof("127.0.0.1", str(redis_server.port))
    try:
        with pytest.raises(StateStoreError, match="read-only replica"):
            store.set_route("chat", "+1")
    finally:
        admin.replicaof("NO", "ONE")
    store.set_route("chat", "+1")  # a primary again
    store.close()
    admin.close()


def test_a_silent_server_times_out() -> None:
    """Connected, but no answer (a hung Redis): the read timeout ends the call."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepted by the kernel, never answered
        port = listener.getsockname()[1]
        store = RedisStore(f"redis://:{PASSWORD}@127.0.0.1:{port}/0?timeout=0.3",
                           namespace="silent")
        for call in (lambda: store.get_route("c"), lambda: store.reserve("k", 1)):
            start = time.monotonic()
            with pytest.raises(StateStoreError, match="no answer within the timeout") as caught:
                call()
            assert 0.25 < time.monotonic() - start < 1.5
            assert PASSWORD not in str(caught.value)
            assert caught.value.retryable is True
        store.close()


# --- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[str, str]) -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD, tls=certificate) as own:
        yield own


def test_tls(tls_server: RedisServer, certificate: tuple[str, str]) -> None:
    cert, _ = certificate
    store = RedisStore(f"{tls_server.url}?ssl_ca_certs={cert}", namespace="tls")
    assert store.url == f"rediss://127.0.0.1:{tls_server.port}/0"
    assert store.reserve("k", 2) and store.reserve("k", 2) and not store.reserve("k", 2)
    fence = store.acquire_lease("line", "me", ttl=5)
    assert fence is not None
    assert store.set_cursors_fenced({"s": 1}, {"line": ("me", fence)})
    store.close()
    unchecked = RedisStore(f"{tls_server.url}?ssl_cert_reqs=none", namespace="tls")
    assert unchecked.get_counter("k") == 2
    unchecked.close()


def test_tls_with_an_unknown_certificate(tls_server: RedisServer) -> None:
    store = RedisStore(tls_server.url, namespace="tls")  # system roots: self-signed refused
    start = time.monotonic()
    with pytest.raises(StateStoreError, match="TLS certificate was refused") as caught:
        store.get_counter("k")
    assert time.monotonic() - start < 2.5
    assert "certificate verify failed" in str(caught.value)
    assert caught.value.retryable is False  # configuration, not an outage
    assert PASSWORD not in str(caught.value)
    assert f"rediss://127.0.0.1:{tls_server.port}/0" in str(caught.value)
    store.close()


def test_tls_against_a_plain_port_or_nothing(redis_server: RedisServer) -> None:
    plain = RedisStore(f"rediss://:{PASSWORD}@127.0.0.1:{redis_server.port}/0?timeout=1",
                       namespace="tls")
    start = time.monotonic()
    with pytest.raises(StateStoreError) as caught:
        plain.get_counter("k")
    assert time.monotonic() - start < 2.5
    assert PASSWORD not in str(caught.value)
    plain.close()
    nothing = RedisStore(f"rediss://:{PASSWORD}@127.0.0.1:1/0", namespace="tls")
    with pytest.raises(StateStoreError, match="cannot reach Redis") as caught:
        nothing.get_counter("k")
    assert PASSWORD not in str(caught.value)
    nothing.close()
