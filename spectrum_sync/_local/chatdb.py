"""A read-only reader of Messages' ``chat.db``.

The database belongs to Messages, which keeps writing it while we read, so the reader:

* opens it with a ``mode=ro`` URI and never with ``immutable=1`` (that flag tells SQLite the
  file cannot change, and it would then miss Messages' new rows and serve stale pages);
* detects changes by polling ``PRAGMA data_version``, which changes whenever another
  connection commits and costs no disk read on an idle database;
* reads new rows as ``ROWID > cursor`` batches in ROWID order. ``message`` is an AUTOINCREMENT
  table written by one process, so ROWIDs only grow: a cursor set to the last *returned* ROWID
  never skips a row and never returns one twice;
* never trusts the schema: columns an older macOS lacks are found with ``PRAGMA table_info``
  at open and selected as NULL instead;
* retries a locked or busy database with a short backoff.

Messages inserts a ``message`` row before its ``chat_message_join`` and
``message_attachment_join`` rows. :meth:`ChatDB.read_after` therefore holds back a recent row
that has no chat yet (or announces attachments it does not have yet) and re-reads it for a
short, bounded window before returning it as it is.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TypeVar

from .dates import from_apple_date
from .errors import (
    FULL_DISK_ACCESS_HINT,
    ChatDBBusy,
    ChatDBError,
    ChatDBNotFound,
    FullDiskAccessError,
    LocalError,
    NotAChatDB,
    NotAMacError,
)
from .typedstream import decode_attributed_body

__all__ = [
    "DEFAULT_CHAT_DB",
    "STYLE_DM",
    "STYLE_GROUP",
    "TAPBACKS",
    "ChatDB",
    "EventKind",
    "LocalAttachment",
    "LocalChat",
    "LocalEvent",
    "LocalHandle",
    "split_reaction_target",
]

log = logging.getLogger("spectrum_sync.local")

DEFAULT_CHAT_DB = "~/Library/Messages/chat.db"
STYLE_GROUP = 43
STYLE_DM = 45

EventKind = Literal["message", "reaction_added", "reaction_removed", "other"]

# associated_message_type - 2000 (added) or - 3000 (removed) -> (name, emoji). The custom emoji
# of type 6 is in message.associated_message_emoji; a sticker (7) comes as an attachment.
TAPBACKS: dict[int, tuple[str, str | None]] = {
    0: ("love", "❤️"),
    1: ("like", "👍"),
    2: ("dislike", "👎"),
    3: ("laugh", "😂"),
    4: ("emphasize", "‼️"),
    5: ("question", "❓"),
    6: ("emoji", None),
    7: ("sticker", None),
}

# Columns read from each table. Any of them may be missing on some macOS version; a missing
# one is selected as NULL under the same name, so rows always have the same shape.
_MESSAGE_COLUMNS = (
    "guid", "text", "attributedBody", "date", "is_from_me", "service", "account",
    "destination_caller_id", "cache_has_attachments", "item_type", "group_title",
    "associated_message_guid", "associated_message_type", "associated_message_emoji",
    "thread_originator_guid", "thread_originator_part", "date_edited", "date_retracted",
    "balloon_bundle_id",
)
_CHAT_COLUMNS = ("guid", "style", "chat_identifier", "display_name", "service_name")
_ATTACHMENT_COLUMNS = (
    "guid", "filename", "mime_type", "transfer_name", "total_bytes", "uti", "is_sticker",
)
_TABLES = (
    "message", "handle", "chat", "chat_message_join", "attachment", "message_attachment_join",
    "chat_handle_join",
)

# SQLite result codes (the low byte of extended codes).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CANTOPEN = 14
_SQLITE_AUTH = 23
_SQLITE_NOTADB = 26

_T = TypeVar("_T")


@dataclass(frozen=True)
class LocalAttachment:
    """An attachment row. ``path`` is the file (``~`` expanded), None until Messages has one."""

    guid: str
    path: str | None
    mime_type: str | None
    transfer_name: str | None
    total_bytes: int
    uti: str | None
    is_sticker: bool


@dataclass(frozen=True)
class LocalHandle:
    """A handle: an address (phone number or email) on one service."""

    address: str
    service: str


@dataclass(frozen=True)
class LocalChat:
    """A chat row with its participants (the other people; the Mac's account is not listed)."""

    guid: str
    chat_identifier: str
    is_group: bool
    display_name: str
    service: str
    participants: tuple[LocalHandle, ...]


@dataclass(frozen=True)
class LocalEvent:
    """A neutral description of one ``message`` row.

    ``kind`` is ``"message"``, ``"reaction_added"`` / ``"reaction_removed"`` (tapbacks) or
    ``"other"`` (group changes and other system rows: ``item_type`` / associated types we do
    not interpret). ``sender`` is the handle's address for received rows and the Mac's own
    address (``account``, may be empty) for rows sent from this account. ``chat_guid`` is empty
    when the row had no chat even after the settle window.
    """

    rowid: int
    guid: str
    kind: EventKind
    text: str | None
    date: datetime | None
    is_from_me: bool
    sender: str
    handle: str
    service: str
    account: str
    chat_guid: str
    chat_identifier: str
    is_group: bool
    display_name: str
    reply_to_guid: str | None
    edited_at: datetime | None
    retracted_at: datetime | None
    attachments: tuple[LocalAttachment, ...]
    reaction_target_guid: str | None
    reaction_part: int | None
    reaction: str | None
    reaction_emoji: str | None
    item_type: int
    associated_message_type: int
    group_title: str | None
    balloon_bundle_id: str | None


def split_reaction_target(value: str) -> tuple[str, int | None]:
    """``"p:1/GUID"`` -> ``("GUID", 1)``; ``"bp:GUID"`` -> ``("GUID", None)``; else as is."""
    if value.startswith("p:"):
        part, sep, guid = value[2:].partition("/")
        if sep and part.isdigit():
            return guid, int(part)
    elif value.startswith("bp:"):
        return value[3:], None
    return value, None


def _is_mac() -> bool:
    return sys.platform == "darwin"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _int(value: object) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, (str, bytes)):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def _own_address(destination: str | None, account: str | None) -> str:
    """The Mac's address used for a row: ``destination_caller_id``, else ``account``.

    ``account`` carries a type prefix (``e:`` email, ``p:`` phone), which we drop.
    """
    if destination:
        return destination
    if account and len(account) > 2 and account[1] == ":" and account[0] in "eEpP":
        return account[2:]
    return account or ""


