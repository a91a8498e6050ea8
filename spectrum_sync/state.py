"""Client state that must survive restarts: routing, quota counters, stream cursors.

:class:`StateStore` is the protocol; :class:`MemoryStore` (the default) and
:class:`SQLiteStore` (persistent, shareable by the processes of one host)
implement it. Every method is thread-safe.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Mapping
from typing import ClassVar, Protocol, runtime_checkable

__all__ = ["MemoryStore", "SQLiteStore", "StateStore", "open_store"]


@runtime_checkable
class StateStore(Protocol):
    """Storage for routing, quota counters and per-line stream cursors."""

    def get_cursor(self, line: str) -> int | None:
        """Last processed event sequence of a line, or None."""

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        """Store several line cursors at once (a receive loop batches its commits)."""

    def get_route(self, chat_guid: str) -> str | None:
        """Phone number of the line that serves a chat, or None."""

    def set_route(self, chat_guid: str, phone: str) -> None:
        """Remember which line serves a chat."""

    def get_counter(self, key: str) -> int:
        """Value of a counter (0 when unknown)."""

    def add_counter(self, key: str, amount: int = 1) -> int:
        """Add to a counter; returns the new value."""

    def raise_counter(self, key: str, value: int) -> int:
        """Set a counter to at least ``value``; returns the new value."""

    def add_member(self, group: str, member: str) -> bool:
        """Add to a set; True when the member was not there before."""

    def has_member(self, group: str, member: str) -> bool:
        """Whether a set holds a member."""

    def close(self) -> None:
        """Release resources (idempotent)."""


class _ForkSafeLock:
    """Mixin: recreate ``self._lock`` in a forked child (it may have been held
    by a thread that does not exist there)."""

    _lock: threading.Lock
    _instances: ClassVar[weakref.WeakSet[_ForkSafeLock]] = weakref.WeakSet()

    def _init_lock(self) -> None:
        self._lock = threading.Lock()
        _ForkSafeLock._instances.add(self)

    @staticmethod
    def _after_fork_in_child() -> None:
        for store in list(_ForkSafeLock._instances):
            store._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ForkSafeLock._after_fork_in_child)


class MemoryStore(_ForkSafeLock):
    """In-process store; state lives as long as the client."""

    def __init__(self) -> None:
        self._init_lock()
        self._cursors: dict[str, int] = {}
        self._routes: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._sets: dict[str, set[str]] = {}

    def get_cursor(self, line: str) -> int | None:
        return self._cursors.get(line)

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        with self._lock:
            self._cursors.update(cursors)

    def get_route(self, chat_guid: str) -> str | None:
        return self._routes.get(chat_guid)

    def set_route(self, chat_guid: str, phone: str) -> None:
        self._routes[chat_guid] = phone

    def get_counter(self, key: str) -> int:
        return self._counters.get(key, 0)

    def add_counter(self, key: str, amount: int = 1) -> int:
        with self._lock:
            value = self._counters.get(key, 0) + amount
            self._counters[key] = value
            return value

    def raise_counter(self, key: str, value: int) -> int:
        with self._lock:
            value = max(self._counters.get(key, 0), value)
            self._counters[key] = value
            return value

    def add_member(self, group: str, member: str) -> bool:
        with self._lock:
            members = self._sets.setdefault(group, set())
            if member in members:
                return False
            members.add(member)
            return True

    def has_member(self, group: str, member: str) -> bool:
        return member in self._sets.get(group, ())

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (line TEXT PRIMARY KEY, sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS routes (chat_guid TEXT PRIMARY KEY, phone TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (grp TEXT NOT NULL, member TEXT NOT NULL,
                                    PRIMARY KEY (grp, member));
"""


class SQLiteStore(_ForkSafeLock):
    """Persistent store in one SQLite file (WAL mode).

    The connection is reopened after ``fork()``: SQLite handles must not cross
    processes. Counters use atomic upserts, so several processes may share a file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._init_lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._closed = False
        with self._lock:
            self._connection().executescript(_SCHEMA)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _connection(self) -> sqlite3.Connection:
        # Called with self._lock held.
        if self._closed:
            raise RuntimeError("SQLiteStore is closed")
        if self._conn is None or self._pid != os.getpid():
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _one(self, sql: str, params: tuple[object, ...]) -> tuple[object, ...] | None:
        with self._lock:
            row: tuple[object, ...] | None = self._connection().execute(sql, params).fetchone()
            return row

    def get_cursor(self, line: str) -> int | None:
        row = self._one("SELECT sequence FROM cursors WHERE line = ?", (line,))
        return None if row is None else int(row[0])  # type: ignore[call-overload]

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN")
            try:
                conn.executemany(
                    "INSERT INTO cursors (line, sequence) VALUES (?, ?) "
                    "ON CONFLICT(line) DO UPDATE SET sequence = excluded.sequence",
                    list(cursors.items()),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def get_route(self, chat_guid: str) -> str | None:
        row = self._one("SELECT phone FROM routes WHERE chat_guid = ?", (chat_guid,))
        return None if row is None else str(row[0])

    def set_route(self, chat_guid: str, phone: str) -> None:
        self._one(
            "INSERT INTO routes (chat_guid, phone) VALUES (?, ?) "
            "ON CONFLICT(chat_guid) DO UPDATE SET phone = excluded.phone",
            (chat_guid, phone),
        )

    def get_counter(self, key: str) -> int:
        row = self._one("SELECT value FROM counters WHERE key = ?", (key,))
        return 0 if row is None else int(row[0])  # type: ignore[call-overload]

    def _update_counter(self, key: str, sql: str, amount: int) -> int:
        # A write transaction, so that concurrent processes never lose an update
        # (and no RETURNING clause, which needs SQLite >= 3.35).
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(sql, (key, amount))
                row = conn.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return int(row[0])

    def add_counter(self, key: str, amount: int = 1) -> int:
        return self._update_counter(
            key,
            "INSERT INTO counters (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value",
            amount,
        )

    def raise_counter(self, key: str, value: int) -> int:
        return self._update_counter(
            key,
            "INSERT INTO counters (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
            value,
        )

    def add_member(self, group: str, member: str) -> bool:
        with self._lock:
            cur = self._connection().execute(
                "INSERT OR IGNORE INTO members (grp, member) VALUES (?, ?)", (group, member)
            )
            return cur.rowcount == 1

    def has_member(self, group: str, member: str) -> bool:
        row = self._one("SELECT 1 FROM members WHERE grp = ? AND member = ?", (group, member))
        return row is not None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
            self._closed = True


def open_store(value: object) -> tuple[StateStore, bool]:
    """The store for a client's ``state=`` argument, and whether the client owns it.

    ``None`` gives a new :class:`MemoryStore`; ``"memory:"`` likewise;
    ``"sqlite:///path/state.db"`` (or ``"sqlite:////abs/path"``) opens a :class:`SQLiteStore`;
    a store object is used as is (and not closed by the client).
    """
    from .errors import ConfigurationError

    if value is None or value == "memory:":
        return MemoryStore(), True
    if isinstance(value, str):
        prefix = "sqlite:///"
        if value.startswith(prefix) and len(value) > len(prefix):
            return SQLiteStore(value[len(prefix):]), True
        raise ConfigurationError(
            f"state={value!r}: use 'sqlite:///path/to/state.db', 'memory:' or a StateStore"
        )
    if isinstance(value, StateStore):
        return value, False
    raise ConfigurationError(
        f"state= takes a StateStore or a URL such as 'sqlite:///state.db', "
        f"not {type(value).__name__}"
    )
