"""The chat.db reader while Messages writes: change detection, races, locks, restarts."""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from chatdb_fixture import ChatDBFixture, MakeDB

from spectrum_sync._local.chatdb import ChatDB, LocalEvent
from spectrum_sync._local.errors import ChatDBBusy

ALICE = "+15551110000"
DM = f"iMessage;-;{ALICE}"
GROUP = "iMessage;+;chat987654321"


@contextmanager
def running(target: threading.Thread) -> Iterator[threading.Thread]:
    target.start()
    try:
        yield target
    finally:
        target.join(10)
        assert not target.is_alive()


def later(delay: float, action: object) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()  # type: ignore[operator]

    return threading.Thread(target=run, daemon=True)


def setup_chats(db: ChatDBFixture) -> tuple[int, int, int]:
    alice = db.handle(ALICE)
    return alice, db.chat(DM, handles=[alice]), db.chat(GROUP, handles=[alice])


# -- change detection ----------------------------------------------------------------------


def test_data_version_changes_when_another_connection_commits(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    with ChatDB(db.path) as reader:
        assert not reader.changed()
        db.message("one", chat=dm, handle=alice)
        assert reader.changed()
        assert not reader.changed()  # reported once
        db.conn.execute("BEGIN")
        db.conn.execute("UPDATE message SET is_read = 0")  # a read receipt, say
        assert not reader.changed()  # not committed yet
        db.conn.execute("COMMIT")
        assert reader.changed()


def test_read_notes_the_version_before_reading(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    with ChatDB(db.path) as reader:
        db.message("one", chat=dm, handle=alice)
        assert len(reader.read_after(0, 10)) == 1
        assert not reader.changed()  # the read saw that commit already
        db.message("two", chat=dm, handle=alice)
        assert reader.changed()


def test_wait_for_change(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    with ChatDB(db.path, poll_interval=0.02) as reader:
        started = time.monotonic()
        assert reader.wait_for_change(timeout=0.15) is False
        assert 0.14 <= time.monotonic() - started < 1.0

        with running(later(0.15, lambda: db.message("hi", chat=dm, handle=alice))):
            started = time.monotonic()
            assert reader.wait_for_change(timeout=5) is True
            assert time.monotonic() - started < 2.0
        # The fixture's message is two writes (the message, then its chat join), each a
        # change: take the second too, so that the stop checks below see none.
        while reader.wait_for_change(timeout=0.2):
            pass

        stop = threading.Event()
        with running(later(0.1, stop.set)):
            started = time.monotonic()
            assert reader.wait_for_change(timeout=5, stop_event=stop) is False
            assert time.monotonic() - started < 1.0
        assert reader.wait_for_change(timeout=5, stop_event=stop) is False  # already set


# -- races -----------------------------------------------------------------------------------


def test_message_row_before_its_joins_is_returned_complete(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    photo = db.attachment("~/Library/Messages/Attachments/x/IMG.jpeg")
    with ChatDB(db.path, settle_window=3.0, settle_interval=0.02) as reader:
        # Messages' order: the message row first, its join rows in later transactions.
        rowid = db.message("\ufffc", handle=alice, has_attachments=True)

        def joins() -> None:
            db.join_chat(dm, rowid)
            time.sleep(0.05)
            db.join_attachment(rowid, photo)

        with running(later(0.2, joins)):
            started = time.monotonic()
            (event,) = reader.read_after(0, 10)
            waited = time.monotonic() - started
    assert event.chat_guid == DM and len(event.attachments) == 1
    assert 0.2 <= waited < 2.0


def test_complete_rows_before_an_incomplete_one_come_at_once(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    first = db.message("complete", chat=dm, handle=alice)
    pending = db.message("no chat yet", handle=alice)
    db.message("complete too", chat=dm, handle=alice)
    with ChatDB(db.path, settle_window=2.0, settle_interval=0.02) as reader:
        started = time.monotonic()
        events = reader.read_after(0, 10)
        assert time.monotonic() - started < 0.5
        assert [e.rowid for e in events] == [first]  # the batch stops before the pending row
        with running(later(0.1, lambda: db.join_chat(dm, pending))):
            events = reader.read_after(first, 10)
    assert [e.chat_guid for e in events] == [DM, DM]


def test_a_row_that_never_gets_a_chat_is_returned_after_the_window(
        make_db: MakeDB, caplog: pytest.LogCaptureFixture) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    orphans = [db.message(f"orphan {i}", handle=alice) for i in range(3)]
    promised = db.message("attachments announced, never joined", chat=dm, handle=alice,
                          has_attachments=True)
    normal = db.message("normal", chat=dm, handle=alice)
    with ChatDB(db.path, settle_window=0.5, settle_interval=0.02) as reader:
        caplog.set_level(logging.WARNING, "spectrum_sync.local")
        started = time.monotonic()
        events: list[LocalEvent] = []
        while len(events) < 5:
            events += reader.read_after(events[-1].rowid if events else 0, 10)
        waited = time.monotonic() - started
    assert [e.rowid for e in events] == [*orphans, promised, normal]
    assert [e.chat_guid for e in events[:3]] == ["", "", ""]
    assert events[3].chat_guid == DM and events[3].attachments == ()
    # The windows of rows seen together run concurrently: about one window, not four.
    assert 0.5 <= waited < 1.5
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("no chat" in w for w in warnings) == 3
    assert sum("no attachments" in w for w in warnings) == 1


def test_old_incomplete_rows_do_not_slow_down_history(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, _ = setup_chats(db)
    old = [db.message(f"deleted attachment {i}", chat=dm, handle=alice, has_attachments=True)
           for i in range(5)]
    old += [db.message(f"chat deleted {i}", handle=alice) for i in range(5)]
    recent = [db.message(f"recent {i}", chat=dm, handle=alice) for i in range(20)]
    with ChatDB(db.path, settle_window=5.0, settle_rows=20) as reader:
        started = time.monotonic()
        events = reader.read_after(0, 100)
        assert time.monotonic() - started < 1.0
    assert [e.rowid for e in events] == old + recent
    # Counted as recent (a larger settle_rows), the same rows wait for their window first.
    with ChatDB(db.path, settle_window=0.3, settle_rows=1000) as reader:
        started = time.monotonic()
        assert len(reader.read_after(0, 100)) == 30
        assert time.monotonic() - started >= 0.3


def test_no_wait_without_settle_window(make_db: MakeDB) -> None:
    db = make_db()
    alice, _, _ = setup_chats(db)
    db.message("orphan", handle=alice)
    with ChatDB(db.path, settle_window=0) as reader:
        started = time.monotonic()
        assert len(reader.read_after(0, 10)) == 1
        assert time.monotonic() - started < 0.5


# -- locks -------------------------------------------------------------------------------------


def hold_exclusive(db: ChatDBFixture, seconds: float, locked: threading.Event,
                   text: str) -> threading.Thread:
    def run() -> None:
        conn = sqlite3.connect(db.path, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("INSERT INTO message (guid, text, date) VALUES (?, ?, 1)", (text, text))
        locked.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    return threading.Thread(target=run, daemon=True)


def test_locked_database_is_retried(make_db: MakeDB) -> None:
    # A rollback-journal database: there an exclusive writer blocks readers (WAL would not).
    db = make_db(wal=False)
    alice, dm, _ = setup_chats(db)
    first = db.message("before the lock", chat=dm, handle=alice)
    with ChatDB(db.path, settle_window=0) as reader:
        locked = threading.Event()
        with running(hold_exclusive(db, 0.4, locked, "written under the lock")):
            assert locked.wait(5)
            assert reader.changed() is False  # busy: "no news", not an error
            started = time.monotonic()
            events = reader.read_after(0, 10)
            assert time.monotonic() - started >= 0.2
        assert events[0].rowid == first
        assert events[-1].text == "written under the lock"
        assert reader.head() == events[-1].rowid


def test_a_lock_longer_than_the_busy_timeout_is_a_retryable_error(make_db: MakeDB) -> None:
    db = make_db(wal=False)
    db.message("x")
    with ChatDB(db.path, busy_timeout=0.2) as reader:
        locked = threading.Event()
        with running(hold_exclusive(db, 1.0, locked, "slow")):
            assert locked.wait(5)
            with pytest.raises(ChatDBBusy) as info:
                reader.read_after(0, 10)
            assert info.value.retryable
            assert str(db.path) in info.value.message
        assert [e.text for e in reader.read_after(0, 10)] == ["x", "slow"]


# -- a live writer, a reader loop, a restart ---------------------------------------------------


def test_writer_thread_and_restarted_reader_lose_nothing(make_db: MakeDB) -> None:
    db = make_db()
    alice, dm, group = setup_chats(db)
    total = 150
    inserted: list[int] = []
    expected_attachments: dict[int, int] = {}
    writer_done = threading.Event()

    def writer() -> None:
        rng = random.Random(5)
        conn = sqlite3.connect(db.path, isolation_level=None)
        for i in range(total):
            chat = dm if i % 3 else group
            shape = rng.random()
            if shape < 0.25:
                # Messages' race: the row commits first, the joins a moment later.
                photo = db.attachment(f"~/Library/Messages/Attachments/{i}.jpeg", conn=conn)
                rowid = db.message(f"late {i}", handle=alice, has_attachments=True, conn=conn)
                inserted.append(rowid)
                expected_attachments[rowid] = 1
                time.sleep(rng.uniform(0.005, 0.06))
                db.join_chat(chat, rowid, conn=conn)
                time.sleep(rng.uniform(0.0, 0.03))
                db.join_attachment(rowid, photo, conn=conn)
            elif shape < 0.35:
                conn.execute("BEGIN")  # several rows in one transaction
                for j in range(3):
                    rowid = db.message(f"batch {i}.{j}", chat=chat, handle=alice, conn=conn,
                                       body="attributed")
                    inserted.append(rowid)
                conn.execute("COMMIT")
            else:
                inserted.append(db.message(f"plain {i}", chat=chat, handle=alice, conn=conn))
            time.sleep(rng.uniform(0.0, 0.01))
        conn.close()
        writer_done.set()

    received: list[LocalEvent] = []
    restarts = 0
    with running(threading.Thread(target=writer, daemon=True)):
        cursor = 0
        reader = ChatDB(db.path, poll_interval=0.01, settle_window=1.0, settle_interval=0.01)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                events = reader.read_after(cursor, 7)
                if events:
                    received += events
                    cursor = events[-1].rowid  # the cursor only moves past returned rows
                    if restarts == 0 and len(received) >= 60:
                        # A restart: a new reader resumes from the last returned ROWID.
                        reader.close()
                        reader = ChatDB(db.path, poll_interval=0.01, settle_window=1.0,
                                        settle_interval=0.01)
                        restarts += 1
                    continue
                if writer_done.is_set() and cursor >= max(inserted, default=0):
                    break
                reader.wait_for_change(timeout=0.2)
        finally:
            reader.close()

    rowids = [e.rowid for e in received]
    assert restarts == 1
    assert rowids == sorted(inserted)  # every row once, in order
    assert len(set(rowids)) == len(rowids) > total
    assert all(e.chat_guid in (DM, GROUP) for e in received)
    for event in received:
        assert len(event.attachments) == expected_attachments.get(event.rowid, 0), event.text
        assert event.text is not None and event.text.split()[0] in ("late", "batch", "plain")
