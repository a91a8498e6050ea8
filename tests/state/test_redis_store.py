"""RedisStore: URLs and options, open_store, namespaces, TTL policies, a client passed in."""

from __future__ import annotations

import sys
import time

import pytest
import redis
from support.redis_server import RedisServer

from spectrum_sync import ConfigurationError, StateStoreError
from spectrum_sync._state import open_store
from spectrum_sync._state.redis import DEFAULT_TIMEOUT, RedisStore


def raw(server: RedisServer) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=server.port, decode_responses=True)


# --- URLs and options ---------------------------------------------------------------------


def test_open_store_makes_a_redis_store(redis_server: RedisServer, namespace: str) -> None:
    store, owned = open_store(redis_server.url, namespace=namespace)
    assert owned is True
    assert isinstance(store, RedisStore)
    assert store.namespace == namespace
    store.set_route("chat", "+1")
    assert raw(redis_server).get(f"spectrum:{{{namespace}}}:route:chat") == "+1"
    store.close()
    upper, _ = open_store(redis_server.url.replace("redis://", "REDIS://"))
    assert isinstance(upper, RedisStore) and upper.namespace == "default"
    upper.close()


def test_open_store_keeps_its_other_forms(tmp_path: object) -> None:
    store, owned = open_store(None)
    assert owned and type(store).__name__ == "MemoryStore"
    assert open_store(store) == (store, False)
    with pytest.raises(ConfigurationError, match="sqlite:///") as caught:
        open_store("redsi://:hunter2@cache:6379/0")  # a typo must not echo the password
    assert "hunter2" not in str(caught.value)
    assert "redsi://***@cache:6379/0" in str(caught.value)
    with pytest.raises(ConfigurationError, match="not int"):
        open_store(42)


def test_url_forms() -> None:
    store = RedisStore("redis://:pa%3Ass@cache.internal:6380/3?timeout=0.5&connect_timeout=1"
                       "&max_connections=7&client_name=web", namespace="proj")
    assert store.url == "redis://cache.internal:6380/3"
    assert repr(store) == "RedisStore('redis://cache.internal:6380/3', namespace='proj')"
    assert store.timeout == 0.5
    kwargs = store._client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.internal", 6380, 3)
    assert kwargs["password"] == "pa:ss"
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 1.0)
    assert kwargs["client_name"] == "web"
    assert store._client.connection_pool.max_connections == 7  # type: ignore[union-attr]
    store.close()
    plain = RedisStore("redis://localhost")
    kwargs = plain._client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (kwargs["port"], kwargs["db"], kwargs["socket_timeout"]) == (6379, 0,
                                                                          DEFAULT_TIMEOUT)
    assert plain.url == "redis://localhost:6379/0"
    user = RedisStore("redis://app:secret@[::1]:7000/1")
    assert user.url == "redis://app@[::1]:7000/1"
    kwargs = user._client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert (kwargs["username"], kwargs["password"]) == ("app", "secret")


def test_tls_url_forms(tmp_path: object) -> None:
    store = RedisStore("rediss://:pw@cache:6390/0?ssl_ca_certs=/etc/ca.pem&ssl_certfile=/c.pem"
                       "&ssl_keyfile=/k.pem")
    pool = store._client.connection_pool  # type: ignore[union-attr]
    assert "SSL" in pool.connection_class.__name__
    kwargs = pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert (kwargs["ssl_certfile"], kwargs["ssl_keyfile"]) == ("/c.pem", "/k.pem")
    assert kwargs["ssl_check_hostname"] is True
    assert store.url == "rediss://cache:6390/0"
    relaxed = RedisStore("rediss://cache?ssl_cert_reqs=none")
    kwargs = relaxed._client.connection_pool.connection_kwargs  # type: ignore[union-attr]
    assert kwargs["ssl_check_hostname"] is False
    assert kwargs["ssl_cert_reqs"] == "none"


