"""The chat.db reader: row decoding, schema variants, chat lookup and opening errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from chatdb_fixture import ME, T0, ChatDBFixture, MakeDB, after, new_guid

from spectrum_sync._local import chatdb as chatdb_module
from spectrum_sync._local.chatdb import ChatDB, LocalEvent, split_reaction_target
from spectrum_sync._local.errors import (
    ChatDBError,
    ChatDBNotFound,
    FullDiskAccessError,
    LocalError,
    NotAChatDB,
    NotAMacError,
)

ALICE, BOB, CAROL = "+15551110000", "bob@example.com", "+15553330000"
DM = f"iMessage;-;{ALICE}"
GROUP = "iMessage;+;chat123456789012345678"
SMS_DM = f"SMS;-;{CAROL}"
PHOTO = "~/Library/Messages/Attachments/ab/11/at_0_5D1E/IMG_0001.jpeg"


class Sample:
    """A chat.db with one row of each kind; attribute names are the rows' ROWIDs."""

    def __init__(self, db: ChatDBFixture) -> None:
        self.db = db
        self.alice = db.handle(ALICE)
        self.bob = db.handle(BOB)
        self.carol = db.handle(CAROL, "SMS")
        self.dm = db.chat(DM, handles=[self.alice])
        self.group = db.chat(GROUP, handles=[self.alice, self.bob], display_name="Team")
        self.sms = db.chat(SMS_DM, handles=[self.carol])
        self.hello_guid = new_guid()
        self.hello = db.message("hello", chat=self.dm, handle=self.alice, body="text",
                                guid=self.hello_guid)
        self.attributed = db.message("only attributed 😀", chat=self.dm, handle=self.alice,
                                     body="attributed", when=after(1))
        self.mine = db.message("from me", chat=self.dm, handle=self.alice, is_from_me=True,
                               when=after(2))
        self.reply = db.message("threaded reply", chat=self.group, handle=self.bob,
                                when=after(3), thread_originator_guid=self.hello_guid,
                                thread_originator_part="0:0:5")
        self.love = db.message("Loved “hello”", chat=self.dm, handle=self.alice, when=after(4),
                               associated_message_guid=f"p:0/{self.hello_guid}",
                               associated_message_type=2000)
        self.unlike = db.message("Removed a like from “hello”", chat=self.dm,
                                 handle=self.alice, when=after(5),
                                 associated_message_guid=f"bp:{self.hello_guid}",
                                 associated_message_type=3001)
        self.custom = db.message("Reacted 🔥 to “hello”", chat=self.group, handle=self.bob,
                                 when=after(6), associated_message_guid=f"p:2/{self.hello_guid}",
                                 associated_message_type=2006, associated_message_emoji="🔥")
        self.sticker_file = db.attachment(
            "~/Library/Messages/StickerCache/sticker.heic", mime_type="image/heic",
            uti="public.heic", is_sticker=True)
        self.sticker = db.message(None, chat=self.group, handle=self.bob, when=after(7),
                                  associated_message_guid=f"p:0/{self.hello_guid}",
                                  associated_message_type=2007,
                                  attachments=[self.sticker_file])
        self.photo_file = db.attachment(PHOTO, transfer_name="IMG_0001.jpeg",
                                        total_bytes=204_800)
        self.photo = db.message("\ufffc", chat=self.group, handle=self.alice, when=after(8),
                                attachments=[self.photo_file])
        self.rename = db.message(None, chat=self.group, handle=self.bob, when=after(9),
                                 item_type=2, group_title="New name")
        self.edited = db.message("edited text", chat=self.dm, handle=self.alice, when=after(10),
                                 date_edited=after(70))
        self.unsent = db.message(None, chat=self.dm, handle=self.alice, when=after(11),
                                 date_retracted=after(40))
        self.sms_row = db.message("via sms", chat=self.sms, handle=self.carol, when=after(12),
                                  service="SMS")


def read_all(path: Path) -> dict[int, LocalEvent]:
    with ChatDB(path, settle_window=0.2) as reader:
        return {event.rowid: event for event in reader.read_after(0, 1000)}


@pytest.fixture(params=["modern", "legacy"])
def sample(request: pytest.FixtureRequest, make_db: MakeDB) -> Sample:
    return Sample(make_db(legacy=request.param == "legacy"))


