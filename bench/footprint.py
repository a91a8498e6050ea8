"""Footprint: threads and resident memory of an idle client and of one receiving on 1, 4 and
16 lines, each measured in a fresh interpreter (explicit lines, tokens from the emulator)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from _harness import Figure, post

SCRIPT = """
import json, sys, threading, time
import spectrum_sync as spectrum
lines = [spectrum.Line(a, t, p, tls=False) for a, t, p in json.loads(sys.argv[1])]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096
with spectrum.Client(lines=lines) as client:
    client.space.get("any;-;+15551111111", phone=lines[0].phone).send("hello")
    out = {"idle_threads": threading.active_count(), "idle_rss": rss()}
    if len(sys.argv) > 2:
        with client.messages() as inbox:
            deadline = time.monotonic() + 30
            while {h.state for h in client.health().values()} != {"live"}:
                assert time.monotonic() < deadline, client.health()
                time.sleep(0.05)
            time.sleep(1)
            out.update(threads=threading.active_count(), rss=rss())
print(json.dumps(out))
"""


def _grant(env: dict[str, str]) -> list[list[str]]:
    pid, secret = env["SPECTRUM_PROJECT_ID"], env["SPECTRUM_PROJECT_SECRET"]
    data = post(f"{env['SPECTRUM_CLOUD_URL']}/projects/{pid}/imessage/tokens",
                auth=(pid, secret))["data"]
    address = env["SPECTRUM_IMESSAGE_ADDRESS_TEMPLATE"]
    return sorted([address, token, data["numbers"][instance]]
                  for instance, token in data["auth"].items())


def measure(env: dict[str, str], counts: tuple[int, ...] = (1, 4, 16)) -> list[Figure]:
    lines = _grant(env)
    figures = []
    for count in (0, *counts):
        args = [json.dumps(lines[:max(count, 1)])] + (["receive"] if count else [])
        out = json.loads(subprocess.run([sys.executable, "-c", SCRIPT, *args], check=True,
                                        capture_output=True, text=True,
                                        env=dict(os.environ), timeout=120).stdout)
        if count == 0:
            figures.append(Figure("idle client: threads", [out["idle_threads"]], "threads"))
            figures.append(Figure("idle client: RSS", [out["idle_rss"]], "MiB",
                                  scale=1 / 2**20))
        else:
            figures.append(Figure(f"receiving on {count} lines: threads", [out["threads"]],
                                  "threads"))
            figures.append(Figure(f"receiving on {count} lines: RSS", [out["rss"]], "MiB",
                                  scale=1 / 2**20))
    return figures
