"""client.messages() / client.events(): what is delivered, to whom, and how the loop ends."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from support.factories import EmulatorFactory

from spectrum_sync import (
    Client,
    GroupChanged,
    Message,
    MessageEdited,
    MessageRead,
    MessageUnsent,
    PollChanged,
    Reaction,
)
from spectrum_sync._proto import messages_pb2
from spectrum_sync.emulator import Emulator

LINES = ["+15550000001", "+15550000002"]
ALICE, BOB = "+15551111111", "+15552222222"
STREAMS_DEDICATED = 3  # messages, groups, polls per line


def test_messages_across_lines_with_sender_space_and_reply_context(
    emu: Emulator, client: Client, kit: Any
) -> None:
    feed = threading.Thread(target=lambda: (
        kit.receiving(emu, 2 * STREAMS_DEDICATED),
        emu.simulate_inbound(ALICE, "one", line=LINES[0]),
        emu.simulate_inbound(BOB, "two", line=LINES[1]),
    ))
    feed.start()
    got = kit.take(client.messages(), 2, stop=client.close)
    feed.join()
    assert sorted((m.text, m.space.phone, m.sender.address) for m in got if m.sender) == [
        ("one", LINES[0], ALICE), ("two", LINES[1], BOB),
    ]
    first = next(m for m in got if m.text == "one")
    assert isinstance(first, Message)
    assert first.space.id == f"any;-;{ALICE}" and first.space.type == "dm"
    assert first.sender is not None and first.sender.service == "iMessage"
    assert first.created_at is not None and first.is_from_me is False

    # The routing cache learned the line from inbound traffic: replies go back through it.
    reply = first.reply("got it")
    assert reply.space.phone == LINES[0]
    assert client.space.get(first.space.id).phone == LINES[0]
    sends = [call for call in emu.requests if call.method == "SendTextMessage"]
    assert len(sends) == 1
    token = sends[0].metadata["authorization"].split()[1]
    assert emu.line_for_token(token).number == LINES[0]


def test_threaded_reply_context(emu: Emulator, client: Client, kit: Any) -> None:
    original = emu.simulate_inbound(ALICE, "question", line=LINES[0])
    feed = threading.Thread(target=lambda: (
        kit.receiving(emu, 2 * STREAMS_DEDICATED),
        emu.simulate_inbound(ALICE, "answer", line=LINES[0], reply_to=original),
    ))
    feed.start()
    [msg] = kit.take(client.messages(), 1, stop=client.close)
    feed.join()
    assert msg.text == "answer"
    assert msg.reply_to_guid == original


def test_own_sends_hidden_by_default_shown_with_include_own(
    emu: Emulator, client: Client, kit: Any
) -> None:
    space = client.space.create(client.user(ALICE, resolve=False), phone=LINES[0])

    def feed() -> None:
        kit.receiving(emu, 2 * STREAMS_DEDICATED)
        space.send("from me")
        emu.simulate_inbound(ALICE, "from alice", line=LINES[0])

    thread = threading.Thread(target=feed)
    thread.start()
    [only] = kit.take(client.messages(), 1, stop=client.close)
    thread.join()
    assert only.text == "from alice"

    with emu.client() as other:
        # Not kit.receiving(): the first client's streams may still be counted as open.
        # messages() returns once its streams know where they start: what follows arrives.
        inbox = other.messages(include_own=True)
        space.send("mine again")
        [own] = kit.take(inbox, 1, stop=other.close)
        assert own.text == "mine again" and own.is_from_me and own.sender is None


def test_filters_by_space_and_line(emu: Emulator, client: Client, kit: Any) -> None:
    def feed() -> None:
        kit.receiving(emu, 2 * STREAMS_DEDICATED)
        emu.simulate_inbound(BOB, "bob on 1", line=LINES[0])
        emu.simulate_inbound(ALICE, "alice on 2", line=LINES[1])
        emu.simulate_inbound(ALICE, "alice on 1", line=LINES[0])

    thread = threading.Thread(target=feed)
    thread.start()
    got = kit.take(
        client.messages(space=f"any;-;{ALICE}", phone=LINES[0]), 1, stop=client.close
    )
    thread.join()
    assert [m.text for m in got] == ["alice on 1"]


def test_events_of_every_kind(emu: Emulator, client: Client, kit: Any) -> None:
    group = "any;+;chat42"
    mine = client.space.create(client.user(ALICE, resolve=False), phone=LINES[0]).send("ours")

    def feed() -> None:
        kit.receiving(emu, 2 * STREAMS_DEDICATED)
        guid = emu.simulate_inbound(ALICE, "hello", line=LINES[0])
        emu.simulate_reaction(ALICE, guid, "👍", line=LINES[0])
        emu.simulate_reaction(ALICE, guid, "👍", remove=True, line=LINES[0])
        emu.simulate_edit(guid, "hello!", line=LINES[0])
        emu.simulate_unsend(guid, line=LINES[0])
        emu.simulate_read(mine.guid, by=ALICE, line=LINES[0])
        emu.simulate_inbound(BOB, "hi group", chat=group, line=LINES[0])
        emu.simulate_group_change(group, "rename", actor=BOB, name="Team", line=LINES[0])
        emu.simulate_poll(BOB, group, "Lunch?", ["pizza", "sushi"], line=LINES[0])

    thread = threading.Thread(target=feed)
    thread.start()
    events = kit.take(client.events(), 9, stop=client.close)
    thread.join()
    # Order holds within a family (one stream); families arrive on separate streams.
    message_family = [e for e in events if not isinstance(e, (GroupChanged, PollChanged))]
    assert [type(e).__name__ for e in message_family] == [
        "Message", "Reaction", "Reaction", "MessageEdited", "MessageUnsent", "MessageRead",
        "Message",
    ], events
    hello, added, removed, edited, unsent, read, in_group = message_family
    assert isinstance(added, Reaction) and added.added and added.emoji == "👍"
    assert added.message_guid == hello.guid
    assert isinstance(removed, Reaction) and not removed.added
    assert added.sender is not None and added.sender.address == ALICE
    assert isinstance(edited, MessageEdited) and edited.text == "hello!"
    assert isinstance(unsent, MessageUnsent) and unsent.message_guid == hello.guid
    assert isinstance(read, MessageRead) and read.message_guid == mine.guid
    assert isinstance(in_group, Message) and in_group.space.type == "group"
    [renamed] = [e for e in events if isinstance(e, GroupChanged)]
    assert (renamed.change, renamed.display_name, renamed.space.id) == ("renamed", "Team", group)
    [poll] = [e for e in events if isinstance(e, PollChanged)]
    assert (poll.change, poll.title, [o.text for o in poll.options]) == (
        "created", "Lunch?", ["pizza", "sushi"])


def test_events_kind_filter(emu: Emulator, client: Client, kit: Any) -> None:
    def feed() -> None:
        kit.receiving(emu, 2 * STREAMS_DEDICATED)
        guid = emu.simulate_inbound(ALICE, "hello", line=LINES[0])
        emu.simulate_reaction(ALICE, guid, "❤️", line=LINES[0])

    thread = threading.Thread(target=feed)
    thread.start()
    [reaction] = kit.take(client.events(kinds=["reaction"]), 1, stop=client.close)
    thread.join()
    assert isinstance(reaction, Reaction) and reaction.emoji == "❤️"
    with pytest.raises(ValueError, match="unknown event kinds"):
        client.events(kinds=["nonsense"])


def test_heartbeats_never_reach_the_user(kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.05)
    with emu.client() as client:
        def feed() -> None:
            kit.receiving(emu, STREAMS_DEDICATED)
            time.sleep(0.6)  # a dozen heartbeats on each stream
            emu.simulate_inbound(ALICE, "after the heartbeats", line=LINES[0])

        thread = threading.Thread(target=feed)
        thread.start()
        [first] = kit.take(client.events(), 1, stop=client.close)
        thread.join()
        assert isinstance(first, Message) and first.text == "after the heartbeats"
        assert client.health()[LINES[0]].last_frame_at is not None


def test_unknown_and_malformed_events_are_skipped_with_a_log_line(
    emu: Emulator, client: Client, kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def feed() -> None:
        kit.receiving(emu, 2 * STREAMS_DEDICATED)
        # A change event with no `change` set, then one whose chat guid is malformed.
        emu.inject_raw_event(LINES[0], messages_pb2.MessageChangeEvent(chat_guid=f"any;-;{ALICE}"))
        emu.inject_raw_event(LINES[0], messages_pb2.MessageChangeEvent(
            chat_guid="garbage", message_received=messages_pb2.MessageReceived()))
        emu.simulate_inbound(ALICE, "still here", line=LINES[0])

    thread = threading.Thread(target=feed)
    thread.start()
    with caplog.at_level(logging.WARNING, logger="spectrum_sync"):
        [msg] = kit.take(client.events(), 1, stop=client.close)
    thread.join()
    assert isinstance(msg, Message) and msg.text == "still here"
    skipped = [r for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2, [r.getMessage() for r in caplog.records]


def test_a_message_with_a_field_that_cannot_be_decoded_is_delivered_with_a_log_line(
    emu: Emulator, client: Client, kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # A creation time past year 9999 (no datetime holds it): the message still arrives,
    # that field at its default, and the log names the field.
    def feed() -> None:
        kit.receiving(emu, 2 * STREAMS_DEDICATED)
        emu.inject_raw_event(LINES[0], messages_pb2.MessageChangeEvent(
            chat_guid=f"any;-;{ALICE}", message_received=messages_pb2.MessageReceived(
                message=messages_pb2.Message(
                    guid="BAD-TIME", date_created=Timestamp(seconds=2**40),
                    content=messages_pb2.MessageContent(text="odd clock")))))

    thread = threading.Thread(target=feed)
    thread.start()
    with caplog.at_level(logging.WARNING, logger="spectrum_sync"):
        [msg] = kit.take(client.messages(), 1, stop=client.close)
        assert isinstance(msg, Message)
        assert (msg.guid, msg.text, msg.created_at) == ("BAD-TIME", "odd clock", None)
    thread.join()
    [logged] = [r.getMessage() for r in caplog.records if "could not decode" in r.getMessage()]
    assert "created_at" in logged and "BAD-TIME" in logged


def test_no_group_stream_on_shared_lines(kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="shared", heartbeat_interval=0.5)
    with emu.client() as client:
        feed = threading.Thread(target=lambda: (
            kit.receiving(emu, 2),
            emu.simulate_inbound(ALICE, "shared hello"),
        ))
        feed.start()
        [msg] = kit.take(client.messages(), 1, stop=client.close)
        feed.join()
        assert msg.text == "shared hello" and msg.space.phone == "shared"
        methods = {call.method for call in emu.requests}
        assert "SubscribeMessageEvents" in methods and "SubscribePollEvents" in methods
        assert "SubscribeGroupEvents" not in methods


def test_break_cancels_the_streams(emu: Emulator, client: Client, kit: Any) -> None:
    feed = threading.Thread(target=lambda: (
        kit.receiving(emu, 2 * STREAMS_DEDICATED),
        emu.simulate_inbound(ALICE, "one", line=LINES[0]),
    ))
    feed.start()
    for _ in client.messages():
        break
    feed.join()
    # No leak (generous bounds: the machine may be busy; the streams end within ms).
    assert kit.wait_until(lambda: kit.recv_threads() == [], 5.0), kit.recv_threads()
    assert kit.wait_until(lambda: emu.open_streams == 0, 5.0), emu.open_streams


def test_close_while_receiving_returns_quickly(emu: Emulator, kit: Any) -> None:
    client = emu.client()
    done = threading.Event()

    def consume() -> None:
        for _ in client.messages():
            pass
        done.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    kit.receiving(emu, 2 * STREAMS_DEDICATED)
    start = time.monotonic()
    client.close(timeout=1.0)
    # Within its timeout, with room for a loaded machine; without the cancel it would hang.
    assert time.monotonic() - start < 3.0
    assert done.wait(2.0), "the generator did not end after close()"
    consumer.join(2)
    assert kit.wait_until(lambda: kit.recv_threads() == [], 2.0), kit.recv_threads()


def test_a_new_client_without_cursor_starts_live(emu: Emulator, kit: Any) -> None:
    emu.simulate_inbound(ALICE, "history", line=LINES[0])
    with emu.client() as client:
        feed = threading.Thread(target=lambda: (
            kit.receiving(emu, 2 * STREAMS_DEDICATED),
            emu.simulate_inbound(ALICE, "live", line=LINES[0]),
        ))
        feed.start()
        [msg] = kit.take(client.messages(), 1, stop=client.close)
        feed.join()
        assert msg.text == "live"


def test_attachment_metadata(emu: Emulator, client: Client, kit: Any) -> None:
    feed = threading.Thread(target=lambda: (
        kit.receiving(emu, 2 * STREAMS_DEDICATED),
        emu.simulate_inbound(ALICE, "see attached", line=LINES[0],
                             attachment=("photo.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)),
    ))
    feed.start()
    [msg] = kit.take(client.messages(), 1, stop=client.close)
    feed.join()
    assert msg.text == "see attached"
    [attachment] = msg.attachments
    assert (attachment.file_name, attachment.mime_type, attachment.size) == (
        "photo.png", "image/png", 108)
    assert attachment.guid


def test_receiving_on_a_closed_client_is_a_clear_error(emu: Emulator) -> None:
    from spectrum_sync import ClientClosed

    client = emu.client()
    client.close()
    with pytest.raises(ClientClosed):
        next(iter(client.messages()))


def test_a_filter_on_a_line_the_client_does_not_have_is_refused(client: Client) -> None:
    from spectrum_sync import RoutingError

    with pytest.raises(RoutingError) as info:
        client.messages(phone="+15559990000")
    assert set(info.value.available) == set(LINES)
    with client.messages(phone=LINES[1]):  # a real line is fine (and the slot was not taken)
        pass