@pytest.mark.parametrize(("url", "message"), [
    ("redis://host/x", "database number"),
    ("redis://host:99999/0", "invalid Redis URL"),
    ("redis://host/0?password=x", "unknown URL option 'password'"),
    ("redis://host/0?db=1", "unknown URL option 'db'"),
    ("redis://host/0?timeout=0", "timeout must be a number > 0"),
    ("redis://host/0?timeout=nan", "timeout must be a number > 0"),
    ("redis://host/0?timeout=abc", "timeout must be a number"),
    ("redis://host/0?timeout=1&timeout=2", "given twice"),
    ("redis://host/0?timeout=900", "at most 300"),
    ("redis://host/0?max_connections=0", "max_connections"),
    ("redis://host/0?route_ttl=-1", "route_ttl"),
    ("redis://host/0?ssl_ca_certs=/ca.pem", "needs a rediss://"),
    ("rediss://host/0?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
    ("rediss://host/0?ssl_check_hostname=perhaps", "ssl_check_hostname"),
    ("rediss://host/0?ssl_cert_reqs=none&ssl_check_hostname=true", "needs certificate"),
    ("redis://host/0#frag", "fragment"),
    ("http://host/0", "redis:// or rediss://"),
])
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        RedisStore(url.replace("://", "://:topsecret@", 1))
    assert "topsecret" not in str(caught.value)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="both in the URL and as an argument"):
        RedisStore("redis://host/0?timeout=1", timeout=2)
    with pytest.raises(ConfigurationError, match="non-empty string"):
        RedisStore("redis://host/0", namespace="")
    with pytest.raises(ConfigurationError, match="longer than"):
        RedisStore("redis://host/0", namespace="x" * 1001)
    with pytest.raises(ConfigurationError, match="not int"):
        RedisStore(6379)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="member_ttl"):
        RedisStore("redis://host/0", member_ttl=float("inf"))
    assert RedisStore("redis://host/0", timeout=0.25).timeout == 0.25


def test_construction_touches_no_network() -> None:
    # Nothing listens on port 1: a store is still made; its first call fails.
    store = RedisStore("redis://127.0.0.1:1/0")
    with pytest.raises(StateStoreError, match="cannot reach Redis"):
        store.get_route("chat")


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # import redis -> ImportError
    with pytest.raises(ConfigurationError, match=r'pip install "spectrum-sync\[redis\]"'):
        open_store("redis://localhost:6379/0")


# --- namespaces ---------------------------------------------------------------------------


def test_namespaces_do_not_see_each_other(redis_server: RedisServer, namespace: str) -> None:
    a = RedisStore(redis_server.url, namespace=namespace + "-a")
    b = RedisStore(redis_server.url, namespace=namespace + "-b")
    a.set_route("chat", "+1")
    a.reserve("quota", None)
    a.raise_counter("spent", 5)
    a.set_cursors({"line/message": 10})
    a.add_member("contacted:+1", "chat")
    fence = a.acquire_lease("line-1", "holder-a", ttl=10)
    a.register_receiver("receiver-a", ttl=10)
    assert b.get_route("chat") is None
    assert (b.get_counter("quota"), b.get_counter("spent")) == (0, 0)
    assert b.get_cursor("line/message") is None
    assert b.has_member("contacted:+1", "chat") is False
    assert b.lease_holder("line-1") is None
    assert b.live_receivers() == []
    other = b.acquire_lease("line-1", "holder-b", ttl=10)
    assert other is not None  # the same lease name is another lease in b
    assert a.lease_holder("line-1") == "holder-a"
    # A fence of one namespace means nothing in the other.
    assert b.set_cursors_fenced({"line/message": 1}, {"line-1": ("holder-a", fence or 0)}) \
        is False
    assert a.get_cursor("line/message") == 10
    a.close()
    b.close()


def test_namespaces_cannot_collide_through_separators(redis_server: RedisServer) -> None:
    # Unescaped, "p" + route "q:route:r" and "p}:route:q" + route "r" would share a key.
    a = RedisStore(redis_server.url, namespace="p")
    b = RedisStore(redis_server.url, namespace="p}:route:q")
    c = RedisStore(redis_server.url, namespace="p:route:q")
    a.set_route("q:route:r", "+1")
    assert b.get_route("r") is None
    assert c.get_route("r") is None
    keys = raw(redis_server).keys("spectrum:*route:q*")
    assert "spectrum:{p}:route:q:route:r" in keys
    for store in (a, b, c):
        store.close()


