"""Receiving at its edges: nothing lost, nothing committed early, nothing stopping silently."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.emulator_process import EmulatorProcess
from support.receiving import ALICE, FAST, LINE, all_live, take, wait_until

import spectrum_sync as spectrum
from spectrum_sync import Client, MemoryStore, Message, Reaction
from spectrum_sync._proto import messages_pb2
from spectrum_sync.emulator import Emulator


def _state(kind: str, tmp_path: Path) -> str | None:
    return None if kind == "memory" else f"sqlite:///{tmp_path / 'state.db'}"


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("fault", ["cut-streams", "restart"])
def test_a_break_before_the_first_event_loses_nothing(
    emu_process: EmulatorProcess, tmp_path: Path, store: str, fault: str
) -> None:
    with Client(env=emu_process.env, state=_state(store, tmp_path), receive=FAST) as client, \
            client.messages() as inbox:
        assert wait_until(lambda: all_live(client))
        emu_process.admin(fault)  # no event was ever received on these streams
        emu_process.inbound(ALICE, "during the reconnect", line=LINE, count=5)
        got = take(inbox, 5)
        assert [m.text for m in got] == [f"during the reconnect #{n}" for n in range(5)]


def test_a_new_client_has_its_start_before_messages_returns(emu: Emulator) -> None:
    """What happens right after ``messages()`` returns is delivered, never taken for
    history: a caller may trigger a reply and then start iterating."""
    for _ in range(5):
        with emu.client(receive=FAST) as client:
            inbox = client.messages()
            guid = emu.simulate_inbound(ALICE, "right away", line=LINE)
            [msg] = take(inbox, 1)
            assert msg.guid == guid
            inbox.close()


def test_an_exception_in_the_loop_commits_nothing(emu: Emulator, tmp_path: Path) -> None:
    state = _state("sqlite", tmp_path)
    with emu.client(state=state, receive=FAST) as client:
        inbox = client.messages()
        emu.simulate_inbound(ALICE, "first", line=LINE)
        emu.simulate_inbound(ALICE, "second", line=LINE)
        seen = []
        with pytest.raises(RuntimeError):
            for msg in inbox:
                seen.append(msg.text)
                if msg.text == "second":
                    raise RuntimeError("processing failed")
        assert seen == ["first", "second"]
    with emu.client(state=state, receive=FAST) as client:
        # "first" was done (the loop asked for the next one); "second" was not.
        assert [m.text for m in take(client.messages(), 1)] == ["second"]


def test_ctrl_c_in_the_loop_commits_nothing(emu: Emulator, tmp_path: Path) -> None:
    state = _state("sqlite", tmp_path)
    with emu.client(state=state, receive=FAST) as client:
        inbox = client.messages()
        emu.simulate_inbound(ALICE, "interrupted", line=LINE)
        with pytest.raises(KeyboardInterrupt):
            for _msg in inbox:
                raise KeyboardInterrupt  # what Ctrl-C does in the middle of a handler
    with emu.client(state=state, receive=FAST) as client:
        assert [m.text for m in take(client.messages(), 1)] == ["interrupted"]


def test_the_with_form_commits_on_a_clean_exit_only(emu: Emulator, tmp_path: Path) -> None:
    state = _state("sqlite", tmp_path)
    with emu.client(state=state, receive=FAST) as client:
        with client.messages() as inbox:
            emu.simulate_inbound(ALICE, "one", line=LINE)
            assert [m.text for m in take(inbox, 1)] == ["one"]
        with pytest.raises(ValueError), client.messages() as inbox:
            emu.simulate_inbound(ALICE, "two", line=LINE)
            assert [m.text for m in take(inbox, 1)] == ["two"]
            raise ValueError("failed while handling two")
    with emu.client(state=state, receive=FAST) as client, client.messages() as inbox:
        assert [m.text for m in take(inbox, 1)] == ["two"]  # not "one": it was committed


def test_event_ack_is_a_commit_point(emu: Emulator, tmp_path: Path) -> None:
    state = _state("sqlite", tmp_path)
    with emu.client(state=state, receive=FAST) as client:
        inbox = client.messages()
        emu.simulate_inbound(ALICE, "acked", line=LINE)
        emu.simulate_inbound(ALICE, "not acked", line=LINE)
        first, second = take(inbox, 2)
        first.ack()
        second.ack()
        second.ack()  # idempotent
        emu.simulate_inbound(ALICE, "third", line=LINE)
        [third] = take(inbox, 1)
        inbox.close()
        third.ack()  # after the loop ended: still written
    with emu.client(state=state, receive=FAST) as client:
        emu.simulate_inbound(ALICE, "fourth", line=LINE)
        assert [m.text for m in take(client.messages(), 1)] == ["fourth"]


class _FlakyStore(MemoryStore):
    """A store whose writes fail while ``broken`` is set (a full disk, Redis down)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = threading.Event()
        self.cursor_writes = 0

    def set_route(self, chat_guid: str, phone: str) -> None:
        if self.broken.is_set():
            raise OSError("no space left on device")
        super().set_route(chat_guid, phone)

    def add_member(self, group: str, member: str) -> bool:
        if self.broken.is_set():
            raise OSError("no space left on device")
        return super().add_member(group, member)

    def set_cursors(self, cursors: Any) -> None:
        if self.broken.is_set():
            raise OSError("no space left on device")
        self.cursor_writes += 1
        super().set_cursors(cursors)


