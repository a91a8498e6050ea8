"""Builds realistic Messages ``chat.db`` files for the local-mode tests.

The tables carry the columns of a recent macOS (Sonoma/Sequoia era) in their usual order and
types, plus a variant of an older macOS that lacks the columns added since (threaded replies,
edits and unsends, custom-emoji tapbacks, sticker flags, the handle's service) and stores dates
in seconds instead of nanoseconds. Text rows can carry a real typedstream ``attributedBody``.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from spectrum_sync._local.dates import to_apple_date
from spectrum_sync._local.typedstream import encode_attributed_body

_FLAG = "INTEGER DEFAULT 0"

MESSAGE_COLUMNS: list[tuple[str, str]] = [
    ("ROWID", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("guid", "TEXT UNIQUE NOT NULL"),
    ("text", "TEXT"),
    ("replace", _FLAG),
    ("service_center", "TEXT"),
    ("handle_id", _FLAG),
    ("subject", "TEXT"),
    ("country", "TEXT"),
    ("attributedBody", "BLOB"),
    ("version", _FLAG),
    ("type", _FLAG),
    ("service", "TEXT"),
    ("account", "TEXT"),
    ("account_guid", "TEXT"),
    ("error", _FLAG),
    ("date", "INTEGER"),
    ("date_read", "INTEGER"),
    ("date_delivered", "INTEGER"),
    ("is_delivered", _FLAG),
    ("is_finished", _FLAG),
    ("is_emote", _FLAG),
    ("is_from_me", _FLAG),
    ("is_empty", _FLAG),
    ("is_delayed", _FLAG),
    ("is_auto_reply", _FLAG),
    ("is_prepared", _FLAG),
    ("is_read", _FLAG),
    ("is_system_message", _FLAG),
    ("is_sent", _FLAG),
    ("has_dd_results", _FLAG),
    ("is_service_message", _FLAG),
    ("is_forward", _FLAG),
    ("was_downgraded", _FLAG),
    ("is_archive", _FLAG),
    ("cache_has_attachments", _FLAG),
    ("cache_roomnames", "TEXT"),
    ("was_data_detected", _FLAG),
    ("was_deduplicated", _FLAG),
    ("is_audio_message", _FLAG),
    ("is_played", _FLAG),
    ("date_played", "INTEGER"),
    ("item_type", _FLAG),
    ("other_handle", _FLAG),
    ("group_title", "TEXT"),
    ("group_action_type", _FLAG),
    ("share_status", _FLAG),
    ("share_direction", _FLAG),
    ("is_expirable", _FLAG),
    ("expire_state", _FLAG),
    ("message_action_type", _FLAG),
    ("message_source", _FLAG),
    ("associated_message_guid", "TEXT DEFAULT NULL"),
    ("associated_message_type", _FLAG),
    ("balloon_bundle_id", "TEXT DEFAULT NULL"),
    ("payload_data", "BLOB"),
    ("expressive_send_style_id", "TEXT DEFAULT NULL"),
    ("associated_message_range_location", _FLAG),
    ("associated_message_range_length", _FLAG),
    ("time_expressive_send_played", _FLAG),
    ("message_summary_info", "BLOB DEFAULT NULL"),
    ("ck_sync_state", _FLAG),
    ("ck_record_id", "TEXT DEFAULT NULL"),
    ("ck_record_change_tag", "TEXT DEFAULT NULL"),
    ("destination_caller_id", "TEXT DEFAULT NULL"),
    ("is_corrupt", _FLAG),
    ("reply_to_guid", "TEXT DEFAULT NULL"),
    ("sort_id", "INTEGER"),
    ("is_spam", _FLAG),
    ("has_unseen_mention", _FLAG),
    ("thread_originator_guid", "TEXT DEFAULT NULL"),
    ("thread_originator_part", "TEXT DEFAULT NULL"),
    ("syndication_ranges", "TEXT DEFAULT NULL"),
    ("synced_syndication_ranges", "TEXT DEFAULT NULL"),
    ("was_delivered_quietly", _FLAG),
    ("did_notify_recipient", _FLAG),
    ("date_retracted", _FLAG),
    ("date_edited", _FLAG),
    ("was_detonated", _FLAG),
    ("part_count", "INTEGER"),
    ("is_stewie", _FLAG),
    ("is_kt_verified", _FLAG),
    ("is_sos", _FLAG),
    ("is_critical", _FLAG),
    ("bia_reference_id", "TEXT DEFAULT NULL"),
    ("fallback_hash", "TEXT DEFAULT NULL"),
    ("associated_message_emoji", "TEXT DEFAULT NULL"),
    ("is_pending_satellite_send", _FLAG),
    ("needs_relay", _FLAG),
    ("schedule_type", _FLAG),
    ("schedule_state", _FLAG),
    ("sent_or_received_off_grid", _FLAG),
]
HANDLE_COLUMNS = [
    ("ROWID", "INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE"),
    ("id", "TEXT NOT NULL"),
    ("country", "TEXT"),
    ("service", "TEXT NOT NULL"),
    ("uncanonicalized_id", "TEXT"),
    ("person_centric_id", "TEXT"),
]
CHAT_COLUMNS = [
    ("ROWID", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("guid", "TEXT UNIQUE NOT NULL"),
    ("style", "INTEGER"),
    ("state", "INTEGER"),
    ("account_id", "TEXT"),
    ("properties", "BLOB"),
    ("chat_identifier", "TEXT"),
    ("service_name", "TEXT"),
    ("room_name", "TEXT"),
    ("account_login", "TEXT"),
    ("is_archived", _FLAG),
    ("last_addressed_handle", "TEXT"),
    ("display_name", "TEXT"),
    ("group_id", "TEXT"),
    ("is_filtered", _FLAG),
    ("successful_query", "INTEGER"),
    ("engram_id", "TEXT"),
    ("server_change_token", "TEXT"),
    ("ck_sync_state", _FLAG),
    ("original_group_id", "TEXT"),
    ("last_read_message_timestamp", _FLAG),
    ("cloudkit_record_id", "TEXT"),
    ("last_addressed_sim_id", "TEXT"),
    ("is_blackholed", _FLAG),
    ("syndication_date", _FLAG),
    ("syndication_type", _FLAG),
    ("is_recovered", _FLAG),
    ("is_deleting_incoming_messages", _FLAG),
]
ATTACHMENT_COLUMNS = [
    ("ROWID", "INTEGER PRIMARY KEY AUTOINCREMENT"),
    ("guid", "TEXT UNIQUE NOT NULL"),
    ("created_date", _FLAG),
    ("start_date", _FLAG),
    ("filename", "TEXT"),
    ("uti", "TEXT"),
    ("mime_type", "TEXT"),
    ("transfer_state", _FLAG),
    ("is_outgoing", _FLAG),
    ("user_info", "BLOB"),
    ("transfer_name", "TEXT"),
    ("total_bytes", _FLAG),
    ("is_sticker", _FLAG),
    ("sticker_user_info", "BLOB"),
    ("attribution_info", "BLOB"),
    ("hide_attachment", _FLAG),
    ("ck_sync_state", _FLAG),
    ("ck_server_change_token_blob", "BLOB"),
    ("ck_record_id", "TEXT"),
    ("original_guid", "TEXT UNIQUE NOT NULL"),
    ("is_commsafety_sensitive", _FLAG),
    ("emoji_image_content_identifier", "TEXT DEFAULT NULL"),
    ("emoji_image_short_description", "TEXT DEFAULT NULL"),
    ("preview_generation_state", _FLAG),
]

# Columns an older macOS (before High Sierra, dates still in seconds) does not have.
LEGACY_MISSING = {
    "message": {
        "destination_caller_id", "is_corrupt", "reply_to_guid", "sort_id", "is_spam",
        "has_unseen_mention", "thread_originator_guid", "thread_originator_part",
        "syndication_ranges", "synced_syndication_ranges", "was_delivered_quietly",
        "did_notify_recipient", "date_retracted", "date_edited", "was_detonated", "part_count",
        "is_stewie", "is_kt_verified", "is_sos", "is_critical", "bia_reference_id",
        "fallback_hash", "associated_message_emoji", "is_pending_satellite_send", "needs_relay",
        "schedule_type", "schedule_state", "sent_or_received_off_grid",
        "message_summary_info", "ck_sync_state", "ck_record_id", "ck_record_change_tag",
    },
    "handle": {"service", "person_centric_id"},
    "chat": {
        "original_group_id", "last_read_message_timestamp", "cloudkit_record_id",
        "last_addressed_sim_id", "is_blackholed", "syndication_date", "syndication_type",
        "is_recovered", "is_deleting_incoming_messages", "ck_sync_state", "server_change_token",
    },
    "attachment": {
        "is_sticker", "sticker_user_info", "attribution_info", "hide_attachment",
        "ck_sync_state", "ck_server_change_token_blob", "ck_record_id", "original_guid",
        "is_commsafety_sensitive", "emoji_image_content_identifier",
        "emoji_image_short_description", "preview_generation_state",
    },
}

JOIN_TABLES = """
CREATE TABLE chat_message_join (
    chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE,
    message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE,
    message_date INTEGER DEFAULT 0,
    PRIMARY KEY (chat_id, message_id));
