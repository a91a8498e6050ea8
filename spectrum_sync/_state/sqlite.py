"""A persistent store in one SQLite file: state survives restarts and is shared by the
processes of one host.

Every sqlite3 failure becomes a :class:`~spectrum_sync.StateStoreError` (at run time) or a
:class:`~spectrum_sync.ConfigurationError` (when the file cannot be opened) that names the
file and the likely cause; no raw ``sqlite3`` exception escapes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from .._errors import ConfigurationError, StateStoreError
from .._fork import ForkGuard
from .base import SentRecords, StateStore

__all__ = ["SQLiteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (line TEXT PRIMARY KEY, sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS routes (chat_guid TEXT PRIMARY KEY, phone TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sent (key TEXT PRIMARY KEY, guid TEXT NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS members (grp TEXT NOT NULL, member TEXT NOT NULL,
                                    expires REAL, PRIMARY KEY (grp, member));
"""
# Files made before members could expire: add the column (NULL: kept for ever).
_MIGRATE_MEMBERS = "ALTER TABLE members ADD COLUMN expires REAL"
_EXPIRY_INDEX = ("CREATE INDEX IF NOT EXISTS members_expires ON members (expires) "
                 "WHERE expires IS NOT NULL")
#: Expired members are deleted every this many additions with a TTL.
_PRUNE_EVERY = 500


def _cause(exc: BaseException) -> str:
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return f"{text} (the file or its directory is read-only)"
    if "disk is full" in lowered or "database or disk is full" in lowered:
        return f"{text} (the disk is full)"
    if "not a database" in lowered or "malformed" in lowered:
        return f"{text} (the file is not a valid SQLite database)"
    return text


