"""Waiting with a limit: ``inbox.get(timeout=)``, ``messages(idle_timeout=)`` and the pytest
plugin's ``wait_for_message``, so that a test expecting a message never hangs for ever."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import spectrum_sync as spectrum
from spectrum_sync import Client
from spectrum_sync.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
LINES = ["+15550000001", "+15550000002"]
ALICE = "+15551111111"
STREAMS_DEDICATED = 3  # messages, groups, polls per line


def test_get_times_out_then_the_inbox_still_delivers(
    emu: Emulator, client: Client, kit: Any
) -> None:
    with client.messages() as inbox:
        with pytest.raises(TimeoutError):
            inbox.get(timeout=0.3)
        emu.simulate_inbound(ALICE, "late", line=LINES[0])
        message = inbox.get(timeout=20)
    assert message.text == "late"


def test_idle_timeout_ends_the_loop_and_frees_the_client(
    emu: Emulator, client: Client, kit: Any
) -> None:
    feed = threading.Thread(target=lambda: (
        kit.receiving(emu, 2 * STREAMS_DEDICATED),
        emu.simulate_inbound(ALICE, "one", line=LINES[0]),
    ))
    feed.start()
    got = [m.text for m in client.messages(idle_timeout=1.0)]  # ends on its own
    feed.join()
    assert got == ["one"]
    # The streams were released: another loop may start on the same client.
    assert kit.wait_until(lambda: emu.open_streams == 0, 5.0), emu.open_streams
    with client.events(idle_timeout=0.2) as inbox:
        assert list(inbox) == []  # "one" was committed when the first loop ended


@pytest.mark.parametrize("bad", [0, -1, "5", float("nan"), 10**6, True])
def test_bad_limits_are_refused_before_receiving(client: Client, bad: object) -> None:
    with pytest.raises(spectrum.ValidationError, match="idle_timeout"):
        client.messages(idle_timeout=bad)  # type: ignore[arg-type]
    # Nothing was left claimed: a loop may start.
    with client.messages() as inbox, pytest.raises(spectrum.ValidationError, match="timeout"):
        inbox.get(timeout=bad)  # type: ignore[arg-type]


def test_get_on_a_closed_inbox_says_so(client: Client) -> None:
    inbox = client.messages()
    inbox.close()
    with pytest.raises(spectrum.ClientClosed, match=r"start a new client\.messages"):
        inbox.get(timeout=1)


USER_TESTS = '''
from spectrum_sync.pytest_plugin import wait_for_message


def test_the_message_comes(spectrum_client, spectrum_emulator):
    with spectrum_client.messages() as inbox:
        spectrum_emulator.simulate_inbound("+15551111111", "noise")
        spectrum_emulator.simulate_inbound("+15551111111", "hi there")
        message = wait_for_message(inbox, "hi there", timeout=20)
    assert message.sender.address == "+15551111111"


def test_a_predicate(spectrum_client, spectrum_emulator):
    with spectrum_client.messages() as inbox:
        spectrum_emulator.simulate_inbound("+15551111111", "order 42 shipped")
        message = wait_for_message(inbox, lambda m: "42" in m.text, timeout=20)
    assert message.text == "order 42 shipped"


def test_the_message_never_comes(spectrum_client, spectrum_emulator):
    with spectrum_client.messages() as inbox:
        spectrum_emulator.simulate_inbound("+15551111111", "something else")
        wait_for_message(inbox, "the answer", timeout=1.5)
'''


def test_wait_for_message_fails_listing_what_arrived(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    # The user's project runs with this checkout's package, in a pytest of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPECTRUM_", "PYTEST_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "-p", "spectrum_sync.pytest_plugin"],
        cwd=tmp_path, env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, capture_output=True,
        text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert "1 failed, 2 passed" in out, out
    assert "no message matching 'the answer' within 1.5 s; arrived:" in out, out
    assert f"any;-;{ALICE} {ALICE}: something else" in out, out
