"""Commit points of the generator (docs/behaviour.md, "Commit points"), read back from the
state store while receiving: the cursor follows the handled events, in order, never passes
the event in progress, and the last acknowledgement of a burst is written without any
further activity (a bursty consumer's acknowledgements are gathered into few writes)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from spectrum_sync import Message, ReceiveOptions, SQLiteStore
from spectrum_sync._receive.ledger import cursor_key
from spectrum_sync.emulator import Emulator

from .conftest import ALICE, FAST, LINES

#: A gather interval long enough for several acknowledgements to fall inside one.
GATHERED = ReceiveOptions(backoff_initial=FAST.backoff_initial,
                          backoff_max=FAST.backoff_max, commit_interval=0.3)


def _stored(path: Path, key: str) -> int | None:
    """The cursor as another process would read it (a connection of its own)."""
    store = SQLiteStore(path)
    try:
        return store.get_cursor(key)
    finally:
        store.close()


def _wait_stored(path: Path, key: str, expected: int, within: float = 5.0) -> int | None:
    deadline = time.monotonic() + within
    found = _stored(path, key)
    while found != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        found = _stored(path, key)
    return found


def test_the_cursor_follows_handled_events_and_never_passes_the_one_in_progress(
        make_emulator: Any, kit: Any, tmp_path: Path) -> None:
    emu: Emulator = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5)
    path = tmp_path / "state.db"
    count, held = 40, 25
    with emu.client(state=f"sqlite:///{path}", receive=GATHERED) as client:
        key = cursor_key(client.lines[0].instance_id, "messages")
        with client.messages() as inbox:
            kit.receiving(emu, 4)
            for n in range(count):
                emu.simulate_inbound(ALICE, f"m{n}", line=LINES[0])
            got: list[Message] = []
            while len(got) < count:
                got.append(inbox.get(timeout=20))  # acknowledges the one before, as next()
                if len(got) == held:
                    # In progress (not acknowledged): after more than a gather interval the
                    # stored cursor is the event before it, never this one.
                    time.sleep(GATHERED.commit_interval * 2.5)
                    assert _stored(path, key) == got[-2].sequence
            assert [m.text for m in got] == [f"m{n}" for n in range(count)]
            sequences = [m.sequence for m in got]
            assert sequences == sorted(sequences) and len(set(sequences)) == count
            assert _stored(path, key) != sequences[-1]  # the last one is still in progress
            inbox.ack()  # the last acknowledgement of the burst, then nothing else happens
            assert _wait_stored(path, key, sequences[-1]) == sequences[-1]


def test_the_event_in_progress_at_a_crash_comes_again_then_the_rest_in_order(
        make_emulator: Any, kit: Any, tmp_path: Path) -> None:
    emu: Emulator = make_emulator(plan="dedicated", lines=LINES[:1], heartbeat_interval=0.5)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with emu.client(state=url, receive=FAST) as client:
        inbox = client.messages()
        kit.receiving(emu, 4)
        for n in range(5):
            emu.simulate_inbound(ALICE, f"m{n}", line=LINES[0])
        first = kit.take(inbox, 3, stop=client.close)
        assert [m.text for m in first] == ["m0", "m1", "m2"]
        inbox.close()  # the loop ends by an exception: m2 was in progress, not handled
    with emu.client(state=url, receive=FAST) as client:
        again = kit.take(client.messages(), 3, stop=client.close)
        assert [m.text for m in again] == ["m2", "m3", "m4"]