CREATE TABLE chat_handle_join (
    chat_id INTEGER REFERENCES chat (ROWID) ON DELETE CASCADE,
    handle_id INTEGER REFERENCES handle (ROWID) ON DELETE CASCADE,
    UNIQUE (chat_id, handle_id));
CREATE TABLE message_attachment_join (
    message_id INTEGER REFERENCES message (ROWID) ON DELETE CASCADE,
    attachment_id INTEGER REFERENCES attachment (ROWID) ON DELETE CASCADE,
    UNIQUE (message_id, attachment_id));
CREATE INDEX chat_message_join_idx_message_id_only ON chat_message_join (message_id);
CREATE INDEX message_attachment_join_idx_message_id ON message_attachment_join (message_id);
CREATE INDEX message_idx_handle ON message (handle_id, date);
CREATE TABLE _SqliteDatabaseProperties (key TEXT, value TEXT, UNIQUE (key));
"""

T0 = datetime(2024, 5, 17, 9, 30, 0, tzinfo=timezone.utc)
ME = "me@icloud.com"

Body = Literal["text", "attributed", "both"]


def new_guid() -> str:
    """A message/attachment GUID shaped like Messages' (upper-case UUID)."""
    return str(uuid.uuid4()).upper()


class ChatDBFixture:
    """A chat.db under construction. Every method commits its own transaction.

    ``legacy`` builds the older-macOS variant (fewer columns, dates in seconds); ``wal``
    selects Messages' journal mode (a rollback journal is used to test lock handling, since a
    WAL database does not block readers).
    """

    def __init__(self, path: Path, *, legacy: bool = False, wal: bool = True) -> None:
        self.path = path
        self.legacy = legacy
        self._lock = threading.Lock()
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}")
        script = [
            self._create("handle", HANDLE_COLUMNS, ", UNIQUE (id, service)"),
            self._create("chat", CHAT_COLUMNS),
            self._create("message", MESSAGE_COLUMNS),
            self._create("attachment", ATTACHMENT_COLUMNS),
            JOIN_TABLES,
        ]
        self.conn.executescript("\n".join(script))
        self.conn.execute("INSERT INTO _SqliteDatabaseProperties VALUES ('counter_in_add', '0')")
        self._columns = {
            table: {row[1] for row in self.conn.execute(f"PRAGMA table_info({table})")}
            for table in ("message", "handle", "chat", "attachment", "chat_message_join",
                          "chat_handle_join", "message_attachment_join")
        }

    def _create(self, table: str, columns: list[tuple[str, str]], extra: str = "") -> str:
        missing = LEGACY_MISSING.get(table, set()) if self.legacy else set()
        if self.legacy and table == "handle":
            extra = ", UNIQUE (id)"
        body = ", ".join(f"{name} {kind}" for name, kind in columns if name not in missing)
        return f"CREATE TABLE {table} ({body}{extra});"

    def columns(self, table: str) -> set[str]:
        return self._columns[table]

    def date(self, moment: datetime | None) -> int:
        return 0 if moment is None else to_apple_date(moment, nanoseconds=not self.legacy)

    def _insert(self, table: str, values: dict[str, object],
                conn: sqlite3.Connection | None = None) -> int:
        present = self.columns(table)
        values = {key: value for key, value in values.items() if key in present}
        names = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self._lock:
            cur = (conn or self.conn).execute(
                f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values()))
            return int(cur.lastrowid or 0)

    # -- rows ------------------------------------------------------------------------------

    def handle(self, address: str, service: str = "iMessage") -> int:
        return self._insert("handle", {"id": address, "service": service, "country": "us",
                                       "uncanonicalized_id": address, "person_centric_id": None})

    def chat(self, guid: str, *, handles: Sequence[int] = (), display_name: str | None = None,
             style: int | None = None) -> int:
        service, kind, identifier = guid.split(";", 2)
        group = kind == "+"
        rowid = self._insert("chat", {
            "guid": guid, "style": style if style is not None else (43 if group else 45),
            "state": 3, "account_id": new_guid(), "chat_identifier": identifier,
            "service_name": service, "room_name": identifier if group else None,
            "account_login": f"E:{ME}", "display_name": display_name or "",
            "group_id": new_guid(), "is_filtered": 0, "successful_query": 1,
        })
        for handle in handles:
            self._insert("chat_handle_join", {"chat_id": rowid, "handle_id": handle})
        return rowid

    def attachment(self, filename: str | None, *, mime_type: str | None = "image/jpeg",
                   transfer_name: str | None = None, total_bytes: int = 1234,
                   uti: str | None = "public.jpeg", is_sticker: bool = False,
                   guid: str | None = None, conn: sqlite3.Connection | None = None) -> int:
        guid = guid or f"at_0_{new_guid()}"
        return self._insert("attachment", {
            "guid": guid, "original_guid": guid, "created_date": self.date(T0),
            "filename": filename, "uti": uti, "mime_type": mime_type, "transfer_state": 5,
            "transfer_name": transfer_name or (filename or "").rsplit("/", 1)[-1],
            "total_bytes": total_bytes, "is_sticker": int(is_sticker),
        }, conn)

    def message(
        self,
        text: str | None = None,
        *,
        chat: int | None = None,
        handle: int = 0,
        body: Body | None = None,
        is_from_me: bool = False,
        when: datetime | None = T0,
        guid: str | None = None,
        service: str = "iMessage",
        attachments: Iterable[int] = (),
        has_attachments: bool | None = None,
        conn: sqlite3.Connection | None = None,
        **columns: object,
    ) -> int:
        """Insert a message (and its chat / attachment joins unless ``chat`` is None).

        ``body`` says where the text goes: ``text``, ``attributed`` (text NULL, as recent
        macOS writes most rows) or ``both``; the default is ``both`` on a modern database.
        """
        body = body or ("text" if self.legacy else "both")
        attachments = list(attachments)
        values: dict[str, object] = {
            "guid": guid or new_guid(),
            "text": text if body in ("text", "both") else None,
            "attributedBody": (encode_attributed_body(text)
                               if text is not None and body in ("attributed", "both") else None),
            "handle_id": handle,
            "service": service,
            "account": f"e:{ME}",
            "account_guid": new_guid(),
            "date": self.date(when),
            "date_read": 0,
            "date_delivered": 0,
            "is_delivered": 1,
            "is_finished": 1,
            "is_from_me": int(is_from_me),
            "is_read": 0 if is_from_me else 1,
            "is_sent": int(is_from_me),
            "cache_has_attachments": int(bool(attachments) if has_attachments is None
                                         else has_attachments),
            "destination_caller_id": ME,
            "part_count": 1,
        }
        for key in ("date_edited", "date_retracted"):
            if isinstance(columns.get(key), datetime):
                columns[key] = self.date(columns[key])  # type: ignore[arg-type]
        values.update(columns)
        rowid = self._insert("message", values, conn)
        if chat is not None:
            self.join_chat(chat, rowid, conn=conn)
        for attachment in attachments:
            self.join_attachment(rowid, attachment, conn=conn)
        return rowid

    def join_chat(self, chat: int, message: int, conn: sqlite3.Connection | None = None) -> None:
        self._insert("chat_message_join",
                     {"chat_id": chat, "message_id": message, "message_date": self.date(T0)},
                     conn)

    def join_attachment(self, message: int, attachment: int,
                        conn: sqlite3.Connection | None = None) -> None:
        self._insert("message_attachment_join",
                     {"message_id": message, "attachment_id": attachment}, conn)

    def close(self) -> None:
        self.conn.close()


def after(seconds: float) -> datetime:
    """``T0`` plus ``seconds``."""
    return T0 + timedelta(seconds=seconds)


MakeDB = Callable[..., ChatDBFixture]
"""The ``make_db`` fixture: ``make_db(name="chat.db", legacy=False, wal=True)``."""