def test_a_failing_routing_write_still_delivers_the_event(emu: Emulator) -> None:
    store = _FlakyStore()
    store.broken.set()
    with emu.client(state=store, receive=FAST) as client:
        inbox = client.messages()
        emu.simulate_inbound(ALICE, "still delivered", line=LINE)
        [msg] = take(inbox, 1)
        assert msg.text == "still delivered"
        assert "no space left" in (client.health()[LINE].store_error or "")
        inbox.close()


def test_failing_cursor_writes_are_retried_and_reported(emu: Emulator) -> None:
    store = _FlakyStore()
    errors: list[BaseException] = []
    seen: list[str] = []
    with emu.client(state=store, receive=FAST) as client:
        client.on_message(lambda m: seen.append(m.text))
        handle = client.start(on_error=lambda exc, event: errors.append(exc))
        store.broken.set()
        for n in range(3):
            emu.simulate_inbound(ALICE, f"while broken {n}", line=LINE)
        assert wait_until(lambda: len(seen) == 3)
        assert wait_until(lambda: bool(errors))  # on_error heard about it
        assert "no space left" in (client.health()[LINE].store_error or "")
        assert handle.running  # receiving goes on
        writes = store.cursor_writes
        store.broken.clear()  # the store recovers: the held commits are written
        assert wait_until(lambda: store.cursor_writes > writes)
        emu.simulate_inbound(ALICE, "after", line=LINE)
        assert wait_until(lambda: seen[-1:] == ["after"])
        assert handle.stop(5)
    assert seen == [f"while broken {n}" for n in range(3)] + ["after"]


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("exit_kind", [SystemExit, KeyboardInterrupt])
def test_a_handler_exiting_stops_the_loop_and_reaches_the_caller(
    emu: Emulator, tmp_path: Path, workers: int, exit_kind: type[BaseException]
) -> None:
    state = _state("sqlite", tmp_path)
    with emu.client(state=state, receive=FAST) as client:
        @client.on_message
        def handle(msg: Message) -> None:
            if msg.text == "stop":
                raise exit_kind(3)

        background = client.start(workers=workers)
        emu.simulate_inbound(ALICE, "stop", line=LINE)
        assert wait_until(lambda: not background.running)
        assert isinstance(background.exception, exit_kind)
        with pytest.raises(exit_kind):
            background.stop()
        background.stop()  # reported once

        # run_forever() re-raises it to its caller (the event still not committed).
        with pytest.raises(exit_kind):
            client.run_forever(workers=workers)
    with emu.client(state=state, receive=FAST) as client:
        assert [m.text for m in take(client.messages(), 1)] == ["stop"]


def test_equal_payloads_with_different_sequences_are_different_events(emu: Emulator) -> None:
    with emu.client(receive=FAST) as client:
        inbox = client.events(kinds="reaction")
        guid = emu.simulate_inbound(ALICE, "like me", line=LINE)
        emu.simulate_reaction(ALICE, guid, "👍", line=LINE)
        emu.simulate_reaction(ALICE, guid, "👍", remove=True, line=LINE)
        emu.simulate_reaction(ALICE, guid, "👍", line=LINE)
        got = take(inbox, 3)
        assert [(type(r), r.added) for r in got] == [(Reaction, True), (Reaction, False),
                                                     (Reaction, True)]
        inbox.close()

        inbox = client.messages()
        raw = messages_pb2.MessageChangeEvent(
            chat_guid=f"any;-;{ALICE}",
            message_received=messages_pb2.MessageReceived(
                message=messages_pb2.Message(guid="same-guid", content=messages_pb2.MessageContent(
                    text="twice, byte for byte"))))
        first = emu.inject_raw_event(LINE, raw)
        second = emu.inject_raw_event(LINE, raw)
        got = take(inbox, 2)
        assert [m.sequence for m in got] == [first, second]
        inbox.close()


