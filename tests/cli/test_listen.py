"""``spectrum-sync listen``: what arrives, one line each; Ctrl-C; resuming with --state."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from pathlib import Path
from typing import Callable

from cli_helpers import ALICE, LINES, CliProcess, assert_error, base_env, run_cli

from spectrum_sync.emulator import Emulator

Start = Callable[..., CliProcess]
LISTENING = "listening on"


def test_json_lines_then_exit_after_count(emu: Emulator, env: dict[str, str],
                                          start_cli: Start) -> None:
    proc = start_cli("listen", "--json", "--count", "2", env=env)
    proc.wait_stderr(LISTENING)
    first = emu.simulate_inbound(ALICE, "hello", line=LINES[0])
    second = emu.simulate_inbound("bob@example.com", "héllo ✓", line=LINES[1])
    status, out, err = proc.finish()
    assert status == 0, err
    # Two lines are two streams: no order between them.
    events = sorted((json.loads(line) for line in out.splitlines()), key=lambda e: e["text"])
    assert [(e["kind"], e["guid"], e["text"]) for e in events] == [
        ("message", first, "hello"), ("message", second, "héllo ✓")]
    assert events[0]["sender"]["address"] == ALICE
    assert events[0]["space"] == {"id": f"any;-;{ALICE}", "type": "dm", "phone": LINES[0],
                                  "display_name": None}
    assert events[1]["space"]["phone"] == LINES[1]
    assert events[0]["is_from_me"] is False and events[0]["created_at"].startswith("20")


def test_text_lines_and_other_event_kinds(emu: Emulator, env: dict[str, str],
                                          start_cli: Start) -> None:
    proc = start_cli("listen", "--events", "--count", "2", env=env)
    proc.wait_stderr(LISTENING)
    guid = emu.simulate_inbound(ALICE, "look", line=LINES[0])
    emu.simulate_reaction(ALICE, guid, "❤️", line=LINES[0])
    status, out, err = proc.finish()
    assert status == 0, err
    assert out.splitlines() == [
        f"[{LINES[0]}] any;-;{ALICE} {ALICE}: look",
        f"[{LINES[0]}] any;-;{ALICE} {ALICE} reacted ❤️ on {guid}",
    ]


def test_ctrl_c_ends_quietly(emu: Emulator, env: dict[str, str], start_cli: Start) -> None:
    proc = start_cli("listen", env=env)
    proc.wait_stderr(LISTENING)
    emu.simulate_inbound(ALICE, "one", line=LINES[0])
    proc.wait_stdout("one")
    proc.signal(signal.SIGINT)
    status, _, err = proc.finish(timeout=10)
    assert status == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert [line for line in err.splitlines() if LISTENING not in line] == []


def test_sigterm_ends_quietly(emu: Emulator, env: dict[str, str], start_cli: Start) -> None:
    proc = start_cli("listen", "-q", env=env)
    assert emu.wait_for_subscribers(3 * len(LINES), timeout=20)
    proc.signal(signal.SIGTERM)
    status, _, err = proc.finish(timeout=10)
    assert status == 143 and err == ""


def test_state_resumes_after_a_restart(emu: Emulator, env: dict[str, str], start_cli: Start,
                                       tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'listen.db'}"
    proc = start_cli("listen", "--state", state, "--count", "1", env=env)
    proc.wait_stderr(LISTENING)
    emu.simulate_inbound(ALICE, "while running", line=LINES[0])
    status, out, err = proc.finish()
    assert status == 0 and out.endswith(": while running\n"), err
    # Nobody listens now; the next run starts where the last one stopped.
    emu.simulate_inbound(ALICE, "while stopped", line=LINES[1])
    again = run_cli("listen", "--state", state, "--count", "1", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(": while stopped\n")


def test_listen_with_a_throwaway_emulator(start_cli: Start) -> None:
    proc = start_cli("listen", "--emulator", "--count", "1", "--json", env=base_env())
    hint = proc.wait_stderr("/_emulator/inbound")
    url = re.search(r"http://\S+/_emulator/inbound", hint)
    assert url is not None, hint
    request = urllib.request.Request(
        url.group(0), data=json.dumps({"from": ALICE, "text": "via curl"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        guid = json.load(answer)["guid"]
    status, out, err = proc.finish()
    assert status == 0, err
    assert json.loads(out)["guid"] == guid


def test_bad_input(emu: Emulator, env: dict[str, str]) -> None:
    assert_error(run_cli("listen", "--kinds", "message,bogus", env=env), 2, "bogus")
    assert_error(run_cli("listen", "--count", "0", env=env), 2, "--count")
    assert_error(run_cli("listen", "--state", "postgres://db", env=env), 2, "sqlite:///")
    assert_error(run_cli("listen", "--phone", "+19995550000", env=env), 2, "+19995550000")
    unreachable = base_env({**emu.env(), "SPECTRUM_CLOUD_URL": "http://127.0.0.1:1"})
    assert_error(run_cli("listen", env=unreachable), 1, "cannot reach")
    # The cloud answers, the line's gRPC address does not.
    no_line = base_env({**emu.env(), "SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE": "127.0.0.1:1"})
    assert_error(run_cli("--timeout", "1", "listen", env=no_line), 1, "cannot receive",
                 f"{LINES[0]} at 127.0.0.1:1", f"{LINES[1]} at 127.0.0.1:1")