def test_plain_text_dm(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.hello]
    assert event.kind == "message"
    assert event.text == "hello"
    assert event.guid == sample.hello_guid
    assert event.date == T0
    assert not event.is_from_me
    assert (event.sender, event.handle, event.service) == (ALICE, ALICE, "iMessage")
    assert (event.chat_guid, event.chat_identifier, event.is_group) == (DM, ALICE, False)
    assert event.account == ME
    assert event.attachments == ()
    assert event.reaction is None and event.reaction_target_guid is None


def test_null_text_falls_back_to_attributed_body(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.attributed]
    assert event.text == "only attributed 😀"


def test_from_me(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.mine]
    assert event.is_from_me
    assert event.sender == ME and event.handle == ALICE
    assert event.chat_guid == DM


def test_group_reply(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.reply]
    assert (event.chat_guid, event.is_group, event.display_name) == (GROUP, True, "Team")
    assert event.sender == BOB
    if sample.db.legacy:
        assert event.reply_to_guid is None
    else:
        assert event.reply_to_guid == sample.hello_guid


def test_tapbacks(sample: Sample) -> None:
    events = read_all(sample.db.path)
    love, unlike = events[sample.love], events[sample.unlike]
    assert (love.kind, love.reaction, love.reaction_emoji) == ("reaction_added", "love", "❤️")
    assert (love.reaction_target_guid, love.reaction_part) == (sample.hello_guid, 0)
    assert love.associated_message_type == 2000
    assert (unlike.kind, unlike.reaction, unlike.reaction_emoji) == (
        "reaction_removed", "like", "👍")
    assert (unlike.reaction_target_guid, unlike.reaction_part) == (sample.hello_guid, None)


def test_custom_emoji_and_sticker_tapbacks(sample: Sample) -> None:
    events = read_all(sample.db.path)
    custom, sticker = events[sample.custom], events[sample.sticker]
    assert (custom.kind, custom.reaction, custom.reaction_part) == ("reaction_added", "emoji", 2)
    assert custom.reaction_emoji == (None if sample.db.legacy else "🔥")
    assert (sticker.kind, sticker.reaction, sticker.reaction_emoji) == (
        "reaction_added", "sticker", None)
    assert len(sticker.attachments) == 1
    assert sticker.attachments[0].is_sticker is (not sample.db.legacy)


def test_attachment_metadata(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.photo]
    assert event.kind == "message" and event.text == "\ufffc"
    (photo,) = event.attachments
    assert photo.path == os.path.expanduser(PHOTO) and not photo.path.startswith("~")
    assert (photo.mime_type, photo.uti, photo.transfer_name, photo.total_bytes) == (
        "image/jpeg", "public.jpeg", "IMG_0001.jpeg", 204_800)
    assert photo.guid.startswith("at_0_") and photo.is_sticker is False


def test_group_event_is_other(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.rename]
    assert (event.kind, event.item_type, event.group_title) == ("other", 2, "New name")


def test_edit_and_unsend_dates(sample: Sample) -> None:
    events = read_all(sample.db.path)
    if sample.db.legacy:
        assert events[sample.edited].edited_at is None
        assert events[sample.unsent].retracted_at is None
    else:
        assert events[sample.edited].edited_at == after(70)
        assert events[sample.unsent].retracted_at == after(40)
        assert events[sample.unsent].text is None


def test_sms_service(sample: Sample) -> None:
    event = read_all(sample.db.path)[sample.sms_row]
    assert (event.service, event.chat_guid, event.sender) == ("SMS", SMS_DM, CAROL)


def test_all_rows_in_order_with_dates(sample: Sample) -> None:
    events = list(read_all(sample.db.path).values())
    assert [e.rowid for e in events] == sorted(e.rowid for e in events)
    assert len(events) == 13
    assert [e.date for e in events] == [after(i) for i in range(13)]


def test_legacy_schema_detected(make_db: MakeDB) -> None:
    db = make_db(legacy=True)
    with ChatDB(db.path) as reader:
        for table, column in [("message", "thread_originator_guid"), ("message", "date_edited"),
                              ("message", "date_retracted"),
                              ("message", "associated_message_emoji"),
                              ("attachment", "is_sticker"), ("handle", "service")]:
            assert not reader.has_column(table, column)
        assert reader.has_column("message", "attributedBody")
    with ChatDB(make_db("modern.db").path) as reader:
        assert reader.has_column("message", "thread_originator_guid")
        assert reader.has_column("handle", "service")


