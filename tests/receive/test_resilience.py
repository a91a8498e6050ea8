"""Receiving survives cuts, restarts, token expiry, stalls, lost cursors and line changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.clocks import age_tokens, token_exchanges
from support.factories import EmulatorFactory
from support.receiving import all_live

from spectrum_sync import Client, Message, ReceiveOptions, SQLiteStore
from spectrum_sync._transport import credentials
from spectrum_sync.emulator import Emulator
from spectrum_sync.emulator.clock import ManualClock

LINES = ["+15550000001", "+15550000002"]
ALICE = "+15551111111"
STREAMS = 8  # 2 dedicated lines x (messages, groups, polls, chats)
FAST = ReceiveOptions(backoff_initial=0.02, backoff_max=0.2)
ROOT = Path(__file__).resolve().parents[2]


def test_exactly_once_in_order_through_cuts_and_restarts(
        tmp_path: Path, kit: Any, make_emulator: EmulatorFactory) -> None:
    """2,000 inbound messages on 2 lines; streams cut every 150 frames; the consumer restarts
    3 times with its cursors in SQLite, leaving by the with-form's clean exit: each message
    arrives exactly once, in order per chat."""
    total, restarts_at = 2000, (400, 900, 1500)
    state = tmp_path / "state.db"
    senders = [f"+1555444{i:04d}" for i in range(10)]
    emu = make_emulator(plan="dedicated", lines=LINES, heartbeat_interval=0.5)
    emu.cut_streams_every(150)
    received: list[str] = []

    def inject() -> None:
        for n in range(total):
            sender = senders[n % len(senders)]
            emu.simulate_inbound(sender, f"{sender}/{n}", line=LINES[n % 2])
            if n % 50 == 0:
                time.sleep(0.01)  # spread the load over the restarts

    injector = threading.Thread(target=inject)
    for run, stop_at in enumerate((*restarts_at, total)):
        client = emu.client(state=f"sqlite:///{state}", receive=FAST)
        if run == 0:
            # The very first start has no cursor (it starts live): inject once it is live.
            threading.Thread(target=lambda: (kit.receiving(emu, STREAMS),
                                             injector.start())).start()
        # The with-form commits the last message on a clean exit: exactly once.
        with client.messages() as inbox:
            for msg in kit.take(inbox, stop_at - len(received), within=60,
                                stop=client.close):
                received.append(msg.text or "")
        client.close()
    injector.join(30)

    assert len(received) == total, f"{len(received)} received"
    assert len(set(received)) == total, "duplicates delivered"
    order: dict[str, list[int]] = defaultdict(list)
    for text in received:
        sender, n = text.split("/")
        order[sender].append(int(n))
    for numbers in order.values():
        assert numbers == sorted(numbers)


def test_events_while_down_arrive_after_restart(
        tmp_path: Path, kit: Any, make_emulator: EmulatorFactory) -> None:
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    emu = make_emulator(plan="dedicated", lines=LINES, heartbeat_interval=0.5)
    with emu.client(state=store_url) as client:
        threading.Thread(target=lambda: (
            kit.receiving(emu, STREAMS), emu.simulate_inbound(ALICE, "before", line=LINES[0])
        )).start()
        [before] = kit.take(client.messages(), 1, stop=client.close)
        assert before.text == "before"
        before.ack()  # done with it: an explicit commit point
    emu.simulate_inbound(ALICE, "while down 1", line=LINES[0])
    emu.simulate_inbound(ALICE, "while down 2", line=LINES[1])
    with emu.client(state=store_url) as client:
        got = kit.take(client.messages(), 2, stop=client.close)
        assert sorted(m.text or "" for m in got) == ["while down 1", "while down 2"]


def test_state_store_object_works_too(
        tmp_path: Path, kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5)
    store = SQLiteStore(tmp_path / "s.db")
    with emu.client(state=store) as client:
        threading.Thread(target=lambda: (
            kit.receiving(emu, 3), emu.simulate_inbound(ALICE, "one", line=LINES[0])
        )).start()
        with client.messages() as inbox:
            assert len(kit.take(inbox, 1, stop=client.close)) == 1
    emu.simulate_inbound(ALICE, "two", line=LINES[0])
    with emu.client(state=store) as client:
        assert [m.text for m in kit.take(client.messages(), 1, stop=client.close)] == ["two"]
    store.close()


def test_short_token_ttl_loses_nothing(kit: Any, make_emulator: EmulatorFactory) -> None:
    """Tokens live 5 s (the shortest lifetime kept) during a 15 s run on the test clock with
    inbound traffic and a cut mid-run: every event arrives, the streams reconnect with a
    renewed token, and each renewal is the refresher's, before the old token expired."""
    count = 300  # 10 per 0.5 s of the clock: 15 s (less the last step)
    clock = ManualClock()
    emu = make_emulator(plan="dedicated", lines=LINES, token_ttl=5, heartbeat_interval=0.5,
                        clock=clock)
    failures: list[BaseException] = []
    received: list[str] = []

    def recorded(inbox: Iterator[Message]) -> Iterator[Message]:
        for message in inbox:
            received.append(message.text or "")
            yield message

    with emu.client(receive=FAST) as client:
        def inject() -> None:
            try:
                kit.receiving(emu, STREAMS)  # the first token came at 0 s
                for n in range(count):
                    emu.simulate_inbound(ALICE, f"m{n}", line=LINES[n % 2])
                    if n % 10 == 9 and n < count - 1:
                        # The clock moves on once the client has caught up, as real time
                        # would not outrun it: a stream opened with a token is not left
                        # holding it while the clock runs past its expiry.
                        assert kit.wait_until(
                            lambda n=n: len(received) > n and all_live(client), 10), (
                            f"{len(received)} of {n + 1} received; {client.health()}")
                        age_tokens(clock, emu, 0.5, ttl=5)
                    if n == count // 2:
                        emu.cut_streams()  # reconnect mid-run with whatever token is current
            except BaseException as exc:
                failures.append(exc)
                client.close()  # ends the wait below at once
                raise

        injector = threading.Thread(target=inject)
        injector.start()
        kit.take(recorded(client.messages()), count, within=45, stop=client.close)
        injector.join()
        assert not failures
        assert sorted(received) == sorted(f"m{n}" for n in range(count))
        health = client.health()
        assert all(h.gaps == [] and h.last_error in (None, "UNAVAILABLE") and h.reconnects
                   for h in health.values()), health
        assert token_exchanges(emu) == 4  # at 0, 4, 8 and 12 s: none forced


