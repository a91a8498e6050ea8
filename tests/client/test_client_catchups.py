"""Catch-ups at start (docs/behaviour.md, "Start"): one CatchUpEvents per line serves every
family, at most two per line per (re)start, at most 16 in flight per client; no gap."""

from __future__ import annotations

import threading
from pathlib import Path

from client_helpers import ALICE, ClientFactory, EmulatorFactory
from support.receiving import all_live, take, wait_until

from spectrum_sync.emulator import Emulator

LINES = ["+15550000001", "+15550000002"]


def _catch_ups(emu: Emulator) -> list[tuple[str, int | None]]:
    """(line, after_sequence) of every CatchUpEvents call, in arrival order."""
    found = []
    for call in emu.requests:
        if call.method == "CatchUpEvents":
            line = emu.line_for_token(call.metadata["authorization"].split()[1]).number
            request = call.request
            found.append((line, request.after_sequence
                          if request.HasField("after_sequence") else None))
    return found


def _start(client: object) -> object:
    inbox = client.messages()  # type: ignore[attr-defined]
    assert wait_until(lambda: all_live(client), timeout=20)  # type: ignore[arg-type]
    return inbox


def test_two_catch_ups_per_line_at_start_then_one(
        make_emulator: EmulatorFactory, make_client: ClientFactory, tmp_path: Path) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES)
    state = f"sqlite:///{tmp_path / 'state.db'}"
    for line in LINES:  # history the new client must not deliver
        emu.simulate_inbound(ALICE, "old", line=line)
    client = make_client(emu, state=state)
    inbox = _start(client)
    per_line = {line: [a for ln, a in _catch_ups(emu) if ln == line] for line in LINES}
    # The head (no cursor), then one replay for the three families from that head.
    assert all(len(calls) == 2 and calls[0] is None for calls in per_line.values()), per_line
    inbox.close()  # type: ignore[attr-defined]
    client.close()
    emu.simulate_inbound(ALICE, "while away", line=LINES[0])
    emu.clear_requests()
    client = make_client(emu, state=state)
    inbox = _start(client)
    # A restart with cursors: one replay per line, from the families' oldest cursor.
    assert sorted(line for line, _ in _catch_ups(emu)) == LINES
    (message,) = take(inbox, 1)
    assert message.text == "while away"


def test_events_during_start_are_not_lost(
        make_emulator: EmulatorFactory, make_client: ClientFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=LINES, catchup_delay=0.2)
    client = make_client(emu)
    inbox = client.messages()
    stop = threading.Event()
    sent: list[str] = []

    def chatter() -> None:
        i = 0
        while not stop.is_set() and i < 40:
            sent.append(emu.simulate_inbound(ALICE, f"m{i}", line=LINES[i % 2]))
            i += 1
            stop.wait(0.02)

    assert wait_until(lambda: all_live(client), timeout=20)
    thread = threading.Thread(target=chatter)
    thread.start()
    thread.join()
    got = take(inbox, len(sent))
    assert sorted(m.guid for m in got) == sorted(sent)


def test_at_most_16_catch_ups_in_flight(
        make_emulator: EmulatorFactory, make_client: ClientFactory) -> None:
    """20 lines start at once against a service that serves 16 catch-ups at a time: the
    client queues the rest instead of being refused."""
    lines = [f"+155500001{i:02d}" for i in range(20)]
    emu = make_emulator(plan="dedicated", lines=lines, catchup_delay=0.3)
    client = make_client(emu)
    _start(client)
    assert emu.catchups_refused == 0
    assert emu.catchups_peak == 16
    assert all(h.last_error is None for h in client.health().values())