def test_legacy_handle_service_falls_back_to_message(make_db: MakeDB) -> None:
    db = make_db(legacy=True)
    carol = db.handle(CAROL)
    chat = db.chat(SMS_DM, handles=[carol])
    db.message("x", chat=chat, handle=carol, service="SMS")
    (event,) = read_all(db.path).values()
    assert event.service == "SMS"


def test_minimal_database_with_only_a_message_table(tmp_path: Path) -> None:
    path = tmp_path / "tiny.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE message (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT,"
                     " date INTEGER)")
        conn.execute("INSERT INTO message (text, date) VALUES ('bare', 0)")
    conn.close()
    with ChatDB(path) as reader:
        (event,) = reader.read_after(0, 10)
    assert (event.text, event.chat_guid, event.date, event.kind) == ("bare", "", None, "message")


def test_batches_and_head(make_db: MakeDB) -> None:
    db = make_db()
    with ChatDB(db.path) as reader:
        assert reader.head() == 0
        assert reader.read_after(0, 10) == []
        alice = db.handle(ALICE)
        chat = db.chat(DM, handles=[alice])
        rows = [db.message(f"m{i}", chat=chat, handle=alice) for i in range(5)]
        assert reader.head() == rows[-1]
        first = reader.read_after(0, 2)
        assert [e.rowid for e in first] == rows[:2]
        rest = reader.read_after(first[-1].rowid, 10)
        assert [e.rowid for e in rest] == rows[2:]
        assert reader.read_after(rows[-1], 10) == []
        with pytest.raises(ValueError):
            reader.read_after(0, 0)


def test_split_reaction_target() -> None:
    assert split_reaction_target("p:0/ABC") == ("ABC", 0)
    assert split_reaction_target("p:12/ABC-DEF") == ("ABC-DEF", 12)
    assert split_reaction_target("bp:ABC") == ("ABC", None)
    assert split_reaction_target("ABC") == ("ABC", None)
    assert split_reaction_target("p:x/ABC") == ("p:x/ABC", None)


def test_chat_lookup(sample: Sample) -> None:
    with ChatDB(sample.db.path) as reader:
        dm = reader.chat(DM)
        assert dm is not None
        assert (dm.guid, dm.is_group, dm.chat_identifier, dm.service) == (
            DM, False, ALICE, "iMessage")
        assert [p.address for p in dm.participants] == [ALICE]
        group = reader.chat(GROUP)
        assert group is not None and group.is_group and group.display_name == "Team"
        assert [p.address for p in group.participants] == [ALICE, BOB]
        # The cloud-style id and the bare identifier find the same chats.
        assert reader.chat(f"any;-;{ALICE}") == dm
        assert reader.chat(ALICE) == dm
        assert reader.chat(f"any;-;{CAROL}") == reader.chat(SMS_DM)
        assert reader.chat("any;+;chat123456789012345678") == group
        assert reader.chat(f"any;+;{ALICE}") is None  # no group has that identifier
        assert reader.chat("iMessage;-;+15550000000") is None


# -- opening errors ------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ChatDBNotFound) as info:
        ChatDB(tmp_path / "nope" / "chat.db")
    assert str(tmp_path / "nope" / "chat.db") in str(info.value)
    assert info.value.hint


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    path.write_bytes(b"this is not SQLite at all " * 100)
    with pytest.raises(NotAChatDB) as info:
        ChatDB(path)
    assert str(path) in info.value.message and "not an SQLite database" in info.value.message