def _service_from_guid(guid: str) -> str:
    service, sep, _ = guid.partition(";")
    return service if sep and service != "any" else ""


def _is_group(style: int, guid: str) -> bool:
    if style == STYLE_GROUP:
        return True
    if style == STYLE_DM:
        return False
    return ";+;" in guid


def _str(row: sqlite3.Row, name: str) -> str:
    """A text column of ``row``, "" when NULL or empty."""
    return _text(row[name]) or ""


def _message_text(row: sqlite3.Row) -> str | None:
    """A message row's text, else what its ``attributedBody`` holds (newer macOS versions
    leave ``text`` empty)."""
    text = _text(row["text"])
    if not text:
        decoded = decode_attributed_body(row["attributedBody"])
        if decoded is not None:
            return decoded
    return text


# associated_message_type // 1000 of a tapback (its % 1000 a key of TAPBACKS) -> its kind.
_TAPBACK_KINDS: dict[int, EventKind] = {2: "reaction_added", 3: "reaction_removed"}


def _kind(row: sqlite3.Row, associated: int, item_type: int
          ) -> tuple[EventKind, str | None, str | None, str | None, int | None]:
    """A message row's kind and, for a tapback, its name, emoji, target guid and part."""
    kind = _TAPBACK_KINDS.get(associated // 1000) if associated % 1000 in TAPBACKS else None
    if kind is None:
        return ("other" if associated or item_type else "message"), None, None, None, None
    reaction, emoji = TAPBACKS[associated % 1000]
    if associated % 1000 == 6:
        emoji = _text(row["associated_message_emoji"])
    target, part = split_reaction_target(_text(row["associated_message_guid"]) or "")
    return kind, reaction, emoji, target, part


# The middle of a chat guid ("iMessage;-;+1555...", "iMessage;+;chat123") -> is a group.
_GUID_KINDS = {"-": False, "+": True}


def _identifier_and_kind(ref: str) -> tuple[str, bool | None]:
    """The chat identifier in a chat guid (or ``ref`` itself) and whether the guid names a
    group (None: ``ref`` is no guid)."""
    parts = ref.split(";", 2)
    if len(parts) == 3 and parts[1] in _GUID_KINDS:
        return parts[2], _GUID_KINDS[parts[1]]
    return ref, None


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int) and code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


