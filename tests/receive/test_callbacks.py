"""Callback style: @client.on_message / @client.on_event, start()/stop(), run_forever()."""

from __future__ import annotations

import signal
import textwrap
import threading
import time
from collections import defaultdict
from typing import Any

import pytest

from spectrum_sync import Client, ConfigurationError, Message, Reaction
from spectrum_sync._receive import dispatch
from spectrum_sync.emulator import Emulator

LINES = ["+15550000001", "+15550000002"]
ALICE, BOB = "+15551111111", "+15552222222"
STREAMS = 8  # 2 dedicated lines x (messages, groups, polls, chats)


def test_on_message_and_on_event_with_start_and_stop(
    emu: Emulator, client: Client, kit: Any
) -> None:
    messages: list[str] = []
    reactions: list[str] = []
    everything: list[str] = []
    client.on_message(lambda m: messages.append(m.text))

    @client.on_event("reaction")
    def on_reaction(event: Reaction) -> None:
        reactions.append(event.emoji)

    @client.on_event()
    def on_any(event: Any) -> None:
        everything.append(type(event).__name__)

    handle = client.start()
    kit.receiving(emu, STREAMS)
    guid = emu.simulate_inbound(ALICE, "hello", line=LINES[0])
    emu.simulate_reaction(ALICE, guid, "😂", line=LINES[0])
    assert kit.wait_until(lambda: len(everything) == 2)
    assert handle.running
    assert handle.stop(2.0)
    assert not handle.running
    assert messages == ["hello"]
    assert reactions == ["😂"]
    assert everything == ["Message", "Reaction"]
    assert kit.wait_until(lambda: kit.recv_threads() == [], 2.0), kit.recv_threads()


def test_a_raising_handler_does_not_stop_the_loop(emu: Emulator, client: Client, kit: Any) -> None:
    seen: list[str] = []
    errors: list[tuple[str, str]] = []

    @client.on_message
    def handle(msg: Message) -> None:
        seen.append(msg.text or "")
        if msg.text == "boom":
            raise RuntimeError("handler bug")

    handle_ = client.start(on_error=lambda exc, event: errors.append((str(exc), event.text)))
    kit.receiving(emu, STREAMS)
    for text in ("first", "boom", "after"):
        emu.simulate_inbound(ALICE, text, line=LINES[0])
    assert kit.wait_until(lambda: len(seen) == 3)
    handle_.stop()
    assert seen == ["first", "boom", "after"]
    assert errors == [("handler bug", "boom")]


def test_handler_errors_are_logged_by_default(
    emu: Emulator, client: Client, kit: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    @client.on_message
    def handle(msg: Message) -> None:
        seen.append(msg.text or "")
        raise ValueError("oops")

    handle_ = client.start()
    kit.receiving(emu, STREAMS)
    emu.simulate_inbound(ALICE, "x", line=LINES[0])
    emu.simulate_inbound(ALICE, "y", line=LINES[0])
    assert kit.wait_until(lambda: len(seen) == 2)
    handle_.stop()
    assert [r for r in caplog.records if "handler failed" in r.getMessage()]


def test_workers_keep_order_within_a_space(emu: Emulator, client: Client, kit: Any) -> None:
    per_space: dict[tuple[str, str], list[int]] = defaultdict(list)
    lock = threading.Lock()
    threads: set[str] = set()

    @client.on_message
    def handle(msg: Message) -> None:
        time.sleep(0.001)
        with lock:
            # A sender's DM on each line is its own space: order is per space and line.
            per_space[(msg.space.phone, msg.space.id)].append(int((msg.text or "").split()[-1]))
            threads.add(threading.current_thread().name)

    handle_ = client.start(workers=4)
    kit.receiving(emu, STREAMS)
    senders = [f"+1555333{i:04d}" for i in range(8)]
    for n in range(25):
        for sender in senders:
            emu.simulate_inbound(sender, f"{sender} {n}", line=LINES[n % 2])
    assert kit.wait_until(lambda: sum(len(v) for v in per_space.values()) == 200, 20)
    handle_.stop()
    assert len(per_space) == 16
    for numbers in per_space.values():
        assert numbers == sorted(numbers)
    assert len(threads) > 1  # the work really was spread over the pool


def test_start_without_handlers_is_a_clear_error(client: Client) -> None:
    with pytest.raises(ConfigurationError, match="no handler"):
        client.start()


def test_fifty_start_stop_cycles_leak_no_threads(
        emu: Emulator, client: Client, kit: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # stop() wakes the dispatcher's wait for an event: with a poll interval far longer than
    # stop()'s timeout, each stop still succeeds (it waited a full interval before).
    monkeypatch.setattr(dispatch, "POLL", 30.0)
    client.on_message(lambda m: None)
    client.start().stop(2.0)  # the first use starts the token refresher: part of the baseline
    def client_threads() -> set[str]:  # the emulator's server pool grows on its own
        return {t.name for t in threading.enumerate()
                if not t.name.startswith(emu.thread_name_prefix)}

    baseline = client_threads()
    for _ in range(50):
        handle = client.start()
        assert handle.stop(2.0)
    assert kit.wait_until(lambda: kit.recv_threads() == [], 2.0), kit.recv_threads()
    assert kit.wait_until(lambda: client_threads() <= baseline, 2.0), client_threads() - baseline


RUN_FOREVER = textwrap.dedent("""
    import sys
    from spectrum_sync import Client
    client = Client()  # everything from the environment
    @client.on_message
    def handle(msg):
        print("got", msg.text, flush=True)
    print("ready", flush=True)
    client.run_forever()
    print("stopped cleanly", flush=True)
    client.close()
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_forever_stops_cleanly_on_signals(emu: Emulator, kit: Any, sig: int) -> None:
    proc = kit.start_pinged_script(emu, RUN_FOREVER, STREAMS, LINES[0])
    try:
        start = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=5)
        assert time.monotonic() - start < 1.5
        assert proc.returncode == 0, err
        assert "stopped cleanly" in out
    finally:
        kit.end(proc)
