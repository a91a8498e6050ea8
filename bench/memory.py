"""Memory per event: the resident memory of a receiving client stays flat over many large
events (100 KB each): nothing is kept per event (the dedupe window holds keys only).

The client runs in a fresh interpreter and reports its RSS as it goes. The events are edits
of one message to a 100 KB text, made by an emulator in this process whose event log is
short, so that the emulator's own memory stays bounded too (it keeps one message and its
last 1,000 events, where inbound messages would all be kept for history)."""

from __future__ import annotations

import json
import subprocess
import sys

from spectrum_sync.emulator import Emulator

from _harness import LINE, PEER, Figure

CHILD = """
import json, os, sys
import spectrum_sync as spectrum
env, total, every, size = json.loads(sys.argv[1]), *map(int, sys.argv[2:5])
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
with spectrum.Client(env=env) as client, client.events("edit") as inbox:
    print(json.dumps({"ready": True}), flush=True)
    for seen, event in enumerate(inbox, 1):
        assert event.text is not None and len(event.text) >= size, "a short event"
        if seen % every == 0:
            print(json.dumps({"seen": seen, "rss": rss()}), flush=True)
        if seen == total:
            break
"""


def measure(events: int, size: int = 100_000, every: int = 500) -> list[Figure]:
    """RSS after the first tenth of ``events`` and its growth up to the last one."""
    text = "x" * size
    with Emulator(plan="dedicated", lines=[LINE], event_log_size=1000) as emu:
        guid = emu.simulate_inbound(PEER, "original", line=LINE)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, json.dumps(emu.env()), str(events), str(every),
             str(size)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        try:
            if "ready" not in json.loads(child.stdout.readline() or "{}"):
                raise RuntimeError("the receiving client did not start")
            points: list[tuple[int, int]] = []
            for start in range(0, events, every):
                for n in range(start, min(start + every, events)):
                    emu.simulate_edit(guid, f"{n} {text}", line=LINE)
                line = child.stdout.readline()  # the client caught up: it stays within the log
                if not line:
                    raise RuntimeError("the receiving client stopped")
                report = json.loads(line)
                points.append((report["seen"], report["rss"]))
        finally:
            child.wait(60)
    warm = events // 10
    base = next(rss for seen, rss in points if seen >= warm)
    peak = max(rss for seen, rss in points if seen >= warm)
    return [
        Figure(f"RSS after {warm:,} events of {size // 1000} KB", [base], "MiB",
               scale=1 / 2**20),
        Figure(f"RSS peak above that, up to {events:,} events", [peak - base], "MiB", "flat",
               scale=1 / 2**20),
        Figure(f"RSS after {events:,} events", [points[-1][1]], "MiB", scale=1 / 2**20),
    ]
