"""The sending example works against the emulator (examples/listen.py: tests/receive)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from spectrum_sync.emulator import Emulator

SEND = Path(__file__).resolve().parents[1] / "examples" / "send.py"


def run(emu: Emulator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SEND), *args], env={**os.environ, **emu.env()},
                          capture_output=True, text=True, timeout=60)


def test_send_example() -> None:
    with Emulator(plan="dedicated", lines=["+15550000001"]) as emu:
        ok = run(emu, "+1 (555) 111-1111", "Your order has shipped")
        assert ok.returncode == 0, ok.stderr
        assert "sent " in ok.stdout and "any;-;+15551111111" in ok.stdout
        [call] = [c for c in emu.requests if c.method == "SendTextMessage"]
        assert call.request is not None
        assert call.request.text == "Your order has shipped"  # type: ignore[attr-defined]
        bad = run(emu, "not a number", "x")
        assert bad.returncode == 2 and "not an address" in bad.stderr
        assert len([c for c in emu.requests if c.method == "SendTextMessage"]) == 1
