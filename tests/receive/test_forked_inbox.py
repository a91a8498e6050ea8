"""An inbox in a forked child (a prefork server forking after the parent received): the
parent's reader threads do not exist there, so the events waiting in its queue are the
parent's to deliver, not the child's (docs/behaviour.md, "Lifecycle and fork")."""

from __future__ import annotations

import time
from typing import Any

import pytest
from support.forking import in_child

from spectrum_sync import Client, ClientClosed
from spectrum_sync.emulator import Emulator

from .conftest import ALICE, LINES


@pytest.mark.forks
def test_a_forked_child_ends_the_inbox_and_the_parent_keeps_its_events(
        emu: Emulator, client: Client, kit: Any) -> None:
    with client.messages() as inbox:
        kit.receiving(emu, 8)
        emu.simulate_inbound(ALICE, "first", line=LINES[0])
        emu.simulate_inbound(ALICE, "queued", line=LINES[0])
        assert inbox.get(timeout=10).text == "first"
        deadline = time.monotonic() + 10
        while client.receive_queue_depths() != [1]:  # "queued" is waiting
            assert time.monotonic() < deadline, "the second event never reached the queue"
            time.sleep(0.01)

        def child() -> str:
            try:
                got = inbox.get(timeout=2)
            except ClientClosed:
                return "closed"
            return f"delivered {got.text!r}"

        assert in_child(child) == "closed"
        assert inbox.get(timeout=10).text == "queued"
