"""Local Mac mode through the public API: ``Client(local=True, chat_db=...)``.

The client reads a realistic chat.db built by the fixture (a writer thread plays Messages) and
sends through a fake ``osascript`` on ``PATH`` that records its argv and, like Messages, writes
the sent text into chat.db. Nothing here needs a Mac.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chatdb_fixture import ChatDBFixture, MakeDB, new_guid
from fake_osascript import FakeOsascript, path_with
from support.factories import EmulatorFactory
from support.receiving import take

import spectrum_sync as spectrum
from spectrum_sync import Client, Message, Reaction
from spectrum_sync._local.applescript import SEND_SCRIPT

ALICE, BOB = "+15551111111", "+15552222222"
DM_GUID = f"iMessage;-;{ALICE}"
GROUP_GUID = "iMessage;+;chat424242"
FAST_POLL = spectrum.ReceiveOptions(commit_interval=0.05)


class Mac:
    """A chat.db with Alice's DM and a group, and a fake Messages (osascript)."""

    def __init__(self, db: ChatDBFixture, fake: FakeOsascript) -> None:
        self.db = db
        self.fake = fake
        self.alice = db.handle(ALICE)
        self.bob = db.handle(BOB)
        self.sms = db.handle("+15553333333", service="SMS")
        self.dm = db.chat(DM_GUID, handles=[self.alice])
        self.group = db.chat(GROUP_GUID, handles=[self.alice, self.bob], display_name="Team")
        self.sms_chat = db.chat("SMS;-;+15553333333", handles=[self.sms])

    @property
    def path(self) -> str:
        return str(self.db.path)

    def incoming(self, text: str, *, chat: str = "dm", **columns: Any) -> int:
        """A message from Alice (in the DM or the group) arrives."""
        chat_id = self.dm if chat == "dm" else self.group
        return self.db.message(text, chat=chat_id, handle=self.alice, body="attributed",
                               **columns)

    def client(self, **kwargs: Any) -> Client:
        kwargs.setdefault("receive", FAST_POLL)
        return Client(local=True, chat_db=self.path, **kwargs)