def test_stalled_stream_is_detected_and_reconnected(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    # Heartbeats every 60 s: with a 0.3 s stall timeout every quiet stream looks stalled.
    options = ReceiveOptions(stall_timeout=0.3, backoff_initial=0.02, backoff_max=0.1)
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=60)
    with emu.client(receive=options) as client:
        threading.Thread(target=lambda: (
            kit.receiving(emu, 3),
            kit.wait_until(lambda: client.health()[LINES[0]].reconnects >= 1, 10),
            emu.simulate_inbound(ALICE, "after stalls", line=LINES[0]),
        )).start()
        [msg] = kit.take(client.messages(), 1, stop=client.close)
        assert msg.text == "after stalls"
        assert client.health()[LINES[0]].reconnects >= 1


def test_rejected_cursor_is_a_logged_gap_then_what_the_server_still_holds(
        tmp_path: Path, kit: Any, make_emulator: EmulatorFactory) -> None:
    store_url = f"sqlite:///{tmp_path / 'state.db'}"
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5,
                        event_log_size=5)
    with emu.client(state=store_url) as client:
        threading.Thread(target=lambda: (
            kit.receiving(emu, 4), emu.simulate_inbound(ALICE, "first", line=LINES[0])
        )).start()
        kit.take(client.messages(), 1, stop=client.close)
    for n in range(20):  # the log keeps 5: our cursor falls out of it
        emu.simulate_inbound(ALICE, f"lost {n}", line=LINES[0])
    with emu.client(state=store_url) as client, client.messages() as inbox:
        # Each family's stream finds its cursor gone: wait for all four, not the first, and
        # for every stream live again (what comes before a stream learned the head it goes
        # live from is not delivered: an event sent then was missed, seen on loaded runs).
        assert kit.wait_until(lambda: len(client.health()[LINES[0]].gaps) == 4, 10)
        assert kit.wait_until(lambda: client.health()[LINES[0]].state == "live", 10)
        emu.simulate_inbound(ALICE, "after the gap", line=LINES[0])
        # Only what the server no longer holds is missed: its last 5, then the new one.
        texts = [m.text for m in kit.take(inbox, 6, stop=client.close)]
        assert texts == [f"lost {n}" for n in range(15, 20)] + ["after the gap"]
        gaps = client.health()[LINES[0]].gaps
        assert sorted(gap["family"] for gap in gaps) == ["chats", "groups", "messages", "polls"]


def test_a_receiver_whose_accepted_token_is_forgotten_gets_a_new_one_at_once(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    """The service forgets a token its streams had been taken with, within a second of the
    exchange (a restart right after start-up): the streams must fetch a new one, not treat
    it as a bad new token. On the test clock that second never passes, so only this rule
    can heal them."""
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5,
                        clock=ManualClock())
    with emu.client(receive=FAST) as client, client.messages() as inbox:
        assert kit.wait_until(lambda: all_live(client), 10)
        emu.revoke_tokens()
        emu.cut_streams()  # they reconnect with the forgotten token
        assert kit.wait_until(lambda: all_live(client), 10), client.health()
        emu.simulate_inbound(ALICE, "after", line=LINES[0])
        assert [m.text for m in kit.take(inbox, 1, stop=client.close)] == ["after"]