def test_database_without_message_table(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()
    with pytest.raises(NotAChatDB, match="no message table"):
        ChatDB(path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(NotAChatDB, match="directory"):
        ChatDB(tmp_path)


def test_default_path_needs_a_mac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chatdb_module, "_is_mac", lambda: False)
    with pytest.raises(NotAMacError) as info:
        ChatDB()
    assert "macOS" in info.value.message and "chat_db=" in info.value.hint


def test_default_path_on_a_mac(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               make_db: MakeDB) -> None:
    monkeypatch.setattr(chatdb_module, "_is_mac", lambda: True)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / "Library" / "Messages" / "chat.db"
    with pytest.raises(ChatDBNotFound) as info:
        ChatDB()
    assert str(expected) in info.value.message
    expected.parent.mkdir(parents=True)
    db = make_db()
    db.close()  # checkpoints the WAL into the file, so the file alone can move
    os.replace(db.path, expected)
    with ChatDB() as reader:
        assert reader.path == str(expected)


def test_tilde_and_special_characters_in_the_path(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    home = tmp_path / "h o#m?e%20"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    db = ChatDBFixture(home / "chat?.db")
    db.message("found")
    with ChatDB("~/chat?.db", settle_window=0) as reader:
        assert reader.path == str(home / "chat?.db")
        assert [e.text for e in reader.read_after(0, 5)] == ["found"]
    db.close()


def test_opened_read_only(make_db: MakeDB) -> None:
    db = make_db()
    with ChatDB(db.path) as reader, pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader._conn.execute("INSERT INTO handle (id, service) VALUES ('x', 'iMessage')")


@pytest.mark.skipif(os.name != "posix", reason="file modes are a POSIX notion")
def test_unreadable_file_on_a_mac_names_full_disk_access(make_db: MakeDB) -> None:
    db = make_db()
    db.close()
    os.chmod(db.path, 0)
    script = (
        "import sys\n"
        "from spectrum_sync._local import chatdb\n"
        "chatdb._is_mac = lambda: True\n"
        "try:\n"
        "    chatdb.ChatDB(sys.argv[1])\n"
        "except chatdb.FullDiskAccessError as exc:\n"
        "    print(exc.hint)\n"
        "    print(exc)\n"
    )
    # Root ignores file modes: without the capabilities that let it, it obeys them.
    demote = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]
    command = [*(demote if os.geteuid() == 0 else []), sys.executable, "-c", script,
               str(db.path)]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        os.chmod(db.path, 0o644)
    assert proc.returncode == 0, proc.stderr
    assert "Full Disk Access" in proc.stdout and "Privacy & Security" in proc.stdout


def test_refused_stat_on_a_mac_names_full_disk_access(
        monkeypatch: pytest.MonkeyPatch, make_db: MakeDB) -> None:
    """Without Full Disk Access, macOS fails even stat() on ~/Library/Messages (EPERM)."""
    path = str(make_db().path)
    real_stat = os.stat

    def refusing_stat(target: object, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(target) == path:  # type: ignore[call-overload]
            raise PermissionError(1, "Operation not permitted", path)
        return real_stat(target, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", refusing_stat)
    monkeypatch.setattr(chatdb_module, "_is_mac", lambda: True)
    with pytest.raises(FullDiskAccessError) as info:
        ChatDB(path)
    assert "Full Disk Access" in info.value.hint and path in info.value.message
    monkeypatch.setattr(chatdb_module, "_is_mac", lambda: False)
    with pytest.raises(ChatDBError) as other:
        ChatDB(path)
    assert type(other.value) is ChatDBError and "Operation not permitted" in other.value.message


@pytest.mark.parametrize("message", ["authorization denied", "unable to open database file"])
def test_sqlite_permission_errors_on_a_mac(message: str, monkeypatch: pytest.MonkeyPatch,
                                           make_db: MakeDB) -> None:
    with ChatDB(make_db().path) as reader:
        monkeypatch.setattr(chatdb_module, "_is_mac", lambda: True)
        error = reader._translate(sqlite3.OperationalError(message))
        assert isinstance(error, FullDiskAccessError) and "Full Disk Access" in error.hint
        monkeypatch.setattr(chatdb_module, "_is_mac", lambda: False)
        error = reader._translate(sqlite3.OperationalError(message))
        assert type(error) is ChatDBError and reader.path in error.message


def test_other_sqlite_errors_name_the_file(make_db: MakeDB) -> None:
    db = make_db()
    db.message("x")
    with ChatDB(db.path) as reader:
        db.conn.execute("DROP TABLE handle")
        with pytest.raises(ChatDBError) as info:
            reader.read_after(0, 10)
    assert db.path.name in info.value.message and "handle" in info.value.message
    assert info.value.__cause__ is None  # no bare sqlite3 traceback attached


def test_closed_reader(make_db: MakeDB) -> None:
    reader = ChatDB(make_db().path)
    reader.close()
    reader.close()
    with pytest.raises(LocalError, match="closed"):
        reader.read_after(0, 1)
    with pytest.raises(LocalError, match="closed"):
        reader.changed()


def test_bad_settings(make_db: MakeDB) -> None:
    path = make_db().path
    with pytest.raises(ValueError):
        ChatDB(path, poll_interval=0)
    with pytest.raises(ValueError):
        ChatDB(path, settle_window=-1)
    with pytest.raises(ValueError):
        ChatDB(path, settle_rows=-1)
