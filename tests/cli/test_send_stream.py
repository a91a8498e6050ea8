"""``spectrum-sync send --stream / --markdown / --link-preview`` against an emulator."""

from __future__ import annotations

import subprocess
import time

import pytest
from cli_helpers import ALICE, COMMAND, assert_error, run_cli

from spectrum_sync.emulator import Emulator


def mine(emu: Emulator) -> list[str]:
    return [m["text"] for m in emu.messages() if m["is_from_me"]]


def calls(emu: Emulator, method: str) -> list[object]:
    return [c.request for c in emu.requests if c.method == method]


def test_markdown(emu: Emulator, env: dict[str, str]) -> None:
    proc = run_cli("send", "--to", ALICE, "--markdown", "**Shipped**: `#42`", env=env)
    assert proc.returncode == 0, proc.stderr
    [request] = calls(emu, "SendTextMessage")
    assert request.text == "Shipped: #\U0001d7fa\U0001d7f8"  # type: ignore[attr-defined]
    assert [(f.start, f.length) for f in request.formatting] == [(0, 7)]  # type: ignore


def test_markdown_from_stdin(emu: Emulator, env: dict[str, str]) -> None:
    proc = run_cli("send", "--to", ALICE, "--markdown", "-", env=env,
                   stdin="# Report\n\n- *one*\n- two\n")
    assert proc.returncode == 0, proc.stderr
    assert mine(emu) == ["Report\n\n• one\n• two"]


def test_link_preview(emu: Emulator, env: dict[str, str]) -> None:
    proc = run_cli("send", "--to", ALICE, "--link-preview", "https://e.com/t/42", env=env)
    assert proc.returncode == 0, proc.stderr
    [request] = calls(emu, "SendTextMessage")
    assert request.enable_link_preview  # type: ignore[attr-defined]


def test_stream_sends_stdin_line_by_line_into_one_message(emu: Emulator, env: dict[str, str]
                                                         ) -> None:
    proc = subprocess.Popen([*COMMAND, "send", "--to", ALICE, "--stream", "--json"],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None
        proc.stdin.write("First line\n")
        proc.stdin.flush()
        # The first line is sent while stdin is still open: the bubble is there at once.
        deadline = time.monotonic() + 20
        while not mine(emu) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mine(emu) == ["First line"]
        time.sleep(1.1)  # past the first gap: the next line is shown by an edit
        proc.stdin.write("second line\n")
        proc.stdin.flush()
        out, err = proc.communicate("third\n", timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert mine(emu) == ["First line\nsecond line\nthird"]
    assert len(calls(emu, "SendTextMessage")) == 1
    assert [r.new_text for r in calls(emu, "EditMessage")] == [  # type: ignore[attr-defined]
        "First line\nsecond line", "First line\nsecond line\nthird"]
    assert '"guid"' in out


def test_an_empty_stream_is_one_line_and_nothing_is_sent(emu: Emulator, env: dict[str, str]
                                                        ) -> None:
    proc = run_cli("send", "--to", ALICE, "--stream", env=env, stdin="\n\n")
    assert_error(proc, 2, "no text")
    assert mine(emu) == []


@pytest.mark.parametrize(("args", "needle"), [
    (["--stream", "hello"], "--stream reads the text from stdin"),
    (["--stream", "--markdown"], "--stream does not go with --markdown"),
    (["--stream", "--link-preview", "--effect", "slam"],
     "--stream does not go with --effect, --link-preview"),
    (["--file", "x.txt", "--markdown", "hi"], "go with a TEXT alone"),
    (["--link-preview", "no link"], "needs a text with an http:// or https:// link"),
    (["--markdown", "[x]: https://e.com"], "renders to empty text"),
])
def test_bad_combinations(emu: Emulator, env: dict[str, str], args: list[str], needle: str
                          ) -> None:
    assert_error(run_cli("send", "--to", ALICE, *args, env=env, stdin=""), 2, needle)
    assert mine(emu) == []
