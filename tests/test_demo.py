"""The main job: ``spectrum-sync emulator --demo`` runs the whole client surface and exits 0."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_every_step() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "spectrum_sync.cli", "emulator", "--demo",
         "--lines", "+15550000001,+15550000002"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in ("client.user(...)", "client.space.create", "dm.send('Hi Alice')",
                 "sent.edit(...)", "group space", "received              <- +15551111111",
                 "msg.reply('got it')", "client.quota", "demo finished: every step worked"):
        assert step in out, f"missing step {step!r} in:\n{out}"
