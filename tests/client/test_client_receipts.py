"""Read receipts as the live service sends them (docs/behaviour.md, "Receiving"): in a DM
the event's actor is our own line and ``is_from_me`` describes our message; the library
still names the reader and delivers the receipt by default."""

from __future__ import annotations

import threading

from client_helpers import ALICE, BOB, LINE_1, ClientFactory, EmulatorFactory
from support.receiving import all_live, take, wait_until

from spectrum_sync import MessageRead
from spectrum_sync._proto import messages_pb2


def test_read_receipts_name_the_reader_and_arrive_by_default(
        make_emulator: EmulatorFactory, make_client: ClientFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    dm = client.space.create(ALICE)
    ours = dm.send("did you see this?")
    group = client.space.create([ALICE, BOB])
    in_group = group.send("and this?")
    inbox = client.events("read")

    def feed() -> None:
        assert wait_until(lambda: all_live(client))
        emu.simulate_read(ours.guid, by=ALICE)
        emu.simulate_read(in_group.guid, by=BOB)

    thread = threading.Thread(target=feed)
    thread.start()
    dm_read, group_read = take(inbox, 2)
    thread.join()
    inbox.close()
    assert isinstance(dm_read, MessageRead) and dm_read.message_guid == ours.guid
    assert dm_read.reader is not None and dm_read.reader.address == ALICE
    assert not dm_read.is_from_me
    assert isinstance(group_read, MessageRead) and group_read.space == group
    assert group_read.reader is not None and group_read.reader.address == BOB


def test_the_emulator_sends_the_live_shape(make_emulator: EmulatorFactory,
                                           make_client: ClientFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE_1])
    client = make_client(emu)
    ours = client.space.create(ALICE).send("hi")
    head = emu.head_sequence(LINE_1)
    emu.simulate_read(ours.guid, by=ALICE)
    event = emu.line(LINE_1).log.after(head, head + 1)[0].event
    assert isinstance(event, messages_pb2.MessageChangeEvent)
    assert event.WhichOneof("change") == "message_read"
    assert event.actor.address == LINE_1 and event.is_from_me