def test_a_live_reader_that_falls_behind_the_log_reports_a_gap(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    """Events that left the server's bounded log before the live stream sent them are not
    skipped unseen: the stream ends, the catch-up finds the cursor gone, and the gap is in
    health() (the service cannot replay them; the client says so)."""
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5,
                        event_log_size=20)
    with emu.client(receive=FAST) as client, client.messages() as inbox:
        assert kit.wait_until(lambda: all_live(client), 10)
        emu.simulate_inbound(ALICE, "before", line=LINES[0])  # the stream is well under way
        assert [m.text for m in kit.take(inbox, 1)] == ["before"]
        with emu.lock:  # nothing is sent while these are logged: 30 > the log's 20
            for n in range(30):
                emu.simulate_inbound(ALICE, f"burst {n}", line=LINES[0])
        assert kit.wait_until(lambda: client.health()[LINES[0]].gaps, 10), client.health()
        assert kit.wait_until(lambda: all_live(client), 10)
        emu.simulate_inbound(ALICE, "after the gap", line=LINES[0])
        # Only the 10 the log no longer holds are missed: its 20, then the new one.
        texts = [m.text for m in kit.take(inbox, 21, stop=client.close)]
        assert texts == [f"burst {n}" for n in range(10, 30)] + ["after the gap"]
        [gap] = client.health()[LINES[0]].gaps
        assert gap["family"] == "messages"


def test_idle_streams_stay_live_while_more_events_than_the_log_holds_pass_them(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    """The line's poll, group and chat streams send none of a burst of messages: those
    leaving the bounded log leave nothing of theirs unsent, so they are not behind (they
    used to be ended at their next heartbeat, and each reconnect reported a gap)."""
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.3,
                        event_log_size=20)
    with emu.client(receive=FAST) as client, client.messages() as inbox:
        assert kit.wait_until(lambda: all_live(client), 10)
        for chunk in range(6):  # 60 messages, read as they come: never behind themselves
            for n in range(10):
                emu.simulate_inbound(ALICE, f"m{chunk * 10 + n}", line=LINES[0])
            assert len(kit.take(inbox, 10)) == 10
        time.sleep(1.0)  # three heartbeats: each idle stream woke and looked at the log
        health = client.health()[LINES[0]]
        assert (health.gaps, health.reconnects, health.state) == ([], 0, "live"), health


def test_repeated_failures_force_a_token_refresh(kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5)
    with emu.client(receive=FAST) as client:
        assert client.phones == LINES[:1]  # the first exchange
        # A forced refresh within EXCHANGE_DEBOUNCE of an exchange is skipped (the 5 s
        # between two forced ones count from the last forced one: none yet).
        time.sleep(credentials.EXCHANGE_DEBOUNCE + 0.1)
        exchanges = len([r for r in emu.rest.requests if r[1].endswith("/tokens")])
        emu.fail_next(6, code="UNAVAILABLE", retryable=True, method="SubscribeMessageEvents")

        def exchanged() -> int:
            return len([r for r in emu.rest.requests if r[1].endswith("/tokens")])

        with client.messages() as inbox:
            emu.simulate_inbound(ALICE, "through", line=LINES[0])
            # Events still flow through the catch-up replays while the live stream fails.
            [msg] = kit.take(inbox, 1, stop=client.close)
            assert msg.text == "through"
            # A failing stream may look live for a moment (its headers came, then the error):
            # wait for all six failures and the stream live after them.
            assert kit.wait_until(lambda: (client.health()[LINES[0]].reconnects >= 6
                                           and client.health()[LINES[0]].state == "live"), 10)
            # The forced refresh runs on the refresher thread: allow it a moment to land.
            assert kit.wait_until(lambda: exchanged() > exchanges, 5), \
                "no forced refresh after 5 failures"
            assert exchanged() == exchanges + 1, "more than one forced refresh"