@pytest.fixture
def mac(make_db: MakeDB, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Mac:
    db = make_db()
    fake = FakeOsascript(tmp_path / "bin")
    monkeypatch.setenv("PATH", path_with(fake.folder))
    for name, value in fake.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FAKE_OSASCRIPT_ECHO_DB", str(db.path))
    return Mac(db, fake)


@pytest.fixture
def client(mac: Mac) -> Iterator[Client]:
    with mac.client() as c:
        yield c


# ----- configuration ---------------------------------------------------------------------


def test_without_a_mac_and_without_chat_db_the_error_names_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.platform", "linux")
    with pytest.raises(spectrum.ConfigurationError, match="only exists on macOS") as info:
        Client(local=True)
    assert "chat_db=" in str(info.value)


@pytest.mark.parametrize("bad", ["missing.db", "."])
def test_a_chat_db_that_is_not_there_fails_at_construction(tmp_path: Path, bad: str) -> None:
    with pytest.raises(spectrum.ConfigurationError, match=r"chat\.db"):
        Client(local=True, chat_db=str(tmp_path / bad))


def test_a_file_that_is_not_a_chat_db_fails_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    with pytest.raises(spectrum.ConfigurationError, match="not"):
        Client(local=True, chat_db=str(path))


def test_cloud_settings_are_refused_in_local_mode(mac: Mac) -> None:
    with pytest.raises(spectrum.ConfigurationError, match=r"project_id=.*cloud mode"):
        Client(local=True, chat_db=mac.path, project_id="p")
    with pytest.raises(spectrum.ConfigurationError, match="local=True"):
        Client(chat_db=mac.path)
    with pytest.raises(spectrum.ConfigurationError, match="chat_db= takes a path"):
        Client(local=True, chat_db=42)  # type: ignore[arg-type]


def test_a_local_client_describes_itself(client: Client, mac: Mac) -> None:
    assert client.mode == "local"
    assert client.phones == [] and client.lines == []
    assert client.refresh_credentials() is False
    assert mac.path in repr(client) and "local" in repr(client)
    with pytest.raises(spectrum.UnsupportedError) as info:
        client.quota()
    assert info.value.mode == "local"


def test_an_unresolved_user_stays_as_given(client: Client) -> None:
    user = client.user("(555) 111-1111")
    assert user.address == ALICE and user.service == "unknown"


# ----- receiving ---------------------------------------------------------------------------


def test_messages_arrive_as_public_messages(client: Client, mac: Mac) -> None:
    mac.incoming("before the client listens")
    with client.messages() as inbox:
        mac.incoming("hello from the DM")
        mac.incoming("hello team", chat="group")
        first, second = take(inbox, 2)
    assert isinstance(first, Message) and first.text == "hello from the DM"
    assert first.space.id == DM_GUID and first.space.type == "dm" and first.space.phone == ""
    assert first.sender is not None and first.sender.address == ALICE
    assert first.sender.service == "iMessage" and not first.is_from_me
    assert first.sequence > 0 and first.created_at is not None
    assert second.space.id == GROUP_GUID and second.space.type == "group"
    assert client.health()[""].state in ("live", "idle")


def test_tapbacks_arrive_as_reactions_with_their_targets(client: Client, mac: Mac) -> None:
    target = new_guid()
    with client.events("reaction") as inbox:
        mac.incoming("", associated_message_type=2001,
                     associated_message_guid=f"p:0/{target}")
        mac.incoming("", associated_message_type=3001,
                     associated_message_guid=f"bp:{target}")
        added, removed = take(inbox, 2)
    assert isinstance(added, Reaction) and added.added and added.message_guid == target
    assert added.part_index == 0 and added.emoji == "👍"
    assert not removed.added and removed.message_guid == target


def test_own_messages_are_hidden_unless_asked(client: Client, mac: Mac) -> None:
    with client.messages() as inbox:
        mac.db.message("sent from the phone", chat=mac.dm, is_from_me=True)
        mac.incoming("a reply")
        (only,) = take(inbox, 1)
    assert only.text == "a reply"
    with client.messages(include_own=True) as inbox:
        mac.db.message("sent again", chat=mac.dm, is_from_me=True)
        (own,) = take(inbox, 1)
    assert own.is_from_me and own.sender is None and own.text == "sent again"


def test_a_writer_and_a_restart_lose_nothing_and_repeat_nothing(mac: Mac, tmp_path: Path
                                                                ) -> None:
    """Messages writes 300 rows (DM and group, text only in attributedBody) while the client
    receives; halfway the client is closed and a new one resumes from the stored cursor."""
    state = f"sqlite:///{tmp_path / 'state.db'}"
    total = 300
    written: list[str] = []
    start = threading.Event()

    def write() -> None:
        start.wait()
        for n in range(total):
            text = f"m{n}"
            mac.incoming(text, chat="dm" if n % 3 else "group")
            written.append(text)
            time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    received: list[str] = []
    with mac.client(state=state) as first, first.messages() as inbox:
        start.set()
        received += [m.text for m in take(inbox, total // 2)]
    with mac.client(state=state) as second, second.messages() as inbox:
        received += [m.text for m in take(inbox, total - len(received))]
    writer.join()
    assert sorted(received, key=lambda t: int(t[1:])) == written
    assert len(set(received)) == total


def test_a_new_client_starts_live_and_a_stored_cursor_resumes(mac: Mac, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    mac.incoming("old news")
    with mac.client(state=state) as client, client.messages() as inbox:
        mac.incoming("one")
        assert [m.text for m in take(inbox, 1)] == ["one"]
    mac.incoming("while nobody listened")
    with mac.client(state=state) as client, client.messages() as inbox:
        assert [m.text for m in take(inbox, 1)] == ["while nobody listened"]


def test_callbacks_receive_in_local_mode(client: Client, mac: Mac) -> None:
    seen: list[str] = []
    done = threading.Event()

    @client.on_message
    def handle(message: Message) -> None:
        seen.append(message.text or "")
        done.set()

    handle_ = client.start()
    try:
        time.sleep(0.2)
        mac.incoming("to the callback")
        assert done.wait(10)
    finally:
        handle_.stop()
    assert seen == ["to the callback"]


# ----- sending -----------------------------------------------------------------------------


def test_a_dm_send_goes_to_the_participant_and_returns_the_recorded_message(
        client: Client, mac: Mac) -> None:
    space = client.space.get(DM_GUID)
    assert space.phone == ""
    sent = space.send("hi Alice")
    call = mac.fake.last()
    assert call.args[1:] == [b"participant", ALICE.encode(), b"iMessage", b"text", b"hi Alice"]
    assert call.stdin == SEND_SCRIPT.encode()
    assert sent.guid and sent.is_from_me and sent.text == "hi Alice" and sent.space == space


def test_a_dm_with_an_sms_handle_goes_through_the_sms_account(client: Client, mac: Mac
                                                             ) -> None:
    client.space.get("any;-;+15553333333").send("by SMS")
    assert mac.fake.last().args[1:4] == [b"participant", b"+15553333333", b"SMS"]
    client.space.get("SMS;-;+15554444444").send("new SMS number")
    assert mac.fake.last().args[1:4] == [b"participant", b"+15554444444", b"SMS"]


def test_a_group_send_names_the_chat_by_its_real_guid(client: Client, mac: Mac) -> None:
    sent = client.space.get("any;+;chat424242").send("hello team")
    assert mac.fake.last().args[1:3] == [b"chat", GROUP_GUID.encode()]
    assert sent.guid


def test_replying_to_a_received_message_sends_into_its_space(client: Client, mac: Mac) -> None:
    with client.messages() as inbox:
        mac.incoming("ping", chat="group")
        (message,) = take(inbox, 1)
        message.space.send("pong")
    assert mac.fake.last().args[1:] == [b"chat", GROUP_GUID.encode(), b"", b"text", b"pong"]


HOSTILE = [
    'she said "hi"',
    "back\\slash \\\" and \\n",
    "two\nlines\r\nand a tab\t",
    '"; do shell script "touch /tmp/pwned"; "',
    'end tell\ntell application "Finder" to delete every file',
    "line\u2028separator\u2029paragraph",
    "«class utf8» ¬ emoji 👍🏽 and RTL \u202e",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_texts_reach_osascript_as_argv_data(client: Client, mac: Mac, text: str
                                                    ) -> None:
    client.space.get(DM_GUID).send(text)
    call = mac.fake.last()
    assert call.args[-1] == text.encode("utf-8")
    assert call.stdin == SEND_SCRIPT.encode()  # the program never changes


def test_a_hostile_chat_guid_reaches_osascript_as_argv_data(client: Client, mac: Mac) -> None:
    guid = 'iMessage;+;chat"; do shell script "id'
    mac.db.chat(guid)
    client.space.get(guid).send("x")
    call = mac.fake.last()
    assert call.args[1:3] == [b"chat", guid.encode()]
    assert call.stdin == SEND_SCRIPT.encode()


def test_a_megabyte_text_travels_in_a_file(client: Client, mac: Mac) -> None:
    text = "ü" * 500_000 + '"; do shell script "id"'
    sent = client.space.get(DM_GUID).send(text)
    call = mac.fake.last()
    assert call.args[4] == b"text-file"
    assert call.files[call.args[5]] == text.encode("utf-8")
    assert not Path(call.args[5].decode()).exists()  # the temporary file is gone
    assert sent.guid


def test_an_idempotency_key_sends_once(client: Client, mac: Mac) -> None:
    space = client.space.get(DM_GUID)
    first = space.send("only once", idempotency_key="order-42")
    again = space.send("only once", idempotency_key="order-42")
    assert again == first
    assert len(mac.fake.calls()) == 1


def test_a_timed_out_send_that_went_out_is_not_repeated_with_its_key(
        client: Client, mac: Mac, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages sent it but osascript hung: the retry with the same key finds the row."""
    space = client.space.get(DM_GUID)
    monkeypatch.setenv("FAKE_OSASCRIPT_SLEEP", "5")
    with pytest.raises(spectrum.ConnectionError) as info:
        space.send("maybe sent", idempotency_key="k-1", timeout=0.5)
    assert info.value.outcome == "unknown" and info.value.retryable
    assert info.value.idempotency_key == "k-1" and info.value.code == "timeout"
    monkeypatch.setenv("FAKE_OSASCRIPT_SLEEP", "0")
    retried = space.send("maybe sent", idempotency_key="k-1")
    assert retried.guid and len(mac.fake.calls()) == 1


@pytest.mark.parametrize(("stderr", "error", "code", "fix"), [
    ("execution error: Not authorized to send Apple events to Messages. (-1743)",
     spectrum.ConfigurationError, "permissionDenied", "Privacy & Security → Automation"),
    ("execution error: Messages got an error: Application isn't running. (-600)",
     spectrum.ConnectionError, "messagesUnavailable", "Messages"),
    ("execution error: Messages has no iMessage participant +15551111111 (74002)",
     spectrum.NotFoundError, "chatNotFound", "+15551111111"),
])
def test_messages_failures_become_library_errors_with_their_fix(
        client: Client, mac: Mac, monkeypatch: pytest.MonkeyPatch, stderr: str,
        error: type[spectrum.SpectrumError], code: str, fix: str) -> None:
    monkeypatch.setenv("FAKE_OSASCRIPT_EXIT", "1")
    monkeypatch.setenv("FAKE_OSASCRIPT_STDERR", stderr)
    with pytest.raises(error) as info:
        client.space.get(DM_GUID).send("x", idempotency_key="k-2")
    assert info.value.code == code and info.value.outcome == "rejected"
    assert info.value.idempotency_key == "k-2" and fix in str(info.value)


def test_without_osascript_sending_says_it_needs_a_mac(mac: Mac, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with mac.client() as client, pytest.raises(spectrum.ConfigurationError, match="macOS"):
        client.space.get(DM_GUID).send("x")


def test_bad_text_is_refused_before_messages_is_asked(client: Client, mac: Mac) -> None:
    with pytest.raises(spectrum.ValidationError):
        client.space.get(DM_GUID).send("")
    with pytest.raises(spectrum.ValidationError):
        client.space.get(DM_GUID).send("lone \ud800 surrogate")
    assert mac.fake.calls() == []


def test_typing_and_mark_read_are_accepted_and_ignored(client: Client, mac: Mac) -> None:
    space = client.space.get(DM_GUID)
    with space.typing():
        space.mark_read()
    assert mac.fake.calls() == []


def test_a_group_messages_does_not_know_is_not_found(client: Client, mac: Mac) -> None:
    with pytest.raises(spectrum.NotFoundError, match="no chat") as info:
        client.space.get("iMessage;+;chat-that-never-was").send("x")
    assert info.value.outcome == "rejected"


def test_participants_and_refresh_come_from_chat_db(client: Client, mac: Mac) -> None:
    group = client.space.get(GROUP_GUID)
    assert [u.address for u in group.participants()] == [ALICE, BOB]
    assert group.refresh().display_name == "Team"
    with pytest.raises(spectrum.NotFoundError):
        client.space.get("iMessage;+;nowhere").participants()


def test_a_phone_does_not_apply_in_local_mode(client: Client) -> None:
    assert client.space.get(DM_GUID, phone="").phone == ""
    with pytest.raises(spectrum.RoutingError, match="local mode has no lines"):
        client.space.get(DM_GUID, phone="+15550000001")


# ----- what local mode cannot do -----------------------------------------------------------


def test_every_unsupported_operation_names_local_mode(client: Client, mac: Mac) -> None:
    with client.messages() as inbox:
        mac.incoming("something")
        (message,) = take(inbox, 1)
    space = message.space
    attempts = {
        "space.create": lambda: client.space.create(ALICE),
        "edit": lambda: message.edit("changed"),
        "unsend": lambda: message.unsend(),
        "react": lambda: message.react("love"),
        "unreact": lambda: message.unreact("👍"),
        "reply": lambda: message.reply("threaded"),
        "effect": lambda: space.send("boom", effect="com.apple.MobileSMS.expressivesend.impact"),
        "subject": lambda: space.send("body", subject="subject"),
        "refresh": lambda: message.refresh(),
        "wait_delivered": lambda: message.wait_delivered(timeout=1),
        "place_sticker": lambda: message.place_sticker(b"\x89PNG\r\n\x1a\n"),
        "notify_anyway": lambda: message.notify_anyway(),
        "embedded_media": lambda: message.embedded_media(),
        "send_app_card": lambda: space.send_app_card(
            "https://x.example", spectrum.CardLayout(caption="x"), team_id="ABCDE12345",
            bundle_id="com.example.ext", app_name="X"),
        "set_background": lambda: space.set_background(b"\xff\xd8\xff"),
        "remove_background": lambda: space.remove_background(),
        "has_background": lambda: space.has_background(),
        "chat_count": lambda: client.chat_count(),
    }
    for name, attempt in attempts.items():
        with pytest.raises(spectrum.UnsupportedError) as info:
            attempt()
        assert info.value.mode == "local", name
        assert "local mode" in str(info.value), name
    assert mac.fake.calls() == []
    with pytest.raises(spectrum.UnsupportedError, match=r"space\.get\(chat_guid\)"):
        client.space.create([ALICE, BOB])


# ----- one program, both modes -------------------------------------------------------------


def echo_bot(client: Client, count: int, arrive: Any) -> list[str]:
    """User code that must not care about the mode: answer ``count`` messages."""
    answered = []
    with client.messages() as inbox:
        arrive()
        for msg in inbox:
            msg.space.send(f"echo: {msg.text}")
            answered.append(msg.text or "")
            if len(answered) == count:
                break
    return answered


def test_the_same_code_runs_against_the_cloud_and_local_mode(
        mac: Mac, make_emulator: EmulatorFactory) -> None:
    def guarded(client: Client, arrive: Any) -> list[str]:
        timer = threading.Timer(20, client.close)
        timer.daemon = True
        timer.start()
        try:
            return echo_bot(client, 2, arrive)
        finally:
            timer.cancel()

    emu = make_emulator(plan="dedicated", lines=["+15550000001"], heartbeat_interval=30.0)
    with emu.client() as cloud:
        def arrive_cloud() -> None:
            emu.simulate_inbound(ALICE, "one")
            emu.simulate_inbound(ALICE, "two")

        assert guarded(cloud, arrive_cloud) == ["one", "two"]
        sent = [m["text"] for m in emu.messages() if m["is_from_me"]]
        assert sent == ["echo: one", "echo: two"]

    with mac.client() as local:
        def arrive_local() -> None:
            mac.incoming("one")
            mac.incoming("two", chat="group")

        assert guarded(local, arrive_local) == ["one", "two"]
        assert [c.args[-1] for c in mac.fake.calls()] == [b"echo: one", b"echo: two"]


def test_a_forked_child_sends_and_receives_on_its_own_connection(client: Client, mac: Mac
                                                                 ) -> None:
    import os

    client.space.get(DM_GUID).send("from the parent")
    pid = os.fork()
    if pid == 0:  # the child: any failure is its exit status
        status = 1
        try:
            sent = client.space.get(DM_GUID).send("from the child")
            with client.messages() as inbox:
                mac.incoming("to the child")
                (got,) = take(inbox, 1)
            status = 0 if sent.guid and got.text == "to the child" else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection still works.
    assert client.space.get(DM_GUID).send("parent again").guid
    assert [c.args[-1] for c in mac.fake.calls()] == [
        b"from the parent", b"from the child", b"parent again"]


# ----- files and the rest of the rich API ----------------------------------------------------


def test_files_are_sent_through_messages(client: Client, mac: Mac, tmp_path: Path) -> None:
    photo = tmp_path / "photo of us.jpg"
    photo.write_bytes(b"\xff\xd8jpeg bytes")
    sent = client.space.get(DM_GUID).send_file(photo)
    call = mac.fake.last()
    assert call.args[1:5] == [b"participant", ALICE.encode(), b"iMessage", b"file"]
    assert call.files[call.args[5]] == b"\xff\xd8jpeg bytes"  # the staged copy
    assert sent.guid and sent.is_from_me
    client.space.get(GROUP_GUID).send_file(b"raw bytes", name="notes.txt")
    call = mac.fake.last()
    assert call.args[1:3] == [b"chat", GROUP_GUID.encode()]
    assert call.args[5].endswith(b"notes.txt") and call.files[call.args[5]] == b"raw bytes"


def test_a_received_attachment_is_read_from_disk(client: Client, mac: Mac, tmp_path: Path
                                                 ) -> None:
    picture = tmp_path / "Attachments" / "IMG_0001.HEIC"
    picture.parent.mkdir()
    picture.write_bytes(b"heic" * 100_000)
    attachment = mac.db.attachment(str(picture), mime_type="image/heic", total_bytes=400_000)
    missing = mac.db.attachment(str(tmp_path / "gone.png"), mime_type="image/png")
    with client.messages() as inbox:
        mac.incoming("look", attachments=[attachment, missing])
        (message,) = take(inbox, 1)
    there, gone = message.attachments
    assert there.file_name == "IMG_0001.HEIC" and there.transfer_state == "finished"
    assert gone.transfer_state == "unavailable"
    target = tmp_path / "copy.heic"
    assert there.download(target) == 400_000
    assert target.read_bytes() == picture.read_bytes()
    assert there.read() == picture.read_bytes()
    assert there.info().mime_type == "image/heic"
    with pytest.raises(spectrum.NotFoundError, match="gone"):
        gone.read()


def test_the_rest_of_the_rich_api_names_local_mode(client: Client, mac: Mac) -> None:
    dm, group = client.space.get(DM_GUID), client.space.get(GROUP_GUID)
    attempts = {
        "formatting": lambda: dm.send("bold", formatting=[spectrum.TextFormat.bold(0, 4)]),
        "voice": lambda: dm.send_file(b"audio", name="a.m4a", audio=True),
        "parts": lambda: dm.send_parts(["a", b"b"]),
        "contact": lambda: dm.share_contact(),
        "history": lambda: next(dm.history()),
        "recent": lambda: next(client.recent()),
        "message": lambda: client.message("GUID"),
        "is_imessage": lambda: client.is_imessage(ALICE),
        "focus": lambda: client.focus_status(ALICE),
        "rename": lambda: group.rename("New name"),
        "add": lambda: group.add([BOB]),
        "leave": lambda: group.leave(),
        "icon": lambda: group.icon(),
        "poll": lambda: group.create_poll("Lunch?", ["Yes", "No"]),
    }
    for name, attempt in attempts.items():
        with pytest.raises(spectrum.UnsupportedError) as info:
            attempt()
        assert info.value.mode == "local", name
    assert mac.fake.calls() == []


def test_a_receive_loop_that_cannot_start_leaves_the_client_usable(client: Client, mac: Mac
                                                                   ) -> None:
    """chat.db moved away after the client was made: a clear error, and no stuck slot."""
    moved = Path(mac.path + ".away")
    Path(mac.path).rename(moved)
    try:
        with pytest.raises(spectrum.ConfigurationError, match=r"no chat\.db"):
            client.messages()
    finally:
        moved.rename(mac.path)
    with client.messages() as inbox:  # not AlreadyReceiving
        mac.incoming("back")
        assert [m.text for m in take(inbox, 1)] == ["back"]


def test_history_true_delivers_what_chat_db_already_holds(mac: Mac) -> None:
    mac.incoming("old one")
    mac.incoming("old two")
    with mac.client(receive=spectrum.ReceiveOptions(history=True, commit_interval=0.05)
                    ) as client, client.messages() as inbox:
        assert [m.text for m in take(inbox, 2)] == ["old one", "old two"]


def test_health_recovers_after_chat_db_was_unreadable_for_a_while(client: Client, mac: Mac
                                                                  ) -> None:
    from support.receiving import wait_until

    with client.messages() as inbox:
        assert wait_until(lambda: client.health()[""].state == "live")
        mac.db.conn.execute("ALTER TABLE message RENAME TO message_gone")
        assert wait_until(lambda: client.health()[""].state == "backoff", 15)
        mac.db.conn.execute("ALTER TABLE message_gone RENAME TO message")
        assert wait_until(lambda: client.health()[""].state == "live", 40)
        assert client.health()[""].consecutive_failures == 0
        mac.incoming("after the outage")
        assert [m.text for m in take(inbox, 1)] == ["after the outage"]
