"""An inbox in a forked child (a prefork server forking after the parent received): the
parent's reader threads do not exist there, so the events waiting in its queue are the
parent's to deliver, not the child's (docs/behaviour.md, "Lifecycle and fork")."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

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
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: must never return into pytest
            status = 1
            try:
                os.close(read)
                try:
                    got = inbox.get(timeout=2)
                    os.write(write, f"delivered {got.text!r}".encode())
                except ClientClosed:
                    os.write(write, b"closed")
                    status = 0
                except BaseException as exc:  # told to the parent's assertion
                    os.write(write, f"failed: {exc!r}".encode()[:500])
            finally:
                os._exit(status)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        said = os.read(read, 600).decode()
        os.close(read)
        assert said == "closed" and os.WEXITSTATUS(status) == 0, said
        assert inbox.get(timeout=10).text == "queued"