def test_lines_attached_and_detached_while_receiving(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    """Auto-scale: the next token refresh (2 s TTL) attaches and detaches lines."""
    emu = make_emulator(plan="dedicated", lines=LINES, token_ttl=2, heartbeat_interval=0.5)
    with emu.client() as client:
        new = "+15550000003"

        def change() -> None:
            kit.receiving(emu, STREAMS)
            emu.add_line(new)
            emu.remove_line(LINES[1])
            kit.wait_until(lambda: sorted(client.health()) == [LINES[0], new], 10)
            kit.wait_until(lambda: emu.open_streams == STREAMS, 10)
            emu.simulate_inbound(ALICE, "to the new line", line=new)

        threading.Thread(target=change).start()
        [msg] = kit.take(client.messages(), 1, stop=client.close)
        assert (msg.text, msg.space.phone) == ("to the new line", new)
        assert sorted(client.health()) == [LINES[0], new]


def test_slow_consumer_is_bounded_by_the_queue(kit: Any, make_emulator: EmulatorFactory) -> None:
    bound = 8
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5)
    with emu.client(receive=ReceiveOptions(queue_size=bound)) as client:
        threading.Thread(target=lambda: (
            kit.receiving(emu, 3),
            [emu.simulate_inbound(ALICE, f"m{n}", line=LINES[0]) for n in range(200)],
        )).start()
        depths: list[int] = []
        for received, _ in enumerate(client.messages(), 1):
            depths.extend(client.receive_queue_depths())
            time.sleep(0.005)  # a slow consumer
            if received == 200:
                break
        assert max(depths) <= bound
        assert max(depths) >= bound - 1, "the queue never filled: the test proves nothing"


GENERATOR = textwrap.dedent("""
    import time
    from spectrum_sync import Client
    client = Client()
    print("ready", flush=True)
    try:
        for msg in client.messages():
            print("got", msg.text, flush=True)
    except KeyboardInterrupt:
        print("stopped", time.monotonic(), flush=True)  # the system-wide monotonic clock
        raise
""")


def test_generator_stops_on_sigint_within_a_second(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES, heartbeat_interval=0.5)
    proc = kit.start_pinged_script(emu, GENERATOR, STREAMS, LINES[0])
    try:
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=5)  # and the process exits, closing the client
        stopped = [float(line.split()[1]) for line in out.splitlines()
                   if line.startswith("stopped ")]
        assert stopped, (out, err)
        # The loop itself ends within the promised second (interpreter exit not counted).
        assert stopped[0] - start < 1.0
        assert "KeyboardInterrupt" in err
    finally:
        kit.end(proc)


def test_listen_example_works(kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES, heartbeat_interval=0.5)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "listen.py"), "--count", "2"],
        env={**os.environ, **emu.env()}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        kit.receiving(emu, STREAMS)
        emu.simulate_inbound(ALICE, "hello listener", line=LINES[0])
        emu.simulate_inbound(ALICE, "bye", line=LINES[1])
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "hello listener" in out and "bye" in out
        replies = [c for c in emu.requests if c.method == "SendTextMessage"]
        assert len(replies) == 2  # the example answers every message
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("bad", ["postgres://x", "sqlite://", 42])
def test_bad_state_argument_is_a_configuration_error(bad: Any) -> None:
    from spectrum_sync import ConfigurationError

    with pytest.raises(ConfigurationError):
        Client(project_id="p", project_secret="s", state=bad)


def test_health_reports_each_line(emu: Emulator, client: Client, kit: Any) -> None:
    assert {h.state for h in client.health().values()} == {"idle"}
    with client.messages() as inbox:
        # "live" means the server holds every subscription: what happens now is delivered.
        assert kit.wait_until(lambda: {h.state for h in client.health().values()} == {"live"},
                              10), client.health()
        emu.simulate_inbound(ALICE, "x", line=LINES[0])
        [msg] = kit.take(inbox, 1, stop=client.close)
        health = client.health()
        assert sorted(health) == LINES
        assert all(set(h.streams) == {"messages", "groups", "polls", "chats"}
                   for h in health.values())
        assert health[LINES[0]].last_frame_at is not None
        assert msg.text == "x"
    assert {h.state for h in client.health().values()} == {"idle"}


def test_history_option_replays_what_the_server_holds(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5)
    emu.simulate_inbound(ALICE, "old 1", line=LINES[0])
    emu.simulate_inbound(ALICE, "old 2", line=LINES[0])
    with emu.client(receive=ReceiveOptions(history=True)) as client:
        got = kit.take(client.messages(), 2, stop=client.close)
        assert [m.text for m in got] == ["old 1", "old 2"]


def test_a_new_client_learns_each_lines_head_with_one_drain(
        kit: Any, make_emulator: EmulatorFactory) -> None:
    """Without a cursor, the head is learned by draining what the server holds: the three
    families of a line starting together share one drain instead of three."""
    emu = make_emulator(plan="dedicated", lines=LINES, heartbeat_interval=0.5)
    for n in range(50):
        emu.simulate_inbound(ALICE, f"old {n}", line=LINES[n % 2])
    emu.clear_requests()
    with emu.client(receive=FAST) as client, client.messages() as inbox:
        kit.receiving(emu, 2 * 3)
        drains = [call for call in emu.requests if call.method == "CatchUpEvents"
                  and call.request is not None
                  and not call.request.HasField("after_sequence")]
        assert len(drains) == len(LINES)
        emu.simulate_inbound(ALICE, "new", line=LINES[1])
        [msg] = kit.take(inbox, 1, stop=client.close)
        assert msg.text == "new"  # nothing old was delivered