# --- TTL policies -------------------------------------------------------------------------


def test_counter_ttl_is_set_once(redis_server: RedisServer, redis_store: RedisStore,
                                 namespace: str) -> None:
    client = raw(redis_server)
    key = f"spectrum:{{{namespace}}}:counter:day"
    assert redis_store.reserve("day", 10, ttl=100)
    first = client.pttl(key)
    assert 99_000 < first <= 100_000
    time.sleep(0.05)
    assert redis_store.reserve("day", 10, ttl=100)  # does not extend the day
    assert client.pttl(key) < first
    assert redis_store.reserve("forever", None)
    assert client.pttl(f"spectrum:{{{namespace}}}:counter:forever") == -1
    assert redis_store.raise_counter("spent", 3, ttl=50) == 3
    assert 49_000 < client.pttl(f"spectrum:{{{namespace}}}:counter:spent") <= 50_000


def test_counters_expire(redis_store: RedisStore) -> None:
    assert redis_store.reserve("short", 1, ttl=0.2)
    assert redis_store.reserve("short", 1, ttl=0.2) is False
    time.sleep(0.35)
    assert redis_store.get_counter("short") == 0
    assert redis_store.reserve("short", 1, ttl=0.2) is True  # a new day


def test_bad_ttl_is_a_validation_error(redis_store: RedisStore) -> None:
    with pytest.raises(ValueError, match="ttl"):
        redis_store.reserve("k", 1, ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        redis_store.acquire_lease("lease", "me", ttl=float("nan"))
    assert redis_store.get_counter("k") == 0


def test_route_and_member_ttls(redis_server: RedisServer, namespace: str) -> None:
    store = RedisStore(redis_server.url + "?route_ttl=0.3&member_ttl=0.6",
                       namespace=namespace)
    store.set_route("chat", "+1")
    store.add_member("contacted:+1", "a")
    time.sleep(0.4)
    assert store.get_route("chat") is None  # forgotten 0.3 s after it was set
    store.add_member("contacted:+1", "b")  # keeps the whole set 0.6 s more
    time.sleep(0.3)
    assert store.has_member("contacted:+1", "a") and store.has_member("contacted:+1", "b")
    time.sleep(0.5)
    assert not store.has_member("contacted:+1", "a")
    store.close()
    kept = RedisStore(redis_server.url, namespace=namespace)
    kept.set_route("chat", "+1")
    kept.add_member("g", "m")
    client = raw(redis_server)
    assert client.pttl(f"spectrum:{{{namespace}}}:route:chat") == -1
    assert client.pttl(f"spectrum:{{{namespace}}}:set:g") == -1
    kept.close()


# --- a client passed in -------------------------------------------------------------------


def test_a_client_passed_in_is_used_and_left_open(redis_server: RedisServer,
                                                  namespace: str) -> None:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=1)
    store = RedisStore(client, namespace=namespace)  # bytes replies: decoded by the store
    assert store.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert store.timeout == 1.0
    store.set_route("chat", "+1")
    assert store.get_route("chat") == "+1"
    fence = store.acquire_lease("lease", "me", ttl=5)
    assert fence is not None and store.lease_holder("lease") == "me"
    assert store.acquire_lease("lease", "me", ttl=5) == fence
    assert store.register_receiver("r", ttl=5) == ["r"]
    assert store.set_cursors_fenced({"s": 1}, {"lease": ("me", fence)})
    store.close()
    with pytest.raises(StateStoreError, match="closed"):
        store.get_route("chat")
    assert client.ping() is True  # not ours to close
    with pytest.raises(ConfigurationError, match="timeouts"):
        RedisStore(client, timeout=1)
    client.close()


def test_closed_store_raises(redis_store: RedisStore) -> None:
    redis_store.close()
    with pytest.raises(StateStoreError, match="is closed") as caught:
        redis_store.reserve("k", None)
    assert caught.value.store == redis_store.url
