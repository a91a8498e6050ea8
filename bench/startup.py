"""Start-up of a receiver on many lines: the time from ``client.messages()`` to every stream
live, and the CatchUpEvents calls it made.

The client runs in a fresh interpreter (a receiver starting); the emulator runs in this
process, so that its record of the calls can be read (``Emulator.requests``), and nothing
else runs meanwhile. The calls are counted until a second after all are live. The client
has made one call before ``messages()`` (its token exchange and the lines' channels are in
place), so the figure is the receive start-up alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence

from spectrum_sync.emulator import Emulator

from _harness import Figure

SCRIPT = """
import json, time
from spectrum_sync import Client
with Client() as client:
    client.phones  # the token exchange: lines and channels in place
    start = time.perf_counter()
    with client.messages() as inbox:
        deadline = start + 60
        while {h.state for h in client.health().values()} != {"live"}:
            if time.perf_counter() > deadline:
                raise SystemExit(f"streams not live: {client.health()}")
            time.sleep(0.002)
        live = time.perf_counter() - start
        time.sleep(1.0)  # the start-up's late calls (replays after the subscriptions) count
print(json.dumps({"live": live}))
"""


def _one(lines: Sequence[str]) -> tuple[float, list[int], int]:
    """Seconds to all live, CatchUpEvents calls per line, peak catch-ups in flight."""
    with Emulator(plan="dedicated", lines=list(lines), heartbeat_interval=5.0) as emu:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(emu.env())
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, check=True,
                             capture_output=True, text=True, timeout=120).stdout
        per_line: Counter[str] = Counter()
        for call in emu.requests:
            if call.method == "CatchUpEvents":
                token = str(call.metadata.get("authorization", "")).removeprefix("Bearer ")
                per_line[str(emu.line_for_token(token).number)] += 1
        return (float(json.loads(out.strip().splitlines()[-1])["live"]),
                [per_line[line] for line in lines], emu.catchups_peak)


def measure(lines: Sequence[str], rounds: int) -> list[Figure]:
    runs = [_one(lines) for _ in range(rounds)]
    count = len(lines)
    return [
        Figure(f"receiver start-up, {count} lines: messages() to all live",
               [r[0] for r in runs], "s", "< 1"),
        Figure(f"catch-ups per line at start-up ({count} lines), most",
               [max(r[1]) for r in runs], "calls", "<= 2"),
        Figure(f"catch-ups at start-up ({count} lines), total",
               [sum(r[1]) for r in runs], "calls"),
        Figure(f"catch-ups in flight at start-up ({count} lines), peak",
               [r[2] for r in runs], "calls"),
    ]