class SQLiteStore(StateStore, SentRecords):
    """State in one SQLite file (WAL mode; atomic counter updates across processes).

    The connection is reopened in a forked child (SQLite handles must not cross processes).
    """

    in_memory = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            self.path = os.fspath(path)
        except TypeError:
            raise ConfigurationError(
                f"SQLiteStore takes a file path, not {type(path).__name__}"
            ) from None
        self._lock = threading.Lock()
        self._fork = ForkGuard(self._forget_parent)
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._ttl_adds = 0
        self._check_path()
        try:
            with self._lock:
                conn = self._connection()
                conn.executescript(_SCHEMA)
                columns = {row[1] for row in conn.execute("PRAGMA table_info(members)")}
                if "expires" not in columns:
                    conn.execute(_MIGRATE_MEMBERS)
                conn.execute(_EXPIRY_INDEX)
                # Fail now, not at the first commit, when the file cannot be written (a
                # read-only file in WAL mode still opens and even begins a transaction).
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute("DELETE FROM cursors WHERE 0")
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
        except (sqlite3.Error, OSError) as exc:
            self._discard()
            raise ConfigurationError(
                f"cannot use {self.path!r} as the state file: {_cause(exc)}"
            ) from None

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _check_path(self) -> None:
        folder = os.path.dirname(os.path.abspath(self.path)) or "."
        if os.path.isdir(self.path):
            raise ConfigurationError(f"the state file {self.path!r} is a directory")
        if not os.path.isdir(folder):
            raise ConfigurationError(
                f"cannot create the state file {self.path!r}: the directory {folder!r} "
                "does not exist"
            )
        if os.path.exists(self.path) and not os.path.isfile(self.path):
            raise ConfigurationError(f"the state file {self.path!r} is not a regular file")

    def _connection(self) -> sqlite3.Connection:
        # Called with self._lock held.
        if self._closed:
            raise StateStoreError(f"the state store {self.path!r} is closed", store=self.path)
        if self._conn is None:
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _forget_parent(self) -> None:
        # A forked child: the parent's connection and lock stay untouched (not ours to
        # close; the lock may be held by a thread not copied here); this process opens its own.
        self._lock = threading.Lock()
        self._conn = None

    @contextlib.contextmanager
    def _session(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; sqlite3 errors become StateStoreError."""
        self._fork.check()
        with self._lock:
            try:
                yield self._connection()
            except sqlite3.Error as exc:
                raise StateStoreError(
                    f"state file {self.path!r}: {_cause(exc)}", store=self.path
                ) from None

    @contextlib.contextmanager
    def _transaction(self, begin: str = "BEGIN") -> Iterator[sqlite3.Connection]:
        with self._session() as conn:
            conn.execute(begin)
            try:
                yield conn
            except BaseException:
                # SQLite may have rolled back already (e.g. disk full): rolling back again
                # would replace the real error with "cannot rollback".
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._session() as conn:
            return conn.execute(sql, params).fetchone()

    def get_cursor(self, key: str) -> int | None:
        row = self._one("SELECT sequence FROM cursors WHERE line = ?", (key,))
        return None if row is None else int(row[0])

    def set_cursors(self, cursors: Mapping[str, int]) -> None:
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO cursors (line, sequence) VALUES (?, ?) "
                "ON CONFLICT(line) DO UPDATE SET sequence = excluded.sequence",
                list(cursors.items()),
            )

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
        return 0 if row is None else int(row[0])

    def reserve(self, key: str, limit: int | None, ttl: float | None = None) -> bool:
        # BEGIN IMMEDIATE takes the write lock first: processes sharing the file serialise
        # here, so the check and the increment are one atomic step for all of them.
        with self._transaction("BEGIN IMMEDIATE") as conn:
            row = conn.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
            value = 0 if row is None else int(row[0])
            if limit is not None and value >= limit:
                return False
            conn.execute(
                "INSERT INTO counters (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value + 1),
            )
            return True

    def release(self, key: str) -> None:
        self._one("UPDATE counters SET value = value - 1 WHERE key = ? AND value > 0", (key,))

    def raise_counter(self, key: str, value: int, ttl: float | None = None) -> int:
        with self._transaction("BEGIN IMMEDIATE") as conn:
            conn.execute(
                "INSERT INTO counters (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)",
                (key, value),
            )
            row = conn.execute("SELECT value FROM counters WHERE key = ?", (key,)).fetchone()
            return int(row[0])

    def add_member(self, group: str, member: str, ttl: float | None = None) -> bool:
        now = time.time()
        expires = None if ttl is None else now + ttl
        with self._session() as conn:
            # One statement: a member whose time ran out counts as absent and is renewed.
            cur = conn.execute(
                "INSERT INTO members (grp, member, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (grp, member) DO UPDATE SET expires = excluded.expires "
                "WHERE members.expires IS NOT NULL AND members.expires <= ?",
                (group, member, expires, now))
            added = cur.rowcount == 1
            if added and expires is not None:
                self._ttl_adds += 1
                if self._ttl_adds % _PRUNE_EVERY == 0:
                    conn.execute("DELETE FROM members WHERE expires <= ?", (now,))
            return added

    def has_member(self, group: str, member: str) -> bool:
        row = self._one("SELECT 1 FROM members WHERE grp = ? AND member = ? "
                        "AND (expires IS NULL OR expires > ?)", (group, member, time.time()))
        return row is not None

    def remove_member(self, group: str, member: str) -> None:
        """Remove from a set (a webhook claim given up); nothing when absent."""
        with self._session() as conn:
            conn.execute("DELETE FROM members WHERE grp = ? AND member = ?", (group, member))

    def get_sent(self, key: str) -> str | None:
        row = self._one("SELECT guid FROM sent WHERE key = ? AND "
                        "(expires IS NULL OR expires > ?)", (key, time.time()))
        return None if row is None else str(row[0])

    def set_sent(self, key: str, guid: str, ttl: float | None = None) -> None:
        expires = None if ttl is None else time.time() + ttl
        self._one("INSERT INTO sent (key, guid, expires) VALUES (?, ?, ?) "
                  "ON CONFLICT(key) DO UPDATE SET guid = excluded.guid, "
                  "expires = excluded.expires", (key, guid, expires))

    def close(self) -> None:
        self._fork.check()
        with self._lock:
            self._discard()
            self._closed = True