def _live_rss_bytes() -> int:
    """This process's resident memory once freed memory is given back: the collector runs,
    then glibc's ``malloc_trim`` returns the free pages its arenas keep. Without the trim,
    how much freed memory the per-thread arenas hold on to varies from run to run (0 to 46
    MiB here for the same 100 MB of events), which says nothing about what is still held."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the raw figure, then
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096


def test_memory_stays_flat_with_large_events(emu_process: EmulatorProcess) -> None:
    big = "x" * 100_000
    with Client(env=emu_process.env, receive=FAST) as client, client.messages() as inbox:
        # Warm-up as long as a measured round: the queue and gRPC's buffers fill up to their
        # bounds once (the emulator may run ahead of the consumer), allocator pools, caches.
        emu_process.inbound(ALICE, big, line=LINE, count=333)
        take(inbox, 333, within=120)
        before = _live_rss_bytes()
        for _ in range(3):
            emu_process.inbound(ALICE, big, line=LINE, count=333)
            take(inbox, 333, within=120)
        grown = _live_rss_bytes() - before
    # ~100 MB went through; the dedupe window keeps keys only (it used to keep payloads).
    assert grown < 40 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB"


def test_one_consumer_at_a_time(emu: Emulator) -> None:
    with emu.client(receive=FAST) as client:
        client.on_message(lambda m: None)
        inbox = client.messages()
        with pytest.raises(spectrum.AlreadyReceiving):
            client.messages()
        with pytest.raises(spectrum.AlreadyReceiving):
            client.events()
        with pytest.raises(spectrum.AlreadyReceiving):
            client.start()
        inbox.close()
        handle = client.start()  # free again
        with pytest.raises(spectrum.AlreadyReceiving):
            client.messages()
        assert handle.stop(5)
        client.messages().close()


def test_concurrent_first_consumers_get_one_engine(emu: Emulator) -> None:
    with emu.client(receive=FAST) as client:
        client.phones  # noqa: B018 - the token exchange first, so the threads truly race
        won: list[Any] = []
        refused: list[BaseException] = []
        barrier = threading.Barrier(5)

        def consume() -> None:
            barrier.wait()
            try:
                won.append(client.messages())
            except spectrum.AlreadyReceiving as exc:
                refused.append(exc)

        threads = [threading.Thread(target=consume) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert (len(won), len(refused)) == (1, 4)
        recv = [t for t in threading.enumerate() if t.name.startswith("spectrum-recv-+")]
        assert len(recv) == 8  # one set of streams: 2 lines x 4 families
        won[0].close()


def test_close_ends_a_consumer_in_another_thread(emu: Emulator) -> None:
    client = emu.client(receive=FAST)
    ended = threading.Event()

    def consume() -> None:
        for _ in client.messages():
            pass
        ended.set()

    consumer = threading.Thread(target=consume, name="consumer")
    consumer.start()
    assert wait_until(lambda: all_live(client))
    client.close()
    assert ended.wait(3), "the consumer did not end after close()"
    consumer.join(3)
    assert not consumer.is_alive()
    assert wait_until(lambda: not [t for t in threading.enumerate()
                                   if t.name.startswith(("spectrum-recv", "spectrum-dispatch"))],
                      3)


def test_live_means_live(emu: Emulator) -> None:
    """Once health() says every stream is live, everything injected arrives (trials)."""
    for trial in range(5):
        with emu.client(receive=FAST) as client, client.messages() as inbox:
            assert wait_until(lambda: all_live(client)), client.health()
            for n in range(200):
                emu.simulate_inbound(ALICE, f"{trial}/{n}", line=LINE)
            got = take(inbox, 200, within=30)
            assert [m.text for m in got] == [f"{trial}/{n}" for n in range(200)]


def _subscribing(client: Client) -> bool:
    return client.health()[LINE].streams.get("messages") == "subscribing"


def test_stopping_while_the_server_holds_back_a_streams_headers(emu: Emulator) -> None:
    """A subscription the server has not answered yet (its headers) must not hold up the
    end of the loop or close(): grpcio's single-threaded streams keep the call's lock while
    they wait for headers, so a cancel made meanwhile would wait for the server."""
    emu.delay(30, method="SubscribeMessageEvents")
    client = emu.client(receive=FAST)
    try:
        inbox = client.messages()
        assert wait_until(lambda: _subscribing(client), 10), client.health()
        started = time.monotonic()
        inbox.close()
        assert time.monotonic() - started < 3, "the loop waited for the server's headers"
        started = time.monotonic()
        client.close()
        assert time.monotonic() - started < 3, "close() waited for the server's headers"
        # Closing the channels ends the wait: no reader thread is left behind.
        assert wait_until(lambda: not [t for t in threading.enumerate()
                                       if t.name.startswith("spectrum-recv")], 5)
    finally:
        emu.delay(0)
        client.close()


def test_the_watchdog_never_waits_for_a_streams_headers(emu: Emulator) -> None:
    """The stall watchdog shares its thread with the cursor commits: cancelling a stream
    whose headers have not come must not stop the commits of the other streams."""
    store = MemoryStore()
    emu.delay(6, method="SubscribeMessageEvents")
    options = spectrum.ReceiveOptions(backoff_initial=0.02, backoff_max=0.2, stall_timeout=0.3)
    try:
        with emu.client(receive=options, state=store) as client, \
                client.events("poll") as inbox:
            assert wait_until(lambda: _subscribing(client), 10), client.health()
            time.sleep(0.8)  # the watchdog has found the messages stream stalled by now
            emu.simulate_poll(ALICE, f"any;-;{ALICE}", "lunch?", ["yes", "no"], line=LINE)
            [poll] = take(inbox, 1)
            poll.ack()
            [line] = [info for info in client.lines if info.phone == LINE]
            key = f"{line.instance_id}/polls"
            committed = poll.sequence
            assert wait_until(lambda: (store.get_cursor(key) or 0) >= committed, 2), \
                "the poll's cursor was not written: the commit thread is stuck"
    finally:
        emu.delay(0)