class ChatDB:
    """A read-only connection to a chat.db. Thread-safe: calls are serialized.

    ``path`` defaults to ``~/Library/Messages/chat.db`` on a Mac (elsewhere it is required).
    ``poll_interval`` is the :meth:`wait_for_change` polling period; ``settle_window`` bounds
    how long a row waits for its chat / attachment joins, re-read every ``settle_interval``;
    only the newest ``settle_rows`` rows can be racing (see :meth:`read_after`);
    ``busy_timeout`` bounds the retries of a locked database before :class:`ChatDBBusy`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        poll_interval: float = 0.25,
        settle_window: float = 1.0,
        settle_interval: float = 0.05,
        settle_rows: int = 200,
        busy_timeout: float = 10.0,
    ) -> None:
        if poll_interval <= 0 or settle_interval <= 0:
            raise ValueError("poll_interval and settle_interval must be positive")
        if settle_window < 0 or busy_timeout < 0 or settle_rows < 0:
            raise ValueError("settle_window, settle_rows and busy_timeout must not be negative")
        self.poll_interval = poll_interval
        self.settle_window = settle_window
        self.settle_interval = settle_interval
        self.settle_rows = settle_rows
        self.busy_timeout = busy_timeout
        if path is None:
            if not _is_mac():
                raise NotAMacError(
                    "local mode reads Messages' chat.db, which only exists on macOS",
                    "run it on a Mac signed in to Messages, or pass chat_db=path to read a "
                    "copy of a chat.db",
                )
            path = DEFAULT_CHAT_DB
        self.path = os.path.abspath(os.path.expanduser(os.fspath(path)))
        self._lock = threading.Lock()
        self._closed = False
        # rowid -> when we first saw it incomplete (time.monotonic()).
        self._pending: dict[int, float] = {}
        self._check_file()
        self._conn = self._connect()
        try:
            self._columns = self._retrying(self._load_schema)
            if not self._columns["message"]:
                raise NotAChatDB(
                    f"{self.path} has no message table: it is not a Messages chat.db",
                    "point chat_db at Messages' database (~/Library/Messages/chat.db)",
                )
            self._message_sql = self._build_message_sql()
            self._attachment_sql = self._build_attachment_sql()
            self._seen_version = self._retrying(self._data_version)
        except BaseException:
            self._conn.close()
            raise

    # -- opening ---------------------------------------------------------------------------

    def _check_file(self) -> None:
        try:
            info = os.stat(self.path)
        except (FileNotFoundError, NotADirectoryError):
            hint = ("open Messages once and sign in, so that it creates its database; if it "
                    "does exist, " + FULL_DISK_ACCESS_HINT
                    if _is_mac() else "pass the path of an existing chat.db")
            raise ChatDBNotFound(f"no chat.db at {self.path}", hint) from None
        except PermissionError as exc:
            raise self._permission_error(str(exc)) from None
        if stat.S_ISDIR(info.st_mode):
            raise NotAChatDB(f"{self.path} is a directory, not a chat.db",
                             "pass the path of the chat.db file itself")

    def _permission_error(self, detail: str) -> ChatDBError:
        if _is_mac():
            return FullDiskAccessError(
                f"macOS refused access to {self.path} ({detail})", FULL_DISK_ACCESS_HINT)
        return ChatDBError(f"cannot open {self.path} ({detail})",
                           "check that this user can read the file and its folder")

    def _connect(self) -> sqlite3.Connection:
        uri = Path(self.path).as_uri() + "?mode=ro"
        try:
            # isolation_level=None: no implicit transactions, so no read snapshot stays open
            # between calls (an open one would freeze data_version and hide new rows).
            conn = sqlite3.connect(uri, uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=0.05)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        conn.row_factory = sqlite3.Row
        return conn

    def _load_schema(self) -> dict[str, frozenset[str]]:
        columns = {}
        for table in _TABLES:
            rows = self._conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            columns[table] = frozenset(str(row[1]).lower() for row in rows)
        return columns

    def has_column(self, table: str, column: str) -> bool:
        """Whether this database's ``table`` has ``column`` (as detected at open)."""
        return column.lower() in self._columns.get(table, frozenset())

    def _select(self, table: str, alias: str, columns: tuple[str, ...], prefix: str) -> list[str]:
        return [
            f'{alias}."{column}" AS "{prefix}{column}"' if self.has_column(table, column)
            else f'NULL AS "{prefix}{column}"'
            for column in columns
        ]

    def _has_chats(self) -> bool:
        return bool(self._columns["chat"]) and self.has_column("chat_message_join", "message_id")

    def _has_attachments(self) -> bool:
        return bool(self._columns["attachment"]) and self.has_column(
            "message_attachment_join", "attachment_id")

    def _build_message_sql(self) -> str:
        fields = ["m.ROWID AS rowid", *self._select("message", "m", _MESSAGE_COLUMNS, "")]
        joins = []
        if self._columns["handle"] and self.has_column("message", "handle_id"):
            fields += self._select("handle", "h", ("id", "service"), "handle_row_")
            joins.append("LEFT JOIN handle h ON h.ROWID = m.handle_id")
        else:
            fields += ['NULL AS "handle_row_id"', 'NULL AS "handle_row_service"']
        if self._has_chats():
            fields += self._select("chat", "c", _CHAT_COLUMNS, "chat_")
            # A message normally sits in one chat; should it be in several, take the first.
            joins.append(
                "LEFT JOIN chat c ON c.ROWID = (SELECT j.chat_id FROM chat_message_join j"
                " WHERE j.message_id = m.ROWID ORDER BY j.chat_id LIMIT 1)")
        else:
            fields += [f'NULL AS "chat_{column}"' for column in _CHAT_COLUMNS]
        return (f"SELECT {', '.join(fields)} FROM message m {' '.join(joins)}"
                " WHERE m.ROWID > ? ORDER BY m.ROWID LIMIT ?")

    def _build_attachment_sql(self) -> str | None:
        if not self._has_attachments():
            return None
        fields = ["j.message_id AS message_id",
                  *self._select("attachment", "a", _ATTACHMENT_COLUMNS, "")]
        return (f"SELECT {', '.join(fields)} FROM message_attachment_join j"
                " JOIN attachment a ON a.ROWID = j.attachment_id"
                " WHERE j.message_id > ? AND j.message_id <= ?"
                " ORDER BY j.message_id, a.ROWID")

    # -- errors and retries ----------------------------------------------------------------

    def _translate(self, exc: sqlite3.Error) -> ChatDBError:
        text = str(exc)
        lower = text.lower()
        code = getattr(exc, "sqlite_errorcode", None)
        code = code & 0xFF if isinstance(code, int) else None
        if code == _SQLITE_NOTADB or "not a database" in lower or "file is encrypted" in lower:
            return NotAChatDB(f"{self.path} is not an SQLite database ({text})",
                              "point chat_db at Messages' database (~/Library/Messages/chat.db)")
        if code == _SQLITE_AUTH or "authorization denied" in lower:
            return self._permission_error(text)
        if code == _SQLITE_CANTOPEN or "unable to open" in lower:
            return self._permission_error(text)
        return ChatDBError(f"reading {self.path} failed: {text}")

    def _retrying(self, operation: Callable[[], _T]) -> _T:
        """Run ``operation``, retrying while the database is locked or busy.

        Messages holds its write locks only briefly, so a short doubling backoff (50 ms up to
        1 s) rides them out; past ``busy_timeout`` the caller gets the retryable ChatDBBusy.
        """
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.05
        while True:
            try:
                return operation()
            except sqlite3.Error as exc:
                if not _is_busy(exc):
                    raise self._translate(exc) from None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ChatDBBusy(
                        f"{self.path} stayed locked for {self.busy_timeout:.1f} s ({exc})",
                        "another process holds a long write lock; try again later",
                    ) from None
                log.debug("chat.db is busy (%s); retrying in %.2f s", exc, delay)
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 1.0)

    def _check_open(self) -> None:
        if self._closed:
            raise LocalError(f"the reader of {self.path} is closed")

    # -- change detection ------------------------------------------------------------------

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        """Whether another connection committed since the last read or ``changed()`` call.

        :meth:`read_after` notes the version *before* it reads, so a commit landing after a
        read always shows here: wake-ups may be spurious, never missed. A busy database
        reports False (it will be polled again).
        """
        with self._lock:
            self._check_open()
            try:
                version = self._data_version()
            except sqlite3.Error as exc:
                if _is_busy(exc):
                    return False
                raise self._translate(exc) from None
            if version == self._seen_version:
                return False
            self._seen_version = version
            return True

    def wait_for_change(
        self, timeout: float | None = None, stop_event: threading.Event | None = None
    ) -> bool:
        """Poll :meth:`changed` every ``poll_interval`` until True (returns True), or until
        ``timeout`` seconds pass or ``stop_event`` is set (returns False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.changed():
                return True
            if stop_event is not None and stop_event.is_set():
                return False
            wait = self.poll_interval
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                wait = min(wait, remaining)
            if stop_event is not None:
                if stop_event.wait(wait):
                    return False
            else:
                time.sleep(wait)

    # -- reading ---------------------------------------------------------------------------

    def head(self) -> int:
        """The highest message ROWID (0 for an empty table): where a live reader starts."""
        with self._lock:
            self._check_open()
            row = self._retrying(
                lambda: self._conn.execute("SELECT MAX(ROWID) FROM message").fetchone())
        return _int(row[0]) if row is not None else 0

    def read_after(self, cursor: int, limit: int = 200) -> list[LocalEvent]:
        """Up to ``limit`` events for the rows with ``ROWID > cursor``, in ROWID order.

        The result is always a gap-free prefix of those rows, so the caller sets its cursor to
        the last returned ``rowid`` (and leaves it alone on an empty result).

        A row among the newest ``settle_rows`` that has no chat yet, or whose attachments are
        announced but not joined yet, may be racing Messages' inserts: it ends the batch before
        it. If it is the first row, the call re-reads it every ``settle_interval`` until it is
        complete or ``settle_window`` has passed since it was first seen (windows of rows first
        seen together run concurrently), then returns it as it is, with a warning. Older rows
        are returned as they are at once: Messages has long finished with them, and real
        databases hold such rows (deleted attachments, messages of deleted chats), which must
        not slow down reading history. So a call blocks at most about ``settle_window`` (plus
        busy retries) and never skips a row.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        while True:
            with self._lock:
                self._check_open()
                for rowid in [rowid for rowid in self._pending if rowid <= cursor]:
                    del self._pending[rowid]
                batch, head = self._retrying(lambda: self._read_batch(cursor, limit))
                events, wait_until = self._settle(batch, head - self.settle_rows)
            if events or wait_until is None:
                return events
            time.sleep(max(0.0, min(self.settle_interval, wait_until - time.monotonic())))

    def _settle(
        self, batch: list[tuple[LocalEvent, str]], racing_after: int
    ) -> tuple[list[LocalEvent], float | None]:
        """The returnable prefix of ``batch``, and when to look again if it is empty.

        Only incomplete rows with a ROWID above ``racing_after`` are held back.
        """
        now = time.monotonic()
        ready: list[LocalEvent] = []
        for index, (event, missing) in enumerate(batch):
            if missing and event.rowid <= racing_after:
                log.debug("chat.db row %d has no %s; an old row, returned as it is",
                          event.rowid, missing)
            elif missing:
                first_seen = self._pending.setdefault(event.rowid, now)
                if now - first_seen < self.settle_window:
                    for later, later_missing in batch[index + 1:]:
                        if later_missing and later.rowid > racing_after:
                            self._pending.setdefault(later.rowid, now)
                    return ready, first_seen + self.settle_window
                log.warning(
                    "chat.db row %d (message %s) still has no %s after %.1f s; returning it "
                    "as it is", event.rowid, event.guid, missing, self.settle_window)
            self._pending.pop(event.rowid, None)
            ready.append(event)
        return ready, None

    def _read_batch(self, cursor: int, limit: int) -> tuple[list[tuple[LocalEvent, str]], int]:
        """Rows after ``cursor`` with what each lacks, and the head, from one snapshot."""
        conn = self._conn
        # Noted before reading: a commit that lands after this point wakes wait_for_change.
        self._seen_version = self._data_version()
        # One read transaction, so messages and their attachments come from one snapshot.
        conn.execute("BEGIN")
        try:
            rows = conn.execute(self._message_sql, (cursor, limit)).fetchall()
            head = _int(conn.execute("SELECT MAX(ROWID) FROM message").fetchone()[0])
            attachments: dict[int, list[LocalAttachment]] = {}
            if rows and self._attachment_sql is not None:
                last = _int(rows[-1]["rowid"])
                for row in conn.execute(self._attachment_sql, (cursor, last)):
                    attachments.setdefault(_int(row["message_id"]), []).append(
                        _attachment(row))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                # Nothing may be left to roll back after some errors; the caller retries.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
        events = [self._event(row, tuple(attachments.get(_int(row["rowid"]), ()))) for row in rows]
        return events, head

    def _event(
        self, row: sqlite3.Row, attachments: tuple[LocalAttachment, ...]
    ) -> tuple[LocalEvent, str]:
        """The event for ``row`` and what it still lacks ("" when complete)."""
        chat_guid = _text(row["chat_guid"])
        missing = self._missing(row, chat_guid, attachments)
        is_from_me = bool(_int(row["is_from_me"]))
        handle = _str(row, "handle_row_id")
        account = _own_address(_text(row["destination_caller_id"]), _text(row["account"]))
        chat_guid = chat_guid or ""
        associated = _int(row["associated_message_type"])
        item_type = _int(row["item_type"])
        kind, reaction, emoji, target, part = _kind(row, associated, item_type)
        event = LocalEvent(
            rowid=_int(row["rowid"]),
            guid=_str(row, "guid"),
            kind=kind,
            text=_message_text(row),
            date=from_apple_date(row["date"]),
            is_from_me=is_from_me,
            sender=account if is_from_me else handle,
            handle=handle,
            service=(_text(row["handle_row_service"]) or _text(row["service"])
                     or _service_from_guid(chat_guid)),
            account=account,
            chat_guid=chat_guid,
            chat_identifier=_str(row, "chat_chat_identifier"),
            is_group=_is_group(_int(row["chat_style"]), chat_guid),
            display_name=_str(row, "chat_display_name"),
            reply_to_guid=_text(row["thread_originator_guid"]) or None,
            edited_at=from_apple_date(row["date_edited"]),
            retracted_at=from_apple_date(row["date_retracted"]),
            attachments=attachments,
            reaction_target_guid=target or None,
            reaction_part=part,
            reaction=reaction,
            reaction_emoji=emoji,
            item_type=item_type,
            associated_message_type=associated,
            group_title=_text(row["group_title"]),
            balloon_bundle_id=_text(row["balloon_bundle_id"]),
        )
        return event, missing

    def _missing(self, row: sqlite3.Row, chat_guid: str | None,
                 attachments: tuple[LocalAttachment, ...]) -> str:
        """What a row still lacks ("" when complete): its chat, its attachments, or both."""
        missing = []
        if chat_guid is None and self._has_chats():
            missing.append("chat")
        if (_int(row["cache_has_attachments"]) and not attachments
                and self._attachment_sql is not None):
            missing.append("attachments")
        return " and ".join(missing)

    # -- chats -----------------------------------------------------------------------------

    def chat(self, ref: str) -> LocalChat | None:
        """The chat with guid ``ref``, else the newest chat whose identifier matches.

        ``ref`` may be a chat guid (``iMessage;-;+15551234567``, ``iMessage;+;chat123``), the
        same with another service prefix (``any;-;+15551234567`` finds the iMessage or SMS
        chat), or a bare chat identifier / handle address.
        """
        if not self._columns["chat"]:
            return None
        with self._lock:
            self._check_open()
            return self._retrying(lambda: self._find_chat(ref))

    def _find_chat(self, ref: str) -> LocalChat | None:
        fields = ", ".join(["c.ROWID AS rowid", *self._select("chat", "c", _CHAT_COLUMNS, "")])
        row = None
        if self.has_column("chat", "guid"):
            row = self._conn.execute(
                f"SELECT {fields} FROM chat c WHERE c.guid = ?", (ref,)).fetchone()
        if row is None and self.has_column("chat", "chat_identifier"):
            row = self._chat_by_identifier(ref, fields)
        if row is None:
            return None
        participants = self._participants(row["rowid"])
        guid = _str(row, "guid")
        return LocalChat(
            guid=guid,
            chat_identifier=_str(row, "chat_identifier"),
            is_group=_is_group(_int(row["style"]), guid),
            display_name=_str(row, "display_name"),
            service=_text(row["service_name"]) or _service_from_guid(guid),
            participants=participants,
        )

    def _chat_by_identifier(self, ref: str, fields: str) -> sqlite3.Row | None:
        """The newest chat (an iMessage one first) with the identifier ``ref`` names, of the
        kind (DM or group) a guid-shaped ``ref`` names."""
        identifier, group = _identifier_and_kind(ref)
        order = "c.ROWID DESC"
        if self.has_column("chat", "service_name"):
            order = "(c.service_name = 'iMessage') DESC, " + order
        candidate: sqlite3.Row
        for candidate in self._conn.execute(
                f"SELECT {fields} FROM chat c WHERE c.chat_identifier = ? ORDER BY {order}",
                (identifier,)):
            if group is None or group == _is_group(_int(candidate["style"]),
                                                    _str(candidate, "guid")):
                return candidate
        return None

    def _participants(self, chat_rowid: object) -> tuple[LocalHandle, ...]:
        """The handles of a chat (empty when chat.db has no handle tables)."""
        if not (self._columns["chat_handle_join"] and self._columns["handle"]):
            return ()
        service_field = "h.service" if self.has_column("handle", "service") else "NULL"
        return tuple(
            LocalHandle(_text(p[0]) or "", _text(p[1]) or "")
            for p in self._conn.execute(
                f"SELECT h.id, {service_field} FROM chat_handle_join j"
                " JOIN handle h ON h.ROWID = j.handle_id WHERE j.chat_id = ?"
                " ORDER BY h.ROWID", (chat_rowid,)))

    def attachment(self, guid: str) -> LocalAttachment | None:
        """The attachment row with this guid (None when there is none, or no such table)."""
        if not self._columns["attachment"] or not self.has_column("attachment", "guid"):
            return None
        fields = ", ".join(self._select("attachment", "a", _ATTACHMENT_COLUMNS, ""))
        sql = f"SELECT {fields} FROM attachment a WHERE a.guid = ? LIMIT 1"
        with self._lock:
            self._check_open()
            row = self._retrying(lambda: self._conn.execute(sql, (guid,)).fetchone())
        return _attachment(row) if row is not None else None

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> ChatDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ChatDB({self.path!r})"


def _attachment(row: sqlite3.Row) -> LocalAttachment:
    filename = _text(row["filename"])
    return LocalAttachment(
        guid=_text(row["guid"]) or "",
        path=os.path.expanduser(filename) if filename else None,
        mime_type=_text(row["mime_type"]),
        transfer_name=_text(row["transfer_name"]),
        total_bytes=_int(row["total_bytes"]),
        uti=_text(row["uti"]),
        is_sticker=bool(_int(row["is_sticker"])),
    )
