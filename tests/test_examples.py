"""The examples work against the emulator and end cleanly (examples/listen.py's receiving:
tests/receive/test_resilience.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from support.factories import EmulatorFactory

from spectrum_sync.emulator import Emulator

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEND = EXAMPLES / "send.py"
LISTEN = EXAMPLES / "listen.py"
LINE = "+15550000001"


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTRUM_")}
    return {**env, **(extra or {})}


def run(emu: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SEND), *args], env=clean_env(emu.env()),
                          capture_output=True, text=True, timeout=60)


def test_send_example(make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE], heartbeat_interval=30.0)
    ok = run(emu, "+1 (555) 111-1111", "Your order has shipped")
    assert ok.returncode == 0, ok.stderr
    assert "sent " in ok.stdout and "any;-;+15551111111" in ok.stdout
    [call] = [c for c in emu.requests if c.method == "SendTextMessage"]
    assert call.request is not None
    assert call.request.text == "Your order has shipped"  # type: ignore[attr-defined]
    bad = run(emu, "not a number", "x")
    assert bad.returncode == 2 and "not an address" in bad.stderr
    assert len([c for c in emu.requests if c.method == "SendTextMessage"]) == 1


def test_examples_without_credentials_say_so_in_one_line() -> None:
    for script, args in ((SEND, ["+15551111111", "x"]), (LISTEN, [])):
        proc = subprocess.run([sys.executable, str(script), *args], env=clean_env(),
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode in (1, 2), proc.stderr
        assert proc.stderr.count("\n") == 1 and "SPECTRUM_PROJECT_ID" in proc.stderr


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sigint_fix() -> Callable[[], None] | None:
    # Under a background job of a non-interactive shell SIGINT is ignored, and a child
    # inherits that: give it the terminal's behaviour (only then: a preexec_fn makes gRPC's
    # fork handlers complain in this threaded process).
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    return _default_sigint if ignored else None


def test_listen_example_stops_on_ctrl_c_without_a_traceback(make_emulator: EmulatorFactory) -> None:
    emu = make_emulator(plan="dedicated", lines=[LINE], heartbeat_interval=0.5)
    proc = subprocess.Popen([sys.executable, str(LISTEN)], env=clean_env(emu.env()),
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_sigint_fix())
    try:
        assert emu.wait_for_subscribers(3, timeout=20)
        emu.simulate_inbound("+15551111111", "hello", line=LINE)
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"[{LINE}] +15551111111: hello\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert proc.returncode == 130
        assert err == "", err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
