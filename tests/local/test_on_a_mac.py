"""Checks that need a real Mac: osascript itself, Messages' dictionary, the user's chat.db.

Skipped elsewhere (the ``mac`` marker). The real send runs only when
``SPECTRUM_LOCAL_TEST_TO`` names a handle that may receive a test message.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from spectrum_sync._local.applescript import SEND_SCRIPT, MessagesSender
from spectrum_sync._local.chatdb import ChatDB
from spectrum_sync._local.errors import FullDiskAccessError

pytestmark = pytest.mark.mac

ECHO = 'on run argv\nreturn "«»é " & (item 1 of argv)\nend run\n'


def test_send_script_compiles_against_messages(tmp_path: Path) -> None:
    out = tmp_path / "send.scpt"
    proc = subprocess.run(["osacompile", "-o", str(out)], input=SEND_SCRIPT.encode(),
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()


@pytest.mark.parametrize("value", [
    '"; do shell script "touch /tmp/pwned"', "-e", "--", "line\nbreak\u2028", "😀 «class utf8»"])
def test_osascript_reads_utf8_stdin_and_passes_argv_verbatim(value: str) -> None:
    proc = subprocess.run(["osascript", "-", value.encode()], input=ECHO.encode(),
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().rstrip("\n") == "«»é " + value
    assert not Path("/tmp/pwned").exists()


def test_reads_the_users_chat_db() -> None:
    try:
        reader = ChatDB()
    except FullDiskAccessError as exc:
        pytest.skip(f"this process lacks Full Disk Access: {exc.hint}")
    with reader:
        head = reader.head()
        events = reader.read_after(max(0, head - 20), 20)
    assert [e.rowid for e in events] == sorted(e.rowid for e in events)
    assert not events or events[-1].rowid == head


def test_real_send() -> None:
    to = os.environ.get("SPECTRUM_LOCAL_TEST_TO")
    if not to:  # checked here, so that elsewhere the reason shown is the missing Mac
        pytest.skip("set SPECTRUM_LOCAL_TEST_TO to a handle that may get a test message")
    MessagesSender().send_text(to, "spectrum_sync local test")


def test_a_local_client_on_the_users_messages() -> None:
    import spectrum_sync as spectrum

    try:
        client = spectrum.Client(local=True)
    except spectrum.ConfigurationError as exc:
        if "Full Disk Access" in str(exc):
            pytest.skip(f"this process lacks Full Disk Access: {exc}")
        raise
    with client, client.messages() as inbox:
        assert client.mode == "local"
        assert client.health()[""].state in ("live", "starting")
        inbox.close()
