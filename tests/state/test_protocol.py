"""The StateStore protocol, method by method: memory, SQLite and Redis behave the same."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from spectrum_sync import SQLiteStore
from spectrum_sync._state.base import StateStore
from spectrum_sync._state.leases import LeaseStore


def test_is_a_state_store(any_store: StateStore) -> None:
    assert isinstance(any_store, StateStore)
    # Only a store that can coordinate processes offers leases.
    assert isinstance(any_store, LeaseStore) == (type(any_store).__name__ == "RedisStore")
    assert any_store.in_memory == (type(any_store).__name__ == "MemoryStore")  # type: ignore[attr-defined]


def test_cursors(any_store: StateStore) -> None:
    store = any_store
    assert store.get_cursor("inst-1/message") is None
    store.set_cursors({"inst-1/message": 5, "inst-1/group": 7})
    store.set_cursors({"inst-1/message": 9})
    store.set_cursors({})
    assert store.get_cursor("inst-1/message") == 9
    assert store.get_cursor("inst-1/group") == 7
    store.set_cursors({"inst-1/message": 3})  # a plain write: the caller decides the value
    assert store.get_cursor("inst-1/message") == 3
    store.set_cursors({"big": 2**53 + 1})  # exact beyond a double's precision
    assert store.get_cursor("big") == 2**53 + 1


def test_routes(any_store: StateStore) -> None:
    store = any_store
    chat = "iMessage;-;+15551234567"
    assert store.get_route(chat) is None
    store.set_route(chat, "+15550001111")
    store.set_route(chat, "+15550002222")
    assert store.get_route(chat) == "+15550002222"
    group = "iMessage;+;chat 42 ünïcødé 🎉"
    store.set_route(group, "+15550001111")
    assert store.get_route(group) == "+15550001111"


def test_counters(any_store: StateStore) -> None:
    store = any_store
    assert store.get_counter("k") == 0
    assert store.reserve("k", None) is True
    assert [store.reserve("k", 3) for _ in range(3)] == [True, True, False]
    assert store.get_counter("k") == 3
    assert store.reserve("k", None, ttl=3600) is True  # no limit: always counts
    assert store.get_counter("k") == 4
    store.release("k")
    assert store.get_counter("k") == 3
    assert store.reserve("zero", 0) is False  # a limit of 0 refuses everything
    assert store.get_counter("zero") == 0


def test_release_never_goes_below_zero(any_store: StateStore) -> None:
    store = any_store
    store.release("never-reserved")
    assert store.get_counter("never-reserved") == 0
    store.reserve("one", None)
    store.release("one")
    store.release("one")
    assert store.get_counter("one") == 0
    assert store.reserve("one", 1) is True


def test_raise_counter(any_store: StateStore) -> None:
    store = any_store
    assert store.raise_counter("spent", 50, ttl=3600) == 50
    assert store.raise_counter("spent", 10) == 50  # never lowers
    assert store.raise_counter("spent", 70) == 70
    assert store.get_counter("spent") == 70
    assert store.reserve("spent", 70) is False
    store.reserve("r", None)
    assert store.raise_counter("r", 1) == 1


def test_members(any_store: StateStore) -> None:
    store = any_store
    assert store.has_member("contacted:+1", "chat") is False
    assert store.add_member("contacted:+1", "chat") is True
    assert store.add_member("contacted:+1", "chat") is False
    assert store.has_member("contacted:+1", "chat") is True
    assert store.has_member("contacted:+2", "chat") is False  # groups are separate
    assert store.has_member("contacted:+1", "other") is False


def test_members_with_a_ttl_are_forgotten(any_store: StateStore) -> None:
    store = any_store
    assert store.add_member("webhook-seen", "m1", ttl=0.3) is True
    assert store.add_member("webhook-seen", "m1", ttl=0.3) is False  # still there
    assert store.has_member("webhook-seen", "m1") is True
    assert store.add_member("webhook-seen", "kept") is True  # no TTL: kept
    time.sleep(0.45)
    assert store.has_member("webhook-seen", "m1") is False
    assert store.has_member("webhook-seen", "kept") is True
    assert store.add_member("webhook-seen", "m1", ttl=60) is True  # absent again: added


def test_an_sqlite_file_from_before_ttls_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE members (grp TEXT NOT NULL, member TEXT NOT NULL, "
                    "PRIMARY KEY (grp, member))")
        old.execute("INSERT INTO members VALUES ('contacted:+1', 'chat')")
    store = SQLiteStore(path)
    try:
        assert store.has_member("contacted:+1", "chat") is True  # kept for ever
        assert store.add_member("webhook-seen", "m1", ttl=60) is True
    finally:
        store.close()


def test_sqlite_prunes_expired_members(tmp_path: Path) -> None:
    import sqlite3

    store = SQLiteStore(tmp_path / "state.db")
    try:
        for n in range(600):
            store.add_member("webhook-seen", f"old-{n}", ttl=0.01)
        time.sleep(0.05)
        for n in range(500):
            store.add_member("webhook-seen", f"new-{n}", ttl=60)
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "state.db") as check:
        (rows,) = check.execute("SELECT COUNT(*) FROM members").fetchone()
    assert rows < 600, "expired members were never deleted: the file grows for ever"


def test_reserve_is_exact_under_threads(any_store: StateStore) -> None:
    store = any_store
    wins: list[bool] = []
    lock = threading.Lock()

    def race() -> None:
        mine = [store.reserve("race", 25) for _ in range(20)]
        with lock:
            wins.extend(mine)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(wins) == 25
    assert store.get_counter("race") == 25


def test_close_is_idempotent(any_store: StateStore) -> None:
    any_store.close()
    any_store.close()
